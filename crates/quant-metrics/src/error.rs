//! The crate's error type.

use std::io;

/// Everything that can go wrong in this crate.
///
/// Bad input (non-finite logits, malformed files, inconsistent lengths) is always reported
/// through this type; no function of the crate panics on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A logits (or log-probability) row was empty.
    #[error("empty logits row")]
    EmptyRow,
    /// A logit was NaN or infinite.
    #[error("non-finite value {value} at index {index} of a logits row")]
    NonFinite {
        /// Position of the offending value in its row.
        index: usize,
        /// The value itself.
        value: f32,
    },
    /// Two rows that must have the same vocabulary size did not.
    #[error("vocabulary size mismatch: {left} vs {right}")]
    VocabMismatch {
        /// Size of the first row.
        left: usize,
        /// Size of the second row.
        right: usize,
    },
    /// A token id was outside the vocabulary.
    #[error("token {token} out of range for a vocabulary of {n_vocab}")]
    TokenOutOfRange {
        /// The token id.
        token: i64,
        /// The vocabulary size.
        n_vocab: usize,
    },
    /// Two slices that must have the same length did not.
    #[error("length mismatch: {what} ({left} vs {right})")]
    LengthMismatch {
        /// What was compared.
        what: &'static str,
        /// First length.
        left: usize,
        /// Second length.
        right: usize,
    },
    /// A parameter was outside its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// Not enough data for the requested statistic.
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// An I/O error while reading or writing a logits file.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with llama.cpp's `_logits_` magic.
    #[error("not a llama.cpp logits file (bad magic)")]
    BadMagic,
    /// A header field of a logits file is invalid.
    #[error("invalid logits-file header: {field} = {value}")]
    InvalidHeader {
        /// Name of the field.
        field: &'static str,
        /// Its value as read.
        value: i64,
    },
    /// The file length does not match the length implied by its header.
    #[error("logits file has {actual} bytes but its header implies {expected}")]
    SizeMismatch {
        /// Bytes implied by the header.
        expected: u64,
        /// Bytes actually present.
        actual: u64,
    },
    /// The header describes a file too large to be addressed.
    #[error("logits-file header describes an impossibly large file")]
    SizeOverflow,
    /// A record of a logits file holds a non-finite or negative scale or minimum.
    #[error(
        "record {record}: invalid packing parameters (scale {scale}, min_log_prob {min_log_prob})"
    )]
    InvalidRecord {
        /// Record index (0-based, in file order).
        record: u64,
        /// The stored scale.
        scale: f32,
        /// The stored minimum log-probability.
        min_log_prob: f32,
    },
    /// Two logits files to compare do not describe the same evaluation.
    #[error("inconsistent logits files: {0}")]
    InconsistentFiles(String),
    /// A writer received a different number of records or tokens than its header announced.
    #[error("record count mismatch: expected {expected}, got {actual}")]
    RecordCount {
        /// Records announced by the header.
        expected: u64,
        /// Records written or read.
        actual: u64,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;
