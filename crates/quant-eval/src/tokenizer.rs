//! Byte-level BPE tokenizer from GGUF metadata (placeholder, being written).
