//! `q5_K`: 256 weights in 8 groups of 32, `w = d·sc·q − dmin·m` (ggml `block_q5_K`).
//!
//! # Layout (176 bytes, little-endian)
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `d` f16 | super-block scale of the 6-bit group scales |
//! | 2 | `dmin` f16 | super-block scale of the 6-bit group mins |
//! | 4 | `scales[12]` | 8 six-bit scales and 8 six-bit mins, packed exactly as in `q4_K` |
//! | 16 | `qh[32]` | fifth (high) bits |
//! | 48 | `qs[128]` | low 4 bits |
//!
//! Value `i` of group `j = i / 32` is `d·sc[j]·q[i] − dmin·m[j]`, with `q ∈ 0..=31`.
//!
//! **Scale packing**: as `q4_K` (ggml `get_scale_min_k4`), see [`super::q4_k`].
//!
//! **Quant packing**: 4 chunks of 64 values; chunk `c` keeps its low nibbles in
//! `qs[32c .. 32c + 32]` like `q4_K` (byte `32c + l`: value `64c + l` low nibble, value
//! `64c + 32 + l` high nibble). The fifth bit of value `64c + l` is bit `2c` of `qh[l]`, that of
//! value `64c + 32 + l` bit `2c + 1` of `qh[l]`.
//!
//! # Quantizers
//!
//! Without importance weights: ggml's `quantize_row_q5_K_ref` (= `ggml_quantize_chunk` without an
//! imatrix). With them: ggml's `quantize_row_q5_K_impl`.
// Index loops mirror ggml's C loops one to one, which keeps the operation order auditable.
#![allow(clippy::needless_range_loop)]

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::{get_scale_min_k4, k_error_bound};
use super::q4_k::{finish_k4, fit_k4_imatrix, fit_k4_ref};
use crate::{BlockFormat, Format};

/// 256 weights in 8 groups of 32, `w = d·sc·q − dmin·m` (ggml `block_q5_K`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5K {
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the mins.
    pub dmin: f16,
    /// 8 six-bit scales and 8 six-bit mins, packed.
    pub scales: [u8; 12],
    /// Fifth bits.
    pub qh: [u8; 32],
    /// Low 4 bits.
    pub qs: [u8; 128],
}
crate::assert_block_size!(BlockQ5K, 176);

impl BlockQ5K {
    fn quantize(x: &[f32; 256], qw: Option<&[f32; 256]>) -> Self {
        let mut l = [0u8; 256];
        let (d, dmin, scales) = match qw {
            None => fit_k4_ref::<31>(x, &mut l, -0.5, 0.1, 15),
            Some(qw) => fit_k4_imatrix::<31, true>(x, qw, &mut l),
        };
        finish_k4::<31>(x, d, dmin, &scales, &mut l);
        let mut qh = [0u8; 32];
        let mut qs = [0u8; 128];
        let mut m1 = 1u8;
        let mut m2 = 2u8;
        for c in 0..4 {
            for j in 0..32 {
                let mut l1 = l[64 * c + j];
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = l[64 * c + 32 + j];
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                qs[32 * c + j] = l1 | (l2 << 4);
            }
            m1 <<= 2;
            m2 <<= 2;
        }
        BlockQ5K {
            d,
            dmin,
            scales,
            qh,
            qs,
        }
    }
}

impl BlockFormat for BlockQ5K {
    const NAME: &'static str = "q5_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q5K);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (i, (x, b)) in src.chunks_exact(256).zip(dst.iter_mut()).enumerate() {
            let x: &[f32; 256] = x.try_into().unwrap();
            let qw = imatrix.map(|w| <&[f32; 256]>::try_from(&w[256 * i..256 * i + 256]).unwrap());
            *b = Self::quantize(x, qw);
        }
    }

    /// `4·max|x|/31 + 2016·2⁻²⁴`: 2 full-scale steps of the 5-bit asymmetric grid (a step is
    /// `2·max|x|/31`) plus the f16-subnormal term (scale ≤ 63 × quant ≤ 31 + min ≤ 63); see the
    /// crate-private `k_error_bound`. Measured worst case: `max|x|/14.5` (`max|x|/12.9` with
    /// importance weights; margin ≥ 1.66).
    ///
    /// For the quantizer without importance weights (the bound also held with random
    /// importance weights in the measurements above, but is not promised there).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        Some(k_error_bound(src, 4.0 / 31.0, 2016.0))
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        let min = self.dmin.to_f32();
        let mut u1 = 1u8;
        let mut u2 = 2u8;
        for c in 0..4 {
            let (sc1, m1) = get_scale_min_k4(2 * c, &self.scales);
            let (sc2, m2) = get_scale_min_k4(2 * c + 1, &self.scales);
            let d1 = d * f32::from(sc1);
            let m1 = min * f32::from(m1);
            let d2 = d * f32::from(sc2);
            let m2 = min * f32::from(m2);
            let ql = &self.qs[32 * c..32 * c + 32];
            let y = &mut dst[64 * c..64 * c + 64];
            for l in 0..32 {
                let h1 = if self.qh[l] & u1 != 0 { 16 } else { 0 };
                let h2 = if self.qh[l] & u2 != 0 { 16 } else { 0 };
                y[l] = d1 * f32::from((ql[l] & 0xF) + h1) - m1;
                y[32 + l] = d2 * f32::from((ql[l] >> 4) + h2) - m2;
            }
            u1 <<= 2;
            u2 <<= 2;
        }
    }
}
