//! `q4_0`: 32 weights, `w = d·(q − 8)` (ggml `block_q4_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 32 weights, `w = d·(q − 8)` (ggml `block_q4_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4_0 {
    /// Scale.
    pub d: f16,
    /// 4-bit quants, nibble order: byte `j` holds value `j` (low) and `j + 16` (high).
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockQ4_0, 18);

impl BlockFormat for BlockQ4_0 {
    const NAME: &'static str = "q4_0";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q4_0);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q4_0 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q4_0 dequantizer")
    }
}
