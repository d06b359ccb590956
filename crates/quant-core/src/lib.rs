//! # quant-core
//!
//! Number formats for quantizing large-language-model weights on the CPU:
//!
//! * [`float`]: the bit anatomy of f32, f16, bf16 and the fp8 formats E4M3 / E5M2, with
//!   round-to-nearest-even conversions between them.
//! * [`formats`]: ggml's block formats (`q4_0` … `q8_K`, `iq4_nl`, `iq4_xs`, `mxfp4`, `nvfp4`,
//!   `tq1_0`, `tq2_0`), byte-identical to GGUF, with reference quantizers that reproduce ggml's
//!   bytes exactly (importance-weighted "imatrix" paths included).
//! * [`Format`] and the row functions [`quantize`] / [`dequantize`] for programs that choose the
//!   format at run time, and the [`BlockFormat`] trait for user-defined formats.
//!
//! ```
//! use quant_core::{quantize, dequantize, Format};
//!
//! let row: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 - 50.0) / 100.0).collect();
//! let bytes = quantize(Format::Q4K, &row, None)?;
//! assert_eq!(bytes.len(), 144); // one 256-value super-block, 4.5 bits per weight
//! let back = dequantize(Format::Q4K, &bytes, row.len())?;
//! let rmse = (row.iter().zip(&back).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / 256.0).sqrt();
//! assert!(rmse < 0.05);
//! # Ok::<(), quant_core::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod block;
mod error;
pub mod float;
mod format;
pub mod formats;
pub mod outlier;
pub mod sample;
pub mod stats;
#[cfg(feature = "proptest")]
pub mod testing;

pub use block::{
    BlockFormat, blocks_as_bytes, blocks_from_bytes, blocks_from_bytes_mut,
    blocks_from_bytes_unaligned, dequantize_row, dequantize_row_to_vec, quantize_row,
    quantize_row_to_vec, validate_row,
};
pub use error::{Error, Result};
pub use format::{
    Format, dequantize, dequantize_into, dequantize_matrix, quantize, quantize_into,
    quantize_matrix,
};
pub use half;
