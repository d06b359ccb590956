//! `nvfp4`: 64 weights in 4 groups of 16, `w = KVALUES_FP4[q]·ue4m3(d[s])/2` (NVIDIA FP4, ggml `block_nvfp4`).

use bytemuck::{Pod, Zeroable};

use crate::{BlockFormat, Format};

/// 64 weights in 4 groups of 16, `w = KVALUES_FP4[q]·ue4m3(d[s])/2` (NVIDIA FP4, ggml `block_nvfp4`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockNvfp4 {
    /// UE4M3 scale per 16 values.
    pub d: [u8; 4],
    /// E2M1 codes; sub-block `s` uses bytes `8s..8s+8`, byte `j` = value `j` (low) and `j + 8` (high).
    pub qs: [u8; 32],
}
crate::assert_block_size!(BlockNvfp4, 36);

impl BlockFormat for BlockNvfp4 {
    const NAME: &'static str = "nvfp4";
    const BLOCK_LEN: usize = 64;
    const FORMAT: Option<Format> = Some(Format::Nvfp4);
    const USES_IMPORTANCE: bool = false;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("nvfp4 quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("nvfp4 dequantizer")
    }
}
