//! The runtime-typed entry points: results on raw bytes, and one test per error they return.

use quant_core::Format;
use quant_kernels::scalar::Scalar;
use quant_kernels::{
    Error, dequantize_with, quantize_activations, quantize_activations_into, vec_dot, vec_dot_with,
};

fn row(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 60.0)
        .collect()
}

#[test]
fn vec_dot_matches_the_typed_scalar_kernel() {
    let w = quant_core::quantize(Format::Q4K, &row(512), None).unwrap();
    let a = quantize_activations(&Scalar, Format::Q8K, &row(512)).unwrap();
    let wb: Vec<quant_core::formats::BlockQ4K> =
        quant_core::blocks_from_bytes_unaligned(&w).unwrap();
    let ab: Vec<quant_core::formats::BlockQ8K> =
        quant_core::blocks_from_bytes_unaligned(&a).unwrap();
    let want = quant_kernels::scalar::dot_q4k_q8k(&wb, &ab);
    assert_eq!(vec_dot_with(&Scalar, Format::Q4K, &w, &a).unwrap(), want);
    // The best backend agrees within the summation-order tolerance.
    let tol = quant_kernels::tolerance::dot_tolerance(
        Format::Q4K,
        512,
        quant_kernels::tolerance::abs_terms_bytes(Format::Q4K, &w, &a).unwrap(),
    );
    assert!((f64::from(vec_dot(Format::Q4K, &w, &a).unwrap()) - f64::from(want)).abs() <= tol);
}

#[test]
fn q8_k_dot_q8_k_exists_and_q8_1_has_no_dot() {
    let a = quantize_activations(&Scalar, Format::Q8K, &row(256)).unwrap();
    let d = vec_dot_with(&Scalar, Format::Q8K, &a, &a).unwrap();
    // Σ q² · d²: positive for a non-zero row.
    assert!(d > 0.0);
    let a1 = quantize_activations(&Scalar, Format::Q8_1, &row(32)).unwrap();
    assert_eq!(
        vec_dot_with(&Scalar, Format::Q8_1, &a1, &a1),
        Err(Error::NoDot {
            format: Format::Q8_1
        })
    );
}

#[test]
fn ragged_bytes_and_row_mismatch_are_errors() {
    let w = quant_core::quantize(Format::Q4_0, &row(64), None).unwrap();
    let a = quantize_activations(&Scalar, Format::Q8_0, &row(64)).unwrap();
    assert!(matches!(
        vec_dot_with(&Scalar, Format::Q4_0, &w[..w.len() - 1], &a),
        Err(Error::Core(quant_core::Error::RaggedBytes { .. }))
    ));
    assert!(matches!(
        vec_dot_with(&Scalar, Format::Q4_0, &w, &a[..a.len() - 1]),
        Err(Error::Core(quant_core::Error::RaggedBytes { .. }))
    ));
    assert_eq!(
        vec_dot_with(&Scalar, Format::Q4_0, &w[..18], &a),
        Err(Error::RowLengthMismatch {
            weight: 32,
            activation: 64
        })
    );
}

#[test]
fn activation_quantization_errors() {
    assert_eq!(
        quantize_activations(&Scalar, Format::Q4_0, &row(32)),
        Err(Error::NotActivationFormat {
            format: Format::Q4_0
        })
    );
    assert!(matches!(
        quantize_activations(&Scalar, Format::Q8_0, &row(33)),
        Err(Error::Core(quant_core::Error::RaggedLength { .. }))
    ));
    let mut x = row(32);
    x[3] = f32::INFINITY;
    assert!(matches!(
        quantize_activations(&Scalar, Format::Q8_0, &x),
        Err(Error::Core(quant_core::Error::NonFinite { index: 3, .. }))
    ));
    let mut dst = vec![0u8; 33];
    assert!(matches!(
        quantize_activations_into(&Scalar, Format::Q8_0, &row(32), &mut dst),
        Err(Error::Core(quant_core::Error::LengthMismatch { .. }))
    ));
    // Unaligned destination: same bytes as the aligned path.
    let mut buf = vec![0u8; 292 + 1];
    quantize_activations_into(&Scalar, Format::Q8K, &row(256), &mut buf[1..]).unwrap();
    assert_eq!(
        &buf[1..],
        &quantize_activations(&Scalar, Format::Q8K, &row(256)).unwrap()[..]
    );
    // Plain-float "activations" are conversions.
    let f = quantize_activations(&Scalar, Format::F16, &[1.5, -2.0]).unwrap();
    assert_eq!(f, [0x00, 0x3E, 0x00, 0xC0]);
}

#[test]
fn dequantize_with_checks_lengths_and_accepts_any_alignment() {
    let bytes = quant_core::quantize(Format::Q6K, &row(256), None).unwrap();
    let want = quant_core::dequantize(Format::Q6K, &bytes, 256).unwrap();
    let mut got = vec![0.0; 256];
    dequantize_with(&Scalar, Format::Q6K, &bytes, &mut got).unwrap();
    assert_eq!(got, want);
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    dequantize_with(&Scalar, Format::Q6K, &shifted[1..], &mut got).unwrap();
    assert_eq!(got, want);
    assert!(matches!(
        dequantize_with(&Scalar, Format::Q6K, &bytes, &mut vec![0.0; 255]),
        Err(Error::Core(quant_core::Error::RaggedLength { .. }))
    ));
    assert!(matches!(
        dequantize_with(&Scalar, Format::Q6K, &bytes, &mut vec![0.0; 512]),
        Err(Error::Core(quant_core::Error::LengthMismatch { .. }))
    ));
    // q8_1 (activation-only) can be dequantized too.
    let a = quantize_activations(&Scalar, Format::Q8_1, &row(32)).unwrap();
    let mut v = vec![0.0; 32];
    dequantize_with(&Scalar, Format::Q8_1, &a, &mut v).unwrap();
    // |x| ≤ 50/60, so d ≈ 0.0066 and the rounding error is ≤ d/2 ≈ 0.0033 (plus the f16 rounding
    // of d, relative 2^-11): 0.01 leaves a factor 3 of margin.
    assert!(v.iter().zip(row(32)).all(|(a, b)| (a - b).abs() < 0.01));
}
