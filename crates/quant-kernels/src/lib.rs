//! # quant-kernels
//!
//! Dot products, dequantization and matrix × vector products for every format of
//! [`quant_core`], behind the [`Backend`] trait with scalar, AVX2, AVX-512 and NEON
//! implementations chosen at run time.

pub mod backend;
pub mod dispatch;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(target_arch = "aarch64")]
pub mod aarch64;

pub use backend::Backend;
pub use dispatch::{available, best, by_name};
