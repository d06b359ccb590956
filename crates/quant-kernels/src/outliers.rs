//! Products with an outlier table (`quant_core::outlier`): the dense quantized product plus the
//! sparse term of the weights kept exactly,
//! `y_r = Σ_j b_rj·q(x)_j + Σ_{j∈table(r)} (w_rj − b_rj)·x_j`, where `b_rj` is the base
//! format's value at `(r, j)` (at a kept position: the block mean it was replaced with, as
//! quantized) and `q(x)` the activation quantized to the weight format's partner format.
//!
//! The dense blocks still hold a value at every kept position, so the sparse term adds the
//! **difference** `w_rj − b_rj` (computed once, in [`OutlierMatrix::new`]): the result is the
//! product with [`dequantize_with_outliers`](quant_core::outlier::dequantize_with_outliers)'s
//! matrix, up to the activation's quantization of the dense part. The sparse term uses the
//! **unquantized** f32 activations, so a kept weight contributes `w_rj·x_j` exactly except for
//! `b_rj·(q(x)_j − x_j)` (a block mean times an activation rounding error). Two passes, both
//! split across the current rayon pool:
//!
//! 1. the sparse pass computes every row's term into the [`Scratch`], streaming the table
//!    (offsets, columns, differences) in order while `x` stays in cache (on the calling thread
//!    for small tables, where a second parallel region would cost more than the pass);
//! 2. the dense pass ([`QuantMatrix::matvec`]'s row loop) adds row `r`'s term right after row
//!    `r`'s dot product.
//!
//! (Reading the table row by row inside the dense loop instead costs a few cache misses per row
//! that the hardware prefetchers do not cover: measured 4–17 % overhead at 0.1 % kept and 20–38 %
//! at 1 %, about twice the two-pass cost; see `docs/outliers.md`.) The dense part is the same bits as [`QuantMatrix::matvec`] on every
//! backend, and every result is `dense_r + sparse_r` rounded once: the same bits on any number of
//! threads ([`OutlierMatrix::sparse_term`] is `sparse_r`).
//!
//! ```
//! use quant_core::Format;
//! use quant_core::outlier::{quantize_with_outliers, OutlierPolicy, ValuePrecision};
//! use quant_kernels::{OutlierMatrix, Scratch};
//!
//! let (rows, cols) = (4, 256);
//! let mut w: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 1000.0).collect();
//! w[3 * cols + 17] = 6.0; // an outlier
//! let q = quantize_with_outliers(Format::Q4K, &w, rows, cols, None, &OutlierPolicy::TopKPerRow(1), ValuePrecision::F32)?;
//! let m = OutlierMatrix::new(&q)?;
//! let x = vec![0.5f32; cols];
//! let mut y = vec![0.0f32; rows];
//! m.matvec(quant_kernels::best(), &x, &mut y, &mut Scratch::new())?;
//! assert!((y[3] - w[3 * cols..].iter().map(|v| v * 0.5).sum::<f32>()).abs() < 0.05);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use quant_core::Format;
use quant_core::outlier::{OutlierTable, WithOutliers};

use rayon::prelude::*;

use crate::matvec::{Term, check_len};
use crate::{Backend, Error, QuantMatrix, Result, Scratch};

/// Rows per rayon task of the sparse pass (a few entries per row: larger tasks than the dense
/// pass's, so that scheduling stays negligible).
const SPARSE_ROWS_PER_TASK: usize = 256;

/// The sparse pass runs on the calling thread below this many (entries + rows) × batch: a few µs
/// of work, less than what waking the pool for a second parallel region costs on small matrices.
const SPARSE_PARALLEL_MIN: usize = 1 << 15;

/// A quantized matrix with its outlier table, ready for products on any backend.
pub struct OutlierMatrix<'a> {
    dense: QuantMatrix<'a>,
    table: &'a OutlierTable,
    /// Row `r`'s entries are `entries[offsets[r]..offsets[r + 1]]` (the table's row offsets).
    offsets: Vec<u32>,
    /// Per table entry, in the table's entry order: its column and the kept value minus the base
    /// format's value there. One contiguous stream for the sparse pass.
    entries: Vec<Entry>,
}

/// One kept weight as the products use it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    col: u32,
    diff: f32,
}

impl core::fmt::Debug for OutlierMatrix<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutlierMatrix")
            .field("dense", &self.dense)
            .field("entries", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl<'a> OutlierMatrix<'a> {
    /// The matrix of a [`WithOutliers`] value (borrowed, not copied).
    ///
    /// # Errors
    /// As [`OutlierMatrix::from_parts`].
    pub fn new(q: &'a WithOutliers) -> Result<Self> {
        Self::from_parts(q.format, q.n_rows, q.n_cols, &q.blocks, &q.table)
    }

    /// A `rows × cols` matrix of `format` blocks plus `table`.
    ///
    /// # Errors
    /// Errors of [`QuantMatrix::new`]; [`Error::ShapeMismatch`] if the table's shape differs.
    pub fn from_parts(
        format: Format,
        rows: usize,
        cols: usize,
        bytes: &'a [u8],
        table: &'a OutlierTable,
    ) -> Result<Self> {
        if table.n_rows() != rows {
            return Err(Error::ShapeMismatch {
                what: "outlier table rows",
                expected: rows,
                actual: table.n_rows(),
            });
        }
        if table.n_cols() != cols {
            return Err(Error::ShapeMismatch {
                what: "outlier table columns",
                expected: cols,
                actual: table.n_cols(),
            });
        }
        let dense = QuantMatrix::new(format, rows, cols, bytes)?;
        let entries = entries(&dense, table)?;
        let offsets = (0..rows)
            .map(|r| table.row_range(r).start as u32)
            .chain(std::iter::once(table.len() as u32))
            .collect();
        Ok(Self {
            dense,
            table,
            offsets,
            entries,
        })
    }

    /// Row `r`'s sparse term `Σ_{j∈table(r)} (w_rj − b_rj)·x_j` (f32, in column order): what
    /// the products add to the dense dot product of row `r`.
    ///
    /// # Panics
    /// If `r >= rows` or `x.len() != cols`.
    #[inline]
    pub fn sparse_term(&self, r: usize, x: &[f32]) -> f32 {
        assert_eq!(x.len(), self.dense.cols(), "activation length");
        let (a, b) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
        row_term(&self.entries[a..b], x)
    }

    /// The sparse terms of rows `first..first + out.len()` for the activation `x`.
    fn sparse_terms(&self, first: usize, x: &[f32], out: &mut [f32]) {
        let offsets = &self.offsets[first..=first + out.len()];
        for (t, o) in out.iter_mut().zip(offsets.windows(2)) {
            *t = row_term(&self.entries[o[0] as usize..o[1] as usize], x);
        }
    }

    /// The dense part.
    pub fn dense(&self) -> &QuantMatrix<'a> {
        &self.dense
    }

    /// The table.
    pub fn table(&self) -> &OutlierTable {
        self.table
    }

    /// The product: a sparse pass computes every row's term ([`OutlierMatrix::sparse_term`]) into
    /// `scratch`, then the dense pass adds each row's term right after its dot product.
    fn product(
        &self,
        backend: &dyn Backend,
        xs: &[f32],
        batch: usize,
        ys: &mut [f32],
        scratch: &mut Scratch,
        parallel: bool,
    ) -> Result<()> {
        let (rows, cols) = (self.dense.rows(), self.dense.cols());
        check_len("activations", batch * cols, xs.len())?;
        check_len("outputs", batch * rows, ys.len())?;
        let mut terms = std::mem::take(&mut scratch.terms);
        terms.clear();
        terms.resize(batch * rows, 0.0);
        let parallel_sparse =
            parallel && (self.entries.len() + rows) * batch >= SPARSE_PARALLEL_MIN;
        if rows > 0 {
            for (x, tb) in xs
                .chunks_exact(cols.max(1))
                .zip(terms.chunks_exact_mut(rows))
            {
                let task = |(c, chunk): (usize, &mut [f32])| {
                    self.sparse_terms(c * SPARSE_ROWS_PER_TASK, x, chunk);
                };
                if parallel_sparse {
                    tb.par_chunks_mut(SPARSE_ROWS_PER_TASK)
                        .enumerate()
                        .for_each(task);
                } else {
                    tb.chunks_mut(SPARSE_ROWS_PER_TASK)
                        .enumerate()
                        .for_each(task);
                }
            }
        }
        let term = |r: usize, b: usize| terms[b * rows + r];
        let result = self.dense.matmul_with_term(
            backend,
            xs,
            batch,
            ys,
            scratch,
            parallel,
            Some(Term::Indexed(&term)),
        );
        scratch.terms = terms;
        result
    }

    /// `y = W·x` with the kept weights exact, rows split across the current rayon pool.
    ///
    /// Every value is `dense_r + sparse_r` rounded once in f32: the same bits on any number of
    /// threads (equal to [`OutlierMatrix::matvec_serial`]).
    ///
    /// # Errors
    /// As [`QuantMatrix::matvec`].
    pub fn matvec(
        &self,
        backend: &dyn Backend,
        x: &[f32],
        y: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        self.product(backend, x, 1, y, scratch, true)
    }

    /// [`OutlierMatrix::matvec`] on the calling thread only (the reference for the threaded one).
    ///
    /// # Errors
    /// As [`QuantMatrix::matvec`].
    pub fn matvec_serial(
        &self,
        backend: &dyn Backend,
        x: &[f32],
        y: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        self.product(backend, x, 1, y, scratch, false)
    }

    /// `Y = X·Wᵀ` for a small batch (layout as [`QuantMatrix::matmul`]); every value equals the
    /// corresponding [`OutlierMatrix::matvec`] result bit for bit.
    ///
    /// # Errors
    /// As [`QuantMatrix::matmul`].
    pub fn matmul(
        &self,
        backend: &dyn Backend,
        xs: &[f32],
        batch: usize,
        ys: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        self.product(backend, xs, batch, ys, scratch, true)
    }
}

/// `Σ diff·x[col]` over one row's entries, in column order.
#[inline]
fn row_term(entries: &[Entry], x: &[f32]) -> f32 {
    entries
        .iter()
        .fold(0.0f32, |acc, e| acc + e.diff * x[e.col as usize])
}

/// Column and `kept value − base value` for every entry of `table`, in its entry order: the base
/// values come from dequantizing only the blocks that hold kept weights.
fn entries(dense: &QuantMatrix<'_>, table: &OutlierTable) -> Result<Vec<Entry>> {
    let format = dense.format();
    let bl = format.block_len();
    let block_bytes = format.row_bytes(bl)?;
    let row_bytes = format.row_bytes(dense.cols())?;
    let bytes = dense.bytes();
    let mut out = Vec::with_capacity(table.len());
    let mut block = vec![0.0f32; bl];
    let mut current = None;
    for r in 0..table.n_rows() {
        let (cols, values) = table.row(r);
        for (&c, &v) in cols.iter().zip(values) {
            let b = c as usize / bl;
            if current != Some((r, b)) {
                let at = r * row_bytes + b * block_bytes;
                quant_core::dequantize_into(format, &bytes[at..at + block_bytes], &mut block)?;
                current = Some((r, b));
            }
            out.push(Entry {
                col: c,
                diff: v - block[c as usize % bl],
            });
        }
    }
    Ok(out)
}
