//! `tq1_0`: 256 ternary weights, `w = d·(t − 1)` (ggml `block_tq1_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 256 ternary weights, `w = d·(t − 1)` (ggml `block_tq1_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockTq1_0 {
    /// 5 trits per byte, fixed-point base-3 packing.
    pub qs: [u8; 48],
    /// 4 trits per byte.
    pub qh: [u8; 4],
    /// Scale.
    pub d: f16,
}
crate::assert_block_size!(BlockTq1_0, 54);

impl BlockFormat for BlockTq1_0 {
    const NAME: &'static str = "tq1_0";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Tq1_0);
    const USES_IMPORTANCE: bool = false;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("tq1_0 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("tq1_0 dequantizer")
    }
}
