//! `q4_K`: 256 weights in 8 groups of 32, `w = d·sc·q − dmin·m` (ggml `block_q4_K`).
//!
//! # Layout (144 bytes, little-endian)
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `d` f16 | super-block scale of the 6-bit group scales |
//! | 2 | `dmin` f16 | super-block scale of the 6-bit group mins |
//! | 4 | `scales[12]` | 8 six-bit scales `sc[j]` and 8 six-bit mins `m[j]`, packed (below) |
//! | 16 | `qs[128]` | 4-bit quants |
//!
//! Value `i` of group `j = i / 32` is `d·sc[j]·q[i] − dmin·m[j]`, with `q ∈ 0..=15`.
//!
//! **Scale packing** (ggml `get_scale_min_k4`): for `j < 4`, `sc[j] = scales[j] & 63` and
//! `m[j] = scales[j + 4] & 63`; for `j >= 4`, `sc[j] = (scales[j + 4] & 0xF) | (scales[j − 4] >> 6) << 4`
//! and `m[j] = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4`. So bytes 0‥3 hold `sc[0..4]` in
//! their low 6 bits and the high 2 bits of `sc[4..8]` in their top 2 bits; bytes 4‥7 likewise
//! `m[0..4]` and the high bits of `m[4..8]`; bytes 8‥11 hold the low nibbles of `sc[4..8]` (low
//! nibble) and `m[4..8]` (high nibble).
//!
//! **Quant packing**: the 256 values form 4 chunks of 64; chunk `c` uses `qs[32c .. 32c + 32]`,
//! byte `32c + l` holding value `64c + l` in its low nibble and value `64c + 32 + l` in its high
//! nibble (so group `2c` is in low nibbles, group `2c + 1` in high nibbles).
//!
//! # Quantizers
//!
//! Without importance weights: ggml's `quantize_row_q4_K_ref` (also what `ggml_quantize_chunk`
//! and llama-quantize write without an imatrix). With them: ggml's `quantize_row_q4_K_impl`.
// Index loops mirror ggml's C loops one to one, which keeps the operation order auditable.
#![allow(clippy::needless_range_loop)]

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::{
    get_scale_min_k4, k_error_bound, make_qkx_quants_groups, make_qp_quants, nearest_int,
    pack_scale_min_k4, requantize,
};
use crate::{BlockFormat, Format};

/// 256 weights in 8 groups of 32, `w = d·sc·q − dmin·m` (ggml `block_q4_K`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4K {
    /// Super-block scale of the scales.
    pub d: f16,
    /// Super-block scale of the mins.
    pub dmin: f16,
    /// 8 six-bit scales and 8 six-bit mins, packed.
    pub scales: [u8; 12],
    /// 4-bit quants.
    pub qs: [u8; 128],
}
crate::assert_block_size!(BlockQ4K, 144);

/// Requantize every group with the stored (f16-rounded) scales and mins, as ggml does after
/// choosing them, then pack the quants. Groups whose effective scale is 0 keep the quants of
/// the first fit in `l`.
pub(crate) fn finish_k4<const NMAX: i32>(
    x: &[f32; 256],
    d: f16,
    dmin: f16,
    scales: &[u8; 12],
    l: &mut [u8; 256],
) {
    let df = d.to_f32();
    let mf = dmin.to_f32();
    for j in 0..8 {
        let (sc, m) = get_scale_min_k4(j, scales);
        let dj = df * f32::from(sc);
        if dj == 0.0 {
            continue;
        }
        let dm = mf * f32::from(m);
        let q = requantize::<32>(&x[32 * j..32 * j + 32], Some(dm), dj, 0, NMAX);
        for (li, qi) in l[32 * j..32 * j + 32].iter_mut().zip(q) {
            *li = qi as u8;
        }
    }
}

/// ggml's `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref` up to the requantization: returns
/// `(d, dmin, scales)` and the first-fit quants in `l`.
pub(crate) fn fit_k4_ref<const NMAX: i32>(
    x: &[f32; 256],
    l: &mut [u8; 256],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> (f16, f16, [u8; 12]) {
    // Per group: sum_x2 += x² in ggml's order (the 8 groups' chains side by side),
    // av_x = sqrt(sum_x2/32), weights = av_x + |x|.
    let mut sum_x2 = [0.0f32; 8];
    for l in 0..32 {
        for j in 0..8 {
            sum_x2[j] += x[32 * j + l] * x[32 * j + l];
        }
    }
    let mut weights = [0.0f32; 256];
    for j in 0..8 {
        let av_x = (sum_x2[j] / 32.0).sqrt();
        for l in 0..32 {
            weights[32 * j + l] = av_x + x[32 * j + l].abs();
        }
    }
    let (scales, mins) =
        make_qkx_quants_groups::<8, 32>(NMAX, x, &weights, l, rmin, rdelta, nstep, false, false);
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..8 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..8 {
        // C: uint8_t ls = nearest_int(...); ls = MIN(63, ls);
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    (
        f16::from_f32(max_scale / 63.0),
        f16::from_f32(max_min / 63.0),
        pack_scale_min_k4(&ls, &lm),
    )
}

/// ggml's `quantize_row_q4_K_impl` / `quantize_row_q5_K_impl` (with importance weights) up to the
/// requantization. `CLAMP63` is q5_K's extra `MIN(63, ·)` on the packed scales.
pub(crate) fn fit_k4_imatrix<const NMAX: i32, const CLAMP63: bool>(
    x: &[f32; 256],
    qw: &[f32; 256],
    l: &mut [u8; 256],
) -> (f16, f16, [u8; 12]) {
    let mut sum_x2 = 0.0f32;
    for &v in x {
        sum_x2 += v * v;
    }
    let sigma2 = 2.0 * sum_x2 / 256.0;
    let mut sw = [0.0f32; 8];
    let mut weights = [0.0f32; 256];
    for j in 0..8 {
        let xs: &[f32; 32] = x[32 * j..32 * j + 32].try_into().unwrap();
        let qs: &[f32; 32] = qw[32 * j..32 * j + 32].try_into().unwrap();
        let ws = &mut weights[32 * j..32 * j + 32];
        for l in 0..32 {
            ws[l] = qs[l] * (sigma2 + xs[l] * xs[l]).sqrt();
        }
        let mut sumw = 0.0f32;
        for &w in ws.iter() {
            sumw += w;
        }
        sw[j] = sumw;
    }
    let (scales, mins) =
        make_qkx_quants_groups::<8, 32>(NMAX, x, &weights, l, -0.9, 0.05, 36, false, true);
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
    let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
    if CLAMP63 {
        for j in 0..8 {
            ls[j] = ls[j].min(63);
            lm[j] = lm[j].min(63);
        }
    }
    (
        f16::from_f32(d_block),
        f16::from_f32(m_block),
        pack_scale_min_k4(&ls, &lm),
    )
}

impl BlockQ4K {
    fn quantize(x: &[f32; 256], qw: Option<&[f32; 256]>) -> Self {
        let mut l = [0u8; 256];
        let (d, dmin, scales) = match qw {
            None => fit_k4_ref::<15>(x, &mut l, -1.0, 0.1, 20),
            Some(qw) => fit_k4_imatrix::<15, false>(x, qw, &mut l),
        };
        finish_k4::<15>(x, d, dmin, &scales, &mut l);
        let mut qs = [0u8; 128];
        for c in 0..4 {
            for i in 0..32 {
                qs[32 * c + i] = l[64 * c + i] | (l[64 * c + 32 + i] << 4);
            }
        }
        BlockQ4K {
            d,
            dmin,
            scales,
            qs,
        }
    }
}

impl BlockFormat for BlockQ4K {
    const NAME: &'static str = "q4_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q4K);
    const USES_IMPORTANCE: bool = true;

    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (i, (x, b)) in src.chunks_exact(256).zip(dst.iter_mut()).enumerate() {
            let x: &[f32; 256] = x.try_into().unwrap();
            let qw = imatrix.map(|w| <&[f32; 256]>::try_from(&w[256 * i..256 * i + 256]).unwrap());
            *b = Self::quantize(x, qw);
        }
    }

    /// `4·max|x|/15 + 1008·2⁻²⁴`: 2 full-scale steps of the 4-bit asymmetric grid (a step is
    /// `2·max|x|/15`) plus the f16-subnormal term (scale ≤ 63 × quant ≤ 15 + min ≤ 63); see the
    /// crate-private `k_error_bound`. Measured worst case: `max|x|/7.4` (integer-valued
    /// blocks; `max|x|/7.0` with importance weights; margin ≥ 1.87).
    ///
    /// For the quantizer without importance weights (the bound also held with random
    /// importance weights in the measurements above, but is not promised there).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        Some(k_error_bound(src, 4.0 / 15.0, 1008.0))
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        let min = self.dmin.to_f32();
        for c in 0..4 {
            let (sc1, m1) = get_scale_min_k4(2 * c, &self.scales);
            let (sc2, m2) = get_scale_min_k4(2 * c + 1, &self.scales);
            let d1 = d * f32::from(sc1);
            let m1 = min * f32::from(m1);
            let d2 = d * f32::from(sc2);
            let m2 = min * f32::from(m2);
            let q = &self.qs[32 * c..32 * c + 32];
            let y = &mut dst[64 * c..64 * c + 64];
            for l in 0..32 {
                y[l] = d1 * f32::from(q[l] & 0xF) - m1;
                y[32 + l] = d2 * f32::from(q[l] >> 4) - m2;
            }
        }
    }
}
