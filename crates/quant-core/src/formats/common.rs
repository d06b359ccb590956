//! Helpers shared by ggml's quantizers (`nearest_int`, `make_qx_quants`, …) and value tables.

/// The 16 non-linear values of IQ4_NL / IQ4_XS (ggml `kvalues_iq4nl`).
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// E2M1 values doubled (ggml `kvalues_mxfp4`): index = 4-bit code.
pub const KVALUES_FP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];
