//! Shared by the benches: test-mode detection and backend / format selection from the environment.
#![allow(dead_code)]

use quant_core::Format;
use quant_kernels::{Backend, available};

/// `cargo test --benches` (which runs the bench binaries without `--bench`, so criterion runs
/// every bench once) and `cargo bench -- --test`: keep inputs small then. `cargo bench` passes
/// `--bench`, criterion's own signal for a measuring run.
pub fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench")
}

/// The backends to measure: every available one, or the comma-separated names in
/// `QUANT_BENCH_BACKENDS`.
pub fn backends() -> Vec<&'static dyn Backend> {
    match std::env::var("QUANT_BENCH_BACKENDS") {
        Ok(list) => list
            .split(',')
            .filter_map(|n| {
                let b = quant_kernels::by_name(n.trim());
                if b.is_none() {
                    eprintln!("skipping unavailable backend {n:?}");
                }
                b
            })
            .collect(),
        Err(_) => available(),
    }
}

/// `default`, or the comma-separated formats in `QUANT_BENCH_FORMATS`.
pub fn formats(default: &[Format]) -> Vec<Format> {
    match std::env::var("QUANT_BENCH_FORMATS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("a format name"))
            .collect(),
        Err(_) => default.to_vec(),
    }
}

/// Every format with a dot product (all but `q8_1`).
pub fn weight_formats() -> Vec<Format> {
    Format::ALL
        .into_iter()
        .filter(|f| *f != Format::Q8_1)
        .collect()
}
