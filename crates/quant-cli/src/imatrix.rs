//! llama.cpp importance-matrix files (`llama-imatrix` output), as `llama-quantize --imatrix`
//! reads them.
//!
//! Two formats exist (layouts in `docs/formats.md`, section "Importance matrices"):
//!
//! * **GGUF** (current): per weight tensor `W`, an f32 tensor `W.in_sum2` of shape
//!   `[n_cols, n_mat]` (the sums of squared activations per input column, one row per expert) and
//!   an f32 tensor `W.counts` of shape `[1, n_mat]` (tokens seen); metadata `imatrix.datasets`,
//!   `imatrix.chunk_count`, `imatrix.chunk_size`. Newer files also hold `W.in_sum` (plain sums),
//!   which quantization does not use. The importance is `in_sum2 / counts`, row by row in f32; a
//!   row with count 0 (an expert that never saw a token) gets importance 1 everywhere.
//! * **Legacy binary** (`.dat`, little-endian): `i32 n_entries`, then per entry `i32 name_len`,
//!   the name bytes, `i32 ncall`, `i32 nval`, `nval` f32 values (stored as `mean · ncall`), then
//!   optionally `i32 last_call`, `i32 dataset_len` and the dataset name. The importance is
//!   `value / ncall` in f32 (the value as stored if `ncall` is 0).
//!
//! The file is untrusted: every count and length is checked against the bytes that remain before
//! anything is allocated, and values must be finite and non-negative (typed [`ImatrixError`]s).

use std::collections::BTreeMap;
use std::path::Path;

use quant_core::Format;
use quant_gguf::{Gguf, GgufError, Value};

/// Which of the two file formats a file used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImatrixKind {
    /// The GGUF format (`*.in_sum2` / `*.counts` tensors).
    Gguf,
    /// The legacy binary format (`.dat`).
    Legacy,
}

/// Everything that can be wrong with an importance-matrix file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImatrixError {
    /// The file could not be read.
    #[error("imatrix: {0}")]
    Io(#[from] std::io::Error),
    /// A GGUF imatrix that the GGUF reader rejects.
    #[error("imatrix (GGUF): {0}")]
    Gguf(#[from] GgufError),
    /// The file ends inside a structure.
    #[error("imatrix truncated: need {needed} bytes at offset {offset} for {what}, file has {len}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
        /// Bytes it needs.
        needed: u64,
        /// File length.
        len: usize,
    },
    /// A count or length that is negative or cannot fit in the bytes that remain.
    #[error("imatrix: invalid {what} {value} at offset {offset}")]
    BadCount {
        /// Which count.
        what: &'static str,
        /// The value read.
        value: i64,
        /// Where.
        offset: usize,
    },
    /// No entries.
    #[error("imatrix: no entries")]
    Empty,
    /// An entry name that is not UTF-8 or holds a NUL byte.
    #[error("imatrix: entry name at offset {offset} is not a valid name")]
    BadName {
        /// Where the name starts.
        offset: usize,
    },
    /// The same entry twice.
    #[error("imatrix: duplicate entry {0:?}")]
    Duplicate(String),
    /// A NaN, infinite or negative sum.
    #[error("imatrix: entry {name:?} value {index} is {value} (must be finite and >= 0)")]
    BadValue {
        /// Entry name.
        name: String,
        /// Index into the entry's values.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A NaN, infinite or negative token count (GGUF format).
    #[error("imatrix: entry {name:?} count {index} is {value} (must be finite and >= 0)")]
    BadTokenCount {
        /// Entry name.
        name: String,
        /// Index of the count (expert).
        index: usize,
        /// The count.
        value: f32,
    },
    /// Bytes after the last structure (legacy format).
    #[error("imatrix: {count} unexpected bytes at offset {offset}")]
    TrailingBytes {
        /// Where they start.
        offset: usize,
        /// How many.
        count: usize,
    },
    /// A required metadata key is missing or has the wrong type (GGUF format).
    #[error("imatrix (GGUF): missing or mistyped metadata {0:?}")]
    Metadata(&'static str),
    /// An `.in_sum2` tensor without `.counts` or the reverse (GGUF format).
    #[error("imatrix (GGUF): {name:?} has {have} but no {missing}")]
    Unpaired {
        /// Entry name.
        name: String,
        /// The tensor present.
        have: &'static str,
        /// The tensor missing.
        missing: &'static str,
    },
    /// A sums or counts tensor of the wrong type or shape (GGUF format).
    #[error("imatrix (GGUF): {name:?}: {what}")]
    BadTensor {
        /// Entry name.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// An entry whose length does not match the tensor's rows.
    #[error(
        "imatrix entry {name:?} has {actual} values, the tensor's rows have {expected} \
         (imatrix computed for another model?)"
    )]
    SizeMismatch {
        /// Tensor name.
        name: String,
        /// Row length of the tensor.
        expected: usize,
        /// Values in the entry.
        actual: usize,
    },
    /// An entry for a tensor with more than one matrix (MoE experts), which quant does not handle.
    #[error("imatrix entry {name:?} covers {n_mat} matrices (MoE experts): not supported")]
    MultiMatrix {
        /// Tensor name.
        name: String,
        /// Matrices in the entry.
        n_mat: usize,
    },
}

/// One entry: the importance of each input column, `n_mat` rows of `values.len() / n_mat`.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Importance per column (already divided by the counts), row-major over matrices.
    pub values: Vec<f32>,
    /// Matrices (experts) covered: 1 for a dense weight.
    pub n_mat: usize,
}

/// A loaded importance matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Imatrix {
    /// The file format.
    pub kind: ImatrixKind,
    /// Entries by tensor name.
    pub entries: BTreeMap<String, Entry>,
    /// Calibration datasets named in the file.
    pub datasets: Vec<String>,
    /// Chunks the matrix was computed on (`imatrix.chunk_count`, or the legacy `last_call`).
    pub chunk_count: Option<u32>,
    /// The path it was read from (for `quantize.imatrix.file`).
    pub path: String,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], ImatrixError> {
        if n > self.remaining() as u64 {
            return Err(ImatrixError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                len: self.b.len(),
            });
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, ImatrixError> {
        let s = self.take(4, what)?;
        Ok(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// A non-negative i32 that is at most `max`.
    fn count(&mut self, what: &'static str, min: i32, max: u64) -> Result<usize, ImatrixError> {
        let offset = self.pos;
        let v = self.i32(what)?;
        if v < min || v as u64 > max {
            return Err(ImatrixError::BadCount {
                what,
                value: v.into(),
                offset,
            });
        }
        Ok(v as usize)
    }
}

fn check_values(name: &str, v: &[f32]) -> Result<(), ImatrixError> {
    match v.iter().position(|x| !x.is_finite() || *x < 0.0) {
        Some(index) => Err(ImatrixError::BadValue {
            name: name.to_owned(),
            index,
            value: v[index],
        }),
        None => Ok(()),
    }
}

/// Parse a legacy (`.dat`) imatrix.
///
/// # Errors
/// [`ImatrixError`] for anything malformed.
pub fn parse_legacy(bytes: &[u8]) -> Result<Imatrix, ImatrixError> {
    let mut r = Reader { b: bytes, pos: 0 };
    // Nothing is allocated per entry before its bytes are there: a count larger than the file
    // holds fails as `Truncated` at the first missing entry.
    let n = r
        .count("entry count", 1, i32::MAX as u64)
        .map_err(|e| match e {
            ImatrixError::BadCount { value: ..=0, .. } => ImatrixError::Empty,
            e => e,
        })?;
    let mut entries = BTreeMap::new();
    for _ in 0..n {
        // Lengths beyond the remaining bytes fail in `take`, before any allocation.
        let len = r.count("name length", 1, i32::MAX as u64)?;
        let at = r.pos;
        let name = std::str::from_utf8(r.take(len as u64, "entry name")?)
            .ok()
            .filter(|s| !s.contains('\0'))
            .ok_or(ImatrixError::BadName { offset: at })?
            .to_owned();
        let ncall = r.count("call count", 0, i32::MAX as u64)?;
        let nval = r.count("value count", 1, i32::MAX as u64)?;
        let raw = r.take(nval as u64 * 4, "values")?;
        let mut values: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        check_values(&name, &values)?;
        if ncall > 0 {
            // llama-quantize: `v /= ncall` (an int converted to float, then an f32 division).
            let d = ncall as f32;
            for v in &mut values {
                *v /= d;
            }
        }
        if entries
            .insert(name.clone(), Entry { values, n_mat: 1 })
            .is_some()
        {
            return Err(ImatrixError::Duplicate(name));
        }
    }
    let (mut chunk_count, mut datasets) = (None, Vec::new());
    if r.remaining() > 0 {
        let at = r.pos;
        let last = r.i32("last call")?;
        chunk_count = Some(u32::try_from(last).map_err(|_| ImatrixError::BadCount {
            what: "last call",
            value: last.into(),
            offset: at,
        })?);
        let len = r.count("dataset name length", 0, i32::MAX as u64)?;
        let at = r.pos;
        let name = std::str::from_utf8(r.take(len as u64, "dataset name")?)
            .map_err(|_| ImatrixError::BadName { offset: at })?;
        datasets.push(name.to_owned());
    }
    if r.remaining() > 0 {
        return Err(ImatrixError::TrailingBytes {
            offset: r.pos,
            count: r.remaining(),
        });
    }
    Ok(Imatrix {
        kind: ImatrixKind::Legacy,
        entries,
        datasets,
        chunk_count,
        path: String::new(),
    })
}

fn f32_tensor(
    g: &Gguf<'_>,
    name: &str,
    t: &quant_gguf::TensorInfo,
) -> Result<Vec<f32>, ImatrixError> {
    if t.format != Format::F32 {
        return Err(ImatrixError::BadTensor {
            name: name.to_owned(),
            what: format!("{} is {}, expected f32", t.name, t.format),
        });
    }
    Ok(g.tensor_data(t)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Parse a GGUF imatrix.
///
/// # Errors
/// [`ImatrixError`] for anything malformed.
pub fn parse_gguf(bytes: &[u8]) -> Result<Imatrix, ImatrixError> {
    let g = Gguf::parse(bytes)?;
    if g.tensors.is_empty() {
        return Err(ImatrixError::Empty);
    }
    // llama-quantize requires all three keys.
    let datasets = g
        .get("imatrix.datasets")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or(ImatrixError::Metadata("imatrix.datasets"))?;
    let chunk_count = match g.get("imatrix.chunk_count") {
        Some(Value::U32(c)) => *c,
        _ => return Err(ImatrixError::Metadata("imatrix.chunk_count")),
    };
    if !matches!(g.get("imatrix.chunk_size"), Some(Value::U32(_))) {
        return Err(ImatrixError::Metadata("imatrix.chunk_size"));
    }
    let mut pairs: BTreeMap<&str, [Option<&quant_gguf::TensorInfo>; 2]> = BTreeMap::new();
    for t in &g.tensors {
        if let Some(n) = t.name.strip_suffix(".in_sum2") {
            pairs.entry(n).or_default()[0] = Some(t);
        } else if let Some(n) = t.name.strip_suffix(".counts") {
            pairs.entry(n).or_default()[1] = Some(t);
        }
    }
    if pairs.is_empty() {
        return Err(ImatrixError::Empty);
    }
    let mut entries = BTreeMap::new();
    for (name, pair) in pairs {
        let (sums_t, counts_t) = match pair {
            [Some(s), Some(c)] => (s, c),
            [Some(_), None] | [None, None] => {
                return Err(ImatrixError::Unpaired {
                    name: name.to_owned(),
                    have: "in_sum2",
                    missing: "counts",
                });
            }
            [None, Some(_)] => {
                return Err(ImatrixError::Unpaired {
                    name: name.to_owned(),
                    have: "counts",
                    missing: "in_sum2",
                });
            }
        };
        let (ne0, n_mat) = (sums_t.row_len() as usize, sums_t.n_rows() as usize);
        if sums_t.dims.len() > 2 || counts_t.n_elements() != n_mat as u64 {
            return Err(ImatrixError::BadTensor {
                name: name.to_owned(),
                what: format!(
                    "in_sum2 shape {:?} and counts shape {:?} do not agree (want [n, m] and [1, m])",
                    sums_t.dims, counts_t.dims
                ),
            });
        }
        let sums = f32_tensor(&g, name, sums_t)?;
        check_values(name, &sums)?;
        let counts = f32_tensor(&g, name, counts_t)?;
        if let Some(index) = counts.iter().position(|c| !c.is_finite() || *c < 0.0) {
            return Err(ImatrixError::BadTokenCount {
                name: name.to_owned(),
                index,
                value: counts[index],
            });
        }
        let mut values = Vec::with_capacity(sums.len());
        for (row, &count) in sums.chunks_exact(ne0).zip(&counts) {
            if count > 0.0 {
                values.extend(row.iter().map(|s| s / count));
            } else {
                // llama-quantize: a matrix that never got input during calibration.
                values.extend(std::iter::repeat_n(1.0f32, ne0));
            }
        }
        entries.insert(name.to_owned(), Entry { values, n_mat });
    }
    Ok(Imatrix {
        kind: ImatrixKind::Gguf,
        entries,
        datasets,
        chunk_count: Some(chunk_count),
        path: String::new(),
    })
}

impl Imatrix {
    /// Parse either format: GGUF if the bytes start with `GGUF`, legacy otherwise.
    ///
    /// # Errors
    /// [`ImatrixError`] for anything malformed.
    pub fn parse(bytes: &[u8]) -> Result<Self, ImatrixError> {
        if bytes.starts_with(b"GGUF") {
            parse_gguf(bytes)
        } else {
            parse_legacy(bytes)
        }
    }

    /// Read and parse the file at `path`.
    ///
    /// # Errors
    /// I/O errors and [`ImatrixError`]s of [`Imatrix::parse`].
    pub fn open(path: &Path) -> Result<Self, ImatrixError> {
        let bytes = std::fs::read(path)?;
        let mut m = Self::parse(&bytes)?;
        m.path = path.display().to_string();
        Ok(m)
    }

    /// The importance vector for tensor `name` whose rows hold `row_len` values and whose shape
    /// (ggml order) is `dims`: `Ok(None)` if the file has no entry for it. Like llama-quantize, a
    /// size mismatch is an error except for `token_embd.weight` (which llama.cpp's imatrix tool
    /// never covers correctly), which is then quantized without importance.
    ///
    /// # Errors
    /// [`ImatrixError::SizeMismatch`], [`ImatrixError::MultiMatrix`] (MoE entries or 3-D
    /// tensors).
    pub fn for_tensor(&self, name: &str, dims: &[u64]) -> Result<Option<&[f32]>, ImatrixError> {
        let Some(e) = self.entries.get(name) else {
            return Ok(None);
        };
        let n_mat_tensor: u64 = dims.iter().skip(2).product();
        if e.n_mat != 1 || n_mat_tensor != 1 {
            return Err(ImatrixError::MultiMatrix {
                name: name.to_owned(),
                n_mat: e.n_mat.max(n_mat_tensor as usize),
            });
        }
        let row_len = dims.first().copied().unwrap_or(1) as usize;
        if e.values.len() != row_len {
            if name == "token_embd.weight" {
                return Ok(None);
            }
            return Err(ImatrixError::SizeMismatch {
                name: name.to_owned(),
                expected: row_len,
                actual: e.values.len(),
            });
        }
        Ok(Some(&e.values))
    }
}
