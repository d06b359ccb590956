//! The generic path for any [`BlockFormat`], built in or user-defined: dequantize a few blocks
//! into a stack buffer, then an f32 dot product with the backend's [`Backend::dot_f32`].
//!
//! It is slower than the dedicated kernels (the activation stays f32 and every weight is widened)
//! but lets users run and benchmark their own formats beside the built-in ones.

use rayon::prelude::*;

use quant_core::BlockFormat;

use crate::Backend;
use crate::error::{Error, Result};
use crate::matvec::ROWS_PER_TASK;

/// Values dequantized at a time onto the stack.
const CHUNK: usize = 1024;

/// `Σ w[i]·x[i]` for a row of any block format: blocks are dequantized in chunks of up to 1024
/// values (whole blocks), each chunk is dotted with `backend.dot_f32`, and the chunk results are
/// added left to right from `+0.0`. A format with blocks longer than 1024 values uses one heap
/// buffer per call.
///
/// ```
/// use quant_core::{quantize_row_to_vec, formats::BlockQ4_0};
/// use quant_kernels::{best, dot_generic};
/// let w: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 32.0).collect();
/// let blocks: Vec<BlockQ4_0> = quantize_row_to_vec(&w, None)?;
/// let x: Vec<f32> = (0..64).map(|i| (i % 3) as f32).collect();
/// // Equals the f32 dot of the dequantized row up to summation order.
/// let deq = quant_core::dequantize_row_to_vec(&blocks);
/// let want: f32 = deq.iter().zip(&x).map(|(a, b)| a * b).sum();
/// assert!((dot_generic(best(), &blocks, &x) - want).abs() <= 1e-5 * want.abs().max(1.0));
/// # Ok::<(), quant_core::Error>(())
/// ```
///
/// # Panics
/// If `x.len() != w.len() * B::BLOCK_LEN`.
pub fn dot_generic<B: BlockFormat>(backend: &dyn Backend, w: &[B], x: &[f32]) -> f32 {
    assert_eq!(
        x.len(),
        w.len() * B::BLOCK_LEN,
        "dot_generic: {} activations for {} blocks of {}",
        x.len(),
        w.len(),
        B::NAME
    );
    let per = (CHUNK / B::BLOCK_LEN).max(1);
    let mut stack = [0.0f32; CHUNK];
    let mut heap = Vec::new();
    let buf: &mut [f32] = if B::BLOCK_LEN <= CHUNK {
        &mut stack
    } else {
        heap.resize(B::BLOCK_LEN, 0.0);
        &mut heap
    };
    let mut sum = 0.0f32;
    for (blocks, xs) in w.chunks(per).zip(x.chunks(per * B::BLOCK_LEN)) {
        let vals = &mut buf[..xs.len()];
        for (b, out) in blocks.iter().zip(vals.chunks_exact_mut(B::BLOCK_LEN)) {
            b.dequantize_block(out);
        }
        sum += backend.dot_f32(vals, xs);
    }
    sum
}

/// A row-major matrix of any block format for the generic path ([`dot_generic`] per row, rows
/// split across the current rayon pool; results equal the serial ones bit for bit).
#[derive(Debug, Clone, Copy)]
pub struct GenericMatrix<'a, B: BlockFormat> {
    blocks: &'a [B],
    rows: usize,
    cols: usize,
}

impl<'a, B: BlockFormat> GenericMatrix<'a, B> {
    /// A `rows × cols` matrix over `blocks`.
    ///
    /// # Errors
    /// [`quant_core::Error::RaggedLength`] if `cols` is not a multiple of `B::BLOCK_LEN`;
    /// [`Error::ShapeMismatch`] if `blocks` does not hold `rows × cols` values.
    pub fn new(blocks: &'a [B], rows: usize, cols: usize) -> Result<Self> {
        if !cols.is_multiple_of(B::BLOCK_LEN) {
            return Err(quant_core::Error::RaggedLength {
                len: cols,
                block_len: B::BLOCK_LEN,
            }
            .into());
        }
        let expected = rows * (cols / B::BLOCK_LEN);
        if blocks.len() != expected {
            return Err(Error::ShapeMismatch {
                what: "matrix blocks",
                expected,
                actual: blocks.len(),
            });
        }
        Ok(Self { blocks, rows, cols })
    }

    /// `y = W·x` on `backend`.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `x.len() != cols` or `y.len() != rows`.
    pub fn matvec(&self, backend: &dyn Backend, x: &[f32], y: &mut [f32]) -> Result<()> {
        if x.len() != self.cols {
            return Err(Error::ShapeMismatch {
                what: "activations",
                expected: self.cols,
                actual: x.len(),
            });
        }
        if y.len() != self.rows {
            return Err(Error::ShapeMismatch {
                what: "outputs",
                expected: self.rows,
                actual: y.len(),
            });
        }
        let nb = self.cols / B::BLOCK_LEN;
        y.par_chunks_mut(ROWS_PER_TASK)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (i, v) in chunk.iter_mut().enumerate() {
                    let r = c * ROWS_PER_TASK + i;
                    *v = dot_generic(backend, &self.blocks[r * nb..(r + 1) * nb], x);
                }
            });
        Ok(())
    }
}
