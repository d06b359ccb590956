//! A small embedded sample of real transformer weights, for examples, reports and tests that must
//! run without downloads.
//!
//! Eight rows of 1536 values of `encoder.layer.0.output.dense.weight` of all-MiniLM-L6-v2
//! (Apache-2.0; provenance and checksums in `crates/quant-core/data/README.md`). The fourth row
//! holds the tensor's largest weight (7.9148, about 175 σ): a real outlier.
//!
//! ```
//! let w = quant_core::sample::minilm_rows();
//! assert_eq!(w.len(), quant_core::sample::ROWS * quant_core::sample::COLS);
//! assert!(w.iter().any(|v| v.abs() > 7.9));
//! ```

const BYTES: &[u8] = include_bytes!("../data/minilm_output_dense_rows.f32");

/// Number of rows in the sample.
pub const ROWS: usize = 8;
/// Values per row.
pub const COLS: usize = 1536;
/// Name of the tensor the rows come from.
pub const TENSOR: &str = "all-MiniLM-L6-v2 encoder.layer.0.output.dense.weight, rows 96..104";

/// The sample, row-major (`ROWS × COLS` values).
pub fn minilm_rows() -> Vec<f32> {
    BYTES
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
