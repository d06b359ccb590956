//! `q4_1`: 32 weights, `w = d·q + m` (ggml `block_q4_1`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 32 weights, `w = d·q + m` (ggml `block_q4_1`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4_1 {
    /// Scale.
    pub d: f16,
    /// Minimum.
    pub m: f16,
    /// 4-bit quants, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockQ4_1, 20);

impl BlockFormat for BlockQ4_1 {
    const NAME: &'static str = "q4_1";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q4_1);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q4_1 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q4_1 dequantizer")
    }
}
