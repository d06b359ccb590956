//! The scalar backend: safe, portable code that is the oracle for every other backend.
//!
//! Dot products follow the expression order of ggml's `ggml_vec_dot_*_generic` kernels
//! (`ggml-cpu/quants.c`) in f32 without fused multiply-add, so they reproduce ggml's scalar results
//! bit for bit. Integer partial sums are `i32` (exact for every bit pattern of the blocks: the
//! largest possible magnitude is far below 2³¹); every f32 accumulator starts at `+0.0`, as ggml's
//! `float sumf = 0`.
//!
//! The plain-float dots (`dot_f32`, `dot_f16`, `dot_bf16`) accumulate sequentially, left to right,
//! in f32 (f16/bf16 values are widened to f32 exactly first); SIMD backends use other orders and
//! are compared with a tolerance.
//!
//! `q8_K · q8_K` has no ggml counterpart; it is defined here as
//! `sumf += (d_w·d_a)·Σ q_w·q_a` per super-block (the `q8_0` order).
//!
//! Activation quantizers and dequantizers delegate to quant-core's reference code.
#![forbid(unsafe_code)]
// Index loops mirror ggml's C code one to one, which is the point of this module.
#![allow(clippy::needless_range_loop)]

use half::{bf16, f16};
use quant_core::BlockFormat;
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0, KVALUES_FP4, KVALUES_IQ4NL,
};

use crate::Backend;

/// The portable backend (always available).
#[derive(Clone, Copy, Debug, Default)]
pub struct Scalar;

impl Backend for Scalar {
    fn name(&self) -> &'static str {
        "scalar"
    }
}

/// Panic unless `w` and `a` hold the same number of values.
#[inline]
#[track_caller]
fn check_rows<W: BlockFormat, A: BlockFormat>(w: &[W], a: &[A]) {
    assert_eq!(
        w.len() * W::BLOCK_LEN,
        a.len() * A::BLOCK_LEN,
        "dot product of a {} row with a {} row of a different length",
        W::NAME,
        A::NAME
    );
}

/// ggml's `GGML_E8M0_TO_FP32_HALF`: `2^(e − 128)` (half the E8M0 scale), exact for every byte.
#[inline]
pub fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// ggml's `ggml_ue4m3_to_fp32`: an unsigned E4M3 scale times 0.5 (bit 7 ignored; `0x00` and `0x7F`
/// give 0). Exact for every byte.
#[inline]
pub fn ue4m3_to_f32_half(x: u8) -> f32 {
    if x == 0 || x == 0x7F {
        return 0.0;
    }
    let exp = i32::from((x >> 3) & 0xF);
    let man = f32::from(x & 7);
    let raw = if exp == 0 {
        man * pow2(-9)
    } else {
        (1.0 + man / 8.0) * pow2(exp - 7)
    };
    raw * 0.5
}

/// `2^k` for a normal exponent `k` (exact).
#[inline]
fn pow2(k: i32) -> f32 {
    debug_assert!((-126..=127).contains(&k));
    f32::from_bits(((k + 127) as u32) << 23)
}

/// `Σ a[i]·b[i]`, accumulated sequentially from `+0.0`.
///
/// # Panics
/// If the lengths differ.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x * y;
    }
    sum
}

/// `Σ a[i]·b[i]` over f16, each value widened to f32, accumulated sequentially in f32.
///
/// # Panics
/// If the lengths differ.
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x.to_f32() * y.to_f32();
    }
    sum
}

/// `Σ a[i]·b[i]` over bf16, each value widened to f32, accumulated sequentially in f32.
///
/// # Panics
/// If the lengths differ.
pub fn dot_bf16(a: &[bf16], b: &[bf16]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x.to_f32() * y.to_f32();
    }
    sum
}

/// Reference dot product `BlockQ4_0` · `BlockQ8_0` (`sumf += (Σq·d_w)·d_a`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..16 {
            let v0 = i32::from(x.qs[j] & 0x0F) - 8;
            let v1 = i32::from(x.qs[j] >> 4) - 8;
            sumi0 += v0 * i32::from(y.qs[j]);
            sumi1 += v1 * i32::from(y.qs[j + 16]);
        }
        let sumi = sumi0 + sumi1;
        sumf += sumi as f32 * x.d.to_f32() * y.d.to_f32();
    }
    sumf
}

/// Reference dot product `BlockQ4_1` · `BlockQ8_1` (`sumf += (d_w·d_a)·Σq + m_w·s_a`, with the
/// activation's stored block sum `s`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..16 {
            let v0 = i32::from(x.qs[j] & 0x0F);
            let v1 = i32::from(x.qs[j] >> 4);
            sumi0 += v0 * i32::from(y.qs[j]);
            sumi1 += v1 * i32::from(y.qs[j + 16]);
        }
        let sumi = sumi0 + sumi1;
        sumf += (x.d.to_f32() * y.d.to_f32()) * sumi as f32 + x.m.to_f32() * y.s.to_f32();
    }
    sumf
}

/// Reference dot product `BlockQ5_0` · `BlockQ8_0` (`sumf += (d_w·d_a)·Σq`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q5_0_q8_0(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let qh = u32::from_le_bytes(x.qh);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..16 {
            let xh0 = (((qh >> j) & 1) << 4) as u8;
            let xh1 = (((qh >> (j + 16)) & 1) << 4) as u8;
            let x0 = i32::from((x.qs[j] & 0x0F) | xh0) - 16;
            let x1 = i32::from((x.qs[j] >> 4) | xh1) - 16;
            sumi0 += x0 * i32::from(y.qs[j]);
            sumi1 += x1 * i32::from(y.qs[j + 16]);
        }
        let sumi = sumi0 + sumi1;
        sumf += (x.d.to_f32() * y.d.to_f32()) * sumi as f32;
    }
    sumf
}

/// Reference dot product `BlockQ5_1` · `BlockQ8_1` (`sumf += (d_w·d_a)·Σq + m_w·s_a`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q5_1_q8_1(w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let qh = u32::from_le_bytes(x.qh);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..16 {
            let xh0 = (((qh >> j) & 1) << 4) as u8;
            let xh1 = (((qh >> (j + 16)) & 1) << 4) as u8;
            let x0 = i32::from((x.qs[j] & 0x0F) | xh0);
            let x1 = i32::from((x.qs[j] >> 4) | xh1);
            sumi0 += x0 * i32::from(y.qs[j]);
            sumi1 += x1 * i32::from(y.qs[j + 16]);
        }
        let sumi = sumi0 + sumi1;
        sumf += (x.d.to_f32() * y.d.to_f32()) * sumi as f32 + x.m.to_f32() * y.s.to_f32();
    }
    sumf
}

/// Reference dot product `BlockQ8_0` · `BlockQ8_0` (`sumf += Σq·(d_w·d_a)`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut sumi = 0i32;
        for j in 0..32 {
            sumi += i32::from(x.qs[j]) * i32::from(y.qs[j]);
        }
        sumf += sumi as f32 * (x.d.to_f32() * y.d.to_f32());
    }
    sumf
}

/// Reference dot product `BlockQ2K` · `BlockQ8K`
/// (`sumf += (d_a·d_w)·Σ sc·q·a − (d_a·dmin_w)·Σ m·bsum` per super-block).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q2k_q8k(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let sc = &x.scales;
        let mut summs = 0i32;
        for j in 0..16 {
            summs += i32::from(y.bsums[j]) * i32::from(sc[j] >> 4);
        }
        let dall = y.d * x.d.to_f32();
        let dmin = y.d * x.dmin.to_f32();
        let mut isum = 0i32;
        let mut is = 0;
        for k in 0..2 {
            let q2 = &x.qs[32 * k..32 * k + 32];
            for (j, shift) in [0u32, 2, 4, 6].into_iter().enumerate() {
                let q8 = &y.qs[128 * k + 32 * j..128 * k + 32 * j + 32];
                for half in 0..2 {
                    let d = i32::from(sc[is] & 0xF);
                    is += 1;
                    let mut isuml = 0i32;
                    for l in 16 * half..16 * half + 16 {
                        isuml += i32::from(q8[l]) * i32::from((q2[l] >> shift) & 3);
                    }
                    isum += d * isuml;
                }
            }
        }
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// Unpack the 16 six-bit scales of a q3_K block (ggml's `kmask` shuffle).
#[inline]
fn q3k_scales(scales: &[u8; 12]) -> [i8; 16] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let a0 = u32::from_le_bytes([scales[0], scales[1], scales[2], scales[3]]);
    let a1 = u32::from_le_bytes([scales[4], scales[5], scales[6], scales[7]]);
    let tmp = u32::from_le_bytes([scales[8], scales[9], scales[10], scales[11]]);
    let aux = [
        (a0 & KMASK2) | ((tmp & KMASK1) << 4),
        (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
    ];
    let mut out = [0i8; 16];
    for (i, word) in aux.iter().enumerate() {
        for (k, b) in word.to_le_bytes().into_iter().enumerate() {
            out[4 * i + k] = b as i8;
        }
    }
    out
}

/// Unpack the 8 six-bit scales and 8 six-bit mins of a q4_K / q5_K block.
#[inline]
fn q4k_scales_mins(scales: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let u0 = u32::from_le_bytes([scales[0], scales[1], scales[2], scales[3]]);
    let u1 = u32::from_le_bytes([scales[4], scales[5], scales[6], scales[7]]);
    let u2 = u32::from_le_bytes([scales[8], scales[9], scales[10], scales[11]]);
    let t3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
    let t2 = u1 & KMASK1;
    let t1 = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
    let t0 = u0 & KMASK1;
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    sc[..4].copy_from_slice(&t0.to_le_bytes());
    sc[4..].copy_from_slice(&t1.to_le_bytes());
    mn[..4].copy_from_slice(&t2.to_le_bytes());
    mn[4..].copy_from_slice(&t3.to_le_bytes());
    (sc, mn)
}

/// ggml's 8-lane integer accumulation of the K-quant generic kernels: lane `l` sums
/// `scale(g)·q8[i]·a[i]` over every `i ≡ l (mod 8)`, where `g = i / group` names the scale.
#[inline]
fn lanes8(q8: &[i8; 256], a: &[i8; 256], group: usize, scale: impl Fn(usize) -> i32) -> [i32; 8] {
    let mut aux32 = [0i32; 8];
    for (c, (q, v)) in q8.chunks_exact(8).zip(a.chunks_exact(8)).enumerate() {
        let s = scale(c * 8 / group);
        for l in 0..8 {
            aux32[l] += s * (i32::from(q[l]) * i32::from(v[l]));
        }
    }
    aux32
}

/// Reference dot product `BlockQ3K` · `BlockQ8K` (ggml's 8 float lanes, summed at the end).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q3k_q8k(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sums = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        let mut aux8 = [0i8; 256];
        let mut m = 1u8;
        for j in 0..2 {
            let q3 = &x.qs[32 * j..32 * j + 32];
            for s in 0..4 {
                let out = &mut aux8[128 * j + 32 * s..128 * j + 32 * s + 32];
                for l in 0..32 {
                    let lo = ((q3[l] >> (2 * s)) & 3) as i8;
                    out[l] = lo - if x.hmask[l] & m != 0 { 0 } else { 4 };
                }
                m = m.wrapping_shl(1);
            }
        }
        let scales = q3k_scales(&x.scales);
        let aux32 = lanes8(&y.qs, &aux8, 16, |g| i32::from(scales[g]) - 32);
        let d = x.d.to_f32() * y.d;
        for l in 0..8 {
            sums[l] += d * aux32[l] as f32;
        }
    }
    let mut sumf = 0.0f32;
    for s in sums {
        sumf += s;
    }
    sumf
}

/// Reference dot product `BlockQ4K` · `BlockQ8K` (ggml's 8 float lanes plus a running min term).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q4k_q8k(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sums = [0.0f32; 8];
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut aux8 = [0i8; 256];
        for j in 0..4 {
            let q4 = &x.qs[32 * j..32 * j + 32];
            for l in 0..32 {
                aux8[64 * j + l] = (q4[l] & 0xF) as i8;
                aux8[64 * j + 32 + l] = (q4[l] >> 4) as i8;
            }
        }
        let (scales, mins) = q4k_scales_mins(&x.scales);
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += i32::from(y.bsums[j]) * i32::from(mins[j / 2]);
        }
        let aux32 = lanes8(&y.qs, &aux8, 32, |g| i32::from(scales[g]));
        let d = x.d.to_f32() * y.d;
        for l in 0..8 {
            sums[l] += d * aux32[l] as f32;
        }
        let dmin = x.dmin.to_f32() * y.d;
        sumf -= dmin * sumi as f32;
    }
    for s in sums {
        sumf += s;
    }
    sumf
}

/// Reference dot product `BlockQ5K` · `BlockQ8K` (as q4_K with the fifth bit from `qh`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q5k_q8k(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sums = [0.0f32; 8];
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut aux8 = [0i8; 256];
        let mut m = 1u8;
        for j in 0..4 {
            let q4 = &x.qs[32 * j..32 * j + 32];
            for l in 0..32 {
                let h = if x.qh[l] & m != 0 { 16 } else { 0 };
                aux8[64 * j + l] = (q4[l] & 0xF) as i8 + h;
            }
            m = m.wrapping_shl(1);
            for l in 0..32 {
                let h = if x.qh[l] & m != 0 { 16 } else { 0 };
                aux8[64 * j + 32 + l] = (q4[l] >> 4) as i8 + h;
            }
            m = m.wrapping_shl(1);
        }
        let (scales, mins) = q4k_scales_mins(&x.scales);
        let mut sumi = 0i32;
        for j in 0..16 {
            sumi += i32::from(y.bsums[j]) * i32::from(mins[j / 2]);
        }
        let aux32 = lanes8(&y.qs, &aux8, 32, |g| i32::from(scales[g]));
        let d = x.d.to_f32() * y.d;
        for l in 0..8 {
            sums[l] += d * aux32[l] as f32;
        }
        let dmin = x.dmin.to_f32() * y.d;
        sumf -= dmin * sumi as f32;
    }
    for s in sums {
        sumf += s;
    }
    sumf
}

/// Reference dot product `BlockQ6K` · `BlockQ8K` (ggml's 8 float lanes, summed at the end).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q6k_q8k(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sums = [0.0f32; 8];
    for (x, y) in w.iter().zip(a) {
        let mut aux8 = [0i8; 256];
        for c in 0..2 {
            let q4 = &x.ql[64 * c..64 * c + 64];
            let qh = &x.qh[32 * c..32 * c + 32];
            let out = &mut aux8[128 * c..128 * c + 128];
            for l in 0..32 {
                out[l] = ((q4[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
                out[l + 32] = ((q4[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                out[l + 64] = ((q4[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                out[l + 96] = ((q4[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            }
        }
        let aux32 = lanes8(&y.qs, &aux8, 16, |g| i32::from(x.scales[g]));
        let d = x.d.to_f32() * y.d;
        for l in 0..8 {
            sums[l] += d * aux32[l] as f32;
        }
    }
    let mut sumf = 0.0f32;
    for s in sums {
        sumf += s;
    }
    sumf
}

/// Reference dot product `BlockQ8K` · `BlockQ8K` (`sumf += (d_w·d_a)·Σq` per super-block; not in
/// ggml, see the module docs).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q8k_q8k(w: &[BlockQ8K], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut sumi = 0i32;
        for j in 0..256 {
            sumi += i32::from(x.qs[j]) * i32::from(y.qs[j]);
        }
        sumf += (x.d * y.d) * sumi as f32;
    }
    sumf
}

/// Reference dot product `BlockIq4Nl` · `BlockQ8_0` (`sumf += (d_a·d_w)·Σ kvalue·q`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_iq4nl_q8_0(w: &[BlockIq4Nl], a: &[BlockQ8_0]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d = y.d.to_f32() * x.d.to_f32();
        let mut sumi1 = 0i32;
        let mut sumi2 = 0i32;
        for j in 0..16 {
            sumi1 += i32::from(y.qs[j]) * i32::from(KVALUES_IQ4NL[usize::from(x.qs[j] & 0xF)]);
            sumi2 += i32::from(y.qs[j + 16]) * i32::from(KVALUES_IQ4NL[usize::from(x.qs[j] >> 4)]);
        }
        sumf += d * (sumi1 + sumi2) as f32;
    }
    sumf
}

/// Reference dot product `BlockIq4Xs` · `BlockQ8K` (`sumf += (d_w·d_a·(ls − 32))·Σ kvalue·q` per
/// 32 values).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_iq4xs_q8k(w: &[BlockIq4Xs], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d4d8 = x.d.to_f32() * y.d;
        let mut h = x.scales_h;
        for ib in (0..8).step_by(2) {
            let ls1 = i32::from((x.scales_l[ib / 2] & 0xF) | (((h << 4) & 0x30) as u8));
            let ls2 = i32::from((x.scales_l[ib / 2] >> 4) | (((h << 2) & 0x30) as u8));
            h >>= 4;
            for (sub, ls) in [(ib, ls1), (ib + 1, ls2)] {
                let dl = d4d8 * (ls - 32) as f32;
                let qs = &x.qs[16 * sub..16 * sub + 16];
                let q8 = &y.qs[32 * sub..32 * sub + 32];
                let mut sumi1 = 0i32;
                let mut sumi2 = 0i32;
                for j in 0..16 {
                    sumi1 += i32::from(q8[j]) * i32::from(KVALUES_IQ4NL[usize::from(qs[j] & 0xF)]);
                    sumi2 +=
                        i32::from(q8[j + 16]) * i32::from(KVALUES_IQ4NL[usize::from(qs[j] >> 4)]);
                }
                sumf += dl * (sumi1 + sumi2) as f32;
            }
        }
    }
    sumf
}

/// Reference dot product `BlockMxfp4` · `BlockQ8_0` (`sumf += (d_a·2^(e−128))·Σ kvalue·q`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_mxfp4_q8_0(w: &[BlockMxfp4], a: &[BlockQ8_0]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d = y.d.to_f32() * e8m0_to_f32_half(x.e);
        let mut sumi1 = 0i32;
        let mut sumi2 = 0i32;
        for j in 0..16 {
            sumi1 += i32::from(y.qs[j]) * i32::from(KVALUES_FP4[usize::from(x.qs[j] & 0xF)]);
            sumi2 += i32::from(y.qs[j + 16]) * i32::from(KVALUES_FP4[usize::from(x.qs[j] >> 4)]);
        }
        sumf += d * (sumi1 + sumi2) as f32;
    }
    sumf
}

/// Reference dot product `BlockNvfp4` · `BlockQ8_0`: one nvfp4 block (64 values) pairs with two
/// q8_0 blocks; `sumf += (d_a·ue4m3(d_s)/2)·Σ kvalue·q` per 16-value sub-block.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_nvfp4_q8_0(w: &[BlockNvfp4], a: &[BlockQ8_0]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y2) in w.iter().zip(a.chunks_exact(2)) {
        for s in 0..4 {
            let d = ue4m3_to_f32_half(x.d[s]);
            let y = &y2[s / 2];
            let off = (s % 2) * 16;
            let dy = y.d.to_f32();
            let mut lo = 0i32;
            let mut hi = 0i32;
            for j in 0..8 {
                let qv = x.qs[8 * s + j];
                lo += i32::from(y.qs[off + j]) * i32::from(KVALUES_FP4[usize::from(qv & 0xF)]);
                hi += i32::from(y.qs[off + j + 8]) * i32::from(KVALUES_FP4[usize::from(qv >> 4)]);
            }
            sumf += dy * d * (lo + hi) as f32;
        }
    }
    sumf
}

/// The ternary digit `l` (0..5, most significant first) of a tq1_0 byte, ggml's
/// `((u8)(q·3^l) · 3) >> 8`.
#[inline]
fn tq1_trit(q: u8, l: usize) -> i32 {
    const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];
    let q = q.wrapping_mul(POW3[l]);
    i32::from((u16::from(q) * 3) >> 8)
}

/// Reference dot product `BlockTq1_0` · `BlockQ8K` (`sumf += Σ(t−1)·q · (d_w·d_a)`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_tq1_0_q8k(w: &[BlockTq1_0], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut sum = 0i32;
        for l in 0..5 {
            for m in 0..32 {
                sum += (tq1_trit(x.qs[m], l) - 1) * i32::from(y.qs[l * 32 + m]);
            }
        }
        for l in 0..5 {
            for m in 0..16 {
                sum += (tq1_trit(x.qs[32 + m], l) - 1) * i32::from(y.qs[160 + l * 16 + m]);
            }
        }
        for l in 0..4 {
            for j in 0..4 {
                sum += (tq1_trit(x.qh[j], l) - 1) * i32::from(y.qs[240 + l * 4 + j]);
            }
        }
        sumf += sum as f32 * (x.d.to_f32() * y.d);
    }
    sumf
}

/// Reference dot product `BlockTq2_0` · `BlockQ8K` (`sumf += Σ(t−1)·q · (d_a·d_w)`).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_tq2_0_q8k(w: &[BlockTq2_0], a: &[BlockQ8K]) -> f32 {
    check_rows(w, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut sumi = 0i32;
        for j in (0..64).step_by(32) {
            for l in 0..4 {
                for k in 0..32 {
                    let t = i32::from((x.qs[j + k] >> (2 * l)) & 3) - 1;
                    sumi += i32::from(y.qs[j * 4 + l * 32 + k]) * t;
                }
            }
        }
        let d = y.d * x.d.to_f32();
        sumf += sumi as f32 * d;
    }
    sumf
}

#[inline]
#[track_caller]
fn quantize_ref<B: BlockFormat>(src: &[f32], dst: &mut [B]) {
    assert_eq!(
        src.len(),
        dst.len() * B::BLOCK_LEN,
        "{} activation quantizer: {} values for {} blocks",
        B::NAME,
        src.len(),
        dst.len()
    );
    B::quantize_blocks(src, None, dst);
}

/// Reference activation quantizer to `BlockQ8_0` (quant-core's).
///
/// # Panics
/// If `src.len() != dst.len() * BLOCK_LEN`.
pub fn quantize_q8_0(src: &[f32], dst: &mut [BlockQ8_0]) {
    quantize_ref(src, dst);
}

/// Reference activation quantizer to `BlockQ8_1` (quant-core's).
///
/// # Panics
/// If `src.len() != dst.len() * BLOCK_LEN`.
pub fn quantize_q8_1(src: &[f32], dst: &mut [BlockQ8_1]) {
    quantize_ref(src, dst);
}

/// Reference activation quantizer to `BlockQ8K` (quant-core's).
///
/// # Panics
/// If `src.len() != dst.len() * BLOCK_LEN`.
pub fn quantize_q8k(src: &[f32], dst: &mut [BlockQ8K]) {
    quantize_ref(src, dst);
}

#[inline]
#[track_caller]
fn dequantize_ref<B: BlockFormat>(src: &[B], dst: &mut [f32]) {
    assert_eq!(
        dst.len(),
        src.len() * B::BLOCK_LEN,
        "{} dequantizer: {} blocks into {} values",
        B::NAME,
        src.len(),
        dst.len()
    );
    for (b, out) in src.iter().zip(dst.chunks_exact_mut(B::BLOCK_LEN)) {
        b.dequantize_block(out);
    }
}

/// Reference dequantizer for `BlockQ4_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q4_0(src: &[BlockQ4_0], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ4_1` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q4_1(src: &[BlockQ4_1], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ5_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q5_0(src: &[BlockQ5_0], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ5_1` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q5_1(src: &[BlockQ5_1], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ8_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q8_0(src: &[BlockQ8_0], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ8_1` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q8_1(src: &[BlockQ8_1], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ2K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q2k(src: &[BlockQ2K], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ3K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q3k(src: &[BlockQ3K], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ4K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q4k(src: &[BlockQ4K], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ5K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q5k(src: &[BlockQ5K], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ6K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q6k(src: &[BlockQ6K], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockQ8K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q8k(src: &[BlockQ8K], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockIq4Nl` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_iq4nl(src: &[BlockIq4Nl], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockIq4Xs` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_iq4xs(src: &[BlockIq4Xs], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockMxfp4` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_mxfp4(src: &[BlockMxfp4], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockNvfp4` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_nvfp4(src: &[BlockNvfp4], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockTq1_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_tq1_0(src: &[BlockTq1_0], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `BlockTq2_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_tq2_0(src: &[BlockTq2_0], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `f16` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_f16(src: &[f16], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}

/// Reference dequantizer for `bf16` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_bf16(src: &[bf16], dst: &mut [f32]) {
    dequantize_ref(src, dst);
}
