//! Oracle tests of the legacy and small formats (q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q8_K, mxfp4,
//! nvfp4, tq1_0, tq2_0) against ggml's bytes in `testdata/golden/`, through both the typed API
//! (`quantize_row::<BlockQ4_0>`) and the runtime one (`quantize(Format::Q4_0, …)`), plus input
//! validation, error bounds and requantization stability.

mod golden;

use golden::{Case, assert_bits_eq, assert_bytes_eq, cases, golden_dir};
use proptest::prelude::*;
use quant_core::formats::{
    BlockMxfp4, BlockNvfp4, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1,
    BlockQ8K, BlockTq1_0, BlockTq2_0,
};
use quant_core::{
    BlockFormat, Error, Format, blocks_as_bytes, blocks_from_bytes_unaligned, dequantize,
    dequantize_row, dequantize_row_to_vec, quantize, quantize_row, quantize_row_to_vec,
};

/// The importance vector of a case (every case has one in `inputs/`, also for the types whose
/// quantizer ignores it).
fn imatrix_of(c: &Case) -> Vec<f32> {
    c.f32s("imatrix").unwrap_or_else(|| {
        let p = golden_dir()
            .join("inputs")
            .join(format!("{}.imat.f32", c.name));
        std::fs::read(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    })
}

/// Quantize through the typed API (`quantize_row` into a caller slice, and `quantize_row_to_vec`)
/// and the runtime API; all three must agree; returns the bytes.
fn quantize_both<B: BlockFormat>(format: Format, x: &[f32], imatrix: Option<&[f32]>) -> Vec<u8> {
    let mut blocks = vec![B::zeroed(); x.len() / B::BLOCK_LEN];
    quantize_row::<B>(x, imatrix, &mut blocks).unwrap();
    let typed = blocks_as_bytes(&blocks).to_vec();
    let typed_vec = quantize_row_to_vec::<B>(x, imatrix).unwrap();
    assert_eq!(
        typed,
        blocks_as_bytes(&typed_vec),
        "{format}: quantize_row_to_vec"
    );
    let runtime = quantize(format, x, imatrix).unwrap();
    assert_eq!(typed, runtime, "{format}: typed and runtime API disagree");
    typed
}

/// Every oracle check of one weight format: `.ref.q`, `.chunk.q`, `.imat.q` (or, for a format
/// that ignores importance weights, that they change nothing), `.deq.f32`.
fn check_type<B: BlockFormat>(format: Format) {
    assert_eq!(B::FORMAT, Some(format));
    assert_eq!(B::NAME, format.name());
    let all = cases(format.name());
    assert_eq!(all.len(), 18, "{format}: cases");
    let mut n_imat = 0;
    for c in &all {
        let what = format!("{format}/{}", c.name);
        let x = c.input();
        let want = c.bytes("ref").unwrap();

        let got = quantize_both::<B>(format, &x, None);
        assert_bytes_eq(&format!("{what} ref"), &got, &want, B::BLOCK_BYTES, &[]);
        if let Some(chunk) = c.chunk_bytes() {
            assert_bytes_eq(&format!("{what} chunk"), &got, &chunk, B::BLOCK_BYTES, &[]);
        }

        let w = imatrix_of(c);
        let got_imat = quantize_both::<B>(format, &x, Some(&w));
        if let Some(imat) = c.bytes("imat_q") {
            assert!(B::USES_IMPORTANCE, "{what}: has .imat.q");
            assert_bytes_eq(
                &format!("{what} imat"),
                &got_imat,
                &imat,
                B::BLOCK_BYTES,
                &[],
            );
            n_imat += 1;
        } else {
            assert!(!B::USES_IMPORTANCE, "{what}: no .imat.q");
            assert_eq!(got_imat, got, "{what}: importance weights must be ignored");
        }

        let deq_want = c.f32s("deq").unwrap();
        let deq = dequantize(format, &want, c.n).unwrap();
        assert_bits_eq(&format!("{what} deq"), &deq, &deq_want, &[]);
        let blocks = blocks_from_bytes_unaligned::<B>(&want).unwrap();
        let deq_typed = dequantize_row_to_vec(&blocks);
        assert_bits_eq(&format!("{what} deq typed"), &deq_typed, &deq_want, &[]);
        let mut deq_into = vec![0.0; c.n];
        dequantize_row(&blocks, &mut deq_into).unwrap();
        assert_bits_eq(&format!("{what} deq into"), &deq_into, &deq_want, &[]);
    }
    if B::USES_IMPORTANCE {
        assert_eq!(n_imat, all.len(), "{format}: every case has an .imat.q");
    }
    check_errors::<B>(format);
}

/// Activation quantizer `B` (q8_0 / q8_1 / q8_K) against the `.act.ref.q` / `.act.q` files of
/// every type whose `vec_dot_type` it is. Returns the number of cases checked.
fn check_activation<B: BlockFormat>(format: Format) -> usize {
    let mut checked = 0;
    for t in Format::block_formats().filter(|t| t.vec_dot_partner() == Some(format)) {
        for c in cases(t.name()) {
            let (Some(act), Some(want)) = (c.f32s("act"), c.act_ref_bytes()) else {
                continue;
            };
            let got = quantize_both::<B>(format, &act, None);
            let what = format!("{format} activation of {t}/{}", c.name);
            assert_bytes_eq(&what, &got, &want, B::BLOCK_BYTES, &[]);
            checked += 1;
        }
    }
    checked
}

/// NaN / ±inf give `Error::NonFinite` naming the first bad index; a ragged row gives
/// `Error::RaggedLength`; both through the typed and the runtime API.
fn check_errors<B: BlockFormat>(format: Format) {
    let n = 2 * B::BLOCK_LEN;
    for (index, bad) in [
        (3, f32::NAN),
        (B::BLOCK_LEN + 1, f32::INFINITY),
        (n - 1, f32::NEG_INFINITY),
    ] {
        let mut x: Vec<f32> = (0..n).map(|i| (i as f32 - 20.0) / 7.0).collect();
        x[index] = bad;
        if index + 2 < n {
            x[index + 2] = f32::NAN; // a later bad value must not be the one reported
        }
        let check = |e: Error| match e {
            Error::NonFinite { index: i, value } => {
                assert_eq!(i, index, "{format}: index");
                assert!(value.to_bits() == bad.to_bits(), "{format}: value {value}");
            }
            other => panic!("{format}: expected NonFinite, got {other:?}"),
        };
        check(quantize(format, &x, None).unwrap_err());
        check(quantize_row_to_vec::<B>(&x, None).unwrap_err());
        let mut blocks = vec![B::zeroed(); 2];
        check(quantize_row::<B>(&x, None, &mut blocks).unwrap_err());
    }
    let x = vec![0.5f32; B::BLOCK_LEN + 1];
    let want = Error::RaggedLength {
        len: B::BLOCK_LEN + 1,
        block_len: B::BLOCK_LEN,
    };
    assert_eq!(quantize(format, &x, None).unwrap_err(), want);
    assert_eq!(quantize_row_to_vec::<B>(&x, None).unwrap_err(), want);
}

#[test]
fn q4_0_golden() {
    check_type::<BlockQ4_0>(Format::Q4_0);
}

#[test]
fn q4_1_golden() {
    check_type::<BlockQ4_1>(Format::Q4_1);
}

#[test]
fn q5_0_golden() {
    check_type::<BlockQ5_0>(Format::Q5_0);
}

#[test]
fn q5_1_golden() {
    check_type::<BlockQ5_1>(Format::Q5_1);
}

#[test]
fn q8_0_golden() {
    check_type::<BlockQ8_0>(Format::Q8_0);
    // q4_0, q5_0, q8_0, iq4_nl, mxfp4, nvfp4: 6 types × 18 cases.
    assert_eq!(check_activation::<BlockQ8_0>(Format::Q8_0), 6 * 18);
}

#[test]
fn q8_1_golden() {
    check_type::<BlockQ8_1>(Format::Q8_1);
    // q4_1, q5_1.
    assert_eq!(check_activation::<BlockQ8_1>(Format::Q8_1), 2 * 18);
}

#[test]
fn q8_k_golden() {
    check_type::<BlockQ8K>(Format::Q8K);
    // q2_K … q6_K, iq4_xs, tq1_0, tq2_0 (q8_K itself has no dot product files).
    assert_eq!(check_activation::<BlockQ8K>(Format::Q8K), 8 * 18);
}

#[test]
fn mxfp4_golden() {
    check_type::<BlockMxfp4>(Format::Mxfp4);
}

#[test]
fn nvfp4_golden() {
    check_type::<BlockNvfp4>(Format::Nvfp4);
}

#[test]
fn tq1_0_golden() {
    check_type::<BlockTq1_0>(Format::Tq1_0);
}

#[test]
fn tq2_0_golden() {
    check_type::<BlockTq2_0>(Format::Tq2_0);
}

/// ggml computes mxfp4's exponent as `floor(log2f(amax)) − 2 + 127`. Just below a power of two
/// `log2f` rounds up to the integer, so the exponent is one more than the float's exponent
/// bits say; we must follow `log2f`, not the bits.
#[test]
fn mxfp4_exponent_follows_log2f_rounding() {
    let amax = 1024.0f32 * (1.0 - f32::EPSILON / 2.0); // 1023.99994, exponent bits say 2⁹
    let mut x = [0.0f32; 32];
    x[7] = amax;
    x[8] = -0.5;
    let b = quantize_row_to_vec::<BlockMxfp4>(&x, None).unwrap()[0];
    let expected = (amax.log2().floor() - 2.0 + 127.0) as u8;
    assert_eq!(b.e, expected);
    // glibc's log2f (the oracle's libm) rounds log2(1023.99994) = 10 − 8.6e-8 to 10.0: e = 135,
    // where the exponent bits (9) would give 134.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    assert_eq!(b.e, 10 - 2 + 127);
    // With e = 135 the value is coded as 8·2⁷ = 1024 (code 6), not clamped to 12·2⁶.
    let y = dequantize_row_to_vec(&[b]);
    assert_eq!(y[7], 2.0f32.powi(i32::from(b.e) - 128) * 8.0);
}

/// One test row of `8·k` chunks of 32 values, each chunk with its own magnitude `10^exp` and
/// value pattern (uniform, sparse, on the `s/32` tie grid, alternating ±s, cubed for outliers).
fn row_strategy(exp_range: core::ops::Range<f64>) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(
        (exp_range, 0u8..5, prop::collection::vec(-1.0f32..1.0, 32)),
        8..=16,
    )
    .prop_map(|chunks| {
        let n = chunks.len() / 8 * 8;
        chunks[..n]
            .iter()
            .flat_map(|(e, pattern, u)| {
                let s = 10f64.powf(*e) as f32;
                u.iter().enumerate().map(move |(i, &u)| match pattern {
                    0 => s * u,
                    1 => {
                        if u.abs() < 0.4 {
                            0.0
                        } else {
                            s * u
                        }
                    }
                    2 => s * ((u * 32.0).round() / 32.0),
                    3 => {
                        if i % 2 == 0 {
                            s
                        } else {
                            -s
                        }
                    }
                    _ => s * u * u * u,
                })
            })
            .collect()
    })
}

/// `|x − dequantize(quantize(x))| ≤ max_abs_error(block)` for every block whose dequantized
/// values are finite (the bound is promised while the scale stays finite). The difference is
/// taken in f64 so that it is exact.
fn check_bound<B: BlockFormat>(x: &[f32]) -> Result<(), TestCaseError> {
    let q = quantize_row_to_vec::<B>(x, None).unwrap();
    let y = dequantize_row_to_vec(&q);
    for (bi, (xb, yb)) in x
        .chunks(B::BLOCK_LEN)
        .zip(y.chunks(B::BLOCK_LEN))
        .enumerate()
    {
        if yb.iter().any(|v| !v.is_finite()) {
            continue;
        }
        let bound = B::max_abs_error(xb).expect("every legacy format documents a bound");
        for (i, (a, b)) in xb.iter().zip(yb).enumerate() {
            let err = (f64::from(*a) - f64::from(*b)).abs();
            prop_assert!(
                err <= f64::from(bound),
                "{} block {bi} value {i}: |{a:e} − {b:e}| = {err:e} > bound {bound:e}",
                B::NAME
            );
        }
    }
    Ok(())
}

/// `quantize(dequantize(quantize(x))) == quantize(x)` for the formats that claim it.
fn check_requantize<B: BlockFormat>(x: &[f32]) -> Result<(), TestCaseError> {
    if !B::REQUANTIZE_STABLE {
        return Ok(());
    }
    let q = quantize_row_to_vec::<B>(x, None).unwrap();
    let y = dequantize_row_to_vec(&q);
    let q2 = quantize_row_to_vec::<B>(&y, None).unwrap();
    for (bi, (a, b)) in q.iter().zip(&q2).enumerate() {
        prop_assert_eq!(a, b, "{} block {}", B::NAME, bi);
    }
    Ok(())
}

macro_rules! for_each_format {
    ($f:ident, $x:expr) => {{
        $f::<BlockQ4_0>($x)?;
        $f::<BlockQ4_1>($x)?;
        $f::<BlockQ5_0>($x)?;
        $f::<BlockQ5_1>($x)?;
        $f::<BlockQ8_0>($x)?;
        $f::<BlockQ8_1>($x)?;
        $f::<BlockQ8K>($x)?;
        $f::<BlockMxfp4>($x)?;
        $f::<BlockNvfp4>($x)?;
        $f::<BlockTq1_0>($x)?;
        $f::<BlockTq2_0>($x)?;
    }};
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Magnitudes from 1e-40 (f32 subnormals, f16 scales that underflow, inverse scales that
    /// overflow) to 1e38 (f16 scales that overflow, skipped): the bounds hold everywhere else.
    #[test]
    fn legacy_error_bounds_hold(x in row_strategy(-40.0..38.0)) {
        for_each_format!(check_bound, &x);
    }

    /// Requantization stability where claimed (q4_0, q5_0, q8_0, mxfp4, tq1_0, tq2_0), for
    /// magnitudes whose f16 scales neither underflow to 0 nor overflow.
    #[test]
    fn legacy_requantize_stable(x in row_strategy(-4.0..4.0)) {
        for_each_format!(check_requantize, &x);
    }
}
