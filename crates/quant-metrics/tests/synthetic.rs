//! Stand-alone tests on small synthetic data: logits-file round trips, malformed files, the
//! two-file comparison, the formatter, scoring policies.

mod common;

use std::io::Cursor;

use common::Rng;
use quant_metrics::{
    CompareOptions, FileCompareOptions, KldAccumulator, LogitsFileHeader, LogitsFileReader,
    LogitsFileWriter, MetricsError, PackedRecord, PerplexityAccumulator, ScoringPolicy,
    compare_log_probs, compare_logits, compare_logits_readers, count_flips, log_softmax,
    logits_file_perplexity, nearest_int,
};

/// Writes a synthetic logits file; returns (bytes, logits rows, tokens).
fn synth_file(
    rng: &mut Rng,
    n_ctx: u32,
    n_vocab: u32,
    n_chunk: u32,
    spread: f64,
) -> (Vec<u8>, Vec<Vec<f32>>, Vec<u32>) {
    let header = LogitsFileHeader::new(n_ctx, n_vocab, n_chunk).unwrap();
    let tokens: Vec<u32> = (0..n_ctx * n_chunk)
        .map(|_| rng.below(n_vocab as usize) as u32)
        .collect();
    let rows: Vec<Vec<f32>> = (0..header.n_records())
        .map(|_| rng.logits(n_vocab as usize, spread))
        .collect();
    let mut w = LogitsFileWriter::new(Vec::new(), header, &tokens).unwrap();
    for r in &rows {
        w.write_logits(r).unwrap();
    }
    (w.finish().unwrap(), rows, tokens)
}

#[test]
fn nearest_int_rounds_half_to_even_like_llama_cpp() {
    for (x, want) in [
        (0.5f32, 0),
        (1.5, 2),
        (2.5, 2),
        (3.5, 4),
        (65534.5, 65534),
        (65535.0, 65535),
        (0.49999997, 0),
        (1234.5001, 1235),
        (-1.5, -2),
    ] {
        assert_eq!(nearest_int(x), want, "nearest_int({x})");
        assert_eq!(nearest_int(x), x.round_ties_even() as i32);
    }
}

#[test]
fn round_trip_preserves_everything_for_odd_and_even_vocab() {
    let mut rng = Rng(7);
    for n_vocab in [7u32, 8, 1, 2] {
        let (bytes, rows, tokens) = synth_file(&mut rng, 6, n_vocab, 3, 40.0);
        let header = LogitsFileHeader::new(6, n_vocab, 3).unwrap();
        assert_eq!(bytes.len() as u64, header.file_len().unwrap());
        assert_eq!(&bytes[..8], b"_logits_");
        let mut r = LogitsFileReader::new(Cursor::new(bytes.clone())).unwrap();
        assert_eq!(*r.header(), header);
        assert_eq!(r.tokens(), &tokens[..]);
        let mut n = 0;
        for (i, row) in rows.iter().enumerate() {
            let target = r.target(i as u64).unwrap();
            // Record (c, j) predicts token c·n_ctx + n_ctx/2 + j + 1.
            let (c, j) = (i / 2, i % 2);
            assert_eq!(target, tokens[c * 6 + 3 + j + 1]);
            let rec = r.next().unwrap().unwrap();
            assert_eq!(rec, PackedRecord::from_logits(row).unwrap());
            let exact = log_softmax(row).unwrap();
            let max = row.iter().copied().fold(f32::MIN, f32::max);
            assert!(rec.scale <= 16.0 / 65535.0 * 1.0001);
            for (v, (&l, &e)) in row.iter().zip(&exact).enumerate() {
                let got = f64::from(rec.log_prob(v).unwrap());
                if l > max - 16.0 {
                    // Unclamped: rounding to the nearest step (scale/2), plus f32 rounding of
                    // ln Σ exp and of scale·q + min (|lp| < 60 → a few 1e-6).
                    assert!(
                        (got - e).abs() <= f64::from(rec.scale) / 2.0 + 2e-5,
                        "v={v}: {got} vs {e}"
                    );
                } else {
                    // Clamped: stored as the minimum, which overestimates the probability.
                    assert_eq!(rec.q[v], 0);
                    assert!(got >= e);
                }
            }
            n += 1;
        }
        assert!(r.next().is_none());
        assert_eq!(n, 6);
        if n_vocab % 2 == 1 {
            // The pad word after each record is zero.
            let rb = header.record_bytes() as usize;
            let first_rec = 20 + 4 * 18;
            assert_eq!(&bytes[first_rec + rb - 2..first_rec + rb], &[0, 0]);
        }
    }
}

#[test]
fn packing_puts_the_maximum_at_65535_and_clamps_16_nats_below() {
    let rec = PackedRecord::from_logits(&[10.0, -5.0, -6.5, 3.0]).unwrap();
    assert_eq!(rec.q[0], 65535);
    assert_eq!(rec.q[1], 4096); // 15 nats below the max: 1 nat above the floor, 65535/16 steps
    assert_eq!(rec.q[2], 0); // more than 16 nats below
    assert_eq!(rec.scale, 16.0 / 65535.0);
    // A constant row: scale 0, all q = 0, log p = −ln V exactly representable up to f32.
    let flat = PackedRecord::from_logits(&[1.0; 4]).unwrap();
    assert_eq!(flat.scale, 0.0);
    assert!(flat.q.iter().all(|&q| q == 0));
    assert!((f64::from(flat.min_log_prob) + 4f64.ln()).abs() < 1e-6);
    assert!(matches!(
        PackedRecord::from_logits(&[1.0, f32::NAN]),
        Err(MetricsError::NonFinite { index: 1, .. })
    ));
    assert!(matches!(
        PackedRecord::from_logits(&[]),
        Err(MetricsError::EmptyRow)
    ));
}

fn header_bytes(n_ctx: i32, n_vocab: i32, n_chunk: i32) -> Vec<u8> {
    let mut b = b"_logits_".to_vec();
    for v in [n_ctx, n_vocab, n_chunk] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b
}

#[test]
fn malformed_files_give_typed_errors() {
    let mut rng = Rng(11);
    let (good, _, _) = synth_file(&mut rng, 4, 5, 2, 10.0);
    let open = |b: Vec<u8>| LogitsFileReader::new(Cursor::new(b)).map(|_| ());
    assert!(open(good.clone()).is_ok());

    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(open(bad), Err(MetricsError::BadMagic)));
    assert!(matches!(
        open(good[..good.len() - 1].to_vec()),
        Err(MetricsError::SizeMismatch { .. })
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(
        open(longer),
        Err(MetricsError::SizeMismatch { .. })
    ));
    assert!(matches!(
        open(vec![]),
        Err(MetricsError::SizeMismatch { .. })
    ));
    assert!(matches!(
        open(b"_logits_\x01".to_vec()),
        Err(MetricsError::SizeMismatch { .. })
    ));
    assert!(matches!(
        open(b"_logitz_\x01\0\0\0".to_vec()),
        Err(MetricsError::BadMagic)
    ));
    assert!(matches!(
        open(header_bytes(4, -5, 2)),
        Err(MetricsError::InvalidHeader {
            field: "n_vocab",
            value: -5
        })
    ));
    assert!(matches!(
        open(header_bytes(0, 5, 2)),
        Err(MetricsError::InvalidHeader { field: "n_ctx", .. })
    ));
    assert!(matches!(
        open(header_bytes(4, 5, -1)),
        Err(MetricsError::InvalidHeader {
            field: "n_chunk",
            ..
        })
    ));
    // A malicious header announcing ~2^95 bytes: rejected from the length, nothing allocated.
    assert!(matches!(
        open(header_bytes(i32::MAX, i32::MAX, i32::MAX)),
        Err(MetricsError::SizeMismatch { .. } | MetricsError::SizeOverflow)
    ));
    // A token outside the vocabulary.
    let mut tok = good.clone();
    tok[20..24].copy_from_slice(&5i32.to_le_bytes());
    assert!(matches!(
        open(tok),
        Err(MetricsError::TokenOutOfRange { token: 5, .. })
    ));
    let mut neg = good.clone();
    neg[20..24].copy_from_slice(&(-1i32).to_le_bytes());
    assert!(matches!(
        open(neg),
        Err(MetricsError::TokenOutOfRange { token: -1, .. })
    ));
    // A NaN scale in the first record.
    let mut nan = good.clone();
    let rec0 = 20 + 4 * 8;
    nan[rec0..rec0 + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let mut r = LogitsFileReader::new(Cursor::new(nan)).unwrap();
    assert!(matches!(
        r.next(),
        Some(Err(MetricsError::InvalidRecord { record: 0, .. }))
    ));
    assert!(r.next().is_none(), "iteration stops after an error");
    // A negative scale in the second record.
    let mut negs = good.clone();
    let rec1 = rec0 + LogitsFileHeader::new(4, 5, 2).unwrap().record_bytes() as usize;
    negs[rec1..rec1 + 4].copy_from_slice(&(-1.0f32).to_le_bytes());
    let mut r = LogitsFileReader::new(Cursor::new(negs)).unwrap();
    assert!(r.next().unwrap().is_ok());
    assert!(matches!(
        r.next(),
        Some(Err(MetricsError::InvalidRecord { record: 1, .. }))
    ));
    // A finite scale so large that scale·65535 overflows f32.
    let mut huge = good.clone();
    huge[rec0..rec0 + 4].copy_from_slice(&1e36f32.to_le_bytes());
    let mut r = LogitsFileReader::new(Cursor::new(huge)).unwrap();
    assert!(matches!(
        r.next(),
        Some(Err(MetricsError::InvalidRecord { record: 0, .. }))
    ));
}

#[test]
fn writer_rejects_inconsistent_input() {
    let h = LogitsFileHeader::new(4, 3, 1).unwrap();
    assert!(matches!(
        LogitsFileWriter::new(Vec::new(), h, &[0, 1, 2]),
        Err(MetricsError::LengthMismatch { .. })
    ));
    assert!(matches!(
        LogitsFileWriter::new(Vec::new(), h, &[0, 1, 2, 3]),
        Err(MetricsError::TokenOutOfRange { token: 3, .. })
    ));
    let mut w = LogitsFileWriter::new(Vec::new(), h, &[0, 1, 2, 0]).unwrap();
    assert!(matches!(
        w.write_logits(&[0.0, 1.0]),
        Err(MetricsError::VocabMismatch { .. })
    ));
    assert!(matches!(
        w.write_logits(&[0.0, f32::INFINITY, 1.0]),
        Err(MetricsError::NonFinite { .. })
    ));
    let w2 = LogitsFileWriter::new(Vec::new(), h, &[0, 1, 2, 0]).unwrap();
    assert!(matches!(
        w2.finish(),
        Err(MetricsError::RecordCount {
            expected: 1,
            actual: 0
        })
    ));
    w.write_logits(&[0.0, 1.0, 2.0]).unwrap();
    assert!(matches!(
        w.write_logits(&[0.0, 1.0, 2.0]),
        Err(MetricsError::RecordCount { .. })
    ));
    assert!(LogitsFileHeader::new(0, 3, 1).is_err());
    assert!(LogitsFileHeader::new(4, 0, 1).is_err());
    assert!(LogitsFileHeader::new(4, 3, u32::MAX).is_err());
}

/// The two-file report equals the report built from the unpacked rows (same algorithm), and its
/// per-token KLD is within the packing error of the KLD of the exact logits.
#[test]
fn file_comparison_matches_direct_computation() {
    let mut rng = Rng(3);
    let (n_ctx, n_vocab, n_chunk) = (8u32, 37u32, 4u32);
    let header = LogitsFileHeader::new(n_ctx, n_vocab, n_chunk).unwrap();
    let tokens: Vec<u32> = (0..n_ctx * n_chunk).map(|_| rng.below(37) as u32).collect();
    let base_rows: Vec<Vec<f32>> = (0..header.n_records())
        .map(|_| rng.logits(37, 12.0))
        .collect();
    let quant_rows: Vec<Vec<f32>> = base_rows.iter().map(|r| rng.perturb(r, 0.3)).collect();
    let write = |rows: &[Vec<f32>]| {
        let mut w = LogitsFileWriter::new(Vec::new(), header, &tokens).unwrap();
        for r in rows {
            w.write_logits(r).unwrap();
        }
        w.finish().unwrap()
    };
    let (fb, fq) = (write(&base_rows), write(&quant_rows));
    let reader = |b: &Vec<u8>| LogitsFileReader::new(Cursor::new(b.clone())).unwrap();
    let report =
        compare_logits_readers(reader(&fb), reader(&fq), &FileCompareOptions::default()).unwrap();

    let mut acc = KldAccumulator::new();
    let mut acc_exact = KldAccumulator::new();
    let per = header.scored_per_chunk() as usize;
    for (i, (b, q)) in base_rows.iter().zip(&quant_rows).enumerate() {
        let t = header.target_index(i as u64) as usize;
        let t = tokens[t] as usize;
        let lb = PackedRecord::from_logits(b).unwrap().log_probs();
        let lq = PackedRecord::from_logits(q).unwrap().log_probs();
        acc.push(&compare_log_probs(&lb, &lq, t, &CompareOptions::llama_cpp()).unwrap());
        let exact = compare_logits(b, q, t).unwrap();
        acc_exact.push(&exact);
        // Packing error: each log-prob is off by ≤ scale/2 ≤ 1.22e-4 (+ f32 rounding), so the
        // KLD, a p-weighted mean of log-prob differences, is off by ≤ 2.5e-4 (spread < 16 nats:
        // no clamping here).
        assert!((report.per_token_kld[i] - exact.kld).abs() < 2.5e-4);
        assert!((report.per_token_delta_p[i] - exact.delta_p).abs() < 2.5e-4);
        if (i + 1) % per == 0 {
            acc.end_chunk();
            acc_exact.end_chunk();
        }
    }
    assert_eq!(report, acc.finish());
    let exact = acc_exact.finish();
    assert!((report.kld.value - exact.kld.value).abs() < 2.5e-4);
    assert!((report.ppl_quant.value / exact.ppl_quant.value - 1.0).abs() < 2.5e-4);
    assert_eq!(report.per_chunk.len(), n_chunk as usize);
    assert_eq!(report.n_tokens, header.n_records() as usize);

    // The file's own perplexity equals the comparison's PPL(base).
    let ppl = logits_file_perplexity(reader(&fb)).unwrap();
    assert_eq!(ppl.ppl.value, report.ppl_base.value);

    // Files from different texts or settings are rejected.
    let other_tokens: Vec<u32> = tokens.iter().map(|&t| (t + 1) % 37).collect();
    let mut w = LogitsFileWriter::new(Vec::new(), header, &other_tokens).unwrap();
    for r in &quant_rows {
        w.write_logits(r).unwrap();
    }
    let fo = w.finish().unwrap();
    assert!(matches!(
        compare_logits_readers(reader(&fb), reader(&fo), &FileCompareOptions::default()),
        Err(MetricsError::InconsistentFiles(_))
    ));
    let (fs, _, _) = synth_file(&mut rng, 8, 36, 4, 5.0);
    assert!(matches!(
        compare_logits_readers(reader(&fb), reader(&fs), &FileCompareOptions::default()),
        Err(MetricsError::InconsistentFiles(_))
    ));
    let zero = FileCompareOptions {
        batch: 0,
        ..FileCompareOptions::default()
    };
    assert!(matches!(
        compare_logits_readers(reader(&fb), reader(&fq), &zero),
        Err(MetricsError::InvalidParameter(_))
    ));
}

#[test]
fn formatter_prints_sections_only_from_100_tokens() {
    let mut rng = Rng(5);
    let mut acc = KldAccumulator::new();
    for i in 0..120 {
        let b = rng.logits(20, 8.0);
        let q = rng.perturb(&b, 0.2);
        acc.push(&compare_logits(&b, &q, i % 20).unwrap());
        if i == 59 {
            let small = acc.clone().finish().to_llama_cpp_string();
            assert!(!small.contains("======"), "{small}");
        }
        if (i + 1) % 30 == 0 {
            acc.end_chunk();
        }
    }
    let r = acc.finish();
    let s = r.to_llama_cpp_string();
    assert_eq!(s.lines().filter(|l| l.starts_with("   ")).count(), 4, "{s}");
    for label in [
        "Mean PPL(Q)                   : ",
        "Cor(ln(PPL(Q)), ln(PPL(base))): ",
        "99.9%   KLD: ",
        " 0.1%   KLD: ",
        "75.0%   Δp: ",
        "RMS Δp    : ",
        "Same top p: ",
    ] {
        assert!(s.contains(label), "missing {label:?} in\n{s}");
    }
    assert_eq!(format!("{r}"), s);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["n_tokens"], 120);
    assert!(json["kld"]["value"].as_f64().unwrap() > 0.0);
    assert_eq!(json["per_chunk"].as_array().unwrap().len(), 4);
    assert_eq!(
        json["kld_distribution"]["percentiles"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

/// Each policy scores each token at most once and its targets are the stream's next tokens.
#[test]
fn scoring_policies_cover_the_stream_as_documented() {
    let tokens: Vec<u32> = (0..103).map(|i| 1000 + i).collect();
    let check = |p: ScoringPolicy, expect_scored: Vec<usize>| {
        let mut seen = vec![];
        for w in p.windows(&tokens).unwrap() {
            assert_eq!(w.scored.len(), w.targets.len());
            for (k, &t) in w.targets.iter().enumerate() {
                let idx = w.first_target_index + k;
                assert_eq!(t, tokens[idx]);
                seen.push(idx);
                // The scored position's input token is the previous stream token (unless it was
                // replaced by a BOS or is the prefix).
                let pos = w.scored.start + k;
                if pos > 0 {
                    assert_eq!(w.input[pos], tokens[idx - 1], "{p:?}");
                }
            }
        }
        assert_eq!(seen, expect_scored, "{p:?}");
    };
    // llama.cpp: 103/10 = 10 chunks, positions 5..8 predict tokens 6..9 of each chunk.
    let llama = ScoringPolicy::LlamaCppChunks {
        n_ctx: 10,
        bos: Some(1),
        max_chunks: None,
    };
    check(
        llama,
        (0..10)
            .flat_map(|c| (6..10).map(move |j| c * 10 + j))
            .collect(),
    );
    let w0 = llama.windows(&tokens).unwrap().next().unwrap();
    assert_eq!(w0.input[0], 1);
    let capped = ScoringPolicy::LlamaCppChunks {
        n_ctx: 10,
        bos: None,
        max_chunks: Some(3),
    };
    assert_eq!(capped.windows(&tokens).unwrap().count(), 3);
    // HF strided: every token but the first, exactly once, in order.
    for (max_length, stride) in [(16, 5), (16, 15), (200, 7), (2, 1)] {
        check(
            ScoringPolicy::Strided { max_length, stride },
            (1..103).collect(),
        );
    }
    // Without overlap (stride = max_length), as in Hugging Face's loop, the first token of each
    // window has no label position and is skipped.
    check(
        ScoringPolicy::Strided {
            max_length: 16,
            stride: 16,
        },
        (1..103).filter(|i| i % 16 != 0).collect(),
    );
    // Disjoint windows: all tokens with a prefix, all but the first without.
    check(
        ScoringPolicy::Disjoint {
            window: 10,
            prefix: Some(0),
        },
        (0..103).collect(),
    );
    check(
        ScoringPolicy::Disjoint {
            window: 10,
            prefix: None,
        },
        (1..103).collect(),
    );
    check(
        ScoringPolicy::Disjoint {
            window: 1,
            prefix: None,
        },
        (1..103).collect(),
    );
    // Invalid parameters and too-short streams.
    assert!(
        ScoringPolicy::LlamaCppChunks {
            n_ctx: 2,
            bos: None,
            max_chunks: None
        }
        .windows(&tokens)
        .is_err()
    );
    assert!(
        ScoringPolicy::LlamaCppChunks {
            n_ctx: 200,
            bos: None,
            max_chunks: None
        }
        .windows(&tokens)
        .is_err()
    );
    assert!(
        ScoringPolicy::Strided {
            max_length: 4,
            stride: 5
        }
        .windows(&tokens)
        .is_err()
    );
    assert!(
        ScoringPolicy::Disjoint {
            window: 0,
            prefix: None
        }
        .windows(&tokens)
        .is_err()
    );
}

#[test]
fn perplexity_bits_per_byte_and_word_perplexity() {
    let mut acc = PerplexityAccumulator::new();
    // Two tokens with p = 1/2 and p = 1/8: total NLL = ln 2 + ln 8 = 4 ln 2 nats = 4 bits.
    acc.push_logits(&[0.0, 0.0], 0).unwrap();
    acc.push_logits(&[0.0; 8], 5).unwrap();
    let e = acc.estimate();
    assert_eq!(e.n_tokens, 2);
    assert!((e.ppl.value - 4.0).abs() < 1e-12); // exp(2 ln 2)
    assert!((e.bits_per_byte(4).unwrap() - 1.0).abs() < 1e-12);
    assert!((e.word_perplexity(1).unwrap() - 16.0).abs() < 1e-9);
    // Standard error: NLLs ln 2 and 3 ln 2: sd of the mean = sqrt(var/(N−1)) with var = (ln 2)².
    assert!((e.mean_nll.uncertainty - 2f64.ln()).abs() < 1e-12);
    assert!(e.bits_per_byte(0).is_err() && e.word_perplexity(0).is_err());
    assert!(acc.push_nll(f64::NAN).is_err());
    assert!(acc.push_logits(&[0.0, f32::NEG_INFINITY], 0).is_err());
    assert!(matches!(
        acc.push_logits(&[0.0], 1),
        Err(MetricsError::TokenOutOfRange { .. })
    ));
    assert_eq!(acc.count(), 2);
}

#[test]
fn comparison_errors_and_flips() {
    assert!(matches!(
        compare_logits(&[0.0, 1.0], &[0.0], 0),
        Err(MetricsError::VocabMismatch { .. })
    ));
    assert!(matches!(
        compare_logits(&[0.0, f32::NAN], &[0.0, 1.0], 0),
        Err(MetricsError::NonFinite { .. })
    ));
    assert!(matches!(
        compare_logits(&[0.0, 1.0], &[0.0, 1.0], 2),
        Err(MetricsError::TokenOutOfRange { .. })
    ));
    assert!(matches!(
        compare_logits(&[], &[], 0),
        Err(MetricsError::EmptyRow)
    ));
    assert!(count_flips(&[true], &[]).is_err());
    let f = count_flips(&[true, false, true, true], &[true, true, false, false]).unwrap();
    assert_eq!(
        (f.correct_to_wrong, f.wrong_to_correct, f.n_items),
        (2, 1, 4)
    );
    assert!((f.rate() - 0.75).abs() < 1e-15);
    // Top-k overlap: swapping the 2 largest of 12 entries keeps top-5/top-10 sets, changes top-1.
    let base: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let mut quant = base.clone();
    quant.swap(11, 10);
    let c = compare_logits(&base, &quant, 0).unwrap();
    assert!(!c.same_top());
    assert_eq!((c.top5_common, c.top10_common), (5, 10));
    // Moving entry 6 (rank 6 in base) to the bottom removes it from the quant top-5... no: rank 6
    // is outside the top 5 (11..7), so only the top-10 loses one entry.
    quant[6] = -100.0;
    let c = compare_logits(&base, &quant, 0).unwrap();
    assert_eq!((c.top5_common, c.top10_common), (5, 9));
    assert!((c.top10_overlap() - 0.9).abs() < 1e-15);
}

/// Hand-computed values: KL, reverse KL and JSD of two-point distributions.
#[test]
fn divergences_match_the_textbook_formulas() {
    let (p, q) = ([0.5f64, 0.5], [0.9f64, 0.1]);
    let lp: Vec<f32> = p.iter().map(|x| x.ln() as f32).collect();
    let lq: Vec<f32> = q.iter().map(|x| x.ln() as f32).collect();
    let c = compare_log_probs(&lp, &lq, 1, &CompareOptions::default()).unwrap();
    let kl =
        |a: &[f64; 2], b: &[f64; 2]| a.iter().zip(b).map(|(x, y)| x * (x / y).ln()).sum::<f64>();
    let m = [0.7, 0.3];
    let jsd = 0.5 * kl(&p, &m) + 0.5 * kl(&q, &m);
    // Inputs are f32 log-probabilities (≤ 6e-8 relative rounding each): 1e-6 absolute.
    assert!(
        (c.kld - kl(&p, &q)).abs() < 1e-6,
        "{} vs {}",
        c.kld,
        kl(&p, &q)
    );
    assert!((c.reverse_kld - kl(&q, &p)).abs() < 1e-6);
    assert!((c.jsd - jsd).abs() < 1e-6, "{} vs {jsd}", c.jsd);
    assert!((c.delta_p - (0.1 - 0.5)).abs() < 1e-6);
    assert!((c.nll_base - 2f64.ln()).abs() < 1e-6);
    // Disjoint supports: JSD reaches its maximum ln 2.
    let c = compare_log_probs(
        &[0.0, -1000.0],
        &[-1000.0, 0.0],
        0,
        &CompareOptions::default(),
    )
    .unwrap();
    assert!((c.jsd - std::f64::consts::LN_2).abs() < 1e-12);
    assert!(c.kld > 900.0);
    // With llama.cpp's floor, entries with base log-prob ≤ −16 are left out of the KL sum.
    let c = compare_log_probs(
        &[0.0, -17.0],
        &[-1.0, -0.5],
        0,
        &CompareOptions::llama_cpp(),
    )
    .unwrap();
    assert_eq!(c.kld, 1.0);
}

/// The llama.cpp scoring policy and the logits-file layout agree: record r's target is the r-th
/// target of `LlamaCppChunks`, for odd and even contexts.
#[test]
fn llama_cpp_policy_matches_the_logits_file_record_order() {
    for n_ctx in [3u32, 4, 7, 32] {
        let n_chunk = 5u32;
        let tokens: Vec<u32> = (0..n_ctx * n_chunk + 3).map(|i| i * 7 % 1000).collect();
        let header = LogitsFileHeader::new(n_ctx, 1000, n_chunk).unwrap();
        let policy = ScoringPolicy::LlamaCppChunks {
            n_ctx: n_ctx as usize,
            bos: None,
            max_chunks: Some(n_chunk as usize),
        };
        let from_policy: Vec<u32> = policy
            .windows(&tokens)
            .unwrap()
            .flat_map(|w| w.targets)
            .collect();
        let from_file: Vec<u32> = (0..header.n_records())
            .map(|r| tokens[header.target_index(r) as usize])
            .collect();
        assert_eq!(from_policy, from_file, "n_ctx = {n_ctx}");
        assert_eq!(from_policy.len() as u64, header.n_records());
    }
}
