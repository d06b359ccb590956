//! `q8_1`: 32 activations, `x = d·q`, with the block sum (ggml `block_q8_1`, activation format of q4_1/q5_1).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::q8_0::{q8_max_abs_error, scale_and_quants};
use crate::{BlockFormat, Format};

/// 32 activations, `x = d·q`, with the block sum (ggml `block_q8_1`, activation format of q4_1/q5_1).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8_1 {
    /// Scale.
    pub d: f16,
    /// `f16(d · Σ qs)`.
    pub s: f16,
    /// Quants.
    pub qs: [i8; 32],
}
crate::assert_block_size!(BlockQ8_1, 36);

impl BlockFormat for BlockQ8_1 {
    const NAME: &'static str = "q8_1";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q8_1);
    const USES_IMPORTANCE: bool = false;
    // Not requantize-stable: `s = f16(Σq · d)` uses the f32 scale `d`, the requantized block
    // uses `f16(d)`, so `s` can change in its last bit.

    /// `quantize_row_q8_1_ref`: as `q8_0`, plus `s = f16((float)Σq · d)` with the **f32**
    /// scale `d` (not the stored f16 one).
    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let (xs, _) = src.as_chunks::<32>();
        for (x, b) in xs.iter().zip(dst) {
            let (d, qs) = scale_and_quants(x);
            let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
            *b = BlockQ8_1 {
                d: f16::from_f32(d),
                s: f16::from_f32(sum as f32 * d),
                qs,
            };
        }
    }

    /// `f16→f32(d) · q` (ggml has no `q8_1` dequantizer; this is the obvious one, and the
    /// one the oracle files use).
    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, q) in dst.iter_mut().zip(self.qs) {
            *y = f32::from(q) * d;
        }
    }

    /// Same bound as `q8_0` (same scale and quants).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        if let Some(b) = crate::formats::common::tiny_block_bound(src) {
            return Some(b);
        }
        Some(q8_max_abs_error(src))
    }
}
