//! Float tolerances for comparing dot products computed in different summation orders (used by
//! the conformance kit and the tests; public so that downstream backends can use the same
//! policy).

use half::f16;
use quant_core::{BlockFormat, Format};

use crate::formats::WeightFormat;

/// The tolerance between a backend's dot product and the scalar oracle.
///
/// * Block formats: `|ours − scalar| ≤ 1e-5 · sqrt(n/32) · S`, the golden README's formula, where
///   `n` is the number of values and `S = Σ|term|` in f64 over the terms the kernels actually add
///   up: `Σ|w_i·a_i|` over dequantized values, with the scale and min parts counted separately
///   where the kernels keep them apart (`|d·q·a| + |m·s|` for q4_1/q5_1 with the activation's
///   stored sum `s`; `|d·sc·q·a| + |dmin·m·a|` for q2_K/q4_K/q5_K). Why this is safe: a kernel
///   does exact integer sums per block and then a few f32 operations per block (scale products,
///   one accumulation) in some order; each rounds by at most 2^−24 relative to a value bounded by
///   `S`, so two orders differ by at most about `2·3·blocks·2^−24·S` in the worst case
///   (≤ 1.1e-4·S for 300 blocks of 32, under the bound 1.7e-4·S) and by `~sqrt(blocks)·2^−24·S`
///   typically. ggml's own SIMD and scalar kernels stay
///   within 0.064 of this bound on the golden cases. A wrong integer part (a mis-decoded nibble,
///   a wrong sign) changes the result by a whole `d_w·d_a·q·a` and fails on the small block
///   counts proptest shrinks to.
/// * Plain floats (f32/f16/bf16): `|ours − scalar| ≤ 2·γ_n·Σ|a_i·b_i|` with
///   `γ_n = n·2^−24 / (1 − n·2^−24)`, the classical bound of recursive summation (Higham, Accuracy
///   and Stability of Numerical Algorithms, §3.1) that holds for any summation order and for FMA,
///   applied to both results.
///
/// Non-finite results must have the same class (NaN, +inf, −inf) as the oracle's.
pub fn dot_tolerance(format: Format, n: usize, abs_sum: f64) -> f64 {
    if format.is_float() {
        let nu = n as f64 * 2f64.powi(-24);
        2.0 * nu / (1.0 - nu) * abs_sum
    } else {
        1e-5 * (n as f64 / 32.0).sqrt() * abs_sum
    }
}

/// [`abs_terms`] on raw bytes for a runtime format (any alignment).
///
/// # Errors
/// As [`vec_dot`](crate::vec_dot).
pub fn abs_terms_bytes(format: Format, weight: &[u8], activation: &[u8]) -> crate::Result<f64> {
    fn typed<W: WeightFormat>(w: &[u8], a: &[u8]) -> crate::Result<f64> {
        let w = crate::runtime::blocks_cow::<W>(w)?;
        let a = crate::runtime::blocks_cow::<W::Activation>(a)?;
        let (nw, na) = (
            w.len() * W::BLOCK_LEN,
            a.len() * <W::Activation as BlockFormat>::BLOCK_LEN,
        );
        if nw != na {
            return Err(crate::Error::RowLengthMismatch {
                weight: nw,
                activation: na,
            });
        }
        Ok(abs_terms::<W>(&w, &a))
    }
    crate::with_weight_type!(format, W => typed::<W>(weight, activation),
        else => Err(crate::Error::NoDot { format }))
}

fn dequant_ref<B: BlockFormat>(blocks: &[B]) -> Vec<f32> {
    quant_core::dequantize_row_to_vec(blocks)
}

/// Blocks with the byte range `field` set to zero (to dequantize one part of a block).
fn with_zeroed<B: BlockFormat>(blocks: &[B], field: core::ops::Range<usize>) -> Vec<B> {
    let mut v = blocks.to_vec();
    for b in bytemuck::cast_slice_mut::<B, u8>(&mut v).chunks_exact_mut(B::BLOCK_BYTES) {
        b[field.clone()].fill(0);
    }
    v
}

fn abs_dot(w: &[f32], a: &[f32]) -> f64 {
    w.iter()
        .zip(a)
        .map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs())
        .sum()
}

/// `S` of [`dot_tolerance`]: `Σ|term|` in f64 over the terms a dot-product kernel adds up for a
/// typed weight row and activation row (the scale and min parts counted separately where the
/// kernels keep them apart, see [`dot_tolerance`]).
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn abs_terms<W: WeightFormat>(w: &[W], a: &[W::Activation]) -> f64 {
    assert_eq!(
        w.len() * W::BLOCK_LEN,
        a.len() * <W::Activation as BlockFormat>::BLOCK_LEN
    );
    let ad = dequant_ref(a);
    match W::FORMAT {
        Some(Format::Q4_1 | Format::Q5_1) => {
            // (d_w·d_a)·Σq·q_a + m·s: dequantize without m, then add Σ|m·s| per block.
            let wd = dequant_ref(&with_zeroed(w, 2..4));
            let wb: &[u8] = bytemuck::cast_slice(w);
            let ab: &[u8] = bytemuck::cast_slice(a);
            let ms: f64 = wb
                .chunks_exact(W::BLOCK_BYTES)
                .zip(ab.chunks_exact(36))
                .map(|(x, y)| {
                    let m = f16::from_le_bytes([x[2], x[3]]).to_f32();
                    let s = f16::from_le_bytes([y[2], y[3]]).to_f32();
                    (f64::from(m) * f64::from(s)).abs()
                })
                .sum();
            abs_dot(&wd, &ad) + ms
        }
        Some(f @ (Format::Q2K | Format::Q4K | Format::Q5K)) => {
            let (d, dmin) = if f == Format::Q2K {
                (80..82, 82..84)
            } else {
                (0..2, 2..4)
            };
            let scale_part = dequant_ref(&with_zeroed(w, dmin));
            let min_part = dequant_ref(&with_zeroed(w, d));
            abs_dot(&scale_part, &ad) + abs_dot(&min_part, &ad)
        }
        _ => abs_dot(&dequant_ref(w), &ad),
    }
}
