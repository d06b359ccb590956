//! `quant eval` end to end on the real SmolLM2 GGUF and a State of the Union text (fetched by
//! `scripts/fetch-data.sh smollm2 sotu`; the tests skip only outside CI when they are absent).

use std::path::PathBuf;
use std::process::Command;

fn data(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(rel);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: run scripts/fetch-data.sh smollm2 sotu",
        p.display()
    );
    eprintln!("skipping: {} absent", p.display());
    None
}

fn quant(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quant"))
        .args(args)
        .output()
        .expect("run quant")
}

#[test]
fn eval_prints_one_row_per_format_and_the_super_weight_rows() {
    let (Some(model), Some(text)) = (
        data("smollm2-135m-instruct-q4_1.gguf"),
        data("sotu/2021_joseph_r_biden_d.txt"),
    ) else {
        return;
    };
    let plot = std::env::temp_dir().join(format!("quant-eval-{}.svg", std::process::id()));
    let out = quant(&[
        "eval",
        model.to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "--ctx",
        "32",
        "--chunks",
        "7",
        "--types",
        "q8_0,q4_K",
        "--zero-super-weight",
        "--json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["n_scored"], 105);
    // llama.cpp tokenizes this text to 10,843 tokens (golden metrics README).
    assert_eq!(v["text_tokens"], 10843);
    let labels: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "f32",
            "q8_0",
            "q4_K",
            "f32 −SW",
            "q8_0 −SW",
            "q8_0 +SW",
            "q4_K −SW",
            "q4_K +SW"
        ]
    );
    let rows = v["rows"].as_array().unwrap();
    // Reference: llama.cpp's F32 perplexity on these tokens is 42.3964 (within 0.1%).
    let ppl = rows[0]["ppl"].as_f64().unwrap();
    assert!((ppl / 42.3964 - 1.0).abs() < 1e-3, "{ppl}");
    assert!(rows[0]["kld"].is_null());
    for r in &rows[1..] {
        let kld = r["kld"][0].as_f64().unwrap();
        assert!(kld.is_finite() && kld >= 0.0, "{r}");
    }
    // Q4_K falls back to Q5_0 on the 576-wide matrices, as llama-quantize does.
    assert!(
        rows[2]["fallbacks"].to_string().contains("q5_0"),
        "{}",
        rows[2]
    );
    // The +SW rows keep exactly one weight in a table; bits/weight counts it.
    assert_eq!(rows[5]["outliers"], 1);
    assert!(rows[5]["bits_per_weight"].as_f64() > rows[1]["bits_per_weight"].as_f64());
    // The super weight matters (Yu et al.): zeroing that one weight costs far more than
    // quantizing all 134M to Q8_0 (measured: KLD 2.2 vs 0.0046, PPL ×13.7).
    let kld = |i: usize| rows[i]["kld"][0].as_f64().unwrap();
    assert!(
        kld(3) > 50.0 * kld(1),
        "zeroed {} vs q8_0 {}",
        kld(3),
        kld(1)
    );
    assert!(
        kld(6) > 10.0 * kld(7),
        "q4_K −SW {} vs +SW {}",
        kld(6),
        kld(7)
    );
    let sw = &v["super_weight"];
    assert!(sw["tensor"].as_str().unwrap().ends_with("ffn_down.weight"));
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg") && svg.contains("q4_K"));
    std::fs::remove_file(plot).ok();
}

#[test]
fn eval_errors_are_one_line() {
    let Some(model) = data("smollm2-135m-instruct-q4_1.gguf") else {
        return;
    };
    let out = quant(&[
        "eval",
        model.to_str().unwrap(),
        "--text",
        "/nonexistent/text.txt",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("quant: "), "{err}");
    // A text shorter than one chunk.
    let short = std::env::temp_dir().join(format!("quant-eval-short-{}.txt", std::process::id()));
    std::fs::write(&short, "Too short.").unwrap();
    let out = quant(&[
        "eval",
        model.to_str().unwrap(),
        "--text",
        short.to_str().unwrap(),
        "--ctx",
        "64",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("do not fill one chunk"), "{err}");
    std::fs::remove_file(short).ok();
}
