//! The AVX-512 backend (both tiers: with and without VNNI) against the scalar oracle.
//!
//! Every test prints a message and passes when this CPU has no AVX-512 F/BW/VL.
//!
//! # Tolerance of the dot products
//!
//! The integer part of every kernel is exact; only the order of the f32 operations differs from
//! the scalar oracle (lanes of 4 values scaled separately, lanes summed as a tree, the scalar
//! sums blocks left to right). Both results are within `k·u·S` of the exact value, where
//! `u = 2⁻²⁴`, `S` is the sum of the magnitudes of the terms the reference adds, and `k` is at
//! most the number of sequential additions (one per block for the scalar). The check is the one
//! the golden README recommends between ggml's SIMD and scalar paths,
//! `|ours − scalar| ≤ 1e-5·sqrt(n/32)·S`: `1e-5 ≈ 168·u`, so it allows `168·sqrt(blocks)·u·S`,
//! which covers the worst case `blocks·u·S` for every row tested here (≤ 300 blocks; ggml's own
//! SIMD/scalar gap measured 0.064 of the bound at most). `S` is `Σ|w_i·a_i|` over the dequantized
//! values, plus the terms the reference computes from stored fields rather than from the values:
//! `|m·s|` per block for q4_1/q5_1 (the activation's stored `s`) and the `dmin·mins·bsums` terms
//! of q2_K/q4_K/q5_K (bounded with the largest min, 15 or 63), together with the
//! `|dmin|·max_min·Σ|a|` slack that turns `Σ|w·a|` into a bound on `Σ|d·sc·q·a|`.
#![cfg(target_arch = "x86_64")]

use bytemuck::Pod;
use half::{bf16, f16};
use proptest::prelude::*;
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0,
};
use quant_kernels::Backend;
use quant_kernels::scalar::Scalar;
use quant_kernels::x86::avx512::Avx512;

static SCALAR: Scalar = Scalar;

/// Both tiers of the backend (VNNI if present, and the F/BW/VL-only tier), or none.
fn tiers() -> Vec<&'static dyn Backend> {
    let mut v = Vec::new();
    if let Some(b) = Avx512::get() {
        v.push(b);
    }
    if let Some(b) = Avx512::get_base() {
        v.push(b);
    }
    if v.is_empty() {
        eprintln!("skipping: this CPU has no AVX-512 F/BW/VL");
    }
    v
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    }
}

/// An f16 with the same sign and mantissa, made finite (exponent 31 becomes 15).
fn finite_f16(h: f16) -> f16 {
    let b = h.to_bits();
    if b & 0x7C00 == 0x7C00 {
        f16::from_bits(b & !0x4000)
    } else {
        h
    }
}

/// An f32 with the same sign and mantissa and an exponent in `2^-20..=2^20`.
fn moderate_f32(x: f32) -> f32 {
    let b = x.to_bits();
    let e = ((b >> 23) & 0xFF) % 41 + 107;
    f32::from_bits((b & 0x807F_FFFF) | (e << 23))
}

/// Random blocks with finite scales (the property tests' input domain).
trait Finite: Pod {
    fn make_finite(&mut self);
}

macro_rules! finite_f16_fields {
    ($($t:ty => $($field:ident),*;)*) => {
        $(impl Finite for $t {
            fn make_finite(&mut self) {
                $(self.$field = finite_f16(self.$field);)*
            }
        })*
    };
}

finite_f16_fields! {
    BlockQ4_0 => d;
    BlockQ4_1 => d, m;
    BlockQ5_0 => d;
    BlockQ5_1 => d, m;
    BlockQ8_0 => d;
    BlockQ8_1 => d, s;
    BlockQ2K => d, dmin;
    BlockQ3K => d;
    BlockQ4K => d, dmin;
    BlockQ5K => d, dmin;
    BlockQ6K => d;
    BlockIq4Nl => d;
    BlockIq4Xs => d;
    BlockTq1_0 => d;
    BlockTq2_0 => d;
}

impl Finite for BlockQ8K {
    fn make_finite(&mut self) {
        self.d = moderate_f32(self.d);
    }
}

impl Finite for BlockMxfp4 {
    fn make_finite(&mut self) {
        // 2^(e−128) · 65504 · 32·12·128 stays finite for e ≤ 200.
        self.e %= 201;
    }
}

impl Finite for BlockNvfp4 {
    fn make_finite(&mut self) {}
}

/// Values of type `T` from bytes (copied, so aligned for `T`).
fn collect<T: Pod>(bytes: &[u8]) -> Vec<T> {
    let mut v = vec![T::zeroed(); bytes.len() / size_of::<T>()];
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(bytes);
    v
}

/// Blocks from arbitrary bytes (copied, so aligned for the block type).
fn blocks<T: Finite>(bytes: &[u8], finite: bool) -> Vec<T> {
    let mut v: Vec<T> = collect(bytes);
    if finite {
        v.iter_mut().for_each(T::make_finite);
    }
    v
}

/// Dequantized values through the scalar backend (quant-core's reference dequantizers).
trait Deq: Finite {
    const LEN: usize;
    fn deq(src: &[Self]) -> Vec<f32>;
}

macro_rules! deq {
    ($($t:ty, $len:expr, $m:ident;)*) => {
        $(impl Deq for $t {
            const LEN: usize = $len;
            fn deq(src: &[Self]) -> Vec<f32> {
                let mut out = vec![0.0; src.len() * $len];
                SCALAR.$m(src, &mut out);
                out
            }
        })*
    };
}

deq! {
    BlockQ4_0, 32, dequantize_q4_0;
    BlockQ4_1, 32, dequantize_q4_1;
    BlockQ5_0, 32, dequantize_q5_0;
    BlockQ5_1, 32, dequantize_q5_1;
    BlockQ8_0, 32, dequantize_q8_0;
    BlockQ8_1, 32, dequantize_q8_1;
    BlockQ2K, 256, dequantize_q2k;
    BlockQ3K, 256, dequantize_q3k;
    BlockQ4K, 256, dequantize_q4k;
    BlockQ5K, 256, dequantize_q5k;
    BlockQ6K, 256, dequantize_q6k;
    BlockQ8K, 256, dequantize_q8k;
    BlockIq4Nl, 32, dequantize_iq4nl;
    BlockIq4Xs, 256, dequantize_iq4xs;
    BlockMxfp4, 32, dequantize_mxfp4;
    BlockNvfp4, 64, dequantize_nvfp4;
    BlockTq1_0, 256, dequantize_tq1_0;
    BlockTq2_0, 256, dequantize_tq2_0;
}

/// Terms the reference adds that `Σ|w·a|` does not bound (see the module docs).
trait Extra<A> {
    fn extra(w: &[Self], a: &[A], a_values: &[f32]) -> f64
    where
        Self: Sized,
    {
        let _ = (w, a, a_values);
        0.0
    }
}

impl Extra<BlockQ8_0> for BlockQ4_0 {}
impl Extra<BlockQ8_0> for BlockQ5_0 {}
impl Extra<BlockQ8_0> for BlockQ8_0 {}
impl Extra<BlockQ8_0> for BlockIq4Nl {}
impl Extra<BlockQ8_0> for BlockMxfp4 {}
impl Extra<BlockQ8_0> for BlockNvfp4 {}
impl Extra<BlockQ8K> for BlockQ3K {}
impl Extra<BlockQ8K> for BlockQ6K {}
impl Extra<BlockQ8K> for BlockQ8K {}
impl Extra<BlockQ8K> for BlockIq4Xs {}
impl Extra<BlockQ8K> for BlockTq1_0 {}
impl Extra<BlockQ8K> for BlockTq2_0 {}

fn abs_sum(v: &[f32]) -> f64 {
    v.iter().map(|x| f64::from(x.abs())).sum()
}

macro_rules! extra_ms {
    ($($t:ty),*) => {
        $(impl Extra<BlockQ8_1> for $t {
            fn extra(w: &[Self], a: &[BlockQ8_1], a_values: &[f32]) -> f64 {
                w.iter()
                    .zip(a)
                    .zip(a_values.chunks_exact(32))
                    .map(|((x, y), av)| {
                        let m = f64::from(x.m.to_f32().abs());
                        m * f64::from(y.s.to_f32().abs()) + m * abs_sum(av)
                    })
                    .sum()
            }
        })*
    };
}
extra_ms!(BlockQ4_1, BlockQ5_1);

macro_rules! extra_mins {
    ($($t:ty, $max_min:expr);*) => {
        $(impl Extra<BlockQ8K> for $t {
            fn extra(w: &[Self], a: &[BlockQ8K], a_values: &[f32]) -> f64 {
                w.iter()
                    .zip(a)
                    .zip(a_values.chunks_exact(256))
                    .map(|((x, y), av)| {
                        let dmin = f64::from(x.dmin.to_f32().abs()) * $max_min;
                        let bs: f64 = y.bsums.iter().map(|&b| f64::from(b).abs()).sum();
                        dmin * abs_sum(av) + dmin * f64::from(y.d.abs()) * bs
                    })
                    .sum()
            }
        })*
    };
}
extra_mins!(BlockQ2K, 15.0; BlockQ4K, 63.0; BlockQ5K, 63.0);

/// Checks one dot product of every tier against the scalar oracle.
fn check_dot<W: Deq + Extra<A>, A: Deq>(
    w: &[W],
    a: &[A],
    dot: impl Fn(&dyn Backend, &[W], &[A]) -> f32,
) -> Result<(), TestCaseError> {
    let want = dot(&SCALAR, w, a);
    let wv = W::deq(w);
    let av = A::deq(a);
    let s: f64 = wv
        .iter()
        .zip(&av)
        .map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs())
        .sum::<f64>()
        + W::extra(w, a, &av);
    let n = (w.len() * W::LEN) as f64;
    // Justified in the module docs.
    let tol = 1e-5 * (n / 32.0).sqrt() * s;
    for b in tiers() {
        let got = dot(b, w, a);
        prop_assert!(
            (f64::from(got) - f64::from(want)).abs() <= tol,
            "{}: got {got}, scalar {want}, tolerance {tol}",
            b.name()
        );
    }
    Ok(())
}

/// Checks that the tiers give a non-finite result exactly when the scalar oracle does, for
/// blocks whose f16 scales may be ±inf or NaN.
fn check_class<W: Pod, A: Pod>(
    w: &[W],
    a: &[A],
    dot: impl Fn(&dyn Backend, &[W], &[A]) -> f32,
) -> Result<(), TestCaseError> {
    let want = dot(&SCALAR, w, a);
    for b in tiers() {
        let got = dot(b, w, a);
        prop_assert_eq!(
            got.is_finite(),
            want.is_finite(),
            "{}: {} vs {}",
            b.name(),
            got,
            want
        );
    }
    Ok(())
}

macro_rules! dot_tests {
    ($($name:ident: $w:ty, $a:ty, $ratio:expr, $max:expr, $m:ident;)*) => {
        $(mod $name {
            use super::*;

            fn inputs() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, bool)> {
                (1usize..=$max).prop_flat_map(|n| {
                    (
                        prop::collection::vec(any::<u8>(), n * size_of::<$w>()),
                        prop::collection::vec(any::<u8>(), n * $ratio * size_of::<$a>()),
                        any::<bool>(),
                    )
                })
            }

            proptest! {
                #![proptest_config(config())]

                /// Random blocks (finite scales), every block count up to the limit, and a
                /// view that starts one block in (a different address alignment).
                #[test]
                fn matches_scalar((wb, ab, offset) in inputs()) {
                    let w: Vec<$w> = blocks(&wb, true);
                    let a: Vec<$a> = blocks(&ab, true);
                    let (w, a) = if offset && w.len() > 1 {
                        (&w[1..], &a[$ratio..])
                    } else {
                        (&w[..], &a[..])
                    };
                    check_dot(w, a, |b, w, a| b.$m(w, a))?;
                }

                /// Arbitrary scale bits (inf/NaN included): same finiteness as scalar.
                #[test]
                fn non_finite_class((wb, ab, _) in inputs()) {
                    let w: Vec<$w> = collect(&wb);
                    let mut a: Vec<$a> = blocks(&ab, true);
                    // Keep the activations finite; the weights carry the inf/NaN scales.
                    a.iter_mut().for_each(Finite::make_finite);
                    check_class(&w, &a, |b, w, a| b.$m(w, a))?;
                }
            }
        })*
    };
}

dot_tests! {
    q4_0: BlockQ4_0, BlockQ8_0, 1, 300, dot_q4_0_q8_0;
    q4_1: BlockQ4_1, BlockQ8_1, 1, 300, dot_q4_1_q8_1;
    q5_0: BlockQ5_0, BlockQ8_0, 1, 300, dot_q5_0_q8_0;
    q5_1: BlockQ5_1, BlockQ8_1, 1, 300, dot_q5_1_q8_1;
    q8_0: BlockQ8_0, BlockQ8_0, 1, 300, dot_q8_0_q8_0;
    iq4_nl: BlockIq4Nl, BlockQ8_0, 1, 300, dot_iq4nl_q8_0;
    mxfp4: BlockMxfp4, BlockQ8_0, 1, 300, dot_mxfp4_q8_0;
    nvfp4: BlockNvfp4, BlockQ8_0, 2, 150, dot_nvfp4_q8_0;
    q2_k: BlockQ2K, BlockQ8K, 1, 40, dot_q2k_q8k;
    q3_k: BlockQ3K, BlockQ8K, 1, 40, dot_q3k_q8k;
    q4_k: BlockQ4K, BlockQ8K, 1, 40, dot_q4k_q8k;
    q5_k: BlockQ5K, BlockQ8K, 1, 40, dot_q5k_q8k;
    q6_k: BlockQ6K, BlockQ8K, 1, 40, dot_q6k_q8k;
    q8_k: BlockQ8K, BlockQ8K, 1, 40, dot_q8k_q8k;
    iq4_xs: BlockIq4Xs, BlockQ8K, 1, 40, dot_iq4xs_q8k;
    tq1_0: BlockTq1_0, BlockQ8K, 1, 40, dot_tq1_0_q8k;
    tq2_0: BlockTq2_0, BlockQ8K, 1, 40, dot_tq2_0_q8k;
}

// ---------------------------------------------------------------------------- −128 regressions

/// Deterministic weight bytes with unit scales and small sub-block scales, so that every
/// partial sum is an integer below 2²³ and both backends must agree bit for bit.
fn pattern<T: Pod>(n: usize, fix: impl Fn(&mut T)) -> Vec<T> {
    let bytes: Vec<u8> = (0..n * size_of::<T>())
        .map(|i| (i.wrapping_mul(37).wrapping_add(11)) as u8)
        .collect();
    let mut v: Vec<T> = collect(&bytes);
    v.iter_mut().for_each(fix);
    v
}

const ONE: f16 = f16::ONE;

/// A named dot product of fixed rows, run on a given backend.
type Case<'a> = (&'static str, &'a dyn Fn(&dyn Backend) -> f32);

fn q8_0_all(n: usize, q: i8) -> Vec<BlockQ8_0> {
    vec![
        BlockQ8_0 {
            d: ONE,
            qs: [q; 32]
        };
        n
    ]
}

fn q8_1_all(n: usize, q: i8) -> Vec<BlockQ8_1> {
    vec![
        BlockQ8_1 {
            d: ONE,
            s: f16::from_f32(32.0 * f32::from(q)),
            qs: [q; 32]
        };
        n
    ]
}

fn q8k_all(n: usize, q: i8) -> Vec<BlockQ8K> {
    vec![
        BlockQ8K {
            d: 1.0,
            qs: [q; 256],
            bsums: [16 * i16::from(q); 16]
        };
        n
    ]
}

fn same_bits(b: &dyn Backend, got: f32, want: f32, what: &str) {
    assert!(
        got.to_bits() == want.to_bits() || (got == 0.0 && want == 0.0),
        "{what} on {}: got {got}, scalar {want}",
        b.name()
    );
}

/// The ggml/candle sign-trick failure: `x = [−1, 0, …]`, `y = [−128, 0, …]` gives 128, not −128.
#[test]
fn q8_0_minus_128_sign_trick() {
    let mut w = q8_0_all(1, 0);
    let mut a = q8_0_all(1, 0);
    w[0].qs[0] = -1;
    a[0].qs[0] = -128;
    assert_eq!(SCALAR.dot_q8_0_q8_0(&w, &a), 128.0);
    for b in tiers() {
        assert_eq!(b.dot_q8_0_q8_0(&w, &a), 128.0, "{}", b.name());
        assert_eq!(b.dot_q8_0_q8_0(&a, &w), 128.0, "{}", b.name());
    }
}

#[test]
fn q8k_minus_128_sign_trick() {
    let mut w = q8k_all(1, 0);
    let mut a = q8k_all(1, 0);
    w[0].qs[0] = -1;
    a[0].qs[0] = -128;
    w[0].qs[255] = -128;
    a[0].qs[255] = -128;
    let want = 128.0 + 16384.0;
    assert_eq!(SCALAR.dot_q8k_q8k(&w, &a), want);
    for b in tiers() {
        assert_eq!(b.dot_q8k_q8k(&w, &a), want, "{}", b.name());
        assert_eq!(b.dot_q8k_q8k(&a, &w), want, "{}", b.name());
    }
}

/// Every format against activations that are all −128 (and all 127), 1 to 5 blocks (odd block
/// counts exercise the tails), exact.
#[test]
fn all_formats_minus_128_activations() {
    for q in [-128i8, 127] {
        for n in 1..=5usize {
            let a0 = q8_0_all(n, q);
            let a0x2 = q8_0_all(2 * n, q);
            let a1 = q8_1_all(n, q);
            let ak = q8k_all(n, q);
            let w40 = pattern(n, |b: &mut BlockQ4_0| b.d = ONE);
            let w41 = pattern(n, |b: &mut BlockQ4_1| {
                b.d = ONE;
                b.m = ONE;
            });
            let w50 = pattern(n, |b: &mut BlockQ5_0| b.d = ONE);
            let w51 = pattern(n, |b: &mut BlockQ5_1| {
                b.d = ONE;
                b.m = ONE;
            });
            let w80 = pattern(n, |b: &mut BlockQ8_0| b.d = ONE);
            let wnl = pattern(n, |b: &mut BlockIq4Nl| b.d = ONE);
            let wmx = pattern(n, |b: &mut BlockMxfp4| b.e = 128);
            let wnv = pattern(n, |b: &mut BlockNvfp4| b.d = [0x40; 4]);
            let w2k = pattern(n, |b: &mut BlockQ2K| {
                b.d = ONE;
                b.dmin = ONE;
            });
            let w3k = pattern(n, |b: &mut BlockQ3K| {
                b.d = ONE;
                b.scales = [0x11; 12];
            });
            let w4k = pattern(n, |b: &mut BlockQ4K| {
                b.d = ONE;
                b.dmin = ONE;
                b.scales = [0x01; 12];
            });
            let w5k = pattern(n, |b: &mut BlockQ5K| {
                b.d = ONE;
                b.dmin = ONE;
                b.scales = [0x01; 12];
            });
            let w6k = pattern(n, |b: &mut BlockQ6K| {
                b.d = ONE;
                b.scales = [3; 16];
            });
            let w8k = pattern(n, |b: &mut BlockQ8K| b.d = 1.0);
            let wxs = pattern(n, |b: &mut BlockIq4Xs| {
                b.d = ONE;
                b.scales_l = [0x11; 4];
                b.scales_h = 0xAAAA;
            });
            let wt1 = pattern(n, |b: &mut BlockTq1_0| b.d = ONE);
            let wt2 = pattern(n, |b: &mut BlockTq2_0| b.d = ONE);
            let cases: [Case<'_>; 17] = [
                ("q4_0", &|b| b.dot_q4_0_q8_0(&w40, &a0)),
                ("q4_1", &|b| b.dot_q4_1_q8_1(&w41, &a1)),
                ("q5_0", &|b| b.dot_q5_0_q8_0(&w50, &a0)),
                ("q5_1", &|b| b.dot_q5_1_q8_1(&w51, &a1)),
                ("q8_0", &|b| b.dot_q8_0_q8_0(&w80, &a0)),
                ("iq4_nl", &|b| b.dot_iq4nl_q8_0(&wnl, &a0)),
                ("mxfp4", &|b| b.dot_mxfp4_q8_0(&wmx, &a0)),
                ("nvfp4", &|b| b.dot_nvfp4_q8_0(&wnv, &a0x2)),
                ("q2_K", &|b| b.dot_q2k_q8k(&w2k, &ak)),
                ("q3_K", &|b| b.dot_q3k_q8k(&w3k, &ak)),
                ("q4_K", &|b| b.dot_q4k_q8k(&w4k, &ak)),
                ("q5_K", &|b| b.dot_q5k_q8k(&w5k, &ak)),
                ("q6_K", &|b| b.dot_q6k_q8k(&w6k, &ak)),
                ("q8_K", &|b| b.dot_q8k_q8k(&w8k, &ak)),
                ("iq4_xs", &|b| b.dot_iq4xs_q8k(&wxs, &ak)),
                ("tq1_0", &|b| b.dot_tq1_0_q8k(&wt1, &ak)),
                ("tq2_0", &|b| b.dot_tq2_0_q8k(&wt2, &ak)),
            ];
            for (what, f) in cases {
                let want = f(&SCALAR);
                for b in tiers() {
                    same_bits(b, f(b), want, &format!("{what}, {n} blocks of {q}"));
                }
            }
        }
    }
}

/// The VNNI flag is consistent with the CPU, and the base tier never claims VNNI.
#[test]
fn tiers_are_named_and_flagged() {
    for b in tiers() {
        assert_eq!(b.name(), "avx512");
    }
    if Avx512::get_base().is_some() {
        let base = Avx512::get_base().unwrap();
        assert_eq!(base.name(), "avx512");
    }
    let _ = (bf16::ONE, f16::ONE);
}

// ---------------------------------------------------------------------------- quantizers

/// Random finite rows of several kinds: wide magnitudes, exact rounding ties (`k/2` with
/// `amax = 127`, so `x·id = k/2`), integers, tiny values (subnormal `d`, where `1/d` overflows),
/// zero and −0 blocks.
fn row(n: usize) -> impl Strategy<Value = Vec<f32>> {
    let value = prop_oneof![
        (any::<bool>(), -40i32..40, 0u32..(1 << 23)).prop_map(|(s, e, m)| {
            let v = (1.0 + m as f32 / (1 << 23) as f32) * 2f32.powi(e);
            if s { -v } else { v }
        }),
        (-254i32..=254).prop_map(|k| k as f32 / 2.0),
        (-127i32..=127).prop_map(|k| k as f32),
        (0u32..4096, any::<bool>()).prop_map(|(b, s)| {
            let v = f32::from_bits(b);
            if s { -v } else { v }
        }),
        Just(0.0f32),
        Just(-0.0f32),
    ];
    prop::collection::vec(value, n)
}

/// Finite values whose f16 and bf16 roundings stay finite (`|x| < 2^12`), zeros included.
fn float_row(n: usize) -> impl Strategy<Value = Vec<f32>> {
    let value = prop_oneof![
        (any::<bool>(), -12i32..12, 0u32..(1 << 23)).prop_map(|(s, e, m)| {
            let v = (1.0 + m as f32 / (1 << 23) as f32) * 2f32.powi(e);
            if s { -v } else { v }
        }),
        Just(0.0f32),
    ];
    prop::collection::vec(value, n)
}

proptest! {
    #![proptest_config(config())]

    /// q8_0 and q8_1: identical bytes to the reference, 1 to 300 blocks.
    #[test]
    fn quantize_q8_0_q8_1_bytes(x in (1usize..=300).prop_flat_map(|n| row(32 * n))) {
        let n = x.len() / 32;
        let mut want0 = vec![BlockQ8_0 { d: f16::ZERO, qs: [0; 32] }; n];
        let mut want1 = vec![BlockQ8_1 { d: f16::ZERO, s: f16::ZERO, qs: [0; 32] }; n];
        SCALAR.quantize_q8_0(&x, &mut want0);
        SCALAR.quantize_q8_1(&x, &mut want1);
        for b in tiers() {
            let mut got0 = want0.clone();
            got0.iter_mut().for_each(|q| q.qs = [7; 32]);
            b.quantize_q8_0(&x, &mut got0);
            prop_assert_eq!(bytemuck::cast_slice::<_, u8>(&got0), bytemuck::cast_slice::<_, u8>(&want0), "{}", b.name());
            let mut got1 = want1.clone();
            got1.iter_mut().for_each(|q| q.qs = [7; 32]);
            b.quantize_q8_1(&x, &mut got1);
            prop_assert_eq!(bytemuck::cast_slice::<_, u8>(&got1), bytemuck::cast_slice::<_, u8>(&want1), "{}", b.name());
        }
    }

    /// q8_K: identical bytes (including `bsums` of all-zero blocks), 1 to 40 blocks.
    #[test]
    fn quantize_q8k_bytes(x in (1usize..=40).prop_flat_map(|n| row(256 * n))) {
        let n = x.len() / 256;
        let mut want = q8k_all(n, 3);
        SCALAR.quantize_q8k(&x, &mut want);
        for b in tiers() {
            let mut got = q8k_all(n, 5);
            b.quantize_q8k(&x, &mut got);
            prop_assert_eq!(bytemuck::cast_slice::<_, u8>(&got), bytemuck::cast_slice::<_, u8>(&want), "{}", b.name());
        }
    }

    /// Plain-float dots: `|ours − scalar| ≤ n·2⁻²³·Σ|a·b|` (each side is within `n·u·Σ|a·b|`
    /// of the exact sum, `u = 2⁻²⁴`, by the standard bound for any summation order).
    #[test]
    fn float_dots((a, b) in (1usize..=1100).prop_flat_map(|n| (float_row(n), float_row(n)))) {
        let n = a.len() as f64;
        let s: f64 = a.iter().zip(&b).map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs()).sum();
        let want = SCALAR.dot_f32(&a, &b);
        let ah: Vec<f16> = a.iter().map(|&v| f16::from_f32(v)).collect();
        let bh: Vec<f16> = b.iter().map(|&v| f16::from_f32(v)).collect();
        let ab: Vec<bf16> = a.iter().map(|&v| bf16::from_f32(v)).collect();
        let bb: Vec<bf16> = b.iter().map(|&v| bf16::from_f32(v)).collect();
        let sh: f64 = ah.iter().zip(&bh).map(|(x, y)| (x.to_f64() * y.to_f64()).abs()).sum();
        let sb: f64 = ab.iter().zip(&bb).map(|(x, y)| (x.to_f64() * y.to_f64()).abs()).sum();
        for bk in tiers() {
            let tol = n * 2f64.powi(-23);
            let got = bk.dot_f32(&a, &b);
            prop_assert!((f64::from(got) - f64::from(want)).abs() <= tol * s, "f32 {}: {got} vs {want}", bk.name());
            let (got, want) = (bk.dot_f16(&ah, &bh), SCALAR.dot_f16(&ah, &bh));
            prop_assert!((f64::from(got) - f64::from(want)).abs() <= tol * sh, "f16 {}: {got} vs {want}", bk.name());
            let (got, want) = (bk.dot_bf16(&ab, &bb), SCALAR.dot_bf16(&ab, &bb));
            prop_assert!((f64::from(got) - f64::from(want)).abs() <= tol * sb, "bf16 {}: {got} vs {want}", bk.name());
        }
    }
}

// ---------------------------------------------------------------------------- dequantizers

/// Same bits, except that any NaN equals any NaN (the payload of `NaN·q + NaN` depends on the
/// operand order the compiler picks, in the scalar reference too).
fn same_values(got: &[f32], want: &[f32]) -> Result<(), TestCaseError> {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        prop_assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "value {i}: {g:?} ({:#010x}) vs {w:?} ({:#010x})",
            g.to_bits(),
            w.to_bits()
        );
    }
    Ok(())
}

macro_rules! deq_tests {
    ($($name:ident: $t:ty, $max:expr, $m:ident;)*) => {
        mod dequantize {
            use super::*;
            proptest! {
                #![proptest_config(config())]
                $(
                    /// Arbitrary bytes (inf/NaN scales included): bit-identical values.
                    #[test]
                    fn $name(bytes in (1usize..=$max).prop_flat_map(|n| prop::collection::vec(any::<u8>(), n * size_of::<$t>()))) {
                        let src: Vec<$t> = collect(&bytes);
                        let len = src.len() * <$t as Deq>::LEN;
                        let mut want = vec![0.0f32; len];
                        SCALAR.$m(&src, &mut want);
                        for b in tiers() {
                            let mut got = vec![1.5f32; len];
                            b.$m(&src, &mut got);
                            same_values(&got, &want)?;
                        }
                    }
                )*

                /// f16 and bf16 rows of every length up to 100 (masked tails).
                #[test]
                fn f16_bf16(bits in prop::collection::vec(any::<u16>(), 0..100)) {
                    let h: Vec<f16> = bits.iter().map(|&b| f16::from_bits(b)).collect();
                    let bf: Vec<bf16> = bits.iter().map(|&b| bf16::from_bits(b)).collect();
                    let mut want = vec![0.0f32; bits.len()];
                    let mut got = vec![0.0f32; bits.len()];
                    for b in tiers() {
                        SCALAR.dequantize_f16(&h, &mut want);
                        b.dequantize_f16(&h, &mut got);
                        same_values(&got, &want)?;
                        SCALAR.dequantize_bf16(&bf, &mut want);
                        b.dequantize_bf16(&bf, &mut got);
                        same_values(&got, &want)?;
                    }
                }
            }
        }
    };
}

deq_tests! {
    q4_0: BlockQ4_0, 300, dequantize_q4_0;
    q4_1: BlockQ4_1, 300, dequantize_q4_1;
    q5_0: BlockQ5_0, 300, dequantize_q5_0;
    q5_1: BlockQ5_1, 300, dequantize_q5_1;
    q8_0: BlockQ8_0, 300, dequantize_q8_0;
    q8_1: BlockQ8_1, 300, dequantize_q8_1;
    iq4_nl: BlockIq4Nl, 300, dequantize_iq4nl;
    mxfp4: BlockMxfp4, 300, dequantize_mxfp4;
    nvfp4: BlockNvfp4, 150, dequantize_nvfp4;
    q2_k: BlockQ2K, 40, dequantize_q2k;
    q3_k: BlockQ3K, 40, dequantize_q3k;
    q4_k: BlockQ4K, 40, dequantize_q4k;
    q5_k: BlockQ5K, 40, dequantize_q5k;
    q6_k: BlockQ6K, 40, dequantize_q6k;
    q8_k: BlockQ8K, 40, dequantize_q8k;
    iq4_xs: BlockIq4Xs, 40, dequantize_iq4xs;
    tq1_0: BlockTq1_0, 40, dequantize_tq1_0;
    tq2_0: BlockTq2_0, 40, dequantize_tq2_0;
}

// ---------------------------------------------------------------------------- conformance kit

/// The crate's backend conformance kit, on both tiers.
#[cfg(feature = "conformance")]
#[test]
fn conformance_kit() {
    for b in tiers() {
        quant_kernels::conformance::check_all(b, 32);
    }
}

// ---------------------------------------------------------------------------- timing (manual)

/// Nanoseconds per call, median of 15 runs of `reps` calls.
fn time_ns(reps: u32, mut f: impl FnMut() -> f32) -> f64 {
    let mut runs: Vec<f64> = (0..15)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..reps {
                std::hint::black_box(f());
            }
            t.elapsed().as_nanos() as f64 / f64::from(reps)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[7]
}

/// ns per 4096-value row (in L1) of every dot product on every tier and on scalar. Run with
/// `cargo test --release -p quant-kernels --test avx512 -- --ignored --nocapture timing`;
/// prints numbers, asserts nothing.
#[test]
#[ignore = "manual timing, prints ns/row"]
fn timing_dot_4096() {
    fn row<T: Finite>(n: usize, seed: u8) -> Vec<T> {
        let bytes: Vec<u8> = (0..n * size_of::<T>())
            .map(|i| (i as u8).wrapping_mul(151).wrapping_add(seed) ^ (i >> 7) as u8)
            .collect();
        blocks(&bytes, true)
    }
    let mut backends: Vec<&'static dyn Backend> = tiers();
    backends.push(&SCALAR);
    let (w40, w41, w50, w51, w80) = (
        row::<BlockQ4_0>(128, 1),
        row::<BlockQ4_1>(128, 2),
        row::<BlockQ5_0>(128, 3),
        row::<BlockQ5_1>(128, 4),
        row::<BlockQ8_0>(128, 5),
    );
    let (wnl, wmx, wnv) = (
        row::<BlockIq4Nl>(128, 6),
        row::<BlockMxfp4>(128, 7),
        row::<BlockNvfp4>(64, 8),
    );
    let (w2, w3, w4, w5, w6, w8, wxs, wt1, wt2) = (
        row::<BlockQ2K>(16, 9),
        row::<BlockQ3K>(16, 10),
        row::<BlockQ4K>(16, 11),
        row::<BlockQ5K>(16, 12),
        row::<BlockQ6K>(16, 13),
        row::<BlockQ8K>(16, 14),
        row::<BlockIq4Xs>(16, 15),
        row::<BlockTq1_0>(16, 16),
        row::<BlockTq2_0>(16, 17),
    );
    let (a0, a1, ak) = (
        row::<BlockQ8_0>(128, 20),
        row::<BlockQ8_1>(128, 21),
        row::<BlockQ8K>(16, 22),
    );
    let cases: [Case<'_>; 17] = [
        ("q8_0", &|b| b.dot_q8_0_q8_0(&w80, &a0)),
        ("q4_0", &|b| b.dot_q4_0_q8_0(&w40, &a0)),
        ("q4_1", &|b| b.dot_q4_1_q8_1(&w41, &a1)),
        ("q5_0", &|b| b.dot_q5_0_q8_0(&w50, &a0)),
        ("q5_1", &|b| b.dot_q5_1_q8_1(&w51, &a1)),
        ("iq4_nl", &|b| b.dot_iq4nl_q8_0(&wnl, &a0)),
        ("mxfp4", &|b| b.dot_mxfp4_q8_0(&wmx, &a0)),
        ("nvfp4", &|b| b.dot_nvfp4_q8_0(&wnv, &a0)),
        ("q2_K", &|b| b.dot_q2k_q8k(&w2, &ak)),
        ("q3_K", &|b| b.dot_q3k_q8k(&w3, &ak)),
        ("q4_K", &|b| b.dot_q4k_q8k(&w4, &ak)),
        ("q5_K", &|b| b.dot_q5k_q8k(&w5, &ak)),
        ("q6_K", &|b| b.dot_q6k_q8k(&w6, &ak)),
        ("q8_K", &|b| b.dot_q8k_q8k(&w8, &ak)),
        ("iq4_xs", &|b| b.dot_iq4xs_q8k(&wxs, &ak)),
        ("tq1_0", &|b| b.dot_tq1_0_q8k(&wt1, &ak)),
        ("tq2_0", &|b| b.dot_tq2_0_q8k(&wt2, &ak)),
    ];
    for (name, f) in cases {
        let line: Vec<String> = backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{}#{i} {:8.1}", b.name(), time_ns(2000, || f(*b))))
            .collect();
        println!("{name:7} ns/row(4096): {}", line.join("  "));
    }
}
