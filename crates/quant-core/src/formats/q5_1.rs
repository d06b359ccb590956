//! `q5_1`: 32 weights, `w = d·q + m` (ggml `block_q5_1`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 32 weights, `w = d·q + m` (ggml `block_q5_1`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: f16,
    /// Minimum.
    pub m: f16,
    /// Fifth bits (little-endian u32).
    pub qh: [u8; 4],
    /// Low 4 bits, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockQ5_1, 24);

impl BlockFormat for BlockQ5_1 {
    const NAME: &'static str = "q5_1";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q5_1);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q5_1 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q5_1 dequantizer")
    }
}
