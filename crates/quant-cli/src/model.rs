//! Model files of either kind (GGUF, safetensors) behind one interface.

use std::path::Path;

use quant_core::Format;
use quant_gguf::{GgufError, GgufFile, SafetensorsFile};

/// An open model file.
#[derive(Debug)]
pub enum ModelFile {
    /// A GGUF file.
    Gguf(GgufFile),
    /// A safetensors file.
    Safetensors(SafetensorsFile),
}

/// A tensor of a model file, in ggml's dimension order (`dims[0]` = row length).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Name.
    pub name: String,
    /// ggml-order dimensions.
    pub dims: Vec<u64>,
    /// Element format.
    pub format: Format,
    /// Bytes of data.
    pub bytes: u64,
}

impl Tensor {
    /// Values per row.
    pub fn row_len(&self) -> usize {
        self.dims[0] as usize
    }

    /// Rows.
    pub fn n_rows(&self) -> usize {
        self.dims.iter().skip(1).product::<u64>() as usize
    }

    /// Values.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

impl ModelFile {
    /// Open `path`, choosing the kind by its first bytes (`GGUF` magic) or else safetensors.
    ///
    /// # Errors
    /// I/O errors.
    pub fn open(path: &Path) -> Result<Self, GgufError> {
        let g = GgufFile::open(path)?;
        if g.bytes().starts_with(b"GGUF") {
            Ok(ModelFile::Gguf(g))
        } else {
            drop(g);
            Ok(ModelFile::Safetensors(SafetensorsFile::open(path)?))
        }
    }

    /// Short kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelFile::Gguf(_) => "GGUF",
            ModelFile::Safetensors(_) => "safetensors",
        }
    }

    /// The tensors in file order (GGUF) or name order (safetensors).
    ///
    /// # Errors
    /// Parse errors.
    pub fn tensors(&self) -> Result<Vec<Tensor>, GgufError> {
        match self {
            ModelFile::Gguf(f) => {
                let g = f.parse()?;
                Ok(g.tensors
                    .iter()
                    .map(|t| Tensor {
                        name: t.name.clone(),
                        dims: t.dims.clone(),
                        format: t.format,
                        bytes: t.byte_len(),
                    })
                    .collect())
            }
            ModelFile::Safetensors(f) => Ok(f
                .tensors()?
                .into_iter()
                .map(|t| {
                    let dims: Vec<u64> = t.shape.iter().rev().map(|&d| d as u64).collect();
                    let n: u64 = dims.iter().product();
                    Tensor {
                        name: t.name,
                        dims,
                        format: t.format,
                        bytes: n * t.format.block_bytes() as u64,
                    }
                })
                .collect()),
        }
    }

    /// A tensor's values as f32 (dequantized).
    ///
    /// # Errors
    /// Parse errors, unknown tensor.
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, GgufError> {
        match self {
            ModelFile::Gguf(f) => {
                let g = f.parse()?;
                let t = g
                    .tensor(name)
                    .ok_or_else(|| GgufError::NoSuchTensor(name.to_owned()))?;
                g.tensor_f32(t)
            }
            ModelFile::Safetensors(f) => f.tensor_f32(name),
        }
    }

    /// The serialized outlier table `quant quantize --outliers` stored for `name`
    /// (`quant.outliers.<name>` metadata, GGUF only), as bytes.
    ///
    /// # Errors
    /// Parse errors; an error if the key holds something else than an array of bytes.
    pub fn outlier_table_bytes(
        &self,
        name: &str,
    ) -> Result<Option<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
        let ModelFile::Gguf(f) = self else {
            return Ok(None);
        };
        let g = f.parse()?;
        let key = format!("{}{name}", crate::quantize::OUTLIER_KEY_PREFIX);
        let Some(v) = g.get(&key) else {
            return Ok(None);
        };
        let bytes = v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Option<Vec<u8>>>()
            })
            .ok_or_else(|| format!("{key} is not an array of bytes"))?;
        Ok(Some(bytes))
    }
}
