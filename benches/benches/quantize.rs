//! Quantization of 4096 f32 values (values/ns): the activation quantizers (`q8_0`, `q8_1`, `q8_K`)
//! on every available backend, and quant-core's reference weight quantizer for every format.
//!
//! `cargo bench -p quant-benches --bench quantize`

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quant_core::Format;
use quant_kernels::bench::QuantizeCase;

const N: usize = 4096;

fn activations(c: &mut Criterion) {
    let backends = common::backends();
    for format in [Format::Q8_0, Format::Q8_1, Format::Q8K] {
        let case = QuantizeCase::new(format, N).expect("quantize case");
        let mut g = c.benchmark_group(format!("quantize_activations/{format}"));
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

fn weights(c: &mut Criterion) {
    let x = quant_benches::weight_row(N, 7);
    let mut g = c.benchmark_group("quantize_reference");
    g.throughput(Throughput::Elements(N as u64));
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    for format in common::formats(&Format::ALL) {
        let mut dst = vec![0u8; format.row_bytes(N).expect("row bytes")];
        if quant_core::quantize_into(format, &x, None, &mut dst).is_err() {
            continue; // formats without a reference quantizer for weights
        }
        g.bench_function(BenchmarkId::new(format.name(), N), |bench| {
            bench.iter(|| quant_core::quantize_into(format, black_box(&x), None, &mut dst))
        });
    }
    g.finish();
}

criterion_group!(benches, activations, weights);
criterion_main!(benches);
