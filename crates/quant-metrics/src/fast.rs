//! The fast per-token comparison kernel: f32 lanes the compiler auto-vectorizes, f64 where
//! precision needs it.
//!
//! Three passes over a pair of rows (`a` = base, `b` = quant):
//!
//! 1. [`scan`]: maximum, finiteness check and top-10 of each row (the top-k update is a rare
//!    branch taken only when a chunk holds a value above the current 10th best).
//! 2. [`exp_sum_into`]: `e[v] = exp(x[v] − shift)` with the f32 [`exp32`] (Cephes' `expf`
//!    polynomial, ≤ 2 ulp), stored in a scratch row, and `Σ e` accumulated in f64.
//! 3. [`fused`]: every divergence term, accumulated per lane in f32 over blocks of 8 entries and
//!    then in f64.
//!
//! # Precision
//! The danger is cancellation: a KL of 3e-6 is a sum of terms `p_a·δ` (δ = ln p_a − ln p_b) that
//! are ±1e-3. Each term is therefore rewritten so that it is computed with a small *relative*
//! error:
//!
//! * `p_a·δ = p_b·g(δ) + (p_a − p_b)` with `g(δ) = 1 + (δ − 1)·e^δ = δ² − (1 − δ)·h(δ) ≥ 0`,
//!   `h(δ) = e^δ − 1 − δ` (Taylor series to δ¹², exact to 2e-10 relative for |δ| < 1) and
//!   `p_a − p_b = p_b·(δ + h(δ))`. For |δ| ≥ 1 the direct forms (`p_b + (δ−1)·p_a`, `p_a − p_b`)
//!   have no cancellation beyond a factor 4.
//! * For normalized rows (`compare_logits`) `Σ(p_a − p_b) = 0` exactly, so the KL is the sum of
//!   the non-negative `p_b·g(δ)`: ≥ 0, and an error η in the normalization constants (which shifts
//!   every δ by η) changes it only by `η·KL` (∂/∂δ of Σ p_b·g = Σ p_a·δ).
//! * δ itself is computed from the inputs in f32 (`(a − s_a) − (b − s_b) − k`), exact for the
//!   entries near the maximum (Sterbenz) and within one f32 ulp of the logits elsewhere.
//! * JSD = Σ (s/4)·f(t), `s = p_a + p_b`, `t = tanh(δ/2) = E/(E + 2)` (`E = e^|δ| − 1` from the
//!   same series) with `f(t) = Σ t^{2k}/(k(2k−1))` (9 terms, t² ≤ 0.214) for |δ| < 1, and
//!   `½[s·(ln 2 − 2·atanh(u)) − |δ|·min]`, `u = min/(2·max + min) ≤ 0.16`, for |δ| ≥ 1.
//!
//! Each quantity is computed from |δ| or mirrored exactly, so swapping the rows swaps KL and
//! reverse KL bit for bit and leaves the JSD unchanged.

use crate::compare::TopK;
use crate::error::{MetricsError, Result};

/// Lanes of the f32 loops (two SSE / one AVX vector).
const LANES: usize = 8;
/// Chunks of [`LANES`] entries accumulated in f32 before the f64 accumulators (each lane sums 8
/// terms in f32: ≤ 8 ulp of the block's magnitude).
const BLOCK_CHUNKS: usize = 8;
/// Quantities accumulated by pass 3.
const NQ: usize = 6;

/// `exp(x)` in f32, branch-free (vectorizes): Cody–Waite reduction `x = n·ln2 + r`, Cephes'
/// `expf` polynomial (≤ 2 ulp relative), `2ⁿ` added to the exponent bits. `x` is clamped to
/// `[−87, 88]`, so the result is always a normal finite f32 (≥ 1.6e-38).
#[inline(always)]
pub(crate) fn exp32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    const C1: f32 = 0.693_359_4; // 355/512: n·C1 is exact for |n| < 2^15
    const C2: f32 = -2.121_944_4e-4;
    let x = if x > -87.0 { x } else { -87.0 };
    let x = if x < 88.0 { x } else { 88.0 };
    let z = x * LOG2_E + MAGIC;
    let n = z - MAGIC;
    let r = (x - n * C1) - n * C2;
    let r2 = r * r;
    let p = (((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5)
        * r2
        + r
        + 1.0;
    // The low bits of z hold n (two's complement, |n| < 2⁸); shifted into the exponent field they
    // add n to p's exponent (p ∈ [0.7, 1.42], n ≥ −126: the result stays normal).
    f32::from_bits(p.to_bits().wrapping_add(z.to_bits() << 23))
}

/// Pass 1: `(max, top-10)` of a row, or the error of [`crate::checked_max`] for an empty row or a
/// non-finite value. The top-10 ranks the raw values (same order as the log-probabilities).
pub(crate) fn scan(row: &[f32]) -> Result<(f32, TopK)> {
    let first = *row.first().ok_or(MetricsError::EmptyRow)?;
    let mut max = [first; LANES];
    // `v·0` is NaN exactly for NaN and ±∞: one lane sum detects any non-finite value.
    let mut bad = [0.0f32; LANES];
    let mut top = TopK::new();
    let mut thr = f32::NEG_INFINITY;
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for (ci, c) in chunks.enumerate() {
        let mut hit = false;
        for k in 0..LANES {
            let v = c[k];
            max[k] = if v > max[k] { v } else { max[k] };
            bad[k] += v * 0.0;
            hit |= v > thr;
        }
        if hit {
            for (k, &v) in c.iter().enumerate() {
                top.push(f64::from(v), ci * LANES + k);
            }
            if top.len == top.vals.len() {
                thr = top.vals[top.len - 1] as f32;
            }
        }
    }
    let base = row.len() - rest.len();
    for (k, &v) in rest.iter().enumerate() {
        max[0] = if v > max[0] { v } else { max[0] };
        bad[0] += v * 0.0;
        top.push(f64::from(v), base + k);
    }
    if bad.iter().any(|b| *b != 0.0) {
        // Report the first offending index exactly as the scalar check does.
        crate::softmax::checked_max(row)?;
    }
    let m = max.iter().fold(max[0], |m, &v| if v > m { v } else { m });
    Ok((m, top))
}

/// Pass 2: `out[v] = exp32(x[v] − shift)`; returns `Σ out` in f64 (f32 lane sums over blocks of
/// 64 entries, then f64).
pub(crate) fn exp_sum_into(x: &[f32], shift: f32, out: &mut Vec<f32>) -> f64 {
    out.clear();
    out.resize(x.len(), 0.0);
    let mut acc = [0.0f64; LANES];
    let block = LANES * BLOCK_CHUNKS;
    let mut xs = x.chunks_exact(block);
    let mut os = out.chunks_exact_mut(block);
    for (xb, ob) in (&mut xs).zip(&mut os) {
        // A 64-iteration loop (not 8 unrolled lanes) so that the loop vectorizer handles it.
        let xb: &[f32; 64] = xb.try_into().expect("block of 64");
        let ob: &mut [f32; 64] = ob.try_into().expect("block of 64");
        for v in 0..64 {
            ob[v] = exp32(xb[v] - shift);
        }
        let mut part = [0.0f32; LANES];
        for oc in ob.chunks_exact(LANES) {
            for k in 0..LANES {
                part[k] += oc[k];
            }
        }
        for k in 0..LANES {
            acc[k] += f64::from(part[k]);
        }
    }
    for (o, &v) in os.into_remainder().iter_mut().zip(xs.remainder()) {
        *o = exp32(v - shift);
        acc[0] += f64::from(*o);
    }
    pairwise(&acc)
}

fn pairwise(a: &[f64; LANES]) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// Constants of pass 3. Entry v has `x_a = a − sa`, `p_a = e_a·ia` (likewise for b),
/// `δ = (x_a − x_b) − kc`; its forward-KL term counts when `a > ta`, its reverse term when
/// `b > tb`.
#[derive(Clone, Copy)]
pub(crate) struct Params {
    pub sa: f32,
    pub sb: f32,
    pub ia: f32,
    pub ib: f32,
    pub kc: f32,
    pub ta: f32,
    pub tb: f32,
}

/// Sums of pass 3.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sums {
    pub kl: f64,
    pub rkl: f64,
    pub jsd: f64,
    /// Σ p_a over the forward-KL entries.
    pub mass_a: f64,
    /// Σ p_b over the reverse-KL entries.
    pub mass_b: f64,
}

/// One entry's `(kl, rkl, jsd part, p_a masked, p_b masked, s of the |δ| ≥ 1 JSD terms)` terms (see the module docs). `CORR`:
/// the rows are not known to be normalized, so the KL terms are `p_a·δ` (computed as
/// `p_b·(g(δ) + e^δ − 1)` for |δ| < 1); otherwise they are the non-negative `p_b·g(δ)`.
#[inline(always)]
fn terms<const CORR: bool>(a: f32, b: f32, ea: f32, eb: f32, p: &Params) -> [f32; NQ] {
    let xa = a - p.sa;
    let xb = b - p.sb;
    let pa = ea * p.ia;
    let pb = eb * p.ib;
    let d = (xa - xb) - p.kc;
    let ad = d.abs();
    let small = ad < 1.0;
    let d2 = d * d;
    // h(δ) = e^δ − 1 − δ = He + δ·Q, He even, Q even.
    let he = d2
        * (0.5
            + d2 * (1.0 / 24.0
                + d2 * (1.0 / 720.0
                    + d2 * (1.0 / 40_320.0
                        + d2 * (1.0 / 3_628_800.0 + d2 * (1.0 / 479_001_600.0))))));
    let q = d2
        * (1.0 / 6.0
            + d2 * (1.0 / 120.0
                + d2 * (1.0 / 5_040.0 + d2 * (1.0 / 362_880.0 + d2 * (1.0 / 39_916_800.0)))));
    let ho = d * q;
    let h = he + ho; // h(δ)
    let hm = he - ho; // h(−δ)
    let g = d2 - (1.0 - d) * h; // g(δ)
    let gm = d2 - (1.0 + d) * hm; // g(−δ)
    let e = d + h; // e^δ − 1
    let em = hm - d; // e^−δ − 1
    let (kl_small, kl_large, rkl_small, rkl_large) = if CORR {
        (pb * (g + e), pa * d, pa * (gm + em), -(pb * d))
    } else {
        (pb * g, pb + (d - 1.0) * pa, pa * gm, pa - (d + 1.0) * pb)
    };
    let ma = a > p.ta;
    let mb = b > p.tb;
    let kl = if small { kl_small } else { kl_large };
    let rkl = if small { rkl_small } else { rkl_large };
    let kl = if ma { kl } else { 0.0 };
    let rkl = if mb { rkl } else { 0.0 };
    let mass_a = if ma { pa } else { 0.0 };
    let mass_b = if mb { pb } else { 0.0 };
    // JSD, symmetric in (a, b): only |δ|, s, min and max enter.
    let s = pa + pb;
    let mn = if pa < pb { pa } else { pb };
    let mx = if pa < pb { pb } else { pa };
    let eabs = ad + he + ad * q; // e^|δ| − 1
    let num = if small { eabs } else { mn };
    let den = if small { eabs + 2.0 } else { 2.0 * mx + mn };
    let den = if den > 1e-30 { den } else { 1e-30 };
    let t = num / den;
    let t2 = t * t;
    let ft = t2
        * (1.0
            + t2 * (1.0 / 6.0
                + t2 * (1.0 / 15.0
                    + t2 * (1.0 / 28.0
                        + t2 * (1.0 / 45.0
                            + t2 * (1.0 / 66.0
                                + t2 * (1.0 / 91.0 + t2 * (1.0 / 120.0 + t2 * (1.0 / 153.0)))))))));
    let at = t
        * (1.0
            + t2 * (1.0 / 3.0
                + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0 + t2 * (1.0 / 11.0))))));
    // For |δ| ≥ 1 the term is ½·s·ln 2 − (s·atanh(u) + ½|δ|·min): the first part is summed
    // separately (as s) and multiplied by ln 2 in f64, so that disjoint supports give ln 2 exactly.
    let j = if small {
        0.25 * s * ft
    } else {
        -(s * at + 0.5 * ad * mn)
    };
    let s_large = if small { 0.0 } else { s };
    [kl, rkl, j, mass_a, mass_b, s_large]
}

/// Pass 3 over rows `a`, `b` and their exponentials `ea`, `eb` (all the same length).
pub(crate) fn fused<const CORR: bool>(
    a: &[f32],
    b: &[f32],
    ea: &[f32],
    eb: &[f32],
    p: &Params,
) -> Sums {
    let n = a.len();
    debug_assert!(b.len() == n && ea.len() == n && eb.len() == n);
    let block = LANES * BLOCK_CHUNKS;
    let full = n / block * block;
    let mut acc = [[0.0f64; LANES]; NQ];
    let mut i = 0;
    while i < full {
        let ab: &[f32; 64] = a[i..i + block].try_into().expect("block of 64");
        let bb: &[f32; 64] = b[i..i + block].try_into().expect("block of 64");
        let eab: &[f32; 64] = ea[i..i + block].try_into().expect("block of 64");
        let ebb: &[f32; 64] = eb[i..i + block].try_into().expect("block of 64");
        // Terms of the block into small arrays (a 64-iteration loop the loop vectorizer
        // handles), then summed per lane.
        let mut tq = [[0.0f32; 64]; NQ];
        for v in 0..64 {
            let t = terms::<CORR>(ab[v], bb[v], eab[v], ebb[v], p);
            for q in 0..NQ {
                tq[q][v] = t[q];
            }
        }
        let mut part = [[0.0f32; LANES]; NQ];
        for q in 0..NQ {
            for c in tq[q].chunks_exact(LANES) {
                for k in 0..LANES {
                    part[q][k] += c[k];
                }
            }
        }
        for q in 0..NQ {
            for k in 0..LANES {
                acc[q][k] += f64::from(part[q][k]);
            }
        }
        i += block;
    }
    for v in full..n {
        let t = terms::<CORR>(a[v], b[v], ea[v], eb[v], p);
        for q in 0..NQ {
            acc[q][0] += f64::from(t[q]);
        }
    }
    Sums {
        kl: pairwise(&acc[0]),
        rkl: pairwise(&acc[1]),
        jsd: (pairwise(&acc[2]) + 0.5 * std::f64::consts::LN_2 * pairwise(&acc[5]))
            .clamp(0.0, std::f64::consts::LN_2),
        mass_a: pairwise(&acc[3]),
        mass_b: pairwise(&acc[4]),
    }
}

#[cfg(test)]
mod tests {
    use super::exp32;

    /// exp32 is within 2.5 f32 ulp (3e-7 relative) of the f64 exponential over [−87, 0.5].
    #[test]
    fn exp32_matches_f64() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 0.5 {
            let want = f64::from(x).exp();
            let got = f64::from(exp32(x));
            worst = worst.max((got - want).abs() / want);
            x += 0.000_731;
        }
        assert!(worst <= 3e-7, "worst relative error {worst:e}");
        assert_eq!(exp32(0.0), 1.0);
        assert!(exp32(-1e6) > 0.0 && exp32(1e6).is_finite());
    }
}

#[cfg(test)]
mod timing {
    /// Per-pass timing (run with `--ignored --nocapture`); not an assertion.
    #[test]
    #[ignore]
    fn pass_timing() {
        /// On-CPU time of this thread (ns), from the scheduler statistics: the machine is shared.
        fn cpu() -> f64 {
            let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        }
        struct Instant(f64);
        impl Instant {
            fn now() -> Self {
                Self(cpu())
            }
            fn elapsed(&self) -> std::time::Duration {
                std::time::Duration::from_nanos((cpu() - self.0) as u64)
            }
        }
        let n = 151_936;
        let mut x = 1u32;
        let a: Vec<f32> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as f32 / u32::MAX as f32 - 0.5) * 30.0
            })
            .collect();
        let b: Vec<f32> = a.iter().map(|v| v + 0.01).collect();
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        let reps = 50;
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(super::scan(std::hint::black_box(&a)).unwrap().0);
        }
        let ns = |t: Instant| t.elapsed().as_secs_f64() * 1e9 / (reps * n) as f64;
        eprintln!("scan {:.2} ns/entry", ns(t));
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(super::exp_sum_into(std::hint::black_box(&a), 15.0, &mut ea));
        }
        eprintln!("exp_sum {:.2} ns/entry", ns(t));
        super::exp_sum_into(&b, 15.0, &mut eb);
        let p = super::Params {
            sa: 15.0,
            sb: 15.0,
            ia: 0.1,
            ib: 0.1,
            kc: 0.0,
            ta: f32::NEG_INFINITY,
            tb: f32::NEG_INFINITY,
        };
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(super::fused::<false>(
                std::hint::black_box(&a),
                &b,
                &ea,
                &eb,
                &p,
            ));
        }
        eprintln!("fused {:.2} ns/entry", ns(t));
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(crate::compare_logits(&a, &b, 3).unwrap());
        }
        let fast = ns(t);
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(crate::compare_logits_reference(&a, &b, 3).unwrap());
        }
        let reference = ns(t);
        // Streaming read of 256 MiB (16 f32 lanes), CPU time.
        let big: Vec<f32> = (0..64usize << 20).map(|i| (i % 1024) as f32).collect();
        let t = Instant::now();
        let mut acc = [0.0f32; 16];
        for _ in 0..4 {
            for ch in std::hint::black_box(&big).chunks_exact(16) {
                for k in 0..16 {
                    acc[k] += ch[k];
                }
            }
        }
        std::hint::black_box(acc);
        let read_gbs = (4 * big.len() * 4) as f64 / (t.elapsed().as_secs_f64() * 1e9);
        let gbs = |ns: f64| 8.0 / ns;
        eprintln!(
            "compare_logits {fast:.2} ns/entry = {:.2} GB/s; reference {reference:.2} ns/entry = \
             {:.2} GB/s; streaming read {read_gbs:.2} GB/s (CPU time)",
            gbs(fast),
            gbs(reference)
        );
    }
}
