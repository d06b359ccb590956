//! `q3_K`: 256 weights in 16 groups of 16, `w = d·(sc − 32)·(q − 4·!hbit)` (ggml `block_q3_K`).
//!
//! # Layout (110 bytes, little-endian)
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `hmask[32]` | third (high) bit of every quant |
//! | 32 | `qs[64]` | low 2 bits of every quant |
//! | 96 | `scales[12]` | 16 six-bit scales `sc[j]` (stored with a +32 offset), packed (below) |
//! | 108 | `d` f16 | super-block scale |
//!
//! Value `i` of group `j = i / 16` is `d·(sc[j] − 32)·(lo[i] − (hbit[i] ? 0 : 4))`, i.e. a signed
//! quant in `−4 ..= 3`.
//!
//! **Scale packing**: `sc[j] = low[j] | high[j] << 4` where `low[j]` is the low nibble of
//! `scales[j]` for `j < 8` and the high nibble of `scales[j − 8]` for `j >= 8`, and `high[j]` is
//! bits `2·(j / 4) .. 2·(j / 4) + 2` of `scales[8 + j % 4]`.
//!
//! **Quant packing**: the low 2 bits are packed like `q2_K` (byte `32h + l` of `qs` holds values
//! `128h + l + 32k` in bits `2k .. 2k + 2`). The high bit of value `i` is bit `i / 32` of
//! `hmask[i % 32]`.
//!
//! # Quantizers
//!
//! Without importance weights: ggml's `quantize_row_q3_K_ref` (= `ggml_quantize_chunk` without an
//! imatrix). With them: ggml's `quantize_row_q3_K_impl`.
// Index loops mirror ggml's C loops one to one, which keeps the operation order auditable.
#![allow(clippy::needless_range_loop)]

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::{
    k_error_bound, make_q3_quants, make_qx_quants, make_qx_quants_groups, nearest_int, pack_2bit,
    requantize,
};
use crate::{BlockFormat, Format};

/// 256 weights in 16 groups of 16, `w = d·(sc − 32)·(q − 4·!hbit)` (ggml `block_q3_K`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ3K {
    /// High (third) bits.
    pub hmask: [u8; 32],
    /// Low 2 bits.
    pub qs: [u8; 64],
    /// 16 six-bit scales, packed.
    pub scales: [u8; 12],
    /// Super-block scale.
    pub d: f16,
}
crate::assert_block_size!(BlockQ3K, 110);

/// Pack 16 six-bit scales (`0..=63`, offset by 32) as ggml's q3_K quantizers do.
fn pack_scales(ls: &[u8; 16]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for (j, &l) in ls.iter().enumerate() {
        if j < 8 {
            s[j] = l & 0xF;
        } else {
            s[j - 8] |= (l & 0xF) << 4;
        }
        s[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
    }
    s
}

/// The 6-bit scale of group `j` minus 32, as ggml's quantizers and dequantizer decode it.
#[inline(always)]
fn scale(s: &[u8; 12], j: usize) -> i8 {
    let low = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 };
    (low | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i8 - 32
}

impl BlockQ3K {
    /// ggml's `quantize_row_q3_K_ref` up to the requantization.
    fn fit_ref(x: &[f32; 256], l: &mut [i8; 256]) -> ([u8; 12], f16) {
        let mut scales = [0.0f32; 16];
        let mut max_scale = 0.0f32;
        let mut amax = 0.0f32;
        for j in 0..16 {
            let s = make_q3_quants(
                4,
                &x[16 * j..16 * j + 16],
                &mut l[16 * j..16 * j + 16],
                true,
            );
            scales[j] = s;
            let a = s.abs();
            if a > amax {
                amax = a;
                max_scale = s;
            }
        }
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            let mut ls = [0u8; 16];
            for j in 0..16 {
                // C: int8_t l = nearest_int(...); l = MAX(-32, MIN(31, l)) + 32;
                let q = nearest_int(iscale * scales[j]) as i8;
                ls[j] = (q.clamp(-32, 31) + 32) as u8;
            }
            (pack_scales(&ls), f16::from_f32(1.0 / iscale))
        } else {
            ([0u8; 12], f16::from_f32(0.0))
        }
    }

    /// ggml's `quantize_row_q3_K_impl` (importance weights) up to the requantization.
    fn fit_imatrix(x: &[f32; 256], qw: &[f32; 256], l: &mut [i8; 256]) -> ([u8; 12], f16) {
        let mut sumx2 = 0.0f32;
        for &v in x {
            sumx2 += v * v;
        }
        let sigma2 = 2.0 * sumx2 / 256.0;
        let mut sw = [0.0f32; 16];
        let mut weight = [0.0f32; 256];
        for j in 0..16 {
            let xs = &x[16 * j..16 * j + 16];
            let qs = &qw[16 * j..16 * j + 16];
            let ws = &mut weight[16 * j..16 * j + 16];
            for i in 0..16 {
                ws[i] = qs[i] * (sigma2 + xs[i] * xs[i]).sqrt();
            }
            let mut sumw = 0.0f32;
            for &w in ws.iter() {
                sumw += w;
            }
            sw[j] = sumw;
        }
        // make_qx_quants(16, 4, x, L, 1, weight) for the 16 groups side by side.
        let scales = make_qx_quants_groups::<16, 16>(4, x, &weight, l);
        let mut ls = [0i8; 16];
        let d_block = make_qx_quants(32, &scales, &mut ls, 1, Some(&sw));
        (pack_scales(&ls.map(|v| v as u8)), f16::from_f32(d_block))
    }

    fn quantize(x: &[f32; 256], qw: Option<&[f32; 256]>) -> Self {
        let mut l = [0i8; 256];
        let (scales, d) = match qw {
            None => Self::fit_ref(x, &mut l),
            Some(qw) => Self::fit_imatrix(x, qw, &mut l),
        };
        let df = d.to_f32();
        for j in 0..16 {
            let dj = df * f32::from(scale(&scales, j));
            if dj == 0.0 {
                continue;
            }
            let q = requantize::<16>(&x[16 * j..16 * j + 16], None, dj, -4, 3);
            for ii in 0..16 {
                l[16 * j + ii] = (q[ii] + 4) as i8;
            }
        }
        let mut hmask = [0u8; 32];
        let mut lu = [0u8; 256];
        for j in 0..256 {
            let mut v = l[j];
            if v > 3 {
                hmask[j % 32] |= 1 << (j / 32);
                v -= 4;
            }
            lu[j] = v as u8;
        }
        BlockQ3K {
            hmask,
            qs: pack_2bit(&lu),
            scales,
            d,
        }
    }
}

impl BlockFormat for BlockQ3K {
    const NAME: &'static str = "q3_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q3K);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (i, (x, b)) in src.chunks_exact(256).zip(dst.iter_mut()).enumerate() {
            let x: &[f32; 256] = x.try_into().unwrap();
            let qw = imatrix.map(|w| <&[f32; 256]>::try_from(&w[256 * i..256 * i + 256]).unwrap());
            *b = Self::quantize(x, qw);
        }
    }

    /// `max|x|/2 + 128·2⁻²⁴`: 2 full-scale steps of the signed 3-bit grid (`−4 ..= 3`, a step
    /// is `max|x|/4`) plus the f16-subnormal term (|scale| ≤ 32 × |quant| ≤ 4); see the
    /// crate-private `k_error_bound`. Measured worst case: `0.26·max|x|` (0.31 with importance
    /// weights; margin ≥ 1.6).
    ///
    /// For the quantizer without importance weights (the bound also held with random
    /// importance weights in the measurements above, but is not promised there).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        if crate::formats::common::abs_max(src) > crate::formats::common::K_SCALE_OVERFLOW {
            return None; // the f16 super-block scale may overflow: no promise
        }
        Some(k_error_bound(src, 0.5, 128.0))
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d_all = self.d.to_f32();
        let mut m = 1u8;
        let mut is = 0;
        for h in 0..2 {
            let q = &self.qs[32 * h..32 * h + 32];
            for (k, y) in dst[128 * h..128 * h + 128].chunks_exact_mut(32).enumerate() {
                let shift = 2 * k;
                let dl = d_all * f32::from(scale(&self.scales, is));
                for l in 0..16 {
                    let hb = if self.hmask[l] & m != 0 { 0 } else { 4 };
                    y[l] = dl * f32::from(((q[l] >> shift) & 3) as i8 - hb);
                }
                let dl = d_all * f32::from(scale(&self.scales, is + 1));
                for l in 0..16 {
                    let hb = if self.hmask[l + 16] & m != 0 { 0 } else { 4 };
                    y[16 + l] = dl * f32::from(((q[l + 16] >> shift) & 3) as i8 - hb);
                }
                is += 2;
                m <<= 1;
            }
        }
    }
}
