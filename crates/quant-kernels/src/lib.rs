//! # quant-kernels
//!
//! Dot products, dequantization and matrix × vector products for every format of
//! [`quant_core`], behind the [`Backend`] trait with scalar, AVX2, AVX-512 and NEON
//! implementations chosen at run time.
//!
//! * [`Backend`]: one implementation per instruction set; [`available`], [`best`], [`by_name`]
//!   choose one (`QUANT_BACKEND=avx2` forces one for a process).
//! * [`vec_dot`] / [`vec_dot_with`], [`dequantize_with`], [`quantize_activations`]: runtime-typed
//!   entry points on raw ggml bytes.
//! * [`QuantMatrix`]: matrix × vector and matrix × small batch, rows split across threads.
//! * [`dot_generic`] / [`GenericMatrix`]: the same products for any user [`quant_core::BlockFormat`].
//! * `conformance` (feature `conformance`): checks any backend against [`scalar`];
//!   [`tolerance`]: the float tolerance policy; [`bench`](mod@bench): timing a backend beside the built-in
//!   ones.

pub mod backend;
pub mod bench;
pub mod dispatch;
mod error;
pub mod formats;
mod generic;
mod matvec;
mod runtime;
pub mod scalar;
pub mod tolerance;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(target_arch = "aarch64")]
pub mod aarch64;

pub use backend::Backend;
pub use dispatch::{available, best, by_name};
pub use error::{Error, Result};
pub use formats::{ActivationFormat, DequantizeFormat, WeightFormat};
pub use generic::{GenericMatrix, dot_generic};
pub use matvec::{QuantMatrix, RowTerm, Scratch};
pub use runtime::{
    dequantize_with, quantize_activations, quantize_activations_into, vec_dot, vec_dot_typed,
    vec_dot_with,
};

#[doc(hidden)]
pub mod __private {
    pub use half;
    pub use quant_core;
}
