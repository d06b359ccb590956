//! The [`BlockFormat`] trait shared by built-in and user-defined block formats, checked byte views,
//! and the generic row functions that validate their input before calling a format's code.

use core::fmt::Debug;

use bytemuck::Pod;

use crate::{Error, Format, Result};

/// A block format: a fixed number of values stored in one plain-old-data block.
///
/// Every built-in ggml block (`BlockQ4_0`, `BlockQ4K`, …) implements it, and so can a user's own
/// block type; the generic functions of this crate ([`quantize_row`], [`dequantize_row`],
/// [`blocks_from_bytes`]) and the kernels' generic path work the same for both.
///
/// Implementations receive **validated** input: the generic functions check lengths, NaN/Inf and
/// importance weights first. The methods are safe; called with inputs that break the stated
/// preconditions they may panic but must not misbehave otherwise.
///
/// # Example: a user-defined format
///
/// ```
/// use quant_core::{BlockFormat, quantize_row, dequantize_row};
///
/// /// 8 values as i8 with an f32 scale.
/// #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
/// #[repr(C)]
/// struct Tiny { d: f32, q: [i8; 8] }
///
/// impl BlockFormat for Tiny {
///     const NAME: &'static str = "tiny8";
///     const BLOCK_LEN: usize = 8;
///     fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
///         for (x, b) in src.chunks_exact(8).zip(dst) {
///             let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
///             let d = amax / 127.0;
///             let id = if d > 0.0 { 1.0 / d } else { 0.0 };
///             b.d = d;
///             for (q, v) in b.q.iter_mut().zip(x) { *q = (v * id).round() as i8; }
///         }
///     }
///     fn dequantize_block(&self, dst: &mut [f32]) {
///         for (o, q) in dst.iter_mut().zip(self.q) { *o = self.d * f32::from(q); }
///     }
/// }
///
/// let x = [0.5f32, -1.0, 0.25, 0.0, 1.0, -0.5, 0.125, 0.75];
/// let mut blocks = [Tiny { d: 0.0, q: [0; 8] }];
/// quantize_row(&x, None, &mut blocks)?;
/// let mut y = [0.0f32; 8];
/// dequantize_row(&blocks, &mut y)?;
/// assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() <= 1.0 / 254.0));
/// # Ok::<(), quant_core::Error>(())
/// ```
pub trait BlockFormat: Pod + Debug + PartialEq + Send + Sync {
    /// Short lowercase name, e.g. `"q4_K"` (ggml's spelling for built-in formats).
    const NAME: &'static str;
    /// Number of values in one block.
    const BLOCK_LEN: usize;
    /// The runtime [`Format`] of a built-in block, `None` for user formats.
    const FORMAT: Option<Format> = None;
    /// Whether [`BlockFormat::quantize_blocks`] uses importance weights (ggml's imatrix). Formats
    /// that do not ignore them.
    const USES_IMPORTANCE: bool = false;
    /// Whether quantizing a dequantized row gives back the same blocks (checked by the kit).
    const REQUANTIZE_STABLE: bool = false;

    /// Bytes per block (`size_of::<Self>()`).
    const BLOCK_BYTES: usize = core::mem::size_of::<Self>();

    /// Quantize a row into blocks.
    ///
    /// Preconditions (checked by [`quantize_row`]): `src.len() == dst.len() * Self::BLOCK_LEN`,
    /// every value finite, `imatrix` (if any) has `src.len()` finite non-negative entries.
    /// The whole row is passed because some ggml quantizers use row statistics.
    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]);

    /// Dequantize one block into `dst` (`dst.len() == Self::BLOCK_LEN`).
    fn dequantize_block(&self, dst: &mut [f32]);

    /// An upper bound on `|x[i] - dequantize(quantize(x))[i]|` for the block of values `src`
    /// (`src.len() == Self::BLOCK_LEN`), used by the property-test kit. `None` means the format
    /// makes no promise. The bound must hold whenever the block's scale stays finite.
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        let _ = src;
        None
    }

    /// Storage cost in bits per value.
    fn bits_per_weight() -> f64 {
        (Self::BLOCK_BYTES * 8) as f64 / Self::BLOCK_LEN as f64
    }
}

/// Check a row of values and optional importance weights for use with block length `block_len`.
///
/// # Errors
/// [`Error::RaggedLength`], [`Error::NonFinite`] (naming the first offending index),
/// [`Error::LengthMismatch`] for an imatrix of the wrong length, [`Error::InvalidImportance`].
pub fn validate_row(src: &[f32], imatrix: Option<&[f32]>, block_len: usize) -> Result<()> {
    if block_len == 0 || !src.len().is_multiple_of(block_len) {
        return Err(Error::RaggedLength {
            len: src.len(),
            block_len,
        });
    }
    if !all_finite(src)
        && let Some(index) = src.iter().position(|v| !v.is_finite())
    {
        return Err(Error::NonFinite {
            index,
            value: src[index],
        });
    }
    if let Some(w) = imatrix {
        if w.len() != src.len() {
            return Err(Error::LengthMismatch {
                what: "importance weights",
                expected: src.len(),
                actual: w.len(),
            });
        }
        if let Some(index) = w.iter().position(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::InvalidImportance {
                index,
                value: w[index],
            });
        }
    }
    Ok(())
}

/// Whether every value is finite: a branch-free scan per chunk that vectorizes (an early-exit
/// `position` search costs more than the fastest quantizers); the exact index is searched only
/// when it fails.
fn all_finite(x: &[f32]) -> bool {
    x.chunks(256)
        .all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite()))
}

/// Quantize `src` into `dst` blocks of format `B`.
///
/// # Errors
/// See [`validate_row`]; also [`Error::LengthMismatch`] if `dst` does not hold exactly
/// `src.len() / B::BLOCK_LEN` blocks.
pub fn quantize_row<B: BlockFormat>(
    src: &[f32],
    imatrix: Option<&[f32]>,
    dst: &mut [B],
) -> Result<()> {
    validate_row(src, imatrix, B::BLOCK_LEN)?;
    let n_blocks = src.len() / B::BLOCK_LEN;
    if dst.len() != n_blocks {
        return Err(Error::LengthMismatch {
            what: "destination blocks",
            expected: n_blocks,
            actual: dst.len(),
        });
    }
    B::quantize_blocks(src, imatrix, dst);
    Ok(())
}

/// Quantize `src` into a new vector of blocks of format `B`.
///
/// # Errors
/// See [`quantize_row`].
pub fn quantize_row_to_vec<B: BlockFormat>(src: &[f32], imatrix: Option<&[f32]>) -> Result<Vec<B>> {
    validate_row(src, imatrix, B::BLOCK_LEN)?;
    let mut dst = vec![B::zeroed(); src.len() / B::BLOCK_LEN];
    B::quantize_blocks(src, imatrix, &mut dst);
    Ok(dst)
}

/// Dequantize `blocks` into `dst`.
///
/// # Errors
/// [`Error::LengthMismatch`] if `dst.len() != blocks.len() * B::BLOCK_LEN`.
pub fn dequantize_row<B: BlockFormat>(blocks: &[B], dst: &mut [f32]) -> Result<()> {
    let expected = blocks.len() * B::BLOCK_LEN;
    if dst.len() != expected {
        return Err(Error::LengthMismatch {
            what: "destination values",
            expected,
            actual: dst.len(),
        });
    }
    for (b, out) in blocks.iter().zip(dst.chunks_exact_mut(B::BLOCK_LEN)) {
        b.dequantize_block(out);
    }
    Ok(())
}

/// Dequantize `blocks` into a new vector.
pub fn dequantize_row_to_vec<B: BlockFormat>(blocks: &[B]) -> Vec<f32> {
    let mut dst = vec![0.0; blocks.len() * B::BLOCK_LEN];
    for (b, out) in blocks.iter().zip(dst.chunks_exact_mut(B::BLOCK_LEN)) {
        b.dequantize_block(out);
    }
    dst
}

/// View raw bytes as blocks without copying.
///
/// # Errors
/// [`Error::RaggedBytes`] if the length is not a multiple of the block size,
/// [`Error::Misaligned`] if the address is not aligned for `B` (use [`blocks_from_bytes_unaligned`]
/// for file data at arbitrary offsets).
pub fn blocks_from_bytes<B: BlockFormat>(bytes: &[u8]) -> Result<&[B]> {
    let size = core::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::RaggedBytes {
            len: bytes.len(),
            block_bytes: size,
        });
    }
    bytemuck::try_cast_slice(bytes).map_err(|_| Error::Misaligned {
        align: core::mem::align_of::<B>(),
    })
}

/// View raw bytes as mutable blocks without copying.
///
/// # Errors
/// As [`blocks_from_bytes`].
pub fn blocks_from_bytes_mut<B: BlockFormat>(bytes: &mut [u8]) -> Result<&mut [B]> {
    let size = core::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::RaggedBytes {
            len: bytes.len(),
            block_bytes: size,
        });
    }
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| Error::Misaligned {
        align: core::mem::align_of::<B>(),
    })
}

/// Copy raw bytes at any alignment into a vector of blocks.
///
/// # Errors
/// [`Error::RaggedBytes`] if the length is not a multiple of the block size.
pub fn blocks_from_bytes_unaligned<B: BlockFormat>(bytes: &[u8]) -> Result<Vec<B>> {
    let size = core::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::RaggedBytes {
            len: bytes.len(),
            block_bytes: size,
        });
    }
    Ok(bytes
        .chunks_exact(size)
        .map(bytemuck::pod_read_unaligned)
        .collect())
}

/// The bytes of a slice of blocks.
pub fn blocks_as_bytes<B: BlockFormat>(blocks: &[B]) -> &[u8] {
    bytemuck::cast_slice(blocks)
}

/// Compile-time size check used next to every built-in block.
#[doc(hidden)]
#[macro_export]
macro_rules! assert_block_size {
    ($t:ty, $bytes:expr) => {
        const _: () = assert!(core::mem::size_of::<$t>() == $bytes);
    };
}

/// The runtime [`Format`] of a block type, if built in.
pub fn format_of<B: BlockFormat>() -> Option<Format> {
    B::FORMAT
}
