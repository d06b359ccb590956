//! The fast comparison path against the original f64 implementation (kept as
//! `compare_*_reference`), on random rows of realistic shape and on the real llama.cpp records of
//! the golden folder (skipped when absent).
//!
//! Tolerances (derived in `src/fast.rs` and docs/metrics.md "Performance"): every per-entry term
//! is computed in f32 with a rounding error relative to its own size (f32 exponentials ≤ 2 ulp,
//! δ exact near the maximum), accumulated over ≤ 8 terms per lane in f32 and then in f64. So
//! KL and reverse KL differ by ≤ 1e-6 relative + 1e-10 absolute for log-probability rows
//! (no normalization) and ≤ 1e-5 relative for logits rows (their f32 log-sum-exp shifts every δ
//! by ≤ 1e-7, which changes Σ p·g(δ) by that amount times KL, plus the ~1e-7 ulp of δ itself for
//! entries far from the maximum); JSD (series and atanh forms, ≤ 4× cancellation at |δ| = 1)
//! ≤ 1e-5 relative + 1e-12; NLLs ≤ 1e-6 absolute (the f32 sum of exponentials inside lse); Δp
//! exactly the f64 formula from those NLLs; top-k identical.

use std::path::PathBuf;

use quant_metrics::{
    CompareOptions, LogitsFileReader, TokenComparison, compare_log_probs,
    compare_log_probs_reference, compare_logits, compare_logits_reference,
    compare_logits_to_log_probs, compare_logits_to_log_probs_reference,
};

/// Tolerances of KL and reverse KL for rows not known to be normalized (log-probabilities): each
/// term `p_a·δ` is computed with ≤ 5 f32 ulp (3e-7) relative error and summed over ≤ 8 terms per
/// lane in f32 (≤ 8 ulp of Σ|terms|), so the error is ≤ 1e-6·Σ|p_a·δ| (and Σ|p_b·δ|); 1e-12
/// absolute for the f64 rounding of the reference.
fn unnormalized_tol(lb: &[f64], lq: &[f64]) -> [f64; 2] {
    let (mut sa, mut sb) = (0.0, 0.0);
    for (&a, &b) in lb.iter().zip(lq) {
        sa += (a.exp() * (a - b)).abs();
        sb += (b.exp() * (a - b)).abs();
    }
    [1e-6 * sa + 1e-12, 1e-6 * sb + 1e-12]
}

/// Tolerance for normalized rows (logits): the terms are the non-negative `p_b·g(δ)` (≤ 4×
/// cancellation, ~1e-6 relative each) and an error η ≤ 1e-7 of the f32 normalizations moves the
/// KL by η·KL, so 1e-5 relative + 1e-12.
fn normalized_tol(want: &TokenComparison) -> [f64; 2] {
    [1e-5 * want.kld + 1e-12, 1e-5 * want.reverse_kld + 1e-12]
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// Worst deviations seen, per statistic (relative for the divergences, absolute otherwise).
#[derive(Default, Debug)]
struct Worst {
    kld: f64,
    rkld: f64,
    jsd: f64,
    nll: f64,
    dp: f64,
}

impl Worst {
    /// Checks `got` against `want`; `tol` = absolute tolerances of KL and reverse KL.
    #[track_caller]
    fn check(&mut self, what: &str, got: &TokenComparison, want: &TokenComparison, tol: [f64; 2]) {
        for (name, g, w, t, slot) in [
            ("kld", got.kld, want.kld, tol[0], &mut self.kld),
            (
                "rkld",
                got.reverse_kld,
                want.reverse_kld,
                tol[1],
                &mut self.rkld,
            ),
        ] {
            assert!(
                (g - w).abs() <= t,
                "{what} {name}: {g} vs {w} (allowed {t:e})"
            );
            *slot = slot.max((g - w).abs() / w.abs().max(1e-300));
        }
        // JSD: 1e-5 relative + 1e-12 (see the module docs).
        assert!(
            (got.jsd - want.jsd).abs() <= 1e-5 * want.jsd + 1e-12,
            "{what} jsd: {} vs {}",
            got.jsd,
            want.jsd
        );
        self.jsd = self
            .jsd
            .max((got.jsd - want.jsd).abs() / (want.jsd + 1e-12));
        for (g, w) in [
            (got.nll_base, want.nll_base),
            (got.nll_quant, want.nll_quant),
        ] {
            assert!((g - w).abs() <= 1e-6, "{what} nll: {g} vs {w}");
            self.nll = self.nll.max((g - w).abs());
        }
        // Δp = e^−nll_q − e^−nll_b moves by at most p·|Δnll| ≤ 1e-6.
        assert!((got.delta_p - want.delta_p).abs() <= 1e-6, "{what} dp");
        self.dp = self.dp.max((got.delta_p - want.delta_p).abs());
        assert_eq!(
            (
                got.top1_base,
                got.top1_quant,
                got.top5_common,
                got.top10_common,
                got.top_k_sizes
            ),
            (
                want.top1_base,
                want.top1_quant,
                want.top5_common,
                want.top10_common,
                want.top_k_sizes
            ),
            "{what} top-k"
        );
    }
}

/// xorshift32 → roughly normal values (sum of 4 uniforms).
struct Rng(u32);
impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 as f32 / u32::MAX as f32
    }
    fn normal(&mut self) -> f32 {
        (self.uniform() + self.uniform() + self.uniform() + self.uniform() - 2.0) * 1.732
    }
}

fn log_softmax32(l: &[f32]) -> Vec<f32> {
    let lse = quant_metrics::log_sum_exp(l).unwrap();
    l.iter().map(|&x| (f64::from(x) - lse) as f32).collect()
}

#[test]
fn fast_path_matches_reference_on_random_rows() {
    let mut rng = Rng(0x1234_5678);
    let mut w = [Worst::default(), Worst::default(), Worst::default()];
    for (case, &(n, spread, noise, offset)) in [
        (7usize, 2.0f32, 0.1f32, 0.0f32),
        (64, 3.0, 0.01, 0.0),
        (1000, 3.0, 0.003, 5.0),
        (4099, 4.0, 0.05, -3.0),
        (32_000, 3.0, 0.002, 0.0),
        (32_003, 5.0, 0.3, 20.0),
        (151_936, 3.0, 0.02, 10.0),
        (151_936, 2.0, 1.0, 0.0),
    ]
    .iter()
    .enumerate()
    {
        let base: Vec<f32> = (0..n).map(|_| rng.normal() * spread + 10.0).collect();
        let quant: Vec<f32> = base
            .iter()
            .map(|&l| l + offset + rng.normal() * noise)
            .collect();
        let t = (case * 7919) % n;
        let what = format!("case {case} (n {n}, noise {noise})");
        let got = compare_logits(&base, &quant, t).unwrap();
        let want = compare_logits_reference(&base, &quant, t).unwrap();
        assert!(got.kld >= 0.0 && got.reverse_kld >= 0.0);
        w[0].check(
            &format!("logits {what}"),
            &got,
            &want,
            normalized_tol(&want),
        );
        let (lb, lq) = (log_softmax32(&base), log_softmax32(&quant));
        let tol32 = unnormalized_tol(&f64s(&lb), &f64s(&lq));
        let tol_mixed = unnormalized_tol(&f64s(&lb), &quant_metrics::log_softmax(&quant).unwrap());
        for opt in [CompareOptions::default(), CompareOptions::llama_cpp()] {
            let got = compare_log_probs(&lb, &lq, t, &opt).unwrap();
            let want = compare_log_probs_reference(&lb, &lq, t, &opt).unwrap();
            w[1].check(&format!("log-probs {what}"), &got, &want, tol32);
            let got = compare_logits_to_log_probs(&lb, &quant, t, &opt).unwrap();
            let want = compare_logits_to_log_probs_reference(&lb, &quant, t, &opt).unwrap();
            w[2].check(&format!("mixed {what}"), &got, &want, tol_mixed);
        }
    }
    eprintln!(
        "worst (relative divergences, absolute nll/dp): logits {:?}\nlog-probs {:?}\nmixed {:?}",
        w[0], w[1], w[2]
    );
}

/// The real SmolLM2 records of the golden folder: the two-file path (log-probabilities as stored)
/// and the same rows renormalized as logits.
#[test]
fn fast_path_matches_reference_on_golden_records() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden/metrics");
    if !dir.join("base-f32.kld").is_file() {
        eprintln!("SKIP: golden folder {} not found", dir.display());
        return;
    }
    for other in ["other-q8_0.kld", "other-q4_k_m.kld"] {
        let mut rb = LogitsFileReader::open(dir.join("base-f32.kld")).unwrap();
        let mut rq = LogitsFileReader::open(dir.join(other)).unwrap();
        let mut w = [Worst::default(), Worst::default()];
        let mut k = 0u64;
        while let (Some(b), Some(q)) = (rb.next(), rq.next()) {
            let t = rb.target(k).unwrap() as usize;
            let (lb, lq) = (b.unwrap().log_probs(), q.unwrap().log_probs());
            let opt = CompareOptions::llama_cpp();
            let got = compare_log_probs(&lb, &lq, t, &opt).unwrap();
            let want = compare_log_probs_reference(&lb, &lq, t, &opt).unwrap();
            let tol = unnormalized_tol(&f64s(&lb), &f64s(&lq));
            w[0].check(&format!("{other} record {k}"), &got, &want, tol);
            let got = compare_logits(&lb, &lq, t).unwrap();
            let want = compare_logits_reference(&lb, &lq, t).unwrap();
            w[1].check(
                &format!("{other} record {k} as logits"),
                &got,
                &want,
                normalized_tol(&want),
            );
            k += 1;
        }
        assert!(k > 0);
        eprintln!(
            "{other}: {k} records; worst log-probs {:?}\n  as logits {:?}",
            w[0], w[1]
        );
    }
}

/// Every number of the golden two-file reports, fast path vs the same accumulation fed by the
/// f64 reference: per-token values move by ≤ 1e-6·Σ|p·δ| (≤ 1e-9 here), so every aggregate,
/// percentile and chunk row stays within 1e-6 relative + 1e-9 absolute.
#[test]
fn golden_reports_match_reference_reports() {
    use quant_metrics::{FileCompareOptions, KldAccumulator, compare_logits_files};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden/metrics");
    if !dir.join("base-f32.kld").is_file() {
        eprintln!("SKIP: golden folder {} not found", dir.display());
        return;
    }
    fn walk(
        path: &str,
        a: &serde_json::Value,
        b: &serde_json::Value,
        worst: &mut Vec<(String, f64)>,
    ) {
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                for (k, v) in x {
                    walk(&format!("{path}.{k}"), v, &y[k], worst);
                }
            }
            (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{path}");
                let key = format!("{path}[]");
                for (u, v) in x.iter().zip(y) {
                    walk(&key, u, v, worst);
                }
            }
            (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= 1e-6 * y.abs() + 1e-9, "{path}: {x} vs {y}");
                let d = (x - y).abs();
                match worst.iter_mut().find(|(p, _)| p == path) {
                    Some(w) => w.1 = w.1.max(d),
                    None => worst.push((path.to_string(), d)),
                }
            }
            _ => assert_eq!(a, b, "{path}"),
        }
    }
    for other in ["other-q8_0.kld", "other-q4_k_m.kld"] {
        let fast = compare_logits_files(
            dir.join("base-f32.kld"),
            dir.join(other),
            &FileCompareOptions::default(),
        )
        .unwrap();
        let mut rb = LogitsFileReader::open(dir.join("base-f32.kld")).unwrap();
        let mut rq = LogitsFileReader::open(dir.join(other)).unwrap();
        let per_chunk = u64::from(rb.header().scored_per_chunk());
        let mut acc = KldAccumulator::new();
        let mut k = 0u64;
        while let (Some(b), Some(q)) = (rb.next(), rq.next()) {
            let t = rb.target(k).unwrap() as usize;
            let (lb, lq) = (b.unwrap().log_probs(), q.unwrap().log_probs());
            let c = compare_log_probs_reference(&lb, &lq, t, &CompareOptions::llama_cpp()).unwrap();
            acc.push(&c);
            k += 1;
            if k.is_multiple_of(per_chunk) {
                acc.end_chunk();
            }
        }
        let reference = acc.finish();
        let mut worst = Vec::new();
        walk(
            "report",
            &serde_json::to_value(&fast).unwrap(),
            &serde_json::to_value(&reference).unwrap(),
            &mut worst,
        );
        let nonzero: Vec<String> = worst
            .iter()
            .filter(|(_, d)| *d > 0.0)
            .map(|(p, d)| format!("{p} {d:.1e}"))
            .collect();
        eprintln!(
            "{other}: max |fast − reference| per report field (0 elsewhere): {}",
            nonzero.join(", ")
        );
    }
}
