//! `q6_K`: 256 weights in 16 groups of 16, `w = d·sc·(q − 32)` (ggml `block_q6_K`).
//!
//! # Layout (210 bytes, little-endian)
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `ql[128]` | low 4 bits of the 6-bit quants |
//! | 128 | `qh[64]` | high 2 bits |
//! | 192 | `scales[16]` i8 | one signed 8-bit scale per 16 values |
//! | 208 | `d` f16 | super-block scale |
//!
//! Value `i` of group `j = i / 16` is `d·scales[j]·(q[i] − 32)`, with `q ∈ 0..=63`.
//!
//! **Quant packing**: two halves of 128 values; half `h` uses `ql[64h .. 64h + 64]` and
//! `qh[32h .. 32h + 32]`. For `l < 32` and `k = 128h + l`: `ql[64h + l]` holds the low 4 bits of
//! value `k` (low nibble) and of value `k + 64` (high nibble); `ql[64h + 32 + l]` those of values
//! `k + 32` (low) and `k + 96` (high); `qh[32h + l]` holds the high 2 bits of values `k`, `k + 32`,
//! `k + 64`, `k + 96` in bits 0‥1, 2‥3, 4‥5, 6‥7.
//!
//! # Quantizers
//!
//! Without importance weights: ggml's `quantize_row_q6_K_ref` (= `ggml_quantize_chunk` without an
//! imatrix). With them: ggml's `quantize_row_q6_K_impl` (the raw importance weights are the
//! weights of `make_qx_quants`).
// Index loops mirror ggml's C loops one to one, which keeps the operation order auditable.
#![allow(clippy::needless_range_loop)]

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::{GROUP_MAX_EPS, k_error_bound, make_qx_quants_groups, nearest_int, requantize};
use crate::{BlockFormat, Format};

/// 256 weights in 16 groups of 16, `w = d·sc·(q − 32)` (ggml `block_q6_K`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ6K {
    /// Low 4 bits.
    pub ql: [u8; 128],
    /// High 2 bits.
    pub qh: [u8; 64],
    /// 8-bit scales, one per 16 values.
    pub scales: [i8; 16],
    /// Super-block scale.
    pub d: f16,
}
crate::assert_block_size!(BlockQ6K, 210);

impl BlockQ6K {
    fn quantize(x: &[f32; 256], qw: Option<&[f32; 256]>) -> Self {
        let mut l = [0i8; 256];
        // make_qx_quants(16, 32, x, L, 1, qw) for the 16 groups side by side; ggml's weights are
        // the importance weights, or x² without them.
        let weights: [f32; 256] = match qw {
            Some(qw) => *qw,
            None => x.map(|v| v * v),
        };
        let scales = make_qx_quants_groups::<16, 16>(32, x, &weights, &mut l);
        let mut max_scale = 0.0f32;
        let mut max_abs_scale = 0.0f32;
        for &scale in &scales {
            let abs_scale = scale.abs();
            if abs_scale > max_abs_scale {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            return BlockQ6K::zeroed();
        }
        let iscale = -128.0 / max_scale;
        let d = f16::from_f32(1.0 / iscale);
        let mut sc = [0i8; 16];
        for ib in 0..16 {
            // C: int8_t = MIN(127, nearest_int(...)), converted with wrap-around.
            sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
        }
        let df = d.to_f32();
        for j in 0..16 {
            let dj = df * f32::from(sc[j]);
            if dj == 0.0 {
                continue;
            }
            let q = requantize::<16>(&x[16 * j..16 * j + 16], None, dj, -32, 31);
            for ii in 0..16 {
                l[16 * j + ii] = (q[ii] + 32) as i8;
            }
        }
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        for h in 0..2 {
            let lh = &l[128 * h..128 * h + 128];
            for i in 0..32 {
                let (a, b, c, e) = (
                    lh[i] as u8,
                    lh[i + 32] as u8,
                    lh[i + 64] as u8,
                    lh[i + 96] as u8,
                );
                ql[64 * h + i] = (a & 0xF) | ((c & 0xF) << 4);
                ql[64 * h + 32 + i] = (b & 0xF) | ((e & 0xF) << 4);
                qh[32 * h + i] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
            }
        }
        BlockQ6K {
            ql,
            qh,
            scales: sc,
            d,
        }
    }
}

impl BlockFormat for BlockQ6K {
    const NAME: &'static str = "q6_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q6K);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (i, (x, b)) in src.chunks_exact(256).zip(dst.iter_mut()).enumerate() {
            let x: &[f32; 256] = x.try_into().unwrap();
            let qw = imatrix.map(|w| <&[f32; 256]>::try_from(&w[256 * i..256 * i + 256]).unwrap());
            *b = Self::quantize(x, qw);
        }
    }

    /// `3·max|x|/32 + 4096·2⁻²⁴`: 3 full-scale steps of the signed 6-bit grid (a step is
    /// `max|x|/32`) plus the f16-subnormal term (|scale| ≤ 128 × |quant| ≤ 32; q6_K's f16 scale
    /// `max|x|/4096` is subnormal below `max|x| ≈ 0.25`); see the crate-private
    /// `k_error_bound`. Measured worst case: `max|x|/48.8` (`max|x|/21` with importance weights,
    /// whose raw weights make the fit trade extremes more; margin ≥ 1.97).
    ///
    /// For the quantizer without importance weights (the bound also held with random
    /// importance weights in the measurements above, but is not promised there).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        if crate::formats::common::abs_max(src) > crate::formats::common::K_SCALE_OVERFLOW {
            return None; // the f16 super-block scale may overflow: no promise
        }
        Some(k_error_bound(src, 3.0 / 32.0, 4096.0))
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        for h in 0..2 {
            let ql = &self.ql[64 * h..64 * h + 64];
            let qh = &self.qh[32 * h..32 * h + 32];
            let sc = &self.scales[8 * h..8 * h + 8];
            let y = &mut dst[128 * h..128 * h + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
                y[l] = d * f32::from(sc[is]) * f32::from(q1);
                y[l + 32] = d * f32::from(sc[is + 2]) * f32::from(q2);
                y[l + 64] = d * f32::from(sc[is + 4]) * f32::from(q3);
                y[l + 96] = d * f32::from(sc[is + 6]) * f32::from(q4);
            }
        }
    }
}
