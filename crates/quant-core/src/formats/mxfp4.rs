//! `mxfp4`: 32 weights, `w = KVALUES_FP4[q]·2^(e − 128)` (OCP MX FP4, ggml `block_mxfp4`).

use bytemuck::{Pod, Zeroable};

use super::common::KVALUES_FP4;
use super::q4_0::c_ops;
use crate::{BlockFormat, Format};

/// 32 weights, `w = KVALUES_FP4[q]·2^(e − 128)` (OCP MX FP4, ggml `block_mxfp4`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockMxfp4 {
    /// E8M0 shared exponent.
    pub e: u8,
    /// E2M1 codes, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockMxfp4, 17);

/// ggml's `GGML_E8M0_TO_FP32_HALF(e)`: `2^(e − 128)` (subnormal for `e < 2`).
#[inline]
pub(crate) fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// ggml's `best_index_mxfp4` for every value of `x`: the first index `i` minimizing
/// `fabsf(kvalues_mxfp4[i]·d − x)` (strict `<`, so ties go to the lower index, and ±0 to
/// index 0, never 8).
///
/// Only half of the 16 candidates can win, which we exploit: with `d ≥ 0`, for `x > 0` a
/// negative code `i + 8` has error `fl(|k|·d + x) ≥ x`, the error of code 0, so it never wins
/// the strict comparison (and symmetrically the positive codes for `x < 0`; code 8, the second
/// zero, always ties with code 0). And `|−k·d − x| = |k·d − |x||` exactly for `x < 0`, with
/// sign-symmetric rounding. So we search codes 0..=7 for `|x|` (in ggml's order, same strict
/// comparison) and add 8 to a non-zero code of a negative value. Branch-free, so it vectorizes.
#[inline(always)]
pub(crate) fn best_indices<const N: usize>(x: &[f32; N], d: f32) -> [u8; N] {
    let mut ax = [0.0f32; N];
    for (a, v) in ax.iter_mut().zip(x) {
        *a = v.abs();
    }
    // Code 0: |0·d − x| = |x|.
    let mut best_err = ax;
    let mut best = [0u32; N];
    for (i, &kv) in KVALUES_FP4.iter().enumerate().take(8).skip(1) {
        let k = f32::from(kv) * d;
        for j in 0..N {
            let err = (k - ax[j]).abs();
            // Select with a bit mask: written with `if`, LLVM turns it into per-lane branches.
            let m = 0u32.wrapping_sub(u32::from(err < best_err[j]));
            best_err[j] = f32::from_bits((err.to_bits() & m) | (best_err[j].to_bits() & !m));
            best[j] = (i as u32 & m) | (best[j] & !m);
        }
    }
    let mut out = [0u8; N];
    for j in 0..N {
        let mirror = u32::from((x[j] < 0.0) & (best[j] != 0)) << 3;
        out[j] = (best[j] | mirror) as u8;
    }
    out
}

/// The shared exponent of ggml's `quantize_row_mxfp4_ref`:
/// `(uint8_t)(floorf(log2f(amax)) − 2 + 127)`, 0 for `amax = 0`.
///
/// `f32::log2` is the platform's `log2f` (glibc's on Linux, as in the oracle build). Just
/// below a power of two, `log2f` rounds up to the integer (e.g. `log2f(1024·(1 − 2⁻²⁴)) ==
/// 10.0`), so the exponent is one more than the one read from the float's exponent bits; we
/// keep ggml's formula rather than the bit trick to reproduce that. On targets whose `log2f`
/// rounds differently near powers of two, ggml's own bytes differ in the same way. For
/// `amax < 2⁻¹²⁵` the value is negative and the x86 conversion wraps modulo 256, as in ggml.
#[inline]
fn shared_exponent(amax: f32) -> u8 {
    if amax > 0.0 {
        // floorf(l) − 2 + 127 is an exact integer in f32 (|l| ≤ 150), so the conversion is
        // the integer itself, wrapped to the low byte.
        (c_ops::floor_in_range(amax.log2()) - 2 + 127) as u8
    } else {
        0
    }
}

impl BlockFormat for BlockMxfp4 {
    const NAME: &'static str = "mxfp4";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Mxfp4);
    const USES_IMPORTANCE: bool = false;
    /// Holds for blocks with `max |x| ≥ 2⁻¹²⁵` (no exponent wrap-around): with `k` the
    /// exponent (`amax ∈ [2ᵏ, 2ᵏ⁺¹)`, or just below `2ᵏ` where `log2f` rounds up), the scale is
    /// `d = 2ᵏ⁻³`, the largest value is coded as `8d = 2ᵏ` or `12d = 1.5·2ᵏ`, which gives
    /// back `k`, and grid values `kvalues·d` map back to their own index with error 0.
    const REQUANTIZE_STABLE: bool = true;

    /// `quantize_row_mxfp4_ref` (ggml ignores importance weights for `mxfp4`).
    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let (xs, _) = src.as_chunks::<32>();
        for (x, b) in xs.iter().zip(dst) {
            let e = shared_exponent(c_ops::abs_max(x));
            let idx = best_indices(x, e8m0_to_f32_half(e));
            let mut qs = [0u8; 16];
            for j in 0..16 {
                qs[j] = idx[j] | (idx[j + 16] << 4);
            }
            *b = BlockMxfp4 { e, qs };
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = e8m0_to_f32_half(self.e);
        let (lo, hi) = dst.split_at_mut(16);
        for j in 0..16 {
            lo[j] = f32::from(KVALUES_FP4[usize::from(self.qs[j] & 0x0F)]) * d;
            hi[j] = f32::from(KVALUES_FP4[usize::from(self.qs[j] >> 4)]) * d;
        }
    }

    /// `max(2d, amax − 12d) + slack`, with `d = 2^(e − 128)` from the exponent the quantizer
    /// picks.
    ///
    /// The grid is `{0, ±1, ±2, ±3, ±4, ±6, ±8, ±12}·d` (exact products of a power of two);
    /// its largest gap is `4d` (between 8d and 12d), so a value within `±12d` is at most `2d`
    /// from the grid point chosen (`slack` covers f32 roundings in the error comparison that
    /// can flip a near-tie), and a value beyond is clamped to `±12d`.
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        let amax = c_ops::abs_max(src);
        let d = e8m0_to_f32_half(shared_exponent(amax));
        Some((2.0 * d).max(amax - 12.0 * d) + c_ops::slack(amax))
    }
}
