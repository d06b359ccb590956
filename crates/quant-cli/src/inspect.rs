//! `quant inspect`: the tensors of a model file with sizes, bits/weight, outlier statistics and
//! super-weight candidates.

use std::io::{self, Write};

use serde::Serialize;

use crate::model::{ModelFile, Tensor};

/// One tensor's row of the report.
#[derive(Clone, Debug, Serialize)]
pub struct TensorReport {
    /// Name.
    pub name: String,
    /// ggml-order dimensions.
    pub dims: Vec<u64>,
    /// Format name.
    pub format: String,
    /// Bits per weight.
    pub bits_per_weight: f64,
    /// Bytes (blocks plus the serialized outlier table, if the file stores one).
    pub bytes: u64,
    /// Weights kept in the tensor's outlier table (`quant.outliers.<name>` metadata written by
    /// `quant quantize --outliers`), 0 without one.
    pub outliers: usize,
    /// Outlier statistics (2-D tensors, unless disabled).
    pub stats: Option<Stats>,
}

/// Outlier statistics of a tensor.
#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    /// `max |w − mean| / σ`.
    pub max_over_sigma: f64,
    /// Excess kurtosis.
    pub excess_kurtosis: f64,
    /// Counts beyond 6σ, 10σ, 20σ.
    pub above_sigma: [usize; 3],
    /// Largest |w|.
    pub max_abs: f32,
    /// Best super-weight candidates: (row, col, value, score).
    pub candidates: Vec<(usize, usize, f32, f64)>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// File kind.
    pub kind: String,
    /// Tensors.
    pub tensors: Vec<TensorReport>,
    /// Total values.
    pub total_values: u64,
    /// Total tensor bytes.
    pub total_bytes: u64,
}

/// Build the report (statistics for 2-D tensors when `stats` is true).
///
/// # Errors
/// File errors.
/// Bits per weight and bytes include the outlier tables stored in the file.
///
/// # Errors
/// File errors; malformed outlier tables.
pub fn build(
    model: &ModelFile,
    stats: bool,
) -> Result<Report, Box<dyn std::error::Error + Send + Sync>> {
    let tensors = model.tensors()?;
    let mut out = Vec::with_capacity(tensors.len());
    for t in &tensors {
        out.push(tensor_report(model, t, stats)?);
    }
    Ok(Report {
        kind: model.kind().into(),
        total_values: tensors.iter().map(Tensor::n_elements).sum(),
        total_bytes: out.iter().map(|t| t.bytes).sum(),
        tensors: out,
    })
}

fn tensor_report(
    model: &ModelFile,
    t: &Tensor,
    stats: bool,
) -> Result<TensorReport, Box<dyn std::error::Error + Send + Sync>> {
    let (table_bytes, outliers) = match model.outlier_table_bytes(&t.name)? {
        Some(b) => {
            let table = quant_core::outlier::OutlierTable::from_bytes(&b)
                .map_err(|e| format!("outlier table of {}: {e}", t.name))?;
            (b.len() as u64, table.len())
        }
        None => (0, 0),
    };
    let stats = if stats && t.dims.len() >= 2 {
        let w = model.tensor_f32(&t.name)?;
        let (rows, cols) = (t.n_rows(), t.row_len());
        let s = quant_core::stats::tensor_stats(&w, rows, cols);
        let c = quant_core::stats::super_weight_candidates(&w, rows, cols, 3);
        Some(Stats {
            max_over_sigma: s.max_over_sigma,
            excess_kurtosis: s.excess_kurtosis,
            above_sigma: [s.above_6_sigma, s.above_10_sigma, s.above_20_sigma],
            max_abs: s.max_abs,
            candidates: c.iter().map(|c| (c.row, c.col, c.value, c.score)).collect(),
        })
    } else {
        None
    };
    Ok(TensorReport {
        name: t.name.clone(),
        dims: t.dims.clone(),
        format: t.format.name().into(),
        bits_per_weight: (t.bytes + table_bytes) as f64 * 8.0 / t.n_elements().max(1) as f64,
        bytes: t.bytes + table_bytes,
        outliers,
        stats,
    })
}

/// Print the report as a table.
///
/// # Errors
/// I/O errors.
pub fn print(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    writeln!(
        out,
        "{:<40} {:>16} {:>7} {:>7} {:>11} {:>8} {:>9} {:>14}  top super-weight candidate",
        "tensor", "shape (ggml)", "type", "bits/w", "bytes", "max/σ", "kurtosis", ">6σ/>10σ/>20σ"
    )?;
    for t in &r.tensors {
        let shape = t
            .dims
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("×");
        write!(
            out,
            "{:<40} {:>16} {:>7} {:>7.3} {:>11}",
            t.name, shape, t.format, t.bits_per_weight, t.bytes
        )?;
        match &t.stats {
            Some(s) => {
                write!(
                    out,
                    " {:>8.1} {:>9.1} {:>14}",
                    s.max_over_sigma,
                    s.excess_kurtosis,
                    format!(
                        "{}/{}/{}",
                        s.above_sigma[0], s.above_sigma[1], s.above_sigma[2]
                    )
                )?;
                if let Some(c) = s.candidates.first() {
                    write!(
                        out,
                        "  row {} col {} = {:.4} (score {:.1})",
                        c.0, c.1, c.2, c.3
                    )?;
                }
                writeln!(out)?;
            }
            None => writeln!(out)?,
        }
    }
    writeln!(
        out,
        "\n{} {} tensors, {} values, {} bytes, {:.3} bits/weight",
        r.kind,
        r.tensors.len(),
        r.total_values,
        r.total_bytes,
        r.total_bytes as f64 * 8.0 / r.total_values.max(1) as f64
    )
}
