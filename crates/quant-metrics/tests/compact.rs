//! The compact top-k format: round trip, validation, and its KLD against the full computation.

mod common;

use std::io::Cursor;

use common::Rng;
use quant_metrics::{
    COMPACT_VERSION, CompactReader, CompactRecord, CompareOptions, FileCompareOptions,
    LogitsFileHeader, LogitsFileReader, LogitsFileWriter, MetricsError,
    compare_compact_to_logits_file, compare_logits_readers, convert_logits_file_to_compact,
};

fn llama_file(
    rng: &mut Rng,
    header: LogitsFileHeader,
    tokens: &[u32],
    rows: &[Vec<f32>],
) -> Vec<u8> {
    let _ = rng;
    let mut w = LogitsFileWriter::new(Vec::new(), header, tokens).unwrap();
    for r in rows {
        w.write_logits(r).unwrap();
    }
    w.finish().unwrap()
}

fn setup(seed: u64, v: u32) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(seed);
    let header = LogitsFileHeader::new(9, v, 3).unwrap();
    let tokens: Vec<u32> = (0..27).map(|_| rng.below(v as usize) as u32).collect();
    let base: Vec<Vec<f32>> = (0..header.n_records())
        .map(|_| rng.logits(v as usize, 14.0))
        .collect();
    let quant: Vec<Vec<f32>> = base.iter().map(|r| rng.perturb(r, 0.4)).collect();
    (
        llama_file(&mut rng, header, &tokens, &base),
        llama_file(&mut rng, header, &tokens, &quant),
    )
}

fn reader(b: &[u8]) -> LogitsFileReader<Cursor<Vec<u8>>> {
    LogitsFileReader::new(Cursor::new(b.to_vec())).unwrap()
}

#[test]
fn compact_round_trip_and_validation() {
    let (fb, _) = setup(1, 41);
    let compact = convert_logits_file_to_compact(reader(&fb), Vec::new(), 5, 0xfeed).unwrap();
    let h = LogitsFileHeader::new(9, 41, 3).unwrap();
    assert_eq!(
        compact.len() as u64,
        48 + 4 * 27 + h.n_records() * (12 + 8 * 5)
    );
    let mut r = CompactReader::new(Cursor::new(compact.clone())).unwrap();
    assert_eq!(r.header().version, COMPACT_VERSION);
    assert_eq!((r.header().top_k, r.header().vocab_hash), (5, 0xfeed));
    let mut full = reader(&fb);
    assert_eq!(r.tokens(), full.tokens());
    let mut rec = CompactRecord::default();
    let mut i = 0;
    while r.read_record(&mut rec).unwrap() {
        let lp = full.next().unwrap().unwrap().log_probs();
        assert_eq!(rec.target, full.target(i).unwrap());
        assert_eq!(rec.target_log_prob, lp[rec.target as usize]);
        // The kept entries are the 5 largest, in descending order, and the residual holds the rest.
        let mut sorted = lp.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let kept: Vec<f32> = rec.top.iter().map(|&(_, l)| l).collect();
        assert_eq!(kept, sorted[..5].to_vec());
        for &(v, l) in &rec.top {
            assert_eq!(lp[v as usize], l);
        }
        let rest: f64 = sorted[5..].iter().map(|&l| f64::from(l).exp()).sum();
        assert!((f64::from(rec.residual_log_mass) - rest.ln()).abs() < 1e-6);
        i += 1;
    }
    assert_eq!(i, h.n_records());

    let open = |b: Vec<u8>| CompactReader::new(Cursor::new(b)).map(|_| ());
    let mut bad = compact.clone();
    bad[8] = 2; // version 2
    assert!(matches!(
        open(bad),
        Err(MetricsError::InvalidHeader {
            field: "version",
            ..
        })
    ));
    let mut bad = compact.clone();
    bad[0] = b'x';
    assert!(matches!(open(bad), Err(MetricsError::BadMagic)));
    assert!(matches!(
        open(compact[..compact.len() - 1].to_vec()),
        Err(MetricsError::SizeMismatch { .. })
    ));
    let mut bad = compact.clone();
    bad[16..20].copy_from_slice(&0u32.to_le_bytes()); // top_k = 0
    assert!(matches!(
        open(bad),
        Err(MetricsError::InvalidHeader { field: "top_k", .. })
    ));
    // A positive log-probability in a record.
    let mut bad = compact.clone();
    let rec0 = 48 + 4 * 27;
    bad[rec0 + 4..rec0 + 8].copy_from_slice(&5.0f32.to_le_bytes());
    let mut r = CompactReader::new(Cursor::new(bad)).unwrap();
    assert!(matches!(
        r.read_record(&mut rec),
        Err(MetricsError::InvalidRecord { .. })
    ));
    // No records (n_chunk = 0) but a huge top_k: accepted without allocating a record buffer.
    let mut empty = compact[..48].to_vec();
    empty[12..16].copy_from_slice(&0x7fff_ffffu32.to_le_bytes()); // n_vocab
    empty[16..20].copy_from_slice(&0x7fff_ffffu32.to_le_bytes()); // top_k
    empty[40..44].copy_from_slice(&0u32.to_le_bytes()); // n_chunk
    let mut r = CompactReader::new(Cursor::new(empty)).unwrap();
    assert!(!r.read_record(&mut rec).unwrap());
    assert!(matches!(
        CompactRecord::from_log_probs(&[0.0, -1.0], 3, 0),
        Err(MetricsError::InvalidParameter(_))
    ));
}

/// With k = V the buckets are the entries: same KLD as the full comparison up to the fast
/// kernel's rounding; with k < V the bucketed KLD is a lower bound (data-processing inequality) and
/// grows with k.
#[test]
fn compact_kld_is_a_lower_bound_that_tightens_with_k() {
    let (fb, fq) = setup(2, 64);
    let opts = CompareOptions::default();
    let full = compare_logits_readers(
        reader(&fb),
        reader(&fq),
        &FileCompareOptions {
            batch: 4,
            compare: opts,
        },
    )
    .unwrap();
    let mut last = vec![f64::NEG_INFINITY; full.n_tokens];
    for k in [1u32, 4, 16, 63, 64] {
        let c = convert_logits_file_to_compact(reader(&fb), Vec::new(), k, 0).unwrap();
        let rep = compare_compact_to_logits_file(
            CompactReader::new(Cursor::new(c)).unwrap(),
            reader(&fq),
            &opts,
        )
        .unwrap();
        assert_eq!(rep.per_token_delta_p, full.per_token_delta_p);
        assert_eq!(rep.ppl_base, full.ppl_base);
        assert_eq!(rep.ppl_quant, full.ppl_quant);
        for (i, (&a, &b)) in rep
            .per_token_kld
            .iter()
            .zip(&full.per_token_kld)
            .enumerate()
        {
            // Exact inequalities (log-sum inequality, valid for the slightly unnormalized packed
            // distributions too); slack for the residual mass stored as an f32 logarithm
            // (relative 6e-8 of |ln R| ≤ 30 nats, times R ≤ 1): 1e-6.
            assert!(a <= b + 1e-6, "k={k} token {i}: {a} > {b}");
            assert!(a >= last[i] - 1e-6, "k={k} token {i}: not monotone");
            if k == 64 {
                // The compact path sums in f64; the full two-file path uses the fast f32 kernel,
                // within 1e-6·Σ|p·δ| of f64 (tests/fast_vs_reference.rs), and Σ|p·δ| < 0.1 for
                // these rows: 1e-7 absolute.
                assert!((a - b).abs() <= 1e-7, "k=V must agree: {a} vs {b}");
            }
            last[i] = a;
        }
        if k >= 10 {
            assert_eq!(rep.same_top, full.same_top);
            assert_eq!(rep.top10_overlap, full.top10_overlap);
        }
    }
}
