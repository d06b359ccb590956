//! End-to-end evaluation of quantized weights on a real llama-architecture model.
//!
//! * [`tokenizer`]: the byte-level BPE tokenizer stored in a GGUF file (GPT-2 style, with the
//!   pre-tokenizer llama.cpp selects from `tokenizer.ggml.pre`).
#![forbid(unsafe_code)]

pub mod tokenizer;
