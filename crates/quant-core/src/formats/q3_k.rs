//! `q3_K`: 256 weights in 16 groups of 16, `w = d·(sc − 32)·(q − 4·!hbit)` (ggml `block_q3_K`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 256 weights in 16 groups of 16, `w = d·(sc − 32)·(q − 4·!hbit)` (ggml `block_q3_K`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ3K {
    /// High (third) bits.
    pub hmask: [u8; 32],
    /// Low 2 bits.
    pub qs: [u8; 64],
    /// 16 six-bit scales, packed.
    pub scales: [u8; 12],
    /// Super-block scale.
    pub d: f16,
}
crate::assert_block_size!(BlockQ3K, 110);

impl BlockFormat for BlockQ3K {
    const NAME: &'static str = "q3_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q3K);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q3_K quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q3_K dequantizer")
    }
}
