//! Activation quantizers, byte-identical to the reference (`quantize_row_q8_0_ref`,
//! `quantize_row_q8_1_ref`, `quantize_row_q8_K_ref`): the same f32 operations in the same order,
//! with `roundf` (round half away from zero) and `nearest_int` (round half to even) reproduced
//! exactly.

use core::arch::x86_64::*;

use quant_core::formats::{BlockQ8_0, BlockQ8_1, BlockQ8K};

use half::f16;

use super::{arr, arr_mut, f32_to_f16, ld256_f32, ld256_i32, st128_u16, st256_f32, st256_i8};

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

/// `roundf(v)` (ties away from zero) as i32, for `|v| ≤ 200`.
///
/// `trunc(v + copysign(0.5⁻, v))` with `0.5⁻` the float just below ½: adding exactly ½ would
/// round `0.5⁻ + ½` up to 1, and the smaller addend still carries every tie `k + ½` to `k + 1`
/// (the sum `k + 1 − 2^-25` rounds to `k + 1`). Checked exhaustively against `f32::round` for
/// every float with `|v| ≤ 200` (the quants here satisfy `|v| ≤ 127·(1 + 2^-22)`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn roundf_i32(v: __m256) -> __m256i {
    let sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0));
    let half_below = _mm256_or_ps(sign, _mm256_set1_ps(f32::from_bits(0x3EFF_FFFF)));
    _mm256_cvttps_epi32(_mm256_add_ps(v, half_below))
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

/// `d = amax/127`, `id = d ≠ 0 ? 1/d : 0` and `f16(d)` for 8 blocks of 32 values at once (the
/// same IEEE divisions as the reference, eight per instruction).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scales8(x: &[f32; 256]) -> ([f32; 8], [f32; 8], [u16; 8]) {
    let am: [f32; 8] = core::array::from_fn(|b| amax32(arr(x, 32 * b)));
    let d = _mm256_div_ps(ld256_f32(&am), _mm256_set1_ps(127.0));
    let nz = _mm256_cmp_ps::<_CMP_NEQ_UQ>(d, _mm256_setzero_ps());
    let id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0), d), nz);
    let mut ds = [0.0f32; 8];
    let mut ids = [0.0f32; 8];
    st256_f32(&mut ds, d);
    st256_f32(&mut ids, id);
    (ds, ids, f32x8_to_f16(d))
}

/// Eight f32 rounded to f16 (ties to even), as bit patterns.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f32x8_to_f16(v: __m256) -> [u16; 8] {
    let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
    let mut out = [0u16; 8];
    st128_u16(&mut out, h);
    out
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn quantize_q8_0(src: &[f32], dst: &mut [BlockQ8_0]) {
    assert_eq!(src.len(), dst.len() * 32, "quantize_q8_0: length mismatch");
    let mut xs = src.chunks_exact(256);
    let mut bs = dst.chunks_exact_mut(8);
    for (x, b) in (&mut xs).zip(&mut bs) {
        let (_, ids, d16) = scales8(arr(x, 0));
        for k in 0..8 {
            b[k].d = f16::from_bits(d16[k]);
            quant32(arr(x, 32 * k), ids[k], &mut b[k].qs);
        }
    }
    for (x, b) in xs.remainder().chunks_exact(32).zip(bs.into_remainder()) {
        let x: &[f32; 32] = arr(x, 0);
        let d = amax32(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        quant32(x, id, &mut b.qs);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn quantize_q8_1(src: &[f32], dst: &mut [BlockQ8_1]) {
    assert_eq!(src.len(), dst.len() * 32, "quantize_q8_1: length mismatch");
    let mut xs = src.chunks_exact(256);
    let mut bs = dst.chunks_exact_mut(8);
    for (x, b) in (&mut xs).zip(&mut bs) {
        let (ds, ids, d16) = scales8(arr(x, 0));
        let mut sums = [0i32; 8];
        for k in 0..8 {
            b[k].d = f16::from_bits(d16[k]);
            let v = quant32(arr(x, 32 * k), ids[k], &mut b[k].qs);
            sums[k] = quant_sum(v);
        }
        // s = f16((float)sum · d), eight at a time.
        let sf = _mm256_cvtepi32_ps(ld256_i32(&sums));
        let s16 = f32x8_to_f16(_mm256_mul_ps(sf, ld256_f32(&ds)));
        for k in 0..8 {
            b[k].s = f16::from_bits(s16[k]);
        }
    }
    for (x, b) in xs.remainder().chunks_exact(32).zip(bs.into_remainder()) {
        let x: &[f32; 32] = arr(x, 0);
        let d = amax32(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f32_to_f16(d);
        let v = quant32(x, id, &mut b.qs);
        b.s = f32_to_f16(quant_sum(v) as f32 * d);
    }
}

/// Sum of the 32 quants held as 4×8 i32 lanes (|Σ| ≤ 32·127).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn quant_sum(v: [__m256i; 4]) -> i32 {
    let s = _mm256_add_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
    super::hsum_epi32(s)
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
            let q = low_bytes(v);
            st256_i8(arr_mut(&mut b.qs, 32 * c), q);
            // Sums of 16 stored quants: byte pairs (maddubs with 1: exact, |sum| ≤ 256), then
            // quads (madd), then two horizontal adds leave sum(0..16) in lane 0 and
            // sum(16..32) in lane 4. Every sum fits i16 (|Σ| ≤ 16·128).
            let pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), q);
            let quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
            let h = _mm256_hadd_epi32(quads, quads);
            let h = _mm256_hadd_epi32(h, h);
            b.bsums[2 * c] = _mm256_extract_epi32::<0>(h) as i16;
            b.bsums[2 * c + 1] = _mm256_extract_epi32::<4>(h) as i16;
        }
        b.d = 1.0 / iscale;
    }
}
