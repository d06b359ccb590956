//! `tq2_0`: 256 ternary weights, `w = d·(t − 1)` (ggml `block_tq2_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 256 ternary weights, `w = d·(t − 1)` (ggml `block_tq2_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockTq2_0 {
    /// 2-bit trits.
    pub qs: [u8; 64],
    /// Scale.
    pub d: f16,
}
crate::assert_block_size!(BlockTq2_0, 66);

impl BlockFormat for BlockTq2_0 {
    const NAME: &'static str = "tq2_0";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Tq2_0);
    const USES_IMPORTANCE: bool = false;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("tq2_0 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("tq2_0 dequantizer")
    }
}
