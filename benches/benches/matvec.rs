#![allow(missing_docs)]
//! Matrix × vector out of cache: 4096×14336 and 14336×4096 weight matrices on 1 and 2 threads,
//! reported as GB/s of weight bytes read, beside a streaming-read reference (summing a 1 GiB
//! buffer) measured in the same run.
//!
//! Out of cache: each (format, shape) cycles through several distinct matrices totalling at least
//! 256 MiB (8× this machine's 32 MiB L3), a different one per iteration, so every call streams its
//! weights from memory. The matrices are built by repeating 16 quantized rows with a different
//! rotation per matrix (quantizing hundreds of MiB of weights would dominate the run; the bytes'
//! content does not change the memory traffic).
//!
//! `cargo bench -p quant-benches --bench matvec` (default: the best backend only; environment:
//! `QUANT_BENCH_BACKENDS=avx512,avx2`, `QUANT_BENCH_FORMATS=q4_0,q4_K`). Under `--test` the
//! matrices and the reference buffer are small.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quant_core::Format;
use quant_kernels::{Backend, QuantMatrix, Scratch};
use rayon::prelude::*;

fn shapes() -> Vec<(usize, usize)> {
    if common::test_mode() {
        vec![(64, 512), (128, 256)]
    } else {
        vec![(4096, 14336), (14336, 4096)]
    }
}

fn stream_read(c: &mut Criterion) {
    let len = if common::test_mode() {
        1 << 20
    } else {
        1 << 30
    };
    let buf: Vec<u64> = (0..len as u64 / 8).collect();
    let mut g = c.benchmark_group("stream_read");
    g.throughput(Throughput::Bytes(len as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    for (threads, pool) in common::pools() {
        g.bench_function(BenchmarkId::new("sum_u64", format!("{threads}t")), |b| {
            b.iter(|| {
                pool.install(|| {
                    buf.par_chunks(1 << 16)
                        .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
                        .reduce(|| 0, u64::wrapping_add)
                })
            })
        });
    }
    g.finish();
}

fn matvec(c: &mut Criterion) {
    let backends: Vec<&'static dyn Backend> = match std::env::var("QUANT_BENCH_BACKENDS") {
        Ok(_) => common::backends(),
        Err(_) => vec![quant_kernels::best()],
    };
    let formats = common::formats(&[
        Format::Q4_0,
        Format::Q8_0,
        Format::Q4K,
        Format::Q5K,
        Format::Q6K,
        Format::Iq4Xs,
        Format::Mxfp4,
    ]);
    let pools = common::pools();
    let mut scratch = Scratch::new();
    for format in formats {
        for (rows, cols) in shapes() {
            let mats = common::matrices(format, rows, cols, 1);
            let views: Vec<QuantMatrix<'_>> = mats
                .iter()
                .map(|m| QuantMatrix::new(format, rows, cols, m).expect("matrix"))
                .collect();
            let x = quant_benches::weight_row(cols, 99);
            let mut y = vec![0.0f32; rows];
            let mut g = c.benchmark_group(format!("matvec/{format}/{rows}x{cols}"));
            g.throughput(Throughput::Bytes(mats[0].len() as u64));
            g.sample_size(10);
            g.warm_up_time(Duration::from_millis(500));
            g.measurement_time(Duration::from_secs(2));
            for &backend in &backends {
                for (threads, pool) in &pools {
                    let mut next = 0usize;
                    g.bench_function(
                        BenchmarkId::new(backend.name(), format!("{threads}t")),
                        |b| {
                            b.iter(|| {
                                let m = &views[next % views.len()];
                                next += 1;
                                pool.install(|| {
                                    m.matvec(backend, black_box(&x), &mut y, &mut scratch)
                                })
                                .expect("matvec");
                            })
                        },
                    );
                }
            }
            g.finish();
        }
    }
}

criterion_group!(benches, stream_read, matvec);
criterion_main!(benches);
