//! Dequantizers, bit-identical to the reference: every value is `scale · q` (or `scale · q ∓
//! min`) with the scale computed in f32 in ggml's order (`d·sc` first, then `· q`), and no FMA.

use core::arch::x86_64::*;

use half::{bf16, f16};
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0, KVALUES_FP4, KVALUES_IQ4NL,
};

use super::{
    UE4M3, arr, arr_mut, bits_to_bytes, e8m0_to_f32_half, f16_to_f32, ld128, ld128_bcast, ld128_i8,
    ld128_u16, ld256, mul_bytes, nibbles32, st256_f32, trit_from_scaled, unpack_k4_scales,
    unpack_q3k_scales, words_to_bytes,
};

/// How a scaled value is finished.
#[derive(Clone, Copy)]
enum Off {
    /// `d·q`
    None,
    /// `d·q + m`
    Add(f32),
    /// `d·q − m`
    Sub(f32),
}

/// 16 i8 values `q` to `out[i] = d·q[i] (± m)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store16(out: &mut [f32; 16], q: __m128i, d: f32, off: Off) {
    store16_bcast(out, _mm256_broadcastsi128_si256(q), d, off);
}

/// As [`store16`], with the 16 bytes already in both 128-bit lanes.
///
/// Each byte is moved to the top of a dword by an in-lane `pshufb` and sign-extended by an
/// arithmetic shift (cheaper on Intel cores than `vpmovsxbd`, which only runs on port 5).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store16_bcast(out: &mut [f32; 16], q: __m256i, d: f32, off: Off) {
    const Z: i8 = -128; // pshufb: zero the byte
    let m0 = _mm256_setr_epi8(
        Z, Z, Z, 0, Z, Z, Z, 1, Z, Z, Z, 2, Z, Z, Z, 3, Z, Z, Z, 4, Z, Z, Z, 5, Z, Z, Z, 6, Z, Z,
        Z, 7,
    );
    let m1 = _mm256_setr_epi8(
        Z, Z, Z, 8, Z, Z, Z, 9, Z, Z, Z, 10, Z, Z, Z, 11, Z, Z, Z, 12, Z, Z, Z, 13, Z, Z, Z, 14, Z,
        Z, Z, 15,
    );
    let dv = _mm256_set1_ps(d);
    let lo = _mm256_cvtepi32_ps(_mm256_srai_epi32::<24>(_mm256_shuffle_epi8(q, m0)));
    let hi = _mm256_cvtepi32_ps(_mm256_srai_epi32::<24>(_mm256_shuffle_epi8(q, m1)));
    let (mut a, mut b) = (_mm256_mul_ps(lo, dv), _mm256_mul_ps(hi, dv));
    match off {
        Off::None => {}
        Off::Add(m) => {
            let mv = _mm256_set1_ps(m);
            a = _mm256_add_ps(a, mv);
            b = _mm256_add_ps(b, mv);
        }
        Off::Sub(m) => {
            let mv = _mm256_set1_ps(m);
            a = _mm256_sub_ps(a, mv);
            b = _mm256_sub_ps(b, mv);
        }
    }
    st256_f32(arr_mut(out, 0), a);
    st256_f32(arr_mut(out, 8), b);
}

/// 32 i8 values (a 256-bit vector) to `out[i] = d·q[i] (± m)`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store32(out: &mut [f32; 32], q: __m256i, d: f32, off: Off) {
    let lo = _mm256_permute2x128_si256::<0x00>(q, q);
    let hi = _mm256_permute2x128_si256::<0x11>(q, q);
    store16_bcast(arr_mut(out, 0), lo, d, off);
    store16_bcast(arr_mut(out, 16), hi, d, off);
}

/// `d · s[i]` for 16 signed bytes `s`, as f32 products (the same IEEE product the reference
/// computes per sub-block, sixteen at a time; later broadcast from memory).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scale16(d: f32, s: __m128i) -> [f32; 16] {
    let dv = _mm256_set1_ps(d);
    let lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(s));
    let hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(s, s)));
    let mut t = [0.0f32; 16];
    st256_f32(arr_mut(&mut t, 0), _mm256_mul_ps(dv, lo));
    st256_f32(arr_mut(&mut t, 8), _mm256_mul_ps(dv, hi));
    t
}

/// A 32-value nibble block (`qs[j]` low nibble = value `j`, high nibble = value `j + 16`) to
/// `out[i] = d·map(q[i]) (± m)`, with the 16 bytes broadcast from memory so that no lane
/// permutation is needed.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store32_nibbles(
    out: &mut [f32; 32],
    qs: &[u8; 16],
    map: impl Fn(__m256i) -> __m256i,
    d: f32,
    off: Off,
) {
    let v = ld128_bcast(qs);
    let m4 = _mm256_set1_epi8(0x0F);
    let lo = _mm256_and_si256(v, m4);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
    store16_bcast(arr_mut(out, 0), map(lo), d, off);
    store16_bcast(arr_mut(out, 16), map(hi), d, off);
}

/// 16 signed bytes broadcast to both 128-bit lanes (from memory: no shuffle).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bcast_i8(p: &[i8; 16]) -> __m256i {
    _mm256_broadcastsi128_si256(ld128_i8(p))
}

/// Split a destination into per-block chunks after checking the length.
#[inline(always)]
#[track_caller]
fn blocks<'a, const N: usize>(
    n_blocks: usize,
    dst: &'a mut [f32],
    what: &str,
) -> impl Iterator<Item = &'a mut [f32; N]> {
    assert_eq!(
        dst.len(),
        n_blocks * N,
        "{what}: destination length mismatch"
    );
    dst.chunks_exact_mut(N).map(|c| arr_mut(c, 0))
}

/// A 16-entry i8 table in both 128-bit lanes, for `pshufb` lookups by nibble.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn table16(t: &[i8; 16]) -> __m256i {
    let bytes: &[u8; 16] = bytemuck::cast_ref(t);
    _mm256_broadcastsi128_si256(ld128(bytes))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q4_0(src: &[BlockQ4_0], dst: &mut [f32]) {
    for (b, out) in src
        .iter()
        .zip(blocks::<32>(src.len(), dst, "dequantize_q4_0"))
    {
        let eight = _mm256_set1_epi8(8);
        let map = |q| _mm256_sub_epi8(q, eight);
        store32_nibbles(out, &b.qs, map, f16_to_f32(b.d), Off::None);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q4_1(src: &[BlockQ4_1], dst: &mut [f32]) {
    for (b, out) in src
        .iter()
        .zip(blocks::<32>(src.len(), dst, "dequantize_q4_1"))
    {
        let m = f16_to_f32(b.m);
        store32_nibbles(out, &b.qs, |q| q, f16_to_f32(b.d), Off::Add(m));
    }
}

/// The 5-bit unsigned quants of a Q5_0/Q5_1 block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_quants(qs: &[u8; 16], qh: &[u8; 4]) -> __m256i {
    let hb = bits_to_bytes(u32::from_le_bytes(*qh));
    _mm256_or_si256(nibbles32(qs), _mm256_and_si256(hb, _mm256_set1_epi8(0x10)))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q5_0(src: &[BlockQ5_0], dst: &mut [f32]) {
    for (b, out) in src
        .iter()
        .zip(blocks::<32>(src.len(), dst, "dequantize_q5_0"))
    {
        let q = _mm256_sub_epi8(q5_quants(&b.qs, &b.qh), _mm256_set1_epi8(16));
        store32(out, q, f16_to_f32(b.d), Off::None);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q5_1(src: &[BlockQ5_1], dst: &mut [f32]) {
    for (b, out) in src
        .iter()
        .zip(blocks::<32>(src.len(), dst, "dequantize_q5_1"))
    {
        let m = f16_to_f32(b.m);
        store32(out, q5_quants(&b.qs, &b.qh), f16_to_f32(b.d), Off::Add(m));
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q8_0(src: &[BlockQ8_0], dst: &mut [f32]) {
    for (b, out) in src
        .iter()
        .zip(blocks::<32>(src.len(), dst, "dequantize_q8_0"))
    {
        let d = f16_to_f32(b.d);
        store16_bcast(arr_mut(out, 0), bcast_i8(arr(&b.qs, 0)), d, Off::None);
        store16_bcast(arr_mut(out, 16), bcast_i8(arr(&b.qs, 16)), d, Off::None);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q8_1(src: &[BlockQ8_1], dst: &mut [f32]) {
    for (b, out) in src
        .iter()
        .zip(blocks::<32>(src.len(), dst, "dequantize_q8_1"))
    {
        let d = f16_to_f32(b.d);
        store16_bcast(arr_mut(out, 0), bcast_i8(arr(&b.qs, 0)), d, Off::None);
        store16_bcast(arr_mut(out, 16), bcast_i8(arr(&b.qs, 16)), d, Off::None);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q8k(src: &[BlockQ8K], dst: &mut [f32]) {
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_q8k"))
    {
        for k in 0..16 {
            store16_bcast(
                arr_mut(out, 16 * k),
                bcast_i8(arr(&b.qs, 16 * k)),
                b.d,
                Off::None,
            );
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_iq4nl(src: &[BlockIq4Nl], dst: &mut [f32]) {
    let table = table16(&KVALUES_IQ4NL);
    for (b, out) in src
        .iter()
        .zip(blocks::<32>(src.len(), dst, "dequantize_iq4nl"))
    {
        let map = |q| _mm256_shuffle_epi8(table, q);
        store32_nibbles(out, &b.qs, map, f16_to_f32(b.d), Off::None);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_mxfp4(src: &[BlockMxfp4], dst: &mut [f32]) {
    let table = table16(&KVALUES_FP4);
    for (b, out) in src
        .iter()
        .zip(blocks::<32>(src.len(), dst, "dequantize_mxfp4"))
    {
        let map = |q| _mm256_shuffle_epi8(table, q);
        store32_nibbles(out, &b.qs, map, e8m0_to_f32_half(b.e), Off::None);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_nvfp4(src: &[BlockNvfp4], dst: &mut [f32]) {
    let m4 = _mm_set1_epi8(0x0F);
    let table = _mm256_castsi256_si128(table16(&KVALUES_FP4));
    for (b, out) in src
        .iter()
        .zip(blocks::<64>(src.len(), dst, "dequantize_nvfp4"))
    {
        for h in 0..2 {
            let q = ld128(arr(&b.qs, 16 * h));
            let lo = _mm_and_si128(q, m4);
            let hi = _mm_and_si128(_mm_srli_epi16::<4>(q), m4);
            for s in 0..2 {
                let idx = if s == 0 {
                    _mm_unpacklo_epi64(lo, hi)
                } else {
                    _mm_unpackhi_epi64(lo, hi)
                };
                let sub = 2 * h + s;
                let d = UE4M3[usize::from(b.d[sub])];
                store16(
                    arr_mut(out, 16 * sub),
                    _mm_shuffle_epi8(table, idx),
                    d,
                    Off::None,
                );
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q2k(src: &[BlockQ2K], dst: &mut [f32]) {
    let m3 = _mm256_set1_epi8(3);
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_q2k"))
    {
        let d = f16_to_f32(b.d);
        let min = f16_to_f32(b.dmin);
        // dl = d·(sc & 0xF), ml = min·(sc >> 4) per 16 values.
        let sc = ld128(&b.scales);
        let dls = scale16(d, _mm_and_si128(sc, _mm_set1_epi8(0x0F)));
        let mls = scale16(
            min,
            _mm_and_si128(_mm_srli_epi16::<4>(sc), _mm_set1_epi8(0x0F)),
        );
        for n in 0..2 {
            let q = ld256(arr(&b.qs, 32 * n));
            let shifted = [
                q,
                _mm256_srli_epi16::<2>(q),
                _mm256_srli_epi16::<4>(q),
                _mm256_srli_epi16::<6>(q),
            ];
            for (j, qs) in shifted.iter().enumerate() {
                let v = _mm256_and_si256(*qs, m3);
                for h in 0..2 {
                    let dl = dls[8 * n + 2 * j + h];
                    let ml = mls[8 * n + 2 * j + h];
                    let half = if h == 0 {
                        _mm256_permute2x128_si256::<0x00>(v, v)
                    } else {
                        _mm256_permute2x128_si256::<0x11>(v, v)
                    };
                    store16_bcast(
                        arr_mut(out, 128 * n + 32 * j + 16 * h),
                        half,
                        dl,
                        Off::Sub(ml),
                    );
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q3k(src: &[BlockQ3K], dst: &mut [f32]) {
    let m3 = _mm256_set1_epi8(3);
    let four = _mm256_set1_epi8(4);
    let zero = _mm256_setzero_si256();
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_q3k"))
    {
        let d_all = f16_to_f32(b.d);
        let scales = words_to_bytes(unpack_q3k_scales(&b.scales));
        // dl = d_all·(sc − 32) per 16 values.
        let dls = scale16(d_all, _mm_sub_epi8(ld128(&scales), _mm_set1_epi8(32)));
        let hm = ld256(&b.hmask);
        for n in 0..2 {
            let q = ld256(arr(&b.qs, 32 * n));
            let shifted = [
                q,
                _mm256_srli_epi16::<2>(q),
                _mm256_srli_epi16::<4>(q),
                _mm256_srli_epi16::<6>(q),
            ];
            for (j, qs) in shifted.iter().enumerate() {
                let bit = _mm256_set1_epi8((1u8 << (4 * n + j)) as i8);
                let clear = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), zero);
                let v = _mm256_sub_epi8(_mm256_and_si256(*qs, m3), _mm256_and_si256(clear, four));
                for h in 0..2 {
                    let dl = dls[8 * n + 2 * j + h];
                    let half = if h == 0 {
                        _mm256_permute2x128_si256::<0x00>(v, v)
                    } else {
                        _mm256_permute2x128_si256::<0x11>(v, v)
                    };
                    store16_bcast(arr_mut(out, 128 * n + 32 * j + 16 * h), half, dl, Off::None);
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q4k(src: &[BlockQ4K], dst: &mut [f32]) {
    let m4 = _mm256_set1_epi8(0x0F);
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_q4k"))
    {
        let d = f16_to_f32(b.d);
        let min = f16_to_f32(b.dmin);
        let sm = words_to_bytes(unpack_k4_scales(&b.scales));
        // d1 = d·sc, m1 = min·m per 32 values (6-bit values: the bytes are non-negative i8).
        let v = ld128(&sm);
        let dms = scale16(d, v);
        let mms = scale16(min, _mm_unpackhi_epi64(v, v));
        for j in 0..4 {
            let q = ld256(arr(&b.qs, 32 * j));
            let lo = _mm256_and_si256(q, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
            for (h, v) in [lo, hi].into_iter().enumerate() {
                let is = 2 * j + h;
                let d1 = dms[is];
                let m1 = mms[is];
                store32(arr_mut(out, 64 * j + 32 * h), v, d1, Off::Sub(m1));
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q5k(src: &[BlockQ5K], dst: &mut [f32]) {
    let m4 = _mm256_set1_epi8(0x0F);
    let m16 = _mm256_set1_epi8(0x10);
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_q5k"))
    {
        let d = f16_to_f32(b.d);
        let min = f16_to_f32(b.dmin);
        let sm = words_to_bytes(unpack_k4_scales(&b.scales));
        // d1 = d·sc, m1 = min·m per 32 values (6-bit values: the bytes are non-negative i8).
        let v = ld128(&sm);
        let dms = scale16(d, v);
        let mms = scale16(min, _mm_unpackhi_epi64(v, v));
        let qh = ld256(&b.qh);
        for j in 0..4 {
            let q = ld256(arr(&b.qs, 32 * j));
            let b0 = _mm256_set1_epi8((1u8 << (2 * j)) as i8);
            let b1 = _mm256_set1_epi8((2u8 << (2 * j)) as i8);
            let h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), m16);
            let h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), m16);
            let lo = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            let hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q), m4), h1);
            for (h, v) in [lo, hi].into_iter().enumerate() {
                let is = 2 * j + h;
                let d1 = dms[is];
                let m1 = mms[is];
                store32(arr_mut(out, 64 * j + 32 * h), v, d1, Off::Sub(m1));
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_q6k(src: &[BlockQ6K], dst: &mut [f32]) {
    let m4 = _mm256_set1_epi8(0x0F);
    let m30 = _mm256_set1_epi8(0x30);
    let m32 = _mm256_set1_epi8(32);
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_q6k"))
    {
        let d = f16_to_f32(b.d);
        // d·sc per 16 values (ggml: `d * sc[is] * q`, the scale product first).
        let dls = scale16(
            d,
            ld128(bytemuck::cast_ref::<[i8; 16], [u8; 16]>(&b.scales)),
        );
        for n in 0..2 {
            let ql0 = ld256(arr(&b.ql, 64 * n));
            let ql1 = ld256(arr(&b.ql, 64 * n + 32));
            let qh = ld256(arr(&b.qh, 32 * n));
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
            for (t, qv) in q.iter().enumerate() {
                let v = _mm256_sub_epi8(*qv, m32);
                for h in 0..2 {
                    let dl = dls[8 * n + 2 * t + h];
                    let half = if h == 0 {
                        _mm256_permute2x128_si256::<0x00>(v, v)
                    } else {
                        _mm256_permute2x128_si256::<0x11>(v, v)
                    };
                    store16_bcast(arr_mut(out, 128 * n + 32 * t + 16 * h), half, dl, Off::None);
                }
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_iq4xs(src: &[BlockIq4Xs], dst: &mut [f32]) {
    let table = table16(&KVALUES_IQ4NL);
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_iq4xs"))
    {
        let d = f16_to_f32(b.d);
        let sh = u32::from(b.scales_h);
        for ib in 0..8 {
            let ls = i32::from((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF)
                | ((((sh >> (2 * ib)) & 3) as i32) << 4);
            let dl = d * (ls - 32) as f32;
            let q = _mm256_shuffle_epi8(table, nibbles32(arr(&b.qs, 16 * ib)));
            store32(arr_mut(out, 32 * ib), q, dl, Off::None);
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_tq2_0(src: &[BlockTq2_0], dst: &mut [f32]) {
    let m3 = _mm256_set1_epi8(3);
    let one = _mm256_set1_epi8(1);
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_tq2_0"))
    {
        let d = f16_to_f32(b.d);
        for j in 0..2 {
            let q = ld256(arr(&b.qs, 32 * j));
            let shifted = [
                q,
                _mm256_srli_epi16::<2>(q),
                _mm256_srli_epi16::<4>(q),
                _mm256_srli_epi16::<6>(q),
            ];
            for (l, qs) in shifted.iter().enumerate() {
                let v = _mm256_sub_epi8(_mm256_and_si256(*qs, m3), one);
                store32(arr_mut(out, 128 * j + 32 * l), v, d, Off::None);
            }
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_tq1_0(src: &[BlockTq1_0], dst: &mut [f32]) {
    const POW3: [i16; 5] = [1, 3, 9, 27, 81];
    let p01 = _mm256_set_m128i(_mm_set1_epi16(3), _mm_set1_epi16(1));
    let p23 = _mm256_set_m128i(_mm_set1_epi16(27), _mm_set1_epi16(9));
    let p4h = _mm256_set_m128i(_mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27), _mm_set1_epi16(81));
    for (b, out) in src
        .iter()
        .zip(blocks::<256>(src.len(), dst, "dequantize_tq1_0"))
    {
        let d = f16_to_f32(b.d);
        let q = ld256(arr(&b.qs, 0));
        for (l, p) in POW3.iter().enumerate() {
            let t = trit_from_scaled(mul_bytes(q, _mm256_set1_epi16(*p)));
            store32(arr_mut(out, 32 * l), t, d, Off::None);
        }
        let q2 = _mm256_broadcastsi128_si256(ld128(arr(&b.qs, 32)));
        let qh = _mm_set1_epi32(i32::from_le_bytes(b.qh));
        let q3 = _mm256_set_m128i(qh, _mm256_castsi256_si128(q2));
        for (v, p, off) in [(q2, p01, 160), (q2, p23, 192), (q3, p4h, 224)] {
            let t = trit_from_scaled(mul_bytes(v, p));
            store32(arr_mut(out, off), t, d, Off::None);
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_f16(src: &[f16], dst: &mut [f32]) {
    assert_eq!(
        dst.len(),
        src.len(),
        "dequantize_f16: destination length mismatch"
    );
    let s16: &[u16] = bytemuck::cast_slice(src);
    let mut cs = s16.chunks_exact(8);
    let mut cd = dst.chunks_exact_mut(8);
    for (s, o) in (&mut cs).zip(&mut cd) {
        st256_f32(arr_mut(o, 0), _mm256_cvtph_ps(ld128_u16(arr(s, 0))));
    }
    for (s, o) in cs.remainder().iter().zip(cd.into_remainder()) {
        *o = f16_to_f32(f16::from_bits(*s));
    }
}

/// bf16 to f32 like `half`: a 16-bit shift, with NaNs quieted (bit 22 set).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn dequantize_bf16(src: &[bf16], dst: &mut [f32]) {
    assert_eq!(
        dst.len(),
        src.len(),
        "dequantize_bf16: destination length mismatch"
    );
    let s16: &[u16] = bytemuck::cast_slice(src);
    let abs = _mm256_set1_epi32(0x7FFF_0000);
    let inf = _mm256_set1_epi32(0x7F80_0000);
    let quiet = _mm256_set1_epi32(0x0040_0000);
    let mut cs = s16.chunks_exact(8);
    let mut cd = dst.chunks_exact_mut(8);
    for (s, o) in (&mut cs).zip(&mut cd) {
        let v = _mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(ld128_u16(arr(s, 0))));
        let nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, abs), inf);
        let v = _mm256_or_si256(v, _mm256_and_si256(nan, quiet));
        st256_f32(arr_mut(o, 0), _mm256_castsi256_ps(v));
    }
    for (s, o) in cs.remainder().iter().zip(cd.into_remainder()) {
        *o = bf16::from_bits(*s).to_f32();
    }
}
