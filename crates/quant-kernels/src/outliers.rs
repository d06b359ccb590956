//! Products with an outlier table (`quant_core::outlier`): the dense quantized product plus the
//! sparse term of the weights kept exactly, `y_r = Σ_blocks q_r·q(x) + Σ_{j∈table(r)} w_rj·x_j`.
//!
//! The sparse term uses the **unquantized** f32 activations, so the kept weights contribute
//! exactly (up to f32 rounding). It is added after the dense dot, on the calling thread's backend
//! results, so the dense part is the same bits as [`QuantMatrix::matvec`] on every backend.
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

use crate::{Backend, Error, QuantMatrix, Result, Scratch};

/// A quantized matrix with its outlier table, ready for products on any backend.
#[derive(Debug)]
pub struct OutlierMatrix<'a> {
    dense: QuantMatrix<'a>,
    table: &'a OutlierTable,
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
        Ok(Self {
            dense: QuantMatrix::new(format, rows, cols, bytes)?,
            table,
        })
    }

    /// The dense part.
    pub fn dense(&self) -> &QuantMatrix<'a> {
        &self.dense
    }

    /// The table.
    pub fn table(&self) -> &OutlierTable {
        self.table
    }

    fn add_sparse(&self, xs: &[f32], batch: usize, ys: &mut [f32]) {
        let (rows, cols) = (self.dense.rows(), self.dense.cols());
        for b in 0..batch {
            let x = &xs[b * cols..(b + 1) * cols];
            for (r, y) in ys[b * rows..(b + 1) * rows].iter_mut().enumerate() {
                *y += self.table.row_dot(r, x);
            }
        }
    }

    /// `y = W·x` with the kept weights exact; rows of the dense part split across threads.
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
        self.dense.matvec(backend, x, y, scratch)?;
        self.add_sparse(x, 1, y);
        Ok(())
    }

    /// `Y = X·Wᵀ` for a small batch (layout as [`QuantMatrix::matmul`]).
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
        self.dense.matmul(backend, xs, batch, ys, scratch)?;
        self.add_sparse(xs, batch, ys);
        Ok(())
    }
}
