//! Dequantization of 4096 values to f32 (values/ns): every format × every available backend.
//!
//! `cargo bench -p quant-benches --bench dequantize`

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quant_core::Format;
use quant_kernels::bench::DequantCase;

const N: usize = 4096;

fn dequantize(c: &mut Criterion) {
    let backends = common::backends();
    let all: Vec<Format> = Format::ALL
        .into_iter()
        .filter(|f| *f != Format::F32)
        .collect();
    for format in common::formats(&all) {
        let case = DequantCase::new(format, N).expect("dequant case");
        let mut g = c.benchmark_group(format!("dequantize/{format}"));
        g.throughput(Throughput::Elements(N as u64));
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_secs(1));
        for &b in &backends {
            g.bench_function(BenchmarkId::new(b.name(), N), |bench| {
                bench.iter(|| case.run(black_box(b)))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, dequantize);
criterion_main!(benches);
