//! The error type of quant-kernels.

use quant_core::Format;

/// Everything the runtime-typed entry points ([`vec_dot`](crate::vec_dot),
/// [`dequantize_with`](crate::dequantize_with), [`QuantMatrix`](crate::QuantMatrix), …) reject.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The format has no dot product as a weight format (`q8_1` is an activation-only format).
    #[error("format {format} has no dot product as a weight format")]
    NoDot {
        /// The format asked for.
        format: Format,
    },
    /// The format is not one activations are quantized into (`q8_0`, `q8_1`, `q8_K`, or a plain
    /// float format).
    #[error("format {format} is not an activation format (q8_0, q8_1, q8_K, f32, f16, bf16)")]
    NotActivationFormat {
        /// The format asked for.
        format: Format,
    },
    /// The weight row and the activation row hold different numbers of values.
    #[error(
        "row length mismatch: the weight row holds {weight} values, the activation row {activation}"
    )]
    RowLengthMismatch {
        /// Values in the weight row.
        weight: usize,
        /// Values in the activation row.
        activation: usize,
    },
    /// A matrix shape that does not agree with the buffers given.
    #[error("shape mismatch for {what}: expected {expected}, got {actual}")]
    ShapeMismatch {
        /// Which buffer.
        what: &'static str,
        /// The size implied by the shape.
        expected: usize,
        /// The size given.
        actual: usize,
    },
    /// An error from quant-core: ragged bytes, ragged lengths, non-finite activations, …
    #[error(transparent)]
    Core(#[from] quant_core::Error),
}

/// `Result` with quant-kernels' [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
