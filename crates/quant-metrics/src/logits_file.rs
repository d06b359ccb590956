//! llama.cpp's `--kl-divergence-base` logits file: streaming reader, bit-compatible writer.
//!
//! Layout (little-endian): `_logits_`, `i32 n_ctx`, `i32 n_vocab`, `i32 n_chunk`,
//! `i32 tokens[n_ctx·n_chunk]`, then `n_chunk·(n_ctx − 1 − n_ctx/2)` records of
//! `nv = 2·⌈n_vocab/2⌉ + 4` u16 words: f32 `scale`, f32 `min_log_prob`, `u16 q[n_vocab]`, and one
//! zero pad word when `n_vocab` is odd. `log p[v] = scale·q[v] + min_log_prob` (f32).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::{MetricsError, Result};
use crate::softmax::checked_max;

/// The 8-byte magic at the start of a logits file.
pub const LOGITS_MAGIC: [u8; 8] = *b"_logits_";

/// Entries more than this many nats below a row's maximum logit are clamped to `q = 0`.
pub const LOG_PROB_CLAMP_NATS: f32 = 16.0;

/// Size in bytes of the fixed header (magic + three i32).
pub const HEADER_BYTES: u64 = 20;

/// The header of a logits file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogitsFileHeader {
    /// Context size of each chunk.
    pub n_ctx: u32,
    /// Vocabulary size.
    pub n_vocab: u32,
    /// Number of chunks.
    pub n_chunk: u32,
}

impl LogitsFileHeader {
    /// A validated header: `n_ctx ≥ 1`, `n_vocab ≥ 1`, and all three fit in an i32 (llama.cpp
    /// writes them as `int`).
    ///
    /// # Errors
    /// [`MetricsError::InvalidHeader`] for out-of-range values.
    pub fn new(n_ctx: u32, n_vocab: u32, n_chunk: u32) -> Result<Self> {
        let max = i32::MAX as u32;
        for (field, v, min) in [
            ("n_ctx", n_ctx, 1),
            ("n_vocab", n_vocab, 1),
            ("n_chunk", n_chunk, 0),
        ] {
            if v < min || v > max {
                return Err(MetricsError::InvalidHeader {
                    field,
                    value: i64::from(v),
                });
            }
        }
        Ok(Self {
            n_ctx,
            n_vocab,
            n_chunk,
        })
    }

    /// u16 words per record: `2·⌈n_vocab/2⌉ + 4`.
    #[must_use]
    pub fn record_words(&self) -> u64 {
        2 * (u64::from(self.n_vocab).div_ceil(2)) + 4
    }

    /// Bytes per record.
    #[must_use]
    pub fn record_bytes(&self) -> u64 {
        2 * self.record_words()
    }

    /// First scored position of a chunk: `n_ctx/2`.
    #[must_use]
    pub fn first_scored(&self) -> u32 {
        self.n_ctx / 2
    }

    /// Scored positions (records) per chunk: `n_ctx − 1 − n_ctx/2`.
    #[must_use]
    pub fn scored_per_chunk(&self) -> u32 {
        self.n_ctx - 1 - self.n_ctx / 2
    }

    /// Total number of records.
    #[must_use]
    pub fn n_records(&self) -> u64 {
        u64::from(self.n_chunk) * u64::from(self.scored_per_chunk())
    }

    /// Total number of stored tokens: `n_ctx·n_chunk`.
    #[must_use]
    pub fn n_tokens(&self) -> u64 {
        u64::from(self.n_ctx) * u64::from(self.n_chunk)
    }

    /// The exact file length implied by the header.
    ///
    /// # Errors
    /// [`MetricsError::SizeOverflow`] if it does not fit in a u64.
    pub fn file_len(&self) -> Result<u64> {
        let tokens = self.n_tokens().checked_mul(4);
        let records = self.n_records().checked_mul(self.record_bytes());
        tokens
            .zip(records)
            .and_then(|(t, r)| HEADER_BYTES.checked_add(t)?.checked_add(r))
            .ok_or(MetricsError::SizeOverflow)
    }

    /// Index in the token list of the target (next token) of record `record`.
    #[must_use]
    pub fn target_index(&self, record: u64) -> u64 {
        let per = u64::from(self.scored_per_chunk()).max(1);
        let (c, j) = (record / per, record % per);
        c * u64::from(self.n_ctx) + u64::from(self.first_scored()) + j + 1
    }
}

/// One record: the packed log-probabilities of one scored position.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackedRecord {
    /// Quantization step in nats (`(max − min)/65535`).
    pub scale: f32,
    /// Log-probability of `q = 0`.
    pub min_log_prob: f32,
    /// One u16 per vocabulary entry (the odd-vocabulary pad word is not included).
    pub q: Vec<u16>,
}

/// llama.cpp's `nearest_int`: adds 1.5·2²³ in f32 and reads the mantissa, i.e. round half to
/// even for `|x| < 2²²`.
#[must_use]
pub fn nearest_int(x: f32) -> i32 {
    let val = x + 12_582_912.0f32;
    (val.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

impl PackedRecord {
    /// Packs one logits row as llama.cpp does (bit-compatible): `max`, `min = max(min(l), max−16)`,
    /// `scale = (max−min)/65535`, `min_log_prob = (min − max) − (f32) ln Σ expf(l − max)` (sum in
    /// f64), `q = l > min ? nearest_int((1/scale)·(l − min)) : 0`, all other arithmetic in f32.
    ///
    /// # Errors
    /// [`MetricsError::EmptyRow`], or [`MetricsError::NonFinite`] for a NaN/Inf logit (llama.cpp
    /// would write garbage).
    ///
    /// # Examples
    /// ```
    /// let rec = quant_metrics::PackedRecord::from_logits(&[3.0, 1.0, -20.0])?;
    /// assert_eq!(rec.q, vec![65535, 57343, 0]); // the 16-nat clamp sends -20 to 0
    /// let lp = rec.log_probs();
    /// let exact = quant_metrics::log_softmax(&[3.0, 1.0, -20.0])?;
    /// assert!((f64::from(lp[1]) - exact[1]).abs() <= f64::from(rec.scale)); // packing error
    /// # Ok::<(), quant_metrics::MetricsError>(())
    /// ```
    pub fn from_logits(logits: &[f32]) -> Result<Self> {
        let mut r = Self::default();
        r.pack_logits(logits)?;
        Ok(r)
    }

    /// As [`PackedRecord::from_logits`], reusing this record's buffer.
    ///
    /// # Errors
    /// As [`PackedRecord::from_logits`].
    pub fn pack_logits(&mut self, logits: &[f32]) -> Result<()> {
        let (max, _) = checked_max(logits)?;
        let mut min = logits.iter().copied().fold(max, f32::min);
        min = min.max(max - LOG_PROB_CLAMP_NATS);
        let mut sum_exp = 0.0f64;
        for &l in logits {
            sum_exp += f64::from((l - max).exp());
        }
        let log_sum_exp = sum_exp.ln() as f32;
        self.min_log_prob = min - max - log_sum_exp;
        self.scale = (max - min) / 65535.0f32;
        self.q.clear();
        if self.scale != 0.0 {
            let inv_scale = 1.0f32 / self.scale;
            self.q.extend(logits.iter().map(|&l| {
                if l > min {
                    // C's conversion of int to uint16_t keeps the low 16 bits.
                    nearest_int(inv_scale * (l - min)) as u16
                } else {
                    0
                }
            }));
        } else {
            self.q.resize(logits.len(), 0);
        }
        Ok(())
    }

    /// The log-probability of entry `v`: `scale·q[v] + min_log_prob` in f32 (`None` out of range).
    #[must_use]
    pub fn log_prob(&self, v: usize) -> Option<f32> {
        self.q
            .get(v)
            .map(|&q| self.scale * f32::from(q) + self.min_log_prob)
    }

    /// Unpacks all log-probabilities into `out` (cleared and refilled).
    pub fn log_probs_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend(
            self.q
                .iter()
                .map(|&q| self.scale * f32::from(q) + self.min_log_prob),
        );
    }

    /// All log-probabilities.
    #[must_use]
    pub fn log_probs(&self) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.q.len());
        self.log_probs_into(&mut v);
        v
    }
}

/// Streaming reader of a logits file: validates the header against the stream length before
/// allocating anything, then yields one record at a time (O(vocab) memory).
///
/// # Examples
/// ```
/// use std::io::Cursor;
/// use quant_metrics::{LogitsFileHeader, LogitsFileReader, LogitsFileWriter};
/// let header = LogitsFileHeader::new(4, 3, 1)?; // 4-token chunk: 1 scored position
/// let mut w = LogitsFileWriter::new(Vec::new(), header, &[0, 1, 2, 1])?;
/// w.write_logits(&[0.5, 2.0, -1.0])?;
/// let bytes = w.finish()?;
/// let mut r = LogitsFileReader::new(Cursor::new(bytes))?;
/// assert_eq!(r.tokens(), &[0, 1, 2, 1]);
/// let rec = r.next().expect("one record")?;
/// assert_eq!(rec.q[1], 65535);
/// assert!(r.next().is_none());
/// # Ok::<(), quant_metrics::MetricsError>(())
/// ```
#[derive(Debug)]
pub struct LogitsFileReader<R> {
    inner: R,
    header: LogitsFileHeader,
    tokens: Vec<u32>,
    next_record: u64,
    buf: Vec<u8>,
}

impl LogitsFileReader<BufReader<File>> {
    /// Opens a file.
    ///
    /// # Errors
    /// I/O errors and every error of [`LogitsFileReader::new`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(BufReader::with_capacity(1 << 20, File::open(path)?))
    }
}

fn read_i32(b: &[u8]) -> i32 {
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl<R: Read + Seek> LogitsFileReader<R> {
    /// Reads and validates the header and the token list.
    ///
    /// # Errors
    /// [`MetricsError::BadMagic`], [`MetricsError::InvalidHeader`] (negative or zero sizes),
    /// [`MetricsError::SizeOverflow`], [`MetricsError::SizeMismatch`] (truncated or oversized
    /// stream), [`MetricsError::TokenOutOfRange`], or I/O errors.
    pub fn new(mut inner: R) -> Result<Self> {
        let len = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        if len < HEADER_BYTES {
            let mut magic = [0u8; 8];
            if len >= 8 {
                inner.read_exact(&mut magic)?;
                if magic != LOGITS_MAGIC {
                    return Err(MetricsError::BadMagic);
                }
            }
            return Err(MetricsError::SizeMismatch {
                expected: HEADER_BYTES,
                actual: len,
            });
        }
        let mut h = [0u8; HEADER_BYTES as usize];
        inner.read_exact(&mut h)?;
        if h[..8] != LOGITS_MAGIC {
            return Err(MetricsError::BadMagic);
        }
        let mut vals = [0u32; 3];
        for (k, (field, v)) in ["n_ctx", "n_vocab", "n_chunk"]
            .into_iter()
            .zip(vals.iter_mut())
            .enumerate()
        {
            let raw = read_i32(&h[8 + 4 * k..]);
            *v = u32::try_from(raw).map_err(|_| MetricsError::InvalidHeader {
                field,
                value: i64::from(raw),
            })?;
        }
        let header = LogitsFileHeader::new(vals[0], vals[1], vals[2])?;
        let expected = header.file_len()?;
        if expected != len {
            return Err(MetricsError::SizeMismatch {
                expected,
                actual: len,
            });
        }
        // Both sizes are now bounded by the stream length, so the allocations are justified.
        let n_tokens =
            usize::try_from(header.n_tokens()).map_err(|_| MetricsError::SizeOverflow)?;
        let rec_bytes =
            usize::try_from(header.record_bytes()).map_err(|_| MetricsError::SizeOverflow)?;
        let mut raw = vec![0u8; n_tokens * 4];
        inner.read_exact(&mut raw)?;
        let mut tokens = Vec::with_capacity(n_tokens);
        for c in raw.chunks_exact(4) {
            let t = read_i32(c);
            match u32::try_from(t) {
                Ok(u) if u < header.n_vocab => tokens.push(u),
                _ => {
                    return Err(MetricsError::TokenOutOfRange {
                        token: i64::from(t),
                        n_vocab: header.n_vocab as usize,
                    });
                }
            }
        }
        let buf = if header.n_records() > 0 {
            vec![0u8; rec_bytes]
        } else {
            Vec::new()
        };
        Ok(Self {
            inner,
            header,
            tokens,
            next_record: 0,
            buf,
        })
    }
}

impl<R: Read> LogitsFileReader<R> {
    /// The header.
    #[must_use]
    pub fn header(&self) -> &LogitsFileHeader {
        &self.header
    }

    /// The evaluated tokens, chunk after chunk (`n_ctx·n_chunk` of them).
    #[must_use]
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Index of the next record to be read.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.next_record
    }

    /// The target token of record `record`, `None` past the end.
    #[must_use]
    pub fn target(&self, record: u64) -> Option<u32> {
        if record >= self.header.n_records() {
            return None;
        }
        let i = usize::try_from(self.header.target_index(record)).ok()?;
        self.tokens.get(i).copied()
    }

    /// Reads the next record into `rec`, reusing its buffer. Returns `false` after the last one.
    ///
    /// # Errors
    /// I/O errors (e.g. a stream that shrank while being read) and
    /// [`MetricsError::InvalidRecord`] for a NaN/Inf/negative scale, a non-finite minimum, or a
    /// scale so large that `scale·65535 + min_log_prob` overflows.
    pub fn read_record(&mut self, rec: &mut PackedRecord) -> Result<bool> {
        if self.next_record >= self.header.n_records() {
            return Ok(false);
        }
        self.inner.read_exact(&mut self.buf)?;
        let b = &self.buf;
        let scale = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let min_log_prob = f32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        // The largest representable log-probability, scale·65535 + min, must be finite too.
        let top = scale * 65535.0 + min_log_prob;
        if !(scale.is_finite() && scale >= 0.0 && min_log_prob.is_finite() && top.is_finite()) {
            return Err(MetricsError::InvalidRecord {
                record: self.next_record,
                scale,
                min_log_prob,
            });
        }
        rec.scale = scale;
        rec.min_log_prob = min_log_prob;
        rec.q.clear();
        let n = self.header.n_vocab as usize;
        rec.q.extend(
            b[8..8 + 2 * n]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        );
        self.next_record += 1;
        Ok(true)
    }
}

impl<R: Read> Iterator for LogitsFileReader<R> {
    type Item = Result<PackedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut rec = PackedRecord::default();
        match self.read_record(&mut rec) {
            Ok(true) => Some(Ok(rec)),
            Ok(false) => None,
            Err(e) => {
                // Stop after an error.
                self.next_record = self.header.n_records();
                Some(Err(e))
            }
        }
    }
}

/// Writer of llama.cpp logits files, byte-identical to `llama-perplexity --kl-divergence-base`
/// given the same logits (see [`PackedRecord::from_logits`]).
#[derive(Debug)]
pub struct LogitsFileWriter<W: Write> {
    inner: W,
    header: LogitsFileHeader,
    written: u64,
    rec: PackedRecord,
    buf: Vec<u8>,
}

impl LogitsFileWriter<BufWriter<File>> {
    /// Creates a file and writes its header and tokens.
    ///
    /// # Errors
    /// I/O errors and those of [`LogitsFileWriter::new`].
    pub fn create(
        path: impl AsRef<Path>,
        header: LogitsFileHeader,
        tokens: &[u32],
    ) -> Result<Self> {
        Self::new(BufWriter::new(File::create(path)?), header, tokens)
    }
}

impl<W: Write> LogitsFileWriter<W> {
    /// Writes the header and the `n_ctx·n_chunk` tokens.
    ///
    /// # Errors
    /// [`MetricsError::LengthMismatch`] for a wrong token count,
    /// [`MetricsError::TokenOutOfRange`], [`MetricsError::SizeOverflow`], I/O errors.
    pub fn new(mut inner: W, header: LogitsFileHeader, tokens: &[u32]) -> Result<Self> {
        header.file_len()?;
        let n_tokens =
            usize::try_from(header.n_tokens()).map_err(|_| MetricsError::SizeOverflow)?;
        if tokens.len() != n_tokens {
            return Err(MetricsError::LengthMismatch {
                what: "tokens vs n_ctx·n_chunk",
                left: n_tokens,
                right: tokens.len(),
            });
        }
        if let Some(&t) = tokens.iter().find(|&&t| t >= header.n_vocab) {
            return Err(MetricsError::TokenOutOfRange {
                token: i64::from(t),
                n_vocab: header.n_vocab as usize,
            });
        }
        let mut h = Vec::with_capacity(HEADER_BYTES as usize + 4 * tokens.len());
        h.extend_from_slice(&LOGITS_MAGIC);
        for v in [header.n_ctx, header.n_vocab, header.n_chunk] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        for &t in tokens {
            h.extend_from_slice(&t.to_le_bytes());
        }
        inner.write_all(&h)?;
        Ok(Self {
            inner,
            header,
            written: 0,
            rec: PackedRecord::default(),
            buf: Vec::new(),
        })
    }

    /// Packs and writes the next record from a logits row of `n_vocab` values.
    ///
    /// # Errors
    /// [`MetricsError::VocabMismatch`], [`MetricsError::RecordCount`] past the announced number
    /// of records, errors of [`PackedRecord::from_logits`], I/O errors.
    pub fn write_logits(&mut self, logits: &[f32]) -> Result<()> {
        let mut rec = std::mem::take(&mut self.rec);
        let r = rec
            .pack_logits(logits)
            .and_then(|()| self.write_record(&rec));
        self.rec = rec;
        r
    }

    /// Writes an already packed record.
    ///
    /// # Errors
    /// [`MetricsError::VocabMismatch`], [`MetricsError::RecordCount`], I/O errors.
    pub fn write_record(&mut self, rec: &PackedRecord) -> Result<()> {
        if rec.q.len() != self.header.n_vocab as usize {
            return Err(MetricsError::VocabMismatch {
                left: self.header.n_vocab as usize,
                right: rec.q.len(),
            });
        }
        if self.written >= self.header.n_records() {
            return Err(MetricsError::RecordCount {
                expected: self.header.n_records(),
                actual: self.written + 1,
            });
        }
        self.buf.clear();
        self.buf.extend_from_slice(&rec.scale.to_le_bytes());
        self.buf.extend_from_slice(&rec.min_log_prob.to_le_bytes());
        for &q in &rec.q {
            self.buf.extend_from_slice(&q.to_le_bytes());
        }
        if self.header.n_vocab % 2 == 1 {
            self.buf.extend_from_slice(&[0, 0]);
        }
        self.inner.write_all(&self.buf)?;
        self.written += 1;
        Ok(())
    }

    /// Checks that every announced record was written, flushes and returns the inner writer.
    ///
    /// # Errors
    /// [`MetricsError::RecordCount`] if records are missing; I/O errors.
    pub fn finish(mut self) -> Result<W> {
        if self.written != self.header.n_records() {
            return Err(MetricsError::RecordCount {
                expected: self.header.n_records(),
                actual: self.written,
            });
        }
        self.inner.flush()?;
        Ok(self.inner)
    }
}
