//! Outlier tables: a few weights kept exactly, beside any block format.
//!
//! A handful of weights in a transformer are far larger than the rest ("super weights"); one of
//! them in a block inflates the block's scale and destroys the precision of its 31 or 255
//! neighbours. An [`OutlierTable`] stores, per row, the column and exact value of the weights kept
//! out of the blocks. [`quantize_with_outliers`] removes them before quantizing (so the block's
//! scale is computed without them) and [`dequantize_with_outliers`] puts them back.
//!
//! ```
//! use quant_core::outlier::{quantize_with_outliers, dequantize_with_outliers, OutlierPolicy, ValuePrecision};
//! use quant_core::Format;
//!
//! let (rows, cols) = (2, 256);
//! let mut w: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 1000.0).collect();
//! w[300] = 8.0; // a super weight
//! let q = quantize_with_outliers(Format::Q4K, &w, rows, cols, None, &OutlierPolicy::TopKPerRow(1), ValuePrecision::F16)?;
//! assert_eq!(q.table.len(), 2);
//! let back = dequantize_with_outliers(&q)?;
//! assert_eq!(back[300], 8.0); // kept exactly
//! // 4.5 bits/w of blocks + a table of 32 + 4·3 + 2·(2 + 2) = 52 bytes over 512 weights.
//! assert_eq!(q.bits_per_weight(), 4.5 + 52.0 * 8.0 / 512.0);
//! # Ok::<(), quant_core::outlier::OutlierError>(())
//! ```
//!
//! # Serialized layout (version 1, little-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `QOTL` |
//! | 4 | 2 | version (1) |
//! | 6 | 1 | value precision: 0 = f32, 1 = f16, 2 = bf16 |
//! | 7 | 1 | column index width in bytes: 2 (`n_cols ≤ 65536`) or 4 |
//! | 8 | 8 | `n_rows` (u64) |
//! | 16 | 8 | `n_cols` (u64) |
//! | 24 | 8 | `n_entries` (u64, < 2³²) |
//! | 32 | 4·(n_rows + 1) | row offsets (u32, start at 0, non-decreasing, last = n_entries) |
//! | … | w·n_entries | column indices (u16 or u32), sorted and unique within each row |
//! | … | 2 or 4 · n_entries | values (f16, bf16 or f32) |
//!
//! Cost: `32 + 4·(n_rows + 1) + (w + v)·n_entries` bytes, i.e. 32 bits per kept weight with u16
//! columns and f16 values, plus 32 bits per row. [`OutlierTable::bits_per_weight`] reports it per
//! weight of the matrix; every bits/weight figure of the library adds it.

use half::{bf16, f16};

use crate::{BlockFormat, Error as FormatError, Format, dequantize_matrix, quantize_matrix};

/// How the kept values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValuePrecision {
    /// 32-bit float: exact.
    F32,
    /// 16-bit IEEE half: 11 significant bits, range ±65504.
    F16,
    /// bfloat16: 8 significant bits, f32's range.
    Bf16,
}

impl ValuePrecision {
    /// Bytes per stored value.
    pub const fn bytes(self) -> usize {
        match self {
            ValuePrecision::F32 => 4,
            ValuePrecision::F16 | ValuePrecision::Bf16 => 2,
        }
    }

    /// `x` rounded to this precision (round to nearest even).
    pub fn round(self, x: f32) -> f32 {
        match self {
            ValuePrecision::F32 => x,
            ValuePrecision::F16 => f16::from_f32(x).to_f32(),
            ValuePrecision::Bf16 => bf16::from_f32(x).to_f32(),
        }
    }

    fn id(self) -> u8 {
        match self {
            ValuePrecision::F32 => 0,
            ValuePrecision::F16 => 1,
            ValuePrecision::Bf16 => 2,
        }
    }
}

/// Errors of outlier tables.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OutlierError {
    /// A column index outside `0..n_cols`, or a row outside `0..n_rows`.
    #[error("entry ({row}, {col}) is outside the {n_rows} × {n_cols} matrix")]
    OutOfRange {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// Rows of the matrix.
        n_rows: usize,
        /// Columns of the matrix.
        n_cols: usize,
    },
    /// Column indices of a row that are not strictly increasing.
    #[error("row {row}: column indices are not sorted and unique at column {col}")]
    Unsorted {
        /// Row.
        row: usize,
        /// The offending column.
        col: usize,
    },
    /// A kept value that is NaN or infinite (or overflows the chosen precision).
    #[error("entry ({row}, {col}) has non-finite value {value} in the chosen precision")]
    NonFinite {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value.
        value: f32,
    },
    /// Serialized bytes that are not a valid table.
    #[error("invalid outlier table: {0}")]
    Invalid(&'static str),
    /// Serialized bytes that end early (or have trailing bytes).
    #[error("outlier table is {actual} bytes, its header implies {expected}")]
    Size {
        /// Bytes implied by the header.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
    /// A policy parameter out of range (e.g. a fraction above 1).
    #[error("invalid policy: {0}")]
    Policy(&'static str),
    /// Too many entries for the u32 row offsets.
    #[error("{0} entries do not fit the u32 row offsets")]
    TooMany(usize),
    /// An error of the base format.
    #[error(transparent)]
    Format(#[from] FormatError),
}

type Result<T, E = OutlierError> = core::result::Result<T, E>;

/// A validated sparse table of exact weights for an `n_rows × n_cols` matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct OutlierTable {
    n_rows: usize,
    n_cols: usize,
    precision: ValuePrecision,
    row_offsets: Vec<u32>,
    cols: Vec<u32>,
    values: Vec<f32>,
}

impl OutlierTable {
    /// An empty table.
    pub fn empty(n_rows: usize, n_cols: usize, precision: ValuePrecision) -> Self {
        Self {
            n_rows,
            n_cols,
            precision,
            row_offsets: vec![0; n_rows + 1],
            cols: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Build from `(row, col, value)` entries in any order. Values are rounded to `precision`.
    ///
    /// # Errors
    /// [`OutlierError::OutOfRange`], [`OutlierError::Unsorted`] for a duplicate position,
    /// [`OutlierError::NonFinite`], [`OutlierError::TooMany`].
    pub fn from_entries(
        n_rows: usize,
        n_cols: usize,
        precision: ValuePrecision,
        entries: impl IntoIterator<Item = (usize, usize, f32)>,
    ) -> Result<Self> {
        let mut e: Vec<(usize, usize, f32)> = entries.into_iter().collect();
        if e.len() > u32::MAX as usize {
            return Err(OutlierError::TooMany(e.len()));
        }
        for &(row, col, value) in &e {
            if row >= n_rows || col >= n_cols || col > u32::MAX as usize {
                return Err(OutlierError::OutOfRange {
                    row,
                    col,
                    n_rows,
                    n_cols,
                });
            }
            if !precision.round(value).is_finite() {
                return Err(OutlierError::NonFinite { row, col, value });
            }
        }
        e.sort_by_key(|&(r, c, _)| (r, c));
        let mut row_offsets = vec![0u32; n_rows + 1];
        for w in e.windows(2) {
            if (w[0].0, w[0].1) == (w[1].0, w[1].1) {
                return Err(OutlierError::Unsorted {
                    row: w[1].0,
                    col: w[1].1,
                });
            }
        }
        for &(r, _, _) in &e {
            row_offsets[r + 1] += 1;
        }
        for r in 0..n_rows {
            row_offsets[r + 1] += row_offsets[r];
        }
        Ok(Self {
            n_rows,
            n_cols,
            precision,
            row_offsets,
            cols: e.iter().map(|&(_, c, _)| c as u32).collect(),
            values: e.iter().map(|&(_, _, v)| precision.round(v)).collect(),
        })
    }

    /// Rows of the matrix.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Columns of the matrix.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Precision of the stored values.
    pub fn precision(&self) -> ValuePrecision {
        self.precision
    }

    /// Number of kept weights.
    pub fn len(&self) -> usize {
        self.cols.len()
    }

    /// Whether no weight is kept.
    pub fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }

    /// Columns and values kept in row `r`.
    ///
    /// # Panics
    /// If `r >= n_rows`.
    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let range = self.row_range(r);
        (&self.cols[range.clone()], &self.values[range])
    }

    /// The positions of row `r`'s entries in the table's entry order (the order of
    /// [`OutlierTable::entries`]): `row(r)` is `(cols[range], values[range])`. Lets a caller keep
    /// per-entry data of its own (e.g. a kernel's correction values) beside the table.
    ///
    /// # Panics
    /// If `r >= n_rows`.
    #[inline]
    pub fn row_range(&self, r: usize) -> core::ops::Range<usize> {
        self.row_offsets[r] as usize..self.row_offsets[r + 1] as usize
    }

    /// Every entry as `(row, col, value)`.
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, f32)> + '_ {
        (0..self.n_rows).flat_map(move |r| {
            let (c, v) = self.row(r);
            c.iter().zip(v).map(move |(&c, &v)| (r, c as usize, v))
        })
    }

    fn col_width(&self) -> usize {
        if self.n_cols <= 1 << 16 { 2 } else { 4 }
    }

    /// Size of [`OutlierTable::to_bytes`].
    pub fn serialized_len(&self) -> usize {
        32 + 4 * (self.n_rows + 1) + (self.col_width() + self.precision.bytes()) * self.len()
    }

    /// Storage cost of the table per weight of the matrix (add it to the base format's).
    pub fn bits_per_weight(&self) -> f64 {
        let n = (self.n_rows * self.n_cols).max(1) as f64;
        self.serialized_len() as f64 * 8.0 / n
    }

    /// `Σ_j table[r][j] · x[j]`: the sparse term of a row's dot product.
    ///
    /// # Panics
    /// If `r >= n_rows` or `x.len() != n_cols`.
    #[inline]
    pub fn row_dot(&self, r: usize, x: &[f32]) -> f32 {
        assert_eq!(x.len(), self.n_cols, "activation length");
        let (c, v) = self.row(r);
        c.iter()
            .zip(v)
            .fold(0.0f32, |acc, (&c, &v)| acc + v * x[c as usize])
    }

    /// Overwrite the kept positions of the row-major matrix `dense` with their exact values.
    ///
    /// # Panics
    /// If `dense.len() != n_rows * n_cols`.
    pub fn apply(&self, dense: &mut [f32]) {
        assert_eq!(dense.len(), self.n_rows * self.n_cols, "matrix size");
        for (r, c, v) in self.entries() {
            dense[r * self.n_cols + c] = v;
        }
    }

    /// The serialized table (layout in the module documentation).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.serialized_len());
        b.extend_from_slice(b"QOTL");
        b.extend_from_slice(&1u16.to_le_bytes());
        b.push(self.precision.id());
        b.push(self.col_width() as u8);
        b.extend_from_slice(&(self.n_rows as u64).to_le_bytes());
        b.extend_from_slice(&(self.n_cols as u64).to_le_bytes());
        b.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for o in &self.row_offsets {
            b.extend_from_slice(&o.to_le_bytes());
        }
        for &c in &self.cols {
            if self.col_width() == 2 {
                b.extend_from_slice(&(c as u16).to_le_bytes());
            } else {
                b.extend_from_slice(&c.to_le_bytes());
            }
        }
        for &v in &self.values {
            match self.precision {
                ValuePrecision::F32 => b.extend_from_slice(&v.to_le_bytes()),
                ValuePrecision::F16 => b.extend_from_slice(&f16::from_f32(v).to_le_bytes()),
                ValuePrecision::Bf16 => b.extend_from_slice(&bf16::from_f32(v).to_le_bytes()),
            }
        }
        debug_assert_eq!(b.len(), self.serialized_len());
        b
    }

    /// Parse and validate a serialized table. Sizes are checked against `bytes.len()` before
    /// anything is allocated.
    ///
    /// # Errors
    /// [`OutlierError::Invalid`] (magic, version, precision, width, offsets),
    /// [`OutlierError::Size`], [`OutlierError::Unsorted`], [`OutlierError::OutOfRange`],
    /// [`OutlierError::NonFinite`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 32 {
            return Err(OutlierError::Size {
                expected: 32,
                actual: bytes.len() as u64,
            });
        }
        if &bytes[..4] != b"QOTL" {
            return Err(OutlierError::Invalid("bad magic"));
        }
        if u16::from_le_bytes([bytes[4], bytes[5]]) != 1 {
            return Err(OutlierError::Invalid("unsupported version"));
        }
        let precision = match bytes[6] {
            0 => ValuePrecision::F32,
            1 => ValuePrecision::F16,
            2 => ValuePrecision::Bf16,
            _ => return Err(OutlierError::Invalid("unknown value precision")),
        };
        let width = bytes[7] as u64;
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let (n_rows, n_cols, n) = (u64_at(8), u64_at(16), u64_at(24));
        let expected_width = if n_cols <= 1 << 16 { 2 } else { 4 };
        if width != expected_width {
            return Err(OutlierError::Invalid("column width does not match n_cols"));
        }
        if n > u64::from(u32::MAX) || n_cols > u64::from(u32::MAX) + 1 {
            return Err(OutlierError::Invalid("counts beyond the u32 layout"));
        }
        let expected = n_rows
            .checked_add(1)
            .and_then(|r| r.checked_mul(4))
            .and_then(|r| r.checked_add(32))
            .and_then(|h| {
                n.checked_mul(width + precision.bytes() as u64)
                    .and_then(|e| h.checked_add(e))
            });
        match expected {
            Some(e) if e == bytes.len() as u64 => {}
            Some(e) => {
                return Err(OutlierError::Size {
                    expected: e,
                    actual: bytes.len() as u64,
                });
            }
            None => {
                return Err(OutlierError::Size {
                    expected: u64::MAX,
                    actual: bytes.len() as u64,
                });
            }
        }
        let (n_rows, n_cols, n) = (n_rows as usize, n_cols as usize, n as usize);
        let mut pos = 32;
        let mut row_offsets = Vec::with_capacity(n_rows + 1);
        for _ in 0..=n_rows {
            row_offsets.push(u32::from_le_bytes(
                bytes[pos..pos + 4].try_into().expect("4 bytes"),
            ));
            pos += 4;
        }
        if row_offsets[0] != 0
            || row_offsets[n_rows] as usize != n
            || row_offsets.windows(2).any(|w| w[1] < w[0])
        {
            return Err(OutlierError::Invalid("row offsets"));
        }
        let mut cols = Vec::with_capacity(n);
        for _ in 0..n {
            cols.push(if width == 2 {
                u32::from(u16::from_le_bytes([bytes[pos], bytes[pos + 1]]))
            } else {
                u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"))
            });
            pos += width as usize;
        }
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(match precision {
                ValuePrecision::F32 => {
                    f32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes"))
                }
                ValuePrecision::F16 => f16::from_le_bytes([bytes[pos], bytes[pos + 1]]).to_f32(),
                ValuePrecision::Bf16 => bf16::from_le_bytes([bytes[pos], bytes[pos + 1]]).to_f32(),
            });
            pos += precision.bytes();
        }
        for r in 0..n_rows {
            let (a, b) = (row_offsets[r] as usize, row_offsets[r + 1] as usize);
            for i in a..b {
                let col = cols[i] as usize;
                if col >= n_cols {
                    return Err(OutlierError::OutOfRange {
                        row: r,
                        col,
                        n_rows,
                        n_cols,
                    });
                }
                if i > a && cols[i] <= cols[i - 1] {
                    return Err(OutlierError::Unsorted { row: r, col });
                }
                if !values[i].is_finite() {
                    return Err(OutlierError::NonFinite {
                        row: r,
                        col,
                        value: values[i],
                    });
                }
            }
        }
        Ok(Self {
            n_rows,
            n_cols,
            precision,
            row_offsets,
            cols,
            values,
        })
    }
}

/// Which weights to keep.
#[derive(Clone, Debug, PartialEq)]
pub enum OutlierPolicy {
    /// The `k` largest |w| of every row (importance-weighted when an imatrix is given:
    /// score `|w|·sqrt(imp)`).
    TopKPerRow(usize),
    /// The largest fraction of all weights of the tensor (e.g. `0.001` = 0.1 %), same score.
    TopFraction(f64),
    /// Every weight with `|w − mean| > k·σ` of its row.
    SigmaRow(f32),
    /// Every weight with `|w − mean| > k·σ` of its block of `block_len` values.
    SigmaBlock {
        /// Threshold in standard deviations.
        k: f32,
        /// Block length (usually the format's).
        block_len: usize,
    },
    /// These `(row, col)` positions (e.g. known super weights).
    Explicit(Vec<(usize, usize)>),
    /// Keep the weights whose removal lowers the format's (importance-weighted) squared error the
    /// most per stored entry, up to `fraction` of the tensor.
    ErrorDriven {
        /// Base format whose error is measured.
        format: Format,
        /// Budget as a fraction of all weights.
        fraction: f64,
    },
}

fn check_fraction(f: f64) -> Result<()> {
    if (0.0..=1.0).contains(&f) {
        Ok(())
    } else {
        Err(OutlierError::Policy("fraction must be in [0, 1]"))
    }
}

fn mean_std(x: &[f32]) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// Choose the positions to keep in the row-major `n_rows × n_cols` matrix `w`.
///
/// Returns `(row, col)` pairs sorted by row then column.
///
/// # Errors
/// [`OutlierError::Policy`] for an out-of-range parameter, [`OutlierError::OutOfRange`] for an
/// explicit position outside the matrix, [`FormatError`]s of the base format (error-driven).
///
/// # Panics
/// If `w.len() != n_rows * n_cols` or an imatrix does not have `n_cols` entries.
pub fn select_outliers(
    w: &[f32],
    n_rows: usize,
    n_cols: usize,
    imatrix: Option<&[f32]>,
    policy: &OutlierPolicy,
) -> Result<Vec<(usize, usize)>> {
    assert_eq!(w.len(), n_rows * n_cols, "matrix size");
    if let Some(imp) = imatrix {
        assert_eq!(imp.len(), n_cols, "imatrix length");
    }
    let score = |r: usize, c: usize| -> f32 {
        let v = w[r * n_cols + c].abs();
        imatrix.map_or(v, |imp| v * imp[c].max(0.0).sqrt())
    };
    let mut out: Vec<(usize, usize)> = match policy {
        OutlierPolicy::TopKPerRow(k) => {
            let mut out = Vec::with_capacity(k * n_rows);
            for r in 0..n_rows {
                let mut idx: Vec<usize> = (0..n_cols).collect();
                let k = (*k).min(n_cols);
                if k == 0 {
                    continue;
                }
                idx.select_nth_unstable_by(k - 1, |&a, &b| score(r, b).total_cmp(&score(r, a)));
                out.extend(idx[..k].iter().map(|&c| (r, c)));
            }
            out
        }
        OutlierPolicy::TopFraction(f) => {
            check_fraction(*f)?;
            let k = ((w.len() as f64) * f).round() as usize;
            if k == 0 {
                return Ok(Vec::new());
            }
            let mut idx: Vec<usize> = (0..w.len()).collect();
            idx.select_nth_unstable_by(k - 1, |&a, &b| {
                score(b / n_cols, b % n_cols).total_cmp(&score(a / n_cols, a % n_cols))
            });
            idx[..k].iter().map(|&i| (i / n_cols, i % n_cols)).collect()
        }
        OutlierPolicy::SigmaRow(k) | OutlierPolicy::SigmaBlock { k, .. } => {
            let block = match policy {
                OutlierPolicy::SigmaBlock { block_len, .. } => *block_len,
                _ => n_cols,
            };
            if block == 0 || !n_cols.is_multiple_of(block) || k.is_nan() || *k <= 0.0 {
                return Err(OutlierError::Policy(
                    "sigma policy needs k > 0 and a block length dividing the row",
                ));
            }
            let mut out = Vec::new();
            for r in 0..n_rows {
                for b in 0..n_cols / block {
                    let x = &w[r * n_cols + b * block..r * n_cols + (b + 1) * block];
                    let (mean, sd) = mean_std(x);
                    for (j, &v) in x.iter().enumerate() {
                        if (f64::from(v) - mean).abs() > f64::from(*k) * sd {
                            out.push((r, b * block + j));
                        }
                    }
                }
            }
            out
        }
        OutlierPolicy::Explicit(pos) => {
            for &(row, col) in pos {
                if row >= n_rows || col >= n_cols {
                    return Err(OutlierError::OutOfRange {
                        row,
                        col,
                        n_rows,
                        n_cols,
                    });
                }
            }
            pos.clone()
        }
        OutlierPolicy::ErrorDriven { format, fraction } => {
            check_fraction(*fraction)?;
            error_driven(w, n_rows, n_cols, imatrix, *format, *fraction)?
        }
    };
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Greedy error-driven selection: in each block, remove the largest-magnitude weights one at a
/// time and record how much the block's weighted squared error drops; then keep the globally best
/// drops (in each block's removal order) until the budget is spent.
fn error_driven(
    w: &[f32],
    n_rows: usize,
    n_cols: usize,
    imatrix: Option<&[f32]>,
    format: Format,
    fraction: f64,
) -> Result<Vec<(usize, usize)>> {
    const PER_BLOCK: usize = 4;
    let budget = ((w.len() as f64) * fraction).round() as usize;
    if budget == 0 {
        return Ok(Vec::new());
    }
    let bl = format.block_len();
    if !n_cols.is_multiple_of(bl) {
        return Err(FormatError::RaggedLength {
            len: n_cols,
            block_len: bl,
        }
        .into());
    }
    // (gain, row, col, rank-in-block); gains are made non-increasing within a block so that taking
    // the globally largest gains respects each block's removal order.
    let mut cands: Vec<(f64, usize, usize)> = Vec::new();
    let mut x = vec![0.0f32; bl];
    for r in 0..n_rows {
        for b in 0..n_cols / bl {
            let base = r * n_cols + b * bl;
            x.copy_from_slice(&w[base..base + bl]);
            let imp = imatrix.map(|m| &m[b * bl..(b + 1) * bl]);
            let mut order: Vec<usize> = (0..bl).collect();
            order.sort_by(|&i, &j| x[j].abs().total_cmp(&x[i].abs()));
            let mut removed = vec![false; bl];
            let mut err = block_error(format, &x, &removed, imp)?;
            let mut cap = f64::INFINITY;
            for &j in order.iter().take(PER_BLOCK) {
                removed[j] = true;
                let e = block_error(format, &x, &removed, imp)?;
                let gain = (err - e).min(cap);
                cap = gain;
                err = e;
                cands.push((gain, r, b * bl + j));
            }
        }
    }
    cands.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(cands
        .into_iter()
        .take(budget)
        .filter(|c| c.0 > 0.0)
        .map(|(_, r, c)| (r, c))
        .collect())
}

/// Weighted squared error of a block quantized with the `removed` positions replaced by the mean
/// of the others and excluded from the error (they are kept exactly).
fn block_error(format: Format, x: &[f32], removed: &[bool], imp: Option<&[f32]>) -> Result<f64> {
    let y = fill_removed(x, removed);
    let q = crate::quantize(format, &y, imp)?;
    let d = crate::dequantize(format, &q, y.len())?;
    Ok((0..x.len())
        .filter(|&i| !removed[i])
        .map(|i| {
            let e = f64::from(x[i]) - f64::from(d[i]);
            imp.map_or(1.0, |m| f64::from(m[i])) * e * e
        })
        .sum())
}

/// `x` with the `removed` positions replaced by the mean of the remaining values: a value inside
/// the block's remaining range, so the block's scale (and min, for formats with one) is computed
/// as if the outliers were not there.
fn fill_removed(x: &[f32], removed: &[bool]) -> Vec<f32> {
    let kept: Vec<f32> = x
        .iter()
        .zip(removed)
        .filter(|(_, r)| !**r)
        .map(|(v, _)| *v)
        .collect();
    let fill = if kept.is_empty() {
        0.0
    } else {
        mean_std(&kept).0 as f32
    };
    x.iter()
        .zip(removed)
        .map(|(v, r)| if *r { fill } else { *v })
        .collect()
}

/// A matrix quantized to a base format plus an outlier table.
#[derive(Clone, Debug, PartialEq)]
pub struct WithOutliers {
    /// The base format.
    pub format: Format,
    /// Rows.
    pub n_rows: usize,
    /// Columns.
    pub n_cols: usize,
    /// Row-major base-format bytes (`n_rows` rows of `format.row_bytes(n_cols)`).
    pub blocks: Vec<u8>,
    /// The kept weights.
    pub table: OutlierTable,
}

impl WithOutliers {
    /// Total storage (blocks + serialized table) in bits per weight.
    pub fn bits_per_weight(&self) -> f64 {
        let n = (self.n_rows * self.n_cols).max(1) as f64;
        (self.blocks.len() as f64 * 8.0) / n + self.table.bits_per_weight()
    }
}

/// Quantize `w` (row-major `n_rows × n_cols`) to `format`, keeping the weights chosen by `policy`
/// exactly (to `precision`) in an outlier table. Kept positions are replaced by their block's mean
/// before quantizing, so block scales are computed without them.
///
/// For a block format of your own, [`quantize_blocks_with_outliers`] does the same.
///
/// # Errors
/// Errors of [`select_outliers`] and of the base format ([`quantize_matrix`]), and
/// [`OutlierError::NonFinite`] if a kept value overflows `precision` (e.g. > 65504 in f16).
///
/// # Panics
/// If `w.len() != n_rows * n_cols` or an imatrix does not have `n_cols` entries.
pub fn quantize_with_outliers(
    format: Format,
    w: &[f32],
    n_rows: usize,
    n_cols: usize,
    imatrix: Option<&[f32]>,
    policy: &OutlierPolicy,
    precision: ValuePrecision,
) -> Result<WithOutliers> {
    let (table, rest) = split_outliers(
        w,
        n_rows,
        n_cols,
        format.block_len(),
        imatrix,
        policy,
        precision,
    )?;
    let blocks = quantize_matrix(format, &rest, n_rows, n_cols, imatrix)?;
    Ok(WithOutliers {
        format,
        n_rows,
        n_cols,
        blocks,
        table,
    })
}

/// [`quantize_with_outliers`] for any [`BlockFormat`], built-in or your own: the blocks of the
/// `n_rows` rows (row-major, `n_cols / B::BLOCK_LEN` blocks per row) and the table. For a
/// built-in format the blocks are the bytes of [`quantize_with_outliers`].
///
/// ```
/// use quant_core::formats::BlockQ4_0;
/// use quant_core::outlier::{quantize_blocks_with_outliers, dequantize_blocks_with_outliers, OutlierPolicy, ValuePrecision};
///
/// let mut w: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 100.0).collect();
/// w[5] = 30.0;
/// let (blocks, table) = quantize_blocks_with_outliers::<BlockQ4_0>(&w, 1, 64, None, &OutlierPolicy::TopKPerRow(1), ValuePrecision::F32)?;
/// assert_eq!(blocks.len(), 2);
/// assert_eq!(dequantize_blocks_with_outliers(&blocks, &table)?[5], 30.0);
/// # Ok::<(), quant_core::outlier::OutlierError>(())
/// ```
///
/// # Errors
/// As [`quantize_with_outliers`].
///
/// # Panics
/// If `w.len() != n_rows * n_cols` or an imatrix does not have `n_cols` entries.
pub fn quantize_blocks_with_outliers<B: BlockFormat>(
    w: &[f32],
    n_rows: usize,
    n_cols: usize,
    imatrix: Option<&[f32]>,
    policy: &OutlierPolicy,
    precision: ValuePrecision,
) -> Result<(Vec<B>, OutlierTable)> {
    let (table, rest) =
        split_outliers(w, n_rows, n_cols, B::BLOCK_LEN, imatrix, policy, precision)?;
    let per_row = n_cols / B::BLOCK_LEN;
    let mut blocks = vec![B::zeroed(); n_rows * per_row];
    if per_row > 0 {
        for (row, dst) in rest
            .chunks_exact(n_cols)
            .zip(blocks.chunks_exact_mut(per_row))
        {
            crate::quantize_row(row, imatrix, dst)?;
        }
    }
    Ok((blocks, table))
}

/// The matrix of [`quantize_blocks_with_outliers`]: the blocks' values with the kept weights put
/// back (row-major, `table.n_rows() × table.n_cols()`).
///
/// # Errors
/// [`FormatError::LengthMismatch`] if the blocks do not hold `n_rows × n_cols` values.
pub fn dequantize_blocks_with_outliers<B: BlockFormat>(
    blocks: &[B],
    table: &OutlierTable,
) -> Result<Vec<f32>> {
    let n = table.n_rows() * table.n_cols();
    if blocks.len() * B::BLOCK_LEN != n {
        return Err(FormatError::LengthMismatch {
            what: "values of the blocks",
            expected: n,
            actual: blocks.len() * B::BLOCK_LEN,
        }
        .into());
    }
    let mut y = crate::dequantize_row_to_vec(blocks);
    table.apply(&mut y);
    Ok(y)
}

/// Select the outliers of `w`, build their table, and return it with `w` where every kept
/// position is replaced by the mean of the other values of its block of `bl`.
fn split_outliers(
    w: &[f32],
    n_rows: usize,
    n_cols: usize,
    bl: usize,
    imatrix: Option<&[f32]>,
    policy: &OutlierPolicy,
    precision: ValuePrecision,
) -> Result<(OutlierTable, Vec<f32>)> {
    crate::validate_row(w, None, 1)?;
    let pos = select_outliers(w, n_rows, n_cols, imatrix, policy)?;
    let table = OutlierTable::from_entries(
        n_rows,
        n_cols,
        precision,
        pos.iter().map(|&(r, c)| (r, c, w[r * n_cols + c])),
    )?;
    if bl == 0 || !n_cols.is_multiple_of(bl) {
        return Err(FormatError::RaggedLength {
            len: n_cols,
            block_len: bl,
        }
        .into());
    }
    let mut rest = w.to_vec();
    let mut removed = vec![false; bl];
    for r in 0..n_rows {
        let (cols, _) = table.row(r);
        let mut i = 0;
        while i < cols.len() {
            let b = cols[i] as usize / bl;
            removed.iter_mut().for_each(|m| *m = false);
            while i < cols.len() && cols[i] as usize / bl == b {
                removed[cols[i] as usize % bl] = true;
                i += 1;
            }
            let base = r * n_cols + b * bl;
            let filled = fill_removed(&w[base..base + bl], &removed);
            rest[base..base + bl].copy_from_slice(&filled);
        }
    }
    Ok((table, rest))
}

/// Dequantize a [`WithOutliers`] matrix: the base format's values with the kept weights put back.
///
/// # Errors
/// Errors of [`dequantize_matrix`] (none for a value built by [`quantize_with_outliers`]).
pub fn dequantize_with_outliers(q: &WithOutliers) -> Result<Vec<f32>> {
    let mut y = dequantize_matrix(q.format, &q.blocks, q.n_rows, q.n_cols)?;
    q.table.apply(&mut y);
    Ok(y)
}
