//! `q6_K`: 256 weights in 16 groups of 16, `w = d·sc·(q − 32)` (ggml `block_q6_K`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 256 weights in 16 groups of 16, `w = d·sc·(q − 32)` (ggml `block_q6_K`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ6K {
    /// Low 4 bits.
    pub ql: [u8; 128],
    /// High 2 bits.
    pub qh: [u8; 64],
    /// 8-bit scales, one per 16 values.
    pub scales: [i8; 16],
    /// Super-block scale.
    pub d: f16,
}
crate::assert_block_size!(BlockQ6K, 210);

impl BlockFormat for BlockQ6K {
    const NAME: &'static str = "q6_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q6K);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q6_K quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q6_K dequantizer")
    }
}
