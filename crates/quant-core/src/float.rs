//! Float anatomy: f32, f16, bf16, fp8 E4M3 and E5M2 decomposed into sign, exponent and
//! significand, and round-to-nearest-even conversions between them.
