//! `quant report`: quantize the embedded sample of real weights into every format and report
//! bits/weight and error per format.

use std::io::{self, Write};
use std::time::Instant;

use quant_core::{Format, dequantize_matrix, quantize_matrix, sample};

/// Error statistics of one format on one matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FormatError {
    /// The format.
    pub format: Format,
    /// Storage cost.
    pub bits_per_weight: f64,
    /// Root-mean-square error.
    pub rmse: f64,
    /// `‖x − x̂‖ / ‖x‖`.
    pub rel_rmse: f64,
    /// Largest absolute error.
    pub max_abs_err: f64,
    /// Largest absolute error at the position of the matrix's largest |x| (the outlier).
    pub outlier_err: f64,
    /// Quantization speed, values per nanosecond (single pass, whole matrix, all cores).
    pub quantize_values_per_ns: f64,
}

/// Quantize `x` (`rows × cols`) into `format` and measure the error.
///
/// # Errors
/// Whatever [`quantize_matrix`] returns (e.g. a row length that the format's blocks don't divide).
pub fn measure(
    format: Format,
    x: &[f32],
    rows: usize,
    cols: usize,
) -> quant_core::Result<FormatError> {
    let t = Instant::now();
    let q = quantize_matrix(format, x, rows, cols, None)?;
    let ns = t.elapsed().as_nanos().max(1) as f64;
    let y = dequantize_matrix(format, &q, rows, cols)?;
    let (se, ss, max) = crate::error_sums(x, &y);
    let imax = (0..x.len())
        .max_by(|&i, &j| x[i].abs().total_cmp(&x[j].abs()))
        .unwrap_or(0);
    let n = x.len().max(1) as f64;
    Ok(FormatError {
        format,
        bits_per_weight: q.len() as f64 * 8.0 / n,
        rmse: (se / n).sqrt(),
        rel_rmse: if ss > 0.0 { (se / ss).sqrt() } else { 0.0 },
        max_abs_err: max,
        outlier_err: x
            .get(imax)
            .map_or(0.0, |v| (f64::from(*v) - f64::from(y[imax])).abs()),
        quantize_values_per_ns: n / ns,
    })
}

/// The weight formats the report covers (activation-only formats `q8_1`, `q8_K` excluded).
pub fn report_formats() -> Vec<Format> {
    Format::ALL
        .into_iter()
        .filter(|f| !matches!(f, Format::Q8_1 | Format::Q8K | Format::F32))
        .collect()
}

/// Write the report for the embedded sample to `out`.
///
/// # Errors
/// I/O errors of `out`.
pub fn run(out: &mut dyn Write) -> io::Result<()> {
    let x = sample::minilm_rows();
    writeln!(
        out,
        "quant report: {} ({} × {} values)",
        sample::TENSOR,
        sample::ROWS,
        sample::COLS
    )?;
    let imax = (0..x.len())
        .max_by(|&i, &j| x[i].abs().total_cmp(&x[j].abs()))
        .unwrap_or(0);
    writeln!(
        out,
        "largest |w| = {:.4} at row {}, column {}",
        x[imax],
        imax / sample::COLS,
        imax % sample::COLS
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<8} {:>9} {:>11} {:>9} {:>11} {:>12} {:>12}",
        "format", "bits/w", "RMSE", "rel RMSE", "max |err|", "outlier err", "quant Mv/s"
    )?;
    let mut rows: Vec<FormatError> = Vec::new();
    for f in report_formats() {
        match measure(f, &x, sample::ROWS, sample::COLS) {
            Ok(m) => rows.push(m),
            Err(e) => writeln!(out, "{f:<8} skipped: {e}")?,
        }
    }
    rows.sort_by(|a, b| {
        b.bits_per_weight
            .total_cmp(&a.bits_per_weight)
            .then(a.rmse.total_cmp(&b.rmse))
    });
    for m in &rows {
        writeln!(
            out,
            "{:<8} {:>9.4} {:>11.3e} {:>9.4} {:>11.3e} {:>12.3e} {:>12.1}",
            m.format.name(),
            m.bits_per_weight,
            m.rmse,
            m.rel_rmse,
            m.max_abs_err,
            m.outlier_err,
            m.quantize_values_per_ns * 1e3,
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "bits/w counts every stored byte (scales included); rel RMSE = ‖x − x̂‖/‖x‖."
    )?;
    Ok(())
}
