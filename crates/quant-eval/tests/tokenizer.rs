//! Tokenizer tests: llama.cpp oracle data on the real SmolLM2 vocabulary, round trips, typed
//! errors on malformed metadata, and a property test on a small synthetic vocabulary.

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use quant_eval::tokenizer::{
    EncodeOptions, PreTokenizer, TokenType, Tokenizer, TokenizerError, byte_to_char,
};
use quant_gguf::{Gguf, GgufWriter, Value, ValueType};

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

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn ids_hash(ids: &[u32]) -> String {
    let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    format!("{:016x}", fnv1a64(&bytes))
}

/// Other SOTU texts, ids from scripts/check-tokenizer.py (HF tokenizers checked against llama.cpp's
/// ids, every list confirmed by llama.cpp's llama-tokenize): count, first ids and a hash of every
/// chunk of 1000 ids.
#[test]
fn sotu_fixtures() {
    let Some(tok) = smollm2() else { return };
    let fx = fixture("smollm2_tokens.json");
    let chunk = usize::try_from(fx["chunk"].as_u64().unwrap()).unwrap();
    let texts = fx["texts"].as_array().unwrap();
    assert!(texts.len() >= 5);
    for t in texts {
        let Some(path) = data_file(t["file"].as_str().unwrap()) else {
            return;
        };
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(
            raw.len() as u64,
            t["text_len"].as_u64().unwrap(),
            "{path:?}"
        );
        assert_eq!(
            format!("{:016x}", fnv1a64(&raw)),
            t["text_fnv1a64"].as_str().unwrap(),
            "{path:?} is not the text the fixture was made from"
        );
        let text = String::from_utf8(raw).unwrap();
        let got = tok.encode(&text);
        assert_eq!(got.len() as u64, t["count"].as_u64().unwrap(), "{path:?}");
        let first = ids(&t["first"]);
        assert_eq!(&got[..first.len()], &first[..], "{path:?}");
        let hashes = t["chunk_fnv1a64"].as_array().unwrap();
        assert_eq!(hashes.len(), got.len().div_ceil(chunk));
        for (i, (ids, h)) in got.chunks(chunk).zip(hashes).enumerate() {
            assert_eq!(
                ids_hash(ids),
                h.as_str().unwrap(),
                "{path:?}: ids {}..",
                i * chunk
            );
        }
        assert_eq!(tok.decode(&got).unwrap(), text, "{path:?}");
    }
}

/// Digits, accents, CJK, emoji, whitespace runs, apostrophes, punctuation runs, special-token
/// text, control characters.
#[test]
fn stress_text() {
    let Some(tok) = smollm2() else { return };
    let fx = fixture("smollm2_tokens.json");
    let text = fx["stress"]["text"].as_str().unwrap();
    let expect = ids(&fx["stress"]["ids"]);
    let got = tok.encode(text);
    if got != expect {
        let i = got.iter().zip(&expect).take_while(|(a, b)| a == b).count();
        let show = |v: &[u32]| -> Vec<String> {
            v.iter()
                .map(|&id| String::from_utf8_lossy(tok.token_to_piece(id, true).unwrap()).into())
                .collect()
        };
        panic!(
            "first difference at {i}: got {:?}, expected {:?}",
            show(&got[i..(i + 8).min(got.len())]),
            show(&expect[i..(i + 8).min(expect.len())])
        );
    }
    assert_eq!(tok.decode(&got).unwrap(), text);

    // Special tokens parsed (llama-tokenize without --no-parse-special): <|endoftext|> (0) and
    // <|im_start|> (1) become single tokens.
    let special = tok.encode_with(
        text,
        EncodeOptions {
            add_bos: false,
            parse_special: true,
        },
    );
    assert_eq!(special, ids(&fx["stress"]["ids_parse_special"]));
    assert!(special.contains(&0) && special.contains(&1));
    assert_eq!(tok.decode_bytes(&special, true).unwrap(), text.as_bytes());
}

#[test]
fn smollm2_metadata_and_special_tokens() {
    let Some(tok) = smollm2() else { return };
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    assert!(!tok.adds_bos());
    assert_eq!(tok.pre_tokenizer(), PreTokenizer::Starcoder);
    assert_eq!(tok.token_type(2), Some(TokenType::Control));
    assert_eq!(tok.token_text(1), Some("<|im_start|>"));

    let text = "<|im_start|>user\nHi 12<|im_end|>";
    let plain = tok.encode(text);
    assert!(!plain.contains(&1) && !plain.contains(&2));
    assert_eq!(tok.decode(&plain).unwrap(), text);
    let special = tok.encode_with(
        text,
        EncodeOptions {
            add_bos: true,
            parse_special: true,
        },
    );
    assert_eq!(special[..2], [1, 1]);
    assert_eq!(special.last(), Some(&2));
    assert_eq!(
        &special[2..special.len() - 1],
        &tok.encode("user\nHi 12")[..]
    );
    // Control tokens decode only when asked to.
    assert_eq!(tok.decode(&special).unwrap(), "user\nHi 12");
    assert_eq!(
        tok.decode_bytes(&special[1..], true).unwrap(),
        text.as_bytes()
    );
    assert_eq!(tok.token_to_piece(1, false).unwrap(), b"");
    assert_eq!(
        tok.decode(&[49152]),
        Err(TokenizerError::UnknownId {
            id: 49152,
            vocab_size: 49152
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Small synthetic vocabularies (no model file needed).

const MERGES: &[&str] = &[
    "Ġ t",
    "h e",
    "Ġt he",
    "i n",
    "in g",
    "Ġ a",
    "a n",
    "Ġa n",
    "Ġan d",
    "e r",
    "r e",
    "Ġ s",
    "a a",
    "aa aa",
    "aa a",
    "Ġ Ġ",
    "ĠĠ ĠĠ",
    "1 2",
    "Ã ©",
    "l l",
    "ll o",
    "h ello",
    "e llo",
    "' s",
    "Ċ Ċ",
    "t h",
    "th e",
];

/// The 256 byte tokens, then every merge result in merge order.
fn synthetic_vocab() -> Vec<String> {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_to_char(b).to_string()).collect();
    for m in MERGES {
        let t = m.replace(' ', "");
        if !tokens.contains(&t) {
            tokens.push(t);
        }
    }
    tokens
}

fn synthetic(pre: PreTokenizer) -> Tokenizer {
    Tokenizer::from_vocab(synthetic_vocab(), MERGES, pre).unwrap()
}

/// Textbook BPE: repeatedly merge the adjacent pair with the lowest rank, leftmost on ties.
fn naive_bpe(word: &str, vocab: &[String]) -> Vec<u32> {
    let rank = |a: &str, b: &str| MERGES.iter().position(|m| *m == format!("{a} {b}"));
    let mut syms: Vec<String> = word.bytes().map(|b| byte_to_char(b).to_string()).collect();
    loop {
        let best = (1..syms.len())
            .filter_map(|i| rank(&syms[i - 1], &syms[i]).map(|r| (r, i)))
            .min();
        let Some((_, i)) = best else { break };
        let right = syms.remove(i);
        syms[i - 1].push_str(&right);
    }
    syms.iter()
        .map(|s| vocab.iter().position(|t| t == s).unwrap() as u32)
        .collect()
}

#[test]
fn synthetic_merges_follow_rank_then_position() {
    let tok = synthetic(PreTokenizer::Gpt2);
    let vocab = synthetic_vocab();
    let id = |s: &str| vocab.iter().position(|t| t == s).unwrap() as u32;
    // "aaaaa": "a a" (rank 12) pairs from the left, then "aa aa" (13) before "aa a" (14).
    assert_eq!(tok.encode("aaaaa"), [id("aaaa"), id("a")]);
    assert_eq!(tok.encode("aaa"), [id("aaa")]);
    assert_eq!(tok.encode(" the"), [id("Ġthe")]);
    // "h e" (rank 1) comes before "l l", so "e llo" and "h ello" never get their chance.
    assert_eq!(tok.encode("hello"), [id("he"), id("llo")]);
    assert_eq!(tok.encode("é"), [id("Ã©")]);
    assert_eq!(tok.encode("it's"), [id("i"), id("t"), id("'s")]);
    // Starcoder splits digits one by one, so "12" never merges; GPT-2 keeps them together.
    assert_eq!(tok.encode("12"), [id("12")]);
    assert_eq!(
        synthetic(PreTokenizer::Starcoder).encode("12"),
        [id("1"), id("2")]
    );
    for text in ["aaaaa", "the hello and thing", "re-entering élan's"] {
        let naive: Vec<u32> = PreTokenizer::Gpt2
            .split(text)
            .into_iter()
            .flat_map(|w| naive_bpe(w, &vocab))
            .collect();
        assert_eq!(tok.encode(text), naive, "{text:?}");
    }
}

#[test]
fn pre_tokenizer_words() {
    let gpt2 = PreTokenizer::Gpt2;
    assert_eq!(
        gpt2.split("Hello world's 2024 ...  x\n\n y  "),
        [
            "Hello", " world", "'s", " 2024", " ...", " ", " x", "\n\n", " y", "  "
        ]
    );
    assert_eq!(
        PreTokenizer::Starcoder.split("a 2024b"),
        ["a", " ", "2", "0", "2", "4", "b"]
    );
    // 'S is not a contraction for the GPT-2 regex (case-sensitive); ’ is punctuation.
    assert_eq!(gpt2.split("IT'S it’s"), ["IT", "'", "S", " it", "’", "s"]);
    // Letters and numbers by Unicode category, whitespace by White_Space.
    assert_eq!(
        gpt2.split("東京 ½x\u{a0}y"),
        ["東京", " ½", "x", "\u{a0}", "y"]
    );
    assert!(gpt2.split("").is_empty());
}

#[test]
fn byte_fallback_for_symbols_that_are_not_tokens() {
    // "a b" merges to "ab", which is not in the vocabulary: the bytes come out one by one.
    let tokens: Vec<String> = (0..=255u8).map(|b| byte_to_char(b).to_string()).collect();
    let tok = Tokenizer::from_vocab(tokens, ["a b"], PreTokenizer::Gpt2).unwrap();
    // Token ids of the byte tokens are the byte values here.
    assert_eq!(tok.encode("ab"), [u32::from(b'a'), u32::from(b'b')]);
    assert_eq!(tok.decode(&tok.encode("abc")).unwrap(), "abc");
}

fn gguf_bytes(meta: &[(&str, Value)]) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.set_metadata(k, v.clone());
    }
    let mut buf = Vec::new();
    w.write_to(&mut buf).unwrap();
    buf
}

fn strings(v: &[&str]) -> Value {
    Value::Array {
        elem: ValueType::String,
        values: v.iter().map(|s| Value::String((*s).to_owned())).collect(),
    }
}

fn i32s(v: &[i32]) -> Value {
    Value::Array {
        elem: ValueType::I32,
        values: v.iter().map(|&x| Value::I32(x)).collect(),
    }
}

/// A valid small GGUF tokenizer's metadata.
fn good_meta() -> Vec<(&'static str, Value)> {
    vec![
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        (
            "tokenizer.ggml.tokens",
            strings(&["<s>", "a", "b", "ab", "Ġ"]),
        ),
        ("tokenizer.ggml.token_type", i32s(&[3, 1, 1, 1, 1])),
        ("tokenizer.ggml.merges", strings(&["a b"])),
        ("tokenizer.ggml.bos_token_id", Value::U32(0)),
        ("tokenizer.ggml.eos_token_id", Value::U32(0)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
    ]
}

fn from_meta(meta: &[(&str, Value)]) -> Result<Tokenizer, TokenizerError> {
    let bytes = gguf_bytes(meta);
    let g = Gguf::parse(&bytes).unwrap();
    Tokenizer::from_gguf(&g)
}

fn with(key: &str, value: Option<Value>) -> Vec<(&'static str, Value)> {
    let mut m = good_meta();
    m.retain(|(k, _)| *k != key);
    if let Some(v) = value {
        let k = good_meta().into_iter().find(|(k, _)| *k == key).unwrap().0;
        m.push((k, v));
    }
    m
}

#[test]
fn gguf_in_memory() {
    let tok = from_meta(&good_meta()).unwrap();
    assert_eq!(tok.vocab_size(), 5);
    assert_eq!(
        (tok.bos_id(), tok.eos_id(), tok.adds_bos()),
        (Some(0), Some(0), true)
    );
    // encode() never adds BOS; encode_with does when asked.
    assert_eq!(tok.encode("ab a"), [3, 4, 1]);
    let opts = EncodeOptions {
        add_bos: tok.adds_bos(),
        parse_special: true,
    };
    assert_eq!(tok.encode_with("ab<s>a", opts), [0, 3, 0, 1]);
    assert_eq!(tok.encode("ab<s>a"), [3, 1]); // '<', 's', '>' have no token: dropped
    // Optional keys.
    let m: Vec<_> = good_meta()
        .into_iter()
        .filter(|(k, _)| {
            !k.ends_with("_id") && !k.ends_with("add_bos_token") && !k.ends_with("token_type")
        })
        .collect();
    let tok = from_meta(&m).unwrap();
    assert_eq!(
        (tok.bos_id(), tok.eos_id(), tok.adds_bos()),
        (None, None, false)
    );
    assert_eq!(tok.token_type(0), Some(TokenType::Normal));
}

#[test]
fn gguf_metadata_errors() {
    use TokenizerError as E;
    let cases: Vec<(Vec<(&str, Value)>, E)> = vec![
        (
            with("tokenizer.ggml.model", None),
            E::MissingKey("tokenizer.ggml.model"),
        ),
        (
            with("tokenizer.ggml.model", Some(Value::String("llama".into()))),
            E::UnsupportedModel("llama".into()),
        ),
        (
            with("tokenizer.ggml.model", Some(Value::U32(2))),
            E::WrongType {
                key: "tokenizer.ggml.model",
                expected: "a string",
            },
        ),
        (
            with("tokenizer.ggml.pre", None),
            E::MissingKey("tokenizer.ggml.pre"),
        ),
        (
            with(
                "tokenizer.ggml.pre",
                Some(Value::String("llama-bpe".into())),
            ),
            E::UnsupportedPreTokenizer("llama-bpe".into()),
        ),
        (
            with("tokenizer.ggml.tokens", None),
            E::MissingKey("tokenizer.ggml.tokens"),
        ),
        (
            with("tokenizer.ggml.tokens", Some(i32s(&[1, 2]))),
            E::WrongType {
                key: "tokenizer.ggml.tokens",
                expected: "an array of strings",
            },
        ),
        (
            with(
                "tokenizer.ggml.tokens",
                Some(strings(&["<s>", "a", "b", "a", "Ġ"])),
            ),
            E::DuplicateToken {
                text: "a".into(),
                first: 1,
                second: 3,
            },
        ),
        (
            with(
                "tokenizer.ggml.tokens",
                Some(strings(&["<s>", "a", "", "ab", "Ġ"])),
            ),
            E::EmptyToken { id: 2 },
        ),
        (
            with("tokenizer.ggml.token_type", Some(i32s(&[3, 1]))),
            E::TokenTypeCount {
                tokens: 5,
                types: 2,
            },
        ),
        (
            with("tokenizer.ggml.token_type", Some(i32s(&[3, 1, 9, 1, 1]))),
            E::InvalidTokenType { id: 2, value: 9 },
        ),
        (
            with(
                "tokenizer.ggml.token_type",
                Some(strings(&["1", "1", "1", "1", "1"])),
            ),
            E::WrongType {
                key: "tokenizer.ggml.token_type",
                expected: "an array of integers",
            },
        ),
        (
            with("tokenizer.ggml.merges", None),
            E::MissingKey("tokenizer.ggml.merges"),
        ),
        (
            with("tokenizer.ggml.merges", Some(strings(&["a b", "ab"]))),
            E::MalformedMerge {
                index: 1,
                merge: "ab".into(),
            },
        ),
        (
            with("tokenizer.ggml.merges", Some(strings(&[" ab"]))),
            E::MalformedMerge {
                index: 0,
                merge: " ab".into(),
            },
        ),
        (
            with("tokenizer.ggml.merges", Some(strings(&["a "]))),
            E::MalformedMerge {
                index: 0,
                merge: "a ".into(),
            },
        ),
        (
            with("tokenizer.ggml.bos_token_id", Some(Value::U32(5))),
            E::SpecialIdOutOfRange {
                key: "tokenizer.ggml.bos_token_id",
                id: 5,
                vocab_size: 5,
            },
        ),
        (
            with("tokenizer.ggml.eos_token_id", Some(Value::I32(-1))),
            E::WrongType {
                key: "tokenizer.ggml.eos_token_id",
                expected: "a non-negative integer",
            },
        ),
        (
            with("tokenizer.ggml.add_bos_token", Some(Value::U8(1))),
            E::WrongType {
                key: "tokenizer.ggml.add_bos_token",
                expected: "a bool",
            },
        ),
    ];
    for (meta, expect) in cases {
        assert_eq!(from_meta(&meta).unwrap_err(), expect);
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[aehtnrsgilo12é' \n\t.,!’東½]{0,48}",]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn roundtrip_and_naive_bpe(s in text_strategy()) {
        let vocab = synthetic_vocab();
        for pre in [PreTokenizer::Gpt2, PreTokenizer::Starcoder] {
            let words = pre.split(&s);
            prop_assert_eq!(words.concat(), s.clone());
            prop_assert!(words.iter().all(|w| !w.is_empty()));
            let tok = synthetic(pre);
            let ids = tok.encode(&s);
            prop_assert_eq!(tok.decode(&ids).unwrap(), s.clone());
            let naive: Vec<u32> = words.iter().flat_map(|w| naive_bpe(w, &vocab)).collect();
            prop_assert_eq!(ids, naive);
        }
    }
}
