//! The scalar backend: safe, portable code that is the oracle for every other backend.
//!
//! Dot products follow the expression order of ggml's `ggml_vec_dot_*_generic` kernels in f32
//! without fused multiply-add, so they reproduce ggml's scalar results bit for bit.
#![forbid(unsafe_code)]

use half::{bf16, f16};
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0,
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

/// `Σ a[i]·b[i]`.
///
/// # Panics
/// If the lengths differ.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    todo!()
}

/// `Σ a[i]·b[i]` over f16, in f32.
///
/// # Panics
/// If the lengths differ.
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    assert_eq!(a.len(), b.len());
    todo!()
}

/// `Σ a[i]·b[i]` over bf16, in f32.
///
/// # Panics
/// If the lengths differ.
pub fn dot_bf16(a: &[bf16], b: &[bf16]) -> f32 {
    assert_eq!(a.len(), b.len());
    todo!()
}

/// Reference dot product `BlockQ4_0` · `BlockQ8_0`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ4_1` · `BlockQ8_1`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ5_0` · `BlockQ8_0`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q5_0_q8_0(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ5_1` · `BlockQ8_1`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q5_1_q8_1(w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ8_0` · `BlockQ8_0`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ2K` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q2k_q8k(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ3K` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q3k_q8k(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ4K` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q4k_q8k(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ5K` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q5k_q8k(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ6K` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q6k_q8k(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockQ8K` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_q8k_q8k(w: &[BlockQ8K], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockIq4Nl` · `BlockQ8_0`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_iq4nl_q8_0(w: &[BlockIq4Nl], a: &[BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockIq4Xs` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_iq4xs_q8k(w: &[BlockIq4Xs], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockMxfp4` · `BlockQ8_0`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_mxfp4_q8_0(w: &[BlockMxfp4], a: &[BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockNvfp4` · `BlockQ8_0`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_nvfp4_q8_0(w: &[BlockNvfp4], a: &[BlockQ8_0]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockTq1_0` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_tq1_0_q8k(w: &[BlockTq1_0], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference dot product `BlockTq2_0` · `BlockQ8K`.
///
/// # Panics
/// If the rows hold different numbers of values.
pub fn dot_tq2_0_q8k(w: &[BlockTq2_0], a: &[BlockQ8K]) -> f32 {
    let _ = (w, a);
    todo!()
}

/// Reference activation quantizer to `BlockQ8_0` (quant-core's).
///
/// # Panics
/// If `src.len() != dst.len() * BLOCK_LEN`.
pub fn quantize_q8_0(src: &[f32], dst: &mut [BlockQ8_0]) {
    let _ = (src, dst);
    todo!()
}

/// Reference activation quantizer to `BlockQ8_1` (quant-core's).
///
/// # Panics
/// If `src.len() != dst.len() * BLOCK_LEN`.
pub fn quantize_q8_1(src: &[f32], dst: &mut [BlockQ8_1]) {
    let _ = (src, dst);
    todo!()
}

/// Reference activation quantizer to `BlockQ8K` (quant-core's).
///
/// # Panics
/// If `src.len() != dst.len() * BLOCK_LEN`.
pub fn quantize_q8k(src: &[f32], dst: &mut [BlockQ8K]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ4_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q4_0(src: &[BlockQ4_0], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ4_1` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q4_1(src: &[BlockQ4_1], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ5_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q5_0(src: &[BlockQ5_0], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ5_1` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q5_1(src: &[BlockQ5_1], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ8_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q8_0(src: &[BlockQ8_0], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ8_1` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q8_1(src: &[BlockQ8_1], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ2K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q2k(src: &[BlockQ2K], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ3K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q3k(src: &[BlockQ3K], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ4K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q4k(src: &[BlockQ4K], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ5K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q5k(src: &[BlockQ5K], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ6K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q6k(src: &[BlockQ6K], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockQ8K` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_q8k(src: &[BlockQ8K], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockIq4Nl` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_iq4nl(src: &[BlockIq4Nl], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockIq4Xs` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_iq4xs(src: &[BlockIq4Xs], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockMxfp4` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_mxfp4(src: &[BlockMxfp4], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockNvfp4` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_nvfp4(src: &[BlockNvfp4], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockTq1_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_tq1_0(src: &[BlockTq1_0], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `BlockTq2_0` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_tq2_0(src: &[BlockTq2_0], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `f16` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_f16(src: &[f16], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}

/// Reference dequantizer for `bf16` (quant-core's).
///
/// # Panics
/// If `dst.len()` is not the number of values in `src`.
pub fn dequantize_bf16(src: &[bf16], dst: &mut [f32]) {
    let _ = (src, dst);
    todo!()
}
