//! `q5_0`: 32 weights, `w = d·(q − 16)` (ggml `block_q5_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::make_qx_quants;
use super::q4_0::c_ops;
use crate::{BlockFormat, Format};

/// 32 weights, `w = d·(q − 16)` (ggml `block_q5_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// Fifth bits: bit `j` of the little-endian u32 is the high bit of value `j`.
    pub qh: [u8; 4],
    /// Low 4 bits, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockQ5_0, 22);

/// `quantize_row_q5_0_ref` for one block.
#[inline]
fn quantize_block_ref(x: &[f32; 32]) -> BlockQ5_0 {
    let (_, max) = c_ops::abs_max_signed(x);
    // All-zero blocks: max = +0 so d = -0 (ggml stores 0x8000 whatever the zeros' signs).
    // `max / -16` in ggml: same f32 as the multiplication by the exact reciprocal.
    let d = max * -0.0625;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let q = if id.is_finite() {
        // x·id + 16.5 ∈ [0.5 − 2⁻¹⁸, 32.5 + 2⁻¹⁸]: the int8_t cast is a no-op and the vectorizable
        // truncation of a non-negative value is exact.
        // MIN(31, trunc(v)) = trunc(min(v, 31.5)) for v ≥ 0 (a float min is one instruction).
        quants(x, id, |v| {
            c_ops::trunc_nonneg_in_range(if v < 31.5 { v } else { 31.5 }) as u8
        })
    } else {
        // |max| < 16·2⁻¹²⁸: x·id is ±inf or NaN, converted as x86 does.
        quants(x, id, |v| i32::from(c_ops::cvtt(v) as i8).min(31) as u8)
    };
    pack(f16::from_f32(d), &q)
}

/// `MIN(31, (int8_t)(x·id + 16.5f))`, with `conv` doing the `MIN(31, (int8_t)…)` part.
#[inline(always)]
fn quants(x: &[f32; 32], id: f32, conv: impl Fn(f32) -> u8) -> [u8; 32] {
    let mut q = [0u8; 32];
    for (q, v) in q.iter_mut().zip(x) {
        *q = conv(v * id + 16.5);
    }
    q
}

/// Packs 5-bit quants: low nibbles in nibble order, fifth bits into `qh`.
#[inline(always)]
pub(crate) fn pack_q5(q: &[u8; 32]) -> ([u8; 4], [u8; 16]) {
    let mut qs = [0u8; 16];
    for j in 0..16 {
        qs[j] = (q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4);
    }
    // Bit j of the little-endian u32 = bit 4 of q[j], so byte b gathers bit 4 of q[8b..8b+8]:
    // move those bits to bit 0 of each byte of a u64, then one multiplication by
    // Σ 2^(8m + 7 − m) places bit 0 of byte k at bit 56 + k without carries (every partial
    // product lands on its own bit).
    let mut qh = [0u8; 4];
    for (h, g) in qh.iter_mut().zip(q.as_chunks::<8>().0) {
        let b = (u64::from_le_bytes(*g) >> 4) & 0x0101_0101_0101_0101;
        *h = (b.wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8;
    }
    (qh, qs)
}

/// Unpacks 5-bit quants (`0..=31`) as ggml's `dequantize_row_q5_*` does.
#[inline(always)]
pub(crate) fn unpack_q5(qh: [u8; 4], qs: &[u8; 16]) -> [u8; 32] {
    let qh = u32::from_le_bytes(qh);
    let mut q = [0u8; 32];
    for j in 0..16 {
        q[j] = qs[j] & 0x0F;
        q[j + 16] = qs[j] >> 4;
    }
    // ggml's `((qh >> j) << 4) & 0x10` and `(qh >> (j + 12)) & 0x10`: bit j of qh as 0x10,
    // tested with a per-lane constant mask (SSE2 has no per-lane variable shifts).
    for (j, q) in q.iter_mut().enumerate() {
        *q |= u8::from(qh & (1u32 << j) != 0) << 4;
    }
    q
}

#[inline]
fn pack(d: f16, q: &[u8; 32]) -> BlockQ5_0 {
    let (qh, qs) = pack_q5(q);
    BlockQ5_0 { d, qh, qs }
}

/// `quantize_row_q5_0_impl` with importance weights (one row).
fn quantize_row_imatrix(src: &[f32], imatrix: &[f32], dst: &mut [BlockQ5_0]) {
    let sigma2 = c_ops::sigma2(src);
    let (xs, _) = src.as_chunks::<32>();
    let (ws, _) = imatrix.as_chunks::<32>();
    for ((x, qw), b) in xs.iter().zip(ws).zip(dst) {
        let weight = c_ops::block_weights(x, qw, sigma2);
        let mut l = [0i8; 32];
        let d = make_qx_quants(16, x, &mut l, 1, Some(&weight));
        *b = pack(f16::from_f32(d), &l.map(|l| l as u8));
    }
}

impl BlockFormat for BlockQ5_0 {
    const NAME: &'static str = "q5_0";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q5_0);
    const USES_IMPORTANCE: bool = true;
    /// Holds whenever the stored scale is finite and non-zero, for the reason given for
    /// `q4_0` (the scale-setting value dequantizes to exactly `−16·d`); not for blocks with
    /// max |x| < 16·2⁻²⁵ ≈ 4.8e-7, whose f16 scale underflows to 0.
    const REQUANTIZE_STABLE: bool = true;

    /// Without importance weights: `quantize_row_q5_0_ref`. With them: ggml's
    /// `quantize_row_q5_0_impl` (weights `qw·sqrt(σ² + x²)`, σ² the mean square of the whole
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
        let q = unpack_q5(self.qh, &self.qs);
        for (y, q) in dst.iter_mut().zip(q) {
            *y = (i32::from(q) - 16) as f32 * d;
        }
    }

    /// `|d|·(1 + 2⁻¹⁰) + 16·|d − f16(d)| + slack`, with `d = max/−16` the f32 scale: as for
    /// `q4_0`, half a step `|d|/2` except for values near `−max`, which would need `q = 32` and
    /// are clamped to 31 (a full step); f16 storage of `d` moves a value by at most
    /// `16·|d − f16(d)|`.
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        if let Some(b) = crate::formats::common::tiny_block_bound(src) {
            return Some(b);
        }
        let (amax, max) = c_ops::abs_max_signed(src);
        let d = (max / -16.0).abs();
        let d16 = f16::from_f32(d).to_f32();
        Some(d * (1.0 + 1.0 / 1024.0) + 16.0 * (d - d16).abs() + c_ops::slack(amax + 16.0 * d16))
    }
}
