//! Errors of model loading, the forward pass and evaluation.

use thiserror::Error;

/// Everything that can go wrong in quant-eval.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A metadata key is missing or has an invalid value.
    #[error("invalid or missing GGUF metadata: {0}")]
    Metadata(&'static str),
    /// The model uses something this forward pass does not implement.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A tensor the forward pass needs is absent.
    #[error("tensor {0} is missing")]
    MissingTensor(String),
    /// A tensor has the wrong shape.
    #[error("tensor {tensor}: expected {expected:?} (rows, cols), found {actual:?}")]
    Shape {
        /// Tensor name.
        tensor: String,
        /// Expected `(rows, cols)`.
        expected: (usize, usize),
        /// Found `(rows, cols)`.
        actual: (u64, u64),
    },
    /// A tensor holds NaN or ±inf.
    #[error("tensor {0} holds NaN or infinite values")]
    NonFinite(String),
    /// A token id outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {n_vocab}")]
    Token {
        /// The id.
        id: usize,
        /// Vocabulary size.
        n_vocab: usize,
    },
    /// The KV cache is full.
    #[error("context overflow: {needed} positions needed, the cache holds {capacity}")]
    ContextOverflow {
        /// Positions needed.
        needed: usize,
        /// Cache capacity.
        capacity: usize,
    },
    /// A weight edit outside its tensor.
    #[error("weight edit: {0}")]
    Edit(String),
    /// Invalid evaluation parameters (context too small, no tokens, ...).
    #[error("invalid evaluation parameter: {0}")]
    Parameter(String),
    /// A number format error.
    #[error(transparent)]
    Format(#[from] quant_core::Error),
    /// An outlier-table error.
    #[error(transparent)]
    Outlier(#[from] quant_core::outlier::OutlierError),
    /// A kernel error.
    #[error(transparent)]
    Kernel(#[from] quant_kernels::Error),
    /// A GGUF reading error.
    #[error(transparent)]
    Gguf(#[from] quant_gguf::GgufError),
    /// A metrics error.
    #[error(transparent)]
    Metrics(#[from] quant_metrics::MetricsError),
}

/// Result with [`EvalError`].
pub type Result<T> = std::result::Result<T, EvalError>;
