//! `iq4_xs`: 256 weights in 8 groups of 32, `w = d·(ls − 32)·KVALUES_IQ4NL[q]` (ggml `block_iq4_xs`).
//!
//! # Layout (136 bytes, little-endian)
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `d` f16 | super-block scale |
//! | 2 | `scales_h` u16 | bits `2j .. 2j + 2`: high 2 bits of the 6-bit scale `ls[j]` |
//! | 4 | `scales_l[4]` | byte `j / 2`, low nibble for even `j`, high nibble for odd `j`: low 4 bits of `ls[j]` |
//! | 8 | `qs[128]` | 4-bit indices into [`KVALUES_IQ4NL`] |
//!
//! Group `j` (values `32j .. 32j + 32`) uses `qs[16j .. 16j + 16]` in nibble order (byte
//! `16j + l`: value `32j + l` low nibble, value `32j + 16 + l` high nibble). Value `i` of group
//! `j` is `(d·(ls[j] − 32))·KVALUES_IQ4NL[q[i]]`.
//!
//! # Quantizer
//!
//! ggml's `quantize_iq4_xs` (`ntry = 7`); its reference quantizer `quantize_row_iq4_xs_ref` is the
//! same function without importance weights, so there is only one path.
// Index loops mirror ggml's C loops one to one, which keeps the operation order auditable.
#![allow(clippy::needless_range_loop)]

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::{Iq4Block, KVALUES_IQ4NL, k_error_bound, quantize_iq4_impl};
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
        let mut l = [0u8; 256];
        for (i, (x, b)) in src.chunks_exact(256).zip(dst.iter_mut()).enumerate() {
            let qw = imatrix.map(|w| &w[256 * i..256 * i + 256]);
            let mut out = BlockIq4Xs::zeroed();
            quantize_iq4_impl(
                x,
                Iq4Block {
                    d: &mut out.d,
                    q4: &mut out.qs,
                    scales_h: &mut out.scales_h,
                    scales_l: &mut out.scales_l,
                },
                &mut l,
                qw,
                7,
            );
            *b = out;
        }
    }

    /// `36·max|x|/127 + 4064·2⁻²⁴`: 1.5 times the widest gap of the non-linear grid (24 units
    /// where the grid spans 127 units per `max|x|`; the 6-bit sub-block scales add at most
    /// 1/64 of the largest scale) plus the f16-subnormal term (|scale| ≤ 32 × |value| ≤ 127);
    /// see the crate-private `k_error_bound`. Measured worst case: `max|x|/7.1`
    /// (`max|x|/5.7` with importance weights; margin ≥ 1.61).
    ///
    /// For the quantizer without importance weights (the bound also held with random
    /// importance weights in the measurements above, but is not promised there).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        if crate::formats::common::abs_max(src) > crate::formats::common::K_SCALE_OVERFLOW {
            return None; // the f16 super-block scale may overflow: no promise
        }
        Some(k_error_bound(src, 36.0 / 127.0, 4064.0))
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        for ib in 0..8 {
            let ls = ((self.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf)
                | ((((self.scales_h >> (2 * ib)) & 3) as u8) << 4);
            let dl = d * f32::from(i16::from(ls) - 32);
            let qs = &self.qs[16 * ib..16 * ib + 16];
            let y = &mut dst[32 * ib..32 * ib + 32];
            for j in 0..16 {
                y[j] = dl * f32::from(KVALUES_IQ4NL[usize::from(qs[j] & 0xf)]);
                y[j + 16] = dl * f32::from(KVALUES_IQ4NL[usize::from(qs[j] >> 4)]);
            }
        }
    }
}
