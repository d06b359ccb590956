//! `q4_0`: 32 weights, `w = d·(q − 8)` (ggml `block_q4_0`).
//!
//! This file also hosts `c_ops`, the small C-semantics helpers shared by the legacy block
//! formats (`q4_0` … `q8_K`, `mxfp4`, `nvfp4`, `tq1_0`, `tq2_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::make_qx_quants;
use crate::{BlockFormat, Format};

/// 32 weights, `w = d·(q − 8)` (ggml `block_q4_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ4_0 {
    /// Scale.
    pub d: f16,
    /// 4-bit quants, nibble order: byte `j` holds value `j` (low) and `j + 16` (high).
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockQ4_0, 18);

/// Helpers that reproduce, in plain safe Rust, what ggml's reference C code does on x86-64
/// (the platform the oracle bytes come from), written so that the compiler can vectorize the
/// loops that call them.
///
/// C converts `float` to an integer type by truncation; for a value that does not fit (only
/// possible here when a block's inverse scale overflows to infinity, e.g. for blocks whose
/// magnitudes are below ~1e-38) the result is undefined behaviour in C, and on x86-64 GCC emits
/// `cvttss2si`, which returns the "integer indefinite" `i32::MIN`. We reproduce that choice, so
/// even those degenerate blocks give ggml's x86 bytes. (ggml's bytes differ between CPUs there;
/// on AArch64 the conversion saturates instead.)
pub(crate) mod c_ops {
    /// `(int)v` as x86-64 compiles it: truncation toward zero; NaN and out-of-range values give
    /// `i32::MIN`. (`(int8_t)v` / `(uint8_t)v` are this followed by taking the low byte, which is
    /// what GCC emits for them too.) Scalar; the quantizers use it only for degenerate blocks.
    #[inline]
    pub(crate) fn cvtt(v: f32) -> i32 {
        if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
            v as i32
        } else {
            i32::MIN
        }
    }

    /// `(int)roundf(v)` on x86-64 for any `v`: round half away from zero, then [`cvtt`]. Scalar;
    /// the quantizers use it only for degenerate blocks.
    #[inline]
    pub(crate) fn roundf_i32(v: f32) -> i32 {
        if v.abs() < 8_388_608.0 {
            // v − trunc(v) is exact below 2²³.
            let t = v as i32;
            let frac = v - t as f32;
            t + i32::from(frac >= 0.5) - i32::from(frac <= -0.5)
        } else {
            // Already an integer (or NaN/inf): roundf keeps it.
            cvtt(v)
        }
    }

    /// `(int)(lroundf(v) + 1)` as in ggml's ternary quantizers on x86-64 glibc, for any `v`:
    /// `lroundf` of a NaN, ±inf or out-of-`long` value returns `(long)v`, i.e. `LONG_MIN`, whose
    /// low 32 bits after `+ 1` are 1. Scalar; used only for degenerate blocks.
    #[inline]
    pub(crate) fn lroundf_plus_one(v: f32) -> i32 {
        if v.abs() < 8_388_608.0 {
            roundf_i32(v) + 1
        } else if v.abs() < 9.223_372e18 {
            // An integer already; (int) keeps the low 32 bits.
            (v as i64 + 1) as i32
        } else {
            (i64::MIN + 1) as i32
        }
    }

    /// `1.5·2²³`: adding it to `|v| < 2²¹` rounds `v` to an integer (ties to even) that can be
    /// read from the low mantissa bits (ggml's `nearest_int` trick).
    const MAGIC: f32 = 12_582_912.0;

    /// `v` rounded to the nearest integer, ties to even, as f32 and as i32, for `|v| < 2²¹`
    /// (the trick itself needs the rounded result inside `(−2²², 2²²)`).
    /// Only float adds and bit operations, so loops over it vectorize (Rust's saturating
    /// `as i32` does not, on x86-64).
    #[inline(always)]
    fn rne(v: f32) -> (f32, i32) {
        let s = v + MAGIC;
        (s - MAGIC, (s.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000)
    }

    /// `floorf(v)` as an integer for `|v| < 2²¹` (no libm call: `floorf` is one on x86-64
    /// without SSE4.1).
    #[inline(always)]
    pub(crate) fn floor_in_range(v: f32) -> i32 {
        let (r, i) = rne(v);
        i - i32::from(r > v)
    }

    /// [`cvtt`] for `0 ≤ v < 2²¹` (truncation is then `floor`), branch-free and vectorizable.
    #[inline(always)]
    pub(crate) fn trunc_nonneg_in_range(v: f32) -> i32 {
        floor_in_range(v)
    }

    /// [`roundf_i32`] (round half away from zero) for `|v| < 2²¹`, branch-free and
    /// vectorizable: round to nearest even, then move the exact ties `v = r ± 0.5` that went
    /// toward zero one step away from it (`v − r` is exact).
    #[inline(always)]
    pub(crate) fn round_in_range(v: f32) -> i32 {
        let (r, i) = rne(v);
        let diff = v - r;
        i + i32::from((diff == 0.5) & (v > 0.0)) - i32::from((diff == -0.5) & (v < 0.0))
    }

    /// `max |x[j]|` (0 for an empty or all-zero slice). Computed lane-wise: the maximum of
    /// finite values does not depend on the order of comparisons.
    #[inline(always)]
    pub(crate) fn abs_max(x: &[f32]) -> f32 {
        let mut lanes = [0.0f32; 8];
        let (chunks, rest) = x.as_chunks::<8>();
        for c in chunks {
            for (m, v) in lanes.iter_mut().zip(c) {
                let a = v.abs();
                *m = if a > *m { a } else { *m };
            }
        }
        let mut amax = reduce8(lanes, |a, b| if b > a { b } else { a });
        for a in rest.iter().map(|v| v.abs()) {
            if a > amax {
                amax = a;
            }
        }
        amax
    }

    /// Tree reduction of 8 lanes (shorter dependency chain than a sequential scan; only used
    /// for `min`/`max`, whose result does not depend on the order).
    #[inline(always)]
    fn reduce8(mut l: [f32; 8], f: impl Fn(f32, f32) -> f32) -> f32 {
        for k in 0..4 {
            l[k] = f(l[k], l[k + 4]);
        }
        for k in 0..2 {
            l[k] = f(l[k], l[k + 2]);
        }
        f(l[0], l[1])
    }

    /// ggml's `if (amax < fabsf(v)) { amax = fabsf(v); max = v; }` scan: the largest magnitude
    /// and the signed value of its **first** occurrence; `(0.0, 0.0)` (both `+0`) if every value
    /// is ±0.
    ///
    /// Computed from the block's largest and smallest values (lane-wise, vectorizable): the
    /// sign is only ambiguous when both `+amax` and `−amax` occur, and only then do we look
    /// for the first one.
    #[inline(always)]
    pub(crate) fn abs_max_signed(x: &[f32]) -> (f32, f32) {
        let (lo, hi) = min_max_values(x);
        let amax = if -lo > hi { -lo } else { hi };
        if amax == 0.0 {
            return (0.0, 0.0);
        }
        let max = match (hi == amax, lo == -amax) {
            (true, false) => hi,
            (false, true) => lo,
            _ => x.iter().copied().find(|v| v.abs() == amax).unwrap_or(0.0),
        };
        (amax, max)
    }

    /// The smallest and largest value, compared lane-wise (the result does not depend on the
    /// order for finite values, except for the sign of a zero result).
    #[inline(always)]
    fn min_max_values(x: &[f32]) -> (f32, f32) {
        let mut lo = [f32::MAX; 8];
        let mut hi = [-f32::MAX; 8];
        let (chunks, rest) = x.as_chunks::<8>();
        for c in chunks {
            for k in 0..8 {
                let v = c[k];
                lo[k] = if v < lo[k] { v } else { lo[k] };
                hi[k] = if v > hi[k] { v } else { hi[k] };
            }
        }
        let mut min = reduce8(lo, |a, b| if b < a { b } else { a });
        let mut max = reduce8(hi, |a, b| if b > a { b } else { a });
        for &v in rest {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        (min, max)
    }

    /// ggml's `min = FLT_MAX; max = -FLT_MAX; if (v < min) min = v; if (v > max) max = v;` scan.
    ///
    /// Values are compared lane-wise (order-independent for finite values); the only thing the
    /// order decides is the sign of a zero minimum or maximum, which is the sign of the first
    /// zero in the block, as in ggml's sequential scan.
    #[inline(always)]
    pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
        let (mut min, mut max) = min_max_values(x);
        if min == 0.0 || max == 0.0 {
            let first_zero = x.iter().copied().find(|v| *v == 0.0).unwrap_or(0.0);
            if min == 0.0 {
                min = first_zero;
            }
            if max == 0.0 {
                max = first_zero;
            }
        }
        (min, max)
    }

    /// Row statistic of ggml's `quantize_row_*_impl`: `sigma2 = Σ x² / n`, summed sequentially
    /// in f32 exactly as ggml does (the order matters for the bytes).
    pub(crate) fn sigma2(x: &[f32]) -> f32 {
        let mut sum_x2 = 0.0f32;
        for v in x {
            sum_x2 += v * v;
        }
        let sigma2 = sum_x2 / x.len() as f32;
        // ggml's f32 sum overflows for rows with |x| ≳ 1.8e19, making every weight of the row
        // infinite and every block's scale NaN (0·inf). Only in that case (ggml's output is
        // garbage there, so there are no bytes to match) saturate to f32::MAX: blocks of
        // moderate values keep finite weights. Finite sums are ggml's exact value.
        if sigma2.is_finite() { sigma2 } else { f32::MAX }
    }

    /// ggml's importance weights of one block: `qw[j] · sqrtf(sigma2 + x[j]²)`.
    #[inline(always)]
    pub(crate) fn block_weights<const N: usize>(
        x: &[f32; N],
        qw: &[f32; N],
        sigma2: f32,
    ) -> [f32; N] {
        let mut w = [0.0f32; N];
        for j in 0..N {
            w[j] = qw[j] * (sigma2 + x[j] * x[j]).sqrt();
        }
        w
    }

    /// Rounding slack added to the analytic error bounds: a few units in the last place of the
    /// magnitudes involved, to cover the f32 roundings of quantization, dequantization and of
    /// the caller's `|x − y|`.
    #[inline]
    pub(crate) fn slack(magnitude: f32) -> f32 {
        8.0 * f32::EPSILON * magnitude
    }
}

/// `quantize_row_q4_0_ref` for one block.
#[inline]
fn quantize_block_ref(x: &[f32; 32]) -> BlockQ4_0 {
    let (_, max) = c_ops::abs_max_signed(x);
    // All-zero blocks: max = +0 so d = -0 (ggml stores 0x8000 whatever the zeros' signs).
    // `max / -8` in ggml; multiplying by the exact reciprocal of a power of two rounds the same
    // real number, so it gives the same f32 (also for subnormal results).
    let d = max * -0.125;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let q = if id.is_finite() {
        // x·id + 8.5 ∈ [0.5 − 2⁻¹⁹, 16.5 + 2⁻¹⁹]: the int8_t cast is a no-op and the vectorizable
        // truncation of a non-negative value is exact.
        // MIN(15, trunc(v)) = trunc(min(v, 15.5)) for v ≥ 0 (a float min is one instruction).
        quants(x, id, |v| {
            c_ops::trunc_nonneg_in_range(if v < 15.5 { v } else { 15.5 }) as u8
        })
    } else {
        // |max| < 8·2⁻¹²⁸: x·id is ±inf or NaN, converted as x86 does.
        quants(x, id, |v| i32::from(c_ops::cvtt(v) as i8).min(15) as u8)
    };
    pack(f16::from_f32(d), &q)
}

/// `MIN(15, (int8_t)(x·id + 8.5f))`, with `conv` doing the `MIN(15, (int8_t)…)` part.
#[inline(always)]
fn quants(x: &[f32; 32], id: f32, conv: impl Fn(f32) -> u8) -> [u8; 32] {
    let mut q = [0u8; 32];
    for (q, v) in q.iter_mut().zip(x) {
        *q = conv(v * id + 8.5);
    }
    q
}

#[inline]
fn pack(d: f16, q: &[u8; 32]) -> BlockQ4_0 {
    let mut qs = [0u8; 16];
    for j in 0..16 {
        qs[j] = q[j] | (q[j + 16] << 4);
    }
    BlockQ4_0 { d, qs }
}

/// `quantize_row_q4_0_impl` with importance weights (one row).
fn quantize_row_imatrix(src: &[f32], imatrix: &[f32], dst: &mut [BlockQ4_0]) {
    let sigma2 = c_ops::sigma2(src);
    let (xs, _) = src.as_chunks::<32>();
    let (ws, _) = imatrix.as_chunks::<32>();
    for ((x, qw), b) in xs.iter().zip(ws).zip(dst) {
        let weight = c_ops::block_weights(x, qw, sigma2);
        let mut l = [0i8; 32];
        let d = make_qx_quants(8, x, &mut l, 1, Some(&weight));
        let mut q = [0u8; 32];
        for (q, l) in q.iter_mut().zip(l) {
            *q = l as u8;
        }
        *b = pack(f16::from_f32(d), &q);
    }
}

impl BlockFormat for BlockQ4_0 {
    const NAME: &'static str = "q4_0";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q4_0);
    const USES_IMPORTANCE: bool = true;
    /// Holds whenever the stored scale `d` is finite and non-zero: the element that set the
    /// scale dequantizes to exactly `−8·d`, which gives back the same `d`, and every other value
    /// dequantizes onto the grid `d·k`, which the quantizer maps back to `k` (relative error of
    /// `x·(1/d)` is ≤ 2⁻²³, far from the rounding boundaries at `k ± 0.5`). Rows whose f16
    /// scale underflows to 0 (max |x| < 8·2⁻²⁵ ≈ 2.4e-7) or overflows are not stable.
    const REQUANTIZE_STABLE: bool = true;

    /// Without importance weights: `quantize_row_q4_0_ref`. With them: ggml's
    /// `quantize_row_q4_0_impl` (weights `qw·sqrt(σ² + x²)`, σ² the mean square of the whole
    /// row, scale searched by `make_qx_quants`).
    fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
        match imatrix {
            None => {
                let (xs, _) = src.as_chunks::<32>();
                for (x, b) in xs.iter().zip(dst) {
                    *b = quantize_block_ref(x);
                }
            }
            Some(w) => quantize_row_imatrix(src, w, dst),
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        let (lo, hi) = dst.split_at_mut(16);
        for j in 0..16 {
            let x0 = i32::from(self.qs[j] & 0x0F) - 8;
            let x1 = i32::from(self.qs[j] >> 4) - 8;
            lo[j] = x0 as f32 * d;
            hi[j] = x1 as f32 * d;
        }
    }

    /// `|d|·(1 + 2⁻¹⁰) + 8·|d − f16(d)| + slack`, with `d = max/−8` the f32 scale.
    ///
    /// Values are rounded to the grid `d·(q − 8)`, `q ∈ 0..=15`: an error of at most `|d|/2`,
    /// except for values of the opposite sign of `max` near `−max`, which would need `q = 16`
    /// and are clamped to 15: error up to `|d|`. (`x·id + 8.5` is rounded to f32 before the
    /// truncation, a relative error ≤ 2⁻²³ of a value ≤ 16.5, covered by the `2⁻¹⁰` margin.)
    /// Storing `d` as f16 moves each of the at most 8 steps by `|d − f16(d)|`, and the
    /// dequantizer's product adds one more rounding (in `slack`).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        if let Some(b) = crate::formats::common::tiny_block_bound(src) {
            return Some(b);
        }
        let (amax, max) = c_ops::abs_max_signed(src);
        let d = (max / -8.0).abs();
        let d16 = f16::from_f32(d).to_f32();
        Some(d * (1.0 + 1.0 / 1024.0) + 8.0 * (d - d16).abs() + c_ops::slack(amax + 8.0 * d16))
    }
}

#[cfg(test)]
mod tests {
    use super::c_ops;

    /// Values around every integer and half-integer in `[-160, 160]` (±0, ±1, ±2 ulp) and a
    /// few large ones below 2²¹: the branch-free conversions must agree with the exact scalar
    /// ones (`f32::round` is C's `roundf`; `as i32` truncates).
    fn probe_values() -> Vec<f32> {
        let mut v = Vec::new();
        for k in -320..=320 {
            let c = k as f32 * 0.5;
            let mut up = c;
            let mut down = c;
            v.push(c);
            for _ in 0..2 {
                up = up.next_up();
                down = down.next_down();
                v.push(up);
                v.push(down);
            }
        }
        for big in [
            2_097_151.5f32,
            -2_097_151.5,
            2_097_151.0,
            1_048_576.5,
            -1_048_575.5,
        ] {
            v.extend([big, big.next_up(), big.next_down()]);
        }
        v.extend([0.0, -0.0, 1e-30, -1e-30, 0.49999997, -0.49999997]);
        v
    }

    #[test]
    fn branch_free_rounding_matches_roundf() {
        for v in probe_values() {
            assert_eq!(c_ops::round_in_range(v), v.round() as i32, "round({v:e})");
            assert_eq!(c_ops::roundf_i32(v), v.round() as i32, "roundf_i32({v:e})");
        }
    }

    #[test]
    fn branch_free_truncation_matches_cast() {
        for v in probe_values() {
            if v >= 0.0 {
                assert_eq!(c_ops::trunc_nonneg_in_range(v), v as i32, "trunc({v:e})");
            }
            assert_eq!(c_ops::cvtt(v), v as i32, "cvtt({v:e})");
        }
    }

    #[test]
    fn x86_conversions_of_non_finite_values() {
        // cvttss2si's "integer indefinite" and glibc's lroundf → LONG_MIN (+1 → low word 1).
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3e9, -3e9] {
            assert_eq!(c_ops::cvtt(v), i32::MIN, "{v}");
            assert_eq!(c_ops::roundf_i32(v), i32::MIN, "{v}");
        }
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e19, -1e19] {
            assert_eq!(c_ops::lroundf_plus_one(v), 1, "{v}");
        }
        assert_eq!(c_ops::lroundf_plus_one(2.5), 4);
        assert_eq!(c_ops::lroundf_plus_one(-2.5), -2);
        assert_eq!(c_ops::lroundf_plus_one(4_294_967_296.0), 1); // 2³² + 1 → low word 1
    }

    #[test]
    fn scans_follow_ggml_order() {
        // First occurrence of the largest magnitude decides the sign.
        let mut x = [0.25f32; 32];
        x[5] = -2.0;
        x[9] = 2.0;
        assert_eq!(c_ops::abs_max_signed(&x), (2.0, -2.0));
        x[2] = 2.0;
        assert_eq!(c_ops::abs_max_signed(&x), (2.0, 2.0));
        let (amax, max) = c_ops::abs_max_signed(&[-0.0f32; 32]);
        assert_eq!((amax.to_bits(), max.to_bits()), (0, 0));
        // A zero minimum keeps the sign of the first zero.
        let mut y = [1.0f32; 32];
        y[3] = -0.0;
        y[7] = 0.0;
        let (min, max) = c_ops::min_max(&y);
        assert_eq!((min.to_bits(), max), ((-0.0f32).to_bits(), 1.0));
        y[1] = 0.0;
        assert_eq!(c_ops::min_max(&y).0.to_bits(), 0);
        let (min, max) = c_ops::min_max(&[-0.0f32; 32]);
        assert_eq!((min.to_bits(), max.to_bits()), (0x8000_0000, 0x8000_0000));
    }
}
