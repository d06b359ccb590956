//! Our own compact, versioned logits format: top-k log-probabilities plus the residual mass.
//!
//! llama.cpp's file stores every vocabulary entry (2 bytes each: ~300 kB per token at a 152k
//! vocabulary). Most of that is noise far below the top candidates. This format keeps, per scored
//! position, the `k` most likely entries as (u32 index, f32 log-probability), the log of the
//! probability mass of all other entries, and the target's log-probability (so perplexity stays
//! exact): `12 + 8k` bytes per token, 95× smaller than llama.cpp's at k = 128 and 49k vocabulary.
//!
//! Layout (little-endian): magic `QMTOPK\r\n`, `u32 version` (1), `u32 n_vocab`, `u32 top_k`,
//! `u32 policy` (0 = llama.cpp chunks), `u64 vocab_hash` (caller-defined, e.g. a hash of the
//! tokenizer's vocabulary; 0 if unknown), `f32 clamp_nats` of the source (16 for llama.cpp files),
//! `u32 n_ctx`, `u32 n_chunk`, `u32 reserved` (0), then `n_ctx·n_chunk` u32 tokens and
//! `n_chunk·(n_ctx − 1 − n_ctx/2)` records: `u32 target`, `f32 target_log_prob`,
//! `f32 residual_log_mass` (−∞ when the top-k hold everything), `top_k × (u32 index, f32 log_prob)`
//! in descending probability.
//!
//! KL divergences computed from it are those of the distributions coarse-grained to k + 1 buckets
//! (the top-k entries and "everything else"), which by the data-processing inequality are lower
//! bounds of the full values; the `compact_kld_error` test measures the gap on real files.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::Serialize;

use crate::compare::{CompareOptions, TokenComparison, TopK, compare_core};
use crate::error::{MetricsError, Result};
use crate::logits_file::{LogitsFileHeader, LogitsFileReader, PackedRecord};
use crate::report::{KldAccumulator, KldReport};

/// Magic of the compact format.
pub const COMPACT_MAGIC: [u8; 8] = *b"QMTOPK\r\n";
/// Current version of the compact format.
pub const COMPACT_VERSION: u32 = 1;
const COMPACT_HEADER_BYTES: u64 = 48;

/// Header of a compact top-k logits file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CompactHeader {
    /// Format version ([`COMPACT_VERSION`]).
    pub version: u32,
    /// Vocabulary size.
    pub n_vocab: u32,
    /// Entries kept per position (1 ≤ top_k ≤ n_vocab).
    pub top_k: u32,
    /// Scoring policy of the positions (0 = llama.cpp chunks; the only one defined).
    pub policy: u32,
    /// Caller-defined vocabulary hash (0 if unknown); comparisons require equal hashes.
    pub vocab_hash: u64,
    /// Clamp of the source distribution, nats below the maximum (16 for llama.cpp files).
    pub clamp_nats: f32,
    /// Chunk size.
    pub n_ctx: u32,
    /// Number of chunks.
    pub n_chunk: u32,
}

impl CompactHeader {
    fn logits_header(&self) -> Result<LogitsFileHeader> {
        LogitsFileHeader::new(self.n_ctx, self.n_vocab, self.n_chunk)
    }

    /// Bytes per record: `12 + 8·top_k`.
    #[must_use]
    pub fn record_bytes(&self) -> u64 {
        12 + 8 * u64::from(self.top_k)
    }

    /// Exact file length implied by the header.
    ///
    /// # Errors
    /// [`MetricsError::InvalidHeader`] or [`MetricsError::SizeOverflow`].
    pub fn file_len(&self) -> Result<u64> {
        let h = self.logits_header()?;
        h.n_tokens()
            .checked_mul(4)
            .and_then(|t| {
                COMPACT_HEADER_BYTES
                    .checked_add(t)?
                    .checked_add(h.n_records().checked_mul(self.record_bytes())?)
            })
            .ok_or(MetricsError::SizeOverflow)
    }
}

/// One compact record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompactRecord {
    /// The target (actual next token).
    pub target: u32,
    /// Its log-probability.
    pub target_log_prob: f32,
    /// ln of the probability mass outside the top-k (−∞ if none).
    pub residual_log_mass: f32,
    /// (index, log-probability) of the top-k, most likely first.
    pub top: Vec<(u32, f32)>,
}

impl CompactRecord {
    /// Builds a record from a full row of log-probabilities.
    ///
    /// # Errors
    /// [`MetricsError::TokenOutOfRange`], [`MetricsError::InvalidParameter`] for `k` outside
    /// `1..=len`, [`MetricsError::NonFinite`].
    pub fn from_log_probs(log_probs: &[f32], k: usize, target: u32) -> Result<Self> {
        crate::softmax::checked_max(log_probs)?;
        if k == 0 || k > log_probs.len() {
            return Err(MetricsError::InvalidParameter(format!(
                "top_k must be in 1..={}",
                log_probs.len()
            )));
        }
        let target_log_prob =
            *log_probs
                .get(target as usize)
                .ok_or(MetricsError::TokenOutOfRange {
                    token: i64::from(target),
                    n_vocab: log_probs.len(),
                })?;
        let mut idx: Vec<u32> = (0..log_probs.len() as u32).collect();
        // Descending log-probability, ties by lower index: a total, deterministic order.
        let cmp = |a: &u32, b: &u32| {
            log_probs[*b as usize]
                .total_cmp(&log_probs[*a as usize])
                .then(a.cmp(b))
        };
        if k < idx.len() {
            idx.select_nth_unstable_by(k - 1, cmp);
        }
        let (head, rest) = idx.split_at_mut(k);
        head.sort_unstable_by(cmp);
        let residual: f64 = rest
            .iter()
            .map(|&i| f64::from(log_probs[i as usize]).exp())
            .sum();
        Ok(Self {
            target,
            target_log_prob,
            residual_log_mass: residual.ln() as f32,
            top: head.iter().map(|&i| (i, log_probs[i as usize])).collect(),
        })
    }
}

/// Writer of compact files.
#[derive(Debug)]
pub struct CompactWriter<W: Write> {
    inner: W,
    header: CompactHeader,
    written: u64,
    buf: Vec<u8>,
}

impl<W: Write> CompactWriter<W> {
    /// Writes the header and tokens.
    ///
    /// # Errors
    /// Invalid header values, a wrong token count, I/O errors.
    pub fn new(mut inner: W, header: CompactHeader, tokens: &[u32]) -> Result<Self> {
        header.file_len()?;
        if header.version != COMPACT_VERSION || header.top_k == 0 || header.top_k > header.n_vocab {
            return Err(MetricsError::InvalidParameter(
                "compact header: version must be 1 and 1 ≤ top_k ≤ n_vocab".into(),
            ));
        }
        let n = header.logits_header()?.n_tokens();
        if tokens.len() as u64 != n {
            return Err(MetricsError::LengthMismatch {
                what: "tokens vs n_ctx·n_chunk",
                left: n as usize,
                right: tokens.len(),
            });
        }
        let mut b = Vec::with_capacity(COMPACT_HEADER_BYTES as usize + 4 * tokens.len());
        b.extend_from_slice(&COMPACT_MAGIC);
        for v in [header.version, header.n_vocab, header.top_k, header.policy] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&header.vocab_hash.to_le_bytes());
        b.extend_from_slice(&header.clamp_nats.to_le_bytes());
        for v in [header.n_ctx, header.n_chunk, 0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for t in tokens {
            b.extend_from_slice(&t.to_le_bytes());
        }
        inner.write_all(&b)?;
        Ok(Self {
            inner,
            header,
            written: 0,
            buf: Vec::new(),
        })
    }

    /// Writes one record.
    ///
    /// # Errors
    /// [`MetricsError::LengthMismatch`] if it does not hold `top_k` entries,
    /// [`MetricsError::RecordCount`] past the announced count, I/O errors.
    pub fn write_record(&mut self, rec: &CompactRecord) -> Result<()> {
        if rec.top.len() != self.header.top_k as usize {
            return Err(MetricsError::LengthMismatch {
                what: "top-k entries",
                left: self.header.top_k as usize,
                right: rec.top.len(),
            });
        }
        let n = self.header.logits_header()?.n_records();
        if self.written >= n {
            return Err(MetricsError::RecordCount {
                expected: n,
                actual: self.written + 1,
            });
        }
        self.buf.clear();
        self.buf.extend_from_slice(&rec.target.to_le_bytes());
        self.buf
            .extend_from_slice(&rec.target_log_prob.to_le_bytes());
        self.buf
            .extend_from_slice(&rec.residual_log_mass.to_le_bytes());
        for (i, lp) in &rec.top {
            self.buf.extend_from_slice(&i.to_le_bytes());
            self.buf.extend_from_slice(&lp.to_le_bytes());
        }
        self.inner.write_all(&self.buf)?;
        self.written += 1;
        Ok(())
    }

    /// Checks the record count, flushes, returns the inner writer.
    ///
    /// # Errors
    /// [`MetricsError::RecordCount`], I/O errors.
    pub fn finish(mut self) -> Result<W> {
        let n = self.header.logits_header()?.n_records();
        if self.written != n {
            return Err(MetricsError::RecordCount {
                expected: n,
                actual: self.written,
            });
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}

/// Streaming reader of compact files (header validated against the stream length first).
#[derive(Debug)]
pub struct CompactReader<R> {
    inner: R,
    header: CompactHeader,
    tokens: Vec<u32>,
    next: u64,
    buf: Vec<u8>,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

impl CompactReader<BufReader<File>> {
    /// Opens a compact file.
    ///
    /// # Errors
    /// As [`CompactReader::new`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(BufReader::new(File::open(path)?))
    }
}

impl<R: Read + Seek> CompactReader<R> {
    /// Reads and validates the header and tokens.
    ///
    /// # Errors
    /// [`MetricsError::BadMagic`], [`MetricsError::InvalidHeader`] (unknown version, bad sizes),
    /// [`MetricsError::SizeMismatch`], [`MetricsError::TokenOutOfRange`], I/O errors.
    pub fn new(mut inner: R) -> Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        if len < COMPACT_HEADER_BYTES {
            return Err(MetricsError::SizeMismatch {
                expected: COMPACT_HEADER_BYTES,
                actual: len,
            });
        }
        let mut h = [0u8; COMPACT_HEADER_BYTES as usize];
        inner.read_exact(&mut h)?;
        if h[..8] != COMPACT_MAGIC {
            return Err(MetricsError::BadMagic);
        }
        let header = CompactHeader {
            version: u32_at(&h, 8),
            n_vocab: u32_at(&h, 12),
            top_k: u32_at(&h, 16),
            policy: u32_at(&h, 20),
            vocab_hash: u64::from(u32_at(&h, 24)) | (u64::from(u32_at(&h, 28)) << 32),
            clamp_nats: f32::from_bits(u32_at(&h, 32)),
            n_ctx: u32_at(&h, 36),
            n_chunk: u32_at(&h, 40),
        };
        if header.version != COMPACT_VERSION {
            return Err(MetricsError::InvalidHeader {
                field: "version",
                value: i64::from(header.version),
            });
        }
        if header.top_k == 0 || header.top_k > header.n_vocab {
            return Err(MetricsError::InvalidHeader {
                field: "top_k",
                value: i64::from(header.top_k),
            });
        }
        let expected = header.file_len()?;
        if expected != len {
            return Err(MetricsError::SizeMismatch {
                expected,
                actual: len,
            });
        }
        let n_tokens = header.logits_header()?.n_tokens() as usize;
        let mut raw = vec![0u8; 4 * n_tokens];
        inner.read_exact(&mut raw)?;
        let tokens: Vec<u32> = raw.chunks_exact(4).map(|c| u32_at(c, 0)).collect();
        if let Some(&t) = tokens.iter().find(|&&t| t >= header.n_vocab) {
            return Err(MetricsError::TokenOutOfRange {
                token: i64::from(t),
                n_vocab: header.n_vocab as usize,
            });
        }
        // Allocate the record buffer only when records exist: then its size is bounded by the
        // (already checked) stream length, even for a malicious top_k.
        let buf = if header.logits_header()?.n_records() > 0 {
            vec![
                0u8;
                usize::try_from(header.record_bytes()).map_err(|_| MetricsError::SizeOverflow)?
            ]
        } else {
            Vec::new()
        };
        Ok(Self {
            inner,
            header,
            tokens,
            next: 0,
            buf,
        })
    }
}

impl<R: Read> CompactReader<R> {
    /// The header.
    #[must_use]
    pub fn header(&self) -> &CompactHeader {
        &self.header
    }

    /// The stored tokens.
    #[must_use]
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Reads the next record into `rec`; `false` after the last.
    ///
    /// # Errors
    /// I/O errors; [`MetricsError::InvalidRecord`] for non-finite or positive log-probabilities,
    /// [`MetricsError::TokenOutOfRange`] for indices outside the vocabulary.
    pub fn read_record(&mut self, rec: &mut CompactRecord) -> Result<bool> {
        let n = self.header.logits_header()?.n_records();
        if self.next >= n {
            return Ok(false);
        }
        self.inner.read_exact(&mut self.buf)?;
        let b = &self.buf;
        rec.target = u32_at(b, 0);
        rec.target_log_prob = f32::from_bits(u32_at(b, 4));
        rec.residual_log_mass = f32::from_bits(u32_at(b, 8));
        rec.top.clear();
        rec.top.extend(
            b[12..]
                .chunks_exact(8)
                .map(|c| (u32_at(c, 0), f32::from_bits(u32_at(c, 4)))),
        );
        let bad_lp = |x: f32| !x.is_finite() || x > 1e-3;
        let bad = bad_lp(rec.target_log_prob)
            || rec.residual_log_mass.is_nan()
            || rec.residual_log_mass > 1e-3
            || rec.top.iter().any(|&(_, lp)| bad_lp(lp));
        if bad {
            return Err(MetricsError::InvalidRecord {
                record: self.next,
                scale: rec.target_log_prob,
                min_log_prob: rec.residual_log_mass,
            });
        }
        let nv = self.header.n_vocab;
        if let Some(&(i, _)) = rec.top.iter().find(|(i, _)| *i >= nv) {
            return Err(MetricsError::TokenOutOfRange {
                token: i64::from(i),
                n_vocab: nv as usize,
            });
        }
        if rec.target >= nv {
            return Err(MetricsError::TokenOutOfRange {
                token: i64::from(rec.target),
                n_vocab: nv as usize,
            });
        }
        self.next += 1;
        Ok(true)
    }
}

/// Converts a llama.cpp logits file to the compact format, keeping the `top_k` most likely
/// entries per position.
///
/// # Errors
/// Reader and writer errors; [`MetricsError::InvalidParameter`] for `top_k` outside
/// `1..=n_vocab`.
pub fn convert_logits_file_to_compact<R: Read + Seek, W: Write>(
    mut reader: LogitsFileReader<R>,
    out: W,
    top_k: u32,
    vocab_hash: u64,
) -> Result<W> {
    let h = *reader.header();
    let header = CompactHeader {
        version: COMPACT_VERSION,
        n_vocab: h.n_vocab,
        top_k,
        policy: 0,
        vocab_hash,
        clamp_nats: crate::logits_file::LOG_PROB_CLAMP_NATS,
        n_ctx: h.n_ctx,
        n_chunk: h.n_chunk,
    };
    let tokens = reader.tokens().to_vec();
    let mut w = CompactWriter::new(out, header, &tokens)?;
    let mut rec = PackedRecord::default();
    let mut lp = Vec::new();
    let mut i = 0;
    while reader.read_record(&mut rec)? {
        rec.log_probs_into(&mut lp);
        let t = reader.target(i).ok_or(MetricsError::RecordCount {
            expected: h.n_records(),
            actual: i,
        })?;
        w.write_record(&CompactRecord::from_log_probs(&lp, top_k as usize, t)?)?;
        i += 1;
    }
    w.finish()
}

/// Compares a compact base file with another model's full llama.cpp logits file. KL, reverse KL
/// and JSD are computed over the k + 1 buckets (the base's top-k entries and the rest), lower
/// bounds of the full values; NLLs, Δp and top-1 are exact.
///
/// # Errors
/// Reader errors; [`MetricsError::InconsistentFiles`] if sizes or tokens differ.
pub fn compare_compact_to_logits_file<A: Read, B: Read>(
    mut base: CompactReader<A>,
    mut other: LogitsFileReader<B>,
    options: &CompareOptions,
) -> Result<KldReport> {
    let (ch, oh) = (*base.header(), *other.header());
    if (ch.n_ctx, ch.n_vocab, ch.n_chunk) != (oh.n_ctx, oh.n_vocab, oh.n_chunk)
        || base.tokens() != other.tokens()
    {
        return Err(MetricsError::InconsistentFiles(
            "compact and logits files describe different evaluations".into(),
        ));
    }
    let per = u64::from(oh.scored_per_chunk());
    let mut acc = KldAccumulator::new();
    let (mut cb, mut ro, mut lq) = (
        CompactRecord::default(),
        PackedRecord::default(),
        Vec::new(),
    );
    let mut in_top = vec![false; ch.n_vocab as usize];
    let mut i = 0u64;
    while base.read_record(&mut cb)? {
        if !other.read_record(&mut ro)? {
            return Err(MetricsError::InconsistentFiles(
                "other file ended early".into(),
            ));
        }
        ro.log_probs_into(&mut lq);
        crate::softmax::checked_max(&lq)?;
        for &(v, _) in &cb.top {
            in_top[v as usize] = true;
        }
        let mut rq = 0.0f64;
        let mut top_q = TopK::new();
        for (v, &l) in lq.iter().enumerate() {
            if !in_top[v] {
                rq += f64::from(l).exp();
            }
            top_q.push(f64::from(l), v);
        }
        for &(v, _) in &cb.top {
            in_top[v as usize] = false;
        }
        let k = cb.top.len();
        let rb = f64::from(cb.residual_log_mass);
        let lrq = if rq > 0.0 { rq.ln() } else { f64::NEG_INFINITY };
        // Buckets 0..k are the top-k entries, bucket k the rest (skipped when empty on both sides).
        let n_buckets = if rb.is_finite() || lrq.is_finite() {
            k + 1
        } else {
            k
        };
        let bucket = |j: usize| -> (f64, f64, f64, f64) {
            let (lb, lqv) = if j < k {
                let (v, l) = cb.top[j];
                (f64::from(l), f64::from(lq[v as usize]))
            } else {
                (rb.max(-1e300), lrq.max(-1e300))
            };
            (lb, lqv, lb.exp(), lqv.exp())
        };
        let mut c: TokenComparison = compare_core(n_buckets, 0, options.kl_floor, bucket);
        let lbt = f64::from(cb.target_log_prob);
        let lqt = f64::from(lq[cb.target as usize]);
        c.nll_base = -lbt;
        c.nll_quant = -lqt;
        c.delta_p = lqt.exp() - lbt.exp();
        c.top1_base = cb.top[0].0 as usize;
        c.top1_quant = top_q.idx[0];
        let base_ids: Vec<usize> = cb.top.iter().map(|&(v, _)| v as usize).collect();
        let common = |kk: usize| {
            let a = &base_ids[..kk.min(base_ids.len())];
            let b = &top_q.idx[..kk.min(top_q.len)];
            a.iter().filter(|x| b.contains(x)).count() as u8
        };
        let (k5, k10) = (
            (ch.n_vocab as usize).min(5).min(k),
            (ch.n_vocab as usize).min(10).min(k),
        );
        c.top5_common = common(k5);
        c.top10_common = common(k10);
        c.top_k_sizes = [k5 as u8, k10 as u8];
        acc.push(&c);
        i += 1;
        if per > 0 && i.is_multiple_of(per) {
            acc.end_chunk();
        }
    }
    Ok(acc.finish())
}

/// Convenience: writes a compact file next to nothing else, from a llama.cpp file on disk.
///
/// # Errors
/// As [`convert_logits_file_to_compact`].
pub fn convert_logits_file_to_compact_path(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    top_k: u32,
    vocab_hash: u64,
) -> Result<()> {
    let w = convert_logits_file_to_compact(
        LogitsFileReader::open(input)?,
        BufWriter::new(File::create(output)?),
        top_k,
        vocab_hash,
    )?;
    w.into_inner()
        .map_err(|e| MetricsError::Io(e.into_error()))?;
    Ok(())
}
