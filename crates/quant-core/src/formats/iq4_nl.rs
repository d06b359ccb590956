//! `iq4_nl`: 32 weights, `w = d·KVALUES_IQ4NL[q]` (ggml `block_iq4_nl`).
//!
//! # Layout (18 bytes, little-endian)
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `d` f16 | block scale |
//! | 2 | `qs[16]` | 4-bit indices into [`KVALUES_IQ4NL`], nibble order |
//!
//! Nibble order: byte `j` holds the index of value `j` in its low nibble and that of value
//! `j + 16` in its high nibble. Value `i` is `d·KVALUES_IQ4NL[q[i]]`.
//!
//! # Two quantizers
//!
//! ggml has two iq4_nl quantizers that give different bytes:
//!
//! * the chunk quantizer `quantize_iq4_nl` (what `ggml_quantize_chunk` and therefore
//!   llama-quantize write) refines the scale with 15 extra trial scales (`ntry = 7`);
//!   [`BlockFormat::quantize_blocks`] (and so [`crate::quantize`] / [`crate::quantize_row`])
//!   reproduces it, with or without importance weights;
//! * the reference quantizer `quantize_row_iq4_nl_ref` fits the scale once (`ntry = −1`);
//!   [`quantize_iq4_nl_ref`] reproduces it.
//!
//! For a block whose largest magnitude is below `1e-15`, ggml's reference quantizer stores `d = 0`
//! and **does not write** its index buffer, so the 16 index bytes are left-overs (the previous
//! block's indices or uninitialised stack). [`quantize_iq4_nl_ref`] writes `0x88` there (index 8,
//! value `+1`, for every value), which is what the chunk quantizer writes for such a block; the
//! block dequantizes to `+0.0` either way up to the sign of zero.
// Index loops mirror ggml's C loops one to one, which keeps the operation order auditable.
#![allow(clippy::needless_range_loop)]

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::{Iq4Block, KVALUES_IQ4NL, k_error_bound, quantize_iq4_impl};
use crate::block::validate_row;
use crate::{BlockFormat, Error, Format, Result};

/// 32 weights, `w = d·KVALUES_IQ4NL[q]` (ggml `block_iq4_nl`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockIq4Nl {
    /// Scale.
    pub d: f16,
    /// 4-bit indices into `KVALUES_IQ4NL`, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockIq4Nl, 18);

impl BlockIq4Nl {
    /// One block with ggml's shared iq4 quantizer; `l` is the index buffer (see module docs).
    fn quantize(x: &[f32; 32], qw: Option<&[f32]>, ntry: i32, l: &mut [u8; 32]) -> Self {
        let mut b = BlockIq4Nl::zeroed();
        let mut unused_h = 0u16;
        quantize_iq4_impl(
            x,
            Iq4Block {
                d: &mut b.d,
                q4: &mut b.qs,
                scales_h: &mut unused_h,
                scales_l: &mut [],
            },
            l,
            qw,
            ntry,
        );
        b
    }
}

/// ggml's reference iq4_nl quantizer `quantize_row_iq4_nl_ref` (one scale fit per block, no
/// importance weights): the bytes of ggml's `.ref` oracle files.
///
/// This is **not** what llama-quantize writes; for that use [`crate::quantize`] /
/// [`BlockFormat::quantize_blocks`] (ggml's chunk quantizer). Blocks whose largest magnitude is
/// below `1e-15` get index bytes `0x88`, where ggml leaves stale memory (see the module docs).
///
/// ```
/// use quant_core::formats::{BlockIq4Nl, iq4_nl::quantize_iq4_nl_ref};
/// use quant_core::BlockFormat;
/// let x: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) / 16.0).collect();
/// let mut b = [<BlockIq4Nl as bytemuck::Zeroable>::zeroed()];
/// quantize_iq4_nl_ref(&x, &mut b)?;
/// let mut y = [0.0f32; 32];
/// b[0].dequantize_block(&mut y);
/// let bound = BlockIq4Nl::max_abs_error(&x).unwrap(); // 0.28 · max|x|
/// assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() <= bound));
/// # Ok::<(), quant_core::Error>(())
/// ```
///
/// # Errors
/// As [`crate::quantize_row`]: [`Error::RaggedLength`], [`Error::NonFinite`], and
/// [`Error::LengthMismatch`] if `dst` does not hold exactly `src.len() / 32` blocks.
pub fn quantize_iq4_nl_ref(src: &[f32], dst: &mut [BlockIq4Nl]) -> Result<()> {
    validate_row(src, None, 32)?;
    if dst.len() != src.len() / 32 {
        return Err(Error::LengthMismatch {
            what: "destination blocks",
            expected: src.len() / 32,
            actual: dst.len(),
        });
    }
    for (x, b) in src.chunks_exact(32).zip(dst.iter_mut()) {
        let mut l = [8u8; 32];
        *b = BlockIq4Nl::quantize(x.try_into().unwrap(), None, -1, &mut l);
    }
    Ok(())
}

impl BlockFormat for BlockIq4Nl {
    const NAME: &'static str = "iq4_nl";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Iq4Nl);
    const USES_IMPORTANCE: bool = true;

    /// ggml's chunk quantizer `quantize_iq4_nl` (`ntry = 7`), as llama-quantize uses it; see
    /// [`quantize_iq4_nl_ref`] for ggml's reference quantizer.
    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let mut l = [0u8; 32];
        for (i, (x, b)) in src.chunks_exact(32).zip(dst.iter_mut()).enumerate() {
            let qw = imatrix.map(|w| &w[32 * i..32 * i + 32]);
            *b = Self::quantize(x.try_into().unwrap(), qw, 7, &mut l);
        }
    }

    /// `36·max|x|/127 + 127·2⁻²⁴`: 1.5 times the widest gap of the non-linear grid (24 units
    /// where the grid spans 127 units per `max|x|`) plus the f16-subnormal term (|value| ≤ 127);
    /// see the crate-private `k_error_bound`. Holds for both the chunk quantizer and
    /// [`quantize_iq4_nl_ref`]. Measured worst case: `max|x|/7.8` (`max|x|/6.1` with importance
    /// weights; margin ≥ 1.73).
    ///
    /// For the quantizer without importance weights (the bound also held with random
    /// importance weights in the measurements above, but is not promised there).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        Some(k_error_bound(src, 36.0 / 127.0, 127.0))
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        for j in 0..16 {
            dst[j] = d * f32::from(KVALUES_IQ4NL[usize::from(self.qs[j] & 0xf)]);
            dst[j + 16] = d * f32::from(KVALUES_IQ4NL[usize::from(self.qs[j] >> 4)]);
        }
    }
}
