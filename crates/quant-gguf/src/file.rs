//! Memory-mapped GGUF files.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::{Gguf, Result};

/// A GGUF file mapped into memory; [`GgufFile::parse`] gives the validated view whose tensor
/// data borrows from the map without copying.
///
/// ```no_run
/// let file = quant_gguf::GgufFile::open("model.gguf")?;
/// let g = file.parse()?;
/// for t in &g.tensors {
///     println!("{} {:?} {}", t.name, t.dims, t.format);
/// }
/// # Ok::<(), quant_gguf::GgufError>(())
/// ```
#[derive(Debug)]
pub struct GgufFile {
    map: Mmap,
}

impl GgufFile {
    /// Map `path` read-only.
    ///
    /// The file must not be truncated or modified by another process while mapped (as for every
    /// memory-mapped reader, llama.cpp's included); changes would be visible through the map.
    ///
    /// # Errors
    /// I/O errors opening or mapping the file.
    #[allow(unsafe_code)]
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let f = File::open(path)?;
        // SAFETY: the map is read-only and private to this struct; the documented contract (no
        // concurrent truncation/modification of the file) is the standard condition of memmap2.
        let map = unsafe { Mmap::map(&f)? };
        Ok(Self { map })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Parse and validate the file.
    ///
    /// # Errors
    /// See [`Gguf::parse`].
    pub fn parse(&self) -> Result<Gguf<'_>> {
        Gguf::parse(&self.map)
    }
}
