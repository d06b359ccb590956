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
    // A file per call: tests run in parallel and the reader memory-maps its input, so rewriting
    // a file another test has mapped would fault (SIGBUS).
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = tmp(&format!("small-{n}.gguf"));
    w.write_file(&p).unwrap();
    p
}

#[test]
fn fallback_matches_llama_quantize() {
    assert_eq!(fallback(Format::Q4K, 576), Format::Q5_0);
    assert_eq!(fallback(Format::Q5K, 576), Format::Q5_1);
    assert_eq!(fallback(Format::Q6K, 576), Format::Q8_0);
    assert_eq!(fallback(Format::Q2K, 576), Format::Q4_0);
    assert_eq!(fallback(Format::Q3K, 576), Format::Q4_0);
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
        imatrix: None,
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
    // `quant inspect` counts the stored table too, per tensor and in the total.
    let m = quant_cli::model::ModelFile::open(&output).unwrap();
    let r = quant_cli::inspect::build(&m, false).unwrap();
    let q = r
        .tensors
        .iter()
        .find(|t| t.name == "blk.0.attn_q.weight")
        .unwrap();
    assert_eq!(q.outliers, 46);
    assert_eq!(
        q.bytes as usize,
        Format::Q5_0.row_bytes(576).unwrap() * 8 + bytes.len()
    );
    assert!((q.bits_per_weight - expect).abs() < 1e-9);
    assert_eq!(
        r.total_bytes,
        r.tensors.iter().map(|t| t.bytes).sum::<u64>()
    );
    let mut summary = Vec::new();
    quant_cli::quantize::print_summary(&mut summary, &outcomes).unwrap();
    let summary = String::from_utf8(summary).unwrap();
    assert!(
        summary.contains("bits/weight over the converted tensors"),
        "{summary}"
    );
}

#[test]
fn quantized_bytes_equal_quant_core() {
    let input = small_model();
    let output = tmp("small-q8.gguf");
    let opts = Options {
        target: Format::Q8_0,
        overrides: vec![],
        outliers: None,
        imatrix: None,
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
    // The dot-throughput column: a positive number for every format (all have a dot product).
    for l in text
        .lines()
        .filter(|l| l.starts_with("q4_K ") || l.starts_with("f16 "))
    {
        let dot: f64 = l.split_whitespace().last().unwrap().parse().unwrap();
        assert!(dot.is_finite() && dot > 0.0, "{l}");
    }
    assert!(text.contains("dot v/ns"));
    let q8 = quant_cli::report::measure(Format::Q8_0, &quant_core::sample::minilm_rows(), 8, 1536)
        .unwrap();
    let q4 = quant_cli::report::measure(Format::Q4K, &quant_core::sample::minilm_rows(), 8, 1536)
        .unwrap();
    assert!(q8.rel_rmse < q4.rel_rmse && q8.bits_per_weight == 8.5 && q4.bits_per_weight == 4.5);
    // The outlier table (0.1 % = 12 of 12288 weights, the 175σ one among them) lowers the error;
    // its cost is the serialized table: at least 12 × (2-byte column + 2-byte f16 value) and,
    // with its headers (32 + 4·(8 + 1) bytes today), well under 0.1 bits per weight.
    let t4 = q4.rel_rmse_with_table.unwrap();
    assert!(t4 < q4.rel_rmse, "{t4} vs {}", q4.rel_rmse);
    let tb = q4.table_bits_per_weight.unwrap();
    assert!((12.0 * 4.0 * 8.0 / 12288.0..0.1).contains(&tb), "{tb}");
    let f16 = quant_cli::report::measure(Format::F16, &quant_core::sample::minilm_rows(), 8, 1536)
        .unwrap();
    assert_eq!(f16.rel_rmse_with_table, None, "no tables for plain floats");
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

// ---------------------------------------------------------------------------------------------
// quant bench

fn run_quant(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_quant"))
        .args(args)
        .output()
        .unwrap()
}

fn positive(v: &serde_json::Value, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x.is_finite() && x > 0.0, "{what} = {x}");
    x
}

#[test]
fn bench_json_has_every_format_backend_and_positive_numbers() {
    let out = run_quant(&["bench", "--quick", "--formats", "q4_0,q8_0,q8_1", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let backends: Vec<String> = quant_kernels::available()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    assert_eq!(
        j["backends"],
        serde_json::json!(backends),
        "every available backend, best first"
    );
    assert_eq!(j["row_len"], 4096);
    let kernels = j["kernels"].as_array().unwrap();
    assert_eq!(kernels.len(), 3 * backends.len());
    for k in kernels {
        let (f, b) = (
            k["format"].as_str().unwrap(),
            k["backend"].as_str().unwrap(),
        );
        let what = format!("{f} on {b}");
        positive(&k["dequantize_values_per_ns"], &what);
        match f {
            "q8_1" => {
                // Activation-only: no dot product, but a quantizer.
                assert!(k["dot_ns_per_row"].is_null() && k["activation"].is_null());
                positive(&k["quantize_values_per_ns"], &what);
            }
            _ => {
                let ns = positive(&k["dot_ns_per_row"], &what);
                let v = positive(&k["dot_values_per_ns"], &what);
                // values/ns is derived from ns/row: 4096 / ns (f64 arithmetic, relative 1e-12).
                assert!((v * ns / 4096.0 - 1.0).abs() < 1e-12);
                assert_eq!(k["activation"], "q8_0");
                assert_eq!(
                    k["quantize_values_per_ns"].is_null(),
                    f == "q4_0",
                    "{what}: only activation formats have a quantizer"
                );
            }
        }
    }
    for key in ["gb_per_s_1_thread", "gb_per_s_all_threads"] {
        positive(&j["stream"][key], key);
    }
    assert_eq!(j["stream"]["bytes"], 64 << 20, "--quick streams 64 MiB");
    let mv = j["matvec"].as_array().unwrap();
    let threads = j["threads"].as_u64().unwrap();
    let mut seen: Vec<(String, u64)> = mv
        .iter()
        .map(|m| {
            (
                m["format"].as_str().unwrap().to_owned(),
                m["threads"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let mut want = vec![
        ("q4_0".to_owned(), 1),
        ("q4_0".to_owned(), threads),
        ("q8_0".to_owned(), 1),
        ("q8_0".to_owned(), threads),
    ];
    want.sort();
    assert_eq!(seen, want, "matvec: the default formats among --formats");
    for m in mv {
        assert_eq!(m["cols"], 14336);
        assert!(
            m["weight_bytes"].as_u64().unwrap() >= 64 << 20,
            "out of cache"
        );
        assert_eq!(m["backend"], backends[0].as_str());
        for key in ["ms_per_call", "gb_per_s", "percent_of_stream"] {
            positive(&m[key], key);
        }
    }
}

#[test]
fn bench_table_is_aligned_and_marks_nothing_for_one_backend() {
    let out = run_quant(&[
        "bench",
        "--quick",
        "--backend",
        "scalar",
        "--formats",
        "q4_K,q8_K",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("quant bench: ") && lines[0].ends_with("backends: scalar"));
    let header = lines
        .iter()
        .position(|l| l.starts_with("format × act"))
        .unwrap_or_else(|| panic!("no header:\n{text}"));
    let rows = &lines[header + 1..header + 3];
    assert!(rows[0].starts_with("q4_K   × q8_K") && rows[1].starts_with("q8_K   × q8_K"));
    // Columns: dot values/ns, dot ns/row, dequantize values/ns; numbers right-aligned under the
    // header, every one positive; no `*` with a single backend.
    for r in rows {
        let nums: Vec<f64> = r[16..]
            .split_whitespace()
            .map(|s| s.parse::<f64>().unwrap())
            .collect();
        assert_eq!(nums.len(), 3, "{r}");
        assert!(nums.iter().all(|x| x.is_finite() && *x > 0.0), "{r}");
        assert_eq!(r.chars().count(), lines[header].chars().count(), "{r}");
    }
    assert!(!text.contains('*'));
    assert!(
        text.contains("quantize f32 →"),
        "q8_K is an activation format"
    );
    assert!(text.contains("streaming read of 64 MiB"));
    let mv = lines
        .iter()
        .filter(|l| l.starts_with("q4_K ") && l.ends_with('%'))
        .count();
    assert_eq!(mv, 2, "matvec rows (1 and all threads):\n{text}");
}

#[test]
fn bench_marks_the_fastest_backend_and_rejects_unknown_ones() {
    let r = quant_cli::bench::BenchReport {
        cpu: "test".into(),
        threads: 2,
        backends: vec!["fast".into(), "slow".into()],
        row_len: 4096,
        budget_ms: 3.0,
        kernels: ["fast", "slow"]
            .iter()
            .zip([100.0, 1000.0])
            .map(|(b, ns)| quant_cli::bench::KernelTiming {
                format: "q4_0".into(),
                activation: Some("q8_0".into()),
                backend: (*b).into(),
                dot_ns_per_row: Some(ns),
                dot_values_per_ns: Some(4096.0 / ns),
                dequantize_values_per_ns: Some(if *b == "fast" { 1.0 } else { 2.0 }),
                quantize_values_per_ns: None,
            })
            .collect(),
        stream: Some(quant_cli::bench::StreamTiming {
            bytes: 1 << 20,
            threads: 2,
            gb_per_s_1_thread: 10.0,
            gb_per_s_all_threads: 15.0,
        }),
        matvec: vec![],
    };
    let mut out = Vec::new();
    quant_cli::bench::print(&mut out, &r).unwrap();
    let text = String::from_utf8(out).unwrap();
    let row = text.lines().find(|l| l.starts_with("q4_0")).unwrap();
    let cells: Vec<&str> = row[16..].split_whitespace().collect();
    assert_eq!(
        cells,
        ["40.96*", "4.096", "100.0", "1.000", "2.000*"],
        "{row}"
    );

    let bad = run_quant(&["bench", "--quick", "--backend", "nosuch"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.starts_with("quant: backend \"nosuch\" is not available") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!run_quant(&["bench", "--formats", "q9_9"]).status.success());
}

// ---------------------------------------------------------------------------------------------
// quant quantize --imatrix

use quant_cli::imatrix::{Imatrix, ImatrixError, ImatrixKind};

/// A legacy `.dat` imatrix as llama-imatrix writes it: entries `(name, ncall, values)`, then the
/// optional `last_call` + dataset trailer.
fn legacy_bytes(entries: &[(&str, i32, &[f32])], trailer: Option<(i32, &str)>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend((entries.len() as i32).to_le_bytes());
    for (name, ncall, values) in entries {
        b.extend((name.len() as i32).to_le_bytes());
        b.extend(name.as_bytes());
        b.extend(ncall.to_le_bytes());
        b.extend((values.len() as i32).to_le_bytes());
        for v in *values {
            b.extend(v.to_le_bytes());
        }
    }
    if let Some((last, dataset)) = trailer {
        b.extend(last.to_le_bytes());
        b.extend((dataset.len() as i32).to_le_bytes());
        b.extend(dataset.as_bytes());
    }
    b
}

/// A GGUF imatrix as llama-imatrix writes it: per entry `<name>.in_sum2` `[n, 1]` and
/// `<name>.counts` `[1, 1]`, with the three metadata keys llama-quantize requires.
fn gguf_imatrix(entries: &[(&str, f32, &[f32])]) -> GgufWriter<'static> {
    let mut w = GgufWriter::new();
    w.set_metadata("general.type", Value::String("imatrix".into()));
    w.set_metadata(
        "imatrix.datasets",
        Value::Array {
            elem: quant_gguf::ValueType::String,
            values: vec![Value::String("calib.txt".into())],
        },
    );
    w.set_metadata("imatrix.chunk_count", Value::U32(12));
    w.set_metadata("imatrix.chunk_size", Value::U32(512));
    for (name, count, sums) in entries {
        let bytes: Vec<u8> = sums.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.add_tensor(
            &format!("{name}.in_sum2"),
            vec![sums.len() as u64, 1],
            Format::F32,
            bytes,
        )
        .unwrap();
        w.add_tensor(
            &format!("{name}.counts"),
            vec![1, 1],
            Format::F32,
            count.to_le_bytes().to_vec(),
        )
        .unwrap();
    }
    w
}

fn gguf_bytes(w: &GgufWriter<'_>) -> Vec<u8> {
    let mut b = Vec::new();
    w.write_to(&mut b).unwrap();
    b
}

/// Positive, far from uniform importance (a few columns dominate, as real activations do).
fn raw_importance(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let h = (i * 2654435761 + seed * 40503) % 1000;
            if h < 30 {
                50.0 + h as f32
            } else {
                0.01 + h as f32 / 1000.0
            }
        })
        .collect()
}

#[test]
fn imatrix_legacy_divides_by_ncall_and_reads_trailer() {
    let v = raw_importance(64, 1);
    let m = Imatrix::parse(&legacy_bytes(
        &[("a.weight", 7, &v), ("b.weight", 0, &v[..32])],
        Some((12, "wiki.train.raw")),
    ))
    .unwrap();
    assert_eq!(m.kind, ImatrixKind::Legacy);
    assert_eq!(m.datasets, ["wiki.train.raw"]);
    assert_eq!(m.chunk_count, Some(12));
    // llama-quantize: `v /= ncall` in f32; ncall 0 keeps the stored values.
    let expect: Vec<f32> = v.iter().map(|x| x / 7.0f32).collect();
    assert_eq!(m.entries["a.weight"].values, expect);
    assert_eq!(m.entries["b.weight"].values, &v[..32]);
    // Without the trailer (older files) too.
    let m = Imatrix::parse(&legacy_bytes(&[("a.weight", 7, &v)], None)).unwrap();
    assert_eq!((m.chunk_count, m.datasets.len()), (None, 0));
}

#[test]
fn imatrix_gguf_divides_by_counts_and_fills_unseen_experts_with_one() {
    let s = raw_importance(32, 2);
    let mut w = gguf_imatrix(&[("a.weight", 1234.0, &s)]);
    // An MoE entry: 2 experts of 8 columns, the second never routed to (count 0).
    let sums: Vec<u8> = (0..16).flat_map(|i| (i as f32).to_le_bytes()).collect();
    w.add_tensor("moe.weight.in_sum2", vec![8, 2], Format::F32, sums)
        .unwrap();
    let counts: Vec<u8> = [4.0f32, 0.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    w.add_tensor("moe.weight.counts", vec![1, 2], Format::F32, counts)
        .unwrap();
    // Tensors with other suffixes (`in_sum`, activations) are ignored.
    w.add_tensor("a.weight.in_sum", vec![32, 1], Format::F32, vec![0; 128])
        .unwrap();
    let m = Imatrix::parse(&gguf_bytes(&w)).unwrap();
    assert_eq!(m.kind, ImatrixKind::Gguf);
    assert_eq!(
        (m.datasets.clone(), m.chunk_count),
        (vec!["calib.txt".to_owned()], Some(12))
    );
    let expect: Vec<f32> = s.iter().map(|x| x / 1234.0f32).collect();
    assert_eq!(m.entries["a.weight"].values, expect);
    let moe = &m.entries["moe.weight"];
    assert_eq!(moe.n_mat, 2);
    assert_eq!(
        &moe.values[..8],
        &[0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    );
    assert_eq!(&moe.values[8..], &[1.0; 8]);
    assert_eq!(m.entries.len(), 2);
    // Lookup: size checked against the row length; MoE entries and 3-D tensors rejected; no
    // entry → no importance.
    assert_eq!(
        m.for_tensor("a.weight", &[32, 4]).unwrap(),
        Some(&expect[..])
    );
    assert_eq!(m.for_tensor("c.weight", &[32, 4]).unwrap(), None);
    assert!(matches!(
        m.for_tensor("a.weight", &[64, 4]),
        Err(ImatrixError::SizeMismatch {
            expected: 64,
            actual: 32,
            ..
        })
    ));
    assert!(matches!(
        m.for_tensor("moe.weight", &[8, 4, 2]),
        Err(ImatrixError::MultiMatrix { n_mat: 2, .. })
    ));
}

#[test]
fn imatrix_rejects_malformed_files_with_typed_errors() {
    let v = [1.0f32, 2.0, 3.0, 4.0];
    let good = legacy_bytes(&[("a", 2, &v)], Some((1, "d")));
    let entries_end = 4 + 4 + 1 + 4 + 4 + 16;
    // Every truncation is an error, never a panic; the only valid prefix is the file without
    // its optional trailer.
    for cut in 0..good.len() {
        match Imatrix::parse(&good[..cut]) {
            Ok(_) => assert_eq!(cut, entries_end),
            Err(e) => assert!(!e.to_string().contains('\n')),
        }
    }
    let parse = |b: &[u8]| Imatrix::parse(b).unwrap_err();
    assert!(matches!(parse(&good[..20]), ImatrixError::Truncated { .. }));
    assert!(matches!(parse(&0i32.to_le_bytes()), ImatrixError::Empty));
    assert!(matches!(parse(&(-5i32).to_le_bytes()), ImatrixError::Empty));
    // 2^30 entries claimed, one present: the trailer is read as a second entry until the bytes
    // run out (nothing is allocated for the claimed count).
    let mut absurd = good.clone();
    absurd[..4].copy_from_slice(&(1i32 << 30).to_le_bytes());
    assert!(matches!(
        parse(&absurd),
        ImatrixError::Truncated {
            what: "value count",
            offset: 42,
            ..
        }
    ));
    let mut big_nval = good.clone();
    big_nval[13..17].copy_from_slice(&i32::MAX.to_le_bytes());
    assert!(matches!(
        parse(&big_nval),
        ImatrixError::Truncated {
            what: "values",
            needed: 8_589_934_588,
            ..
        }
    ));
    let mut zero_nval = good.clone();
    zero_nval[13..17].copy_from_slice(&0i32.to_le_bytes());
    assert!(matches!(
        parse(&zero_nval),
        ImatrixError::BadCount {
            what: "value count",
            ..
        }
    ));
    let mut neg_name = good.clone();
    neg_name[4..8].copy_from_slice(&(-1i32).to_le_bytes());
    assert!(matches!(
        parse(&neg_name),
        ImatrixError::BadCount {
            what: "name length",
            ..
        }
    ));
    let mut neg_ncall = good.clone();
    neg_ncall[9..13].copy_from_slice(&(-3i32).to_le_bytes());
    assert!(matches!(
        parse(&neg_ncall),
        ImatrixError::BadCount {
            what: "call count",
            ..
        }
    ));
    for bad in [f32::NAN, f32::INFINITY, -1.0] {
        let b = legacy_bytes(&[("a", 2, &[1.0, bad])], None);
        assert!(matches!(parse(&b), ImatrixError::BadValue { index: 1, .. }));
    }
    let dup = legacy_bytes(&[("a", 1, &v), ("a", 1, &v)], None);
    assert!(matches!(parse(&dup), ImatrixError::Duplicate(n) if n == "a"));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        parse(&trailing),
        ImatrixError::TrailingBytes { count: 1, .. }
    ));
    let bad_name = legacy_bytes(&[("a\0b", 1, &v)], None);
    assert!(matches!(
        parse(&bad_name),
        ImatrixError::BadName { offset: 8 }
    ));

    // GGUF.
    let unpaired = {
        let mut w = gguf_imatrix(&[("a", 1.0, &v)]);
        w.add_tensor("b.in_sum2", vec![4, 1], Format::F32, vec![0; 16])
            .unwrap();
        gguf_bytes(&w)
    };
    assert!(matches!(parse(&unpaired), ImatrixError::Unpaired { name, .. } if name == "b"));
    for count in [-1.0f32, f32::NAN] {
        let b = gguf_bytes(&gguf_imatrix(&[("a", count, &v)]));
        assert!(matches!(parse(&b), ImatrixError::BadTokenCount { .. }));
    }
    let nan_sum = gguf_bytes(&gguf_imatrix(&[("a", 1.0, &[0.0, f32::NAN])]));
    assert!(matches!(
        parse(&nan_sum),
        ImatrixError::BadValue { index: 1, .. }
    ));
    let mut no_meta = gguf_imatrix(&[("a", 1.0, &v)]);
    no_meta.remove_metadata("imatrix.chunk_size");
    assert!(matches!(
        parse(&gguf_bytes(&no_meta)),
        ImatrixError::Metadata("imatrix.chunk_size")
    ));
    let wrong_shape = {
        let mut w = gguf_imatrix(&[]);
        w.add_tensor("a.in_sum2", vec![2, 2], Format::F32, vec![0; 16])
            .unwrap();
        w.add_tensor("a.counts", vec![1, 1], Format::F32, vec![0; 4])
            .unwrap();
        gguf_bytes(&w)
    };
    assert!(matches!(
        parse(&wrong_shape),
        ImatrixError::BadTensor { .. }
    ));
    let f16_sums = {
        let mut w = gguf_imatrix(&[]);
        w.add_tensor("a.in_sum2", vec![4, 1], Format::F16, vec![0; 8])
            .unwrap();
        w.add_tensor("a.counts", vec![1, 1], Format::F32, vec![0; 4])
            .unwrap();
        gguf_bytes(&w)
    };
    assert!(matches!(parse(&f16_sums), ImatrixError::BadTensor { .. }));
    assert!(matches!(
        parse(&gguf_bytes(&gguf_imatrix(&[]))),
        ImatrixError::Empty
    ));
    let mut cut = gguf_bytes(&gguf_imatrix(&[("a", 1.0, &v)]));
    // Past the alignment padding (< 32 bytes) into the tensor data.
    cut.truncate(cut.len() - 40);
    assert!(matches!(parse(&cut), ImatrixError::Gguf(_)));
}

#[test]
fn quantize_with_imatrix_equals_quant_core_with_that_importance() {
    let input = small_model();
    let q_imp = raw_importance(576, 3);
    let u_imp = raw_importance(512, 4);
    // Same importance through both formats: legacy stores mean·ncall, GGUF sums and counts.
    let legacy = tmp("im.dat");
    std::fs::write(
        &legacy,
        legacy_bytes(
            &[
                ("blk.0.attn_q.weight", 1, &q_imp),
                ("blk.0.ffn_up.weight", 1, &u_imp),
            ],
            Some((3, "calib.txt")),
        ),
    )
    .unwrap();
    let gguf = tmp("im.gguf");
    gguf_imatrix(&[
        ("blk.0.attn_q.weight", 1.0, &q_imp),
        ("blk.0.ffn_up.weight", 1.0, &u_imp),
    ])
    .write_file(&gguf)
    .unwrap();
    let src = std::fs::read(&input).unwrap();
    let a = Gguf::parse(&src).unwrap();
    let x = |n: &str| a.tensor_f32(a.tensor(n).unwrap()).unwrap();
    for (i, im_path) in [&legacy, &gguf].into_iter().enumerate() {
        let output = tmp(&format!("small-im-{i}.gguf"));
        let opts = Options {
            target: Format::Q4K,
            overrides: vec![],
            outliers: None,
            imatrix: Some(Imatrix::open(im_path).unwrap()),
        };
        let outcomes = convert(&input, &output, &opts, |_, _, _| {}).unwrap();
        assert_eq!(
            outcomes.iter().map(|o| o.imatrix).collect::<Vec<_>>(),
            [false, true, true],
            "the norm is not quantized"
        );
        let out = std::fs::read(&output).unwrap();
        let b = Gguf::parse(&out).unwrap();
        for (name, fmt, rows, cols, imp) in [
            ("blk.0.attn_q.weight", Format::Q5_0, 8, 576, &q_imp),
            ("blk.0.ffn_up.weight", Format::Q4K, 4, 512, &u_imp),
        ] {
            let got = b.tensor_data(b.tensor(name).unwrap());
            let with = quant_core::quantize_matrix(fmt, &x(name), rows, cols, Some(imp)).unwrap();
            let without = quant_core::quantize_matrix(fmt, &x(name), rows, cols, None).unwrap();
            assert_eq!(got, &with[..], "{name}");
            assert_ne!(
                got,
                &without[..],
                "{name}: the importance must change the bytes"
            );
        }
        assert_eq!(
            b.get("quantize.imatrix.entries_count"),
            Some(&Value::U32(2))
        );
        assert_eq!(
            b.get("quantize.imatrix.dataset").and_then(Value::as_str),
            Some("calib.txt")
        );
    }
    // An entry of the wrong length is an error, as in llama-quantize.
    let short = tmp("im-short.dat");
    std::fs::write(
        &short,
        legacy_bytes(&[("blk.0.ffn_up.weight", 1, &u_imp[..256])], None),
    )
    .unwrap();
    let opts = Options {
        target: Format::Q4K,
        overrides: vec![],
        outliers: None,
        imatrix: Some(Imatrix::open(&short).unwrap()),
    };
    let e = convert(&input, &tmp("never.gguf"), &opts, |_, _, _| {}).unwrap_err();
    assert!(
        e.to_string()
            .contains("has 256 values, the tensor's rows have 512"),
        "{e}"
    );
}

#[test]
fn binary_quantizes_real_minilm_with_imatrix_and_rejects_bad_ones() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/minilm.safetensors");
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must fetch the MiniLM weights: scripts/fetch-data.sh minilm"
        );
        eprintln!(
            "skipped: {} absent (scripts/fetch-data.sh minilm)",
            path.display()
        );
        return;
    }
    let dense = "encoder.layer.0.output.dense.weight"; // 384 × 1536: q4_K fits
    let query = "encoder.layer.0.attention.self.query.weight"; // 384 × 384: q4_K → q5_0
    let (d_imp, q_imp) = (raw_importance(1536, 5), raw_importance(384, 6));
    let im = tmp("minilm.gguf.imatrix");
    gguf_imatrix(&[(dense, 3.0, &d_imp), (query, 3.0, &q_imp)])
        .write_file(&im)
        .unwrap();
    let out = tmp("minilm-q4k-im.gguf");
    let run = run_quant(&[
        "quantize",
        path.to_str().unwrap(),
        out.to_str().unwrap(),
        "--type",
        "q4_K",
        "--imatrix",
        im.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary = String::from_utf8_lossy(&run.stdout);
    let marked = summary.lines().filter(|l| l.contains(" yes  ")).count();
    assert_eq!(marked, 2, "two tensors used importance:\n{summary}");
    let st = quant_gguf::SafetensorsFile::open(&path).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    for (name, fmt, cols, imp) in [
        (dense, Format::Q4K, 1536, Some(&d_imp)),
        (query, Format::Q5_0, 384, Some(&q_imp)),
        (
            "encoder.layer.1.output.dense.weight",
            Format::Q4K,
            1536,
            None,
        ),
    ] {
        let x = st.tensor_f32(name).unwrap();
        let imp: Option<Vec<f32>> = imp.map(|v| v.iter().map(|s| s / 3.0f32).collect());
        let expect =
            quant_core::quantize_matrix(fmt, &x, x.len() / cols, cols, imp.as_deref()).unwrap();
        assert_eq!(
            g.tensor_data(g.tensor(name).unwrap()),
            &expect[..],
            "{name}"
        );
    }
    assert_eq!(
        g.get("quantize.imatrix.file").and_then(Value::as_str),
        im.to_str()
    );

    // Bad imatrix files: one line on stderr, non-zero exit, no output written.
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "trunc.dat",
            legacy_bytes(&[(dense, 1, &d_imp)], None)[..100].to_vec(),
            "truncated",
        ),
        (
            "nan.dat",
            legacy_bytes(&[(dense, 1, &[f32::NAN; 1536])], None),
            "must be finite",
        ),
        (
            "size.dat",
            legacy_bytes(&[(dense, 1, &d_imp[..384])], None),
            "has 384 values",
        ),
    ];
    for (file, data, msg) in cases {
        let p = tmp(file);
        std::fs::write(&p, data).unwrap();
        let o = tmp(&format!("{file}.gguf"));
        let r = run_quant(&[
            "quantize",
            path.to_str().unwrap(),
            o.to_str().unwrap(),
            "--type",
            "q4_K",
            "--imatrix",
            p.to_str().unwrap(),
        ]);
        assert!(!r.status.success(), "{file}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.starts_with("quant: ") && err.contains(msg) && err.trim_end().lines().count() == 1,
            "{file}: {err}"
        );
        assert!(!o.exists(), "{file}: no output on error");
    }
}

#[test]
fn report_writes_an_svg_plot_and_rejects_other_extensions() {
    let svg = tmp("report.svg");
    let ok = run_quant(&["report", "--plot", svg.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    for f in quant_cli::report::report_formats() {
        // plotters writes each label as `<text …>\nname\n</text>`.
        assert!(
            text.contains(&format!("\n{}\n</text>", f.name())),
            "{f} label missing"
        );
    }
    let png = tmp("report.png");
    let bad = run_quant(&["report", "--plot", png.to_str().unwrap()]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.starts_with("quant: --plot") && err.contains(".svg") && err.lines().count() == 1,
        "{err}"
    );
    assert!(bad.stdout.is_empty(), "checked before the report runs");
    assert!(!png.exists());
}
