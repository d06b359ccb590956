//! Criterion benchmarks of the quant workspace; the benchmarks live beside this crate's manifest.
