//! Feeds arbitrary bytes to the llama.cpp logits-file reader (in memory). It must never panic,
//! and never allocate more than the input length justifies (the header is checked against the
//! stream length before any allocation; libFuzzer's `-rss_limit_mb` catches violations).

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use quant_metrics::{
    FileCompareOptions, LogitsFileReader, LogitsFileWriter, compare_logits_readers,
    logits_file_perplexity,
};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = LogitsFileReader::new(Cursor::new(data)) else {
        return;
    };
    // A valid header and token list: the stream length equals the length the header implies.
    let header = *reader.header();
    assert_eq!(header.file_len().ok(), Some(data.len() as u64));
    let tokens = reader.tokens().to_vec();

    // Read every record; when all are valid, writing them back reproduces the input byte for
    // byte (up to the odd-vocabulary pad word, which the reader ignores).
    let mut records = Vec::new();
    let mut ok = true;
    for (i, rec) in (&mut reader).enumerate() {
        match rec {
            Ok(r) => {
                for v in 0..r.q.len() {
                    let lp = r.log_prob(v).unwrap();
                    assert!(!lp.is_nan());
                }
                if i < 64 {
                    records.push(r);
                }
            }
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    if ok && header.n_records() <= 64 && header.n_vocab % 2 == 0 {
        let mut w = LogitsFileWriter::new(Vec::new(), header, &tokens).unwrap();
        for r in &records {
            w.write_record(r).unwrap();
        }
        assert_eq!(w.finish().unwrap(), data);
    }

    // The derived computations must not panic either (errors are fine).
    let _ = logits_file_perplexity(LogitsFileReader::new(Cursor::new(data)).unwrap());
    let _ = compare_logits_readers(
        LogitsFileReader::new(Cursor::new(data)).unwrap(),
        LogitsFileReader::new(Cursor::new(data)).unwrap(),
        &FileCompareOptions::default(),
    );
});
