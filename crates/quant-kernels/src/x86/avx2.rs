//! The AVX2 backend (AVX2 + FMA + F16C).
//!
//! # Design
//! * Every kernel is a private safe `#[target_feature(enable = "avx2,fma,f16c")] fn` in one of
//!   the private submodules `dot` (dot products), `act` (activation quantizers) and `deq`
//!   (dequantizers). Inside them only the pointer intrinsics (loads and stores) need `unsafe`;
//!   they are wrapped once in the helpers of this file, which take references to fixed-size
//!   arrays so the bounds are proven by the type.
//! * On Intel cores the byte shuffles and widenings (`vpmovsx*`, register broadcasts, f16
//!   conversions from registers) all compete for port 5, which bounds the 32-value kernels. The
//!   kernels therefore broadcast scales and bytes from memory (load-only µops), convert f16
//!   through the memory form of `vcvtph2ps`, unpack nibbles with a variable shift instead of a
//!   lane insert, and compute scale products in a separate pass over a chunk of blocks.
//! * The [`Backend`] methods of [`Avx2`] are the only callers; each has one `unsafe` block
//!   justified by the token: an `Avx2` value exists only when [`Avx2::get`] detected the features.
//! * Integer parts are exact for every bit pattern (i8 = −128 included). The multiply-add
//!   `maddubs(u8, i8)` saturates to i16; every use states why its pair sums stay in range. For a
//!   signed weight `x ∈ [−127, 127]` and any activation `y` the kernels compute
//!   `maddubs(|y|, sign(x, y))` (the *activation* goes through `abs`, which is exact as an
//!   unsigned byte even for −128, and the sign is moved onto the weight, whose negation cannot
//!   overflow); ggml's `maddubs(|x|, sign(y, x))` is wrong for `y = −128`. Weights that can be
//!   −128 (q8_0, q8_K) are widened to i16 instead.
//! * Float results differ from the scalar oracle only by summation order. When a result is not
//!   finite (an inf/NaN scale, or overflow) the kernel returns the scalar oracle's result instead,
//!   so the non-finite class (NaN, +inf, −inf) always matches the oracle exactly.

use core::arch::x86_64::*;

use half::{bf16, f16};
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0,
};

use crate::Backend;

mod act;
mod deq;
mod dot;

/// Token proving AVX2, FMA and F16C are available (construct with [`Avx2::get`]).
#[derive(Clone, Copy, Debug)]
pub struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// The backend, if this CPU supports it.
    pub fn get() -> Option<&'static dyn Backend> {
        static TOKEN: Avx2 = Avx2 { _private: () };
        (is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c"))
        .then_some(&TOKEN as &dyn Backend)
    }
}

// ---------------------------------------------------------------------------------------------
// Load/store helpers: the only pointer intrinsics of the backend.
// ---------------------------------------------------------------------------------------------

/// 32 bytes as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld256(p: &[u8; 32]) -> __m256i {
    // SAFETY: `p` refers to 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(p.as_ptr().cast()) }
}

/// 32 signed bytes as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld256_i8(p: &[i8; 32]) -> __m256i {
    // SAFETY: `p` refers to 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(p.as_ptr().cast()) }
}

/// 8 i32 as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld256_i32(p: &[i32; 8]) -> __m256i {
    // SAFETY: `p` refers to 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(p.as_ptr().cast()) }
}

/// Store 8 u16.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn st128_u16(p: &mut [u16; 8], v: __m128i) {
    // SAFETY: `p` refers to 16 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm_storeu_si128(p.as_mut_ptr().cast(), v) }
}

/// 16 i16 as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld256_i16(p: &[i16; 16]) -> __m256i {
    // SAFETY: `p` refers to 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(p.as_ptr().cast()) }
}

/// 16 bytes as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld128(p: &[u8; 16]) -> __m128i {
    // SAFETY: `p` refers to 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(p.as_ptr().cast()) }
}

/// 16 bytes broadcast to both 128-bit lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld128_bcast(p: &[u8; 16]) -> __m256i {
    _mm256_broadcastsi128_si256(ld128(p))
}

/// The first four f16 values of 8 bytes as f32 (lanes 0..4), exact. Reading through memory lets
/// the conversion take its memory form (no port-5 shuffle on Intel cores).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16x4(p: &[u8; 8]) -> __m128 {
    // SAFETY: `p` refers to 8 readable bytes; `loadl_epi64` has no alignment requirement.
    _mm_cvtph_ps(unsafe { _mm_loadl_epi64(p.as_ptr().cast()) })
}

/// 16 signed bytes as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld128_i8(p: &[i8; 16]) -> __m128i {
    // SAFETY: `p` refers to 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(p.as_ptr().cast()) }
}

/// 8 f32 as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld256_f32(p: &[f32; 8]) -> __m256 {
    // SAFETY: `p` refers to 8 readable f32; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_ps(p.as_ptr()) }
}

/// 8 f16/bf16 bit patterns as a vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn ld128_u16(p: &[u16; 8]) -> __m128i {
    // SAFETY: `p` refers to 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(p.as_ptr().cast()) }
}

/// Store 8 f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn st256_f32(p: &mut [f32; 8], v: __m256) {
    // SAFETY: `p` refers to 8 writable f32; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_ps(p.as_mut_ptr(), v) }
}

/// Store 32 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn st256_i8(p: &mut [i8; 32], v: __m256i) {
    // SAFETY: `p` refers to 32 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_si256(p.as_mut_ptr().cast(), v) }
}

/// `&s[o..o + N]` as an array reference (the bounds check folds away for constant offsets).
#[inline(always)]
fn arr<T, const N: usize>(s: &[T], o: usize) -> &[T; N] {
    s[o..o + N].try_into().expect("in bounds")
}

/// `&mut s[o..o + N]` as an array reference.
#[inline(always)]
fn arr_mut<T, const N: usize>(s: &mut [T], o: usize) -> &mut [T; N] {
    (&mut s[o..o + N]).try_into().expect("in bounds")
}

// ---------------------------------------------------------------------------------------------
// Arithmetic helpers.
// ---------------------------------------------------------------------------------------------

/// An f16 bit pattern as f32 (exact, inf/NaN preserved), through F16C.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_to_f32(h: f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h.to_bits()))))
}

/// An f16 broadcast to 8 f32 lanes, for scales inside a dot-product loop.
///
/// `vpbroadcastw` + `vcvtph2ps` write whole registers. [`f16_to_f32`] on a field loaded from
/// memory compiles to a 16-bit insert into whatever vector register LLVM picks (lanes 1..7 are
/// not needed), usually the loop's accumulator: every block then waits for the previous block's
/// FMA, which serialized the K-quant loops at about 15 cycles per super-block on AMD Zen.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_splat(h: f16) -> __m256 {
    _mm256_cvtph_ps(_mm_set1_epi16(h.to_bits() as i16))
}

/// An f32 rounded to the nearest f16 (ties to even), as ggml's `GGML_FP32_TO_FP16`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f32_to_f16(x: f32) -> f16 {
    let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(x));
    f16::from_bits(_mm_extract_epi16::<0>(h) as u16)
}

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Sum of the 8 i32 lanes (wrapping; callers keep it in range).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}

/// Pairwise products `x·y` of a weight `x ∈ [−127, 127]` and any activation `y`, summed in pairs
/// to 16 i16 lanes, exactly.
///
/// `maddubs(|y|, sign(x, y))`: `|y|` read as an unsigned byte is exact for every `y` (|−128| =
/// 0x80 = 128); `sign(x, y) ∈ {x, 0, −x}` cannot overflow because `x ≠ −128`; the product is
/// `x·y`, and a pair sum is at most `2·128·127 = 32512 < 32767`, so the saturation never acts.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_pairs_small_x(x: __m256i, y: __m256i) -> __m256i {
    _mm256_maddubs_epi16(_mm256_abs_epi8(y), _mm256_sign_epi8(x, y))
}

/// `Σ x·y` of two full-range i8 vectors of 32 values, as 8 i32 partial sums, exactly (widened to
/// i16: every i32 lane is a sum of four products of magnitude ≤ 2^14).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_i8x32_exact(x: &[i8; 32], y: &[i8; 32]) -> __m256i {
    let x0 = _mm256_cvtepi8_epi16(ld128_i8(arr(x, 0)));
    let x1 = _mm256_cvtepi8_epi16(ld128_i8(arr(x, 16)));
    let y0 = _mm256_cvtepi8_epi16(ld128_i8(arr(y, 0)));
    let y1 = _mm256_cvtepi8_epi16(ld128_i8(arr(y, 16)));
    _mm256_add_epi32(_mm256_madd_epi16(x0, y0), _mm256_madd_epi16(x1, y1))
}

/// 16 nibbles of `q` to 32 bytes: lane 0 = low nibbles (values 0..16), lane 1 = high nibbles
/// (values 16..32), ggml's nibble order for 32-value blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles32(q: &[u8; 16]) -> __m256i {
    // Broadcast from memory and a per-lane variable shift: no port-5 shuffle on Intel cores.
    // Shifting a dword right by 4 gives byte i the bits (b_i >> 4) | (b_{i+1} << 4); the mask
    // keeps b_i >> 4.
    let both = _mm256_srlv_epi32(ld128_bcast(q), _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// 0xFF in byte `j` where bit `j` of `bits` is set, else 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bits_to_bytes(bits: u32) -> __m256i {
    let v = _mm256_set1_epi32(bits as i32);
    // Byte j takes byte j/8 of `bits` (each 128-bit lane holds a copy of all 4 bytes).
    let shuf = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
        3, 3,
    );
    let b = _mm256_shuffle_epi8(v, shuf);
    let sel = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(b, sel), sel)
}

/// Shuffle masks that pick i16 scales out of a vector holding 8 i16 scales in each 128-bit lane.
///
/// `PAIR[t]`: lane 0 gets scale `2t`, lane 1 gets scale `2t + 1` (16-value sub-blocks, where one
/// 32-byte vector covers two of them). `SPLAT[k]`: both lanes get scale `k`.
struct ScaleMasks {
    pair: [__m256i; 4],
    splat: [__m256i; 8],
}

impl ScaleMasks {
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn new() -> Self {
        let w = |i: i32| (2 * i) | ((2 * i + 1) << 8);
        let pair = core::array::from_fn(|t| {
            let t = t as i32;
            _mm256_set_m128i(
                _mm_set1_epi16(w(2 * t + 1) as i16),
                _mm_set1_epi16(w(2 * t) as i16),
            )
        });
        let splat = core::array::from_fn(|k| _mm256_set1_epi16(w(k as i32) as i16));
        ScaleMasks { pair, splat }
    }
}

/// `−1 + [c ≥ 86] + [c ≥ 171]` per unsigned byte, i.e. `((c·3) >> 8) − 1`: a base-3 digit of
/// TQ1_0 minus one, in [−1, 1].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn trit_from_scaled(c: __m256i) -> __m256i {
    let ge86 = _mm256_cmpeq_epi8(_mm256_max_epu8(c, _mm256_set1_epi8(86)), c);
    let ge171 = _mm256_cmpeq_epi8(_mm256_max_epu8(c, _mm256_set1_epi8(171u8 as i8)), c);
    _mm256_sub_epi8(_mm256_sub_epi8(_mm256_set1_epi8(-1), ge86), ge171)
}

/// `[c ≥ 86] + [c ≥ 171]` per unsigned byte, i.e. `(c·3) >> 8`: a base-3 digit of TQ1_0, in
/// [0, 2] (the stored trit plus one).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn trit_plus_one(c: __m256i) -> __m256i {
    let ge86 = _mm256_cmpeq_epi8(_mm256_max_epu8(c, _mm256_set1_epi8(86)), c);
    let ge171 = _mm256_cmpeq_epi8(_mm256_max_epu8(c, _mm256_set1_epi8(171u8 as i8)), c);
    _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171)
}

/// `(v[i]·p) mod 256` per byte, where `p` holds one multiplier per 16-bit lane (the same for its
/// two bytes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_bytes(v: __m256i, p: __m256i) -> __m256i {
    // Low byte of (lo + 256·hi)·p is lo·p mod 256; (256·hi)·p mod 2^16 has hi·p mod 256 in the
    // high byte and 0 in the low byte.
    let a = _mm256_mullo_epi16(v, p);
    let b = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0xFF00u16 as i16)), p);
    _mm256_or_si256(_mm256_and_si256(a, _mm256_set1_epi16(0x00FF)), b)
}

/// ggml's `GGML_E8M0_TO_FP32_HALF`: `2^(e − 128)`, with the two smallest exponents subnormal.
#[inline]
fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// ggml's `ggml_ue4m3_to_fp32` (NVFP4 sub-block scale, including its factor ½).
const fn ue4m3_to_f32(x: u8) -> f32 {
    if x == 0 || x == 0x7F {
        return 0.0;
    }
    let exp = ((x >> 3) & 0xF) as i32;
    let man = (x & 7) as u32;
    // All values are exact in f32: man·2^-9·½ or (8 + man)·2^(exp − 10)·½.
    if exp == 0 {
        man as f32 * f32::from_bits(((127 - 10) as u32) << 23)
    } else {
        (8 + man) as f32 * f32::from_bits(((127 + exp - 11) as u32) << 23)
    }
}

/// [`ue4m3_to_f32`] for every byte.
static UE4M3: [f32; 256] = {
    let mut t = [0.0f32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ue4m3_to_f32(i as u8);
        i += 1;
    }
    t
};

/// Q4_K/Q5_K's 12 packed bytes as 8 six-bit scales (bytes 0..8) and 8 mins (bytes 8..16).
#[inline(always)]
fn unpack_k4_scales(s: &[u8; 12]) -> [u32; 4] {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let u0 = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    let u1 = u32::from_le_bytes([s[4], s[5], s[6], s[7]]);
    let u2 = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
    let m_hi = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let m_lo = u1 & KMASK1;
    let s_hi = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let s_lo = u0 & KMASK1;
    [s_lo, s_hi, m_lo, m_hi]
}

/// Q3_K's 12 packed bytes as 16 six-bit scales (unsigned, 0..64; subtract 32 for the value).
#[inline(always)]
fn unpack_q3k_scales(s: &[u8; 12]) -> [u32; 4] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let a0 = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    let a1 = u32::from_le_bytes([s[4], s[5], s[6], s[7]]);
    let tmp = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
    [
        (a0 & KMASK2) | ((tmp & KMASK1) << 4),
        (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
    ]
}

/// Bytes of four little-endian u32 words.
#[inline(always)]
fn words_to_bytes(w: [u32; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (i, x) in w.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
    }
    b
}

/// Run `$kernel` (a `#[target_feature]` fn of this backend) and fall back to the scalar oracle
/// when the result is not finite, so NaN/±inf match the oracle's class exactly.
macro_rules! dot_method {
    ($name:ident, $w:ty, $a:ty) => {
        fn $name(&self, w: &[$w], a: &[$a]) -> f32 {
            // SAFETY: an `Avx2` value exists only when `Avx2::get` detected AVX2, FMA and F16C
            // on this CPU, which is everything the kernel's `#[target_feature]` enables.
            let r = unsafe { dot::$name(w, a) };
            if r.is_finite() {
                r
            } else {
                crate::scalar::$name(w, a)
            }
        }
    };
}

/// Forward a four-row dot product to its `#[target_feature]` kernel; a non-finite result is
/// recomputed by the one-row method (as that method does), so `out[i] == self.dot(w, a[i])`
/// bit for bit.
macro_rules! dot4_method {
    ($name:ident, $one:ident, $w:ty, $a:ty) => {
        fn $name(&self, w: &[$w], a: [&[$a]; 4]) -> [f32; 4] {
            // SAFETY: an `Avx2` value exists only when `Avx2::get` detected AVX2, FMA and F16C
            // on this CPU, which is everything the kernel's `#[target_feature]` enables.
            let r = unsafe { dot::$name(w, a) };
            core::array::from_fn(|i| {
                if r[i].is_finite() {
                    r[i]
                } else {
                    crate::scalar::$one(w, a[i])
                }
            })
        }
    };
}

/// Forward a quantizer or dequantizer to its `#[target_feature]` kernel.
macro_rules! conv_method {
    ($module:ident, $name:ident, $src:ty, $dst:ty) => {
        fn $name(&self, src: &[$src], dst: &mut [$dst]) {
            // SAFETY: an `Avx2` value exists only when `Avx2::get` detected AVX2, FMA and F16C
            // on this CPU, which is everything the kernel's `#[target_feature]` enables.
            unsafe { $module::$name(src, dst) }
        }
    };
}

impl Backend for Avx2 {
    fn name(&self) -> &'static str {
        "avx2"
    }

    dot_method!(dot_f32, f32, f32);
    dot_method!(dot_f16, f16, f16);
    dot_method!(dot_bf16, bf16, bf16);

    dot_method!(dot_q4_0_q8_0, BlockQ4_0, BlockQ8_0);
    dot_method!(dot_q4_1_q8_1, BlockQ4_1, BlockQ8_1);
    dot_method!(dot_q5_0_q8_0, BlockQ5_0, BlockQ8_0);
    dot_method!(dot_q5_1_q8_1, BlockQ5_1, BlockQ8_1);
    dot_method!(dot_q8_0_q8_0, BlockQ8_0, BlockQ8_0);
    dot4_method!(dot4_q4_0_q8_0, dot_q4_0_q8_0, BlockQ4_0, BlockQ8_0);
    dot4_method!(dot4_q4_1_q8_1, dot_q4_1_q8_1, BlockQ4_1, BlockQ8_1);
    dot4_method!(dot4_q5_0_q8_0, dot_q5_0_q8_0, BlockQ5_0, BlockQ8_0);
    dot4_method!(dot4_q5_1_q8_1, dot_q5_1_q8_1, BlockQ5_1, BlockQ8_1);
    dot4_method!(dot4_q8_0_q8_0, dot_q8_0_q8_0, BlockQ8_0, BlockQ8_0);
    dot4_method!(dot4_iq4nl_q8_0, dot_iq4nl_q8_0, BlockIq4Nl, BlockQ8_0);
    dot4_method!(dot4_mxfp4_q8_0, dot_mxfp4_q8_0, BlockMxfp4, BlockQ8_0);
    dot4_method!(dot4_q4k_q8k, dot_q4k_q8k, BlockQ4K, BlockQ8K);
    dot4_method!(dot4_q5k_q8k, dot_q5k_q8k, BlockQ5K, BlockQ8K);
    dot4_method!(dot4_q6k_q8k, dot_q6k_q8k, BlockQ6K, BlockQ8K);
    dot_method!(dot_q2k_q8k, BlockQ2K, BlockQ8K);
    dot_method!(dot_q3k_q8k, BlockQ3K, BlockQ8K);
    dot_method!(dot_q4k_q8k, BlockQ4K, BlockQ8K);
    dot_method!(dot_q5k_q8k, BlockQ5K, BlockQ8K);
    dot_method!(dot_q6k_q8k, BlockQ6K, BlockQ8K);
    dot_method!(dot_q8k_q8k, BlockQ8K, BlockQ8K);
    dot_method!(dot_iq4nl_q8_0, BlockIq4Nl, BlockQ8_0);
    dot_method!(dot_iq4xs_q8k, BlockIq4Xs, BlockQ8K);
    dot_method!(dot_mxfp4_q8_0, BlockMxfp4, BlockQ8_0);
    dot_method!(dot_nvfp4_q8_0, BlockNvfp4, BlockQ8_0);
    dot_method!(dot_tq1_0_q8k, BlockTq1_0, BlockQ8K);
    dot_method!(dot_tq2_0_q8k, BlockTq2_0, BlockQ8K);

    conv_method!(act, quantize_q8_0, f32, BlockQ8_0);
    conv_method!(act, quantize_q8_1, f32, BlockQ8_1);
    conv_method!(act, quantize_q8k, f32, BlockQ8K);

    conv_method!(deq, dequantize_q4_0, BlockQ4_0, f32);
    conv_method!(deq, dequantize_q4_1, BlockQ4_1, f32);
    conv_method!(deq, dequantize_q5_0, BlockQ5_0, f32);
    conv_method!(deq, dequantize_q5_1, BlockQ5_1, f32);
    conv_method!(deq, dequantize_q8_0, BlockQ8_0, f32);
    conv_method!(deq, dequantize_q8_1, BlockQ8_1, f32);
    conv_method!(deq, dequantize_q2k, BlockQ2K, f32);
    conv_method!(deq, dequantize_q3k, BlockQ3K, f32);
    conv_method!(deq, dequantize_q4k, BlockQ4K, f32);
    conv_method!(deq, dequantize_q5k, BlockQ5K, f32);
    conv_method!(deq, dequantize_q6k, BlockQ6K, f32);
    conv_method!(deq, dequantize_q8k, BlockQ8K, f32);
    conv_method!(deq, dequantize_iq4nl, BlockIq4Nl, f32);
    conv_method!(deq, dequantize_iq4xs, BlockIq4Xs, f32);
    conv_method!(deq, dequantize_mxfp4, BlockMxfp4, f32);
    conv_method!(deq, dequantize_nvfp4, BlockNvfp4, f32);
    conv_method!(deq, dequantize_tq1_0, BlockTq1_0, f32);
    conv_method!(deq, dequantize_tq2_0, BlockTq2_0, f32);
    conv_method!(deq, dequantize_f16, f16, f32);
    conv_method!(deq, dequantize_bf16, bf16, f32);
}
