//! End-to-end evaluation of quantized weights on a real llama-architecture model.
//!
//! * [`tokenizer`]: the byte-level BPE tokenizer stored in a GGUF file (GPT-2 style, with the
//!   pre-tokenizer llama.cpp selects from `tokenizer.ggml.pre`).
//! * [`model`]: hyper-parameters, the source weights dequantized once, and quantized *variants*
//!   (every matrix in one format, llama-quantize's fallback, outlier tables, weight edits).
//! * [`forward`]: the forward pass (RMSNorm, RoPE, grouped-query attention with a KV cache,
//!   SwiGLU, tied output), every product through quant-kernels.
//! * [`eval`]: perplexity and KL divergence of variants against a reference on the same tokens,
//!   streamed in `O(vocab)` memory; super-weight detection.
#![forbid(unsafe_code)]

pub mod error;
pub mod eval;
pub mod forward;
pub mod model;
pub mod tokenizer;

pub use error::{EvalError, Result};
pub use eval::{
    EvalOptions, EvalResult, SuperWeight, VariantResult, build_models, evaluate, evaluate_models,
    find_super_weight, find_super_weight_with_activations, generation_speed,
};
pub use forward::{KvPrecision, Session};
pub use model::{
    EditAction, LlamaConfig, LlamaModel, PreparedWeight, SourceModel, SourceTensor, VariantSpec,
    WeightEdit,
};
