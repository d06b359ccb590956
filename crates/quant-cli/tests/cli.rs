//! The `quant` tool's subcommands, through their library functions and the binary itself.

use quant_cli::quantize::{Options, convert, fallback, is_quantizable};
use quant_core::Format;
use quant_gguf::{Gguf, GgufFile, GgufWriter, Value};

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("quant-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A small llama-like GGUF: a 1-D norm, a 576-column matrix (K-quants don't fit) and a
/// 512-column one, all f32.
fn small_model() -> std::path::PathBuf {
    let mut w = GgufWriter::new();
    w.set_metadata("general.architecture", Value::String("llama".into()));
    let data = |n: usize, seed: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| ((((i * 7919 + seed) % 1000) as f32 / 1000.0 - 0.5) * 0.05).to_le_bytes())
            .collect()
    };
    w.add_tensor(
        "blk.0.attn_norm.weight",
        vec![576],
        Format::F32,
        data(576, 1),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.attn_q.weight",
        vec![576, 8],
        Format::F32,
        data(576 * 8, 2),
    )
    .unwrap();
    w.add_tensor(
        "blk.0.ffn_up.weight",
        vec![512, 4],
        Format::F32,
        data(512 * 4, 3),
    )
    .unwrap();
    let p = tmp("small.gguf");
    w.write_file(&p).unwrap();
    p
}

#[test]
fn fallback_matches_llama_quantize() {
    assert_eq!(fallback(Format::Q4K, 576), Format::Q5_0);
    assert_eq!(fallback(Format::Q5K, 576), Format::Q5_1);
    assert_eq!(fallback(Format::Q6K, 576), Format::Q8_0);
    assert_eq!(fallback(Format::Q2K, 576), Format::Iq4Nl);
    assert_eq!(fallback(Format::Q3K, 576), Format::Iq4Nl);
    assert_eq!(fallback(Format::Iq4Xs, 576), Format::Iq4Nl);
    assert_eq!(fallback(Format::Q4K, 512), Format::Q4K);
    assert_eq!(fallback(Format::Q4_0, 48), Format::F16);
    assert_eq!(fallback(Format::Q4K, 48), Format::F16);
}

#[test]
fn quantize_converts_with_fallback_overrides_and_outliers() {
    let input = small_model();
    let output = tmp("small-q4k.gguf");
    let opts = Options {
        target: Format::Q4K,
        overrides: vec![(regex::Regex::new("ffn_up").unwrap(), Format::Q8_0)],
        outliers: Some(0.01),
    };
    let mut calls = 0;
    let outcomes = convert(&input, &output, &opts, |done, total, _| {
        calls += 1;
        assert!(done <= total);
    })
    .unwrap();
    assert_eq!(calls, 3);
    let by_name = |n: &str| outcomes.iter().find(|o| o.name == n).unwrap();
    assert_eq!(by_name("blk.0.attn_norm.weight").to, Format::F32);
    assert_eq!(
        by_name("blk.0.attn_q.weight").to,
        Format::Q5_0,
        "q4_K falls back on 576 columns"
    );
    assert!(by_name("blk.0.attn_q.weight").note.is_some());
    assert_eq!(
        by_name("blk.0.ffn_up.weight").to,
        Format::Q8_0,
        "override wins"
    );
    assert_eq!(
        by_name("blk.0.attn_q.weight").outliers,
        46,
        "1 % of 4608 weights"
    );
    assert!(by_name("blk.0.attn_q.weight").rel_rmse < 0.05);

    let file = GgufFile::open(&output).unwrap();
    let g = file.parse().unwrap();
    assert_eq!(
        g.get("general.architecture").and_then(Value::as_str),
        Some("llama")
    );
    assert_eq!(g.get("general.file_type"), Some(&Value::U32(14)));
    assert_eq!(
        g.tensor("blk.0.attn_q.weight").unwrap().format,
        Format::Q5_0
    );
    let table = g
        .get("quant.outliers.blk.0.attn_q.weight")
        .and_then(Value::as_array)
        .unwrap();
    let bytes: Vec<u8> = table.iter().map(|v| v.as_u64().unwrap() as u8).collect();
    let t = quant_core::outlier::OutlierTable::from_bytes(&bytes).unwrap();
    assert_eq!(t.len(), 46);
    // The reported bits/weight include the table.
    let o = by_name("blk.0.attn_q.weight");
    let expect = (Format::Q5_0.row_bytes(576).unwrap() * 8 * 8 + bytes.len() * 8) as f64 / 4608.0;
    assert!((o.bits_per_weight - expect).abs() < 1e-9);
}

#[test]
fn quantized_bytes_equal_quant_core() {
    let input = small_model();
    let output = tmp("small-q8.gguf");
    let opts = Options {
        target: Format::Q8_0,
        overrides: vec![],
        outliers: None,
    };
    convert(&input, &output, &opts, |_, _, _| {}).unwrap();
    let src = std::fs::read(&input).unwrap();
    let out = std::fs::read(&output).unwrap();
    let (a, b) = (Gguf::parse(&src).unwrap(), Gguf::parse(&out).unwrap());
    let t = a.tensor("blk.0.attn_q.weight").unwrap();
    let x = a.tensor_f32(t).unwrap();
    let expect = quant_core::quantize_matrix(Format::Q8_0, &x, 8, 576, None).unwrap();
    assert_eq!(
        b.tensor_data(b.tensor("blk.0.attn_q.weight").unwrap()),
        &expect[..]
    );
}

#[test]
fn quantizable_follows_llama_rules() {
    let t = |name: &str, dims: Vec<u64>| quant_cli::model::Tensor {
        name: name.into(),
        dims,
        format: Format::F32,
        bytes: 0,
    };
    assert!(is_quantizable(&t("blk.0.attn_q.weight", vec![64, 64])));
    assert!(!is_quantizable(&t("blk.0.attn_norm.weight", vec![64])));
    assert!(!is_quantizable(&t("blk.0.attn_q.bias", vec![64, 64])));
    assert!(!is_quantizable(&t(
        "blk.0.ffn_gate_inp.weight",
        vec![64, 8]
    )));
    assert!(!is_quantizable(&t("x.weight", vec![64, 1])));
}

#[test]
fn inspect_reports_stats_and_totals() {
    let m = quant_cli::model::ModelFile::open(&small_model()).unwrap();
    let r = quant_cli::inspect::build(&m, true).unwrap();
    assert_eq!(r.kind, "GGUF");
    assert_eq!(r.tensors.len(), 3);
    assert_eq!(r.total_values, 576 + 576 * 8 + 512 * 4);
    assert!(
        r.tensors[0].stats.is_none(),
        "1-D tensors get no statistics"
    );
    let s = r.tensors[1].stats.as_ref().unwrap();
    assert!(
        s.max_over_sigma > 1.0 && s.max_over_sigma < 3.0,
        "uniform data: {}",
        s.max_over_sigma
    );
    let mut out = Vec::new();
    quant_cli::inspect::print(&mut out, &r).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("blk.0.attn_q.weight") && text.contains("GGUF 3 tensors"));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["tensors"][1]["format"], "f32");
}

#[test]
fn float_parses_numbers_and_patterns() {
    use quant_core::float::FloatFormat;
    assert_eq!(
        quant_cli::float::parse_input("1.0", FloatFormat::F16).unwrap(),
        0x3c00
    );
    assert_eq!(
        quant_cli::float::parse_input("0x3c00", FloatFormat::F16).unwrap(),
        0x3c00
    );
    assert_eq!(
        quant_cli::float::parse_input("0b0_0111_000", FloatFormat::E4M3).unwrap(),
        0x38
    );
    assert!(quant_cli::float::parse_input("0x1ff", FloatFormat::E4M3).is_err());
    assert!(quant_cli::float::parse_input("abc", FloatFormat::F32).is_err());
    let mut out = Vec::new();
    quant_cli::float::print(&mut out, FloatFormat::E4M3, 0x1d, Some(0.1), false).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("0.1015625"), "{text}");
    assert!(text.contains("not representable"));
}

#[test]
fn report_covers_every_weight_format() {
    let mut out = Vec::new();
    quant_cli::report::run(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for f in quant_cli::report::report_formats() {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{:<8} ", f.name()))),
            "{f} missing:\n{text}"
        );
    }
    let q8 = quant_cli::report::measure(Format::Q8_0, &quant_core::sample::minilm_rows(), 8, 1536)
        .unwrap();
    let q4 = quant_cli::report::measure(Format::Q4K, &quant_core::sample::minilm_rows(), 8, 1536)
        .unwrap();
    assert!(q8.rel_rmse < q4.rel_rmse && q8.bits_per_weight == 8.5 && q4.bits_per_weight == 4.5);
}

#[test]
fn binary_runs_and_rejects_bad_input() {
    let bin = env!("CARGO_BIN_EXE_quant");
    let ok = std::process::Command::new(bin)
        .args(["float", "0.1", "--as", "bf16"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("0.10009765625"));
    let bad = std::process::Command::new(bin)
        .args(["inspect", "/nonexistent.gguf"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("quant: "));
    let bad_type = std::process::Command::new(bin)
        .args(["quantize", "a", "b", "--type", "q9_9"])
        .output()
        .unwrap();
    assert!(!bad_type.status.success());
}
