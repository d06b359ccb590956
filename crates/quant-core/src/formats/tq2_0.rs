//! `tq2_0`: 256 ternary weights, `w = d·(t − 1)` (ggml `block_tq2_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::q4_0::c_ops;
use crate::{BlockFormat, Format};

/// 256 ternary weights, `w = d·(t − 1)` (ggml `block_tq2_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockTq2_0 {
    /// 2-bit trits.
    pub qs: [u8; 64],
    /// Scale.
    pub d: f16,
}
crate::assert_block_size!(BlockTq2_0, 66);

/// The scale `amax` and the trits `lroundf(x/amax) + 1 ∈ {0, 1, 2}` shared by `tq1_0` and
/// `tq2_0` (`x·id` with `id = 1/amax`, 0 for an all-zero block, as in ggml).
#[inline(always)]
pub(crate) fn scale_and_trits(x: &[f32; 256]) -> (f32, [i32; 256]) {
    let d = c_ops::abs_max(x);
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut t = [0i32; 256];
    if id.is_finite() {
        // |x·id| ≤ 1 + 2⁻²²: the vectorizable rounding is exact.
        for (t, v) in t.iter_mut().zip(x) {
            *t = c_ops::round_in_range(v * id) + 1;
        }
    } else {
        // amax < 2⁻¹²⁸: x·id is ±inf or NaN, for which x86 glibc's lroundf gives LONG_MIN.
        for (t, v) in t.iter_mut().zip(x) {
            *t = c_ops::lroundf_plus_one(v * id);
        }
    }
    (d, t)
}

/// Error bound shared by `tq1_0` and `tq2_0` (see [`BlockTq2_0::max_abs_error`]).
pub(crate) fn ternary_max_abs_error(src: &[f32]) -> f32 {
    let d = c_ops::abs_max(src);
    let d16 = f16::from_f32(d).to_f32();
    d * 0.5 * (1.0 + 1.0 / 1024.0) + (d - d16).abs() + c_ops::slack(d + d16)
}

impl BlockFormat for BlockTq2_0 {
    const NAME: &'static str = "tq2_0";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Tq2_0);
    const USES_IMPORTANCE: bool = false;
    /// Holds whenever the stored scale is finite and non-zero: dequantized values are
    /// `{−d16, 0, d16}`, their maximum gives back `d16` as the scale, and `±d16·fl(1/d16)`
    /// rounds back to ±1. Not for blocks with max |x| < 2⁻²⁵ ≈ 3e-8 (f16 scale 0).
    const REQUANTIZE_STABLE: bool = true;

    /// `quantize_row_tq2_0_ref` (ggml ignores importance weights for `tq2_0`): byte `32c + m`
    /// of `qs` holds the trits of values `128c + m + 32n` in bits `2n`, `n = 0..4`.
    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let (xs, _) = src.as_chunks::<256>();
        for (x, b) in xs.iter().zip(dst) {
            let (d, t) = scale_and_trits(x);
            b.d = f16::from_f32(d);
            for c in 0..2 {
                for m in 0..32 {
                    let mut q = 0u8;
                    for n in 0..4 {
                        q = q.wrapping_add(((t[128 * c + m + 32 * n] & 3) << (2 * n)) as u8);
                    }
                    b.qs[32 * c + m] = q;
                }
            }
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        for c in 0..2 {
            for l in 0..4 {
                for m in 0..32 {
                    let q = i32::from((self.qs[32 * c + m] >> (2 * l)) & 3);
                    dst[128 * c + 32 * l + m] = (q - 1) as f32 * d;
                }
            }
        }
    }

    /// `d/2·(1 + 2⁻¹⁰) + |d − f16(d)| + slack`, with `d = amax`: `x·(1/d) ∈ [−1, 1]` (up to
    /// 2 ulp) is rounded to the nearest of −1, 0, 1, an error ≤ `d/2` up to those ulp; the
    /// stored f16 scale moves `±d` by `|d − f16(d)|`.
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        Some(ternary_max_abs_error(src))
    }
}
