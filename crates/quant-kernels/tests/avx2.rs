//! The AVX2 backend against the scalar oracle: every dot product, activation quantizer and
//! dequantizer, over random blocks covering the full bit-pattern range (i8 = −128 included).
//!
//! Tests print a message and pass when the CPU lacks AVX2/FMA/F16C.
#![cfg(target_arch = "x86_64")]

use bytemuck::Pod;
use half::{bf16, f16};
use proptest::prelude::*;
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0, KVALUES_FP4, KVALUES_IQ4NL,
};
use quant_kernels::Backend;
use quant_kernels::scalar::{self, Scalar};
use quant_kernels::x86::avx2::Avx2;

/// The AVX2 backend, or `None` (with a message) on a CPU without it.
fn avx2() -> Option<&'static dyn Backend> {
    let b = Avx2::get();
    if b.is_none() {
        eprintln!("skipping: this CPU lacks AVX2/FMA/F16C");
    }
    b
}

// ---------------------------------------------------------------------------------------------
// Random blocks.
// ---------------------------------------------------------------------------------------------

/// SplitMix64: a small deterministic generator driven by a proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }

    /// A uniformly random block (every byte pattern).
    fn block<B: Pod>(&mut self) -> B {
        let mut v = vec![0u8; size_of::<B>()];
        self.fill(&mut v);
        bytemuck::pod_read_unaligned(&v)
    }

    /// A random finite f16 (any sign, exponent and mantissa, inf/NaN mapped to finite values).
    fn f16(&mut self) -> f16 {
        fin(f16::from_bits(self.next() as u16))
    }
}

/// `h` if finite, else a finite value (the top exponent bit cleared).
fn fin(h: f16) -> f16 {
    let b = h.to_bits();
    if b & 0x7C00 == 0x7C00 {
        f16::from_bits(b & !0x4000)
    } else {
        h
    }
}

/// How the scales of a random block are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scales {
    /// Any finite value (all f16 patterns but inf/NaN).
    Finite,
    /// All scales 1 and all mins 0: every partial sum is an integer, so while the sum of
    /// magnitudes stays below 2^24 the float result is exact and must match bit for bit.
    Unit,
}

/// A random block with finite (or unit) scales.
trait Gen: Pod {
    fn random(rng: &mut Rng, s: Scales) -> Self;
}

macro_rules! gen_d {
    ($t:ty $(, $min:ident)?) => {
        impl Gen for $t {
            fn random(rng: &mut Rng, s: Scales) -> Self {
                let mut b: Self = rng.block();
                match s {
                    Scales::Finite => {
                        b.d = fin(b.d);
                        $(b.$min = fin(b.$min);)?
                    }
                    Scales::Unit => {
                        b.d = f16::ONE;
                        $(b.$min = f16::ZERO;)?
                    }
                }
                b
            }
        }
    };
}
gen_d!(BlockQ4_0);
gen_d!(BlockQ4_1, m);
gen_d!(BlockQ5_0);
gen_d!(BlockQ5_1, m);
gen_d!(BlockQ8_0);
gen_d!(BlockQ2K, dmin);
gen_d!(BlockQ3K);
gen_d!(BlockQ4K, dmin);
gen_d!(BlockQ5K, dmin);
gen_d!(BlockQ6K);
gen_d!(BlockIq4Nl);
gen_d!(BlockIq4Xs);
gen_d!(BlockTq1_0);
gen_d!(BlockTq2_0);

impl Gen for BlockQ8_1 {
    fn random(rng: &mut Rng, s: Scales) -> Self {
        let mut b: Self = rng.block();
        b.d = if s == Scales::Unit {
            f16::ONE
        } else {
            fin(b.d)
        };
        b.s = fin(b.s);
        b
    }
}

impl Gen for BlockQ8K {
    fn random(rng: &mut Rng, s: Scales) -> Self {
        let mut b: Self = rng.block();
        b.d = if s == Scales::Unit {
            1.0
        } else {
            rng.f16().to_f32()
        };
        for (j, bs) in b.bsums.iter_mut().enumerate() {
            *bs = b.qs[16 * j..16 * j + 16]
                .iter()
                .map(|&q| i16::from(q))
                .sum();
        }
        b
    }
}

impl Gen for BlockMxfp4 {
    fn random(rng: &mut Rng, s: Scales) -> Self {
        let mut b: Self = rng.block();
        if s == Scales::Unit {
            b.e = 128; // 2^(128 − 128) = 1
        }
        b
    }
}

impl Gen for BlockNvfp4 {
    fn random(rng: &mut Rng, s: Scales) -> Self {
        let mut b: Self = rng.block();
        if s == Scales::Unit {
            b.d = [64; 4]; // UE4M3 2.0, times ggml's ½
        }
        b
    }
}

fn gen_row<B: Gen>(rng: &mut Rng, n: usize, s: Scales) -> Vec<B> {
    (0..n).map(|_| B::random(rng, s)).collect()
}

// ---------------------------------------------------------------------------------------------
// Magnitudes for the tolerance: |value| of every weight and activation, split into scale and
// min parts so that Σ|w|·|a| bounds the sum of the magnitudes of all terms the kernels add.
// ---------------------------------------------------------------------------------------------

fn f(h: f16) -> f64 {
    f64::from(h.to_f32()).abs()
}

fn nib(qs: &[u8; 16], i: usize) -> u8 {
    if i < 16 { qs[i] & 0xF } else { qs[i - 16] >> 4 }
}

fn q5(qs: &[u8; 16], qh: &[u8; 4], i: usize) -> i32 {
    i32::from(nib(qs, i)) | ((((u32::from_le_bytes(*qh) >> i) & 1) as i32) << 4)
}

trait Mag: Sized {
    /// `|scale part| + |min part|` of every value of the row.
    fn mags(row: &[Self]) -> Vec<f64>;
}

macro_rules! mag_fn {
    ($t:ty, |$b:ident, $i:ident| $e:expr) => {
        impl Mag for $t {
            fn mags(row: &[Self]) -> Vec<f64> {
                let n = <$t as quant_core::BlockFormat>::BLOCK_LEN;
                row.iter().flat_map(|$b| (0..n).map(move |$i| $e)).collect()
            }
        }
    };
}

mag_fn!(BlockQ4_0, |b, i| f(b.d)
    * f64::from(i32::from(nib(&b.qs, i)) - 8).abs());
mag_fn!(BlockQ4_1, |b, i| f(b.d) * f64::from(nib(&b.qs, i)) + f(b.m));
mag_fn!(BlockQ5_0, |b, i| f(b.d)
    * f64::from(q5(&b.qs, &b.qh, i) - 16).abs());
mag_fn!(BlockQ5_1, |b, i| f(b.d) * f64::from(q5(&b.qs, &b.qh, i))
    + f(b.m));
mag_fn!(BlockQ8_0, |b, i| f(b.d) * f64::from(b.qs[i]).abs());
mag_fn!(BlockQ8_1, |b, i| f(b.d) * f64::from(b.qs[i]).abs());
mag_fn!(BlockQ8K, |b, i| f64::from(b.d).abs()
    * f64::from(b.qs[i]).abs());
mag_fn!(BlockIq4Nl, |b, i| f(b.d)
    * f64::from(KVALUES_IQ4NL[usize::from(nib(&b.qs, i))]).abs());
mag_fn!(BlockMxfp4, |b, i| f64::from(scalar::e8m0_to_f32_half(b.e))
    * f64::from(KVALUES_FP4[usize::from(nib(&b.qs, i))]).abs());
mag_fn!(BlockNvfp4, |b, i| {
    let (s, j) = (i / 16, i % 16);
    let q = b.qs[8 * s + j % 8];
    let q = if j < 8 { q & 0xF } else { q >> 4 };
    f64::from(scalar::ue4m3_to_f32_half(b.d[s])) * f64::from(KVALUES_FP4[usize::from(q)]).abs()
});
// Ternary formats: |t − 1| ≤ 1, so |d| per value bounds the magnitude.
mag_fn!(BlockTq1_0, |b, _i| f(b.d));
mag_fn!(BlockTq2_0, |b, i| {
    let (j, l, m) = (i / 128, (i % 128) / 32, i % 32);
    let q = (b.qs[32 * j + m] >> (2 * l)) & 3;
    f(b.d) * (f64::from(q) - 1.0).abs()
});

/// Magnitudes through the scalar dequantizer, with the min part taken separately.
fn deq_mags<B: Pod + quant_core::BlockFormat>(
    row: &[B],
    deq: fn(&[B], &mut [f32]),
    split: Option<fn(&mut B, bool)>,
) -> Vec<f64> {
    let n = row.len() * B::BLOCK_LEN;
    let run = |r: &[B]| {
        let mut out = vec![0.0f32; n];
        deq(r, &mut out);
        out
    };
    match split {
        None => run(row).iter().map(|v| f64::from(*v).abs()).collect(),
        Some(zero) => {
            let mut scale_only = row.to_vec();
            let mut min_only = row.to_vec();
            scale_only.iter_mut().for_each(|b| zero(b, false));
            min_only.iter_mut().for_each(|b| zero(b, true));
            let s = run(&scale_only);
            let m = run(&min_only);
            s.iter()
                .zip(&m)
                .map(|(a, b)| f64::from(*a).abs() + f64::from(*b).abs())
                .collect()
        }
    }
}

impl Mag for BlockQ2K {
    fn mags(row: &[Self]) -> Vec<f64> {
        deq_mags(
            row,
            scalar::dequantize_q2k,
            Some(|b, scale| {
                if scale {
                    b.d = f16::ZERO
                } else {
                    b.dmin = f16::ZERO
                }
            }),
        )
    }
}
impl Mag for BlockQ4K {
    fn mags(row: &[Self]) -> Vec<f64> {
        deq_mags(
            row,
            scalar::dequantize_q4k,
            Some(|b, scale| {
                if scale {
                    b.d = f16::ZERO
                } else {
                    b.dmin = f16::ZERO
                }
            }),
        )
    }
}
impl Mag for BlockQ5K {
    fn mags(row: &[Self]) -> Vec<f64> {
        deq_mags(
            row,
            scalar::dequantize_q5k,
            Some(|b, scale| {
                if scale {
                    b.d = f16::ZERO
                } else {
                    b.dmin = f16::ZERO
                }
            }),
        )
    }
}
impl Mag for BlockQ3K {
    fn mags(row: &[Self]) -> Vec<f64> {
        deq_mags(row, scalar::dequantize_q3k, None)
    }
}
impl Mag for BlockQ6K {
    fn mags(row: &[Self]) -> Vec<f64> {
        deq_mags(row, scalar::dequantize_q6k, None)
    }
}
impl Mag for BlockIq4Xs {
    fn mags(row: &[Self]) -> Vec<f64> {
        deq_mags(row, scalar::dequantize_iq4xs, None)
    }
}

/// Σ|m_w·s_a| of the Q4_1/Q5_1 · Q8_1 products (the activation's stored `s`), else 0.
trait Extra<A> {
    fn extra(w: &[Self], a: &[A]) -> f64
    where
        Self: Sized,
    {
        let _ = (w, a);
        0.0
    }
}
macro_rules! no_extra {
    ($($w:ty, $a:ty);*) => { $(impl Extra<$a> for $w {})* };
}
no_extra!(BlockQ4_0, BlockQ8_0; BlockQ5_0, BlockQ8_0; BlockQ8_0, BlockQ8_0; BlockIq4Nl, BlockQ8_0;
    BlockMxfp4, BlockQ8_0; BlockNvfp4, BlockQ8_0; BlockQ2K, BlockQ8K; BlockQ3K, BlockQ8K;
    BlockQ4K, BlockQ8K; BlockQ5K, BlockQ8K; BlockQ6K, BlockQ8K; BlockQ8K, BlockQ8K;
    BlockIq4Xs, BlockQ8K; BlockTq1_0, BlockQ8K; BlockTq2_0, BlockQ8K);
impl Extra<BlockQ8_1> for BlockQ4_1 {
    fn extra(w: &[Self], a: &[BlockQ8_1]) -> f64 {
        w.iter().zip(a).map(|(x, y)| f(x.m) * f(y.s)).sum()
    }
}
impl Extra<BlockQ8_1> for BlockQ5_1 {
    fn extra(w: &[Self], a: &[BlockQ8_1]) -> f64 {
        w.iter().zip(a).map(|(x, y)| f(x.m) * f(y.s)).sum()
    }
}

/// `Σ |terms|` of a dot product (the golden README's `f64_abs_sum`, with min terms counted
/// separately so that cancellation between scale and min parts cannot hide rounding).
fn abs_sum<W: Mag + Extra<A>, A: Mag>(w: &[W], a: &[A]) -> f64 {
    let mw = W::mags(w);
    let ma = A::mags(a);
    assert_eq!(mw.len(), ma.len());
    mw.iter().zip(&ma).map(|(x, y)| x * y).sum::<f64>() + W::extra(w, a)
}

/// Compare one dot product.
///
/// Tolerance (golden README, "Dot products, any backend"): `|avx2 − scalar| ≤ 1e-5·sqrt(n/32)·S`
/// with `S = Σ|terms|`. Justification: integer parts are exact in both, so the results differ
/// only by the rounding of the f32 operations. Each backend's result is within `(k + c)·u·S` of
/// the exact value (u = 2^-24, k = number of float additions along the longest path ≤ number of
/// blocks + 8, c ≤ 4 for the products that form each term), so the difference is at most
/// `2·(nb + 12)·u·S`, below `1e-5·sqrt(n/32)·S` for every block count tested here (e.g. nb = 1:
/// 1.5e-6·S vs 1e-5·S; nb = 300 q8_0: 3.7e-5·S vs 1.7e-4·S). With unit scales and `S < 2^24`
/// every partial sum is an exactly representable integer, so the results must be equal.
fn check(name: &str, n_values: usize, got: f32, want: f32, s: f64, scales: Scales) {
    if !want.is_finite() {
        assert!(
            (want.is_nan() && got.is_nan()) || got == want,
            "{name}: non-finite class differs: avx2 {got}, scalar {want}"
        );
        return;
    }
    if scales == Scales::Unit && s < f64::from(1u32 << 24) {
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{name}: integer dot differs: avx2 {got}, scalar {want}"
        );
        return;
    }
    let tol = 1e-5 * (n_values as f64 / 32.0).sqrt() * s;
    let diff = (f64::from(got) - f64::from(want)).abs();
    assert!(
        diff <= tol,
        "{name}: |avx2 − scalar| = {diff:e} > {tol:e} (avx2 {got}, scalar {want}, n {n_values})"
    );
}

/// Activations per weight block (NVFP4 blocks hold 64 values, Q8_0 blocks 32).
trait Ratio {
    const A_PER_W: usize = 1;
}
impl Ratio for BlockQ4_0 {}
impl Ratio for BlockQ4_1 {}
impl Ratio for BlockQ5_0 {}
impl Ratio for BlockQ5_1 {}
impl Ratio for BlockQ8_0 {}
impl Ratio for BlockIq4Nl {}
impl Ratio for BlockMxfp4 {}
impl Ratio for BlockNvfp4 {
    const A_PER_W: usize = 2;
}
impl Ratio for BlockQ2K {}
impl Ratio for BlockQ3K {}
impl Ratio for BlockQ4K {}
impl Ratio for BlockQ5K {}
impl Ratio for BlockQ6K {}
impl Ratio for BlockQ8K {}
impl Ratio for BlockIq4Xs {}
impl Ratio for BlockTq1_0 {}
impl Ratio for BlockTq2_0 {}

/// Run one random case of a dot product.
fn dot_case<W, A>(
    name: &str,
    nb: usize,
    seed: u64,
    scales: Scales,
    f_avx2: fn(&dyn Backend, &[W], &[A]) -> f32,
    f_scalar: fn(&[W], &[A]) -> f32,
) where
    W: Gen + Mag + Extra<A> + Ratio + quant_core::BlockFormat,
    A: Gen + Mag,
{
    let Some(b) = avx2() else { return };
    let mut rng = Rng(seed);
    let w: Vec<W> = gen_row(&mut rng, nb, scales);
    let a: Vec<A> = gen_row(&mut rng, nb * W::A_PER_W, scales);
    let got = f_avx2(b, &w, &a);
    let want = f_scalar(&w, &a);
    check(name, nb * W::BLOCK_LEN, got, want, abs_sum(&w, &a), scales);
}

fn scales_strategy() -> impl Strategy<Value = Scales> {
    prop_oneof![3 => Just(Scales::Finite), 1 => Just(Scales::Unit)]
}

macro_rules! dot_tests {
    ($($test:ident: $w:ty, $a:ty, $method:ident, $max:expr;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            $(
                #[test]
                fn $test(nb in 1usize..=$max, seed in any::<u64>(), s in scales_strategy()) {
                    dot_case::<$w, $a>(
                        stringify!($method), nb, seed, s,
                        |b, w, a| b.$method(w, a),
                        scalar::$method,
                    );
                }
            )*
        }
    };
}

dot_tests! {
    prop_dot_q8_0: BlockQ8_0, BlockQ8_0, dot_q8_0_q8_0, 300;
    prop_dot_q4_0: BlockQ4_0, BlockQ8_0, dot_q4_0_q8_0, 300;
    prop_dot_q4_1: BlockQ4_1, BlockQ8_1, dot_q4_1_q8_1, 300;
    prop_dot_q5_0: BlockQ5_0, BlockQ8_0, dot_q5_0_q8_0, 300;
    prop_dot_q5_1: BlockQ5_1, BlockQ8_1, dot_q5_1_q8_1, 300;
    prop_dot_iq4nl: BlockIq4Nl, BlockQ8_0, dot_iq4nl_q8_0, 300;
    prop_dot_mxfp4: BlockMxfp4, BlockQ8_0, dot_mxfp4_q8_0, 300;
    prop_dot_nvfp4: BlockNvfp4, BlockQ8_0, dot_nvfp4_q8_0, 150;
    prop_dot_q2k: BlockQ2K, BlockQ8K, dot_q2k_q8k, 40;
    prop_dot_q3k: BlockQ3K, BlockQ8K, dot_q3k_q8k, 40;
    prop_dot_q4k: BlockQ4K, BlockQ8K, dot_q4k_q8k, 40;
    prop_dot_q5k: BlockQ5K, BlockQ8K, dot_q5k_q8k, 40;
    prop_dot_q6k: BlockQ6K, BlockQ8K, dot_q6k_q8k, 40;
    prop_dot_q8k: BlockQ8K, BlockQ8K, dot_q8k_q8k, 40;
    prop_dot_iq4xs: BlockIq4Xs, BlockQ8K, dot_iq4xs_q8k, 40;
    prop_dot_tq1_0: BlockTq1_0, BlockQ8K, dot_tq1_0_q8k, 40;
    prop_dot_tq2_0: BlockTq2_0, BlockQ8K, dot_tq2_0_q8k, 40;
}

// ---------------------------------------------------------------------------------------------
// −128 regressions: activations (and i8 weights) of −128 everywhere, unit scales, so the exact
// integer result is known to both backends and must match bit for bit.
// ---------------------------------------------------------------------------------------------

/// Set every activation quant to −128 (keeping Q8_K's bsums consistent).
trait AllMin {
    fn all_min(&mut self);
}
impl AllMin for BlockQ8_0 {
    fn all_min(&mut self) {
        self.qs = [-128; 32];
    }
}
impl AllMin for BlockQ8_1 {
    fn all_min(&mut self) {
        self.qs = [-128; 32];
        self.s = f16::from_f32(-4096.0);
    }
}
impl AllMin for BlockQ8K {
    fn all_min(&mut self) {
        self.qs = [-128; 256];
        self.bsums = [-2048; 16];
    }
}

fn min_case<W, A>(
    name: &str,
    f_avx2: fn(&dyn Backend, &[W], &[A]) -> f32,
    f_scalar: fn(&[W], &[A]) -> f32,
    neg_weights: fn(&mut W),
) where
    W: Gen + Ratio + quant_core::BlockFormat,
    A: Gen + AllMin,
{
    let Some(b) = avx2() else { return };
    let mut rng = Rng(0x5EED_0128);
    for nb in [1usize, 2, 3, 7] {
        let mut w: Vec<W> = gen_row(&mut rng, nb, Scales::Unit);
        w.iter_mut().for_each(neg_weights);
        let mut a: Vec<A> = gen_row(&mut rng, nb * W::A_PER_W, Scales::Unit);
        a.iter_mut().for_each(AllMin::all_min);
        let got = f_avx2(b, &w, &a);
        let want = f_scalar(&w, &a);
        // Unit scales, constant weight quants and constant activations: every term of the sum is
        // the same product T = 128·|w|·sc with |w|·sc < 2^13, so every partial sum is k·T with
        // k ≤ 7·256 < 2^11, which has at most 24 significant bits: exact in f32 in any order.
        // The results must therefore be equal, and non-zero (the weights are chosen negative).
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{name} nb={nb}: avx2 {got}, scalar {want}"
        );
        assert!(
            want != 0.0,
            "{name}: the regression case must exercise the products"
        );
    }
}

#[test]
fn minus_128_regressions() {
    // Weights made as negative as the format allows (negative weight × −128 activation is the
    // case ggml's sign trick gets wrong).
    min_case::<BlockQ8_0, BlockQ8_0>(
        "q8_0",
        |b, w, a| b.dot_q8_0_q8_0(w, a),
        scalar::dot_q8_0_q8_0,
        |w| w.qs = [-128; 32],
    );
    min_case::<BlockQ8K, BlockQ8K>(
        "q8_K",
        |b, w, a| b.dot_q8k_q8k(w, a),
        scalar::dot_q8k_q8k,
        |w| {
            w.qs = [-128; 256];
            w.bsums = [-2048; 16];
        },
    );
    min_case::<BlockQ4_0, BlockQ8_0>(
        "q4_0",
        |b, w, a| b.dot_q4_0_q8_0(w, a),
        scalar::dot_q4_0_q8_0,
        |w| w.qs = [0; 16],
    );
    min_case::<BlockQ4_1, BlockQ8_1>(
        "q4_1",
        |b, w, a| b.dot_q4_1_q8_1(w, a),
        scalar::dot_q4_1_q8_1,
        |w| w.qs = [0xFF; 16],
    );
    min_case::<BlockQ5_0, BlockQ8_0>(
        "q5_0",
        |b, w, a| b.dot_q5_0_q8_0(w, a),
        scalar::dot_q5_0_q8_0,
        |w| {
            w.qs = [0; 16];
            w.qh = [0; 4];
        },
    );
    min_case::<BlockQ5_1, BlockQ8_1>(
        "q5_1",
        |b, w, a| b.dot_q5_1_q8_1(w, a),
        scalar::dot_q5_1_q8_1,
        |w| {
            w.qs = [0xFF; 16];
            w.qh = [0xFF; 4];
        },
    );
    min_case::<BlockIq4Nl, BlockQ8_0>(
        "iq4_nl",
        |b, w, a| b.dot_iq4nl_q8_0(w, a),
        scalar::dot_iq4nl_q8_0,
        |w| w.qs = [0; 16],
    );
    min_case::<BlockMxfp4, BlockQ8_0>(
        "mxfp4",
        |b, w, a| b.dot_mxfp4_q8_0(w, a),
        scalar::dot_mxfp4_q8_0,
        |w| w.qs = [0xFF; 16],
    );
    min_case::<BlockNvfp4, BlockQ8_0>(
        "nvfp4",
        |b, w, a| b.dot_nvfp4_q8_0(w, a),
        scalar::dot_nvfp4_q8_0,
        |w| w.qs = [0xFF; 32],
    );
    min_case::<BlockQ2K, BlockQ8K>(
        "q2_K",
        |b, w, a| b.dot_q2k_q8k(w, a),
        scalar::dot_q2k_q8k,
        |w| {
            w.qs = [0xFF; 64];
            w.scales = [0xFF; 16];
        },
    );
    min_case::<BlockQ3K, BlockQ8K>(
        "q3_K",
        |b, w, a| b.dot_q3k_q8k(w, a),
        scalar::dot_q3k_q8k,
        |w| {
            w.qs = [0; 64];
            w.hmask = [0; 32];
            w.scales = [0xFF; 12];
        },
    );
    min_case::<BlockQ4K, BlockQ8K>(
        "q4_K",
        |b, w, a| b.dot_q4k_q8k(w, a),
        scalar::dot_q4k_q8k,
        |w| {
            w.qs = [0xFF; 128];
            w.scales = [0xFF; 12];
        },
    );
    min_case::<BlockQ5K, BlockQ8K>(
        "q5_K",
        |b, w, a| b.dot_q5k_q8k(w, a),
        scalar::dot_q5k_q8k,
        |w| {
            w.qs = [0xFF; 128];
            w.qh = [0xFF; 32];
            w.scales = [0xFF; 12];
        },
    );
    min_case::<BlockQ6K, BlockQ8K>(
        "q6_K",
        |b, w, a| b.dot_q6k_q8k(w, a),
        scalar::dot_q6k_q8k,
        |w| {
            w.ql = [0; 128];
            w.qh = [0; 64];
            w.scales = [127; 16];
        },
    );
    min_case::<BlockIq4Xs, BlockQ8K>(
        "iq4_xs",
        |b, w, a| b.dot_iq4xs_q8k(w, a),
        scalar::dot_iq4xs_q8k,
        |w| {
            w.qs = [0; 128];
            w.scales_l = [0xFF; 4];
            w.scales_h = 0xFFFF;
        },
    );
    min_case::<BlockTq1_0, BlockQ8K>(
        "tq1_0",
        |b, w, a| b.dot_tq1_0_q8k(w, a),
        scalar::dot_tq1_0_q8k,
        |w| {
            w.qs = [0; 48];
            w.qh = [0; 4];
        },
    );
    min_case::<BlockTq2_0, BlockQ8K>(
        "tq2_0",
        |b, w, a| b.dot_tq2_0_q8k(w, a),
        scalar::dot_tq2_0_q8k,
        |w| w.qs = [0; 64],
    );
}

/// Non-finite scales give a result of the same class (NaN, +inf, −inf) as the oracle.
#[test]
fn non_finite_scales_match_class() {
    let Some(b) = avx2() else { return };
    let mut rng = Rng(7);
    for (i, d) in [f16::INFINITY, f16::NEG_INFINITY, f16::NAN]
        .into_iter()
        .enumerate()
    {
        for nb in [1usize, 5] {
            let mut w: Vec<BlockQ4_0> = gen_row(&mut rng, nb, Scales::Finite);
            let a: Vec<BlockQ8_0> = gen_row(&mut rng, nb, Scales::Finite);
            w[nb - 1].d = d;
            let got = b.dot_q4_0_q8_0(&w, &a);
            let want = scalar::dot_q4_0_q8_0(&w, &a);
            assert!(!want.is_finite(), "case {i}");
            check("q4_0 non-finite", nb * 32, got, want, 0.0, Scales::Finite);

            let mut w: Vec<BlockQ4K> = gen_row(&mut rng, nb, Scales::Finite);
            let a: Vec<BlockQ8K> = gen_row(&mut rng, nb, Scales::Finite);
            w[0].d = d;
            let got = b.dot_q4k_q8k(&w, &a);
            let want = scalar::dot_q4k_q8k(&w, &a);
            check("q4_K non-finite", nb * 256, got, want, 0.0, Scales::Finite);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Float dots.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Tolerance: both results are within `n·u·Σ|a·b|` of the exact sum (a sum of n terms
    /// rounded in any order, u = 2^-24; FMA only removes roundings), so they differ by at most
    /// `2·n·u·Σ|a·b|` (plus nothing for n = 0: both are +0).
    #[test]
    fn prop_dot_float(n in 0usize..300, seed in any::<u64>()) {
        let Some(b) = avx2() else { return Ok(()) };
        let mut rng = Rng(seed);
        let x: Vec<f32> = (0..n).map(|_| rng.f16().to_f32()).collect();
        let y: Vec<f32> = (0..n).map(|_| rng.f16().to_f32()).collect();
        let s: f64 = x.iter().zip(&y).map(|(p, q)| f64::from(*p * *q).abs()).sum();
        let tol = 2.0 * n as f64 * f64::from(f32::EPSILON / 2.0) * s;

        let (got, want) = (b.dot_f32(&x, &y), scalar::dot_f32(&x, &y));
        prop_assert!((f64::from(got) - f64::from(want)).abs() <= tol, "f32: {got} vs {want}");

        let xh: Vec<f16> = x.iter().map(|v| f16::from_f32(*v)).collect();
        let yh: Vec<f16> = y.iter().map(|v| f16::from_f32(*v)).collect();
        let (got, want) = (b.dot_f16(&xh, &yh), scalar::dot_f16(&xh, &yh));
        prop_assert!((f64::from(got) - f64::from(want)).abs() <= tol, "f16: {got} vs {want}");

        // bf16 values of the same f16 inputs are within 2^-8 relative: same bound with the
        // magnitude recomputed.
        let xb: Vec<bf16> = x.iter().map(|v| bf16::from_f32(*v)).collect();
        let yb: Vec<bf16> = y.iter().map(|v| bf16::from_f32(*v)).collect();
        let sb: f64 = xb.iter().zip(&yb)
            .map(|(p, q)| f64::from(p.to_f32() * q.to_f32()).abs()).sum();
        let tolb = 2.0 * n as f64 * f64::from(f32::EPSILON / 2.0) * sb;
        let (got, want) = (b.dot_bf16(&xb, &yb), scalar::dot_bf16(&xb, &yb));
        prop_assert!((f64::from(got) - f64::from(want)).abs() <= tolb, "bf16: {got} vs {want}");
    }
}

// ---------------------------------------------------------------------------------------------
// Dequantizers: bit for bit, over every bit pattern (scales included: inf/NaN propagate through
// the same IEEE operations; NaN payloads are compared as a class).
// ---------------------------------------------------------------------------------------------

fn deq_case<B: Pod + quant_core::BlockFormat>(
    name: &str,
    nb: usize,
    seed: u64,
    f_avx2: fn(&dyn Backend, &[B], &mut [f32]),
    f_scalar: fn(&[B], &mut [f32]),
) {
    let Some(b) = avx2() else { return };
    let mut rng = Rng(seed);
    let src: Vec<B> = (0..nb).map(|_| rng.block()).collect();
    let mut got = vec![0.0f32; nb * B::BLOCK_LEN];
    let mut want = vec![1.0f32; nb * B::BLOCK_LEN];
    f_avx2(b, &src, &mut got);
    f_scalar(&src, &mut want);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        // NaN is compared as a class: when two NaN operands meet (e.g. `d·q + m` with NaN `d`
        // and `m`), which payload survives depends on operand order, which the compiler may
        // commute for either backend (the golden README and the conformance kit do the same).
        if w.is_nan() {
            assert!(g.is_nan(), "{name}: value {i}: avx2 {g}, scalar NaN");
            continue;
        }
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{name}: value {i} differs: avx2 {g}, scalar {w}"
        );
    }
}

macro_rules! deq_tests {
    ($($test:ident: $t:ty, $method:ident;)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(32))]
            $(
                #[test]
                fn $test(nb in 1usize..=12, seed in any::<u64>()) {
                    deq_case::<$t>(stringify!($method), nb, seed,
                        |b, s, d| b.$method(s, d), scalar::$method);
                }
            )*
        }
    };
}

deq_tests! {
    prop_deq_q4_0: BlockQ4_0, dequantize_q4_0;
    prop_deq_q4_1: BlockQ4_1, dequantize_q4_1;
    prop_deq_q5_0: BlockQ5_0, dequantize_q5_0;
    prop_deq_q5_1: BlockQ5_1, dequantize_q5_1;
    prop_deq_q8_0: BlockQ8_0, dequantize_q8_0;
    prop_deq_q8_1: BlockQ8_1, dequantize_q8_1;
    prop_deq_q2k: BlockQ2K, dequantize_q2k;
    prop_deq_q3k: BlockQ3K, dequantize_q3k;
    prop_deq_q4k: BlockQ4K, dequantize_q4k;
    prop_deq_q5k: BlockQ5K, dequantize_q5k;
    prop_deq_q6k: BlockQ6K, dequantize_q6k;
    prop_deq_q8k: BlockQ8K, dequantize_q8k;
    prop_deq_iq4nl: BlockIq4Nl, dequantize_iq4nl;
    prop_deq_iq4xs: BlockIq4Xs, dequantize_iq4xs;
    prop_deq_mxfp4: BlockMxfp4, dequantize_mxfp4;
    prop_deq_nvfp4: BlockNvfp4, dequantize_nvfp4;
    prop_deq_tq1_0: BlockTq1_0, dequantize_tq1_0;
    prop_deq_tq2_0: BlockTq2_0, dequantize_tq2_0;
}

/// f16 and bf16 to f32: every one of the 65 536 bit patterns (any length, tails included).
#[test]
fn deq_half_exhaustive() {
    let Some(b) = avx2() else { return };
    let all: Vec<u16> = (0..=u16::MAX).collect();
    let h: Vec<f16> = all.iter().map(|&v| f16::from_bits(v)).collect();
    let bf: Vec<bf16> = all.iter().map(|&v| bf16::from_bits(v)).collect();
    for len in [all.len(), 13] {
        let mut got = vec![0.0f32; len];
        let mut want = vec![1.0f32; len];
        b.dequantize_f16(&h[..len], &mut got);
        scalar::dequantize_f16(&h[..len], &mut want);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "f16 {:#06x}", all[i]);
        }
        b.dequantize_bf16(&bf[..len], &mut got);
        scalar::dequantize_bf16(&bf[..len], &mut want);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "bf16 {:#06x}", all[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers: exact bytes.
// ---------------------------------------------------------------------------------------------

/// A row of activations with a random mix of magnitudes, exact ties (`k + 0.5` after scaling),
/// zeros, negative zeros and tiny (subnormal) blocks.
fn act_row(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    for blk in 0..n / 32 {
        let kind = rng.next() % 6;
        let scale = f32::from_bits(((rng.next() % 200) as u32 + 10) << 23);
        for j in 0..32 {
            let r = rng.next();
            let x = match kind {
                0 => 0.0,
                1 => {
                    // Half-integers on a grid: ties of the rounding.
                    (((r % 255) as f32) - 127.0 + 0.5) * scale / 128.0
                }
                2 => f32::from_bits((r as u32) & 0x807F_FFFF), // subnormal or ±0
                3 => {
                    if j == (blk * 7) % 32 {
                        -scale
                    } else {
                        ((r % 1001) as f32 - 500.0) / 500.0 * scale
                    }
                }
                4 => -0.0,
                _ => {
                    let m = f32::from_bits((r as u32 & 0x007F_FFFF) | 0x3F80_0000) - 1.5;
                    m * scale
                }
            };
            v.push(x);
        }
    }
    v
}

fn bytes_of<B: Pod>(b: &[B]) -> &[u8] {
    bytemuck::cast_slice(b)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_quantize_q8_0(nb in 1usize..=40, seed in any::<u64>()) {
        let Some(b) = avx2() else { return Ok(()) };
        let x = act_row(&mut Rng(seed), nb * 32);
        let mut got = vec![BlockQ8_0 { d: f16::ZERO, qs: [0; 32] }; nb];
        let mut want = got.clone();
        b.quantize_q8_0(&x, &mut got);
        scalar::quantize_q8_0(&x, &mut want);
        prop_assert_eq!(bytes_of(&got), bytes_of(&want));
    }

    #[test]
    fn prop_quantize_q8_1(nb in 1usize..=40, seed in any::<u64>()) {
        let Some(b) = avx2() else { return Ok(()) };
        let x = act_row(&mut Rng(seed), nb * 32);
        let mut got = vec![BlockQ8_1 { d: f16::ZERO, s: f16::ZERO, qs: [0; 32] }; nb];
        let mut want = got.clone();
        b.quantize_q8_1(&x, &mut got);
        scalar::quantize_q8_1(&x, &mut want);
        prop_assert_eq!(bytes_of(&got), bytes_of(&want));
    }

    #[test]
    fn prop_quantize_q8k(nb in 1usize..=8, seed in any::<u64>()) {
        let Some(b) = avx2() else { return Ok(()) };
        let x = act_row(&mut Rng(seed), nb * 256);
        let mut got = vec![BlockQ8K { d: 0.0, qs: [0; 256], bsums: [0; 16] }; nb];
        let mut want = got.clone();
        b.quantize_q8k(&x, &mut got);
        scalar::quantize_q8k(&x, &mut want);
        prop_assert_eq!(bytes_of(&got), bytes_of(&want));
    }
}

/// The scalar backend is what the AVX2 results are compared with; make sure the tests really
/// exercise two different backends.
#[test]
fn backends_differ() {
    let Some(b) = avx2() else { return };
    assert_eq!(b.name(), "avx2");
    assert_eq!(Scalar.name(), "scalar");
}

/// The crate's backend conformance kit (the same checks any downstream backend gets).
#[cfg(feature = "conformance")]
mod conformance_kit {
    use super::avx2;
    use quant_kernels::conformance;

    #[test]
    fn avx2_passes_the_dot_checks() {
        let Some(b) = avx2() else { return };
        conformance::check_dots(b, 32);
    }

    #[test]
    fn avx2_passes_the_activation_quantizer_checks() {
        let Some(b) = avx2() else { return };
        conformance::check_activation_quantizers(b, 64);
    }

    #[test]
    fn avx2_passes_the_dequantizer_checks() {
        let Some(b) = avx2() else { return };
        conformance::check_dequantizers(b, 32);
    }
}

/// Rounding edges of the activation quantizers: with `amax = 127` the scale is exactly 1, so the
/// quants are `roundf(x)` of the inputs themselves: ties `k + ½` round away from zero, the float
/// just below ½ rounds to 0. Also a block whose `1/d` overflows (every quant 0) and an all-zero
/// block, at every position of an 8-block group (the kernels batch 8 blocks).
#[test]
fn quantize_rounding_edges() {
    let Some(b) = avx2() else { return };
    let below_half = 0.5f32.next_down();
    let mut block = vec![127.0f32];
    for v in [
        0.5,
        -0.5,
        below_half,
        -below_half,
        1.5,
        -1.5,
        2.5,
        -2.5,
        126.5,
        -126.5,
        0.0,
        -0.0,
        1.0 - f32::EPSILON / 2.0,
        63.5,
        -63.5,
        3.4999998,
        -3.4999998,
    ] {
        block.push(v);
    }
    block.resize(32, -127.0);
    let tiny = vec![f32::from_bits(1); 32]; // amax/127 underflows: 1/d = inf
    let zero = vec![0.0f32; 32];
    for pos in 0..9 {
        let mut row = Vec::new();
        for k in 0..9 {
            row.extend_from_slice(match (k + pos) % 3 {
                0 => &block,
                1 => &tiny,
                _ => &zero,
            });
        }
        let n = row.len() / 32;
        let mut got = vec![
            BlockQ8_0 {
                d: f16::ZERO,
                qs: [0; 32]
            };
            n
        ];
        let mut want = got.clone();
        b.quantize_q8_0(&row, &mut got);
        scalar::quantize_q8_0(&row, &mut want);
        assert_eq!(bytes_of(&got), bytes_of(&want), "q8_0, rotation {pos}");
        let mut got = vec![
            BlockQ8_1 {
                d: f16::ZERO,
                s: f16::ZERO,
                qs: [0; 32]
            };
            n
        ];
        let mut want = got.clone();
        b.quantize_q8_1(&row, &mut got);
        scalar::quantize_q8_1(&row, &mut want);
        assert_eq!(bytes_of(&got), bytes_of(&want), "q8_1, rotation {pos}");
    }
    // The expected quants themselves (scale 1): a check independent of the oracle.
    let mut q = [BlockQ8_0 {
        d: f16::ZERO,
        qs: [0; 32],
    }];
    b.quantize_q8_0(&block, &mut q);
    assert_eq!(&q[0].qs[..9], &[127, 1, -1, 0, 0, 2, -2, 3, -3]);
}
