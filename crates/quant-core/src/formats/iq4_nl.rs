//! `iq4_nl`: 32 weights, `w = d·KVALUES_IQ4NL[q]` (ggml `block_iq4_nl`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use crate::{BlockFormat, Format};

/// 32 weights, `w = d·KVALUES_IQ4NL[q]` (ggml `block_iq4_nl`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockIq4Nl {
    /// Scale.
    pub d: f16,
    /// 4-bit indices into `KVALUES_IQ4NL`, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockIq4Nl, 18);

impl BlockFormat for BlockIq4Nl {
    const NAME: &'static str = "iq4_nl";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Iq4Nl);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let _ = (src, imatrix, dst);
        todo!("iq4_nl quantizer")
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let _ = dst;
        todo!("iq4_nl dequantizer")
    }
}
