#![allow(missing_docs)]
//! Overhead of outlier tables in matrix × vector: the same 4096 × 4096 matrix of 4-bit weights
//! with and without a table keeping 0.1 % of its weights, on 1 and 2 threads, in one run
//! (target: < 10 % overhead). Reported as GB/s of dense weight bytes.
//!
//! `cargo bench -p quant-benches --bench outliers`

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quant_core::Format;
use quant_core::outlier::{OutlierPolicy, ValuePrecision, quantize_with_outliers};
use quant_kernels::{OutlierMatrix, Scratch};

fn outliers(c: &mut Criterion) {
    let (rows, cols) = if common::test_mode() {
        (64, 512)
    } else {
        (4096, 4096)
    };
    let w: Vec<f32> = (0..rows)
        .flat_map(|r| quant_benches::weight_row(cols, r as u64 + 7))
        .collect();
    let backend = quant_kernels::best();
    let x: Vec<f32> = quant_benches::weight_row(cols, 99)
        .iter()
        .map(|v| v * 30.0)
        .collect();
    let mut g = c.benchmark_group("matvec_outliers");
    for format in common::formats(&[Format::Q4_0, Format::Q4K, Format::Iq4Nl]) {
        let q = quantize_with_outliers(
            format,
            &w,
            rows,
            cols,
            None,
            &OutlierPolicy::TopFraction(0.001),
            ValuePrecision::F16,
        )
        .expect("quantize");
        let m = OutlierMatrix::new(&q).expect("matrix");
        g.throughput(Throughput::Bytes(q.blocks.len() as u64));
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            let mut y = vec![0.0f32; rows];
            let mut scratch = Scratch::new();
            let id = format!("{format}/{}/{threads}t", backend.name());
            g.bench_function(BenchmarkId::new("plain", &id), |b| {
                b.iter(|| {
                    pool.install(|| {
                        m.dense()
                            .matvec(backend, black_box(&x), &mut y, &mut scratch)
                            .expect("matvec")
                    })
                })
            });
            g.bench_function(BenchmarkId::new("table_0.1pct", &id), |b| {
                b.iter(|| {
                    pool.install(|| {
                        m.matvec(backend, black_box(&x), &mut y, &mut scratch)
                            .expect("matvec")
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, outliers);
criterion_main!(benches);
