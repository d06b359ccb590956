//! Runtime-typed entry points for tools, tests and command-line programs: a [`Format`] and raw
//! bytes in, checked errors out.

use std::borrow::Cow;

use quant_core::{BlockFormat, Format, blocks_from_bytes, blocks_from_bytes_unaligned};

use crate::error::{Error, Result};
use crate::formats::{ActivationFormat, DequantizeFormat, WeightFormat};
use crate::{Backend, best};

/// View `bytes` as blocks: zero-copy when aligned, copied when not.
///
/// # Errors
/// [`quant_core::Error::RaggedBytes`] if the length is not a multiple of the block size.
pub(crate) fn blocks_cow<B: BlockFormat>(bytes: &[u8]) -> Result<Cow<'_, [B]>> {
    match blocks_from_bytes::<B>(bytes) {
        Ok(b) => Ok(Cow::Borrowed(b)),
        Err(quant_core::Error::Misaligned { .. }) => {
            Ok(Cow::Owned(blocks_from_bytes_unaligned::<B>(bytes)?))
        }
        Err(e) => Err(e.into()),
    }
}

/// The dot product of a typed weight row with a typed activation row on `backend`, after
/// checking that both hold the same number of values.
///
/// # Errors
/// [`Error::RowLengthMismatch`].
pub fn vec_dot_typed<W: WeightFormat>(
    backend: &dyn Backend,
    w: &[W],
    a: &[W::Activation],
) -> Result<f32> {
    let weight = w.len() * W::BLOCK_LEN;
    let activation = a.len() * <W::Activation as BlockFormat>::BLOCK_LEN;
    if weight != activation {
        return Err(Error::RowLengthMismatch { weight, activation });
    }
    Ok(W::dot(backend, w, a))
}

fn vec_dot_bytes<W: WeightFormat>(backend: &dyn Backend, w: &[u8], a: &[u8]) -> Result<f32> {
    let w = blocks_cow::<W>(w)?;
    let a = blocks_cow::<W::Activation>(a)?;
    vec_dot_typed::<W>(backend, &w, &a)
}

/// The dot product of a weight row of `format` with an activation row of its partner format
/// ([`Format::vec_dot_partner`]), both given as raw ggml/GGUF bytes at any alignment, on the best
/// backend ([`best`]).
///
/// ```
/// use quant_kernels::vec_dot;
/// use quant_core::Format;
/// // One f32 "block" per value: 1·4 + 2·5 + 3·6.
/// let w: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
/// let a: Vec<u8> = [4.0f32, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
/// assert_eq!(vec_dot(Format::F32, &w, &a)?, 32.0);
/// # Ok::<(), quant_kernels::Error>(())
/// ```
///
/// # Errors
/// [`Error::NoDot`] for `q8_1`; [`quant_core::Error::RaggedBytes`] (wrapped in [`Error::Core`]) if
/// a buffer is not a whole number of blocks; [`Error::RowLengthMismatch`] if the rows hold
/// different numbers of values.
pub fn vec_dot(format: Format, weight_bytes: &[u8], activation_bytes: &[u8]) -> Result<f32> {
    vec_dot_with(best(), format, weight_bytes, activation_bytes)
}

/// [`vec_dot`] on a given backend.
///
/// # Errors
/// As [`vec_dot`].
pub fn vec_dot_with(
    backend: &dyn Backend,
    format: Format,
    weight_bytes: &[u8],
    activation_bytes: &[u8],
) -> Result<f32> {
    crate::with_weight_type!(format, W => vec_dot_bytes::<W>(backend, weight_bytes, activation_bytes),
        else => Err(Error::NoDot { format }))
}

fn dequantize_bytes<B: DequantizeFormat>(
    backend: &dyn Backend,
    bytes: &[u8],
    dst: &mut [f32],
) -> Result<()> {
    if !dst.len().is_multiple_of(B::BLOCK_LEN) {
        return Err(quant_core::Error::RaggedLength {
            len: dst.len(),
            block_len: B::BLOCK_LEN,
        }
        .into());
    }
    let expected = dst.len() / B::BLOCK_LEN * B::BLOCK_BYTES;
    if bytes.len() != expected {
        return Err(quant_core::Error::LengthMismatch {
            what: "source bytes",
            expected,
            actual: bytes.len(),
        }
        .into());
    }
    let blocks = blocks_cow::<B>(bytes)?;
    B::dequantize(backend, &blocks, dst);
    Ok(())
}

/// Dequantize `dst.len()` values of `format` from `bytes` (any alignment) with `backend`.
///
/// # Errors
/// [`quant_core::Error::RaggedLength`] if `dst.len()` is not a multiple of the block length,
/// [`quant_core::Error::LengthMismatch`] if `bytes` does not hold exactly `dst.len()` values
/// (both wrapped in [`Error::Core`]).
pub fn dequantize_with(
    backend: &dyn Backend,
    format: Format,
    bytes: &[u8],
    dst: &mut [f32],
) -> Result<()> {
    use quant_core::formats as b;
    match format {
        Format::Q8_1 => dequantize_bytes::<b::BlockQ8_1>(backend, bytes, dst),
        _ => crate::with_weight_type!(format, B => dequantize_bytes::<B>(backend, bytes, dst),
            else => unreachable!("every format but q8_1 is a weight format")),
    }
}

fn quantize_bytes<A: ActivationFormat>(
    backend: &dyn Backend,
    src: &[f32],
    dst: &mut [u8],
) -> Result<()> {
    quant_core::validate_row(src, None, A::BLOCK_LEN)?;
    let n_blocks = src.len() / A::BLOCK_LEN;
    let expected = n_blocks * A::BLOCK_BYTES;
    if dst.len() != expected {
        return Err(quant_core::Error::LengthMismatch {
            what: "destination bytes",
            expected,
            actual: dst.len(),
        }
        .into());
    }
    match quant_core::blocks_from_bytes_mut::<A>(dst) {
        Ok(blocks) => A::quantize_activations(backend, src, blocks),
        Err(_) => {
            let mut blocks = vec![A::zeroed(); n_blocks];
            A::quantize_activations(backend, src, &mut blocks);
            dst.copy_from_slice(bytemuck::cast_slice(&blocks));
        }
    }
    Ok(())
}

/// Quantize (or convert) a row of f32 activations into the activation format `format` (`q8_0`,
/// `q8_1`, `q8_K`, `f32`, `f16`, `bf16`) with `backend`, into `dst` (any alignment, exactly
/// `format.row_bytes(src.len())` bytes).
///
/// # Errors
/// [`Error::NotActivationFormat`]; [`quant_core::Error::RaggedLength`],
/// [`quant_core::Error::NonFinite`] or [`quant_core::Error::LengthMismatch`] (wrapped).
pub fn quantize_activations_into(
    backend: &dyn Backend,
    format: Format,
    src: &[f32],
    dst: &mut [u8],
) -> Result<()> {
    use quant_core::formats as b;
    match format {
        Format::Q8_0 => quantize_bytes::<b::BlockQ8_0>(backend, src, dst),
        Format::Q8_1 => quantize_bytes::<b::BlockQ8_1>(backend, src, dst),
        Format::Q8K => quantize_bytes::<b::BlockQ8K>(backend, src, dst),
        Format::F32 => quantize_bytes::<f32>(backend, src, dst),
        Format::F16 => quantize_bytes::<half::f16>(backend, src, dst),
        Format::Bf16 => quantize_bytes::<half::bf16>(backend, src, dst),
        _ => Err(Error::NotActivationFormat { format }),
    }
}

/// [`quantize_activations_into`] into a new byte vector.
///
/// ```
/// use quant_kernels::{quantize_activations, vec_dot, best};
/// use quant_core::{quantize, Format};
/// let w: Vec<f32> = (0..256).map(|i| ((i % 7) as f32 - 3.0) / 4.0).collect();
/// let x: Vec<f32> = (0..256).map(|i| ((i % 5) as f32 - 2.0) / 3.0).collect();
/// let wq = quantize(Format::Q4K, &w, None)?;
/// let xq = quantize_activations(best(), Format::Q8K, &x)?;
/// let exact: f32 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
/// assert!((vec_dot(Format::Q4K, &wq, &xq)? - exact).abs() < 0.05 * exact.abs().max(1.0));
/// # Ok::<(), quant_kernels::Error>(())
/// ```
///
/// # Errors
/// As [`quantize_activations_into`].
pub fn quantize_activations(backend: &dyn Backend, format: Format, src: &[f32]) -> Result<Vec<u8>> {
    let len = format.row_bytes(src.len())?;
    let mut dst = vec![0u8; len];
    quantize_activations_into(backend, format, src, &mut dst)?;
    Ok(dst)
}
