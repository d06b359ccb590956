//! The runtime-typed [`Format`] enum and the row functions that pick the format at run time.

use core::fmt;
use core::str::FromStr;

use rayon::prelude::*;

use crate::block::{blocks_from_bytes, blocks_from_bytes_mut, validate_row};
use crate::{BlockFormat, Error, Result};

/// Every number format quant knows, with ggml's names and type ids.
///
/// ```
/// use quant_core::Format;
/// let f: Format = "q4_K".parse()?;
/// assert_eq!(f, Format::Q4K);
/// assert_eq!(f.to_string(), "q4_K");
/// assert_eq!(f.ggml_type_id(), 12);
/// assert_eq!((f.block_len(), f.block_bytes()), (256, 144));
/// assert_eq!(f.bits_per_weight(), 4.5);
/// assert_eq!(f.vec_dot_partner(), Some(Format::Q8K));
/// # Ok::<(), quant_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16.
    Bf16,
    /// `q4_0`: 32 values, f16 scale, 4-bit.
    Q4_0,
    /// `q4_1`: 32 values, f16 scale and min, 4-bit.
    Q4_1,
    /// `q5_0`: 32 values, f16 scale, 5-bit.
    Q5_0,
    /// `q5_1`: 32 values, f16 scale and min, 5-bit.
    Q5_1,
    /// `q8_0`: 32 values, f16 scale, 8-bit.
    Q8_0,
    /// `q8_1`: 32 values, f16 scale and sum, 8-bit (activations).
    Q8_1,
    /// `q2_K`: 256-value super-block, 2-bit.
    Q2K,
    /// `q3_K`: 256-value super-block, 3-bit.
    Q3K,
    /// `q4_K`: 256-value super-block, 4-bit.
    Q4K,
    /// `q5_K`: 256-value super-block, 5-bit.
    Q5K,
    /// `q6_K`: 256-value super-block, 6-bit.
    Q6K,
    /// `q8_K`: 256-value super-block, 8-bit, f32 scale (activations of the K-quants).
    Q8K,
    /// `iq4_nl`: 32 values, non-linear 4-bit grid.
    Iq4Nl,
    /// `iq4_xs`: 256-value super-block, non-linear 4-bit grid, 6-bit sub-scales.
    Iq4Xs,
    /// `tq1_0`: ternary, 1.6875 bits per weight.
    Tq1_0,
    /// `tq2_0`: ternary, 2.0625 bits per weight.
    Tq2_0,
    /// `mxfp4`: OCP microscaling FP4 (E2M1 with an E8M0 exponent per 32 values).
    Mxfp4,
    /// `nvfp4`: NVIDIA FP4 (E2M1 with a UE4M3 scale per 16 values).
    Nvfp4,
}

/// Static facts of one format.
struct Info {
    name: &'static str,
    id: u32,
    block_len: usize,
    block_bytes: usize,
    partner: Option<Format>,
    importance: bool,
}

const fn info(
    name: &'static str,
    id: u32,
    block_len: usize,
    block_bytes: usize,
    partner: Option<Format>,
    importance: bool,
) -> Info {
    Info {
        name,
        id,
        block_len,
        block_bytes,
        partner,
        importance,
    }
}

impl Format {
    /// Every format, in ggml type-id order.
    pub const ALL: [Format; 21] = [
        Format::F32,
        Format::F16,
        Format::Q4_0,
        Format::Q4_1,
        Format::Q5_0,
        Format::Q5_1,
        Format::Q8_0,
        Format::Q8_1,
        Format::Q2K,
        Format::Q3K,
        Format::Q4K,
        Format::Q5K,
        Format::Q6K,
        Format::Q8K,
        Format::Iq4Nl,
        Format::Iq4Xs,
        Format::Bf16,
        Format::Tq1_0,
        Format::Tq2_0,
        Format::Mxfp4,
        Format::Nvfp4,
    ];

    /// The block formats (every format except the plain floats).
    pub fn block_formats() -> impl Iterator<Item = Format> {
        Self::ALL.into_iter().filter(|f| !f.is_float())
    }

    const fn info(self) -> Info {
        use Format::*;
        match self {
            F32 => info("f32", 0, 1, 4, Some(F32), false),
            F16 => info("f16", 1, 1, 2, Some(F16), false),
            Q4_0 => info("q4_0", 2, 32, 18, Some(Q8_0), true),
            Q4_1 => info("q4_1", 3, 32, 20, Some(Q8_1), true),
            Q5_0 => info("q5_0", 6, 32, 22, Some(Q8_0), true),
            Q5_1 => info("q5_1", 7, 32, 24, Some(Q8_1), true),
            Q8_0 => info("q8_0", 8, 32, 34, Some(Q8_0), false),
            Q8_1 => info("q8_1", 9, 32, 36, None, false),
            Q2K => info("q2_K", 10, 256, 84, Some(Q8K), true),
            Q3K => info("q3_K", 11, 256, 110, Some(Q8K), true),
            Q4K => info("q4_K", 12, 256, 144, Some(Q8K), true),
            Q5K => info("q5_K", 13, 256, 176, Some(Q8K), true),
            Q6K => info("q6_K", 14, 256, 210, Some(Q8K), true),
            Q8K => info("q8_K", 15, 256, 292, Some(Q8K), false),
            Iq4Nl => info("iq4_nl", 20, 32, 18, Some(Q8_0), true),
            Iq4Xs => info("iq4_xs", 23, 256, 136, Some(Q8K), true),
            Bf16 => info("bf16", 30, 1, 2, Some(Bf16), false),
            Tq1_0 => info("tq1_0", 34, 256, 54, Some(Q8K), false),
            Tq2_0 => info("tq2_0", 35, 256, 66, Some(Q8K), false),
            Mxfp4 => info("mxfp4", 39, 32, 17, Some(Q8_0), false),
            Nvfp4 => info("nvfp4", 40, 64, 36, Some(Q8_0), false),
        }
    }

    /// ggml's name, e.g. `"q4_K"`.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// ggml's `ggml_type` id (as stored in GGUF tensor infos).
    pub const fn ggml_type_id(self) -> u32 {
        self.info().id
    }

    /// The format with ggml type id `id`, if quant supports it.
    pub fn from_ggml_type_id(id: u32) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.ggml_type_id() == id)
    }

    /// Values per block (1 for plain floats).
    pub const fn block_len(self) -> usize {
        self.info().block_len
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        self.info().block_bytes
    }

    /// Storage cost in bits per value, as ggml counts it (block bytes × 8 / block length).
    pub fn bits_per_weight(self) -> f64 {
        (self.block_bytes() * 8) as f64 / self.block_len() as f64
    }

    /// The activation format this format's dot product pairs with (ggml's `vec_dot_type`);
    /// `None` for the activation-only format `q8_1`. Plain floats pair with themselves.
    pub const fn vec_dot_partner(self) -> Option<Format> {
        self.info().partner
    }

    /// Whether ggml's quantizer for this format uses an importance matrix when given one.
    pub const fn uses_importance(self) -> bool {
        self.info().importance
    }

    /// The format llama-quantize writes instead of `self` for rows of `row_len` values
    /// (`tensor_type_fallback` in llama.cpp 0c1e570's `llama-quant.cpp`, used when the block
    /// length does not divide the row): IQ4_XS → IQ4_NL, Q2_K/Q3_K/TQ1_0/TQ2_0 → Q4_0, Q4_K → Q5_0,
    /// Q5_K → Q5_1, Q6_K → Q8_0, and F16 if that still does not fit (a 32-value format stays
    /// itself, then F16). Returns `self` when its blocks divide the row. Checked against
    /// llama-quantize `--pure` on SmolLM2 (rows of 576) for every K-quant and IQ4_XS.
    ///
    /// ```
    /// use quant_core::Format;
    /// assert_eq!(Format::Q4K.fallback_for_row(576), Format::Q5_0); // SmolLM2's n_embd
    /// assert_eq!(Format::Q4K.fallback_for_row(1536), Format::Q4K);
    /// ```
    pub fn fallback_for_row(self, row_len: usize) -> Format {
        if row_len.is_multiple_of(self.block_len()) {
            return self;
        }
        let f = match self {
            Format::Iq4Xs => Format::Iq4Nl,
            Format::Q2K | Format::Q3K | Format::Tq1_0 | Format::Tq2_0 => Format::Q4_0,
            Format::Q4K => Format::Q5_0,
            Format::Q5K => Format::Q5_1,
            Format::Q6K => Format::Q8_0,
            _ => Format::F16,
        };
        if row_len.is_multiple_of(f.block_len()) {
            f
        } else {
            Format::F16
        }
    }

    /// `f32`, `f16` or `bf16`.
    pub const fn is_float(self) -> bool {
        matches!(self, Format::F32 | Format::F16 | Format::Bf16)
    }

    /// Bytes needed to store `n` values.
    ///
    /// # Errors
    /// [`Error::RaggedLength`] if `n` is not a multiple of the block length.
    pub fn row_bytes(self, n: usize) -> Result<usize> {
        if !n.is_multiple_of(self.block_len()) {
            return Err(Error::RaggedLength {
                len: n,
                block_len: self.block_len(),
            });
        }
        Ok(n / self.block_len() * self.block_bytes())
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Parses ggml's names, ignoring ASCII case (`q4_K`, `Q4_K`, `q4_k`, `IQ4_NL`, `BF16`).
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownFormat(s.to_owned()))
    }
}

/// Run `$body` with the type alias `$B` bound to the block type of the runtime format `$fmt`.
///
/// ```
/// use quant_core::{with_block_type, Format, BlockFormat};
/// let n = with_block_type!(Format::Q4K, B => B::BLOCK_LEN);
/// assert_eq!(n, 256);
/// ```
#[macro_export]
macro_rules! with_block_type {
    ($fmt:expr, $B:ident => $body:expr) => {{
        #[allow(unused_imports)]
        use $crate::BlockFormat as _;
        match $fmt {
            $crate::Format::F32 => {
                type $B = f32;
                $body
            }
            $crate::Format::F16 => {
                type $B = $crate::half::f16;
                $body
            }
            $crate::Format::Bf16 => {
                type $B = $crate::half::bf16;
                $body
            }
            $crate::Format::Q4_0 => {
                type $B = $crate::formats::BlockQ4_0;
                $body
            }
            $crate::Format::Q4_1 => {
                type $B = $crate::formats::BlockQ4_1;
                $body
            }
            $crate::Format::Q5_0 => {
                type $B = $crate::formats::BlockQ5_0;
                $body
            }
            $crate::Format::Q5_1 => {
                type $B = $crate::formats::BlockQ5_1;
                $body
            }
            $crate::Format::Q8_0 => {
                type $B = $crate::formats::BlockQ8_0;
                $body
            }
            $crate::Format::Q8_1 => {
                type $B = $crate::formats::BlockQ8_1;
                $body
            }
            $crate::Format::Q2K => {
                type $B = $crate::formats::BlockQ2K;
                $body
            }
            $crate::Format::Q3K => {
                type $B = $crate::formats::BlockQ3K;
                $body
            }
            $crate::Format::Q4K => {
                type $B = $crate::formats::BlockQ4K;
                $body
            }
            $crate::Format::Q5K => {
                type $B = $crate::formats::BlockQ5K;
                $body
            }
            $crate::Format::Q6K => {
                type $B = $crate::formats::BlockQ6K;
                $body
            }
            $crate::Format::Q8K => {
                type $B = $crate::formats::BlockQ8K;
                $body
            }
            $crate::Format::Iq4Nl => {
                type $B = $crate::formats::BlockIq4Nl;
                $body
            }
            $crate::Format::Iq4Xs => {
                type $B = $crate::formats::BlockIq4Xs;
                $body
            }
            $crate::Format::Tq1_0 => {
                type $B = $crate::formats::BlockTq1_0;
                $body
            }
            $crate::Format::Tq2_0 => {
                type $B = $crate::formats::BlockTq2_0;
                $body
            }
            $crate::Format::Mxfp4 => {
                type $B = $crate::formats::BlockMxfp4;
                $body
            }
            $crate::Format::Nvfp4 => {
                type $B = $crate::formats::BlockNvfp4;
                $body
            }
            #[allow(unreachable_patterns)]
            _ => {
                unreachable!("with_block_type!: a format added to quant-core but not to this macro")
            }
        }
    }};
}

fn quantize_typed_into<B: BlockFormat>(
    src: &[f32],
    imatrix: Option<&[f32]>,
    dst: &mut [u8],
) -> Result<()> {
    validate_row(src, imatrix, B::BLOCK_LEN)?;
    let expected = src.len() / B::BLOCK_LEN * B::BLOCK_BYTES;
    if dst.len() != expected {
        return Err(Error::LengthMismatch {
            what: "destination bytes",
            expected,
            actual: dst.len(),
        });
    }
    let imatrix = if B::USES_IMPORTANCE { imatrix } else { None };
    match blocks_from_bytes_mut::<B>(dst) {
        Ok(blocks) => B::quantize_blocks(src, imatrix, blocks),
        Err(_) => {
            // Unaligned destination: quantize into aligned blocks, then copy the bytes.
            let mut blocks = vec![B::zeroed(); src.len() / B::BLOCK_LEN];
            B::quantize_blocks(src, imatrix, &mut blocks);
            dst.copy_from_slice(bytemuck::cast_slice(&blocks));
        }
    }
    Ok(())
}

fn dequantize_typed_into<B: BlockFormat>(bytes: &[u8], dst: &mut [f32]) -> Result<()> {
    if !dst.len().is_multiple_of(B::BLOCK_LEN) {
        return Err(Error::RaggedLength {
            len: dst.len(),
            block_len: B::BLOCK_LEN,
        });
    }
    let expected = dst.len() / B::BLOCK_LEN * B::BLOCK_BYTES;
    if bytes.len() != expected {
        return Err(Error::LengthMismatch {
            what: "source bytes",
            expected,
            actual: bytes.len(),
        });
    }
    match blocks_from_bytes::<B>(bytes) {
        Ok(blocks) => {
            for (b, out) in blocks.iter().zip(dst.chunks_exact_mut(B::BLOCK_LEN)) {
                b.dequantize_block(out);
            }
        }
        Err(_) => {
            for (raw, out) in bytes
                .chunks_exact(B::BLOCK_BYTES)
                .zip(dst.chunks_exact_mut(B::BLOCK_LEN))
            {
                let b: B = bytemuck::pod_read_unaligned(raw);
                b.dequantize_block(out);
            }
        }
    }
    Ok(())
}

/// Quantize a row of `f32` values into `format`, returning ggml/GGUF block bytes.
///
/// `imatrix` holds one importance weight per value (ggml's imatrix); formats whose ggml quantizer
/// ignores it ignore it too (see [`Format::uses_importance`]), after validating it.
///
/// ```
/// use quant_core::{quantize, dequantize, Format};
/// let x: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 8.0).collect();
/// let bytes = quantize(Format::Q8_0, &x, None)?;
/// assert_eq!(bytes.len(), 2 * 34);
/// let y = dequantize(Format::Q8_0, &bytes, 64)?;
/// assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 0.02));
/// # Ok::<(), quant_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::RaggedLength`], [`Error::NonFinite`] (first offending index),
/// [`Error::LengthMismatch`] / [`Error::InvalidImportance`] for a bad imatrix.
pub fn quantize(format: Format, src: &[f32], imatrix: Option<&[f32]>) -> Result<Vec<u8>> {
    let mut dst = vec![0u8; format.row_bytes(src.len())?];
    quantize_into(format, src, imatrix, &mut dst)?;
    Ok(dst)
}

/// [`quantize`] into a caller buffer of exactly `format.row_bytes(src.len())` bytes (any alignment).
///
/// # Errors
/// As [`quantize`], plus [`Error::LengthMismatch`] for a destination of the wrong size.
pub fn quantize_into(
    format: Format,
    src: &[f32],
    imatrix: Option<&[f32]>,
    dst: &mut [u8],
) -> Result<()> {
    with_block_type!(format, B => quantize_typed_into::<B>(src, imatrix, dst))
}

/// Dequantize `n` values of `format` from `bytes` (any alignment).
///
/// # Errors
/// [`Error::RaggedLength`] if `n` is not a multiple of the block length,
/// [`Error::LengthMismatch`] if `bytes` does not hold exactly `n` values.
pub fn dequantize(format: Format, bytes: &[u8], n: usize) -> Result<Vec<f32>> {
    if !n.is_multiple_of(format.block_len()) {
        return Err(Error::RaggedLength {
            len: n,
            block_len: format.block_len(),
        });
    }
    let mut dst = vec![0.0; n];
    dequantize_into(format, bytes, &mut dst)?;
    Ok(dst)
}

/// [`dequantize`] into a caller buffer; the number of values is `dst.len()`.
///
/// # Errors
/// As [`dequantize`].
pub fn dequantize_into(format: Format, bytes: &[u8], dst: &mut [f32]) -> Result<()> {
    with_block_type!(format, B => dequantize_typed_into::<B>(bytes, dst))
}

/// Quantize a row-major `n_rows × n_cols` matrix, rows in parallel (rayon). The bytes equal
/// row-by-row [`quantize`] (each row is quantized independently, as in ggml).
///
/// `imatrix`, if given, has `n_cols` entries (one per column, as ggml's imatrix files hold).
///
/// # Errors
/// [`Error::LengthMismatch`] if `src.len() != n_rows * n_cols`, otherwise as [`quantize`] (for
/// non-finite input the index is into the whole matrix).
pub fn quantize_matrix(
    format: Format,
    src: &[f32],
    n_rows: usize,
    n_cols: usize,
    imatrix: Option<&[f32]>,
) -> Result<Vec<u8>> {
    let total = n_rows.checked_mul(n_cols).ok_or(Error::LengthMismatch {
        what: "matrix values",
        expected: usize::MAX,
        actual: src.len(),
    })?;
    if src.len() != total {
        return Err(Error::LengthMismatch {
            what: "matrix values",
            expected: total,
            actual: src.len(),
        });
    }
    let row_bytes = format.row_bytes(n_cols)?;
    if let Some(index) = src.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            index,
            value: src[index],
        });
    }
    if let Some(w) = imatrix {
        if w.len() != n_cols {
            return Err(Error::LengthMismatch {
                what: "importance weights",
                expected: n_cols,
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
    let mut dst = vec![0u8; row_bytes * n_rows];
    if n_rows == 0 || row_bytes == 0 {
        return Ok(dst);
    }
    dst.par_chunks_mut(row_bytes)
        .zip(src.par_chunks(n_cols))
        .try_for_each(|(out, row)| quantize_into(format, row, imatrix, out))?;
    Ok(dst)
}

/// Dequantize a row-major matrix of `n_rows` rows of `n_cols` values, rows in parallel.
///
/// # Errors
/// [`Error::RaggedLength`] if `n_cols` is not a multiple of the block length,
/// [`Error::LengthMismatch`] if `bytes` has the wrong size.
pub fn dequantize_matrix(
    format: Format,
    bytes: &[u8],
    n_rows: usize,
    n_cols: usize,
) -> Result<Vec<f32>> {
    let row_bytes = format.row_bytes(n_cols)?;
    let expected = row_bytes.checked_mul(n_rows).ok_or(Error::LengthMismatch {
        what: "matrix bytes",
        expected: usize::MAX,
        actual: bytes.len(),
    })?;
    if bytes.len() != expected {
        return Err(Error::LengthMismatch {
            what: "matrix bytes",
            expected,
            actual: bytes.len(),
        });
    }
    let mut dst = vec![0.0f32; n_rows * n_cols];
    if n_rows == 0 || n_cols == 0 {
        return Ok(dst);
    }
    dst.par_chunks_mut(n_cols)
        .zip(bytes.par_chunks(row_bytes))
        .try_for_each(|(out, row)| dequantize_into(format, row, out))?;
    Ok(dst)
}
