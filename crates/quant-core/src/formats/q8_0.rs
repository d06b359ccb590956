//! `q8_0`: 32 weights, `w = d·q` (ggml `block_q8_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::q4_0::c_ops;
use crate::{BlockFormat, Format};

/// 32 weights, `w = d·q` (ggml `block_q8_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8_0 {
    /// Scale.
    pub d: f16,
    /// Quants; every i8 including −128 is valid for the kernels.
    pub qs: [i8; 32],
}
crate::assert_block_size!(BlockQ8_0, 34);

/// The f32 scale `amax/127`, its inverse (0 for a zero scale) and the quants
/// `(int8_t)roundf(x·id)` shared by `q8_0` and `q8_1` (`quantize_row_q8_{0,1}_ref`).
#[inline(always)]
pub(crate) fn scale_and_quants(x: &[f32; 32]) -> (f32, [i8; 32]) {
    let amax = c_ops::abs_max(x);
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let qs = if id.is_finite() {
        // |x·id| ≤ 127·(1 + 2⁻²²): the branch-free rounding is exact.
        quants(x, id, c_ops::round_in_range)
    } else {
        // amax < 127·2⁻¹²⁸: x·id is ±inf or NaN, and x86 turns those into 0.
        quants(x, id, c_ops::roundf_i32)
    };
    (d, qs)
}

#[inline(always)]
fn quants(x: &[f32; 32], id: f32, round: impl Fn(f32) -> i32) -> [i8; 32] {
    let mut qs = [0i8; 32];
    for (q, v) in qs.iter_mut().zip(x) {
        *q = round(v * id) as i8;
    }
    qs
}

/// Error bound shared by `q8_0` and `q8_1` (see [`BlockQ8_0::max_abs_error`]).
pub(crate) fn q8_max_abs_error(src: &[f32]) -> f32 {
    let amax = c_ops::abs_max(src);
    let d = amax / 127.0;
    let d16 = f16::from_f32(d).to_f32();
    d * 0.5 * (1.0 + 1.0 / 1024.0) + 127.0 * (d - d16).abs() + c_ops::slack(amax + 127.0 * d16)
}

impl BlockFormat for BlockQ8_0 {
    const NAME: &'static str = "q8_0";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q8_0);
    const USES_IMPORTANCE: bool = false;
    /// Holds whenever the stored scale is finite and non-zero: the largest value dequantizes to
    /// exactly `±127·d16` (an exact product), which gives back `d16` as the scale
    /// (`127·d16/127` is exact), and every value `q·d16` maps back to `q` (relative error of
    /// `x·(1/d16)` ≤ 2⁻²³, i.e. ≤ 127·2⁻²³ ≪ 0.5 in quant units). Rows whose f16 scale
    /// underflows to 0 (max |x| < 127·2⁻²⁵ ≈ 3.8e-6) or overflows are not stable.
    const REQUANTIZE_STABLE: bool = true;

    /// `quantize_row_q8_0_ref` (ggml ignores importance weights for `q8_0`).
    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let (xs, _) = src.as_chunks::<32>();
        for (x, b) in xs.iter().zip(dst) {
            let (d, qs) = scale_and_quants(x);
            *b = BlockQ8_0 {
                d: f16::from_f32(d),
                qs,
            };
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, q) in dst.iter_mut().zip(self.qs) {
            *y = f32::from(q) * d;
        }
    }

    /// `d/2·(1 + 2⁻¹⁰) + 127·|d − f16(d)| + slack`, with `d = amax/127` the f32 scale.
    ///
    /// With `id = fl(1/d)` and `v = fl(x·id) = (x/d)(1 + δ)`, `|δ| ≤ 2·2⁻²⁴`, `q = round(v)`:
    /// `|x/d − q| ≤ 0.5 + 127·2⁻²³ < 0.5·(1 + 2⁻¹⁰)`, so `|x − q·d| ≤ d/2·(1 + 2⁻¹⁰)`.
    /// Storing `f16(d)` moves `q·d` by `|q|·|d − f16(d)| ≤ 127·|d − f16(d)|`, and the
    /// dequantizer's product `q·f16(d)` is exact (≤ 18 significant bits) unless it is subnormal;
    /// `slack` covers that and the caller's rounding of `|x − y|`.
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        if let Some(b) = crate::formats::common::tiny_block_bound(src) {
            return Some(b);
        }
        Some(q8_max_abs_error(src))
    }
}
