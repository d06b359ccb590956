//! One row of 4096 values in cache: every format × every available backend (ns/row; the
//! throughput line gives values/ns), plus the generic path (dequantize + f32 dot) on the best
//! backend for comparison with custom formats.
//!
//! `cargo bench -p quant-benches --bench dot` (filters: `-- q4_K`; environment:
//! `QUANT_BENCH_BACKENDS=avx2,scalar`, `QUANT_BENCH_FORMATS=q4_0,q4_K`).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quant_kernels::bench::DotCase;

const N: usize = 4096;

fn dot(c: &mut Criterion) {
    let backends = common::backends();
    for format in common::formats(&common::weight_formats()) {
        let case = DotCase::new(format, N).expect("dot case");
        let mut g = c.benchmark_group(format!("dot/{format}"));
        g.throughput(Throughput::Elements(N as u64));
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_secs(1));
        for &b in &backends {
            g.bench_function(BenchmarkId::new(b.name(), N), |bench| {
                bench.iter(|| case.run(black_box(b)))
            });
        }
        if !format.is_float() {
            let blocks =
                quant_core::quantize(format, &quant_kernels::bench::test_values(N, 1, 0.05), None)
                    .expect("quantize");
            let x = quant_kernels::bench::test_values(N, 2, 1.0);
            let best = quant_kernels::best();
            quant_kernels::with_weight_type!(format, B => {
                let w: Vec<B> = quant_core::blocks_from_bytes_unaligned(&blocks).expect("blocks");
                g.bench_function(BenchmarkId::new(format!("generic-{}", best.name()), N), |bench| {
                    bench.iter(|| quant_kernels::dot_generic(best, black_box(&w), black_box(&x)))
                });
            }, else => ());
        }
        g.finish();
    }
}

criterion_group!(benches, dot);
criterion_main!(benches);
