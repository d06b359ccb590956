//! safetensors input: F32, F16 and BF16 tensors, memory-mapped, through the `safetensors` crate.

use std::path::Path;

use quant_core::Format;
use safetensors::{Dtype, SafeTensors};

use crate::{GgufError, GgufFile, Result};

/// One tensor of a safetensors file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeTensorInfo {
    /// Name.
    pub name: String,
    /// Shape in PyTorch order (`[out_features, in_features]` for a linear layer: the last
    /// dimension is contiguous).
    pub shape: Vec<usize>,
    /// Element format.
    pub format: Format,
}

impl SafeTensorInfo {
    /// Values per row (the last, contiguous dimension).
    pub fn row_len(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// Number of rows (product of the other dimensions).
    pub fn n_rows(&self) -> usize {
        self.shape.iter().rev().skip(1).product()
    }
}

/// A memory-mapped safetensors file.
///
/// ```no_run
/// let st = quant_gguf::SafetensorsFile::open("model.safetensors")?;
/// for t in st.tensors()? {
///     let w = st.tensor_f32(&t.name)?;
///     println!("{} {:?} {}", t.name, t.shape, w.len());
/// }
/// # Ok::<(), quant_gguf::GgufError>(())
/// ```
#[derive(Debug)]
pub struct SafetensorsFile {
    file: GgufFile,
}

fn st_err(e: safetensors::SafeTensorError) -> GgufError {
    GgufError::Safetensors(e.to_string())
}

impl SafetensorsFile {
    /// Map `path` read-only (same contract as [`GgufFile::open`]).
    ///
    /// # Errors
    /// I/O errors.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            file: GgufFile::open(path)?,
        })
    }

    fn parse(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(self.file.bytes()).map_err(st_err)
    }

    /// The tensors, sorted by name, with the F32/F16/BF16 ones only (others are listed by
    /// [`SafetensorsFile::skipped`]).
    ///
    /// # Errors
    /// [`GgufError::Safetensors`] for an invalid header (the crate validates offsets and sizes).
    pub fn tensors(&self) -> Result<Vec<SafeTensorInfo>> {
        let st = self.parse()?;
        let mut v: Vec<SafeTensorInfo> = st
            .tensors()
            .into_iter()
            .filter_map(|(name, view)| {
                let format = match view.dtype() {
                    Dtype::F32 => Format::F32,
                    Dtype::F16 => Format::F16,
                    Dtype::BF16 => Format::Bf16,
                    _ => return None,
                };
                Some(SafeTensorInfo {
                    name,
                    shape: view.shape().to_vec(),
                    format,
                })
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// Names and dtypes of tensors that are not F32/F16/BF16.
    ///
    /// # Errors
    /// As [`SafetensorsFile::tensors`].
    pub fn skipped(&self) -> Result<Vec<(String, String)>> {
        let st = self.parse()?;
        Ok(st
            .tensors()
            .into_iter()
            .filter(|(_, v)| !matches!(v.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16))
            .map(|(n, v)| (n, format!("{:?}", v.dtype())))
            .collect())
    }

    /// The tensor `name` converted to f32 (row-major, as stored).
    ///
    /// # Errors
    /// [`GgufError::NoSuchTensor`], [`GgufError::UnsupportedType`] for other dtypes.
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>> {
        let st = self.parse()?;
        let view = st
            .tensor(name)
            .map_err(|_| GgufError::NoSuchTensor(name.to_owned()))?;
        let format = match view.dtype() {
            Dtype::F32 => Format::F32,
            Dtype::F16 => Format::F16,
            Dtype::BF16 => Format::Bf16,
            _ => {
                return Err(GgufError::UnsupportedType {
                    name: name.to_owned(),
                    type_id: u32::MAX,
                });
            }
        };
        let n = view.shape().iter().product();
        Ok(quant_core::dequantize(format, view.data(), n)?)
    }
}
