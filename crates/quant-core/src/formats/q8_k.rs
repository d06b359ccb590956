//! `q8_K`: 256 activations, `x = d·q` (ggml `block_q8_K`, activation format of the K-quants).

use bytemuck::{Pod, Zeroable};

use super::common::nearest_int;
use super::q4_0::c_ops;
use crate::{BlockFormat, Format};

/// 256 activations, `x = d·q` (ggml `block_q8_K`, activation format of the K-quants).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockQ8K {
    /// Scale (f32, unlike the other formats).
    pub d: f32,
    /// Quants.
    pub qs: [i8; 256],
    /// Sum of each group of 16 quants.
    pub bsums: [i16; 16],
}
crate::assert_block_size!(BlockQ8K, 292);

/// `quantize_row_q8_K_ref` for one block, written in place (the block is large).
#[inline]
fn quantize_block(x: &[f32; 256], b: &mut BlockQ8K) {
    let (amax, max) = c_ops::abs_max_signed(x);
    let iscale = -127.0 / max;
    if amax == 0.0 || !iscale.is_finite() {
        // All zero: ggml writes d = 0 and qs = 0 but leaves bsums unwritten; we write zeros
        // (what the oracle's zero-filled buffers hold, and the true sums).
        // |max| < 127/f32::MAX: `iscale·x` is ±inf or NaN, for which ggml's `nearest_int` bit
        // trick gives -2^22 or 0, whose low byte (what the int8_t store keeps) is 0; ggml
        // stores d = 1/iscale = ∓0.
        *b = BlockQ8K::zeroed();
        if amax != 0.0 {
            b.d = 1.0 / iscale;
        }
        return;
    }
    for (q, v) in b.qs.iter_mut().zip(x) {
        *q = nearest_int(iscale * v).min(127) as i8;
    }
    for (s, g) in b.bsums.iter_mut().zip(b.qs.as_chunks::<16>().0) {
        *s = g.iter().map(|&q| i16::from(q)).sum();
    }
    b.d = 1.0 / iscale;
}

impl BlockFormat for BlockQ8K {
    const NAME: &'static str = "q8_K";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Q8K);
    const USES_IMPORTANCE: bool = false;
    // Not requantize-stable: the f32 scale `1/iscale` of the requantized block can differ in
    // its last bit.

    /// `quantize_row_q8_K_ref` (ggml defines no importance-weighted `q8_K` quantizer).
    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let (xs, _) = src.as_chunks::<256>();
        for (x, b) in xs.iter().zip(dst) {
            quantize_block(x, b);
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        for (y, q) in dst.iter_mut().zip(self.qs) {
            *y = self.d * f32::from(q);
        }
    }

    /// `|d|/2·(1 + 2⁻¹⁰) + slack`, with `d = 1/(−127/max)` the stored f32 scale (`amax` if
    /// `−127/max` overflows and every quant is 0).
    ///
    /// `v = fl(iscale·x)` has `|v| ≤ 127·(1 + 2⁻²⁴)` and is rounded to the nearest integer
    /// (the clamp at 127 never binds beyond that rounding), so `|x − q/iscale| ≤
    /// 0.5/|iscale| + 127·2⁻²³/|iscale|`; `d = fl(1/iscale)` and the product `d·q` add relative
    /// errors of 2⁻²⁴ of values ≤ `amax` (in `slack`).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        let (amax, max) = c_ops::abs_max_signed(src);
        if amax == 0.0 {
            return Some(0.0);
        }
        let iscale = -127.0 / max;
        if !iscale.is_finite() {
            // |max| < 127·2⁻¹²⁸: every quant is 0 (as in ggml on x86), d = 0.
            return Some(amax);
        }
        let d = (1.0 / iscale).abs();
        Some(d * 0.5 * (1.0 + 1.0 / 1024.0) + c_ops::slack(amax))
    }
}
