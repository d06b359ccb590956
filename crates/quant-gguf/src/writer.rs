//! The GGUF writer.

use std::borrow::Cow;
use std::io::Write;

use quant_core::Format;

use crate::reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, Gguf, MAX_DIMS, align_up};
use crate::value::Value;
use crate::{GgufError, Result};

struct PendingTensor<'a> {
    name: String,
    dims: Vec<u64>,
    format: Format,
    data: Cow<'a, [u8]>,
}

/// Builds a GGUF file: metadata in insertion order, tensors in insertion order, each tensor's data
/// aligned to `general.alignment` (32 by default) and zero-padded, as ggml's `gguf_write_to_buf` and
/// gguf-py's writer lay it out. Reading a file written that way and writing it back
/// ([`GgufWriter::from_gguf`]) gives the same bytes.
#[derive(Default)]
pub struct GgufWriter<'a> {
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor<'a>>,
}

impl<'a> GgufWriter<'a> {
    /// An empty GGUF v3 file.
    pub fn new() -> Self {
        Self {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// A writer holding everything of `g` (metadata, tensor infos, borrowed tensor data).
    pub fn from_gguf(g: &Gguf<'a>) -> Self {
        let mut w = Self {
            version: g.version,
            metadata: g.metadata.clone(),
            tensors: Vec::new(),
        };
        // Tensor infos keep file order and data is laid out in that order, which is the file's
        // own data order for every writer that assigns offsets sequentially (ggml, gguf-py).
        for t in &g.tensors {
            w.tensors.push(PendingTensor {
                name: t.name.clone(),
                dims: t.dims.clone(),
                format: t.format,
                data: Cow::Borrowed(g.tensor_data(t)),
            });
        }
        w
    }

    /// Set the format version written (2 or 3; default 3).
    ///
    /// # Errors
    /// [`GgufError::UnsupportedVersion`] for another value.
    pub fn set_version(&mut self, version: u32) -> Result<()> {
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        self.version = version;
        Ok(())
    }

    /// Set `key` to `value`, replacing an existing value in place or appending.
    pub fn set_metadata(&mut self, key: &str, value: Value) {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key.to_owned(), value)),
        }
    }

    /// Remove `key` if present, returning its value.
    pub fn remove_metadata(&mut self, key: &str) -> Option<Value> {
        let i = self.metadata.iter().position(|(k, _)| k == key)?;
        Some(self.metadata.remove(i).1)
    }

    /// The metadata so far.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// Names of the tensors so far, in order.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|t| t.name.as_str())
    }

    /// Remove every tensor (to re-add them quantized, for instance).
    pub fn clear_tensors(&mut self) {
        self.tensors.clear();
    }

    /// Append a tensor. `dims` are in ggml order (`dims[0]` = row length).
    ///
    /// # Errors
    /// [`GgufError::DuplicateTensor`], [`GgufError::InvalidShape`], [`GgufError::RaggedRows`] or
    /// [`GgufError::DataSize`] if `data` does not hold exactly the tensor's bytes.
    pub fn add_tensor(
        &mut self,
        name: &str,
        dims: Vec<u64>,
        format: Format,
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<()> {
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::DuplicateTensor(name.to_owned()));
        }
        let total = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        if dims.is_empty() || dims.len() > MAX_DIMS || dims.contains(&0) || total.is_none() {
            return Err(GgufError::InvalidShape {
                name: name.to_owned(),
                dims,
            });
        }
        if !dims[0].is_multiple_of(format.block_len() as u64) {
            return Err(GgufError::RaggedRows {
                name: name.to_owned(),
                row_len: dims[0],
                format,
            });
        }
        let expected = total.unwrap_or(0) / format.block_len() as u64 * format.block_bytes() as u64;
        let data = data.into();
        if data.len() as u64 != expected {
            return Err(GgufError::DataSize {
                name: name.to_owned(),
                expected,
                actual: data.len() as u64,
            });
        }
        self.tensors.push(PendingTensor {
            name: name.to_owned(),
            dims,
            format,
            data,
        });
        Ok(())
    }

    fn alignment(&self) -> Result<u64> {
        match self.metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
            None => Ok(DEFAULT_ALIGNMENT),
            Some((_, Value::U32(a))) if *a != 0 && a.is_power_of_two() => Ok(u64::from(*a)),
            Some((_, Value::U32(a))) => Err(GgufError::InvalidAlignment(u64::from(*a))),
            Some((k, v)) => Err(GgufError::WrongType {
                key: k.clone(),
                found: v.value_type().name(),
                expected: "u32",
            }),
        }
    }

    /// Write the file, returning the number of bytes written.
    ///
    /// # Errors
    /// I/O errors, or an invalid `general.alignment`.
    pub fn write_to<W: Write>(&self, mut w: W) -> Result<u64> {
        let alignment = self.alignment()?;
        let mut head = Vec::new();
        head.extend_from_slice(b"GGUF");
        head.extend_from_slice(&self.version.to_le_bytes());
        head.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        head.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_string(&mut head, k);
            head.extend_from_slice(&(v.value_type() as u32).to_le_bytes());
            put_value(&mut head, v);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_string(&mut head, &t.name);
            head.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                head.extend_from_slice(&d.to_le_bytes());
            }
            head.extend_from_slice(&t.format.ggml_type_id().to_le_bytes());
            head.extend_from_slice(&offset.to_le_bytes());
            offset = align_up(offset + t.data.len() as u64, alignment).unwrap_or(u64::MAX);
        }
        let data_offset = align_up(head.len() as u64, alignment).unwrap_or(u64::MAX);
        head.resize(data_offset as usize, 0);
        w.write_all(&head)?;
        let mut written = head.len() as u64;
        let zeros = vec![0u8; alignment as usize];
        for t in &self.tensors {
            w.write_all(&t.data)?;
            let padded = align_up(t.data.len() as u64, alignment).unwrap_or(u64::MAX);
            w.write_all(&zeros[..(padded - t.data.len() as u64) as usize])?;
            written += padded;
        }
        w.flush()?;
        Ok(written)
    }

    /// Write the file to `path` (created or truncated).
    ///
    /// # Errors
    /// As [`GgufWriter::write_to`].
    pub fn write_file(&self, path: impl AsRef<std::path::Path>) -> Result<u64> {
        let f = std::fs::File::create(path)?;
        self.write_to(std::io::BufWriter::new(f))
    }
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => buf.push(*x),
        Value::I8(x) => buf.push(*x as u8),
        Value::U16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => buf.push(u8::from(*x)),
        Value::String(s) => put_string(buf, s),
        Value::U64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::Array { elem, values } => {
            buf.extend_from_slice(&(*elem as u32).to_le_bytes());
            buf.extend_from_slice(&(values.len() as u64).to_le_bytes());
            for x in values {
                debug_assert_eq!(
                    x.value_type(),
                    *elem,
                    "array elements must share the element type"
                );
                put_value(buf, x);
            }
        }
    }
}
