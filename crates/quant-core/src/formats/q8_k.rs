//! `q8_K`: 256 activations, `x = d·q` (ggml `block_q8_K`, activation format of the K-quants).

use bytemuck::{Pod, Zeroable};

use crate::{BlockFormat, Format};

/// 256 activations, `x = d·q` (ggml `block_q8_K`, activation format of the K-quants).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8K {
    /// Scale (f32, unlike the other formats).
    pub d: f32,
    /// Quants.
    pub qs: [i8; 256],
    /// Sum of each group of 16 quants.
    pub bsums: [i16; 16],
}
crate::assert_block_size!(BlockQ8K, 292);

impl BlockFormat for BlockQ8K {
    const NAME: &'static str = "q8_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q8K);
    const USES_IMPORTANCE: bool = false;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("q8_K quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("q8_K dequantizer")
    }
}
