//! Dot products. Each kernel keeps the integer part of a block (or super-block) exact in i32
//! lanes, then accumulates `scale · Σ` in f32 lanes with FMA; only the float summation order
//! differs from the scalar oracle.

use core::arch::x86_64::*;

use half::{bf16, f16};
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0, KVALUES_FP4, KVALUES_IQ4NL,
};

use bytemuck::Pod;

use super::{
    ScaleMasks, UE4M3, arr, bits_to_bytes, dot_i8x32_exact, f16_splat, f16_to_f32, f16x4, hsum_ps,
    ld128, ld128_i8, ld128_u16, ld256, ld256_f32, ld256_i8, ld256_i16, mul_bytes,
    mul_pairs_small_x, nibbles32, trit_plus_one, unpack_k4_scales, unpack_q3k_scales,
    words_to_bytes,
};

/// A 16-entry i8 table in both 128-bit lanes, for `pshufb` lookups by nibble.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn table16(t: &[i8; 16]) -> __m256i {
    let bytes: &[u8; 16] = bytemuck::cast_ref(t);
    _mm256_broadcastsi128_si256(ld128(bytes))
}

/// i16 pair sums to i32 (`madd` with ones: exact, |sum| ≤ 2·32767).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn pairs_to_i32(p: __m256i) -> __m256i {
    _mm256_madd_epi16(p, _mm256_set1_epi16(1))
}

/// `acc + (h·d)·cvt(s)`, with `h` already broadcast ([`f16_splat`]): the same roundings as
/// `fma_block(acc, f32(h) * d, s)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fma_splat(acc: __m256, h: __m256, d: f32, s: __m256i) -> __m256 {
    _mm256_fmadd_ps(
        _mm256_mul_ps(h, _mm256_set1_ps(d)),
        _mm256_cvtepi32_ps(s),
        acc,
    )
}

/// `acc + d·cvt(s)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fma_block(acc: __m256, d: f32, s: __m256i) -> __m256 {
    _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc)
}

// ---------------------------------------------------------------------------------------------
// Float rows.
// ---------------------------------------------------------------------------------------------

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: lengths differ");
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut ca = a.chunks_exact(32);
    let mut cb = b.chunks_exact(32);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for (k, acc) in acc.iter_mut().enumerate() {
            let xv = ld256_f32(arr(x, 8 * k));
            let yv = ld256_f32(arr(y, 8 * k));
            *acc = _mm256_fmadd_ps(xv, yv, *acc);
        }
    }
    let mut rest = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        rest += x * y;
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(s) + rest
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f16: lengths differ");
    let a16: &[u16] = bytemuck::cast_slice(a);
    let b16: &[u16] = bytemuck::cast_slice(b);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut ca = a16.chunks_exact(32);
    let mut cb = b16.chunks_exact(32);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for (k, acc) in acc.iter_mut().enumerate() {
            let xv = _mm256_cvtph_ps(ld128_u16(arr(x, 8 * k)));
            let yv = _mm256_cvtph_ps(ld128_u16(arr(y, 8 * k)));
            *acc = _mm256_fmadd_ps(xv, yv, *acc);
        }
    }
    let mut rest = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        rest += f16_to_f32(f16::from_bits(*x)) * f16_to_f32(f16::from_bits(*y));
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(s) + rest
}

/// 8 bf16 bit patterns to f32 (a shift: exact; NaNs are not canonicalized here, which does not
/// matter for a product that is non-finite anyway).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bf16x8_to_f32(p: &[u16; 8]) -> __m256 {
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(ld128_u16(p))))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_bf16(a: &[bf16], b: &[bf16]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_bf16: lengths differ");
    let a16: &[u16] = bytemuck::cast_slice(a);
    let b16: &[u16] = bytemuck::cast_slice(b);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut ca = a16.chunks_exact(32);
    let mut cb = b16.chunks_exact(32);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for (k, acc) in acc.iter_mut().enumerate() {
            let xv = bf16x8_to_f32(arr(x, 8 * k));
            let yv = bf16x8_to_f32(arr(y, 8 * k));
            *acc = _mm256_fmadd_ps(xv, yv, *acc);
        }
    }
    let mut rest = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        rest += f32::from_bits(u32::from(*x) << 16) * f32::from_bits(u32::from(*y) << 16);
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum_ps(s) + rest
}

// ---------------------------------------------------------------------------------------------
// 32-value formats against Q8_0 / Q8_1.
// ---------------------------------------------------------------------------------------------

/// The loop shared by the 32-value formats, for `N` activation rows at once.
///
/// Per pair of weight blocks: `wscale`/`ascale` give the f32 heads of a weight and an activation
/// block (their product has `d_w·d_a` in lane 0 and, when `MIN`, the block's constant term
/// `m_w·s_a` in lane 1); `prep` unpacks a weight block once; `ints` computes the exact integer dot
/// of an unpacked weight block with an activation block. `scale · Σ` is added with FMA into one of
/// two accumulators per activation row (even and odd blocks). Row `i` of an `N`-row call performs
/// exactly the operations of the one-row call on `a[i]`, so the results are equal bit for bit;
/// the `N`-row call unpacks each weight block once instead of `N` times.
///
/// Scale products stay in registers: an earlier version staged them through a stack buffer and
/// ran 2× slower on AMD Zen whenever that buffer's address aliased the weight rows.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot32_n<W, A, P: Copy, const N: usize, const MIN: bool>(
    w: &[W],
    a: [&[A]; N],
    wscale: impl Fn(&W) -> __m128,
    ascale: impl Fn(&A) -> __m128,
    prep: impl Fn(&W) -> P,
    ints: impl Fn(P, &A) -> __m256i,
) -> [f32; N] {
    for r in &a {
        assert_eq!(w.len(), r.len(), "32-value dot: rows differ in length");
    }
    let mut acc0 = [_mm256_setzero_ps(); N];
    let mut acc1 = [_mm256_setzero_ps(); N];
    let mut accm = [_mm_setzero_ps(); N];
    let pairs = w.len() / 2;
    for k in 0..pairs {
        let (x0, x1) = (&w[2 * k], &w[2 * k + 1]);
        let (h0, h1) = (wscale(x0), wscale(x1));
        let (p0, p1) = (prep(x0), prep(x1));
        for i in 0..N {
            let (y0, y1) = (&a[i][2 * k], &a[i][2 * k + 1]);
            let d0 = _mm_mul_ps(h0, ascale(y0));
            let d1 = _mm_mul_ps(h1, ascale(y1));
            let s0 = ints(p0, y0);
            let s1 = ints(p1, y1);
            acc0[i] = _mm256_fmadd_ps(_mm256_broadcastss_ps(d0), _mm256_cvtepi32_ps(s0), acc0[i]);
            acc1[i] = _mm256_fmadd_ps(_mm256_broadcastss_ps(d1), _mm256_cvtepi32_ps(s1), acc1[i]);
            if MIN {
                accm[i] = _mm_add_ps(accm[i], _mm_add_ps(d0, d1));
            }
        }
    }
    if w.len() % 2 == 1 {
        let x = &w[w.len() - 1];
        let (h, p) = (wscale(x), prep(x));
        for i in 0..N {
            let y = &a[i][w.len() - 1];
            let d0 = _mm_mul_ps(h, ascale(y));
            let s0 = ints(p, y);
            acc0[i] = _mm256_fmadd_ps(_mm256_broadcastss_ps(d0), _mm256_cvtepi32_ps(s0), acc0[i]);
            if MIN {
                accm[i] = _mm_add_ps(accm[i], d0);
            }
        }
    }
    core::array::from_fn(|i| {
        let s = hsum_ps(_mm256_add_ps(acc0[i], acc1[i]));
        if MIN {
            // Lane 1 holds the constant terms (lane 0 the scale products, unused here).
            s + _mm_cvtss_f32(_mm_movehdup_ps(accm[i]))
        } else {
            s
        }
    })
}

/// The f16 values at the start of a block as f32 lanes (`d` in lane 0; Q4_1/Q5_1's `m` or Q8_1's
/// `s` in lane 1).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn head<B: Pod>(x: &B) -> __m128 {
    f16x4(arr(bytemuck::bytes_of(x), 0))
}

/// Q8_0 · Q8_0 on `N` activation rows: both operands are full-range i8 (−128 included), so they
/// are widened to i16 instead of using `maddubs`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_n<const N: usize>(w: &[BlockQ8_0], a: [&[BlockQ8_0]; N]) -> [f32; N] {
    dot32_n::<_, _, _, N, false>(
        w,
        a,
        |x| head(x),
        |x| head(x),
        |x| {
            (
                _mm256_cvtepi8_epi16(ld128_i8(arr(&x.qs, 0))),
                _mm256_cvtepi8_epi16(ld128_i8(arr(&x.qs, 16))),
            )
        },
        |(x0, x1), y| {
            // Every i32 lane is a sum of two products of magnitude ≤ 2^14: exact.
            let y0 = _mm256_cvtepi8_epi16(ld128_i8(arr(&y.qs, 0)));
            let y1 = _mm256_cvtepi8_epi16(ld128_i8(arr(&y.qs, 16)));
            _mm256_add_epi32(_mm256_madd_epi16(x0, y0), _mm256_madd_epi16(x1, y1))
        },
    )
}

/// Q4_0 · Q8_0 on `N` activation rows: `Σ (q − 8)·y = Σ q·y − Σ 8·y` with `q ∈ [0, 15]` unsigned.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_0_n<const N: usize>(w: &[BlockQ4_0], a: [&[BlockQ8_0]; N]) -> [f32; N] {
    let eight = _mm256_set1_epi8(8);
    dot32_n::<_, _, _, N, false>(
        w,
        a,
        |x| head(x),
        |x| head(x),
        |x| nibbles32(&x.qs),
        |q, y| {
            let yv = ld256_i8(&y.qs);
            // Pair sums: q·y ∈ ±2·15·128 = ±3840 and 8·y ∈ ±2048, no saturation; their difference
            // (q − 8)·y ∈ ±2·8·128 fits i16, so the wrapping subtraction is exact.
            let p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, yv), _mm256_maddubs_epi16(eight, yv));
            pairs_to_i32(p)
        },
    )
}

/// Q4_1 · Q8_1 on `N` activation rows: `d_w·d_a·Σ q·y + m_w·s_a` with `q ∈ [0, 15]` unsigned and
/// the activation's stored `s`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_1_n<const N: usize>(w: &[BlockQ4_1], a: [&[BlockQ8_1]; N]) -> [f32; N] {
    dot32_n::<_, _, _, N, true>(
        w,
        a,
        |x| head(x),
        |x| head(x),
        |x| nibbles32(&x.qs),
        // Pair sums q·y ∈ ±2·15·128: no saturation.
        |q, y| pairs_to_i32(_mm256_maddubs_epi16(q, ld256_i8(&y.qs))),
    )
}

/// The 5-bit unsigned quants `q ∈ [0, 31]` of a Q5_0/Q5_1 block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_quants(qs: &[u8; 16], qh: &[u8; 4]) -> __m256i {
    let hb = bits_to_bytes(u32::from_le_bytes(*qh));
    _mm256_or_si256(nibbles32(qs), _mm256_and_si256(hb, _mm256_set1_epi8(0x10)))
}

/// Q5_0 · Q8_0 on `N` activation rows: `Σ (q − 16)·y = Σ q·y − Σ 16·y`, `q ∈ [0, 31]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_0_n<const N: usize>(w: &[BlockQ5_0], a: [&[BlockQ8_0]; N]) -> [f32; N] {
    let sixteen = _mm256_set1_epi8(16);
    dot32_n::<_, _, _, N, false>(
        w,
        a,
        |x| head(x),
        |x| head(x),
        |x| q5_quants(&x.qs, &x.qh),
        |q, y| {
            let yv = ld256_i8(&y.qs);
            // Pair sums: q·y ∈ ±2·31·128 = ±7936, 16·y ∈ ±4096; (q − 16)·y ∈ ±2·16·128 fits i16,
            // so the wrapping subtraction is exact.
            let p = _mm256_sub_epi16(
                _mm256_maddubs_epi16(q, yv),
                _mm256_maddubs_epi16(sixteen, yv),
            );
            pairs_to_i32(p)
        },
    )
}

/// Q5_1 · Q8_1 on `N` activation rows: `d_w·d_a·Σ q·y + m_w·s_a`, `q ∈ [0, 31]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_1_n<const N: usize>(w: &[BlockQ5_1], a: [&[BlockQ8_1]; N]) -> [f32; N] {
    dot32_n::<_, _, _, N, true>(
        w,
        a,
        |x| head(x),
        |x| head(x),
        |x| q5_quants(&x.qs, &x.qh),
        // Pair sums q·y ∈ ±2·31·128: no saturation.
        |q, y| pairs_to_i32(_mm256_maddubs_epi16(q, ld256_i8(&y.qs))),
    )
}

/// IQ4_NL · Q8_0 on `N` activation rows: table values in [−127, 113] (never −128), so
/// `mul_pairs_small_x` is exact.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn iq4nl_n<const N: usize>(w: &[BlockIq4Nl], a: [&[BlockQ8_0]; N]) -> [f32; N] {
    let table = table16(&KVALUES_IQ4NL);
    dot32_n::<_, _, _, N, false>(
        w,
        a,
        |x| head(x),
        |x| head(x),
        |x| _mm256_shuffle_epi8(table, nibbles32(&x.qs)),
        |xv, y| pairs_to_i32(mul_pairs_small_x(xv, ld256_i8(&y.qs))),
    )
}

/// ggml's `GGML_E8M0_TO_FP32_HALF` for every exponent byte.
static E8M0_HALF: [f32; 256] = {
    let mut t = [0.0f32; 256];
    let mut i = 0;
    while i < 256 {
        let bits = if i < 2 {
            0x0020_0000u32 << i
        } else {
            ((i - 1) as u32) << 23
        };
        t[i] = f32::from_bits(bits);
        i += 1;
    }
    t
};

/// MXFP4 · Q8_0 on `N` activation rows: doubled E2M1 values in [−12, 12], `mul_pairs_small_x`
/// is exact.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mxfp4_n<const N: usize>(w: &[BlockMxfp4], a: [&[BlockQ8_0]; N]) -> [f32; N] {
    let table = table16(&KVALUES_FP4);
    dot32_n::<_, _, _, N, false>(
        w,
        a,
        |x| _mm_set_ss(E8M0_HALF[usize::from(x.e)]),
        |x| head(x),
        |x| _mm256_shuffle_epi8(table, nibbles32(&x.qs)),
        |xv, y| pairs_to_i32(mul_pairs_small_x(xv, ld256_i8(&y.qs))),
    )
}

/// One-row and four-row entry points.
macro_rules! dot32_entries {
    ($($one:ident, $four:ident, $n:ident, $w:ty, $a:ty;)*) => {$(
        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) fn $one(w: &[$w], a: &[$a]) -> f32 {
            $n::<1>(w, [a])[0]
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        pub(super) fn $four(w: &[$w], a: [&[$a]; 4]) -> [f32; 4] {
            $n::<4>(w, a)
        }
    )*};
}
dot32_entries! {
    dot_q8_0_q8_0, dot4_q8_0_q8_0, q8_0_n, BlockQ8_0, BlockQ8_0;
    dot_q4_0_q8_0, dot4_q4_0_q8_0, q4_0_n, BlockQ4_0, BlockQ8_0;
    dot_q4_1_q8_1, dot4_q4_1_q8_1, q4_1_n, BlockQ4_1, BlockQ8_1;
    dot_q5_0_q8_0, dot4_q5_0_q8_0, q5_0_n, BlockQ5_0, BlockQ8_0;
    dot_q5_1_q8_1, dot4_q5_1_q8_1, q5_1_n, BlockQ5_1, BlockQ8_1;
    dot_iq4nl_q8_0, dot4_iq4nl_q8_0, iq4nl_n, BlockIq4Nl, BlockQ8_0;
    dot_mxfp4_q8_0, dot4_mxfp4_q8_0, mxfp4_n, BlockMxfp4, BlockQ8_0;
    dot_q4k_q8k, dot4_q4k_q8k, q4k_n, BlockQ4K, BlockQ8K;
    dot_q6k_q8k, dot4_q6k_q8k, q6k_n, BlockQ6K, BlockQ8K;
    dot_q5k_q8k, dot4_q5k_q8k, q5k_n, BlockQ5K, BlockQ8K;
}

/// NVFP4 · Q8_0: one NVFP4 block (4 sub-blocks of 16) against two Q8_0 blocks. Each 32-byte
/// vector covers two sub-blocks (one per 128-bit lane), so the scale vector holds one UE4M3
/// scale per lane.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_nvfp4_q8_0(w: &[BlockNvfp4], a: &[BlockQ8_0]) -> f32 {
    assert_eq!(
        a.len(),
        2 * w.len(),
        "dot_nvfp4_q8_0: rows differ in length"
    );
    let table = table16(&KVALUES_FP4);
    let m4 = _mm_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    for (x, y) in w.iter().zip(a.chunks_exact(2)) {
        for h in 0..2 {
            let q = ld128(arr(&x.qs, 16 * h));
            let lo = _mm_and_si128(q, m4);
            let hi = _mm_and_si128(_mm_srli_epi16::<4>(q), m4);
            // Sub-block 2h: [low nibbles of bytes 0..8, high nibbles of bytes 0..8]; 2h + 1 the
            // same with bytes 8..16.
            let idx = _mm256_set_m128i(_mm_unpackhi_epi64(lo, hi), _mm_unpacklo_epi64(lo, hi));
            let xv = _mm256_shuffle_epi8(table, idx);
            let yb = &y[h];
            let s = pairs_to_i32(mul_pairs_small_x(xv, ld256_i8(&yb.qs)));
            let d0 = UE4M3[usize::from(x.d[2 * h])];
            let d1 = UE4M3[usize::from(x.d[2 * h + 1])];
            let dv = _mm256_mul_ps(
                f16_splat(yb.d),
                _mm256_setr_m128(_mm_set1_ps(d0), _mm_set1_ps(d1)),
            );
            acc = _mm256_fmadd_ps(dv, _mm256_cvtepi32_ps(s), acc);
        }
    }
    hsum_ps(acc)
}

// ---------------------------------------------------------------------------------------------
// 256-value formats against Q8_K.
// ---------------------------------------------------------------------------------------------

/// Q8_K · Q8_K: full-range i8 on both sides, widened to i16. Per super-block the i32 lanes hold
/// at most 32 products of magnitude ≤ 2^14: no overflow.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_q8k_q8k(w: &[BlockQ8K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "dot_q8k_q8k: rows differ in length");
    let mut acc = _mm256_setzero_ps();
    for (x, y) in w.iter().zip(a) {
        let mut s = _mm256_setzero_si256();
        for k in 0..8 {
            s = _mm256_add_epi32(s, dot_i8x32_exact(arr(&x.qs, 32 * k), arr(&y.qs, 32 * k)));
        }
        acc = fma_block(acc, x.d * y.d, s);
    }
    hsum_ps(acc)
}

/// Q2_K · Q8_K: `d·Σ sc·Σ q·y − dmin·Σ m·bsum`, `q ∈ [0, 3]`, `sc, m ∈ [0, 15]`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_q2k_q8k(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "dot_q2k_q8k: rows differ in length");
    let masks = ScaleMasks::new();
    let m3 = _mm256_set1_epi8(3);
    let m4 = _mm_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut accm = _mm256_setzero_ps();
    for (x, y) in w.iter().zip(a) {
        let sc = ld128(&x.scales);
        // Mins: m_j·bsum_j summed in pairs by `madd` (i16×i16 → i32, exact for any bsums).
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(sc), m4));
        let summs = _mm256_madd_epi16(mins, ld256_i16(&y.bsums));
        let scales = _mm256_cvtepu8_epi16(_mm_and_si128(sc, m4));
        let halves = [
            _mm256_permute2x128_si256::<0x00>(scales, scales),
            _mm256_permute2x128_si256::<0x11>(scales, scales),
        ];
        let mut isum = _mm256_setzero_si256();
        for (n, sv) in halves.iter().enumerate() {
            let q = ld256(arr(&x.qs, 32 * n));
            let shifted = [
                q,
                _mm256_srli_epi16::<2>(q),
                _mm256_srli_epi16::<4>(q),
                _mm256_srli_epi16::<6>(q),
            ];
            for (t, qs) in shifted.iter().enumerate() {
                let xq = _mm256_and_si256(*qs, m3);
                let yv = ld256_i8(arr(&y.qs, 128 * n + 32 * t));
                // Pair sums q·y ∈ ±2·3·128: no saturation; times sc ≤ 15 in i32.
                let p = _mm256_maddubs_epi16(xq, yv);
                let s = _mm256_shuffle_epi8(*sv, masks.pair[t]);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
            }
        }
        let yd = y.d;
        acc = fma_splat(acc, f16_splat(x.d), yd, isum);
        accm = fma_splat(accm, f16_splat(x.dmin), yd, summs);
    }
    hsum_ps(acc) - hsum_ps(accm)
}

/// Q3_K · Q8_K: `d·Σ (sc − 32)·Σ (q − 4·[high bit clear])·y`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_q3k_q8k(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "dot_q3k_q8k: rows differ in length");
    let masks = ScaleMasks::new();
    let m3 = _mm256_set1_epi8(3);
    let four = _mm256_set1_epi8(4);
    let zero = _mm256_setzero_si256();
    let mut acc = _mm256_setzero_ps();
    for (x, y) in w.iter().zip(a) {
        let sc_bytes = words_to_bytes(unpack_q3k_scales(&x.scales));
        let sc = _mm_sub_epi8(ld128(&sc_bytes), _mm_set1_epi8(32));
        let scales = _mm256_cvtepi8_epi16(sc);
        let halves = [
            _mm256_permute2x128_si256::<0x00>(scales, scales),
            _mm256_permute2x128_si256::<0x11>(scales, scales),
        ];
        let hm = ld256(&x.hmask);
        let mut isum = _mm256_setzero_si256();
        for (n, sv) in halves.iter().enumerate() {
            let q = ld256(arr(&x.qs, 32 * n));
            let shifted = [
                q,
                _mm256_srli_epi16::<2>(q),
                _mm256_srli_epi16::<4>(q),
                _mm256_srli_epi16::<6>(q),
            ];
            for (t, qs) in shifted.iter().enumerate() {
                let xq = _mm256_and_si256(*qs, m3);
                let bit = _mm256_set1_epi8((1u8 << (4 * n + t)) as i8);
                let clear = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), zero);
                let h4 = _mm256_and_si256(clear, four);
                let yv = ld256_i8(arr(&y.qs, 128 * n + 32 * t));
                // Pair sums: q·y ∈ ±768, h4·y ∈ ±1024; (q − h4)·y ∈ ±2·4·128 fits i16, so the
                // wrapping subtraction is exact.
                let p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(xq, yv), _mm256_maddubs_epi16(h4, yv));
                let s = _mm256_shuffle_epi8(*sv, masks.pair[t]);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
            }
        }
        acc = fma_splat(acc, f16_splat(x.d), y.d, isum);
    }
    hsum_ps(acc)
}

/// Q4_K · Q8_K: `d·Σ sc·Σ q·y − dmin·Σ m·bsum`, `q ∈ [0, 15]`, `sc, m ∈ [0, 63]`.
/// The super-block loop shared by Q4_K and Q5_K on `N` activation rows.
///
/// `head(x)` gives the block's packed 6-bit scales/mins, `d` and `dmin`; `quants(x, j)` the
/// unsigned quants of values `64j..64j+32` and `64j+32..64j+64` (`q ∈ [0, 31]`). Row `i`
/// performs exactly the one-row operations (the integer lanes are exact sums, the float steps
/// are the same), so the results are equal bit for bit, and each weight block's quants and
/// scales are unpacked once for the `N` rows.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn k4_n<B, const N: usize>(
    w: &[B],
    a: [&[BlockQ8K]; N],
    head: impl Fn(&B) -> (&[u8; 12], f16, f16),
    quants: impl Fn(&B, usize) -> (__m256i, __m256i),
) -> [f32; N] {
    for r in &a {
        assert_eq!(w.len(), r.len(), "K-quant dot: rows differ in length");
    }
    let masks = ScaleMasks::new();
    let mut acc = [_mm256_setzero_ps(); N];
    let mut accm = [_mm256_setzero_ps(); N];
    for (k, x) in w.iter().enumerate() {
        let (scales, d, dmin) = head(x);
        let sm = words_to_bytes(unpack_k4_scales(scales));
        let v = ld128(&sm);
        // Mins duplicated per pair of 16-value sums: [m0, m0, m1, m1, …].
        let dup = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
        let mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(v, dup));
        let sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(v));
        let mut isum0 = [_mm256_setzero_si256(); N];
        let mut isum1 = [_mm256_setzero_si256(); N];
        for j in 0..4 {
            let (lo, hi) = quants(x, j);
            let s0 = _mm256_shuffle_epi8(sc, masks.splat[2 * j]);
            let s1 = _mm256_shuffle_epi8(sc, masks.splat[2 * j + 1]);
            for i in 0..N {
                let y = &a[i][k];
                // Pair sums q·y ∈ ±2·31·128: no saturation. Per super-block |Σ sc·q·y| ≤
                // 256·63·31·128 < 2^31.
                let p0 = _mm256_maddubs_epi16(lo, ld256_i8(arr(&y.qs, 64 * j)));
                let p1 = _mm256_maddubs_epi16(hi, ld256_i8(arr(&y.qs, 64 * j + 32)));
                isum0[i] = _mm256_add_epi32(isum0[i], _mm256_madd_epi16(p0, s0));
                isum1[i] = _mm256_add_epi32(isum1[i], _mm256_madd_epi16(p1, s1));
            }
        }
        let (d, dmin) = (f16_splat(d), f16_splat(dmin));
        for i in 0..N {
            let y = &a[i][k];
            // i16×i16 products summed in pairs to i32: exact for any bsums (|m| ≤ 63).
            let summs = _mm256_madd_epi16(mins, ld256_i16(&y.bsums));
            let isum = _mm256_add_epi32(isum0[i], isum1[i]);
            acc[i] = fma_splat(acc[i], d, y.d, isum);
            accm[i] = fma_splat(accm[i], dmin, y.d, summs);
        }
    }
    core::array::from_fn(|i| hsum_ps(acc[i]) - hsum_ps(accm[i]))
}

/// Q4_K · Q8_K on `N` activation rows: `q ∈ [0, 15]`, the two nibbles of each byte.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4k_n<const N: usize>(w: &[BlockQ4K], a: [&[BlockQ8K]; N]) -> [f32; N] {
    let m4 = _mm256_set1_epi8(0x0F);
    k4_n(
        w,
        a,
        |x| (&x.scales, x.d, x.dmin),
        |x, j| {
            let q = ld256(arr(&x.qs, 32 * j));
            let lo = _mm256_and_si256(q, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
            (lo, hi)
        },
    )
}

/// Q5_K · Q8_K on `N` activation rows: as Q4_K with a fifth bit from `qh`, `q ∈ [0, 31]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5k_n<const N: usize>(w: &[BlockQ5K], a: [&[BlockQ8K]; N]) -> [f32; N] {
    let m4 = _mm256_set1_epi8(0x0F);
    let m16 = _mm256_set1_epi8(0x10);
    k4_n(
        w,
        a,
        |x| (&x.scales, x.d, x.dmin),
        |x, j| {
            let qh = ld256(&x.qh);
            let q = ld256(arr(&x.qs, 32 * j));
            let b0 = _mm256_set1_epi8((1u8 << (2 * j)) as i8);
            let b1 = _mm256_set1_epi8((2u8 << (2 * j)) as i8);
            let h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), m16);
            let h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), m16);
            let lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            let hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q), m4), h1);
            (lo, hi)
        },
    )
}

/// Q6_K · Q8_K: `d·Σ sc·Σ (q − 32)·y`, `q ∈ [0, 63]`, `sc` any i8.
/// Q6_K · Q8_K on `N` activation rows (bit-identical per row to the one-row call; the 6-bit
/// quants and scales of each weight block are unpacked once for the `N` rows).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q6k_n<const N: usize>(w: &[BlockQ6K], a: [&[BlockQ8K]; N]) -> [f32; N] {
    for r in &a {
        assert_eq!(w.len(), r.len(), "dot_q6k_q8k: rows differ in length");
    }
    let masks = ScaleMasks::new();
    let m4 = _mm256_set1_epi8(0x0F);
    let m30 = _mm256_set1_epi8(0x30);
    let mut acc = [_mm256_setzero_ps(); N];
    for (k, x) in w.iter().enumerate() {
        let sc_bytes: &[u8; 16] = bytemuck::cast_ref(&x.scales);
        let scales = _mm256_cvtepi8_epi16(ld128(sc_bytes));
        let halves = [
            _mm256_permute2x128_si256::<0x00>(scales, scales),
            _mm256_permute2x128_si256::<0x11>(scales, scales),
        ];
        let mut isum0 = [_mm256_setzero_si256(); N];
        let mut isum1 = [_mm256_setzero_si256(); N];
        for (n, sv) in halves.iter().enumerate() {
            let ql0 = ld256(arr(&x.ql, 64 * n));
            let ql1 = ld256(arr(&x.ql, 64 * n + 32));
            let qh = ld256(arr(&x.qh, 32 * n));
            // Bits 2t, 2t+1 of qh moved to bits 4, 5 (16-bit shifts; the mask drops what crosses
            // a byte boundary).
            let q = [
                _mm256_or_si256(
                    _mm256_and_si256(ql0, m4),
                    _mm256_and_si256(_mm256_slli_epi16::<4>(qh), m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, m4),
                    _mm256_and_si256(_mm256_slli_epi16::<2>(qh), m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                    _mm256_and_si256(qh, m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                    _mm256_and_si256(_mm256_srli_epi16::<2>(qh), m30),
                ),
            ];
            let s: [__m256i; 4] = core::array::from_fn(|t| _mm256_shuffle_epi8(*sv, masks.pair[t]));
            for i in 0..N {
                let y = &a[i][k];
                for t in 0..4 {
                    let yv = ld256_i8(arr(&y.qs, 128 * n + 32 * t));
                    // Pair sums q·y ∈ ±2·63·128 = ±16128: no saturation. Per super-block
                    // |Σ sc·q·y| ≤ 256·128·63·128 < 2^29.
                    let p = _mm256_maddubs_epi16(q[t], yv);
                    if t % 2 == 0 {
                        isum0[i] = _mm256_add_epi32(isum0[i], _mm256_madd_epi16(p, s[t]));
                    } else {
                        isum1[i] = _mm256_add_epi32(isum1[i], _mm256_madd_epi16(p, s[t]));
                    }
                }
            }
        }
        let d = f16_splat(x.d);
        for i in 0..N {
            let y = &a[i][k];
            // Σ sc·(q − 32)·y = Σ sc·q·y − 32·Σ_j sc_j·bsum_j (q8_K's bsums, as ggml): the
            // pairwise products are ≤ 2·128·32767 < 2^24, times 32 < 2^29.
            let offs = _mm256_slli_epi32::<5>(_mm256_madd_epi16(ld256_i16(&y.bsums), scales));
            let isum = _mm256_sub_epi32(_mm256_add_epi32(isum0[i], isum1[i]), offs);
            acc[i] = fma_splat(acc[i], d, y.d, isum);
        }
    }
    core::array::from_fn(|i| hsum_ps(acc[i]))
}

/// IQ4_XS · Q8_K: table values in [−127, 113] (`mul_pairs_small_x` exact), 6-bit scales − 32.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_iq4xs_q8k(w: &[BlockIq4Xs], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "dot_iq4xs_q8k: rows differ in length");
    let table = table16(&KVALUES_IQ4NL);
    let mut acc = _mm256_setzero_ps();
    for (x, y) in w.iter().zip(a) {
        let mut isum0 = _mm256_setzero_si256();
        let mut isum1 = _mm256_setzero_si256();
        let sh = u32::from(x.scales_h);
        for ib in 0..8 {
            let ls = i32::from((x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF)
                | ((((sh >> (2 * ib)) & 3) as i32) << 4);
            let xv = _mm256_shuffle_epi8(table, nibbles32(arr(&x.qs, 16 * ib)));
            let p = mul_pairs_small_x(xv, ld256_i8(arr(&y.qs, 32 * ib)));
            // |Σ (ls − 32)·x·y| per super-block ≤ 256·32·127·128 < 2^31.
            let s = _mm256_madd_epi16(p, _mm256_set1_epi16((ls - 32) as i16));
            if ib % 2 == 0 {
                isum0 = _mm256_add_epi32(isum0, s);
            } else {
                isum1 = _mm256_add_epi32(isum1, s);
            }
        }
        acc = fma_splat(acc, f16_splat(x.d), y.d, _mm256_add_epi32(isum0, isum1));
    }
    hsum_ps(acc)
}

/// TQ2_0 · Q8_K: `Σ (q − 1)·y`, `q ∈ [0, 3]`. The eight i16 pair-sum vectors of a super-block
/// are accumulated in i16: `q − 1 ∈ [−1, 2]`, so a pair sum is in ±2·2·128 = ±512 and eight of
/// them in ±4096.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_tq2_0_q8k(w: &[BlockTq2_0], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "dot_tq2_0_q8k: rows differ in length");
    let m3 = _mm256_set1_epi8(3);
    let mut acc = _mm256_setzero_ps();
    for (x, y) in w.iter().zip(a) {
        // Σ (q − 1)·y = Σ q·y − Σ y, with Σ y from the stored bsums (q8_K's invariant, as ggml).
        let mut s16 = [_mm256_setzero_si256(); 2];
        for j in 0..2 {
            let q = ld256(arr(&x.qs, 32 * j));
            let shifted = [
                q,
                _mm256_srli_epi16::<2>(q),
                _mm256_srli_epi16::<4>(q),
                _mm256_srli_epi16::<6>(q),
            ];
            for (l, qs) in shifted.iter().enumerate() {
                let xq = _mm256_and_si256(*qs, m3);
                let yv = ld256_i8(arr(&y.qs, 128 * j + 32 * l));
                // q·y pair sums ∈ ±2·3·128 = ±768; four of them per lane: ±3072, no overflow.
                s16[l / 2] = _mm256_add_epi16(s16[l / 2], _mm256_maddubs_epi16(xq, yv));
            }
        }
        let sq = _mm256_add_epi32(pairs_to_i32(s16[0]), pairs_to_i32(s16[1]));
        let s = _mm256_sub_epi32(sq, pairs_to_i32(ld256_i16(&y.bsums)));
        acc = fma_splat(acc, f16_splat(x.d), y.d, s);
    }
    hsum_ps(acc)
}

/// TQ1_0 · Q8_K: base-3 digits `((q·3^l mod 256)·3) >> 8`, minus one, in [−1, 1]
/// (`mul_pairs_small_x` exact); pair sums in ±256, eight vectors accumulated in i16 (±2048).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dot_tq1_0_q8k(w: &[BlockTq1_0], a: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), a.len(), "dot_tq1_0_q8k: rows differ in length");
    const POW3: [i16; 5] = [1, 3, 9, 27, 81];
    let p_all: [__m256i; 5] = core::array::from_fn(|l| _mm256_set1_epi16(POW3[l]));
    let p01 = _mm256_set_m128i(_mm_set1_epi16(3), _mm_set1_epi16(1));
    let p23 = _mm256_set_m128i(_mm_set1_epi16(27), _mm_set1_epi16(9));
    let p4h = _mm256_set_m128i(_mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27), _mm_set1_epi16(81));
    let mut acc = _mm256_setzero_ps();
    for (x, y) in w.iter().zip(a) {
        let mut s16 = _mm256_setzero_si256();
        // Bytes 0..32: digit l of byte m is value 32·l + m.
        let q = ld256(arr(&x.qs, 0));
        for (l, p) in p_all.iter().enumerate() {
            let t = trit_plus_one(mul_bytes(q, *p));
            let yv = ld256_i8(arr(&y.qs, 32 * l));
            // (t + 1)·y pair sums ∈ ±2·2·128; eight per lane: ±4096, no overflow.
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(t, yv));
        }
        // Bytes 32..48: digit l of byte m is value 160 + 16·l + m (two digits per vector), and
        // the 4 qh bytes: digit l of byte j is value 240 + 4·l + j (lane 1 of the last vector).
        let q2 = _mm256_broadcastsi128_si256(ld128(arr(&x.qs, 32)));
        let qh = _mm_set1_epi32(i32::from_le_bytes(x.qh.map(|b| b as i8).map(|b| b as u8)));
        let q3 = _mm256_set_m128i(qh, _mm256_castsi256_si128(q2));
        let tail = [(q2, p01, 160), (q2, p23, 192), (q3, p4h, 224)];
        for (v, p, off) in tail {
            let t = trit_plus_one(mul_bytes(v, p));
            let yv = ld256_i8(arr(&y.qs, off));
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(t, yv));
        }
        // Σ t·y = Σ (t + 1)·y − Σ y, with Σ y from the stored bsums (q8_K's invariant).
        let s = _mm256_sub_epi32(pairs_to_i32(s16), pairs_to_i32(ld256_i16(&y.bsums)));
        acc = fma_splat(acc, f16_splat(x.d), y.d, s);
    }
    hsum_ps(acc)
}
