//! `q4_0`: 32 weights, `w = d·(q − 8)` (ggml `block_q4_0`).
//!
//! This file also hosts [`c_ops`], the small C-semantics helpers shared by the legacy block
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
    /// what GCC emits for them too.)
    #[inline(always)]
    pub(crate) fn cvtt(v: f32) -> i32 {
        if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
            v as i32
        } else {
            i32::MIN
        }
    }

    /// `(int)roundf(v)` on x86-64: round half away from zero, then [`cvtt`].
    ///
    /// For `|v| < 2^23`, `v − trunc(v)` is exact in f32, so comparing it with ±0.5 decides the
    /// rounding exactly; for larger `|v|`, `v` is already an integer and the fraction is 0.
    #[inline(always)]
    pub(crate) fn roundf_i32(v: f32) -> i32 {
        let t = cvtt(v);
        if t == i32::MIN {
            // NaN, ±inf, out of range (roundf keeps them, the conversion gives i32::MIN), or
            // exactly -2^31.
            return t;
        }
        let frac = v - t as f32;
        t + i32::from(frac >= 0.5) - i32::from(frac <= -0.5)
    }

    /// `(int)(lroundf(v) + 1)` as in ggml's ternary quantizers on x86-64 glibc: `lroundf` of a
    /// NaN, ±inf or out-of-`long` value returns `(long)v`, i.e. `LONG_MIN`, whose low 32 bits
    /// after `+ 1` are 1.
    #[inline(always)]
    pub(crate) fn lroundf_plus_one(v: f32) -> i32 {
        if v.abs() < 2_147_483_648.0 {
            roundf_i32(v) + 1
        } else if v.abs() < 9.223_372e18 {
            // An integer already; (int) keeps the low 32 bits.
            (v as i64 + 1) as i32
        } else {
            (i64::MIN + 1) as i32
        }
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
        let mut amax = 0.0f32;
        for a in lanes.into_iter().chain(rest.iter().map(|v| v.abs())) {
            if a > amax {
                amax = a;
            }
        }
        amax
    }

    /// ggml's `if (amax < fabsf(v)) { amax = fabsf(v); max = v; }` scan: the largest magnitude
    /// and the signed value of its **first** occurrence; `(0.0, 0.0)` (both `+0`) if every value
    /// is ±0.
    #[inline(always)]
    pub(crate) fn abs_max_signed(x: &[f32]) -> (f32, f32) {
        let amax = abs_max(x);
        if amax == 0.0 {
            return (0.0, 0.0);
        }
        let max = x.iter().copied().find(|v| v.abs() == amax).unwrap_or(0.0);
        (amax, max)
    }

    /// ggml's `min = FLT_MAX; max = -FLT_MAX; if (v < min) min = v; if (v > max) max = v;` scan.
    ///
    /// Values are compared lane-wise (order-independent for finite values); the only thing the
    /// order decides is the sign of a zero minimum or maximum, which is the sign of the first
    /// zero in the block, as in ggml's sequential scan.
    #[inline(always)]
    pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
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
        let mut min = f32::MAX;
        let mut max = -f32::MAX;
        for v in lo.iter().chain(rest) {
            if *v < min {
                min = *v;
            }
        }
        for v in hi.iter().chain(rest) {
            if *v > max {
                max = *v;
            }
        }
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
        sum_x2 / x.len() as f32
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
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut q = [0u8; 32];
    for (q, v) in q.iter_mut().zip(x) {
        // MIN(15, (int8_t)(x*id + 8.5f))
        let t = i32::from(c_ops::cvtt(v * id + 8.5) as i8);
        *q = t.min(15) as u8;
    }
    pack(f16::from_f32(d), &q)
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
    /// scale underflows to 0 (|x| ≲ 5e-7) or overflows are not stable.
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
        let (amax, max) = c_ops::abs_max_signed(src);
        let d = (max / -8.0).abs();
        let d16 = f16::from_f32(d).to_f32();
        Some(d * (1.0 + 1.0 / 1024.0) + 8.0 * (d - d16).abs() + c_ops::slack(amax + 8.0 * d16))
    }
}
