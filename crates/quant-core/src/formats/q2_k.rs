//! `q2_K`: 256 weights in 16 groups of 16, `w = d·sc·q − dmin·m` (ggml `block_q2_K`).
//!
//! # Layout (84 bytes, little-endian)
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `scales[16]` | group `j`: 4-bit scale `sc[j]` in the low nibble, 4-bit min `m[j]` in the high nibble |
//! | 16 | `qs[64]` | 2-bit quants |
//! | 80 | `d` f16 | super-block scale of the scales |
//! | 82 | `dmin` f16 | super-block scale of the mins |
//!
//! Value `i` of group `j = i / 16` is `d·sc[j]·q[i] − dmin·m[j]`, with `q ∈ 0..=3`.
//!
//! **Quant packing**: two halves of 128 values; half `h` uses `qs[32h .. 32h + 32]`, byte
//! `32h + l` holding values `128h + l`, `128h + l + 32`, `128h + l + 64`, `128h + l + 96` in bits
//! 0‥1, 2‥3, 4‥5, 6‥7.
//!
//! # Quantizers
//!
//! Without importance weights: ggml's `quantize_row_q2_K_ref` (= `ggml_quantize_chunk` without an
//! imatrix). With them: ggml's `quantize_row_q2_K_impl`.
// Index loops mirror ggml's C loops one to one, which keeps the operation order auditable.
#![allow(clippy::needless_range_loop)]

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::{
    k_error_bound, make_qkx_quants_groups, make_qp_quants, nearest_int, pack_2bit, requantize,
};
use crate::{BlockFormat, Format};

/// 256 weights in 16 groups of 16, `w = d·sc·q − dmin·m` (ggml `block_q2_K`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ2K {
    /// Per 16 values: low nibble scale, high nibble min.
    pub scales: [u8; 16],
    /// 2-bit quants.
    pub qs: [u8; 64],
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the mins.
    pub dmin: f16,
}
crate::assert_block_size!(BlockQ2K, 84);

impl BlockQ2K {
    /// ggml's `quantize_row_q2_K_ref`: first fit, 4-bit scales and mins, stored f16 scales.
    fn fit_ref(x: &[f32; 256], l: &mut [u8; 256]) -> ([u8; 16], f16, f16) {
        const Q4SCALE: f32 = 15.0;
        let mut weights = [0.0f32; 256];
        for (w, &v) in weights.iter_mut().zip(x) {
            *w = v.abs();
        }
        let (scales, mins) =
            make_qkx_quants_groups::<16, 16>(3, x, &weights, l, -0.5, 0.1, 15, true, false);
        let mut max_scale = 0.0f32;
        let mut max_min = 0.0f32;
        for j in 0..16 {
            if scales[j] > max_scale {
                max_scale = scales[j];
            }
            if mins[j] > max_min {
                max_min = mins[j];
            }
        }
        let mut sc = [0u8; 16];
        let d = if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for j in 0..16 {
                sc[j] = nearest_int(iscale * scales[j]) as u8;
            }
            f16::from_f32(max_scale / Q4SCALE)
        } else {
            f16::from_f32(0.0)
        };
        let dmin = if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for j in 0..16 {
                let m = nearest_int(iscale * mins[j]);
                sc[j] |= (m << 4) as u8;
            }
            f16::from_f32(max_min / Q4SCALE)
        } else {
            f16::from_f32(0.0)
        };
        (sc, d, dmin)
    }

    /// ggml's `quantize_row_q2_K_impl` (importance weights) up to the requantization.
    fn fit_imatrix(x: &[f32; 256], qw: &[f32; 256], l: &mut [u8; 256]) -> ([u8; 16], f16, f16) {
        let mut sumx2 = 0.0f32;
        for &v in x {
            sumx2 += v * v;
        }
        let sigma2 = sumx2 / 256.0;
        let mut sw = [0.0f32; 16];
        let mut weight = [0.0f32; 256];
        for j in 0..16 {
            let xs = &x[16 * j..16 * j + 16];
            let qs = &qw[16 * j..16 * j + 16];
            let ws = &mut weight[16 * j..16 * j + 16];
            for l in 0..16 {
                ws[l] = qs[l] * (sigma2 + xs[l] * xs[l]).sqrt();
            }
            for &w in ws.iter() {
                sw[j] += w;
            }
        }
        let (scales, mins) =
            make_qkx_quants_groups::<16, 16>(3, x, &weight, l, -0.9, 0.05, 36, false, true);
        let mut ls = [0u8; 16];
        let mut lm = [0u8; 16];
        let dm = make_qp_quants(15, &scales, &mut ls, &sw);
        let mm = make_qp_quants(15, &mins, &mut lm, &sw);
        let mut sc = [0u8; 16];
        for j in 0..16 {
            sc[j] = ls[j] | (lm[j] << 4);
        }
        (sc, f16::from_f32(dm), f16::from_f32(mm))
    }

    fn quantize(x: &[f32; 256], qw: Option<&[f32; 256]>) -> Self {
        let mut l = [0u8; 256];
        let (scales, d, dmin) = match qw {
            None => Self::fit_ref(x, &mut l),
            Some(qw) => Self::fit_imatrix(x, qw, &mut l),
        };
        let df = d.to_f32();
        let mf = dmin.to_f32();
        for j in 0..16 {
            let dj = df * f32::from(scales[j] & 0xF);
            if dj == 0.0 {
                continue;
            }
            let dm = mf * f32::from(scales[j] >> 4);
            let q = requantize::<16>(&x[16 * j..16 * j + 16], Some(dm), dj, 0, 3);
            for ii in 0..16 {
                l[16 * j + ii] = q[ii] as u8;
            }
        }
        BlockQ2K {
            scales,
            qs: pack_2bit(&l),
            d,
            dmin,
        }
    }
}

impl BlockFormat for BlockQ2K {
    const NAME: &'static str = "q2_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q2K);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (i, (x, b)) in src.chunks_exact(256).zip(dst.iter_mut()).enumerate() {
            let x: &[f32; 256] = x.try_into().unwrap();
            let qw = imatrix.map(|w| <&[f32; 256]>::try_from(&w[256 * i..256 * i + 256]).unwrap());
            *b = Self::quantize(x, qw);
        }
    }

    /// `max|x| + 60·2⁻²⁴`: 1.5 full-scale steps of a 2-bit asymmetric grid (a step is
    /// `2·max|x|/3`) plus the f16-subnormal term (scale ≤ 15 × quant ≤ 3 + min ≤ 15 = 60 half
    /// subnormal steps, doubled); see the crate-private `k_error_bound`. Measured worst
    /// case: `0.6·max|x|` (sparse blocks, 1.6× margin; with importance weights `0.63·max|x|`).
    ///
    /// For the quantizer without importance weights (the bound also held with random
    /// importance weights in the measurements above, but is not promised there).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        Some(k_error_bound(src, 1.0, 60.0))
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        let min = self.dmin.to_f32();
        let mut is = 0;
        for h in 0..2 {
            let q = &self.qs[32 * h..32 * h + 32];
            for (k, y) in dst[128 * h..128 * h + 128].chunks_exact_mut(32).enumerate() {
                let shift = 2 * k;
                let sc = self.scales[is];
                let dl = d * f32::from(sc & 0xF);
                let ml = min * f32::from(sc >> 4);
                for l in 0..16 {
                    y[l] = dl * f32::from((q[l] >> shift) & 3) - ml;
                }
                let sc = self.scales[is + 1];
                let dl = d * f32::from(sc & 0xF);
                let ml = min * f32::from(sc >> 4);
                for l in 0..16 {
                    y[16 + l] = dl * f32::from((q[l + 16] >> shift) & 3) - ml;
                }
                is += 2;
            }
        }
    }
}
