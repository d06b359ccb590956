//! `q8_1`: 32 activations, `x = d·q`, with the block sum (ggml `block_q8_1`, activation format of q4_1/q5_1).

use bytemuck::{Pod, Zeroable};
use half::f16;

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

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q8_1 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q8_1 dequantizer")
    }
}
