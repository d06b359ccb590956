//! Property tests (proptest) of the mathematical invariants.

mod common;

use std::io::Cursor;

use proptest::prelude::*;
use quant_metrics::{
    CompareOptions, Distribution, FileCompareOptions, KldAccumulator, LogitsFileHeader,
    LogitsFileReader, LogitsFileWriter, PERCENTILE_FRACTIONS, PerplexityAccumulator,
    compare_log_probs, compare_logits, compare_logits_batch, compare_logits_readers, log_softmax,
    median_sorted_f32, percentile_sorted_f32,
};

/// Logits on a 2^-10 grid in [-20, 20]: adding an integer constant is exact in f32.
fn logits(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec((-20_480i32..20_480).prop_map(|k| k as f32 / 1024.0), n)
}

fn pair(n: std::ops::Range<usize>) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    n.prop_flat_map(|v| (logits(v..v + 1), logits(v..v + 1)))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// KL ≥ 0 (exact distributions: only rounding, bounded by 1e-12 for these sizes);
    /// with llama.cpp's 16-nat floor, KL ≥ −(base mass below the floor).
    #[test]
    fn kl_is_nonnegative((b, q) in pair(1..300), t in 0usize..300) {
        let t = t % b.len();
        let c = compare_logits(&b, &q, t).unwrap();
        prop_assert!(c.kld >= -1e-12, "kld {}", c.kld);
        prop_assert!(c.reverse_kld >= -1e-12, "rkld {}", c.reverse_kld);
        let lb: Vec<f32> = log_softmax(&b).unwrap().iter().map(|&x| x as f32).collect();
        let lq: Vec<f32> = log_softmax(&q).unwrap().iter().map(|&x| x as f32).collect();
        let trunc = compare_log_probs(&lb, &lq, t, &CompareOptions::llama_cpp()).unwrap();
        let mass_below: f64 = lb.iter().filter(|&&x| x <= -16.0).map(|&x| f64::from(x).exp()).sum();
        // f32 log-probs carry ≤ 2e-6 nats of rounding each, hence the 1e-5 slack.
        prop_assert!(trunc.kld >= -mass_below - 1e-5, "{} vs {}", trunc.kld, mass_below);
    }

    /// KL(p‖p) = 0 exactly for identical rows, and ≈ 0 when the logits differ by a constant.
    #[test]
    fn kl_of_a_distribution_with_itself_is_zero(b in logits(1..300), shift in -40i32..40, t in 0usize..300) {
        let t = t % b.len();
        let c = compare_logits(&b, &b, t).unwrap();
        prop_assert_eq!(c.kld, 0.0);
        prop_assert_eq!(c.reverse_kld, 0.0);
        prop_assert_eq!(c.jsd, 0.0);
        prop_assert_eq!(c.delta_p, 0.0);
        prop_assert!(c.same_top());
        let shifted: Vec<f32> = b.iter().map(|&x| x + shift as f32).collect();
        let c = compare_logits(&b, &shifted, t).unwrap();
        prop_assert!(c.kld.abs() < 1e-12 && c.jsd.abs() < 1e-12 && c.delta_p.abs() < 1e-12);
    }

    /// JSD is symmetric and within [0, ln 2].
    #[test]
    fn jsd_is_symmetric_and_bounded((b, q) in pair(1..300)) {
        let ab = compare_logits(&b, &q, 0).unwrap();
        let ba = compare_logits(&q, &b, 0).unwrap();
        prop_assert!((ab.jsd - ba.jsd).abs() <= 1e-12, "{} vs {}", ab.jsd, ba.jsd);
        prop_assert!(ab.jsd >= -1e-12 && ab.jsd <= std::f64::consts::LN_2 + 1e-12);
        // Forward and reverse KL swap.
        prop_assert!((ab.kld - ba.reverse_kld).abs() <= 1e-12 * (1.0 + ab.kld.abs()));
    }

    /// Log-softmax is invariant to adding a constant (exact shift on the 2^-10 grid).
    #[test]
    fn log_softmax_is_shift_invariant(b in logits(1..400), shift in -100i32..100) {
        let shifted: Vec<f32> = b.iter().map(|&x| x + shift as f32).collect();
        let (x, y) = (log_softmax(&b).unwrap(), log_softmax(&shifted).unwrap());
        for (u, v) in x.iter().zip(&y) {
            prop_assert!((u - v).abs() <= 1e-12, "{} vs {}", u, v);
        }
        // And normalized: Σ p = 1.
        let s: f64 = x.iter().map(|v| v.exp()).sum();
        prop_assert!((s - 1.0).abs() < 1e-12);
    }

    /// The perplexity of a uniform distribution over V is V, whatever the targets.
    #[test]
    fn uniform_perplexity_is_vocab_size(v in 1usize..5000, level in -50.0f32..50.0, targets in prop::collection::vec(0usize..5000, 1..20)) {
        let row = vec![level; v];
        let mut acc = PerplexityAccumulator::new();
        for t in targets {
            acc.push_logits(&row, t % v).unwrap();
        }
        let e = acc.estimate();
        prop_assert!((e.ppl.value / v as f64 - 1.0).abs() < 1e-12, "{} vs {}", e.ppl.value, v);
        // No spread: the Σx²/N − mean² formula leaves only rounding (≈ mean²·1e-16), so the
        // uncertainty is at most ~sqrt(1e-16)·PPL·mean NLL.
        prop_assert!(e.ppl.uncertainty <= 1e-6 * e.ppl.value, "{}", e.ppl.uncertainty);
    }

    /// Percentiles agree with a sorted-array reference (naive f32 interpolation written from the
    /// definition), are bracketed by their neighbours and monotone in the fraction.
    #[test]
    fn percentiles_match_sorted_reference(values in prop::collection::vec(-1e3f32..1e3, 1..300)) {
        let mut sorted = values.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let d = Distribution::from_values(&values).unwrap();
        prop_assert_eq!(d.minimum, f64::from(sorted[0]));
        prop_assert_eq!(d.maximum, f64::from(*sorted.last().unwrap()));
        let n = sorted.len();
        let med = if n % 2 == 0 { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 } else { sorted[n / 2] };
        prop_assert_eq!(d.median, f64::from(med));
        prop_assert_eq!(median_sorted_f32(&sorted), Some(med));
        let mut last = f32::NEG_INFINITY;
        for &f in PERCENTILE_FRACTIONS.iter().rev() {
            let pos = f * (n - 1) as f32;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let w = pos - lo as f32;
            let reference = (1.0 - w) * sorted[lo] + w * sorted[hi];
            let got = percentile_sorted_f32(&sorted, f).unwrap();
            prop_assert_eq!(got, reference);
            prop_assert_eq!(d.percentile(f64::from((f * 1000.0).round()) / 10.0), Some(f64::from(got)));
            let (a, b) = (sorted[lo].min(sorted[hi]), sorted[lo].max(sorted[hi]));
            let slack = 1e-4 * (a.abs() + b.abs());
            prop_assert!(got >= a - slack && got <= b + slack);
            prop_assert!(got >= last - slack);
            last = got;
        }
        prop_assert_eq!(percentile_sorted_f32(&sorted, 0.0), Some(sorted[0]));
        prop_assert_eq!(percentile_sorted_f32(&sorted, 1.0), Some(sorted[n - 1]));
    }
}

fn rows(seed: u64, n_tok: usize, v: usize) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let mut rng = common::Rng(seed);
    let mut b = Vec::with_capacity(n_tok * v);
    let mut q = Vec::with_capacity(n_tok * v);
    let mut t = Vec::with_capacity(n_tok);
    for _ in 0..n_tok {
        let r = rng.logits(v, 30.0);
        q.extend(rng.perturb(&r, 0.5));
        b.extend(r);
        t.push(rng.below(v));
    }
    (b, q, t)
}

fn report_with(
    pool_threads: usize,
    f: impl FnOnce() -> quant_metrics::KldReport + Send,
) -> quant_metrics::KldReport {
    rayon::ThreadPoolBuilder::new()
        .num_threads(pool_threads)
        .build()
        .unwrap()
        .install(f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The report is bit-identical whatever the thread count and however the tokens are split
    /// into batches (the reduction runs in token order).
    #[test]
    fn statistics_are_invariant_to_chunking_and_threads(seed in any::<u64>(), n_tok in 1usize..60, v in 2usize..200, split in 1usize..17) {
        let (b, q, t) = rows(seed, n_tok, v);
        let whole = report_with(1, || {
            let mut acc = KldAccumulator::new();
            acc.extend(&compare_logits_batch(&b, &q, v, &t).unwrap());
            acc.end_chunk();
            acc.finish()
        });
        let split_rep = report_with(3, || {
            let mut acc = KldAccumulator::new();
            for ((bc, qc), tc) in b.chunks(split * v).zip(q.chunks(split * v)).zip(t.chunks(split)) {
                acc.extend(&compare_logits_batch(bc, qc, v, tc).unwrap());
            }
            acc.end_chunk();
            acc.finish()
        });
        prop_assert_eq!(&whole, &split_rep);
        // Sequential single-token calls agree too.
        let mut acc = KldAccumulator::new();
        for ((bc, qc), &tt) in b.chunks(v).zip(q.chunks(v)).zip(&t) {
            acc.push(&compare_logits(bc, qc, tt).unwrap());
        }
        acc.end_chunk();
        prop_assert_eq!(&whole, &acc.finish());
    }

    /// The two-file comparison does not depend on its batch size or the thread count.
    #[test]
    fn file_comparison_is_invariant_to_batch_and_threads(seed in any::<u64>(), n_chunk in 1u32..4, v in 2u32..100, batch in 1usize..9) {
        let n_ctx = 7u32;
        let header = LogitsFileHeader::new(n_ctx, v, n_chunk).unwrap();
        let n_rec = header.n_records() as usize;
        let (b, q, _) = rows(seed, n_rec, v as usize);
        let tokens: Vec<u32> = (0..n_ctx * n_chunk).map(|i| (i * 31 + seed as u32) % v).collect();
        let write = |data: &[f32]| {
            let mut w = LogitsFileWriter::new(Vec::new(), header, &tokens).unwrap();
            for r in data.chunks(v as usize) {
                w.write_logits(r).unwrap();
            }
            w.finish().unwrap()
        };
        let (fb, fq) = (write(&b), write(&q));
        let run = |batch: usize, threads: usize| {
            let (fb, fq) = (fb.clone(), fq.clone());
            report_with(threads, move || {
                compare_logits_readers(
                    LogitsFileReader::new(Cursor::new(fb)).unwrap(),
                    LogitsFileReader::new(Cursor::new(fq)).unwrap(),
                    &FileCompareOptions { batch, ..FileCompareOptions::default() },
                )
                .unwrap()
            })
        };
        let reference = run(1, 1);
        prop_assert_eq!(reference.per_chunk.len(), n_chunk as usize);
        prop_assert_eq!(&reference, &run(batch, 2));
        prop_assert_eq!(&reference, &run(64, 3));
    }
}
