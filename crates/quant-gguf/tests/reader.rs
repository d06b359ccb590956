//! GGUF reader/writer: round trips, every value type, and typed errors for malformed files.

use quant_core::Format;
use quant_gguf::{Gguf, GgufError, GgufWriter, Value, ValueType};

fn sample_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.set_metadata("general.architecture", Value::String("llama".into()));
    w.set_metadata("u8", Value::U8(7));
    w.set_metadata("i8", Value::I8(-7));
    w.set_metadata("u16", Value::U16(65535));
    w.set_metadata("i16", Value::I16(-32768));
    w.set_metadata("u32", Value::U32(1 << 31));
    w.set_metadata("i32", Value::I32(-5));
    w.set_metadata("f32", Value::F32(1.5));
    w.set_metadata("bool", Value::Bool(true));
    w.set_metadata("u64", Value::U64(u64::MAX));
    w.set_metadata("i64", Value::I64(i64::MIN));
    w.set_metadata("f64", Value::F64(-0.25));
    w.set_metadata(
        "tokens",
        Value::Array {
            elem: ValueType::String,
            values: vec![Value::String("a".into()), Value::String("ü".into())],
        },
    );
    w.set_metadata(
        "empty",
        Value::Array {
            elem: ValueType::F32,
            values: vec![],
        },
    );
    w.set_metadata(
        "nested",
        Value::Array {
            elem: ValueType::Array,
            values: vec![Value::Array {
                elem: ValueType::I32,
                values: vec![Value::I32(1), Value::I32(2)],
            }],
        },
    );
    let x: Vec<f32> = (0..512)
        .map(|i| ((i * 7919) % 113) as f32 / 50.0 - 1.1)
        .collect();
    w.add_tensor("f32", vec![256, 2], Format::F32, bytemuck_bytes(&x))
        .unwrap();
    w.add_tensor(
        "q4k",
        vec![256, 2],
        Format::Q4K,
        quant_core::quantize(Format::Q4K, &x, None).unwrap(),
    )
    .unwrap();
    w.add_tensor(
        "q8_0",
        vec![64, 8],
        Format::Q8_0,
        quant_core::quantize(Format::Q8_0, &x, None).unwrap(),
    )
    .unwrap();
    w.add_tensor(
        "f16",
        vec![512],
        Format::F16,
        quant_core::quantize(Format::F16, &x, None).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    w.write_to(&mut out).unwrap();
    out
}

fn bytemuck_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn round_trip_is_byte_identical_and_values_survive() {
    let bytes = sample_file();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.tensors.len(), 4);
    assert_eq!(g.get("i16"), Some(&Value::I16(-32768)));
    assert_eq!(g.get("u64").and_then(Value::as_u64), Some(u64::MAX));
    assert_eq!(
        g.get("tokens")
            .and_then(Value::as_array)
            .map(|a| a[1].as_str()),
        Some(Some("ü"))
    );
    assert_eq!(g.data_offset % 32, 0);
    for t in &g.tensors {
        assert_eq!(t.offset % 32, 0, "{}", t.name);
    }
    let f = g.tensor_f32(g.tensor("f32").unwrap()).unwrap();
    assert_eq!(f.len(), 512);
    assert_eq!(f[3], ((3 * 7919) % 113) as f32 / 50.0 - 1.1);
    let q = g.tensor_f32(g.tensor("q4k").unwrap()).unwrap();
    let err = f
        .iter()
        .zip(&q)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 0.1, "q4_K max error {err} on values in [-1.1, 1.2]");
    let blocks = g
        .tensor_blocks::<quant_core::formats::BlockQ8_0>(g.tensor("q8_0").unwrap())
        .unwrap();
    assert_eq!(blocks.len(), 16);
    assert!(
        matches!(blocks, std::borrow::Cow::Borrowed(_)),
        "aligned data is not copied"
    );
    assert!(
        g.tensor_blocks::<quant_core::formats::BlockQ4K>(g.tensor("q8_0").unwrap())
            .is_err()
    );

    let mut again = Vec::new();
    GgufWriter::from_gguf(&g).write_to(&mut again).unwrap();
    assert_eq!(again, bytes, "read → write is byte-identical");
}

#[test]
fn every_truncation_is_a_typed_error() {
    let bytes = sample_file();
    let g = Gguf::parse(&bytes).unwrap();
    let data_end = g.data_offset as usize;
    for len in 0..bytes.len() {
        match Gguf::parse(&bytes[..len]) {
            Err(
                GgufError::Truncated { .. }
                | GgufError::AbsurdCount { .. }
                | GgufError::TensorOutOfBounds { .. },
            ) => {}
            Ok(_) => panic!("prefix of {len} bytes parsed"),
            Err(e) => panic!("prefix of {len} bytes: unexpected {e}"),
        }
        if len > data_end + 64 {
            break; // past the header every prefix cuts tensor data: checked above
        }
    }
}

fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut v = b"GGUF".to_vec();
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&n_tensors.to_le_bytes());
    v.extend_from_slice(&n_kv.to_le_bytes());
    v
}

fn put_str(v: &mut Vec<u8>, s: &str) {
    v.extend_from_slice(&(s.len() as u64).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
}

#[test]
fn malicious_headers_are_rejected_without_allocating() {
    assert!(matches!(
        Gguf::parse(b"GGML\0\0\0\0"),
        Err(GgufError::BadMagic(_))
    ));
    assert!(matches!(
        Gguf::parse(&header(1, 0, 0)),
        Err(GgufError::UnsupportedVersion(1))
    ));
    assert!(
        matches!(Gguf::parse(&header(3, 1 << 60, 0)), Err(GgufError::AbsurdCount { count, .. }) if count == 1 << 60)
    );
    assert!(matches!(
        Gguf::parse(&header(3, 0, u64::MAX)),
        Err(GgufError::AbsurdCount { .. })
    ));

    // A string claiming 2^62 bytes.
    let mut v = header(3, 0, 1);
    v.extend_from_slice(&(1u64 << 62).to_le_bytes());
    v.extend_from_slice(&[0; 16]);
    assert!(matches!(
        Gguf::parse(&v),
        Err(GgufError::AbsurdCount { .. })
    ));

    // An array claiming 2^40 u64 elements.
    let mut v = header(3, 0, 1);
    put_str(&mut v, "a");
    v.extend_from_slice(&9u32.to_le_bytes());
    v.extend_from_slice(&10u32.to_le_bytes());
    v.extend_from_slice(&(1u64 << 40).to_le_bytes());
    v.extend_from_slice(&[0; 32]);
    assert!(matches!(
        Gguf::parse(&v),
        Err(GgufError::AbsurdCount { .. })
    ));

    // Invalid value type, invalid UTF-8, duplicate key.
    let mut v = header(3, 0, 1);
    put_str(&mut v, "a");
    v.extend_from_slice(&13u32.to_le_bytes());
    v.extend_from_slice(&[0; 16]);
    assert!(matches!(
        Gguf::parse(&v),
        Err(GgufError::InvalidValueType(13))
    ));
    let mut v = header(3, 0, 1);
    v.extend_from_slice(&2u64.to_le_bytes());
    v.extend_from_slice(&[0xff, 0xfe]);
    v.extend_from_slice(&[0; 16]);
    assert!(matches!(
        Gguf::parse(&v),
        Err(GgufError::InvalidUtf8 { .. })
    ));
    let mut v = header(3, 0, 2);
    for _ in 0..2 {
        put_str(&mut v, "k");
        v.extend_from_slice(&0u32.to_le_bytes());
        v.push(1);
    }
    assert!(matches!(Gguf::parse(&v), Err(GgufError::DuplicateKey(k)) if k == "k"));

    // Deeply nested arrays.
    let mut v = header(3, 0, 1);
    put_str(&mut v, "deep");
    v.extend_from_slice(&9u32.to_le_bytes());
    for _ in 0..20 {
        v.extend_from_slice(&9u32.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
    }
    v.extend_from_slice(&[0; 64]);
    assert!(matches!(Gguf::parse(&v), Err(GgufError::NestingTooDeep(_))));

    // Bad alignment.
    let mut v = header(3, 0, 1);
    put_str(&mut v, "general.alignment");
    v.extend_from_slice(&4u32.to_le_bytes());
    v.extend_from_slice(&24u32.to_le_bytes());
    assert!(matches!(
        Gguf::parse(&v),
        Err(GgufError::InvalidAlignment(24))
    ));
}

fn one_tensor(dims: &[u64], type_id: u32, offset: u64, data: usize) -> Vec<u8> {
    let mut v = header(3, 1, 0);
    put_str(&mut v, "t");
    v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        v.extend_from_slice(&d.to_le_bytes());
    }
    v.extend_from_slice(&type_id.to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v.resize(v.len().div_ceil(32) * 32 + data, 0);
    v
}

#[test]
fn bad_tensor_infos_are_rejected() {
    assert!(one_tensor(&[32], 8, 0, 34).len() > 34);
    assert!(Gguf::parse(&one_tensor(&[32], 8, 0, 34)).is_ok());
    assert!(matches!(
        Gguf::parse(&one_tensor(&[32], 8, 0, 33)),
        Err(GgufError::TensorOutOfBounds { .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[32], 8, 16, 64)),
        Err(GgufError::MisalignedTensor { .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[33], 8, 0, 64)),
        Err(GgufError::RaggedRows { .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[32], 77, 0, 64)),
        Err(GgufError::UnsupportedType { type_id: 77, .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[32, 0], 8, 0, 64)),
        Err(GgufError::InvalidShape { .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[1 << 40, 1 << 40], 0, 0, 64)),
        Err(GgufError::InvalidShape { .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[1 << 32, 1 << 28], 0, 0, 64)),
        Err(GgufError::TensorOutOfBounds { .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[32, 1, 1, 1, 1], 8, 0, 64)),
        Err(GgufError::InvalidShape { .. })
    ));
    assert!(matches!(
        Gguf::parse(&one_tensor(&[32], 8, u64::MAX - 31, 64)),
        Err(GgufError::TensorOutOfBounds { .. })
    ));

    // 2^62 f32 values: 2^64 bytes overflow u64 (found by the fuzzer): out of bounds, no panic.
    assert!(matches!(
        Gguf::parse(&one_tensor(&[1 << 31, 1 << 30, 2], 0, 0, 64)),
        Err(GgufError::TensorOutOfBounds { .. })
    ));

    // Two tensors whose data overlap.
    let mut v = header(3, 2, 0);
    for name in ["a", "b"] {
        put_str(&mut v, name);
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&64u64.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&0u64.to_le_bytes());
    }
    v.resize(v.len().div_ceil(32) * 32 + 256, 0);
    assert!(matches!(Gguf::parse(&v), Err(GgufError::Overlap { .. })));
}

#[test]
fn writer_rejects_inconsistent_tensors() {
    let mut w = GgufWriter::new();
    assert!(matches!(
        w.add_tensor("a", vec![32], Format::Q8_0, vec![0u8; 33]),
        Err(GgufError::DataSize { .. })
    ));
    assert!(matches!(
        w.add_tensor("a", vec![31], Format::Q8_0, vec![0u8; 34]),
        Err(GgufError::RaggedRows { .. })
    ));
    assert!(matches!(
        w.add_tensor("a", vec![], Format::Q8_0, vec![]),
        Err(GgufError::InvalidShape { .. })
    ));
    w.add_tensor("a", vec![32], Format::Q8_0, vec![0u8; 34])
        .unwrap();
    assert!(matches!(
        w.add_tensor("a", vec![32], Format::Q8_0, vec![0u8; 34]),
        Err(GgufError::DuplicateTensor(_))
    ));
    assert!(w.set_version(1).is_err());
    w.set_metadata("general.alignment", Value::U32(64));
    let mut out = Vec::new();
    w.write_to(&mut out).unwrap();
    let g = Gguf::parse(&out).unwrap();
    assert_eq!((g.alignment, g.data_offset % 64), (64, 0));
}

/// The real SmolLM2 GGUF from the PyPI wheel (scripts/fetch-data.sh smollm2): parses, every
/// tensor dequantizes, and read → write is byte-identical. Skipped when the file is absent.
#[test]
fn real_model_round_trip() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/smollm2-135m-instruct-q4_1.gguf");
    if !path.exists() {
        eprintln!(
            "skipped: {} absent (scripts/fetch-data.sh smollm2)",
            path.display()
        );
        return;
    }
    let file = quant_gguf::GgufFile::open(&path).unwrap();
    let g = file.parse().unwrap();
    assert_eq!(
        g.get("general.architecture").and_then(Value::as_str),
        Some("llama")
    );
    assert_eq!(g.tensors.len(), 272);
    let t = g.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(t.dims, vec![576, 576]);
    let w = g.tensor_f32(t).unwrap();
    assert!(w.iter().all(|v| v.is_finite()));
    let mut out = Vec::with_capacity(file.bytes().len());
    GgufWriter::from_gguf(&g).write_to(&mut out).unwrap();
    assert!(
        out == file.bytes(),
        "read → write of the real model is byte-identical"
    );
}

/// The fuzz target's seed corpus holds a valid file (so fuzzing starts from a parsing input) and
/// a truncated one.
#[test]
fn fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/gguf_parse");
    let valid = std::fs::read(dir.join("valid.gguf")).unwrap();
    let g = Gguf::parse(&valid).unwrap();
    assert_eq!(g.tensors.len(), 2);
    assert_eq!(
        g.get("general.architecture").and_then(Value::as_str),
        Some("llama")
    );
    assert_eq!(
        g.tensor_f32(g.tensor("b").unwrap()).unwrap(),
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    );
    let truncated = std::fs::read(dir.join("truncated.gguf")).unwrap();
    assert!(Gguf::parse(&truncated).is_err());
}
