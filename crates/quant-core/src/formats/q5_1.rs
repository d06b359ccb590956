//! `q5_1`: 32 weights, `w = d·q + m` (ggml `block_q5_1`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::common::make_qkx3_quants;
use super::q4_0::c_ops;
use super::q5_0::{pack_q5, unpack_q5};
use crate::{BlockFormat, Format};

/// 32 weights, `w = d·q + m` (ggml `block_q5_1`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: f16,
    /// Minimum.
    pub m: f16,
    /// Fifth bits (little-endian u32).
    pub qh: [u8; 4],
    /// Low 4 bits, nibble order.
    pub qs: [u8; 16],
}
crate::assert_block_size!(BlockQ5_1, 24);

/// `quantize_row_q5_1_ref` for one block.
#[inline]
fn quantize_block_ref(x: &[f32; 32]) -> BlockQ5_1 {
    // min keeps the sign of the block's first zero: m = -0.0 for a block of -0.0.
    let (min, max) = c_ops::min_max(x);
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let q = if id.is_finite() {
        // (x − min)·id + 0.5 ∈ [0.5, 31.5 + 2⁻¹⁷]: the vectorizable truncation is exact.
        quants(x, min, id, c_ops::trunc_nonneg_in_range)
    } else {
        // max − min < 31·2⁻¹²⁸: the scaled values are inf or NaN, converted as x86 does.
        quants(x, min, id, c_ops::cvtt)
    };
    pack(f16::from_f32(d), f16::from_f32(min), &q)
}

/// `(uint8_t)((x − min)·id + 0.5f)` with the given float → int conversion (no clamp in ggml:
/// the value stays below 32).
#[inline(always)]
fn quants(x: &[f32; 32], min: f32, id: f32, trunc: impl Fn(f32) -> i32) -> [u8; 32] {
    let mut q = [0u8; 32];
    for (q, v) in q.iter_mut().zip(x) {
        *q = trunc((v - min) * id + 0.5) as u8;
    }
    q
}

#[inline]
fn pack(d: f16, m: f16, q: &[u8; 32]) -> BlockQ5_1 {
    let (qh, qs) = pack_q5(q);
    BlockQ5_1 { d, m, qh, qs }
}

/// `quantize_row_q5_1_impl` with importance weights (one row).
fn quantize_row_imatrix(src: &[f32], imatrix: &[f32], dst: &mut [BlockQ5_1]) {
    let sigma2 = c_ops::sigma2(src);
    let (xs, _) = src.as_chunks::<32>();
    let (ws, _) = imatrix.as_chunks::<32>();
    for ((x, qw), b) in xs.iter().zip(ws).zip(dst) {
        let weight = c_ops::block_weights(x, qw, sigma2);
        let mut l = [0u8; 32];
        let (d, min) = make_qkx3_quants(31, x, Some(&weight), &mut l, -0.9, 0.05, 36, false);
        *b = pack(f16::from_f32(d), f16::from_f32(-min), &l);
    }
}

impl BlockFormat for BlockQ5_1 {
    const NAME: &'static str = "q5_1";
    const BLOCK_LEN: usize = 32;
    const FORMAT: Option<Format> = Some(Format::Q5_1);
    const USES_IMPORTANCE: bool = true;
    // Not claimed requantize-stable: a block whose spread `max − min` is non-zero but so small
    // that `f16(d)` underflows to 0 (e.g. a constant block with one value an ulp higher) keeps
    // non-zero quants with `d = 0`, and its dequantized (constant) block requantizes to all-zero
    // quants. Otherwise no counterexample was found (proptests with offsets, binade crossings).

    /// Without importance weights: `quantize_row_q5_1_ref`. With them: ggml's
    /// `quantize_row_q5_1_impl` (weights `qw·sqrt(σ² + x²)`, σ² the mean square of the whole
    /// row, scale and min searched by `make_qkx3_quants`).
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
        let m = self.m.to_f32();
        let q = unpack_q5(self.qh, &self.qs);
        for (y, q) in dst.iter_mut().zip(q) {
            *y = i32::from(q) as f32 * d + m;
        }
    }

    /// `d/2·(1 + 2⁻¹⁰) + 31·|d − f16(d)| + |min − f16(min)| + slack`, with
    /// `d = (max − min)/31`; derived as for `q4_1` (no clamp is ever needed: `(x − min)·id +
    /// 0.5` stays below 31.5 + a few ulp).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        if let Some(b) = crate::formats::common::tiny_block_bound(src) {
            return Some(b);
        }
        let (min, max) = c_ops::min_max(src);
        let d = (max - min) / 31.0;
        let d16 = f16::from_f32(d).to_f32();
        let m16 = f16::from_f32(min).to_f32();
        let amax = max.abs().max(min.abs());
        Some(
            d * 0.5 * (1.0 + 1.0 / 1024.0)
                + 31.0 * (d - d16).abs()
                + (min - m16).abs()
                + c_ops::slack(amax + m16.abs() + 32.0 * d16),
        )
    }
}
