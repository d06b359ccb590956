//! Activation quantizers, byte-identical to the reference (`quantize_row_q8_0_ref`,
//! `quantize_row_q8_1_ref`, `quantize_row_q8_K_ref`): the same f32 operations in the same order,
//! with `roundf` (round half away from zero) and `nearest_int` (round half to even) reproduced
//! exactly.

use core::arch::x86_64::*;

use quant_core::formats::{BlockQ8_0, BlockQ8_1, BlockQ8K};

use super::{arr, arr_mut, f32_to_f16, ld256_f32, st256_i8};

/// Largest `|x|` of 32 values.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn amax32(x: &[f32; 32]) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_setzero_ps();
    for k in 0..4 {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, ld256_f32(arr(x, 8 * k))));
    }
    hmax(m)
}

/// Largest lane (inputs are finite and non-negative here).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hmax(m: __m256) -> f32 {
    let s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
    let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_max_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// `roundf(v)` (ties away from zero) as i32, for `|v| < 2^31`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn roundf_i32(v: __m256) -> __m256i {
    let sign = _mm256_set1_ps(-0.0);
    let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
    // v − trunc(v) is exact (Sterbenz: trunc(v) ≥ v/2 whenever it is non-zero).
    let f = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    let up = _mm256_cmp_ps::<_CMP_GE_OQ>(f, _mm256_set1_ps(0.5));
    let one = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0));
    _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_and_ps(up, one)))
}

/// The low bytes of 4×8 i32 lanes, in order, as 32 bytes (wrapping truncation).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn low_bytes(v: [__m256i; 4]) -> __m256i {
    let m = _mm256_set1_epi32(0xFF);
    let a = _mm256_packus_epi32(_mm256_and_si256(v[0], m), _mm256_and_si256(v[1], m));
    let b = _mm256_packus_epi32(_mm256_and_si256(v[2], m), _mm256_and_si256(v[3], m));
    let c = _mm256_packus_epi16(a, b);
    // The packs interleave 128-bit lanes: dwords are in order 0, 2, 4, 6, 1, 3, 5, 7.
    _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// `(int8_t)roundf(x[i]·id)` for 32 values, stored; returns the i32 lanes too (for sums).
///
/// For a finite `id = 1/(amax/127)`, `|x·id| ≤ 127·(1 + 2^-22)` so the rounded values are in
/// [−127, 127]. For an infinite `id` (amax < 127·2^-128) every `x·id` is ±inf or NaN, which the
/// reference (like ggml on x86) turns into 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn quant32(x: &[f32; 32], id: f32, out: &mut [i8; 32]) -> [__m256i; 4] {
    if !id.is_finite() {
        *out = [0; 32];
        return [_mm256_setzero_si256(); 4];
    }
    let idv = _mm256_set1_ps(id);
    let v: [__m256i; 4] =
        core::array::from_fn(|k| roundf_i32(_mm256_mul_ps(ld256_f32(arr(x, 8 * k)), idv)));
    st256_i8(out, low_bytes(v));
    v
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn quantize_q8_0(src: &[f32], dst: &mut [BlockQ8_0]) {
    assert_eq!(src.len(), dst.len() * 32, "quantize_q8_0: length mismatch");
    for (x, b) in src.chunks_exact(32).zip(dst.iter_mut()) {
        let x: &[f32; 32] = arr(x, 0);
        let amax = amax32(x);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        quant32(x, id, &mut b.qs);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn quantize_q8_1(src: &[f32], dst: &mut [BlockQ8_1]) {
    assert_eq!(src.len(), dst.len() * 32, "quantize_q8_1: length mismatch");
    for (x, b) in src.chunks_exact(32).zip(dst.iter_mut()) {
        let x: &[f32; 32] = arr(x, 0);
        let amax = amax32(x);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        let v = quant32(x, id, &mut b.qs);
        let s = _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
        let sum = super::hsum_epi32(s);
        b.s = f32_to_f16(sum as f32 * d);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn quantize_q8k(src: &[f32], dst: &mut [BlockQ8K]) {
    assert_eq!(src.len(), dst.len() * 256, "quantize_q8k: length mismatch");
    let sign = _mm256_set1_ps(-0.0);
    for (x, b) in src.chunks_exact(256).zip(dst.iter_mut()) {
        let x: &[f32; 256] = arr(x, 0);
        let mut m = _mm256_setzero_ps();
        for k in 0..32 {
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, ld256_f32(arr(x, 8 * k))));
        }
        let amax = hmax(m);
        if amax == 0.0 {
            // The reference writes zero block sums too (ggml leaves them unwritten).
            b.d = 0.0;
            b.qs = [0; 256];
            b.bsums = [0; 16];
            continue;
        }
        // The first value of largest magnitude, with its sign.
        let am = _mm256_set1_ps(amax);
        let mut max = 0.0f32;
        for k in 0..32 {
            let xs: &[f32; 8] = arr(x, 8 * k);
            let eq = _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_andnot_ps(sign, ld256_f32(xs)), am);
            let mask = _mm256_movemask_ps(eq);
            if mask != 0 {
                max = xs[mask.trailing_zeros() as usize];
                break;
            }
        }
        let iscale = -127.0f32 / max;
        let is = _mm256_set1_ps(iscale);
        let magic = _mm256_set1_ps(12_582_912.0);
        for c in 0..8 {
            let v: [__m256i; 4] = core::array::from_fn(|k| {
                let xv = ld256_f32(arr(x, 32 * c + 8 * k));
                // ggml's nearest_int: the low mantissa bits of v + 1.5·2^23, minus 2^22.
                let f = _mm256_add_ps(_mm256_mul_ps(is, xv), magic);
                let i = _mm256_sub_epi32(
                    _mm256_and_si256(_mm256_castps_si256(f), _mm256_set1_epi32(0x007f_ffff)),
                    _mm256_set1_epi32(0x0040_0000),
                );
                _mm256_min_epi32(i, _mm256_set1_epi32(127))
            });
            st256_i8(arr_mut(&mut b.qs, 32 * c), low_bytes(v));
        }
        for (j, s) in b.bsums.iter_mut().enumerate() {
            *s = b.qs[16 * j..16 * j + 16]
                .iter()
                .map(|&q| i16::from(q))
                .sum();
        }
        b.d = 1.0 / iscale;
    }
}
