//! `q8_0`: 32 weights, `w = d·q` (ggml `block_q8_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 32 weights, `w = d·q` (ggml `block_q8_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8_0 {
    /// Scale.
    pub d: f16,
    /// Quants; every i8 including −128 is valid for the kernels.
    pub qs: [i8; 32],
}
crate::assert_block_size!(BlockQ8_0, 34);

impl BlockFormat for BlockQ8_0 {
    const NAME: &'static str = "q8_0";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q8_0);
    const USES_IMPORTANCE: bool = false;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q8_0 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q8_0 dequantizer")
    }
}
