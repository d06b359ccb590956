//! `iq4_xs`: 256 weights in 8 groups of 32, `w = d·(ls − 32)·KVALUES_IQ4NL[q]` (ggml `block_iq4_xs`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 256 weights in 8 groups of 32, `w = d·(ls − 32)·KVALUES_IQ4NL[q]` (ggml `block_iq4_xs`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockIq4Xs {
    /// Super-block scale.
    pub d: f16,
    /// 2 high bits of each of the 8 six-bit scales.
    pub scales_h: u16,
    /// Low nibbles of the 8 scales.
    pub scales_l: [u8; 4],
    /// 4-bit indices into `KVALUES_IQ4NL`.
    pub qs: [u8; 128],
}
crate::assert_block_size!(BlockIq4Xs, 136);

impl BlockFormat for BlockIq4Xs {
    const NAME: &'static str = "iq4_xs";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Iq4Xs);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("iq4_xs quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("iq4_xs dequantizer")
    }
}
