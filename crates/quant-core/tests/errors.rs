//! One test per `quant_core::Error` variant, triggered through the public API, asserting the
//! exact variant, its fields and its message.

use quant_core::formats::{BlockQ4K, BlockQ8_0, BlockQ8K};
use quant_core::{
    Error, Format, blocks_as_bytes, blocks_from_bytes, blocks_from_bytes_mut,
    blocks_from_bytes_unaligned, dequantize, dequantize_into, dequantize_matrix, quantize,
    quantize_into, quantize_matrix, quantize_row,
};

fn row(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect()
}

#[test]
fn non_finite() {
    let mut x = row(64);
    x[40] = f32::NEG_INFINITY;
    x[5] = f32::NAN;
    match quantize(Format::Q4_0, &x, None) {
        Err(Error::NonFinite { index: 5, value }) => assert!(value.is_nan()),
        other => panic!("{other:?}"),
    }
    x[5] = 1.0;
    let e = quantize(Format::Q8_0, &x, None).unwrap_err();
    assert_eq!(
        e,
        Error::NonFinite {
            index: 40,
            value: f32::NEG_INFINITY
        }
    );
    assert_eq!(e.to_string(), "non-finite input value -inf at index 40");
    // In a matrix the index is into the whole matrix (row 2, column 3 of 256 columns).
    let mut m = row(4 * 256);
    m[2 * 256 + 3] = f32::INFINITY;
    assert_eq!(
        quantize_matrix(Format::Q4K, &m, 4, 256, None).unwrap_err(),
        Error::NonFinite {
            index: 515,
            value: f32::INFINITY
        }
    );
}

#[test]
fn invalid_importance() {
    let x = row(256);
    let mut w = vec![1.0f32; 256];
    w[7] = -0.5;
    let e = quantize(Format::Q4K, &x, Some(&w)).unwrap_err();
    assert_eq!(
        e,
        Error::InvalidImportance {
            index: 7,
            value: -0.5
        }
    );
    assert_eq!(
        e.to_string(),
        "invalid importance weight -0.5 at index 7 (must be finite and >= 0)"
    );
    w[7] = 1.0;
    w[200] = f32::INFINITY;
    // Formats that ignore importance still validate it.
    assert_eq!(
        quantize(Format::Q8_0, &x, Some(&w)).unwrap_err(),
        Error::InvalidImportance {
            index: 200,
            value: f32::INFINITY
        }
    );
    // quantize_matrix takes one weight per column.
    let m = row(2 * 256);
    assert_eq!(
        quantize_matrix(Format::Q4K, &m, 2, 256, Some(&w)).unwrap_err(),
        Error::InvalidImportance {
            index: 200,
            value: f32::INFINITY
        }
    );
}

#[test]
fn ragged_length() {
    let e = quantize(Format::Q4_0, &row(33), None).unwrap_err();
    assert_eq!(
        e,
        Error::RaggedLength {
            len: 33,
            block_len: 32
        }
    );
    assert_eq!(
        e.to_string(),
        "row length 33 is not a multiple of the block length 32"
    );
    assert_eq!(
        dequantize(Format::Q4K, &[0u8; 144], 100).unwrap_err(),
        Error::RaggedLength {
            len: 100,
            block_len: 256
        }
    );
    let mut out = vec![0.0f32; 31];
    assert_eq!(
        dequantize_into(Format::Q8_0, &[0u8; 34], &mut out).unwrap_err(),
        Error::RaggedLength {
            len: 31,
            block_len: 32
        }
    );
    assert_eq!(
        quantize_matrix(Format::Q8_0, &row(2 * 48), 2, 48, None).unwrap_err(),
        Error::RaggedLength {
            len: 48,
            block_len: 32
        }
    );
    assert_eq!(
        Format::Iq4Xs.row_bytes(255).unwrap_err(),
        Error::RaggedLength {
            len: 255,
            block_len: 256
        }
    );
}

#[test]
fn ragged_bytes() {
    let bytes = [0u8; 35];
    let e = blocks_from_bytes::<BlockQ8_0>(&bytes).unwrap_err();
    assert_eq!(
        e,
        Error::RaggedBytes {
            len: 35,
            block_bytes: 34
        }
    );
    assert_eq!(
        e.to_string(),
        "byte length 35 is not a multiple of the block size 34"
    );
    assert_eq!(
        blocks_from_bytes_unaligned::<BlockQ4K>(&[0u8; 145]).unwrap_err(),
        Error::RaggedBytes {
            len: 145,
            block_bytes: 144
        }
    );
    let mut m = [0u8; 300];
    assert_eq!(
        blocks_from_bytes_mut::<BlockQ8K>(&mut m).unwrap_err(),
        Error::RaggedBytes {
            len: 300,
            block_bytes: 292
        }
    );
}

#[test]
fn misaligned() {
    // Blocks of q8_K hold an f32, so a zero-copy view needs 4-byte alignment.
    assert_eq!(core::mem::align_of::<BlockQ8K>(), 4);
    let blocks = quant_core::quantize_row_to_vec::<BlockQ8K>(&row(512), None).unwrap();
    let mut storage: Vec<u32> = vec![0; (2 * 292) / 4 + 1];
    let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut storage);
    buf[1..=584].copy_from_slice(blocks_as_bytes(&blocks));
    let e = blocks_from_bytes::<BlockQ8K>(&buf[1..=584]).unwrap_err();
    assert_eq!(e, Error::Misaligned { align: 4 });
    assert_eq!(
        e.to_string(),
        "byte buffer is not aligned to 4 bytes for a zero-copy block view"
    );
    assert_eq!(
        blocks_from_bytes_mut::<BlockQ8K>(&mut buf[1..=584]).unwrap_err(),
        Error::Misaligned { align: 4 }
    );
    // The copying path accepts the same bytes, and the runtime API dequantizes them.
    let copied = blocks_from_bytes_unaligned::<BlockQ8K>(&buf[1..=584]).unwrap();
    assert_eq!(copied, blocks);
    let y = dequantize(Format::Q8K, &buf[1..=584], 512).unwrap();
    assert_eq!(y, quant_core::dequantize_row_to_vec(&blocks));
}

#[test]
fn length_mismatch() {
    let e = dequantize(Format::Q8_0, &[0u8; 33], 32).unwrap_err();
    assert_eq!(
        e,
        Error::LengthMismatch {
            what: "source bytes",
            expected: 34,
            actual: 33
        }
    );
    assert_eq!(
        e.to_string(),
        "length mismatch for source bytes: expected 34, got 33"
    );
    let mut dst = vec![0u8; 35];
    assert_eq!(
        quantize_into(Format::Q8_0, &row(32), None, &mut dst).unwrap_err(),
        Error::LengthMismatch {
            what: "destination bytes",
            expected: 34,
            actual: 35
        }
    );
    assert_eq!(
        quantize(Format::Q4K, &row(256), Some(&[1.0; 255])).unwrap_err(),
        Error::LengthMismatch {
            what: "importance weights",
            expected: 256,
            actual: 255
        }
    );
    let mut blocks = vec![<BlockQ8_0 as bytemuck::Zeroable>::zeroed(); 3];
    assert_eq!(
        quantize_row(&row(64), None, &mut blocks).unwrap_err(),
        Error::LengthMismatch {
            what: "destination blocks",
            expected: 2,
            actual: 3
        }
    );
    assert_eq!(
        quantize_matrix(Format::Q8_0, &row(64), 3, 32, None).unwrap_err(),
        Error::LengthMismatch {
            what: "matrix values",
            expected: 96,
            actual: 64
        }
    );
    assert_eq!(
        dequantize_matrix(Format::Q8_0, &[0u8; 34 * 3], 2, 32).unwrap_err(),
        Error::LengthMismatch {
            what: "matrix bytes",
            expected: 68,
            actual: 102
        }
    );
}

#[test]
fn unsupported() {
    // No public function returns `Unsupported` today: every built-in format accepts (and, where
    // ggml ignores it, ignores) an importance matrix, so the variant cannot be triggered through
    // the API. Check its message so that a future producer reports it readably.
    let e = Error::Unsupported {
        format: Format::Q8K,
        operation: "importance weights",
    };
    assert_eq!(
        e.to_string(),
        "format q8_K does not support importance weights"
    );
    let w = vec![1.0f32; 256];
    assert!(quantize(Format::Q8K, &row(256), Some(&w)).is_ok());
}

#[test]
fn unknown_format() {
    let e = "q9_0".parse::<Format>().unwrap_err();
    assert_eq!(e, Error::UnknownFormat("q9_0".to_owned()));
    assert_eq!(e.to_string(), "unknown format \"q9_0\"");
    assert_eq!(
        "e9m9"
            .parse::<quant_core::float::FloatFormat>()
            .unwrap_err(),
        Error::UnknownFormat("e9m9".to_owned())
    );
    assert_eq!(Format::from_ggml_type_id(4), None); // q4_2, removed from ggml
}
