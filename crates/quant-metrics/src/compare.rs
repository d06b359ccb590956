//! Per-token comparison of a base and a quantized next-token distribution.

use std::cell::RefCell;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{MetricsError, Result};
use crate::fast;
use crate::softmax::checked_max;

/// The largest `k` of the top-k overlaps reported by [`TokenComparison`].
pub const MAX_TOP_K: usize = 10;

/// Log-probability below which llama.cpp ignores a base entry when summing the KL divergence
/// (`p_log_base > -16` in `perplexity.cpp`): the same 16 nats as its file clamp.
pub const LLAMA_CPP_KL_FLOOR: f32 = -16.0;

/// Options of a per-token comparison.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CompareOptions {
    /// When set, the forward KL sum skips vocabulary entries whose *base* log-probability is
    /// `≤ floor`, and the reverse KL sum those whose *quant* log-probability is `≤ floor`.
    /// llama.cpp uses `-16` (see [`CompareOptions::llama_cpp`]). The truncation changes a KL value
    /// by at most the probability mass below the floor (each skipped term `p·ln(p/q) ≥ p − q`), so
    /// a truncated KL is `≥ −(mass below floor) ≥ −V·e^floor`.
    pub kl_floor: Option<f32>,
}

impl CompareOptions {
    /// llama.cpp's behaviour: forward KL summed over base entries with log-probability `> −16`.
    #[must_use]
    pub fn llama_cpp() -> Self {
        Self {
            kl_floor: Some(LLAMA_CPP_KL_FLOOR),
        }
    }
}

/// Everything measured for one token position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TokenComparison {
    /// KL(base ‖ quant) = Σ p_base·(ln p_base − ln p_quant), nats.
    pub kld: f64,
    /// KL(quant ‖ base), nats.
    pub reverse_kld: f64,
    /// Jensen–Shannon divergence, nats (`0 ≤ JSD ≤ ln 2`).
    pub jsd: f64,
    /// `−ln p_base(target)`.
    pub nll_base: f64,
    /// `−ln p_quant(target)`.
    pub nll_quant: f64,
    /// Δp = p_quant(target) − p_base(target).
    pub delta_p: f64,
    /// First index of the base maximum.
    pub top1_base: usize,
    /// First index of the quant maximum.
    pub top1_quant: usize,
    /// Number of common entries of the two top-5 sets (ties broken by lower index).
    pub top5_common: u8,
    /// Number of common entries of the two top-10 sets.
    pub top10_common: u8,
    /// `min(V, 5)` and `min(V, 10)`: the denominators of the overlaps.
    pub top_k_sizes: [u8; 2],
}

impl TokenComparison {
    /// Whether both distributions have the same most likely token (llama.cpp's "same top").
    #[must_use]
    pub fn same_top(&self) -> bool {
        self.top1_base == self.top1_quant
    }

    /// Fraction of the base top-5 also in the quant top-5.
    #[must_use]
    pub fn top5_overlap(&self) -> f64 {
        f64::from(self.top5_common) / f64::from(self.top_k_sizes[0].max(1))
    }

    /// Fraction of the base top-10 also in the quant top-10.
    #[must_use]
    pub fn top10_overlap(&self) -> f64 {
        f64::from(self.top10_common) / f64::from(self.top_k_sizes[1].max(1))
    }
}

/// Top-k tracker: descending values, ties kept in index order (first index wins).
#[derive(Clone, Copy)]
pub(crate) struct TopK {
    pub(crate) vals: [f64; MAX_TOP_K],
    pub(crate) idx: [usize; MAX_TOP_K],
    pub(crate) len: usize,
}

impl TopK {
    pub(crate) fn new() -> Self {
        Self {
            vals: [f64::NEG_INFINITY; MAX_TOP_K],
            idx: [usize::MAX; MAX_TOP_K],
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, v: f64, i: usize) {
        if self.len == MAX_TOP_K && v <= self.vals[MAX_TOP_K - 1] {
            return;
        }
        let mut pos = self.len.min(MAX_TOP_K - 1);
        while pos > 0 && v > self.vals[pos - 1] {
            pos -= 1;
        }
        let end = self.len.min(MAX_TOP_K - 1);
        let mut j = end;
        while j > pos {
            self.vals[j] = self.vals[j - 1];
            self.idx[j] = self.idx[j - 1];
            j -= 1;
        }
        self.vals[pos] = v;
        self.idx[pos] = i;
        self.len = (self.len + 1).min(MAX_TOP_K);
    }

    fn common(&self, other: &Self, k: usize) -> u8 {
        let a = &self.idx[..k.min(self.len)];
        let b = &other.idx[..k.min(other.len)];
        a.iter().filter(|i| b.contains(i)).count() as u8
    }
}

/// One entry's Jensen–Shannon contribution `½[p_b·ln(p_b/m) + p_q·ln(p_q/m)]`, `m = (p_b+p_q)/2`.
///
/// With `s = p_b + p_q` and `t = (p_b − p_q)/s` it equals `(s/4)·f(t)`,
/// `f(t) = (1+t)·ln(1+t) + (1−t)·ln(1−t) = Σ_{k≥1} t^{2k}/(k(2k−1))`. For `t² < 0.01` the series
/// (7 terms, truncation < t¹⁶/120, i.e. below 1e-16 relative) is both faster and more accurate
/// than the logarithms, and gives exactly 0 for equal probabilities. Every term is ≥ 0, so the
/// sum is ≥ 0 and ≤ ln 2 by construction.
#[inline]
fn jsd_term(pb: f64, pq: f64) -> f64 {
    let s = pb + pq;
    if s <= 0.0 {
        return 0.0;
    }
    let t = (pb - pq) / s;
    let t2 = t * t;
    let f = if t2 < 0.01 {
        t2 * (1.0
            + t2 * (1.0 / 6.0
                + t2 * (1.0 / 15.0
                    + t2 * (1.0 / 28.0 + t2 * (1.0 / 45.0 + t2 * (1.0 / 66.0 + t2 / 91.0))))))
    } else {
        let a = if t > -1.0 { (1.0 + t) * t.ln_1p() } else { 0.0 };
        let b = if t < 1.0 {
            (1.0 - t) * (-t).ln_1p()
        } else {
            0.0
        };
        a + b
    };
    0.25 * s * f
}

/// The comparison kernel. `row(v)` gives `(ln p_base, ln p_quant, p_base, p_quant)` of entry `v`
/// (the probabilities passed in so callers can reuse exponentials they already computed).
#[inline]
pub(crate) fn compare_core(
    n_vocab: usize,
    target: usize,
    floor: Option<f32>,
    row: impl Fn(usize) -> (f64, f64, f64, f64),
) -> TokenComparison {
    let floor = floor.map_or(f64::NEG_INFINITY, f64::from);
    let (mut kld, mut rkld, mut jsd) = (0.0f64, 0.0f64, 0.0f64);
    let mut top_b = TopK::new();
    let mut top_q = TopK::new();
    for v in 0..n_vocab {
        let (lb, lq, pb, pq) = row(v);
        let d = lb - lq;
        if lb > floor {
            kld += pb * d;
        }
        if lq > floor {
            rkld -= pq * d;
        }
        jsd += jsd_term(pb, pq);
        top_b.push(lb, v);
        top_q.push(lq, v);
    }
    let (lbt, lqt, _, _) = row(target);
    let k5 = n_vocab.min(5);
    let k10 = n_vocab.min(MAX_TOP_K);
    TokenComparison {
        kld,
        reverse_kld: rkld,
        jsd,
        nll_base: -lbt,
        nll_quant: -lqt,
        delta_p: lqt.exp() - lbt.exp(),
        top1_base: top_b.idx[0],
        top1_quant: top_q.idx[0],
        top5_common: top_b.common(&top_q, k5),
        top10_common: top_b.common(&top_q, k10),
        top_k_sizes: [k5 as u8, k10 as u8],
    }
}

thread_local! {
    /// Per-thread scratch rows of exponentials (O(vocab), reused across calls).
    static SCRATCH: RefCell<(Vec<f64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Fills `out` with `exp(l − max)` and returns `(ln Σ exp(l), 1/Σ exp(l − max))`.
fn exp_row(logits: &[f32], max: f32, out: &mut Vec<f64>) -> (f64, f64) {
    let m = f64::from(max);
    exp_into(logits, m, out);
    let mut acc = [0.0f64; 4];
    let chunks = out.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += c[k];
        }
    }
    for &e in rest {
        acc[0] += e;
    }
    let sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    (m + sum.ln(), 1.0 / sum)
}

/// `out[v] = exp(x[v] − shift)` with [`exp_fast`], in a loop the compiler can vectorize.
fn exp_into(x: &[f32], shift: f64, out: &mut Vec<f64>) {
    out.clear();
    out.resize(x.len(), 0.0);
    for (o, &l) in out.iter_mut().zip(x) {
        *o = exp_fast(f64::from(l) - shift);
    }
}

/// `exp(x)` in f64 without a library call, branch-free so that loops over it vectorize.
///
/// `x` is clamped to `[−708, 709]` (the range where `exp` is a normal finite f64; below, the
/// result is ~3e-308 instead of a subnormal or 0, which changes no sum of probabilities).
/// Range reduction `x = n·ln 2 + r`, `|r| ≤ ln2/2`, with a two-part ln 2 (the high part has 32
/// significant bits, so `n·LN2_HI` is exact), then the Taylor polynomial of degree 12 (truncation
/// `r¹³/13! < 2e-16`) and the exponent added to the bits. Relative error ≤ 1e-15 (tested against
/// the standard library).
#[inline(always)]
pub(crate) fn exp_fast(x: f64) -> f64 {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-1
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2⁵², rounds to an integer
    let x = x.clamp(-708.0, 709.0);
    let z = x * LOG2_E + MAGIC;
    let n = z - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 479_001_600.0; // 1/12!
    for c in [
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // The low bits of z hold n (two's complement); shifted into the exponent field they add n
    // to p's exponent (p ∈ [0.7, 1.42], so the result stays normal for n ≥ −1021).
    f64::from_bits(p.to_bits().wrapping_add(z.to_bits() << 52))
}

/// `Σ exp(x − shift)` with [`exp_fast`] (f64, four accumulators, vectorizable).
fn sum_exp_f64(x: &[f32], shift: f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = x.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += exp_fast(f64::from(c[k]) - shift);
        }
    }
    for &v in rest {
        acc[0] += exp_fast(f64::from(v) - shift);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

fn check_pair(base: usize, quant: usize, target: usize) -> Result<()> {
    if base != quant {
        return Err(MetricsError::VocabMismatch {
            left: base,
            right: quant,
        });
    }
    if base == 0 {
        return Err(MetricsError::EmptyRow);
    }
    if target >= base {
        return Err(MetricsError::TokenOutOfRange {
            token: target as i64,
            n_vocab: base,
        });
    }
    Ok(())
}

/// The original f64 implementation of [`compare_logits`] (f64 exponentials, 1e-15 relative), kept
/// as the accuracy reference of the fast path (tests and benchmarks).
///
/// # Errors
/// As [`compare_logits`].
#[doc(hidden)]
pub fn compare_logits_reference(
    base: &[f32],
    quant: &[f32],
    target: usize,
) -> Result<TokenComparison> {
    check_pair(base.len(), quant.len(), target)?;
    let (mb, _) = checked_max(base)?;
    let (mq, _) = checked_max(quant)?;
    Ok(SCRATCH.with(|s| {
        let (eb, eq) = &mut *s.borrow_mut();
        let (lse_b, inv_b) = exp_row(base, mb, eb);
        let (lse_q, inv_q) = exp_row(quant, mq, eq);
        let (eb, eq) = (&eb[..], &eq[..]);
        compare_core(base.len(), target, None, |v| {
            (
                f64::from(base[v]) - lse_b,
                f64::from(quant[v]) - lse_q,
                eb[v] * inv_b,
                eq[v] * inv_q,
            )
        })
    }))
}

/// The original f64 implementation of [`compare_log_probs`] (f64 exponentials, 1e-15 relative), kept
/// as the accuracy reference of the fast path (tests and benchmarks).
///
/// # Errors
/// As [`compare_log_probs`].
#[doc(hidden)]
pub fn compare_log_probs_reference(
    base: &[f32],
    quant: &[f32],
    target: usize,
    options: &CompareOptions,
) -> Result<TokenComparison> {
    check_pair(base.len(), quant.len(), target)?;
    checked_max(base)?;
    checked_max(quant)?;
    Ok(SCRATCH.with(|s| {
        let (eb, eq) = &mut *s.borrow_mut();
        exp_into(base, 0.0, eb);
        exp_into(quant, 0.0, eq);
        let (eb, eq) = (&eb[..], &eq[..]);
        compare_core(base.len(), target, options.kl_floor, |v| {
            (f64::from(base[v]), f64::from(quant[v]), eb[v], eq[v])
        })
    }))
}

/// The original f64 implementation of [`compare_logits_to_log_probs`] (f64 exponentials, 1e-15 relative), kept
/// as the accuracy reference of the fast path (tests and benchmarks).
///
/// # Errors
/// As [`compare_logits_to_log_probs`].
#[doc(hidden)]
pub fn compare_logits_to_log_probs_reference(
    base_log_probs: &[f32],
    quant_logits: &[f32],
    target: usize,
    options: &CompareOptions,
) -> Result<TokenComparison> {
    check_pair(base_log_probs.len(), quant_logits.len(), target)?;
    checked_max(base_log_probs)?;
    let (mq, _) = checked_max(quant_logits)?;
    Ok(SCRATCH.with(|s| {
        let eq = &mut s.borrow_mut().1;
        let (lse_q, inv_q) = exp_row(quant_logits, mq, eq);
        let eq = &eq[..];
        compare_core(base_log_probs.len(), target, options.kl_floor, |v| {
            let lb = f64::from(base_log_probs[v]);
            (
                lb,
                f64::from(quant_logits[v]) - lse_q,
                exp_fast(lb),
                eq[v] * inv_q,
            )
        })
    }))
}

thread_local! {
    /// Per-thread f32 scratch rows of exponentials for the fast path (O(vocab), reused).
    static SCRATCH32: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Assembles a [`TokenComparison`] from the sums of the fast kernel.
fn finish(
    n_vocab: usize,
    s: &fast::Sums,
    lbt: f64,
    lqt: f64,
    top_b: &TopK,
    top_q: &TopK,
) -> TokenComparison {
    let k5 = n_vocab.min(5);
    let k10 = n_vocab.min(MAX_TOP_K);
    TokenComparison {
        kld: s.kl,
        reverse_kld: s.rkl,
        jsd: s.jsd,
        nll_base: -lbt,
        nll_quant: -lqt,
        delta_p: lqt.exp() - lbt.exp(),
        top1_base: top_b.idx[0],
        top1_quant: top_q.idx[0],
        top5_common: top_b.common(top_q, k5),
        top10_common: top_b.common(top_q, k10),
        top_k_sizes: [k5 as u8, k10 as u8],
    }
}

/// The mask threshold of a KL floor on `ln p = x − lse`: `x > floor + lse`.
fn floor_threshold(floor: Option<f32>, lse: f64) -> f32 {
    floor.map_or(f32::NEG_INFINITY, |f| (f64::from(f) + lse) as f32)
}

/// Compares the distributions given by two logits rows (softmax of each, in f64) at a position
/// whose actual next token is `target`. The KL sums run over the whole vocabulary.
///
/// # Errors
/// [`MetricsError::VocabMismatch`] if the rows differ in length, [`MetricsError::EmptyRow`],
/// [`MetricsError::TokenOutOfRange`], or [`MetricsError::NonFinite`] for a NaN/Inf logit.
///
/// # Examples
/// ```
/// let base = [2.0f32, 1.0, 0.0];
/// let c = quant_metrics::compare_logits(&base, &base, 0)?;
/// assert!(c.kld.abs() < 1e-15 && c.delta_p == 0.0 && c.same_top());
/// let flat = quant_metrics::compare_logits(&base, &[0.0, 0.0, 0.0], 0)?;
/// assert!(flat.kld > 0.0 && flat.delta_p < 0.0);
/// # Ok::<(), quant_metrics::MetricsError>(())
/// ```
///
/// # Accuracy
/// Computed with f32 exponentials and cancellation-free f32 terms accumulated in f64 (see
/// `docs/metrics.md`, "Performance"): KL, reverse KL and JSD within 1e-5 relative (+1e-12
/// absolute) of the f64 reference, KL and reverse KL ≥ 0 exactly, NLLs within 1e-6 absolute.
pub fn compare_logits(base: &[f32], quant: &[f32], target: usize) -> Result<TokenComparison> {
    check_pair(base.len(), quant.len(), target)?;
    let (mb, top_b) = fast::scan(base)?;
    let (mq, top_q) = fast::scan(quant)?;
    Ok(SCRATCH32.with(|s| {
        let (eb, eq) = &mut *s.borrow_mut();
        let zb = fast::exp_sum_into(base, mb, eb);
        let zq = fast::exp_sum_into(quant, mq, eq);
        let (lzb, lzq) = (zb.ln(), zq.ln());
        let p = fast::Params {
            sa: mb,
            sb: mq,
            ia: (1.0 / zb) as f32,
            ib: (1.0 / zq) as f32,
            kc: (lzb - lzq) as f32,
            ta: f32::NEG_INFINITY,
            tb: f32::NEG_INFINITY,
        };
        let sums = fast::fused::<false>(base, quant, eb, eq, &p);
        let lbt = f64::from(base[target]) - (f64::from(mb) + lzb);
        let lqt = f64::from(quant[target]) - (f64::from(mq) + lzq);
        finish(base.len(), &sums, lbt, lqt, &top_b, &top_q)
    }))
}

/// Compares two rows of natural-log probabilities (for example unpacked from llama.cpp logits
/// files with [`crate::PackedRecord::log_probs_into`]). The rows are used as given (not
/// renormalized), as llama.cpp does.
///
/// # Errors
/// As [`compare_logits`].
///
/// # Accuracy
/// Computed with f32 exponentials; every term is rewritten so that its rounding error is relative
/// to its own size (see `docs/metrics.md`, "Performance"): KL and reverse KL within 1e-6 relative
/// + 1e-10 absolute of the f64 reference, JSD within 1e-5 relative.
pub fn compare_log_probs(
    base: &[f32],
    quant: &[f32],
    target: usize,
    options: &CompareOptions,
) -> Result<TokenComparison> {
    check_pair(base.len(), quant.len(), target)?;
    let (_, top_b) = fast::scan(base)?;
    let (_, top_q) = fast::scan(quant)?;
    Ok(SCRATCH32.with(|s| {
        let (eb, eq) = &mut *s.borrow_mut();
        fast::exp_sum_into(base, 0.0, eb);
        fast::exp_sum_into(quant, 0.0, eq);
        let p = fast::Params {
            sa: 0.0,
            sb: 0.0,
            ia: 1.0,
            ib: 1.0,
            kc: 0.0,
            ta: floor_threshold(options.kl_floor, 0.0),
            tb: floor_threshold(options.kl_floor, 0.0),
        };
        let sums = fast::fused::<true>(base, quant, eb, eq, &p);
        let (lbt, lqt) = (f64::from(base[target]), f64::from(quant[target]));
        finish(base.len(), &sums, lbt, lqt, &top_b, &top_q)
    }))
}

/// Compares live quantized-model logits with a base distribution given as log-probabilities
/// (llama.cpp's `--kl-divergence` mode, where the base comes from the logits file).
///
/// # Errors
/// As [`compare_logits`].
///
/// # Accuracy
/// As [`compare_log_probs`]; the quantized row is normalized with its f64 log-sum-exp rounded to
/// f32, and the rounding is corrected exactly in f64 afterwards.
pub fn compare_logits_to_log_probs(
    base_log_probs: &[f32],
    quant_logits: &[f32],
    target: usize,
    options: &CompareOptions,
) -> Result<TokenComparison> {
    check_pair(base_log_probs.len(), quant_logits.len(), target)?;
    let (_, top_b) = fast::scan(base_log_probs)?;
    let (mq, top_q) = fast::scan(quant_logits)?;
    Ok(SCRATCH32.with(|s| {
        let (eb, eq) = &mut *s.borrow_mut();
        // The KL depends on lse_q at first order (coefficient Σ p_b ≈ 1) here, so its sum of
        // exponentials is computed with the f64 exponential (1e-15), not the f32 one.
        let lse_q = f64::from(mq) + sum_exp_f64(quant_logits, f64::from(mq)).ln();
        // Exponentials of ln p_q = l − lse with lse rounded to f32; ρ = the rounding.
        let lse32 = lse_q as f32;
        let rho = lse_q - f64::from(lse32);
        fast::exp_sum_into(quant_logits, lse32, eq);
        fast::exp_sum_into(base_log_probs, 0.0, eb);
        let p = fast::Params {
            sa: 0.0,
            sb: lse32,
            ia: 1.0,
            ib: 1.0,
            kc: 0.0,
            ta: floor_threshold(options.kl_floor, 0.0),
            tb: floor_threshold(options.kl_floor, lse_q),
        };
        let mut sums = fast::fused::<true>(base_log_probs, quant_logits, eb, eq, &p);
        // With ln p_q = (l − lse32) − ρ: KL = Σ p_b(δ + ρ) = KL₃₂ + ρ·Σp_b, and
        // reverse KL = e^−ρ·Σ p_q₃₂(−δ − ρ) = e^−ρ·(RKL₃₂ − ρ·Σp_q₃₂).
        sums.kl += rho * sums.mass_a;
        sums.rkl = (-rho).exp() * (sums.rkl - rho * sums.mass_b);
        let lbt = f64::from(base_log_probs[target]);
        let lqt = f64::from(quant_logits[target]) - lse_q;
        finish(base_log_probs.len(), &sums, lbt, lqt, &top_b, &top_q)
    }))
}

/// Compares many positions at once: `base` and `quant` hold `targets.len()` rows of `n_vocab`
/// logits each (row-major). Rows are processed in parallel with rayon; the output is in row order
/// and each row's result does not depend on the thread count.
///
/// # Errors
/// [`MetricsError::LengthMismatch`] if the buffers do not hold `targets.len()` rows, plus the
/// errors of [`compare_logits`] (the first failing row's).
pub fn compare_logits_batch(
    base: &[f32],
    quant: &[f32],
    n_vocab: usize,
    targets: &[usize],
) -> Result<Vec<TokenComparison>> {
    if n_vocab == 0 {
        return Err(MetricsError::EmptyRow);
    }
    let want = targets
        .len()
        .checked_mul(n_vocab)
        .ok_or_else(|| MetricsError::InvalidParameter("batch too large".into()))?;
    for (what, len) in [("base batch", base.len()), ("quant batch", quant.len())] {
        if len != want {
            return Err(MetricsError::LengthMismatch {
                what,
                left: want,
                right: len,
            });
        }
    }
    base.par_chunks(n_vocab)
        .zip(quant.par_chunks(n_vocab))
        .zip(targets.par_iter())
        .map(|((b, q), &t)| compare_logits(b, q, t))
        .collect()
}

/// Counts of answers that changed correctness between the base and the quantized model
/// ("flips"), for multiple-choice or exact-match evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Flips {
    /// Items evaluated.
    pub n_items: usize,
    /// Items the base model got right and the quantized model wrong.
    pub correct_to_wrong: usize,
    /// Items the base model got wrong and the quantized model right.
    pub wrong_to_correct: usize,
}

impl Flips {
    /// All flips, in either direction.
    #[must_use]
    pub fn total(&self) -> usize {
        self.correct_to_wrong + self.wrong_to_correct
    }

    /// Flips as a fraction of the items (0 for no items).
    #[must_use]
    pub fn rate(&self) -> f64 {
        if self.n_items == 0 {
            0.0
        } else {
            self.total() as f64 / self.n_items as f64
        }
    }
}

/// Counts the flips between per-item correctness of the base and the quantized model: even
/// when the accuracies are equal, many answers may have changed.
///
/// # Errors
/// [`MetricsError::LengthMismatch`] if the slices differ in length.
///
/// # Examples
/// ```
/// let f = quant_metrics::count_flips(&[true, true, false, false], &[true, false, true, false])?;
/// assert_eq!((f.correct_to_wrong, f.wrong_to_correct, f.total()), (1, 1, 2));
/// # Ok::<(), quant_metrics::MetricsError>(())
/// ```
pub fn count_flips(base_correct: &[bool], quant_correct: &[bool]) -> Result<Flips> {
    if base_correct.len() != quant_correct.len() {
        return Err(MetricsError::LengthMismatch {
            what: "correctness lists",
            left: base_correct.len(),
            right: quant_correct.len(),
        });
    }
    let mut f = Flips {
        n_items: base_correct.len(),
        ..Flips::default()
    };
    for (&b, &q) in base_correct.iter().zip(quant_correct) {
        match (b, q) {
            (true, false) => f.correct_to_wrong += 1,
            (false, true) => f.wrong_to_correct += 1,
            _ => {}
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::exp_fast;

    /// exp_fast agrees with the standard library to 1e-15 relative over the whole used range.
    #[test]
    fn exp_fast_matches_std() {
        let mut worst = 0.0f64;
        let mut x = -708.0f64;
        while x <= 709.0 {
            for dx in [0.0, 1e-9, 0.346_573_590_279_972_6, 0.5] {
                let y = x + dx;
                if y > 709.0 {
                    continue;
                }
                let (a, b) = (exp_fast(y), y.exp());
                worst = worst.max((a - b).abs() / b);
            }
            x += 0.013_7;
        }
        assert!(worst <= 1e-15, "worst relative error {worst:e}");
        assert_eq!(exp_fast(0.0), 1.0);
        assert!(exp_fast(-1e6) > 0.0 && exp_fast(-1e6) < 1e-300);
        assert!(exp_fast(1e6).is_finite());
    }
}
