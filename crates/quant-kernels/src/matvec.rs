//! Matrix × vector and matrix × small batch for a quantized weight matrix and f32 activations.
//!
//! The activations are quantized once into the weight format's partner format
//! ([`WeightFormat::Activation`]), then every weight row is dotted with them. Rows are split
//! across the current rayon thread pool in chunks of [`ROWS_PER_TASK`] rows; every row's value is
//! computed by the same kernel call whatever the thread count, so the results are identical bit
//! for bit to the single-threaded ones ([`QuantMatrix::matvec_serial`]).
//!
//! The activation buffers live in a caller-held [`Scratch`], so a steady-state call allocates
//! nothing.

use rayon::prelude::*;

use quant_core::{BlockFormat, Format, blocks_from_bytes, validate_row};

use crate::Backend;
use crate::error::{Error, Result};
use crate::formats::{ActivationFormat, WeightFormat};

/// Rows handed to one rayon task.
pub const ROWS_PER_TASK: usize = 16;

/// Activation rows processed together in a batch product (see [`QuantMatrix::matmul`]).
const BATCH_TILE: usize = 16;

/// A term added to every row's result: `row_term(row, x)` is added to `y[row]` after the dot
/// product of weight row `row` with the (quantized) activation `x`.
///
/// This is the extension point for a sparse correction (e.g. an outlier table holding a few
/// full-precision weights per row): the hook receives the **unquantized** activation row. For
/// `quant_core::outlier` tables use [`OutlierMatrix`](crate::OutlierMatrix): the blocks still hold
/// a value at every kept position, which the correction must subtract (`OutlierTable::row_dot`
/// alone would count those positions twice).
pub type RowTerm<'a> = &'a (dyn Fn(usize, &[f32]) -> f32 + Sync);

/// The term added to each result inside the threaded row loop.
#[derive(Clone, Copy)]
pub(crate) enum Term<'t> {
    /// A [`RowTerm`], called with the activation row.
    Row(RowTerm<'t>),
    /// `f(row, batch_index)`: a value computed beforehand.
    Indexed(&'t (dyn Fn(usize, usize) -> f32 + Sync)),
}

/// Reusable buffers for [`QuantMatrix`] products (quantized activations, batch results). They grow
/// to the largest size used and are then reused, so steady-state calls do not allocate.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    act: Vec<u64>,
    out: Vec<f32>,
    /// Per-row terms computed before the dense pass (outlier tables).
    pub(crate) terms: Vec<f32>,
}

impl Scratch {
    /// Empty buffers (they grow on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// `n` zeroed-or-stale blocks of `A` starting at a 64-byte boundary, and the f32 buffer of
    /// `out` values.
    ///
    /// The cache-line start matters: the kernels' 32-byte loads split fewer lines, and on AMD Zen
    /// the same dot product runs up to 1.5× slower with the activation row 4 or 16 bytes off a
    /// line (see `bench::Aligned`).
    fn split<A: BlockFormat>(&mut self, n: usize, out: usize) -> (&mut [A], &mut [f32]) {
        let bytes = n * A::BLOCK_BYTES;
        // Up to 56 bytes (7 words) of padding bring an 8-byte aligned start to a 64-byte one.
        let words = bytes.div_ceil(8) + 7;
        if self.act.len() < words {
            self.act.resize(words, 0);
        }
        if self.out.len() < out {
            self.out.resize(out, 0.0);
        }
        let raw: &mut [u8] = bytemuck::cast_slice_mut(&mut self.act[..words]);
        let off = raw.as_ptr().align_offset(64).min(56);
        // Length a whole number of blocks at an 8-byte aligned start: the cast cannot fail for
        // blocks of alignment <= 8 (every ggml block has alignment 1, 2 or 4).
        let blocks = bytemuck::cast_slice_mut(&mut raw[off..off + bytes]);
        (blocks, &mut self.out[..out])
    }
}

enum Storage<'a> {
    Borrowed(&'a [u8]),
    /// A copy of misaligned input at 8-byte alignment, and its length in bytes.
    Owned(Vec<u64>, usize),
}

/// A row-major quantized weight matrix (`rows` rows of `cols` values in `format`, ggml/GGUF bytes),
/// ready for products with f32 activations.
///
/// ```
/// use quant_core::{quantize_matrix, Format};
/// use quant_kernels::{best, QuantMatrix, Scratch};
/// let (rows, cols) = (8, 256);
/// let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0).collect();
/// let bytes = quantize_matrix(Format::Q8_0, &w, rows, cols, None)?;
/// let m = QuantMatrix::new(Format::Q8_0, rows, cols, &bytes)?;
/// let x = vec![0.5f32; cols];
/// let mut y = vec![0.0f32; rows];
/// let mut scratch = Scratch::new();
/// m.matvec(best(), &x, &mut y, &mut scratch)?;
/// let exact: f32 = w[..cols].iter().map(|v| v * 0.5).sum();
/// assert!((y[0] - exact).abs() < 0.01 * exact.abs().max(1.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct QuantMatrix<'a> {
    format: Format,
    rows: usize,
    cols: usize,
    data: Storage<'a>,
    row_term: Option<RowTerm<'a>>,
}

impl core::fmt::Debug for QuantMatrix<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuantMatrix")
            .field("format", &self.format)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("row_term", &self.row_term.is_some())
            .finish_non_exhaustive()
    }
}

fn check_aligned<W: WeightFormat>(bytes: &[u8]) -> Result<bool> {
    match blocks_from_bytes::<W>(bytes) {
        Ok(_) => Ok(true),
        Err(quant_core::Error::Misaligned { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

impl<'a> QuantMatrix<'a> {
    /// View `bytes` as a `rows × cols` matrix of `format`. Bytes at any alignment are accepted;
    /// misaligned ones are copied once here.
    ///
    /// # Errors
    /// [`Error::NoDot`] for `q8_1`; [`quant_core::Error::RaggedLength`] if `cols` is not a
    /// multiple of the block length; [`Error::ShapeMismatch`] if `bytes` does not hold exactly
    /// `rows × cols` values.
    pub fn new(format: Format, rows: usize, cols: usize, bytes: &'a [u8]) -> Result<Self> {
        let row_bytes = format.row_bytes(cols)?;
        let expected = row_bytes.checked_mul(rows).ok_or(Error::ShapeMismatch {
            what: "matrix bytes",
            expected: usize::MAX,
            actual: bytes.len(),
        })?;
        if bytes.len() != expected {
            return Err(Error::ShapeMismatch {
                what: "matrix bytes",
                expected,
                actual: bytes.len(),
            });
        }
        let aligned = crate::with_weight_type!(format, W => check_aligned::<W>(bytes)?,
            else => return Err(Error::NoDot { format }));
        let data = if aligned {
            Storage::Borrowed(bytes)
        } else {
            let mut v = vec![0u64; bytes.len().div_ceil(8)];
            bytemuck::cast_slice_mut::<u64, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
            Storage::Owned(v, bytes.len())
        };
        Ok(Self {
            format,
            rows,
            cols,
            data,
            row_term: None,
        })
    }

    /// Add `term(row, x)` to every row's result (see [`RowTerm`]).
    #[must_use]
    pub fn with_row_term(mut self, term: RowTerm<'a>) -> Self {
        self.row_term = Some(term);
        self
    }

    /// The weight format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Number of rows (outputs).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (values per row, inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The weight bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Storage::Borrowed(b) => b,
            Storage::Owned(v, len) => &bytemuck::cast_slice::<u64, u8>(v)[..*len],
        }
    }

    fn blocks<W: WeightFormat>(&self) -> &[W] {
        // Checked in `new` (aligned or copied to 8-byte alignment, whole blocks).
        blocks_from_bytes::<W>(self.bytes()).expect("checked in QuantMatrix::new")
    }

    /// `y = W·x` on `backend`, rows split across the current rayon pool.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `x.len() != cols` or `y.len() != rows`;
    /// [`quant_core::Error::NonFinite`] (wrapped) if `x` holds NaN or ±inf.
    pub fn matvec(
        &self,
        backend: &dyn Backend,
        x: &[f32],
        y: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        crate::with_weight_type!(self.format, W => self.matmul_typed::<W>(backend, x, 1, y, scratch, true, self.row_term.map(Term::Row)),
            else => unreachable!("checked in new"))
    }

    /// [`QuantMatrix::matvec`] on the calling thread only (the reference for the threaded one).
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
        crate::with_weight_type!(self.format, W => self.matmul_typed::<W>(backend, x, 1, y, scratch, false, self.row_term.map(Term::Row)),
            else => unreachable!("checked in new"))
    }

    /// `Y = X·Wᵀ` for a small batch: `xs` holds `batch` activation rows of `cols` values
    /// (row-major), `ys` receives `batch` result rows of `rows` values (`ys[b·rows + r]`).
    /// Activations are quantized once; each weight row is then dotted with all `batch` activation
    /// rows while it is in cache. Every value equals the corresponding [`QuantMatrix::matvec`]
    /// result bit for bit.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for buffers that do not match `batch`, `rows` and `cols`;
    /// [`quant_core::Error::NonFinite`] (wrapped) for NaN or ±inf activations.
    pub fn matmul(
        &self,
        backend: &dyn Backend,
        xs: &[f32],
        batch: usize,
        ys: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        crate::with_weight_type!(self.format, W => self.matmul_typed::<W>(backend, xs, batch, ys, scratch, true, self.row_term.map(Term::Row)),
            else => unreachable!("checked in new"))
    }

    /// [`QuantMatrix::matmul`] (`parallel`) or its single-threaded form with `term` in place of
    /// the matrix's own row term (if any): lets a caller add a per-row correction inside the
    /// threaded row loop without rebuilding the view.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matmul_with_term(
        &self,
        backend: &dyn Backend,
        xs: &[f32],
        batch: usize,
        ys: &mut [f32],
        scratch: &mut Scratch,
        parallel: bool,
        term: Option<Term<'_>>,
    ) -> Result<()> {
        crate::with_weight_type!(self.format, W => self.matmul_typed::<W>(backend, xs, batch, ys, scratch, parallel, term),
            else => unreachable!("checked in new"))
    }

    #[allow(clippy::too_many_arguments)]
    fn matmul_typed<W: WeightFormat>(
        &self,
        backend: &dyn Backend,
        xs: &[f32],
        batch: usize,
        ys: &mut [f32],
        scratch: &mut Scratch,
        parallel: bool,
        term: Option<Term<'_>>,
    ) -> Result<()> {
        let (rows, cols) = (self.rows, self.cols);
        check_len("activations", batch * cols, xs.len())?;
        check_len("outputs", batch * rows, ys.len())?;
        let a_len = <W::Activation as BlockFormat>::BLOCK_LEN;
        validate_row(xs, None, 1)?;
        if cols % a_len != 0 {
            return Err(quant_core::Error::RaggedLength {
                len: cols,
                block_len: a_len,
            }
            .into());
        }
        let nba = cols / a_len;
        let nbw = cols / W::BLOCK_LEN;
        let out_len = if batch == 1 { 0 } else { rows * batch };
        let (act, out) = scratch.split::<W::Activation>(nba * batch, out_len);
        if nba > 0 {
            for (x, a) in xs.chunks_exact(cols).zip(act.chunks_exact_mut(nba)) {
                W::Activation::quantize_activations(backend, x, a);
            }
        }
        let act: &[W::Activation] = act;
        let w = self.blocks::<W>();
        let add_term = |v: f32, r: usize, b: usize| -> f32 {
            match term {
                Some(Term::Row(t)) => v + t(r, &xs[b * cols..(b + 1) * cols]),
                Some(Term::Indexed(t)) => v + t(r, b),
                None => v,
            }
        };
        let act_row = |b: usize| &act[b * nba..(b + 1) * nba];
        let row_value = |r: usize, b: usize| -> f32 {
            add_term(
                W::dot(backend, &w[r * nbw..(r + 1) * nbw], act_row(b)),
                r,
                b,
            )
        };
        if batch == 1 {
            let task = |(c, chunk): (usize, &mut [f32])| {
                for (i, y) in chunk.iter_mut().enumerate() {
                    *y = row_value(c * ROWS_PER_TASK + i, 0);
                }
            };
            if parallel {
                ys.par_chunks_mut(ROWS_PER_TASK).enumerate().for_each(task);
            } else {
                ys.chunks_mut(ROWS_PER_TASK).enumerate().for_each(task);
            }
            return Ok(());
        }
        if batch == 0 {
            return Ok(());
        }
        // Results row-major by weight row ([r][b]) so that each task writes a contiguous range,
        // then transposed into `ys` ([b][r]).
        // Activation rows in tiles of BATCH_TILE so that a task's weight rows and the current
        // activation tile both stay in L1 (the same kernel calls in another order: same bits).
        let task = |(c, chunk): (usize, &mut [f32])| {
            for b0 in (0..batch).step_by(BATCH_TILE) {
                let b1 = (b0 + BATCH_TILE).min(batch);
                for (i, yr) in chunk.chunks_exact_mut(batch).enumerate() {
                    let r = c * ROWS_PER_TASK + i;
                    let wr = &w[r * nbw..(r + 1) * nbw];
                    // Four activation rows per kernel call (each weight block unpacked once; the
                    // same bits as four one-row calls), then the rest one by one.
                    let mut b = b0;
                    while b + 4 <= b1 {
                        let v = W::dot4(backend, wr, core::array::from_fn(|j| act_row(b + j)));
                        for (j, v) in v.into_iter().enumerate() {
                            yr[b + j] = add_term(v, r, b + j);
                        }
                        b += 4;
                    }
                    for (j, y) in yr[b..b1].iter_mut().enumerate() {
                        *y = row_value(r, b + j);
                    }
                }
            }
        };
        if parallel {
            out.par_chunks_mut(ROWS_PER_TASK * batch)
                .enumerate()
                .for_each(task);
        } else {
            out.chunks_mut(ROWS_PER_TASK * batch)
                .enumerate()
                .for_each(task);
        }
        for (r, yr) in out.chunks_exact(batch).enumerate() {
            for (b, v) in yr.iter().enumerate() {
                ys[b * rows + r] = *v;
            }
        }
        Ok(())
    }
}

pub(crate) fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<()> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected,
            actual,
        })
    }
}
