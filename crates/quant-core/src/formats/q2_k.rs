//! `q2_K`: 256 weights in 16 groups of 16, `w = d·sc·q − dmin·m` (ggml `block_q2_K`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 256 weights in 16 groups of 16, `w = d·sc·q − dmin·m` (ggml `block_q2_K`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ2K {
    /// Per 16 values: low nibble scale, high nibble min.
    pub scales: [u8; 16],
    /// 2-bit quants.
    pub qs: [u8; 64],
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the mins.
    pub dmin: f16,
}
crate::assert_block_size!(BlockQ2K, 84);

impl BlockFormat for BlockQ2K {
    const NAME: &'static str = "q2_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q2K);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q2_K quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q2_K dequantizer")
    }
}
