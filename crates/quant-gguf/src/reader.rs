//! The validating GGUF reader.

use std::borrow::Cow;
use std::collections::HashSet;

use quant_core::{BlockFormat, Format};

use crate::value::{Value, ValueType};
use crate::{GgufError, Result};

/// The magic bytes at the start of every GGUF file.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Metadata key of the alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// Deepest array nesting the reader accepts (the specification allows nesting; real files use 1).
pub const MAX_NESTING: usize = 8;
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: usize = 4;

/// One tensor's description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` is the row length (contiguous), then rows, …
    pub dims: Vec<u64>,
    /// Element format.
    pub format: Format,
    /// Offset of the data, relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Total number of values.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |a, &d| a.saturating_mul(d))
    }

    /// Values per row (`dims[0]`).
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Number of rows (product of the other dimensions).
    pub fn n_rows(&self) -> u64 {
        self.dims
            .iter()
            .skip(1)
            .fold(1u64, |a, &d| a.saturating_mul(d))
    }

    /// Size of the data in bytes (saturating at `u64::MAX` for absurd shapes, which the reader
    /// then rejects as out of bounds).
    pub fn byte_len(&self) -> u64 {
        (self.n_elements() / self.format.block_len() as u64)
            .saturating_mul(self.format.block_bytes() as u64)
    }
}

/// A parsed GGUF file over borrowed bytes (a memory map or a buffer). Parsing validates every
/// size, count and offset against the byte length; accessing tensor data afterwards cannot fail
/// for bounds reasons.
///
/// ```
/// use quant_gguf::{Gguf, GgufWriter, Value};
/// use quant_core::Format;
///
/// let mut w = GgufWriter::new();
/// w.set_metadata("general.name", Value::String("demo".into()));
/// let x: Vec<f32> = (0..64).map(|i| i as f32 - 32.0).collect();
/// let q = quant_core::quantize(Format::Q8_0, &x, None)?; // d = 32/127 in f16: not exact
/// w.add_tensor("w", vec![64], Format::Q8_0, q.clone())?;
/// let mut bytes = Vec::new();
/// w.write_to(&mut bytes)?;
///
/// let g = Gguf::parse(&bytes)?;
/// assert_eq!(g.get("general.name").and_then(Value::as_str), Some("demo"));
/// let t = g.tensor("w").unwrap();
/// assert_eq!(t.format, Format::Q8_0);
/// assert_eq!(g.tensor_data(t), &q[..]);
/// assert_eq!(g.tensor_f32(t)?, quant_core::dequantize(Format::Q8_0, &q, 64)?);
/// # Ok::<(), quant_gguf::GgufError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Gguf<'a> {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensor descriptions in file order.
    pub tensors: Vec<TensorInfo>,
    /// Alignment of tensor data.
    pub alignment: u64,
    /// Offset of the data section in the file.
    pub data_offset: u64,
    bytes: &'a [u8],
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                what,
                offset: self.pos as u64,
                needed: n,
                len: self.bytes.len() as u64,
            });
        }
        let n = n as usize;
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items of at least `min_size` bytes each, bounded by the remaining bytes.
    fn count(&mut self, what: &'static str, min_size: u64) -> Result<u64> {
        let offset = self.pos as u64;
        let count = self.u64(what)?;
        let max = self.remaining() / min_size.max(1);
        if count > max {
            return Err(GgufError::AbsurdCount {
                what,
                count,
                max,
                offset,
            });
        }
        Ok(count)
    }

    fn string(&mut self, what: &'static str) -> Result<String> {
        let offset = self.pos as u64 + 8;
        let len = self.count(what, 1)?;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| GgufError::InvalidUtf8 { offset })
    }

    fn value(&mut self, ty: ValueType, depth: usize) -> Result<Value> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>("u8 value")?[0]),
            ValueType::I8 => Value::I8(self.array::<1>("i8 value")?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array("u16 value")?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array("i16 value")?)),
            ValueType::U32 => Value::U32(self.u32("u32 value")?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array("i32 value")?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array("f32 value")?)),
            ValueType::Bool => Value::Bool(self.array::<1>("bool value")?[0] != 0),
            ValueType::String => Value::String(self.string("string value")?),
            ValueType::U64 => Value::U64(self.u64("u64 value")?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array("i64 value")?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array("f64 value")?)),
            ValueType::Array => {
                if depth >= MAX_NESTING {
                    return Err(GgufError::NestingTooDeep(MAX_NESTING));
                }
                let id = self.u32("array element type")?;
                let elem = ValueType::from_id(id).ok_or(GgufError::InvalidValueType(id))?;
                let n = self.count("array element", elem.min_size())?;
                let mut values = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    values.push(self.value(elem, depth + 1)?);
                }
                Value::Array { elem, values }
            }
        })
    }
}

pub(crate) fn align_up(x: u64, alignment: u64) -> Option<u64> {
    x.checked_add(alignment - 1)
        .map(|v| v / alignment * alignment)
}

impl<'a> Gguf<'a> {
    /// Parse and validate a whole GGUF file held in `bytes`.
    ///
    /// # Errors
    /// A [`GgufError`] naming the first problem: bad magic or version, truncation, absurd counts,
    /// invalid value types, non-UTF-8 strings, duplicate keys or tensor names, invalid alignment,
    /// invalid shapes, unsupported tensor types, ragged rows, misaligned, out-of-bounds or
    /// overlapping tensor data.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut c = Cursor { bytes, pos: 0 };
        let magic: [u8; 4] = if bytes.len() < 4 {
            return Err(GgufError::Truncated {
                what: "magic",
                offset: 0,
                needed: 4,
                len: bytes.len() as u64,
            });
        } else {
            c.array("magic")?
        };
        if magic != MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        // Each tensor info takes at least 8 (name) + 4 (n_dims) + 8 (one dim) + 4 + 8 bytes,
        // each key/value pair at least 8 (key) + 4 (type) + 1 byte.
        let n_tensors = c.count("tensor", 32)?;
        let n_kv = c.count("metadata key/value", 13)?;

        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut keys = HashSet::new();
        for _ in 0..n_kv {
            let key = c.string("metadata key")?;
            let id = c.u32("metadata value type")?;
            let ty = ValueType::from_id(id).ok_or(GgufError::InvalidValueType(id))?;
            let value = c.value(ty, 0)?;
            if !keys.insert(key.clone()) {
                return Err(GgufError::DuplicateKey(key));
            }
            metadata.push((key, value));
        }

        let alignment = match metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
            None => DEFAULT_ALIGNMENT,
            Some((_, Value::U32(a))) => u64::from(*a),
            Some((k, v)) => {
                return Err(GgufError::WrongType {
                    key: k.clone(),
                    found: v.value_type().name(),
                    expected: "u32",
                });
            }
        };
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(GgufError::InvalidAlignment(alignment));
        }

        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut names = HashSet::new();
        for _ in 0..n_tensors {
            let name = c.string("tensor name")?;
            let n_dims = c.u32("tensor dimension count")? as usize;
            let mut dims = Vec::with_capacity(n_dims.min(MAX_DIMS));
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::InvalidShape {
                    name,
                    dims: vec![n_dims as u64],
                });
            }
            for _ in 0..n_dims {
                dims.push(c.u64("tensor dimension")?);
            }
            let type_id = c.u32("tensor type")?;
            let offset = c.u64("tensor offset")?;
            let total = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
            if dims.contains(&0) || total.is_none_or(|t| t > i64::MAX as u64) {
                return Err(GgufError::InvalidShape { name, dims });
            }
            let format =
                Format::from_ggml_type_id(type_id).ok_or_else(|| GgufError::UnsupportedType {
                    name: name.clone(),
                    type_id,
                })?;
            if !dims[0].is_multiple_of(format.block_len() as u64) {
                return Err(GgufError::RaggedRows {
                    name,
                    row_len: dims[0],
                    format,
                });
            }
            if !offset.is_multiple_of(alignment) {
                return Err(GgufError::MisalignedTensor {
                    name,
                    offset,
                    alignment,
                });
            }
            if !names.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push(TensorInfo {
                name,
                dims,
                format,
                offset,
            });
        }

        let data_offset =
            align_up(c.pos as u64, alignment).ok_or(GgufError::InvalidAlignment(alignment))?;
        let data_len = (bytes.len() as u64).saturating_sub(data_offset);
        let mut spans: Vec<(u64, u64, usize)> = Vec::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            let size = t.byte_len();
            let end = t
                .offset
                .checked_add(size)
                .filter(|&e| e <= data_len)
                .ok_or_else(|| GgufError::TensorOutOfBounds {
                    name: t.name.clone(),
                    start: t.offset,
                    end: t.offset.saturating_add(size),
                    len: data_len,
                })?;
            spans.push((t.offset, end, i));
        }
        spans.sort_unstable();
        for w in spans.windows(2) {
            if w[1].0 < w[0].1 {
                return Err(GgufError::Overlap {
                    first: tensors[w[0].2].name.clone(),
                    second: tensors[w[1].2].name.clone(),
                });
            }
        }
        Ok(Gguf {
            version,
            metadata,
            tensors,
            alignment,
            data_offset,
            bytes,
        })
    }

    /// The metadata value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The whole file's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The raw data of `info` (validated at parse time), without copying.
    ///
    /// # Panics
    /// If `info` does not describe a tensor of this file (its bounds were not validated).
    pub fn tensor_data(&self, info: &TensorInfo) -> &'a [u8] {
        let start = (self.data_offset + info.offset) as usize;
        &self.bytes[start..start + info.byte_len() as usize]
    }

    /// The tensor's blocks: borrowed when the data is aligned for `B` (always, for ggml's 32-byte
    /// alignment), copied otherwise.
    ///
    /// # Errors
    /// [`GgufError::WrongType`] if `B` is not the tensor's format.
    pub fn tensor_blocks<B: BlockFormat>(&self, info: &TensorInfo) -> Result<Cow<'a, [B]>> {
        if B::FORMAT != Some(info.format) {
            return Err(GgufError::WrongType {
                key: info.name.clone(),
                found: info.format.name(),
                expected: B::NAME,
            });
        }
        let data = self.tensor_data(info);
        Ok(match quant_core::blocks_from_bytes::<B>(data) {
            Ok(b) => Cow::Borrowed(b),
            Err(_) => Cow::Owned(quant_core::blocks_from_bytes_unaligned::<B>(data)?),
        })
    }

    /// The tensor dequantized to f32 (row-major, `n_rows × row_len`), rows in parallel.
    ///
    /// # Errors
    /// Errors of [`quant_core::dequantize_matrix`] (none for a validated tensor).
    pub fn tensor_f32(&self, info: &TensorInfo) -> Result<Vec<f32>> {
        Ok(quant_core::dequantize_matrix(
            info.format,
            self.tensor_data(info),
            info.n_rows() as usize,
            info.row_len() as usize,
        )?)
    }
}
