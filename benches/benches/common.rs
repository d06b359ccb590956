//! Shared by the benches: test-mode detection, backend / format selection from the environment,
//! thread pools and out-of-cache weight matrices.
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

/// Weight bytes a matrix × vector bench cycles through so that the weights come from memory.
pub const OUT_OF_CACHE_BYTES: usize = 256 << 20;

/// One rayon pool of 1 thread and one of 2, with their thread counts.
pub fn pools() -> Vec<(usize, rayon::ThreadPool)> {
    [1, 2]
        .into_iter()
        .map(|t| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .expect("thread pool");
            (t, pool)
        })
        .collect()
}

/// Distinct `rows × cols` matrices of `format` totalling at least [`OUT_OF_CACHE_BYTES`]
/// (`test_count` of them in test mode), built from 16 quantized rows in rotating order.
pub fn matrices(format: Format, rows: usize, cols: usize, test_count: usize) -> Vec<Vec<u8>> {
    const TILE: usize = 16;
    let row_bytes = format.row_bytes(cols).expect("row bytes");
    let tile: Vec<u8> = (0..TILE)
        .flat_map(|r| {
            let v = quant_benches::weight_row(cols, r as u64 + 1);
            quant_core::quantize(format, &v, None).expect("quantize")
        })
        .collect();
    let bytes = rows * row_bytes;
    let count = if test_mode() {
        test_count
    } else {
        OUT_OF_CACHE_BYTES.div_ceil(bytes).max(2)
    };
    (0..count)
        .map(|m| {
            let mut out = vec![0u8; bytes];
            for (r, dst) in out.chunks_exact_mut(row_bytes).enumerate() {
                let t = (r + m * 5) % TILE;
                dst.copy_from_slice(&tile[t * row_bytes..(t + 1) * row_bytes]);
            }
            out
        })
        .collect()
}
