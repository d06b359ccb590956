//! # quant-gguf
//!
//! Read and write GGUF files (v2 and v3), the model format of ggml and llama.cpp, and read
//! safetensors files (F32/F16/BF16).
//!
//! * [`Gguf::parse`] validates a whole file held in memory (or memory-mapped with [`GgufFile`]):
//!   every size, count, offset and string length is untrusted and checked against the file length
//!   before anything is allocated or sliced; problems are typed [`GgufError`]s.
//! * Tensor data is available as bytes, as typed quant-core blocks without copying, or
//!   dequantized to f32 for every format quant-core has.
//! * [`GgufWriter`] writes files the way ggml and gguf-py lay them out, so read → write gives the
//!   same bytes.
#![deny(unsafe_code)]

mod error;
mod file;
mod reader;
mod safetensors;
mod value;
mod writer;

pub use error::{GgufError, Result};
pub use file::GgufFile;
pub use reader::{
    ALIGNMENT_KEY, DEFAULT_ALIGNMENT, Gguf, MAGIC, MAX_DIMS, MAX_NESTING, TensorInfo,
};
pub use safetensors::{SafeTensorInfo, SafetensorsFile};
pub use value::{Value, ValueType};
pub use writer::GgufWriter;
