//! Typed glue between quant-core's block types and the [`Backend`] methods: which activation format
//! a weight format pairs with, and which backend method computes its dot product, quantizes its
//! activations or dequantizes it.
//!
//! The generic products ([`QuantMatrix`](crate::QuantMatrix), [`vec_dot_typed`](crate::vec_dot_typed)) are written once
//! over these traits and monomorphised for every built-in format.

use half::{bf16, f16};
use quant_core::BlockFormat;
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0,
};

use crate::Backend;

/// A format activations are quantized (or converted) into before a dot product.
pub trait ActivationFormat: BlockFormat {
    /// Quantize `src` into `dst` with `backend`'s kernel (byte-identical to quant-core's reference).
    ///
    /// # Panics
    /// If `src.len() != dst.len() * Self::BLOCK_LEN`. Values must be finite (callers validate).
    fn quantize_activations(backend: &dyn Backend, src: &[f32], dst: &mut [Self]);
}

/// A weight format with a dot-product kernel in [`Backend`].
pub trait WeightFormat: BlockFormat {
    /// The activation format of the dot product (ggml's `vec_dot_type`).
    type Activation: ActivationFormat;

    /// `backend`'s dot product of a weight row with an activation row.
    ///
    /// # Panics
    /// If the rows hold different numbers of values.
    fn dot(backend: &dyn Backend, w: &[Self], a: &[Self::Activation]) -> f32;

    /// `backend`'s dot products of a weight row with four activation rows: equal bit for bit to
    /// four [`dot`](WeightFormat::dot) calls (the default), faster where the backend has a batch
    /// kernel for the format.
    ///
    /// # Panics
    /// If a row holds a different number of values than `w`.
    #[inline]
    fn dot4(backend: &dyn Backend, w: &[Self], a: [&[Self::Activation]; 4]) -> [f32; 4] {
        a.map(|a| Self::dot(backend, w, a))
    }
}

/// A format with a dequantization kernel in [`Backend`].
pub trait DequantizeFormat: BlockFormat {
    /// Dequantize `src` into `dst` with `backend`'s kernel (bit-identical to quant-core's).
    ///
    /// # Panics
    /// If `dst.len() != src.len() * Self::BLOCK_LEN`.
    fn dequantize(backend: &dyn Backend, src: &[Self], dst: &mut [f32]);
}

macro_rules! activation {
    ($($t:ty => $m:ident),* $(,)?) => {$(
        impl ActivationFormat for $t {
            #[inline]
            fn quantize_activations(backend: &dyn Backend, src: &[f32], dst: &mut [Self]) {
                backend.$m(src, dst)
            }
        }
    )*};
}
activation!(BlockQ8_0 => quantize_q8_0, BlockQ8_1 => quantize_q8_1, BlockQ8K => quantize_q8k);

impl ActivationFormat for f32 {
    #[inline]
    fn quantize_activations(_backend: &dyn Backend, src: &[f32], dst: &mut [Self]) {
        dst.copy_from_slice(src);
    }
}

impl ActivationFormat for f16 {
    #[inline]
    fn quantize_activations(_backend: &dyn Backend, src: &[f32], dst: &mut [Self]) {
        assert_eq!(src.len(), dst.len());
        <f16 as BlockFormat>::quantize_blocks(src, None, dst);
    }
}

impl ActivationFormat for bf16 {
    #[inline]
    fn quantize_activations(_backend: &dyn Backend, src: &[f32], dst: &mut [Self]) {
        assert_eq!(src.len(), dst.len());
        <bf16 as BlockFormat>::quantize_blocks(src, None, dst);
    }
}

macro_rules! weight {
    ($($t:ty, $a:ty => $m:ident $(, $m4:ident)?);* $(;)?) => {$(
        impl WeightFormat for $t {
            type Activation = $a;
            #[inline]
            fn dot(backend: &dyn Backend, w: &[Self], a: &[$a]) -> f32 {
                backend.$m(w, a)
            }
            $(
                #[inline]
                fn dot4(backend: &dyn Backend, w: &[Self], a: [&[$a]; 4]) -> [f32; 4] {
                    backend.$m4(w, a)
                }
            )?
        }
    )*};
}
weight! {
    f32, f32 => dot_f32;
    f16, f16 => dot_f16;
    bf16, bf16 => dot_bf16;
    BlockQ4_0, BlockQ8_0 => dot_q4_0_q8_0, dot4_q4_0_q8_0;
    BlockQ4_1, BlockQ8_1 => dot_q4_1_q8_1, dot4_q4_1_q8_1;
    BlockQ5_0, BlockQ8_0 => dot_q5_0_q8_0, dot4_q5_0_q8_0;
    BlockQ5_1, BlockQ8_1 => dot_q5_1_q8_1, dot4_q5_1_q8_1;
    BlockQ8_0, BlockQ8_0 => dot_q8_0_q8_0, dot4_q8_0_q8_0;
    BlockQ2K, BlockQ8K => dot_q2k_q8k;
    BlockQ3K, BlockQ8K => dot_q3k_q8k;
    BlockQ4K, BlockQ8K => dot_q4k_q8k, dot4_q4k_q8k;
    BlockQ5K, BlockQ8K => dot_q5k_q8k, dot4_q5k_q8k;
    BlockQ6K, BlockQ8K => dot_q6k_q8k, dot4_q6k_q8k;
    BlockQ8K, BlockQ8K => dot_q8k_q8k;
    BlockIq4Nl, BlockQ8_0 => dot_iq4nl_q8_0, dot4_iq4nl_q8_0;
    BlockIq4Xs, BlockQ8K => dot_iq4xs_q8k;
    BlockMxfp4, BlockQ8_0 => dot_mxfp4_q8_0, dot4_mxfp4_q8_0;
    BlockNvfp4, BlockQ8_0 => dot_nvfp4_q8_0;
    BlockTq1_0, BlockQ8K => dot_tq1_0_q8k;
    BlockTq2_0, BlockQ8K => dot_tq2_0_q8k;
}

macro_rules! dequant {
    ($($t:ty => $m:ident),* $(,)?) => {$(
        impl DequantizeFormat for $t {
            #[inline]
            fn dequantize(backend: &dyn Backend, src: &[Self], dst: &mut [f32]) {
                backend.$m(src, dst)
            }
        }
    )*};
}
dequant!(
    f16 => dequantize_f16,
    bf16 => dequantize_bf16,
    BlockQ4_0 => dequantize_q4_0,
    BlockQ4_1 => dequantize_q4_1,
    BlockQ5_0 => dequantize_q5_0,
    BlockQ5_1 => dequantize_q5_1,
    BlockQ8_0 => dequantize_q8_0,
    BlockQ8_1 => dequantize_q8_1,
    BlockQ2K => dequantize_q2k,
    BlockQ3K => dequantize_q3k,
    BlockQ4K => dequantize_q4k,
    BlockQ5K => dequantize_q5k,
    BlockQ6K => dequantize_q6k,
    BlockQ8K => dequantize_q8k,
    BlockIq4Nl => dequantize_iq4nl,
    BlockIq4Xs => dequantize_iq4xs,
    BlockMxfp4 => dequantize_mxfp4,
    BlockNvfp4 => dequantize_nvfp4,
    BlockTq1_0 => dequantize_tq1_0,
    BlockTq2_0 => dequantize_tq2_0,
);

impl DequantizeFormat for f32 {
    #[inline]
    fn dequantize(_backend: &dyn Backend, src: &[Self], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}

/// Run `$body` with the type alias `$W` bound to the block type of the weight format `$fmt`
/// (a [`WeightFormat`](crate::WeightFormat)); evaluates `$none` for `q8_1` (no dot product as a
/// weight) and for formats added to quant-core later.
///
/// ```
/// use quant_core::{BlockFormat, Format};
/// let len = quant_kernels::with_weight_type!(Format::Q4K, W => Some(W::BLOCK_LEN), else => None);
/// assert_eq!(len, Some(256));
/// let none = quant_kernels::with_weight_type!(Format::Q8_1, W => Some(W::BLOCK_LEN), else => None);
/// assert_eq!(none, None);
/// ```
#[macro_export]
macro_rules! with_weight_type {
    ($fmt:expr, $W:ident => $body:expr, else => $none:expr) => {{
        use $crate::__private::quant_core::Format as __F;
        use $crate::__private::quant_core::formats as __b;
        match $fmt {
            __F::F32 => {
                type $W = f32;
                $body
            }
            __F::F16 => {
                type $W = $crate::__private::half::f16;
                $body
            }
            __F::Bf16 => {
                type $W = $crate::__private::half::bf16;
                $body
            }
            __F::Q4_0 => {
                type $W = __b::BlockQ4_0;
                $body
            }
            __F::Q4_1 => {
                type $W = __b::BlockQ4_1;
                $body
            }
            __F::Q5_0 => {
                type $W = __b::BlockQ5_0;
                $body
            }
            __F::Q5_1 => {
                type $W = __b::BlockQ5_1;
                $body
            }
            __F::Q8_0 => {
                type $W = __b::BlockQ8_0;
                $body
            }
            __F::Q2K => {
                type $W = __b::BlockQ2K;
                $body
            }
            __F::Q3K => {
                type $W = __b::BlockQ3K;
                $body
            }
            __F::Q4K => {
                type $W = __b::BlockQ4K;
                $body
            }
            __F::Q5K => {
                type $W = __b::BlockQ5K;
                $body
            }
            __F::Q6K => {
                type $W = __b::BlockQ6K;
                $body
            }
            __F::Q8K => {
                type $W = __b::BlockQ8K;
                $body
            }
            __F::Iq4Nl => {
                type $W = __b::BlockIq4Nl;
                $body
            }
            __F::Iq4Xs => {
                type $W = __b::BlockIq4Xs;
                $body
            }
            __F::Tq1_0 => {
                type $W = __b::BlockTq1_0;
                $body
            }
            __F::Tq2_0 => {
                type $W = __b::BlockTq2_0;
                $body
            }
            __F::Mxfp4 => {
                type $W = __b::BlockMxfp4;
                $body
            }
            __F::Nvfp4 => {
                type $W = __b::BlockNvfp4;
                $body
            }
            _ => $none,
        }
    }};
}
