//! Tokenizer tests: llama.cpp oracle data on the real SmolLM2 vocabulary, round trips, typed
//! errors on malformed metadata, and a property test on a small synthetic vocabulary.

use std::path::PathBuf;
use std::sync::OnceLock;

use quant_eval::tokenizer::Tokenizer;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `data/<rel>` if present. Absent: skip (None) outside CI, fail under CI.
fn data_file(rel: &str) -> Option<PathBuf> {
    let p = repo_root().join("data").join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing under CI: run scripts/fetch-data.sh",
            p.display()
        );
    }
    eprintln!(
        "skipping: {} is absent (scripts/fetch-data.sh fetches it)",
        p.display()
    );
    None
}

fn smollm2() -> Option<&'static Tokenizer> {
    static TOK: OnceLock<Option<Tokenizer>> = OnceLock::new();
    TOK.get_or_init(|| {
        let path = data_file("smollm2-135m-instruct-q4_1.gguf")?;
        let file = quant_gguf::GgufFile::open(&path).expect("open model");
        let gguf = file.parse().expect("parse model");
        Some(Tokenizer::from_gguf(&gguf).expect("tokenizer from model"))
    })
    .as_ref()
}

fn fixture(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    serde_json::from_slice(&std::fs::read(&p).expect("read fixture")).expect("fixture json")
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("id array")
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("id")).expect("u32 id"))
        .collect()
}

#[test]
fn llama_cpp_biden_2021() {
    let (Some(tok), Some(path)) = (smollm2(), data_file("sotu/2021_joseph_r_biden_d.txt")) else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let fx = fixture("llama_cpp_f32_ctx32.json");
    let expect = ids(&fx["tokens"]);
    let t0 = std::time::Instant::now();
    let got = tok.encode(&text);
    eprintln!(
        "encoded {} bytes into {} tokens in {:?}",
        text.len(),
        got.len(),
        t0.elapsed()
    );
    assert_eq!(&got[..expect.len()], &expect[..]);
    assert_eq!(got.len() as u64, fx["text_token_count"].as_u64().unwrap());
    assert_eq!(tok.decode(&got).unwrap(), text);
}
