//! `nvfp4`: 64 weights in 4 groups of 16, `w = KVALUES_FP4[q]·ue4m3(d[s])/2` (NVIDIA FP4, ggml `block_nvfp4`).

use bytemuck::{Pod, Zeroable};

use super::common::KVALUES_FP4;
use super::mxfp4::best_indices;
use super::q4_0::c_ops;
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

/// `2^k` for an exponent `k` of a normal f32.
#[inline]
fn pow2(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

/// ggml's `ggml_ue4m3_to_fp32`: the unsigned E4M3 value (bias 7, 3 mantissa bits, subnormals
/// `man·2⁻⁹`) **halved** (the fp4 grid values are doubled). Bit 7 is ignored except that
/// `0x7F` (the NaN code) decodes to 0, exactly as in ggml (`0xFF` decodes to 240/2).
#[inline]
pub(crate) fn ue4m3_to_f32(x: u8) -> f32 {
    if x == 0 || x == 0x7F {
        return 0.0;
    }
    let exp = i32::from((x >> 3) & 0x0F);
    let man = f32::from(x & 0x07);
    let raw = if exp == 0 {
        man * pow2(-9)
    } else {
        (1.0 + man / 8.0) * pow2(exp - 7)
    };
    raw * 0.5
}

/// ggml's `ggml_fp32_to_ue4m3`: non-positive (and NaN) → 0; clamps to 448; the 3 mantissa bits
/// are rounded half-up on the 4th (a carry may bump the exponent); exponents ≥ 15 saturate to
/// `0x7E` (448); below the normal range the subnormal code is `(int)(x·512 + 0.5)` clamped to
/// 1..=7 (0 if it rounds to 0).
#[inline]
pub(crate) fn f32_to_ue4m3(x: f32) -> u8 {
    // `!(x > 0)` in ggml: also catches NaN.
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    let x = if x > 448.0 { 448.0 } else { x };
    let bits = x.to_bits();
    let fp32_exp = ((bits >> 23) & 0xFF) as i32 - 127;
    let fp32_man = ((bits >> 20) & 0x7) as i32;
    let mut exp = fp32_exp + 7;
    if exp <= 0 {
        let man = c_ops::cvtt(x * 512.0 + 0.5).min(7);
        return if man < 1 { 0 } else { man as u8 };
    }
    if exp >= 15 {
        return 0x7E;
    }
    let mut man = fp32_man + ((bits >> 19) & 1) as i32;
    if man > 7 {
        man = 0;
        exp += 1;
        if exp >= 15 {
            return 0x7E;
        }
    }
    ((exp << 3) | man) as u8
}

impl BlockFormat for BlockNvfp4 {
    const NAME: &'static str = "nvfp4";
    const BLOCK_LEN: usize = 64;
    const FORMAT: Option<Format> = Some(Format::Nvfp4);
    const USES_IMPORTANCE: bool = false;
    // Not requantize-stable: when `amax/6` saturates to the code 0x7E (448) the largest value
    // can be coded well below `12·224`, and the requantized scale then differs.

    /// `quantize_row_nvfp4_ref` (ggml ignores importance weights for `nvfp4`): per 16 values,
    /// `ue = fp32_to_ue4m3(amax/6)`, then the nearest grid index for `kvalues·ue4m3(ue)/2`.
    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let (xs, _) = src.as_chunks::<64>();
        for (x, b) in xs.iter().zip(dst) {
            let (subs, _) = x.as_chunks::<16>();
            for (s, xb) in subs.iter().enumerate() {
                let ue = f32_to_ue4m3(c_ops::abs_max(xb) / 6.0);
                b.d[s] = ue;
                let idx = best_indices(xb, ue4m3_to_f32(ue));
                for j in 0..8 {
                    b.qs[8 * s + j] = idx[j] | (idx[j + 8] << 4);
                }
            }
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        for (s, yb) in dst.chunks_exact_mut(16).enumerate() {
            let d = ue4m3_to_f32(self.d[s]);
            let (lo, hi) = yb.split_at_mut(8);
            for j in 0..8 {
                let q = self.qs[8 * s + j];
                lo[j] = f32::from(KVALUES_FP4[usize::from(q & 0x0F)]) * d;
                hi[j] = f32::from(KVALUES_FP4[usize::from(q >> 4)]) * d;
            }
        }
    }

    /// The largest over the four sub-blocks of `max(2s, amax − 12s) + slack`, with `s` the
    /// decoded (halved) scale of the sub-block: the grid `{0, ±1, …, ±8, ±12}·s` has gaps of at
    /// most `4s`, and values beyond `±12s` (UE4M3 rounding of `amax/6` down, or saturation at
    /// 448) are clamped to `±12s`. `s = 0` (tiny sub-blocks) gives `amax`.
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        let mut bound = 0.0f32;
        for xb in src.chunks_exact(16) {
            let amax = c_ops::abs_max(xb);
            let s = ue4m3_to_f32(f32_to_ue4m3(amax / 6.0));
            bound = bound.max((2.0 * s).max(amax - 12.0 * s) + c_ops::slack(amax));
        }
        Some(bound)
    }
}
