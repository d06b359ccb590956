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
    /// Relative RMSE when [`TABLE_FRACTION`] of the weights (the largest |w|) are kept exactly in
    /// an outlier table (f16 values); `None` for the plain float formats.
    pub rel_rmse_with_table: Option<f64>,
    /// Bits per weight that table adds.
    pub table_bits_per_weight: Option<f64>,
    /// Dot-product throughput of the best backend (values per nanosecond, one 4096-value row in
    /// cache, one quick measurement); `None` until measured ([`measure`] does not).
    pub dot_values_per_ns: Option<f64>,
}

/// Fraction of the weights kept in the outlier table of the report's "+table" column.
pub const TABLE_FRACTION: f64 = 0.001;

/// Quantize `x` (`rows × cols`) into `format` and measure the error, plain and with an outlier
/// table keeping [`TABLE_FRACTION`] of the weights.
///
/// # Errors
/// Whatever [`quantize_matrix`] or the outlier-table quantizer returns (e.g. a row length that the
/// format's blocks don't divide).
pub fn measure(
    format: Format,
    x: &[f32],
    rows: usize,
    cols: usize,
) -> Result<FormatError, Box<dyn std::error::Error + Send + Sync>> {
    let t = Instant::now();
    let q = quantize_matrix(format, x, rows, cols, None)?;
    let ns = t.elapsed().as_nanos().max(1) as f64;
    let y = dequantize_matrix(format, &q, rows, cols)?;
    let (se, ss, max) = crate::error_sums(x, &y);
    let imax = (0..x.len())
        .max_by(|&i, &j| x[i].abs().total_cmp(&x[j].abs()))
        .unwrap_or(0);
    let n = x.len().max(1) as f64;
    let with_table = if format.is_float() {
        None
    } else {
        use quant_core::outlier::{OutlierPolicy, ValuePrecision};
        let t = quant_core::outlier::quantize_with_outliers(
            format,
            x,
            rows,
            cols,
            None,
            &OutlierPolicy::TopFraction(TABLE_FRACTION),
            ValuePrecision::F16,
        )?;
        let yt = quant_core::outlier::dequantize_with_outliers(&t)?;
        let (se_t, _, _) = crate::error_sums(x, &yt);
        Some((
            if ss > 0.0 { (se_t / ss).sqrt() } else { 0.0 },
            t.table.bits_per_weight(),
        ))
    };
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
        rel_rmse_with_table: with_table.map(|t| t.0),
        table_bits_per_weight: with_table.map(|t| t.1),
        dot_values_per_ns: None,
    })
}

/// The weight formats the report covers (activation-only formats `q8_1`, `q8_K` excluded).
pub fn report_formats() -> Vec<Format> {
    Format::ALL
        .into_iter()
        .filter(|f| !matches!(f, Format::Q8_1 | Format::Q8K | Format::F32))
        .collect()
}

/// Wall time of the dot-product measurement of each format in the report.
pub const DOT_BUDGET: std::time::Duration = std::time::Duration::from_millis(4);

/// Write the report for the embedded sample to `out` and return its rows (sorted by bits/weight,
/// largest first).
///
/// # Errors
/// I/O errors of `out`.
pub fn run(out: &mut dyn Write) -> io::Result<Vec<FormatError>> {
    let backend = quant_kernels::best();
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
        "{:<8} {:>9} {:>11} {:>9} {:>11} {:>12} {:>12} {:>10}",
        "format",
        "bits/w",
        "RMSE",
        "rel RMSE",
        "max |err|",
        "outlier err",
        "quant Mv/s",
        "dot v/ns"
    )?;
    let mut rows: Vec<FormatError> = Vec::new();
    for f in report_formats() {
        match measure(f, &x, sample::ROWS, sample::COLS) {
            Ok(mut m) => {
                m.dot_values_per_ns = crate::bench::dot_values_per_ns(backend, f, DOT_BUDGET).ok();
                rows.push(m);
            }
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
            "{:<8} {:>9.4} {:>11.3e} {:>9.4} {:>11.3e} {:>12.3e} {:>10} {:>12.1} {:>10}",
            m.format.name(),
            m.bits_per_weight,
            m.rmse,
            m.rel_rmse,
            m.max_abs_err,
            m.outlier_err,
            m.rel_rmse_with_table
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.4}")),
            m.quantize_values_per_ns * 1e3,
            m.dot_values_per_ns
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "bits/w counts every stored byte (scales included); rel RMSE = ‖x − x̂‖/‖x‖."
    )?;
    if let Some(tb) = rows.iter().find_map(|m| m.table_bits_per_weight) {
        writeln!(
            out,
            "+table: rel RMSE when the {} % largest |w| ({} weights) are kept exactly in an outlier \
             table (f16 values, +{tb:.3} bits/w; docs/outliers.md).",
            TABLE_FRACTION * 100.0,
            (x.len() as f64 * TABLE_FRACTION).round(),
        )?;
    }
    writeln!(
        out,
        "dot v/ns: values per ns of the {} dot product with the format's activation partner \
         (one 4096-value row in cache; `quant bench` for every backend).",
        backend.name()
    )?;
    Ok(rows)
}

/// Why a plot could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The file name does not end in `.svg`.
    #[error(
        "--plot {0:?}: only SVG plots are supported (use a .svg file name; convert with e.g. \
         `rsvg-convert -o out.png out.svg`)"
    )]
    Extension(String),
    /// Drawing or writing failed.
    #[error("--plot: {0}")]
    Draw(String),
}

/// Check that `path` names a plot format `write_plot` can produce (`.svg`).
///
/// # Errors
/// [`PlotError::Extension`] otherwise.
pub fn check_plot_path(path: &std::path::Path) -> Result<(), PlotError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(()),
        _ => Err(PlotError::Extension(path.display().to_string())),
    }
}

/// Plot relative RMSE (log scale) against bits per weight, one labelled point per format, as SVG.
///
/// # Errors
/// [`PlotError`] for another extension than `.svg` and for drawing or I/O errors.
pub fn write_plot(path: &std::path::Path, rows: &[FormatError]) -> Result<(), PlotError> {
    use plotters::prelude::*;
    check_plot_path(path)?;
    let draw = |e: &dyn std::fmt::Display| PlotError::Draw(e.to_string());
    let pts: Vec<&FormatError> = rows.iter().filter(|m| m.rel_rmse > 0.0).collect();
    let xmax = pts.iter().map(|m| m.bits_per_weight).fold(2.0, f64::max) + 1.0;
    let ymin = pts.iter().map(|m| m.rel_rmse).fold(1.0, f64::min) * 0.5;
    let ymax = pts.iter().map(|m| m.rel_rmse).fold(ymin * 2.0, f64::max) * 2.0;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "quant report: {} ({} × {})",
                sample::TENSOR,
                sample::ROWS,
                sample::COLS
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(1.0f64..xmax, (ymin..ymax).log_scale())
        .map_err(|e| draw(&e))?;
    chart
        .configure_mesh()
        .x_desc("bits per weight (scales included)")
        .y_desc("relative RMSE ‖x − x̂‖/‖x‖")
        .draw()
        .map_err(|e| draw(&e))?;
    chart
        .draw_series(pts.iter().map(|m| {
            EmptyElement::at((m.bits_per_weight, m.rel_rmse))
                + Circle::new((0, 0), 4, BLUE.filled())
                + Text::new(m.format.name(), (6, -12), ("sans-serif", 13))
        }))
        .map_err(|e| draw(&e))?;
    root.present().map_err(|e| draw(&e))
}
