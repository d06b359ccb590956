//! The NEON backends (`neon` and, where the CPU has it, `neon-dotprod`) against the scalar oracle
//! and against ggml's golden vectors. aarch64 only; on an x86-64 host run it under qemu-user
//! (qemu reports `dotprod`, so both tiers are exercised):
//!
//! ```text
//! cargo test -p quant-kernels --target aarch64-unknown-linux-gnu --test neon
//! ```
//!
//! `QUANT_REQUIRE_BACKENDS=neon,neon-dotprod` turns a missing tier into a failure (CI), and
//! `PROPTEST_CASES` overrides the default of 64 cases per property (qemu is slow).
#![cfg(target_arch = "aarch64")]

use bytemuck::{Pod, Zeroable};
use half::{bf16, f16};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0,
};
use quant_core::{BlockFormat, blocks_from_bytes_unaligned, dequantize_row_to_vec};
use quant_kernels::{Backend, by_name, scalar};

#[path = "../../quant-core/tests/golden/mod.rs"]
mod golden;

// ---------------------------------------------------------------------------------------------
// Backends under test
// ---------------------------------------------------------------------------------------------

/// `neon`, plus `neon-dotprod` when the CPU has it. With `QUANT_REQUIRE_BACKENDS` set (a
/// comma-separated list), every listed `neon*` backend must be present, so a CI host without
/// dotprod cannot pass silently.
fn backends() -> Vec<&'static dyn Backend> {
    let mut v = vec![by_name("neon").expect("neon is always available on aarch64")];
    if let Some(b) = by_name("neon-dotprod") {
        v.push(b);
    }
    if let Ok(req) = std::env::var("QUANT_REQUIRE_BACKENDS") {
        for name in req
            .split(',')
            .map(str::trim)
            .filter(|n| n.starts_with("neon"))
        {
            assert!(
                v.iter().any(|b| b.name() == name),
                "QUANT_REQUIRE_BACKENDS lists {name:?}, which this CPU does not offer"
            );
        }
    }
    v
}

#[test]
fn both_tiers_are_listed_and_named() {
    let names: Vec<_> = quant_kernels::available()
        .iter()
        .map(|b| b.name())
        .collect();
    assert!(names.contains(&"neon"), "{names:?}");
    assert_eq!(names.last(), Some(&"scalar"), "{names:?}");
    let dotprod = std::arch::is_aarch64_feature_detected!("dotprod");
    assert_eq!(names.contains(&"neon-dotprod"), dotprod, "{names:?}");
    if dotprod {
        assert_eq!(
            names[0], "neon-dotprod",
            "the best tier comes first: {names:?}"
        );
    }
    assert!(!backends().is_empty());
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Random blocks: every bit pattern, scales made finite
// ---------------------------------------------------------------------------------------------

/// Make a non-finite f16 finite by clearing the top exponent bit (keeps sign and mantissa).
fn finite(h: &mut f16) {
    if !h.is_finite() {
        *h = f16::from_bits(h.to_bits() & !0x4000);
    }
}

/// A block type whose random bit patterns the tests use.
trait Gen: Pod + BlockFormat {
    /// Make every float scale finite (random bytes can encode inf/NaN in f16/f32 fields).
    fn fix(&mut self);
    /// Set the main scale to `v` (for the non-finite tests); false if the format has no float
    /// scale that can hold `v`.
    fn poison(&mut self, v: f32) -> bool;
    /// The block with its multiplicative scale zeroed, if the format has an additive offset
    /// (`m` / `dmin`): dequantizing it gives the offset part of every value.
    fn offset_part(&self) -> Option<Self> {
        None
    }
}

macro_rules! gen_f16 {
    ($t:ty, [$($f:ident),*], $d:ident $(, offset: $zero:ident)?) => {
        impl Gen for $t {
            fn fix(&mut self) {
                $(finite(&mut self.$f);)*
            }
            fn poison(&mut self, v: f32) -> bool {
                self.$d = f16::from_f32(v);
                true
            }
            $(
                fn offset_part(&self) -> Option<Self> {
                    let mut b = *self;
                    b.$zero = f16::ZERO;
                    Some(b)
                }
            )?
        }
    };
}

gen_f16!(BlockQ4_0, [d], d);
gen_f16!(BlockQ4_1, [d, m], d, offset: d);
gen_f16!(BlockQ5_0, [d], d);
gen_f16!(BlockQ5_1, [d, m], d, offset: d);
gen_f16!(BlockQ8_0, [d], d);
gen_f16!(BlockQ8_1, [d, s], d);
gen_f16!(BlockQ2K, [d, dmin], d, offset: d);
gen_f16!(BlockQ3K, [d], d);
gen_f16!(BlockQ4K, [d, dmin], d, offset: d);
gen_f16!(BlockQ5K, [d, dmin], d, offset: d);
gen_f16!(BlockQ6K, [d], d);
gen_f16!(BlockIq4Nl, [d], d);
gen_f16!(BlockIq4Xs, [d], d);
gen_f16!(BlockTq1_0, [d], d);
gen_f16!(BlockTq2_0, [d], d);

impl Gen for BlockQ8K {
    fn fix(&mut self) {
        // An f32 scale from random bits can be ~1e38, and d_w·d_a would overflow; draw it from
        // the finite f16 range instead (|d| ≤ 65504, subnormals included).
        let mut h = f16::from_bits(self.d.to_bits() as u16);
        finite(&mut h);
        self.d = h.to_f32();
    }
    fn poison(&mut self, v: f32) -> bool {
        self.d = v;
        true
    }
}

impl Gen for BlockMxfp4 {
    fn fix(&mut self) {} // every E8M0 byte decodes to a finite power of two
    fn poison(&mut self, _: f32) -> bool {
        false
    }
}

impl Gen for BlockNvfp4 {
    fn fix(&mut self) {} // every UE4M3 byte decodes to a finite value
    fn poison(&mut self, _: f32) -> bool {
        false
    }
}

/// `n` blocks of random bytes with finite scales.
fn blocks_of<B: Gen>(n: usize) -> impl Strategy<Value = Vec<B>> {
    vec(any::<u8>(), n * B::BLOCK_BYTES).prop_map(|bytes| {
        let mut v: Vec<B> = blocks_from_bytes_unaligned(&bytes).unwrap();
        v.iter_mut().for_each(Gen::fix);
        v
    })
}

/// A weight row and an activation row of the same length (1..=`max` weight blocks, each
/// `ratio` activation blocks), plus a leading-block offset 0 or 1 so that kernels also see
/// slices that do not start at the allocation's start (addresses off by one block, i.e. not
/// 16-byte aligned).
fn rows<W: Gen, A: Gen>(
    max: usize,
    ratio: usize,
) -> impl Strategy<Value = (Vec<W>, Vec<A>, usize)> {
    (1..=max, 0..=1usize).prop_flat_map(move |(n, skip)| {
        (
            blocks_of::<W>(n + skip),
            blocks_of::<A>((n + skip) * ratio),
            Just(skip),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The tolerance
// ---------------------------------------------------------------------------------------------

/// An activation format: its values (in f64, for the tolerance) and the magnitude of the terms
/// a kernel adds from its side data (Q8_1's `s`, Q8_K's `bsums`) against a weight offset.
trait Act: Gen {
    fn values(a: &[Self]) -> Vec<f64>;
    fn side_terms(a: &[Self], offsets: &[f32]) -> f64;
}

impl Act for BlockQ8_0 {
    fn values(a: &[Self]) -> Vec<f64> {
        a.iter()
            .flat_map(|b| b.qs.map(|q| f64::from(b.d.to_f32()) * f64::from(q)))
            .collect()
    }
    fn side_terms(_: &[Self], _: &[f32]) -> f64 {
        0.0
    }
}

impl Act for BlockQ8_1 {
    fn values(a: &[Self]) -> Vec<f64> {
        a.iter()
            .flat_map(|b| b.qs.map(|q| f64::from(b.d.to_f32()) * f64::from(q)))
            .collect()
    }
    /// `Σ_blocks |m·s|`: the `m·s` term of Q4_1/Q5_1 (the `s` of random bytes is arbitrary).
    fn side_terms(a: &[Self], off: &[f32]) -> f64 {
        a.iter()
            .zip(off.chunks_exact(32))
            .map(|(b, o)| f64::from(o[0]).abs() * f64::from(b.s.to_f32()).abs())
            .sum()
    }
}

impl Act for BlockQ8K {
    fn values(a: &[Self]) -> Vec<f64> {
        a.iter()
            .flat_map(|b| b.qs.map(|q| f64::from(b.d) * f64::from(q)))
            .collect()
    }
    /// `Σ_groups |dmin·m·d8·bsum|`: the min term of Q2_K/Q4_K/Q5_K, which uses the stored
    /// `bsums` (arbitrary for random bytes).
    fn side_terms(a: &[Self], off: &[f32]) -> f64 {
        a.iter()
            .zip(off.chunks_exact(256))
            .map(|(b, o)| {
                b.bsums
                    .iter()
                    .enumerate()
                    .map(|(g, s)| {
                        f64::from(o[16 * g]).abs() * f64::from(b.d).abs() * f64::from(*s).abs()
                    })
                    .sum::<f64>()
            })
            .sum()
    }
}

/// The golden README's tolerance `1e-5 · sqrt(n/32) · M` with `M` the magnitude of everything
/// the dot product sums: `Σ|w·a|`, plus, for formats with an additive offset `o` (Q4_1's `m`,
/// the K-quants' `−dmin·m`), `Σ|o·a|` (the scale part `w − o` is summed separately and can
/// cancel against it) and the side terms against the activation's stored sums.
///
/// Why this is safe and still tight: backends differ only in the order and grouping of f32
/// operations on the same exact integer sums, so the difference is bounded by the standard
/// summation bound `γ_k·M` with `k` the number of f32 operations in sequence (≤ 3 per block plus
/// 8 lanes), i.e. ≤ `(3·blocks + 8)·6e-8·M`; `1e-5·sqrt(n/32)` exceeds that for every length
/// tested here (for 300 blocks: 1.7e-4 vs 5.4e-5), while a wrong integer part changes the result
/// by at least `min scale product`, which for random scales is far outside the bound.
fn bound<W: Gen, A: Act>(w: &[W], a: &[A]) -> f64 {
    let wv = dequantize_row_to_vec(w);
    let av = A::values(a);
    let mut m: f64 = wv
        .iter()
        .zip(&av)
        .map(|(x, y)| (f64::from(*x) * y).abs())
        .sum();
    let offsets: Option<Vec<W>> = w.iter().map(Gen::offset_part).collect();
    if let Some(ob) = offsets {
        let ov = dequantize_row_to_vec(&ob);
        m += ov
            .iter()
            .zip(&av)
            .map(|(x, y)| (f64::from(*x) * y).abs())
            .sum::<f64>();
        m += A::side_terms(a, &ov);
    }
    1e-5 * (wv.len() as f64 / 32.0).sqrt() * m
}

/// NaN, +inf, −inf or finite.
fn class(x: f32) -> u8 {
    if x.is_nan() {
        0
    } else if x == f32::INFINITY {
        1
    } else if x == f32::NEG_INFINITY {
        2
    } else {
        3
    }
}

fn check_dot(who: &str, got: f32, want: f32, bound: f64) -> Result<(), TestCaseError> {
    if want.is_finite() {
        prop_assert!(
            got.is_finite() && f64::from(got - want).abs() <= bound,
            "{who}: got {got:e}, scalar {want:e}, |diff| {:e} > bound {bound:e}",
            f64::from(got - want).abs()
        );
    } else {
        prop_assert_eq!(
            class(got),
            class(want),
            "{}: got {:e}, scalar {:e}",
            who,
            got,
            want
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Dot products against the scalar oracle
// ---------------------------------------------------------------------------------------------

/// `(test, weight, activation, activation blocks per weight block, max weight blocks, method,
/// bit-exact)`: `bit-exact` marks kernels that form every per-block f32 term in the oracle's
/// order and add the terms sequentially, so their result must equal the oracle's bit for bit
/// (this is also the "integer parts are exact" check, at every scale).
macro_rules! dot_tests {
    ($($test:ident: $W:ty, $A:ty, $ratio:expr, $max:expr, $method:ident, $exact:expr;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $test((w, a, skip) in rows::<$W, $A>($max, $ratio)) {
                    let (w, a) = (&w[skip..], &a[skip * $ratio..]);
                    let want = scalar::$method(w, a);
                    let bound = bound(w, a);
                    for b in backends() {
                        let got = b.$method(w, a);
                        check_dot(b.name(), got, want, bound)?;
                        if $exact {
                            prop_assert!(
                                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                                "{}: got {:e}, scalar {:e}: not bit-identical", b.name(), got, want
                            );
                        }
                    }
                }
            )*
        }
    };
}

dot_tests! {
    dot_q4_0_q8_0: BlockQ4_0, BlockQ8_0, 1, 300, dot_q4_0_q8_0, true;
    dot_q4_1_q8_1: BlockQ4_1, BlockQ8_1, 1, 300, dot_q4_1_q8_1, true;
    dot_q5_0_q8_0: BlockQ5_0, BlockQ8_0, 1, 300, dot_q5_0_q8_0, true;
    dot_q5_1_q8_1: BlockQ5_1, BlockQ8_1, 1, 300, dot_q5_1_q8_1, true;
    dot_q8_0_q8_0: BlockQ8_0, BlockQ8_0, 1, 300, dot_q8_0_q8_0, true;
    dot_iq4nl_q8_0: BlockIq4Nl, BlockQ8_0, 1, 300, dot_iq4nl_q8_0, true;
    dot_mxfp4_q8_0: BlockMxfp4, BlockQ8_0, 1, 300, dot_mxfp4_q8_0, true;
    dot_nvfp4_q8_0: BlockNvfp4, BlockQ8_0, 2, 150, dot_nvfp4_q8_0, true;
    dot_q2k_q8k: BlockQ2K, BlockQ8K, 1, 40, dot_q2k_q8k, true;
    dot_q3k_q8k: BlockQ3K, BlockQ8K, 1, 40, dot_q3k_q8k, false;
    dot_q4k_q8k: BlockQ4K, BlockQ8K, 1, 40, dot_q4k_q8k, false;
    dot_q5k_q8k: BlockQ5K, BlockQ8K, 1, 40, dot_q5k_q8k, false;
    dot_q6k_q8k: BlockQ6K, BlockQ8K, 1, 40, dot_q6k_q8k, false;
    dot_q8k_q8k: BlockQ8K, BlockQ8K, 1, 40, dot_q8k_q8k, true;
    dot_iq4xs_q8k: BlockIq4Xs, BlockQ8K, 1, 40, dot_iq4xs_q8k, true;
    dot_tq1_0_q8k: BlockTq1_0, BlockQ8K, 1, 40, dot_tq1_0_q8k, true;
    dot_tq2_0_q8k: BlockTq2_0, BlockQ8K, 1, 40, dot_tq2_0_q8k, true;
}

/// Non-finite scales (f16 inf/NaN in a weight or activation block, f32 inf/NaN in Q8_K's `d`)
/// propagate into the same class as the oracle's (NaN, +inf or −inf).
macro_rules! nonfinite_tests {
    ($($test:ident: $W:ty, $A:ty, $ratio:expr, $max:expr, $method:ident;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $test(
                    (mut w, mut a, _) in rows::<$W, $A>($max, $ratio),
                    which in 0..6usize,
                    pick in any::<prop::sample::Index>(),
                ) {
                    let v = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN][which % 3];
                    let poisoned = if which < 3 {
                        let k = pick.index(w.len());
                        w[k].poison(v)
                    } else {
                        let k = pick.index(a.len());
                        a[k].poison(v)
                    };
                    prop_assume!(poisoned);
                    let want = scalar::$method(&w, &a);
                    for b in backends() {
                        let got = b.$method(&w, &a);
                        prop_assert_eq!(
                            class(got), class(want),
                            "{}: got {:e}, scalar {:e}", b.name(), got, want
                        );
                    }
                }
            )*
        }
    };
}

nonfinite_tests! {
    nonfinite_q4_0: BlockQ4_0, BlockQ8_0, 1, 8, dot_q4_0_q8_0;
    nonfinite_q4_1: BlockQ4_1, BlockQ8_1, 1, 8, dot_q4_1_q8_1;
    nonfinite_q5_0: BlockQ5_0, BlockQ8_0, 1, 8, dot_q5_0_q8_0;
    nonfinite_q5_1: BlockQ5_1, BlockQ8_1, 1, 8, dot_q5_1_q8_1;
    nonfinite_q8_0: BlockQ8_0, BlockQ8_0, 1, 8, dot_q8_0_q8_0;
    nonfinite_iq4nl: BlockIq4Nl, BlockQ8_0, 1, 8, dot_iq4nl_q8_0;
    nonfinite_mxfp4: BlockMxfp4, BlockQ8_0, 1, 8, dot_mxfp4_q8_0;
    nonfinite_nvfp4: BlockNvfp4, BlockQ8_0, 2, 4, dot_nvfp4_q8_0;
    nonfinite_q2k: BlockQ2K, BlockQ8K, 1, 4, dot_q2k_q8k;
    nonfinite_q3k: BlockQ3K, BlockQ8K, 1, 4, dot_q3k_q8k;
    nonfinite_q4k: BlockQ4K, BlockQ8K, 1, 4, dot_q4k_q8k;
    nonfinite_q5k: BlockQ5K, BlockQ8K, 1, 4, dot_q5k_q8k;
    nonfinite_q6k: BlockQ6K, BlockQ8K, 1, 4, dot_q6k_q8k;
    nonfinite_q8k: BlockQ8K, BlockQ8K, 1, 4, dot_q8k_q8k;
    nonfinite_iq4xs: BlockIq4Xs, BlockQ8K, 1, 4, dot_iq4xs_q8k;
    nonfinite_tq1_0: BlockTq1_0, BlockQ8K, 1, 4, dot_tq1_0_q8k;
    nonfinite_tq2_0: BlockTq2_0, BlockQ8K, 1, 4, dot_tq2_0_q8k;
}

/// The float dots: random finite values (f32 bits, f16/bf16 bits with non-finite patterns
/// cleared), every length 0..=300 (so every tail length), tolerance `c·n·ε·Σ|a·b|` with `c = 2`
/// (the scalar oracle adds sequentially, NEON in 16 lanes then a tree: both are within
/// `(n − 1)·ε·Σ|a·b|` of the exact sum, products are exact or equally rounded).
mod float_dots {
    use super::*;

    fn tol(terms: impl Iterator<Item = f64>, n: usize) -> f64 {
        2.0 * n as f64 * f64::from(f32::EPSILON) * terms.map(f64::abs).sum::<f64>()
    }

    fn finite_f32() -> impl Strategy<Value = f32> {
        // Magnitudes up to 2^±60 so that products and sums of 300 stay finite.
        (any::<bool>(), -60i32..60, 0u32..(1 << 23)).prop_map(|(s, e, m)| {
            let v = f32::from_bits((((e + 127) as u32) << 23) | m);
            if s { -v } else { v }
        })
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn dot_f32(v in vec((finite_f32(), finite_f32()), 0..=300)) {
            let (a, b): (Vec<f32>, Vec<f32>) = v.into_iter().unzip();
            let want = scalar::dot_f32(&a, &b);
            let t = tol(a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)), a.len());
            for be in backends() {
                check_dot(be.name(), be.dot_f32(&a, &b), want, t)?;
            }
        }

        #[test]
        fn dot_f16(v in vec((any::<u16>(), any::<u16>()), 0..=300)) {
            let fin = |h: u16| { let mut h = f16::from_bits(h); finite(&mut h); h };
            let a: Vec<f16> = v.iter().map(|p| fin(p.0)).collect();
            let b: Vec<f16> = v.iter().map(|p| fin(p.1)).collect();
            let want = scalar::dot_f16(&a, &b);
            let t = tol(a.iter().zip(&b).map(|(x, y)| f64::from(x.to_f32()) * f64::from(y.to_f32())), a.len());
            for be in backends() {
                check_dot(be.name(), be.dot_f16(&a, &b), want, t)?;
            }
        }

        #[test]
        fn dot_bf16(v in vec((finite_f32(), finite_f32()), 0..=300)) {
            let a: Vec<bf16> = v.iter().map(|p| bf16::from_f32(p.0)).collect();
            let b: Vec<bf16> = v.iter().map(|p| bf16::from_f32(p.1)).collect();
            let want = scalar::dot_bf16(&a, &b);
            let t = tol(a.iter().zip(&b).map(|(x, y)| f64::from(x.to_f32()) * f64::from(y.to_f32())), a.len());
            for be in backends() {
                check_dot(be.name(), be.dot_bf16(&a, &b), want, t)?;
            }
        }
    }

    #[test]
    fn empty_float_dots_are_positive_zero() {
        for b in backends() {
            assert_eq!(b.dot_f32(&[], &[]).to_bits(), 0, "{}", b.name());
            assert_eq!(b.dot_f16(&[], &[]).to_bits(), 0, "{}", b.name());
            assert_eq!(b.dot_bf16(&[], &[]).to_bits(), 0, "{}", b.name());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The −128 regression (deterministic)
// ---------------------------------------------------------------------------------------------

/// Deterministic bytes (splitmix64) for the fixed-input tests.
fn det_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

fn det_blocks<B: Gen>(seed: u64, n: usize) -> Vec<B> {
    let mut v: Vec<B> = blocks_from_bytes_unaligned(&det_bytes(seed, n * B::BLOCK_BYTES)).unwrap();
    v.iter_mut().for_each(Gen::fix);
    v
}

/// The classic repro (x = [−1, 0, …], y = [−128, 0, …], d = 1 → 128; the `maddubs` sign trick
/// gives −128) for both all-i8 pairs.
#[test]
fn minus_128_q8_pairs() {
    let mut x = BlockQ8_0::zeroed();
    let mut y = BlockQ8_0::zeroed();
    x.d = f16::ONE;
    y.d = f16::ONE;
    x.qs[0] = -1;
    y.qs[0] = -128;
    let mut xk = BlockQ8K::zeroed();
    let mut yk = BlockQ8K::zeroed();
    xk.d = 1.0;
    yk.d = 1.0;
    xk.qs[255] = -1;
    yk.qs[255] = -128;
    for b in backends() {
        assert_eq!(b.dot_q8_0_q8_0(&[x], &[y]), 128.0, "{}", b.name());
        assert_eq!(b.dot_q8_0_q8_0(&[y], &[y]), 32768.0 / 2.0, "{}", b.name());
        assert_eq!(b.dot_q8k_q8k(&[xk], &[yk]), 128.0, "{}", b.name());
        let all = BlockQ8K {
            d: 1.0,
            qs: [-128; 256],
            bsums: [-2048; 16],
        };
        // 256 · 128² = 4194304, exact in f32.
        assert_eq!(b.dot_q8k_q8k(&[all], &[all]), 4_194_304.0, "{}", b.name());
    }
}

/// Every dot against an activation whose quants are all −128 (d = 1): equal to the oracle
/// within the usual bound (the integer parts are exact, so this catches any kernel that
/// assumes activations in [−127, 127]).
#[test]
fn minus_128_activations_every_format() {
    fn act8_0(n: usize) -> Vec<BlockQ8_0> {
        vec![
            BlockQ8_0 {
                d: f16::ONE,
                qs: [-128; 32],
            };
            n
        ]
    }
    fn act8_1(n: usize) -> Vec<BlockQ8_1> {
        vec![
            BlockQ8_1 {
                d: f16::ONE,
                s: f16::from_f32(-4096.0),
                qs: [-128; 32],
            };
            n
        ]
    }
    fn act8k(n: usize) -> Vec<BlockQ8K> {
        vec![
            BlockQ8K {
                d: 1.0,
                qs: [-128; 256],
                bsums: [-2048; 16],
            };
            n
        ]
    }
    macro_rules! check {
        ($W:ty, $acts:expr, $method:ident) => {{
            let w: Vec<$W> = det_blocks(0x5eed ^ <$W>::BLOCK_BYTES as u64, 8);
            let a = $acts;
            let want = scalar::$method(&w, &a);
            let bound = bound(&w, &a);
            for b in backends() {
                let got = b.$method(&w, &a);
                assert!(
                    (f64::from(got) - f64::from(want)).abs() <= bound,
                    "{} {}: got {got:e}, scalar {want:e}",
                    b.name(),
                    stringify!($method)
                );
            }
        }};
    }
    check!(BlockQ4_0, act8_0(8), dot_q4_0_q8_0);
    check!(BlockQ4_1, act8_1(8), dot_q4_1_q8_1);
    check!(BlockQ5_0, act8_0(8), dot_q5_0_q8_0);
    check!(BlockQ5_1, act8_1(8), dot_q5_1_q8_1);
    check!(BlockQ8_0, act8_0(8), dot_q8_0_q8_0);
    check!(BlockIq4Nl, act8_0(8), dot_iq4nl_q8_0);
    check!(BlockMxfp4, act8_0(8), dot_mxfp4_q8_0);
    check!(BlockNvfp4, act8_0(16), dot_nvfp4_q8_0);
    check!(BlockQ2K, act8k(8), dot_q2k_q8k);
    check!(BlockQ3K, act8k(8), dot_q3k_q8k);
    check!(BlockQ4K, act8k(8), dot_q4k_q8k);
    check!(BlockQ5K, act8k(8), dot_q5k_q8k);
    check!(BlockQ6K, act8k(8), dot_q6k_q8k);
    check!(BlockQ8K, act8k(8), dot_q8k_q8k);
    check!(BlockIq4Xs, act8k(8), dot_iq4xs_q8k);
    check!(BlockTq1_0, act8k(8), dot_tq1_0_q8k);
    check!(BlockTq2_0, act8k(8), dot_tq2_0_q8k);
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers: exact bytes
// ---------------------------------------------------------------------------------------------

/// Activation values: finite f32 bit patterns (every magnitude, subnormals included, so the
/// "1/d overflows" path is exercised), ordinary values, and half-integer ties (`x·id` lands
/// exactly on .5 when the block maximum is 127, where round-half-away and round-half-even
/// differ).
fn act_block(len: usize) -> impl Strategy<Value = Vec<f32>> {
    let any_finite = any::<u32>()
        .prop_map(f32::from_bits)
        .prop_filter("finite", |v| v.is_finite());
    prop_oneof![
        vec(any_finite, len),
        vec(-3.0f32..3.0, len),
        (any::<bool>(), vec(-254i32..=254, len - 1)).prop_map(|(neg, ks)| {
            let mut v = vec![if neg { -127.0 } else { 127.0 }];
            v.extend(ks.into_iter().map(|k| k as f32 / 2.0));
            v
        }),
        Just(vec![0.0; len]),
        vec(
            prop_oneof![Just(0.0f32), Just(-0.0f32), -1e-38f32..1e-38],
            len
        ),
    ]
}

fn act_row(len: usize, max_blocks: usize) -> impl Strategy<Value = Vec<f32>> {
    vec(act_block(len), 1..=max_blocks).prop_map(|v| v.concat())
}

macro_rules! quantizer_tests {
    ($($test:ident: $B:ty, $len:expr, $max:expr, $method:ident;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $test(src in act_row($len, $max), garbage in any::<u8>()) {
                    let n = src.len() / $len;
                    // Both destinations start with the same garbage: every byte the reference
                    // writes must match, and bytes it leaves alone must be left alone.
                    let fill = |v: &mut Vec<$B>| bytemuck::cast_slice_mut::<$B, u8>(v).fill(garbage);
                    let mut want = vec![<$B>::zeroed(); n];
                    fill(&mut want);
                    scalar::$method(&src, &mut want);
                    for b in backends() {
                        let mut got = vec![<$B>::zeroed(); n];
                        fill(&mut got);
                        b.$method(&src, &mut got);
                        prop_assert!(
                            bytemuck::cast_slice::<$B, u8>(&got) == bytemuck::cast_slice::<$B, u8>(&want),
                            "{}: bytes differ", b.name()
                        );
                    }
                }
            )*
        }
    };
}

quantizer_tests! {
    quantize_q8_0: BlockQ8_0, 32, 64, quantize_q8_0;
    quantize_q8_1: BlockQ8_1, 32, 64, quantize_q8_1;
    quantize_q8k: BlockQ8K, 256, 8, quantize_q8k;
}

// ---------------------------------------------------------------------------------------------
// Dequantizers: exact bits, every bit pattern (non-finite scales included)
// ---------------------------------------------------------------------------------------------

/// 1..=`max` blocks of random bytes, scales included (so inf/NaN scales occur).
fn raw_blocks<B: BlockFormat>(max: usize) -> impl Strategy<Value = Vec<B>> {
    (1..=max)
        .prop_flat_map(|n| vec(any::<u8>(), n * B::BLOCK_BYTES))
        .prop_map(|bytes| blocks_from_bytes_unaligned(&bytes).unwrap())
}

fn assert_same_bits(who: &str, got: &[f32], want: &[f32]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        prop_assert!(
            g.to_bits() == w.to_bits(),
            "{}: value {}: got {:e} ({:#010x}), scalar {:e} ({:#010x})",
            who,
            i,
            g,
            g.to_bits(),
            w,
            w.to_bits()
        );
    }
    Ok(())
}

macro_rules! dequantizer_tests {
    ($($test:ident: $B:ty, $max:expr, $method:ident;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $test(src in raw_blocks::<$B>($max)) {
                    let len = src.len() * <$B as BlockFormat>::BLOCK_LEN;
                    let mut want = vec![0.0f32; len];
                    scalar::$method(&src, &mut want);
                    for b in backends() {
                        let mut got = vec![f32::NAN; len];
                        b.$method(&src, &mut got);
                        assert_same_bits(b.name(), &got, &want)?;
                    }
                }
            )*
        }
    };
}

dequantizer_tests! {
    dequantize_q4_0: BlockQ4_0, 40, dequantize_q4_0;
    dequantize_q4_1: BlockQ4_1, 40, dequantize_q4_1;
    dequantize_q5_0: BlockQ5_0, 40, dequantize_q5_0;
    dequantize_q5_1: BlockQ5_1, 40, dequantize_q5_1;
    dequantize_q8_0: BlockQ8_0, 40, dequantize_q8_0;
    dequantize_q8_1: BlockQ8_1, 40, dequantize_q8_1;
    dequantize_q2k: BlockQ2K, 6, dequantize_q2k;
    dequantize_q3k: BlockQ3K, 6, dequantize_q3k;
    dequantize_q4k: BlockQ4K, 6, dequantize_q4k;
    dequantize_q5k: BlockQ5K, 6, dequantize_q5k;
    dequantize_q6k: BlockQ6K, 6, dequantize_q6k;
    dequantize_q8k: BlockQ8K, 6, dequantize_q8k;
    dequantize_iq4nl: BlockIq4Nl, 40, dequantize_iq4nl;
    dequantize_iq4xs: BlockIq4Xs, 6, dequantize_iq4xs;
    dequantize_mxfp4: BlockMxfp4, 40, dequantize_mxfp4;
    dequantize_nvfp4: BlockNvfp4, 20, dequantize_nvfp4;
    dequantize_tq1_0: BlockTq1_0, 6, dequantize_tq1_0;
    dequantize_tq2_0: BlockTq2_0, 6, dequantize_tq2_0;
}

/// Every f16 and bf16 bit pattern (NaN payloads and signed zeros included), bit for bit, at
/// every offset of a 4-lane vector (the slice starts at 0..4).
#[test]
fn dequantize_f16_bf16_exhaustive() {
    let h: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
    let bh: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
    for start in 0..4 {
        let mut want = vec![0.0f32; h.len() - start];
        scalar::dequantize_f16(&h[start..], &mut want);
        let mut want_b = vec![0.0f32; h.len() - start];
        scalar::dequantize_bf16(&bh[start..], &mut want_b);
        for b in backends() {
            let mut got = vec![0.0f32; h.len() - start];
            b.dequantize_f16(&h[start..], &mut got);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits()),
                "{} f16",
                b.name()
            );
            b.dequantize_bf16(&bh[start..], &mut got);
            assert!(
                got.iter()
                    .zip(&want_b)
                    .all(|(g, w)| g.to_bits() == w.to_bits()),
                "{} bf16",
                b.name()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ggml's golden vectors
// ---------------------------------------------------------------------------------------------

/// A dot product method of `Backend`, as a value.
type DotFn<'a, W, A> = &'a dyn Fn(&dyn Backend, &[W], &[A]) -> f32;

/// For one ggml type: `.ref.q` dequantized must equal `.deq.f32` bit for bit (NaN as NaN), and
/// `.ref.q · .act.q` must equal ggml's `vec_dot` within the README's
/// `1e-5·sqrt(n/32)·f64_abs_sum` (same non-finite class where ggml's is not finite).
fn golden_type<W: Gen, A: Gen>(
    type_name: &str,
    deq: impl Fn(&dyn Backend, &[W], &mut [f32]),
    dot: Option<DotFn<'_, W, A>>,
) {
    for case in golden::cases(type_name) {
        let w: Vec<W> = blocks_from_bytes_unaligned(&case.bytes("ref").unwrap()).unwrap();
        let want = case.f32s("deq").unwrap();
        for b in backends() {
            let mut got = vec![0.0f32; case.n];
            deq(b, &w, &mut got);
            let what = format!("{} {type_name}/{} dequantize", b.name(), case.name);
            golden::assert_bits_eq(&what, &got, &want, &case.unspecified_zero_sign());
        }
        let (Some(dot), Some(rec)) = (dot, case.dot()) else {
            continue;
        };
        let a: Vec<A> = blocks_from_bytes_unaligned(&case.bytes("act_q").unwrap()).unwrap();
        let tol = 1e-5 * (case.n as f64 / 32.0).sqrt() * rec.f64_abs_sum;
        for b in backends() {
            let got = dot(b, &w, &a);
            let what = format!("{} {type_name}/{} dot", b.name(), case.name);
            if rec.vec_dot.is_finite() {
                assert!(
                    (f64::from(got) - f64::from(rec.vec_dot)).abs() <= tol,
                    "{what}: got {got:e}, ggml {:e}, tolerance {tol:e}",
                    rec.vec_dot
                );
            } else {
                assert_eq!(
                    class(got),
                    class(rec.vec_dot),
                    "{what}: got {got:e}, ggml {:e}",
                    rec.vec_dot
                );
            }
        }
    }
}

macro_rules! golden_tests {
    ($($test:ident: $name:literal, $W:ty, $A:ty, $deq:ident, $dot:tt;)*) => {
        $(
            #[test]
            fn $test() {
                golden_type::<$W, $A>(
                    $name,
                    |b, w, out| b.$deq(w, out),
                    golden_tests!(@dot $W, $A, $dot),
                );
            }
        )*
    };
    (@dot $W:ty, $A:ty, none) => { None };
    (@dot $W:ty, $A:ty, $dot:ident) => {
        Some(&|b: &dyn Backend, w: &[$W], a: &[$A]| b.$dot(w, a))
    };
}

golden_tests! {
    golden_q4_0: "q4_0", BlockQ4_0, BlockQ8_0, dequantize_q4_0, dot_q4_0_q8_0;
    golden_q4_1: "q4_1", BlockQ4_1, BlockQ8_1, dequantize_q4_1, dot_q4_1_q8_1;
    golden_q5_0: "q5_0", BlockQ5_0, BlockQ8_0, dequantize_q5_0, dot_q5_0_q8_0;
    golden_q5_1: "q5_1", BlockQ5_1, BlockQ8_1, dequantize_q5_1, dot_q5_1_q8_1;
    golden_q8_0: "q8_0", BlockQ8_0, BlockQ8_0, dequantize_q8_0, dot_q8_0_q8_0;
    golden_q8_1: "q8_1", BlockQ8_1, BlockQ8_1, dequantize_q8_1, none;
    golden_q2k: "q2_K", BlockQ2K, BlockQ8K, dequantize_q2k, dot_q2k_q8k;
    golden_q3k: "q3_K", BlockQ3K, BlockQ8K, dequantize_q3k, dot_q3k_q8k;
    golden_q4k: "q4_K", BlockQ4K, BlockQ8K, dequantize_q4k, dot_q4k_q8k;
    golden_q5k: "q5_K", BlockQ5K, BlockQ8K, dequantize_q5k, dot_q5k_q8k;
    golden_q6k: "q6_K", BlockQ6K, BlockQ8K, dequantize_q6k, dot_q6k_q8k;
    golden_q8k: "q8_K", BlockQ8K, BlockQ8K, dequantize_q8k, none;
    golden_iq4nl: "iq4_nl", BlockIq4Nl, BlockQ8_0, dequantize_iq4nl, dot_iq4nl_q8_0;
    golden_iq4xs: "iq4_xs", BlockIq4Xs, BlockQ8K, dequantize_iq4xs, dot_iq4xs_q8k;
    golden_mxfp4: "mxfp4", BlockMxfp4, BlockQ8_0, dequantize_mxfp4, dot_mxfp4_q8_0;
    golden_nvfp4: "nvfp4", BlockNvfp4, BlockQ8_0, dequantize_nvfp4, dot_nvfp4_q8_0;
    golden_tq1_0: "tq1_0", BlockTq1_0, BlockQ8K, dequantize_tq1_0, dot_tq1_0_q8k;
    golden_tq2_0: "tq2_0", BlockTq2_0, BlockQ8K, dequantize_tq2_0, dot_tq2_0_q8k;
}

/// The activation quantizers on ggml's files: every input row quantized to q8_0 / q8_1 / q8_K
/// must give `q8_*/<case>.ref.q`, and every activation row must give the `.act.ref.q` (or
/// `.act.q`) bytes of a type whose `vec_dot_type` it is.
#[test]
fn golden_activation_quantizers() {
    fn check<B: Gen>(
        folder: &str,
        rows: &[(&str, &str)],
        q: impl Fn(&dyn Backend, &[f32], &mut [B]),
    ) {
        for case in golden::cases(folder) {
            for (input_key, bytes_of) in rows {
                let Some(x) = case.f32s(input_key) else {
                    continue;
                };
                let want = match *bytes_of {
                    "ref" => case.bytes("ref"),
                    _ => case.act_ref_bytes(),
                };
                let Some(want) = want else { continue };
                for b in backends() {
                    let mut got = vec![B::zeroed(); x.len() / B::BLOCK_LEN];
                    q(b, &x, &mut got);
                    let what = format!("{} {folder}/{} {input_key}", b.name(), case.name);
                    golden::assert_bytes_eq(
                        &what,
                        bytemuck::cast_slice(&got),
                        &want,
                        B::BLOCK_BYTES,
                        &[],
                    );
                }
            }
        }
    }
    check::<BlockQ8_0>("q8_0", &[("input", "ref"), ("act", "act")], |b, x, o| {
        b.quantize_q8_0(x, o)
    });
    check::<BlockQ8_0>("q4_0", &[("act", "act")], |b, x, o| b.quantize_q8_0(x, o));
    check::<BlockQ8_1>("q8_1", &[("input", "ref")], |b, x, o| b.quantize_q8_1(x, o));
    check::<BlockQ8_1>("q4_1", &[("act", "act")], |b, x, o| b.quantize_q8_1(x, o));
    check::<BlockQ8K>("q8_K", &[("input", "ref")], |b, x, o| b.quantize_q8k(x, o));
    check::<BlockQ8K>("q4_K", &[("act", "act")], |b, x, o| b.quantize_q8k(x, o));
}

// ---------------------------------------------------------------------------------------------
// The backend conformance kit (feature `conformance`) on both tiers
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "conformance")]
mod conformance_kit {
    use super::*;
    use quant_kernels::conformance;

    /// Cases per kernel: the kit's proptest over every format (modest: qemu is slow; the
    /// properties above cover the same kernels with more cases).
    fn kit_cases() -> u32 {
        config().cases.min(32)
    }

    #[test]
    fn neon_tiers_pass_the_dot_checks() {
        for b in backends() {
            conformance::check_dots(b, kit_cases());
        }
    }

    #[test]
    fn neon_tiers_pass_the_activation_quantizer_checks() {
        for b in backends() {
            conformance::check_activation_quantizers(b, kit_cases());
        }
    }

    #[test]
    fn neon_tiers_pass_the_dequantizer_checks() {
        for b in backends() {
            conformance::check_dequantizers(b, kit_cases());
        }
    }
}
