//! The error type of quant-core.

use crate::Format;

/// Everything that can go wrong when quantizing, dequantizing or viewing blocks.
///
/// Every variant names the offending value, index or size so that a caller can report it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input value is NaN or infinite (ggml silently produces garbage for these).
    #[error("non-finite input value {value} at index {index}")]
    NonFinite {
        /// Index of the first offending value in the row.
        index: usize,
        /// The value itself (NaN or ±inf).
        value: f32,
    },
    /// An importance (imatrix) weight is NaN, infinite or negative.
    #[error("invalid importance weight {value} at index {index} (must be finite and >= 0)")]
    InvalidImportance {
        /// Index of the offending weight.
        index: usize,
        /// The weight.
        value: f32,
    },
    /// A row of values whose length is not a multiple of the format's block length.
    #[error("row length {len} is not a multiple of the block length {block_len}")]
    RaggedLength {
        /// Number of values given.
        len: usize,
        /// Values per block of the format.
        block_len: usize,
    },
    /// A byte buffer whose length is not a multiple of the block size.
    #[error("byte length {len} is not a multiple of the block size {block_bytes}")]
    RaggedBytes {
        /// Number of bytes given.
        len: usize,
        /// Bytes per block of the format.
        block_bytes: usize,
    },
    /// A byte buffer that is not aligned for a zero-copy view of the block type.
    #[error("byte buffer is not aligned to {align} bytes for a zero-copy block view")]
    Misaligned {
        /// Required alignment in bytes.
        align: usize,
    },
    /// Two buffers that must agree in size do not.
    #[error("length mismatch for {what}: expected {expected}, got {actual}")]
    LengthMismatch {
        /// Which buffer.
        what: &'static str,
        /// The size implied by the other arguments.
        expected: usize,
        /// The size given.
        actual: usize,
    },
    /// The format does not support the requested operation (e.g. quantizing to `q8_K` with an
    /// importance matrix, which ggml does not define either).
    #[error("format {format} does not support {operation}")]
    Unsupported {
        /// The format.
        format: Format,
        /// What was asked.
        operation: &'static str,
    },
    /// A format name or ggml type id that quant does not know.
    #[error("unknown format {0:?}")]
    UnknownFormat(String),
}

/// `Result` with quant-core's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
