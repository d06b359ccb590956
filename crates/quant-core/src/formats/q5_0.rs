//! `q5_0`: 32 weights, `w = d·(q − 16)` (ggml `block_q5_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 32 weights, `w = d·(q − 16)` (ggml `block_q5_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// Fifth bits: bit `j` of the little-endian u32 is the high bit of value `j`.
    pub qh: [u8; 4],
    /// Low 4 bits, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockQ5_0, 22);

impl BlockFormat for BlockQ5_0 {
    const NAME: &'static str = "q5_0";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q5_0);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q5_0 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q5_0 dequantizer")
    }
}
