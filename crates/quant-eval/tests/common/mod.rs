//! Shared helpers of the quant-eval tests: the real model file and the llama.cpp fixture.
#![allow(dead_code)]

use std::path::PathBuf;

/// The SmolLM2 GGUF fetched by `scripts/fetch-data.sh smollm2`, or `None` outside CI when it is
/// absent (under `CI` its absence fails the test).
pub fn model_path() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/smollm2-135m-instruct-q4_1.gguf");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: run scripts/fetch-data.sh smollm2",
        p.display()
    );
    eprintln!(
        "skipping: {} absent (run scripts/fetch-data.sh smollm2)",
        p.display()
    );
    None
}

/// llama.cpp's recorded run (see `scripts/make-eval-fixture.py`).
pub fn fixture() -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/llama_cpp_f32_ctx32.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("fixture json")
}

/// The fixture's 224 token ids (llama.cpp's tokenization of the text's start).
pub fn fixture_tokens(fx: &serde_json::Value) -> Vec<u32> {
    fx["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|v| u32::try_from(v.as_u64().expect("id")).expect("id fits u32"))
        .collect()
}

/// The model's configuration and weights dequantized to f32.
pub fn source_model(path: &std::path::Path) -> quant_eval::SourceModel {
    let file = quant_gguf::GgufFile::open(path).expect("open model");
    quant_eval::SourceModel::from_gguf(&file.parse().expect("parse model")).expect("load model")
}
