//! `mxfp4`: 32 weights, `w = KVALUES_FP4[q]·2^(e − 128)` (OCP MX FP4, ggml `block_mxfp4`).

use bytemuck::{Pod, Zeroable};

use crate::{BlockFormat, Format};

/// 32 weights, `w = KVALUES_FP4[q]·2^(e − 128)` (OCP MX FP4, ggml `block_mxfp4`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockMxfp4 {
    /// E8M0 shared exponent.
    pub e: u8,
    /// E2M1 codes, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockMxfp4, 17);

impl BlockFormat for BlockMxfp4 {
    const NAME: &'static str = "mxfp4";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Mxfp4);
    const USES_IMPORTANCE: bool = false;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("mxfp4 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("mxfp4 dequantizer")
    }
}
