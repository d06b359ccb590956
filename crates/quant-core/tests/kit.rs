//! The property-test kit (`quant_core::testing`) on every built-in format: f32, f16, bf16 and
//! every block format, one test per (format, check) so that a failure names both.
//!
//! Checks that currently fail on a format are kept as `#[ignore]`d tests whose reason names the
//! finding (run them with `cargo test -p quant-core --test kit -- --ignored`); see
//! `known_failures` below. Set `KIT_CASES` to run more cases than the default 64 per check and
//! `KIT_SEED` to change the (otherwise fixed) seed.

use quant_core::formats::*;
use quant_core::half::{bf16, f16};
use quant_core::testing::{self, KitConfig, RowKind};
use quant_core::{BlockFormat, Format};

/// 64 cases per check keeps the whole file at a few seconds at opt-level 3.
fn config<B: BlockFormat>() -> KitConfig {
    let cases = std::env::var("KIT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    // A fixed seed keeps CI deterministic; set KIT_SEED to explore other inputs.
    let seed = std::env::var("KIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b69_7431);
    let c = KitConfig::default().with_cases(cases).with_seed(seed);
    // Plain floats have one value per block: give them rows of up to 64 values.
    if B::BLOCK_LEN == 1 {
        c.with_max_blocks(64)
    } else {
        c
    }
}

macro_rules! check_fns {
    ($($check:ident),*) => {
        $(
            fn $check<B: BlockFormat>() {
                if let Err(failure) = testing::$check::<B>(&config::<B>()) {
                    panic!("{failure}");
                }
            }
        )*
    };
}

check_fns!(
    check_round_trip_error,
    check_determinism,
    check_requantize_stable,
    check_arbitrary_bytes,
    check_input_errors,
    check_importance
);

/// The round-trip check without [`RowKind::Sparse`] blocks (see `known_failures`).
fn check_round_trip_error_dense<B: BlockFormat>() {
    let config = config::<B>().without_kinds(&[RowKind::Sparse]);
    if let Err(failure) = testing::check_round_trip_error::<B>(&config) {
        panic!("{failure}");
    }
}

/// Every check on a format (or the listed ones), one `#[test]` each in a module named after it.
macro_rules! kit {
    ($m:ident => $ty:ty) => {
        kit!($m => $ty: check_round_trip_error, check_determinism, check_requantize_stable,
            check_arbitrary_bytes, check_input_errors, check_importance);
    };
    ($m:ident => $ty:ty: $($check:ident),+ $(,)?) => {
        mod $m {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    super::$check::<$ty>();
                }
            )+
        }
    };
}

/// A finding of the kit that has been fixed in the format: kept as a regular test, with the
/// finding as documentation.
macro_rules! fixed_finding {
    ($name:ident => $ty:ty, $check:ident, $why:literal) => {
        #[test]
        #[doc = $why]
        fn $name() {
            $check::<$ty>();
        }
    };
}

/// A check that fails today, with the finding as the ignore reason.
macro_rules! known_failure {
    ($name:ident => $ty:ty, $check:ident, $why:literal) => {
        #[test]
        #[ignore = $why]
        fn $name() {
            $check::<$ty>();
        }
    };
}

kit!(float_f32 => f32);
kit!(float_f16 => f16);
kit!(float_bf16 => bf16);
kit!(q8_0 => BlockQ8_0: check_round_trip_error_dense, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors, check_importance);
kit!(q8_1 => BlockQ8_1: check_round_trip_error_dense, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors, check_importance);
kit!(q8_k => BlockQ8K);
kit!(tq1_0 => BlockTq1_0);
kit!(tq2_0 => BlockTq2_0);
kit!(mxfp4 => BlockMxfp4);
kit!(nvfp4 => BlockNvfp4);
kit!(q4_0 => BlockQ4_0: check_round_trip_error_dense, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors);
kit!(q4_1 => BlockQ4_1: check_round_trip_error_dense, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors);
kit!(q5_0 => BlockQ5_0: check_round_trip_error_dense, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors);
kit!(q5_1 => BlockQ5_1: check_round_trip_error_dense, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors);
kit!(iq4_nl => BlockIq4Nl: check_round_trip_error, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors);
kit!(iq4_xs => BlockIq4Xs: check_determinism, check_requantize_stable, check_arbitrary_bytes,
    check_input_errors);
kit!(q6_k => BlockQ6K: check_determinism, check_requantize_stable, check_arbitrary_bytes,
    check_input_errors);
kit!(q2_k => BlockQ2K: check_round_trip_error, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors);
kit!(q3_k => BlockQ3K: check_determinism, check_requantize_stable, check_arbitrary_bytes,
    check_input_errors);
kit!(q4_k => BlockQ4K: check_round_trip_error, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors);
kit!(q5_k => BlockQ5K: check_round_trip_error, check_determinism, check_requantize_stable,
    check_arbitrary_bytes, check_input_errors);

/// Findings of the kit that the formats' owners have to resolve (found with `KIT_CASES=1000`
/// and `KIT_SEED` 1..4; a given seed need not hit every one of them).
mod known_failures {
    use super::*;

    // The imatrix path minimises Σ w·(x − y)²: a value with a small weight may end up far from
    // its input (even at 0), so the reference-path bound of `max_abs_error` does not hold.
    known_failure!(q4_0_importance => BlockQ4_0, check_importance,
        "imatrix path: values of zero or low importance legitimately land far from their input (0 for zero weight), so the reference-path bound does not apply (the NaN on rows with |x| > 1.8e19 is fixed: sigma2 saturates)");
    known_failure!(q4_1_importance => BlockQ4_1, check_importance,
        "max_abs_error does not hold on the imatrix path (error 0.0331, bound 0.0329)");
    known_failure!(q5_0_importance => BlockQ5_0, check_importance,
        "imatrix path: values of zero or low importance legitimately land far from their input (0 for zero weight), so the reference-path bound does not apply (the NaN on rows with |x| > 1.8e19 is fixed: sigma2 saturates)");
    known_failure!(q5_1_importance => BlockQ5_1, check_importance,
        "max_abs_error does not hold on the imatrix path (error 0.034, bound 0.016)");
    known_failure!(iq4_nl_importance => BlockIq4Nl, check_importance,
        "max_abs_error does not hold on the imatrix path (1.29 → 0, bound 0.37)");
    known_failure!(iq4_xs_importance => BlockIq4Xs, check_importance,
        "max_abs_error does not hold on the imatrix path (-0.51 → -0.001, bound 0.14)");
    known_failure!(q2_k_importance => BlockQ2K, check_importance,
        "max_abs_error does not hold on the imatrix path (26.9 → -14.8, bound 28.3)");
    known_failure!(q3_k_importance => BlockQ3K, check_importance,
        "max_abs_error does not hold on the imatrix path (1.29 → 0.59, bound 0.65)");
    known_failure!(q4_k_importance => BlockQ4K, check_importance,
        "max_abs_error does not hold on the imatrix path (1.29 → 0, bound 0.34)");
    known_failure!(q5_k_importance => BlockQ5K, check_importance,
        "max_abs_error does not hold on the imatrix path (0.19 → 0, bound 0.17)");
    known_failure!(q6_k_importance => BlockQ6K, check_importance,
        "max_abs_error does not hold on the imatrix path (-0.158 → 0, bound 0.121)");
    // Blocks of zeros with one tiny subnormal (e.g. 4e-45): the bound, computed in f32 from a
    // scale that underflows to 0, comes out below the error |x| (the value becomes 0). The
    // round trip runs without `RowKind::Sparse` blocks for these formats until fixed.
    fixed_finding!(q4_0_round_trip_sparse => BlockQ4_0, check_round_trip_error,
        "bound 0 for a block [0, …, -4e-45] that dequantizes to 0 (subnormal scale underflow)");
    fixed_finding!(q4_1_round_trip_sparse => BlockQ4_1, check_round_trip_error,
        "bound 4.3e-44 < error 4.9e-44 for a sparse subnormal block");
    fixed_finding!(q5_0_round_trip_sparse => BlockQ5_0, check_round_trip_error,
        "bound 0 for a block [0, …, -4e-45] that dequantizes to 0 (subnormal scale underflow)");
    fixed_finding!(q5_1_round_trip_sparse => BlockQ5_1, check_round_trip_error,
        "bound 4.3e-44 < error 4.9e-44 for a sparse subnormal block (fuzz found 1.1e-44 vs 0)");
    fixed_finding!(q8_0_round_trip_sparse => BlockQ8_0, check_round_trip_error,
        "bound 6.61e-42 < error 6.638e-42 for a sparse subnormal block");
    fixed_finding!(q8_1_round_trip_sparse => BlockQ8_1, check_round_trip_error,
        "bound 6.61e-42 < error 6.638e-42 for a sparse subnormal block");
    // Huge blocks (~1e23..1e28) whose f16 scale overflows dequantize to finite zeros instead of
    // ±inf/NaN, so the kit cannot tell the overflow apart: max_abs_error should return None there.
    fixed_finding!(iq4_xs_round_trip => BlockIq4Xs, check_round_trip_error,
        "huge block (max 5e23) dequantizes to 0 with a finite bound: bound must be None on scale overflow");
    fixed_finding!(q6_k_round_trip => BlockQ6K, check_round_trip_error,
        "huge block (max 5e23) dequantizes to 0 with a finite bound: bound must be None on scale overflow");
    fixed_finding!(q3_k_round_trip => BlockQ3K, check_round_trip_error,
        "huge block (max 1.5e28) dequantizes to 0 with a finite bound: bound must be None on scale overflow");
}

/// Every built-in format has kit tests above.
#[test]
fn every_format_is_covered() {
    let mut covered = vec![
        f32::FORMAT,
        f16::FORMAT,
        bf16::FORMAT,
        BlockQ4_0::FORMAT,
        BlockQ4_1::FORMAT,
        BlockQ5_0::FORMAT,
        BlockQ5_1::FORMAT,
        BlockQ8_0::FORMAT,
        BlockQ8_1::FORMAT,
        BlockQ2K::FORMAT,
        BlockQ3K::FORMAT,
        BlockQ4K::FORMAT,
        BlockQ5K::FORMAT,
        BlockQ6K::FORMAT,
        BlockQ8K::FORMAT,
        BlockIq4Nl::FORMAT,
        BlockIq4Xs::FORMAT,
        BlockTq1_0::FORMAT,
        BlockTq2_0::FORMAT,
        BlockMxfp4::FORMAT,
        BlockNvfp4::FORMAT,
    ];
    covered.sort();
    let mut all: Vec<Option<Format>> = Format::ALL.into_iter().map(Some).collect();
    all.sort();
    assert_eq!(covered, all);
}
