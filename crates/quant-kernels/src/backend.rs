//! The [`Backend`] trait: one implementation per instruction set.
//!
//! Every method has a default that calls the [`scalar`] oracle, so a backend
//! (built in or downstream) overrides exactly the kernels it accelerates and inherits correct
//! behaviour for the rest. The conformance kit checks every method against the scalar backend.

use half::{bf16, f16};
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0,
};

use crate::scalar;

/// A set of kernels for one instruction set.
///
/// # Contract
/// * Dot products take a weight row and an activation row holding the same number of values
///   (`w.len() * W::BLOCK_LEN == a.len() * A::BLOCK_LEN`) and may panic otherwise (the runtime
///   entry points check lengths first and return errors).
/// * Integer parts of a dot product are exact; the float result may differ from the scalar oracle
///   only by summation order (see [`tolerance::dot_tolerance`](crate::tolerance::dot_tolerance) and
///   `docs/kernels.md`).
/// * Activation quantizers produce exactly the bytes of quant-core's reference quantizers.
/// * Dequantizers produce exactly the values of quant-core's reference dequantizers (bit for bit).
/// * Kernels never read or write outside the given slices and accept every bit pattern of the
///   blocks (i8 = -128 included; f16 scales may be inf/NaN, which then propagate).
pub trait Backend: Send + Sync + 'static {
    /// Short name, e.g. `"avx2"`; used by `QUANT_BACKEND` and in benchmark tables.
    fn name(&self) -> &'static str;

    /// `Σ a[i]·b[i]` over f32.
    ///
    /// # Panics
    /// If the lengths differ.
    fn dot_f32(&self, a: &[f32], b: &[f32]) -> f32 {
        scalar::dot_f32(a, b)
    }

    /// `Σ a[i]·b[i]` over f16 values, accumulated in f32.
    ///
    /// # Panics
    /// If the lengths differ.
    fn dot_f16(&self, a: &[f16], b: &[f16]) -> f32 {
        scalar::dot_f16(a, b)
    }

    /// `Σ a[i]·b[i]` over bf16 values, accumulated in f32.
    ///
    /// # Panics
    /// If the lengths differ.
    fn dot_bf16(&self, a: &[bf16], b: &[bf16]) -> f32 {
        scalar::dot_bf16(a, b)
    }

    /// Dot products of one weight row with four activation rows, for batch products
    /// ([`QuantMatrix::matmul`](crate::QuantMatrix::matmul)).
    ///
    /// `out[i]` must equal `self.dot_q4_0_q8_0(w, a[i])` **bit for bit**, so that a product's
    /// results do not depend on how its activation rows were grouped; a batch kernel gains by
    /// unpacking each weight block once for the four rows. The default calls the one-row kernel
    /// four times. The same holds for the other `dot4_*` methods.
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_q4_0_q8_0(&self, w: &[BlockQ4_0], a: [&[BlockQ8_0]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_q4_0_q8_0(w, a))
    }

    /// Four-row [`dot_q4_1_q8_1`](Backend::dot_q4_1_q8_1) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_q4_1_q8_1(&self, w: &[BlockQ4_1], a: [&[BlockQ8_1]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_q4_1_q8_1(w, a))
    }

    /// Four-row [`dot_q5_0_q8_0`](Backend::dot_q5_0_q8_0) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_q5_0_q8_0(&self, w: &[BlockQ5_0], a: [&[BlockQ8_0]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_q5_0_q8_0(w, a))
    }

    /// Four-row [`dot_q5_1_q8_1`](Backend::dot_q5_1_q8_1) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_q5_1_q8_1(&self, w: &[BlockQ5_1], a: [&[BlockQ8_1]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_q5_1_q8_1(w, a))
    }

    /// Four-row [`dot_q8_0_q8_0`](Backend::dot_q8_0_q8_0) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_q8_0_q8_0(&self, w: &[BlockQ8_0], a: [&[BlockQ8_0]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_q8_0_q8_0(w, a))
    }

    /// Four-row [`dot_iq4nl_q8_0`](Backend::dot_iq4nl_q8_0) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_iq4nl_q8_0(&self, w: &[BlockIq4Nl], a: [&[BlockQ8_0]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_iq4nl_q8_0(w, a))
    }

    /// Four-row [`dot_mxfp4_q8_0`](Backend::dot_mxfp4_q8_0) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_mxfp4_q8_0(&self, w: &[BlockMxfp4], a: [&[BlockQ8_0]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_mxfp4_q8_0(w, a))
    }

    /// Four-row [`dot_q4k_q8k`](Backend::dot_q4k_q8k) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_q4k_q8k(&self, w: &[BlockQ4K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_q4k_q8k(w, a))
    }

    /// Four-row [`dot_q5k_q8k`](Backend::dot_q5k_q8k) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_q5k_q8k(&self, w: &[BlockQ5K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_q5k_q8k(w, a))
    }

    /// Four-row [`dot_q6k_q8k`](Backend::dot_q6k_q8k) (see [`dot4_q4_0_q8_0`](Backend::dot4_q4_0_q8_0)).
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    fn dot4_q6k_q8k(&self, w: &[BlockQ6K], a: [&[BlockQ8K]; 4]) -> [f32; 4] {
        a.map(|a| self.dot_q6k_q8k(w, a))
    }

    /// Dot product of a `BlockQ4_0` weight row with a `BlockQ8_0` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q4_0_q8_0(&self, w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
        scalar::dot_q4_0_q8_0(w, a)
    }

    /// Dot product of a `BlockQ4_1` weight row with a `BlockQ8_1` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q4_1_q8_1(&self, w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
        scalar::dot_q4_1_q8_1(w, a)
    }

    /// Dot product of a `BlockQ5_0` weight row with a `BlockQ8_0` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q5_0_q8_0(&self, w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
        scalar::dot_q5_0_q8_0(w, a)
    }

    /// Dot product of a `BlockQ5_1` weight row with a `BlockQ8_1` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q5_1_q8_1(&self, w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
        scalar::dot_q5_1_q8_1(w, a)
    }

    /// Dot product of a `BlockQ8_0` weight row with a `BlockQ8_0` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q8_0_q8_0(&self, w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
        scalar::dot_q8_0_q8_0(w, a)
    }

    /// Dot product of a `BlockQ2K` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q2k_q8k(&self, w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
        scalar::dot_q2k_q8k(w, a)
    }

    /// Dot product of a `BlockQ3K` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q3k_q8k(&self, w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
        scalar::dot_q3k_q8k(w, a)
    }

    /// Dot product of a `BlockQ4K` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q4k_q8k(&self, w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
        scalar::dot_q4k_q8k(w, a)
    }

    /// Dot product of a `BlockQ5K` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q5k_q8k(&self, w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
        scalar::dot_q5k_q8k(w, a)
    }

    /// Dot product of a `BlockQ6K` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q6k_q8k(&self, w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
        scalar::dot_q6k_q8k(w, a)
    }

    /// Dot product of a `BlockQ8K` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_q8k_q8k(&self, w: &[BlockQ8K], a: &[BlockQ8K]) -> f32 {
        scalar::dot_q8k_q8k(w, a)
    }

    /// Dot product of a `BlockIq4Nl` weight row with a `BlockQ8_0` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_iq4nl_q8_0(&self, w: &[BlockIq4Nl], a: &[BlockQ8_0]) -> f32 {
        scalar::dot_iq4nl_q8_0(w, a)
    }

    /// Dot product of a `BlockIq4Xs` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_iq4xs_q8k(&self, w: &[BlockIq4Xs], a: &[BlockQ8K]) -> f32 {
        scalar::dot_iq4xs_q8k(w, a)
    }

    /// Dot product of a `BlockMxfp4` weight row with a `BlockQ8_0` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_mxfp4_q8_0(&self, w: &[BlockMxfp4], a: &[BlockQ8_0]) -> f32 {
        scalar::dot_mxfp4_q8_0(w, a)
    }

    /// Dot product of a `BlockNvfp4` weight row with a `BlockQ8_0` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_nvfp4_q8_0(&self, w: &[BlockNvfp4], a: &[BlockQ8_0]) -> f32 {
        scalar::dot_nvfp4_q8_0(w, a)
    }

    /// Dot product of a `BlockTq1_0` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_tq1_0_q8k(&self, w: &[BlockTq1_0], a: &[BlockQ8K]) -> f32 {
        scalar::dot_tq1_0_q8k(w, a)
    }

    /// Dot product of a `BlockTq2_0` weight row with a `BlockQ8K` activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot_tq2_0_q8k(&self, w: &[BlockTq2_0], a: &[BlockQ8K]) -> f32 {
        scalar::dot_tq2_0_q8k(w, a)
    }

    /// Quantize activations to `BlockQ8_0`, byte-identical to quant-core's reference quantizer.
    ///
    /// # Panics
    /// If `src.len() != dst.len() * BLOCK_LEN`. Values must be finite (callers validate).
    fn quantize_q8_0(&self, src: &[f32], dst: &mut [BlockQ8_0]) {
        scalar::quantize_q8_0(src, dst)
    }

    /// Quantize activations to `BlockQ8_1`, byte-identical to quant-core's reference quantizer.
    ///
    /// # Panics
    /// If `src.len() != dst.len() * BLOCK_LEN`. Values must be finite (callers validate).
    fn quantize_q8_1(&self, src: &[f32], dst: &mut [BlockQ8_1]) {
        scalar::quantize_q8_1(src, dst)
    }

    /// Quantize activations to `BlockQ8K`, byte-identical to quant-core's reference quantizer.
    ///
    /// # Panics
    /// If `src.len() != dst.len() * BLOCK_LEN`. Values must be finite (callers validate).
    fn quantize_q8k(&self, src: &[f32], dst: &mut [BlockQ8K]) {
        scalar::quantize_q8k(src, dst)
    }

    /// Dequantize `BlockQ4_0` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q4_0(&self, src: &[BlockQ4_0], dst: &mut [f32]) {
        scalar::dequantize_q4_0(src, dst)
    }

    /// Dequantize `BlockQ4_1` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q4_1(&self, src: &[BlockQ4_1], dst: &mut [f32]) {
        scalar::dequantize_q4_1(src, dst)
    }

    /// Dequantize `BlockQ5_0` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q5_0(&self, src: &[BlockQ5_0], dst: &mut [f32]) {
        scalar::dequantize_q5_0(src, dst)
    }

    /// Dequantize `BlockQ5_1` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q5_1(&self, src: &[BlockQ5_1], dst: &mut [f32]) {
        scalar::dequantize_q5_1(src, dst)
    }

    /// Dequantize `BlockQ8_0` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q8_0(&self, src: &[BlockQ8_0], dst: &mut [f32]) {
        scalar::dequantize_q8_0(src, dst)
    }

    /// Dequantize `BlockQ8_1` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q8_1(&self, src: &[BlockQ8_1], dst: &mut [f32]) {
        scalar::dequantize_q8_1(src, dst)
    }

    /// Dequantize `BlockQ2K` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q2k(&self, src: &[BlockQ2K], dst: &mut [f32]) {
        scalar::dequantize_q2k(src, dst)
    }

    /// Dequantize `BlockQ3K` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q3k(&self, src: &[BlockQ3K], dst: &mut [f32]) {
        scalar::dequantize_q3k(src, dst)
    }

    /// Dequantize `BlockQ4K` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q4k(&self, src: &[BlockQ4K], dst: &mut [f32]) {
        scalar::dequantize_q4k(src, dst)
    }

    /// Dequantize `BlockQ5K` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q5k(&self, src: &[BlockQ5K], dst: &mut [f32]) {
        scalar::dequantize_q5k(src, dst)
    }

    /// Dequantize `BlockQ6K` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q6k(&self, src: &[BlockQ6K], dst: &mut [f32]) {
        scalar::dequantize_q6k(src, dst)
    }

    /// Dequantize `BlockQ8K` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_q8k(&self, src: &[BlockQ8K], dst: &mut [f32]) {
        scalar::dequantize_q8k(src, dst)
    }

    /// Dequantize `BlockIq4Nl` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_iq4nl(&self, src: &[BlockIq4Nl], dst: &mut [f32]) {
        scalar::dequantize_iq4nl(src, dst)
    }

    /// Dequantize `BlockIq4Xs` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_iq4xs(&self, src: &[BlockIq4Xs], dst: &mut [f32]) {
        scalar::dequantize_iq4xs(src, dst)
    }

    /// Dequantize `BlockMxfp4` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_mxfp4(&self, src: &[BlockMxfp4], dst: &mut [f32]) {
        scalar::dequantize_mxfp4(src, dst)
    }

    /// Dequantize `BlockNvfp4` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_nvfp4(&self, src: &[BlockNvfp4], dst: &mut [f32]) {
        scalar::dequantize_nvfp4(src, dst)
    }

    /// Dequantize `BlockTq1_0` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_tq1_0(&self, src: &[BlockTq1_0], dst: &mut [f32]) {
        scalar::dequantize_tq1_0(src, dst)
    }

    /// Dequantize `BlockTq2_0` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_tq2_0(&self, src: &[BlockTq2_0], dst: &mut [f32]) {
        scalar::dequantize_tq2_0(src, dst)
    }

    /// Dequantize `f16` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_f16(&self, src: &[f16], dst: &mut [f32]) {
        scalar::dequantize_f16(src, dst)
    }

    /// Dequantize `bf16` values to f32, bit-identical to quant-core's reference.
    ///
    /// # Panics
    /// If `dst.len()` is not the number of values in `src`.
    fn dequantize_bf16(&self, src: &[bf16], dst: &mut [f32]) {
        scalar::dequantize_bf16(src, dst)
    }
}
