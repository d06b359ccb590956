#![allow(missing_docs)]
//! Matrix × small batch (prompt processing): a 2048×2048 weight matrix times 16 activation rows on
//! one thread, as `QuantMatrix::matmul` (four-row kernels where the backend has them) beside 16
//! `matvec` calls (one-row kernels) in the same run. Throughput in multiply-adds
//! (`rows·cols·batch`), so criterion reports values/ns (Melem/s). The results are equal bit for
//! bit (`tests/matvec.rs`); only the speed differs. Formats without a four-row kernel (q3_K here)
//! are the control: both lines should match.
//!
//! `cargo bench -p quant-benches --bench matmul` (default: the best backend; environment:
//! `QUANT_BENCH_BACKENDS`, `QUANT_BENCH_FORMATS`). Under `--test` the matrix is 64×512.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quant_core::Format;
use quant_kernels::{Backend, QuantMatrix, Scratch};

const BATCH: usize = 16;

fn matmul(c: &mut Criterion) {
    let backends: Vec<&'static dyn Backend> = match std::env::var("QUANT_BENCH_BACKENDS") {
        Ok(_) => common::backends(),
        Err(_) => vec![quant_kernels::best()],
    };
    let formats = common::formats(&[
        Format::Q4_0,
        Format::Q5_0,
        Format::Q8_0,
        Format::Q4K,
        Format::Q6K,
        Format::Q3K,
    ]);
    let (rows, cols) = if common::test_mode() {
        (64, 512)
    } else {
        (2048, 2048)
    };
    let xs = quant_benches::weight_row(BATCH * cols, 7);
    let mut ys = vec![0.0f32; BATCH * rows];
    let mut scratch = Scratch::new();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    for format in formats {
        let bytes = quant_core::quantize_matrix(
            format,
            &quant_benches::weight_row(rows * cols, 3),
            rows,
            cols,
            None,
        )
        .expect("quantizable test matrix");
        let m = QuantMatrix::new(format, rows, cols, &bytes).expect("valid matrix");
        let mut g = c.benchmark_group(format!("matmul_{}x{}_batch{BATCH}/{format}", rows, cols));
        g.throughput(Throughput::Elements((rows * cols * BATCH) as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_secs(2));
        for &backend in &backends {
            g.bench_function(BenchmarkId::new("matmul", backend.name()), |b| {
                b.iter(|| {
                    pool.install(|| {
                        m.matmul(backend, black_box(&xs), BATCH, &mut ys, &mut scratch)
                            .expect("valid shapes")
                    })
                })
            });
            g.bench_function(BenchmarkId::new("16x_matvec", backend.name()), |b| {
                b.iter(|| {
                    pool.install(|| {
                        for (x, y) in xs.chunks_exact(cols).zip(ys.chunks_exact_mut(rows)) {
                            m.matvec(backend, black_box(x), y, &mut scratch)
                                .expect("valid shapes");
                        }
                    })
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, matmul);
criterion_main!(benches);
