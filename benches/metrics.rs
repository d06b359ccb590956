//! Throughput of quant-metrics' per-token comparison, single thread, against a plain streaming
//! read of memory (the bandwidth reference).
//!
//! Bytes counted for a comparison: both logits rows (2 × vocab × 4 bytes) per token.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quant_metrics::{
    CompareOptions, PackedRecord, compare_log_probs, compare_logits, compare_logits_reference,
};

/// Tokens per iteration: their rows (≥ 32 MB at 128k) exceed the caches, so data streams from
/// memory as in a real comparison.
const TOKENS: usize = 32;

fn rows(vocab: usize, seed: u32) -> Vec<f32> {
    // A cheap deterministic pseudo-random pattern with a realistic spread of ~30 nats.
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..vocab * TOKENS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32 - 0.5) * 30.0
        })
        .collect()
}

fn per_token_comparison(c: &mut Criterion) {
    let mut g = c.benchmark_group("compare_logits");
    for vocab in [32_000usize, 128_256, 151_936] {
        let base = rows(vocab, 1);
        let quant: Vec<f32> = base
            .iter()
            .enumerate()
            .map(|(i, &l)| l + ((i % 7) as f32 - 3.0) * 0.01)
            .collect();
        g.throughput(Throughput::Bytes((2 * vocab * 4 * TOKENS) as u64));
        g.bench_function(format!("vocab_{vocab}_x{TOKENS}_tokens"), |b| {
            b.iter(|| {
                let mut acc = 0.0;
                for (k, (rb, rq)) in base.chunks(vocab).zip(quant.chunks(vocab)).enumerate() {
                    let r = compare_logits(black_box(rb), black_box(rq), k).unwrap();
                    acc += r.kld + r.jsd;
                }
                acc
            });
        });
        if vocab == 151_936 {
            // The original f64 implementation, for a before/after ratio measured in the same run.
            g.bench_function(format!("reference_vocab_{vocab}_x{TOKENS}_tokens"), |b| {
                b.iter(|| {
                    let mut acc = 0.0;
                    for (k, (rb, rq)) in base.chunks(vocab).zip(quant.chunks(vocab)).enumerate() {
                        let r = compare_logits_reference(black_box(rb), black_box(rq), k).unwrap();
                        acc += r.kld + r.jsd;
                    }
                    acc
                });
            });
        }
    }
    g.finish();
}

fn file_record_comparison(c: &mut Criterion) {
    // The two-file path for one token: unpack two 16-bit records, then compare.
    let vocab = 151_936;
    let base = rows(vocab, 3);
    let rb: Vec<PackedRecord> = base
        .chunks(vocab)
        .take(4)
        .map(|r| PackedRecord::from_logits(r).unwrap())
        .collect();
    let rq: Vec<PackedRecord> = base
        .chunks(vocab)
        .skip(4)
        .take(4)
        .map(|r| PackedRecord::from_logits(r).unwrap())
        .collect();
    let mut g = c.benchmark_group("compare_packed_records");
    g.throughput(Throughput::Bytes((2 * vocab * 2 * 4) as u64));
    g.bench_function(format!("vocab_{vocab}_x4_tokens"), |b| {
        let (mut lb, mut lq) = (Vec::new(), Vec::new());
        b.iter(|| {
            let mut acc = 0.0;
            for (x, y) in rb.iter().zip(&rq) {
                x.log_probs_into(&mut lb);
                y.log_probs_into(&mut lq);
                acc += compare_log_probs(&lb, &lq, 0, &CompareOptions::llama_cpp())
                    .unwrap()
                    .kld;
            }
            acc
        });
    });
    g.finish();
}

fn read_bandwidth(c: &mut Criterion) {
    // Reference: sum a 256 MiB f32 buffer with 16 independent lanes (vectorizable), i.e. the
    // single-thread streaming-read bandwidth of this machine.
    let n = 64 << 20;
    let data: Vec<f32> = (0..n).map(|i| (i % 1024) as f32).collect();
    let mut g = c.benchmark_group("read_bandwidth");
    g.throughput(Throughput::Bytes((n * 4) as u64));
    g.sample_size(10);
    g.bench_function("sum_f32_256MiB", |b| {
        b.iter(|| {
            let mut acc = [0.0f32; 16];
            for ch in black_box(&data).chunks_exact(16) {
                for k in 0..16 {
                    acc[k] += ch[k];
                }
            }
            acc.iter().sum::<f32>()
        });
    });
    g.finish();
}

criterion_group!(
    benches,
    per_token_comparison,
    file_record_comparison,
    read_bandwidth
);
criterion_main!(benches);
