//! Comparing two llama.cpp logits files: the full KL-divergence report from files alone.

use std::io::{Read, Seek};
use std::path::Path;

use rayon::prelude::*;

use crate::compare::{CompareOptions, TokenComparison, compare_log_probs};
use crate::error::{MetricsError, Result};
use crate::logits_file::{LogitsFileReader, PackedRecord};
use crate::report::{KldAccumulator, KldReport};

/// Options of [`compare_logits_files`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileCompareOptions {
    /// Records held in memory and compared in parallel at a time (memory is
    /// `O(batch·vocab)`; results do not depend on it). At least 1.
    pub batch: usize,
    /// Per-token options; llama.cpp's 16-nat KL floor by default.
    pub compare: CompareOptions,
}

impl Default for FileCompareOptions {
    fn default() -> Self {
        Self {
            batch: 16,
            compare: CompareOptions::llama_cpp(),
        }
    }
}

/// Compares a base-model logits file with another model's (same text, same settings) and returns
/// the full report, streaming both files.
///
/// The "Q" side of llama.cpp's report is taken from the second file, so it carries that file's
/// 16-bit packing error (≤ scale/2 ≈ 1.2e-4 nats per entry) and 16-nat clamp; see the crate docs
/// for the measured agreement with llama.cpp's live-logits numbers.
///
/// # Errors
/// Every reader error, [`MetricsError::InconsistentFiles`] if the headers or token lists differ.
pub fn compare_logits_files(
    base: impl AsRef<Path>,
    other: impl AsRef<Path>,
    options: &FileCompareOptions,
) -> Result<KldReport> {
    compare_logits_readers(
        LogitsFileReader::open(base)?,
        LogitsFileReader::open(other)?,
        options,
    )
}

/// As [`compare_logits_files`], for already opened readers (positioned before their first
/// record).
///
/// # Errors
/// As [`compare_logits_files`]; [`MetricsError::InvalidParameter`] for `batch == 0`.
pub fn compare_logits_readers<A: Read + Seek, B: Read + Seek>(
    mut base: LogitsFileReader<A>,
    mut other: LogitsFileReader<B>,
    options: &FileCompareOptions,
) -> Result<KldReport> {
    if options.batch == 0 {
        return Err(MetricsError::InvalidParameter("batch must be ≥ 1".into()));
    }
    if base.header() != other.header() {
        return Err(MetricsError::InconsistentFiles(format!(
            "headers differ: {:?} vs {:?}",
            base.header(),
            other.header()
        )));
    }
    if base.tokens() != other.tokens() {
        return Err(MetricsError::InconsistentFiles(
            "the files were computed on different tokens".into(),
        ));
    }
    if base.position() != 0 || other.position() != 0 {
        return Err(MetricsError::InvalidParameter(
            "readers must be positioned at the first record".into(),
        ));
    }
    let header = *base.header();
    let n_records = header.n_records();
    let per_chunk = u64::from(header.scored_per_chunk());
    let mut acc = KldAccumulator::new();
    let mut recs: Vec<(PackedRecord, PackedRecord, usize)> = Vec::with_capacity(options.batch);
    let mut done = 0u64;
    while done < n_records {
        let n = (n_records - done).min(options.batch as u64) as usize;
        recs.resize_with(n, Default::default);
        for (k, (b, o, t)) in recs.iter_mut().enumerate() {
            base.read_record(b)?;
            other.read_record(o)?;
            let idx = done + k as u64;
            *t = base.target(idx).ok_or(MetricsError::RecordCount {
                expected: n_records,
                actual: idx,
            })? as usize;
        }
        let results: Vec<Result<TokenComparison>> = recs
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(lb, lq), (b, o, t)| {
                    b.log_probs_into(lb);
                    o.log_probs_into(lq);
                    compare_log_probs(lb, lq, *t, &options.compare)
                },
            )
            .collect();
        for (k, r) in results.into_iter().enumerate() {
            acc.push(&r?);
            let idx = done + k as u64 + 1;
            if per_chunk > 0 && idx.is_multiple_of(per_chunk) {
                acc.end_chunk();
            }
        }
        done += n as u64;
    }
    Ok(acc.finish())
}

/// Perplexity of a logits file's own targets (`−log p` of each record's next token, as stored),
/// with llama.cpp's uncertainty: this reproduces the `Mean PPL(base)` line of a comparison.
///
/// # Errors
/// Reader errors.
pub fn logits_file_perplexity<R: Read + Seek>(
    mut reader: LogitsFileReader<R>,
) -> Result<crate::perplexity::PerplexityEstimate> {
    let mut acc = crate::perplexity::PerplexityAccumulator::new();
    let mut rec = PackedRecord::default();
    let mut i = 0;
    while reader.read_record(&mut rec)? {
        let t = reader.target(i).ok_or(MetricsError::RecordCount {
            expected: reader.header().n_records(),
            actual: i,
        })?;
        let lp = rec
            .log_prob(t as usize)
            .ok_or(MetricsError::TokenOutOfRange {
                token: i64::from(t),
                n_vocab: rec.q.len(),
            })?;
        acc.push_nll(-f64::from(lp))?;
        i += 1;
    }
    Ok(acc.estimate())
}
