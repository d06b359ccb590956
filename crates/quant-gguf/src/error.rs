//! Errors of the GGUF reader and writer.

/// Everything that can be wrong with a GGUF file or a write request.
///
/// Every size, count, offset and string length in a file is untrusted: the reader checks each one
/// against the bytes that remain before allocating or slicing, and reports the first violation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// I/O error while opening, mapping or writing.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with `GGUF`.
    #[error("not a GGUF file (magic {0:02x?})")]
    BadMagic([u8; 4]),
    /// A version other than 2 or 3 (version 1 used 32-bit counts and is obsolete).
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    /// The file ends inside a structure.
    #[error("truncated file: need {needed} bytes at offset {offset} for {what}, file has {len}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: u64,
        /// How many bytes it needs.
        needed: u64,
        /// File length.
        len: u64,
    },
    /// A count that cannot fit in the bytes that remain (e.g. 2^60 tensors).
    #[error(
        "absurd {what} count {count} at offset {offset}: at most {max} fit in the remaining bytes"
    )]
    AbsurdCount {
        /// Which count.
        what: &'static str,
        /// The value read.
        count: u64,
        /// Largest value the remaining bytes could hold.
        max: u64,
        /// Where.
        offset: u64,
    },
    /// A metadata value type id outside the GGUF specification.
    #[error("invalid metadata value type {0}")]
    InvalidValueType(u32),
    /// Arrays nested deeper than the reader allows.
    #[error("metadata arrays nested deeper than {0}")]
    NestingTooDeep(usize),
    /// A string that is not UTF-8.
    #[error("string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the string's bytes start.
        offset: u64,
    },
    /// The same metadata key twice.
    #[error("duplicate metadata key {0:?}")]
    DuplicateKey(String),
    /// The same tensor name twice.
    #[error("duplicate tensor name {0:?}")]
    DuplicateTensor(String),
    /// `general.alignment` is zero, not a power of two, or not a u32.
    #[error("invalid alignment {0}")]
    InvalidAlignment(u64),
    /// A tensor with 0 or more than 4 dimensions, or a zero/overflowing dimension.
    #[error("tensor {name:?}: invalid shape {dims:?}")]
    InvalidShape {
        /// Tensor name.
        name: String,
        /// Dimensions as read (ggml order: `dims[0]` is the row length).
        dims: Vec<u64>,
    },
    /// A ggml type id quant does not know.
    #[error("tensor {name:?}: unsupported ggml type id {type_id}")]
    UnsupportedType {
        /// Tensor name.
        name: String,
        /// The ggml type id.
        type_id: u32,
    },
    /// A row length that is not a multiple of the type's block length.
    #[error("tensor {name:?}: row length {row_len} is not a multiple of the {format} block length")]
    RaggedRows {
        /// Tensor name.
        name: String,
        /// `dims[0]`.
        row_len: u64,
        /// The tensor's format.
        format: quant_core::Format,
    },
    /// A tensor offset that is not a multiple of the alignment.
    #[error("tensor {name:?}: offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor {
        /// Tensor name.
        name: String,
        /// Offset relative to the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },
    /// Tensor data beyond the end of the file.
    #[error("tensor {name:?}: data [{start}, {end}) lies beyond the data section of {len} bytes")]
    TensorOutOfBounds {
        /// Tensor name.
        name: String,
        /// Start, relative to the data section.
        start: u64,
        /// End, relative to the data section.
        end: u64,
        /// Length of the data section.
        len: u64,
    },
    /// Two tensors whose data overlap.
    #[error("tensors {first:?} and {second:?} overlap")]
    Overlap {
        /// The tensor that starts first.
        first: String,
        /// The tensor that starts inside it.
        second: String,
    },
    /// A metadata key whose value has another type than required.
    #[error("metadata key {key:?} has type {found}, expected {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// The type found.
        found: &'static str,
        /// The type required.
        expected: &'static str,
    },
    /// No tensor of that name.
    #[error("no tensor named {0:?}")]
    NoSuchTensor(String),
    /// Tensor data of the wrong size given to the writer.
    #[error("tensor {name:?}: {actual} data bytes given, shape and type need {expected}")]
    DataSize {
        /// Tensor name.
        name: String,
        /// Bytes the shape and format need.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
    /// An invalid safetensors file (message of the `safetensors` crate).
    #[error("safetensors: {0}")]
    Safetensors(String),
    /// An error from quant-core (dequantization).
    #[error(transparent)]
    Format(#[from] quant_core::Error),
}

/// `Result` with [`GgufError`].
pub type Result<T, E = GgufError> = core::result::Result<T, E>;
