//! The K-quant and IQ4 quantizers and dequantizers against ggml's oracle files
//! (`testdata/golden/<type>/`): byte-exact quantization (reference, chunk and imatrix paths) and
//! bit-exact dequantization, through both the typed and the runtime API.

mod golden;

use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K,
    iq4_nl::quantize_iq4_nl_ref,
};
use quant_core::{
    BlockFormat, Format, blocks_as_bytes, blocks_from_bytes_unaligned, dequantize,
    dequantize_row_to_vec, quantize, quantize_row, quantize_row_to_vec,
};

/// Dequantize `bytes` through the typed and the runtime API, checking both against `want`.
fn check_dequant<B: BlockFormat>(
    format: Format,
    what: &str,
    bytes: &[u8],
    want: &[f32],
    zero_sign_free: &[(usize, usize)],
) {
    let blocks = blocks_from_bytes_unaligned::<B>(bytes).unwrap();
    let typed = dequantize_row_to_vec(&blocks);
    golden::assert_bits_eq(&format!("{what} (typed)"), &typed, want, zero_sign_free);
    let runtime = dequantize(format, bytes, want.len()).unwrap();
    golden::assert_bits_eq(&format!("{what} (runtime)"), &runtime, want, zero_sign_free);
}

/// Every oracle check of one type except the reference quantizer of iq4_nl (separate test).
/// Returns the number of cases checked.
fn check_type<B: BlockFormat>(format: Format, ref_equals_chunk: bool) -> usize {
    let cases = golden::cases(format.name());
    assert!(!cases.is_empty(), "{format}: no cases");
    for case in &cases {
        let what = |s: &str| format!("{format}/{}: {s}", case.name);
        let x = case.input();

        // Production path without importance weights (= ggml_quantize_chunk, imatrix NULL).
        let chunk = case.chunk_bytes().expect("chunk bytes");
        let typed = quantize_row_to_vec::<B>(&x, None).unwrap();
        golden::assert_bytes_eq(
            &what("quantize_row None vs .chunk.q"),
            blocks_as_bytes(&typed),
            &chunk,
            B::BLOCK_BYTES,
            &[],
        );
        let runtime = quantize(format, &x, None).unwrap();
        golden::assert_bytes_eq(
            &what("quantize None vs .chunk.q"),
            &runtime,
            &chunk,
            B::BLOCK_BYTES,
            &[],
        );
        if ref_equals_chunk {
            golden::assert_bytes_eq(
                &what("quantize None vs .ref.q"),
                &runtime,
                &case.bytes("ref").unwrap(),
                B::BLOCK_BYTES,
                &[],
            );
        }

        // Importance-weighted path.
        let imat = case.f32s("imatrix").expect("imatrix");
        let want = case.bytes("imat_q").expect(".imat.q");
        let mut typed = vec![B::zeroed(); x.len() / B::BLOCK_LEN];
        quantize_row::<B>(&x, Some(&imat), &mut typed).unwrap();
        golden::assert_bytes_eq(
            &what("quantize_row imatrix vs .imat.q"),
            blocks_as_bytes(&typed),
            &want,
            B::BLOCK_BYTES,
            &[],
        );
        let runtime = quantize(format, &x, Some(&imat)).unwrap();
        golden::assert_bytes_eq(
            &what("quantize imatrix vs .imat.q"),
            &runtime,
            &want,
            B::BLOCK_BYTES,
            &[],
        );

        // Dequantization of ggml's own bytes.
        check_dequant::<B>(
            format,
            &what("dequantize .ref.q vs .deq.f32"),
            &case.bytes("ref").unwrap(),
            &case.f32s("deq").unwrap(),
            &case.unspecified_zero_sign(),
        );
        if let Some(want) = case.f32s("chunk_deq") {
            check_dequant::<B>(
                format,
                &what("dequantize .chunk.q vs .chunk.deq.f32"),
                &chunk,
                &want,
                &[],
            );
        }
    }
    cases.len()
}

#[test]
fn golden_q2_k() {
    assert_eq!(check_type::<BlockQ2K>(Format::Q2K, true), 18);
}

#[test]
fn golden_q3_k() {
    assert_eq!(check_type::<BlockQ3K>(Format::Q3K, true), 18);
}

#[test]
fn golden_q4_k() {
    assert_eq!(check_type::<BlockQ4K>(Format::Q4K, true), 18);
}

#[test]
fn golden_q5_k() {
    assert_eq!(check_type::<BlockQ5K>(Format::Q5K, true), 18);
}

#[test]
fn golden_q6_k() {
    assert_eq!(check_type::<BlockQ6K>(Format::Q6K, true), 18);
}

#[test]
fn golden_iq4_xs() {
    assert_eq!(check_type::<BlockIq4Xs>(Format::Iq4Xs, true), 18);
}

#[test]
fn golden_iq4_nl_chunk_imatrix_dequant() {
    assert_eq!(check_type::<BlockIq4Nl>(Format::Iq4Nl, false), 18);
}

/// ggml's reference iq4_nl quantizer (`ntry = -1`), which differs from the chunk quantizer.
#[test]
fn golden_iq4_nl_ref() {
    let mut differing = 0;
    for case in golden::cases("iq4_nl") {
        let x = case.input();
        let mut blocks = vec![<BlockIq4Nl as bytemuck::Zeroable>::zeroed(); x.len() / 32];
        quantize_iq4_nl_ref(&x, &mut blocks).unwrap();
        let want = case.bytes("ref").unwrap();
        golden::assert_bytes_eq(
            &format!("iq4_nl/{}: quantize_iq4_nl_ref vs .ref.q", case.name),
            blocks_as_bytes(&blocks),
            &want,
            BlockIq4Nl::BLOCK_BYTES,
            &case.unspecified_ref_bytes(),
        );
        // Our deterministic choice for ggml's unwritten bytes: index 8 (value +1) everywhere.
        for (a, b) in case.unspecified_ref_bytes() {
            assert!(
                blocks_as_bytes(&blocks)[a..b].iter().all(|&v| v == 0x88),
                "iq4_nl/{}: bytes {a}..{b}",
                case.name
            );
        }
        if case.chunk_bytes().unwrap() != want {
            differing += 1;
        }
    }
    // The README records that the two quantizers differ in 16 of the 18 cases.
    assert_eq!(differing, 16);
}

/// `max_abs_error` bounds the error of every block of every oracle input whose dequantized
/// values are finite (the `huge` case overflows some f16 scales, where no bound is promised),
/// and is not vacuous: on ordinary weight-like rows the worst block error uses a fair share of it.
fn check_bound<B: BlockFormat>(format: Format) {
    let mut worst_fraction = 0.0f32;
    for case in golden::cases(format.name()) {
        let x = case.input();
        let y = dequantize_row_to_vec(&quantize_row_to_vec::<B>(&x, None).unwrap());
        for (i, (xb, yb)) in x
            .chunks_exact(B::BLOCK_LEN)
            .zip(y.chunks_exact(B::BLOCK_LEN))
            .enumerate()
        {
            if !yb.iter().all(|v| v.is_finite()) {
                continue;
            }
            let bound = B::max_abs_error(xb).expect("K-quants promise a bound");
            let err = xb
                .iter()
                .zip(yb)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= bound,
                "{format}/{} block {i}: error {err:e} > bound {bound:e}",
                case.name
            );
            if case.name == "gauss" || case.name == "uniform" {
                worst_fraction = worst_fraction.max(err / bound);
            }
        }
    }
    // Not vacuous: a bound more than 20 times the error seen on plain Gaussian/uniform rows
    // would be useless to the property-test kit (measured: 0.15 for q6_K … 0.40 for q3_K).
    assert!(
        worst_fraction > 0.05,
        "{format}: bound is loose ({worst_fraction})"
    );
}

#[test]
fn max_abs_error_bounds_oracle_inputs() {
    check_bound::<BlockQ2K>(Format::Q2K);
    check_bound::<BlockQ3K>(Format::Q3K);
    check_bound::<BlockQ4K>(Format::Q4K);
    check_bound::<BlockQ5K>(Format::Q5K);
    check_bound::<BlockQ6K>(Format::Q6K);
    check_bound::<BlockIq4Nl>(Format::Iq4Nl);
    check_bound::<BlockIq4Xs>(Format::Iq4Xs);
}

/// Finite but extreme rows (magnitudes near `f32::MAX`, subnormals, mixtures whose differences
/// overflow) and degenerate importance weights (all zero, huge) must quantize without panicking,
/// deterministically, and small-magnitude rows must dequantize to finite values.
#[test]
fn extreme_rows_quantize_without_panic() {
    let n = 512;
    let rows: Vec<Vec<f32>> = vec![
        (0..n)
            .map(|i| if i % 2 == 0 { f32::MAX } else { -f32::MAX })
            .collect(),
        vec![f32::MAX; n],
        vec![-f32::MAX; n],
        (0..n)
            .map(|i| if i % 7 == 0 { 3e38 } else { 1e-38 })
            .collect(),
        (0..n).map(|i| f32::from_bits(1 + (i as u32 % 5))).collect(), // subnormals
        (0..n).map(|i| -(i as f32) * 1e-42).collect(),
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 1e5)
            .collect(),
    ];
    let weights: Vec<Vec<f32>> = vec![
        vec![0.0; n],
        vec![1e30; n],
        (0..n).map(|i| i as f32).collect(),
    ];
    for format in [
        Format::Q2K,
        Format::Q3K,
        Format::Q4K,
        Format::Q5K,
        Format::Q6K,
        Format::Iq4Nl,
        Format::Iq4Xs,
    ] {
        for (r, x) in rows.iter().enumerate() {
            let a = quantize(format, x, None).unwrap();
            assert_eq!(a, quantize(format, x, None).unwrap(), "{format} row {r}");
            let y = dequantize(format, &a, n).unwrap();
            let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if amax < 1.0 {
                assert!(y.iter().all(|v| v.is_finite()), "{format} row {r}");
            }
            for w in &weights {
                let b = quantize(format, x, Some(w)).unwrap();
                assert_eq!(b, quantize(format, x, Some(w)).unwrap(), "{format} row {r}");
            }
        }
        let mut blocks = vec![<BlockIq4Nl as bytemuck::Zeroable>::zeroed(); n / 32];
        if format == Format::Iq4Nl {
            for x in &rows {
                quantize_iq4_nl_ref(x, &mut blocks).unwrap();
            }
        }
    }
}

#[test]
fn iq4_nl_ref_rejects_bad_input() {
    let zero = <BlockIq4Nl as bytemuck::Zeroable>::zeroed();
    let mut one = [zero];
    let mut two = [zero; 2];
    assert!(matches!(
        quantize_iq4_nl_ref(&[0.5; 32], &mut two),
        Err(quant_core::Error::LengthMismatch {
            expected: 1,
            actual: 2,
            ..
        })
    ));
    assert!(matches!(
        quantize_iq4_nl_ref(&[0.5; 33], &mut one),
        Err(quant_core::Error::RaggedLength {
            len: 33,
            block_len: 32
        })
    ));
    let mut x = [0.5f32; 32];
    x[3] = f32::NAN;
    assert!(matches!(
        quantize_iq4_nl_ref(&x, &mut one),
        Err(quant_core::Error::NonFinite { index: 3, .. })
    ));
}
