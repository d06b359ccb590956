//! The outlier-table curve: quantization error against true bits per weight, for plain formats
//! and with outlier tables keeping 0.01 %, 0.1 % and 1 % of the weights.

use std::io::{self, Write};

use quant_core::outlier::{
    OutlierPolicy, ValuePrecision, dequantize_with_outliers, quantize_with_outliers,
};
use quant_core::{Format, dequantize_matrix, quantize_matrix};
use rayon::prelude::*;

/// Formats of the study.
pub const FORMATS: [Format; 7] = [
    Format::Q2K,
    Format::Q3K,
    Format::Q4_0,
    Format::Q4K,
    Format::Iq4Nl,
    Format::Q5K,
    Format::Q8_0,
];

/// Fractions of weights kept in the table (0 = plain format).
pub const FRACTIONS: [f64; 4] = [0.0, 0.0001, 0.001, 0.01];

/// Error of one tensor in one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Tensor name.
    pub tensor: String,
    /// Base format.
    pub format: Format,
    /// Fraction of weights kept exactly.
    pub fraction: f64,
    /// Values in the tensor.
    pub n: usize,
    /// True bits per weight (blocks + table).
    pub bits_per_weight: f64,
    /// Sum of squared errors.
    pub sse: f64,
    /// Sum of squared weights.
    pub ssw: f64,
    /// Largest absolute error.
    pub max_err: f64,
}

impl Point {
    /// Root-mean-square error.
    pub fn rmse(&self) -> f64 {
        (self.sse / self.n.max(1) as f64).sqrt()
    }

    /// `‖x − x̂‖ / ‖x‖`.
    pub fn rel_rmse(&self) -> f64 {
        if self.ssw > 0.0 {
            (self.sse / self.ssw).sqrt()
        } else {
            0.0
        }
    }
}

/// Every (format, fraction) point for one `rows × cols` tensor. Where a format's blocks do not
/// divide `cols`, the tensor is quantized to llama-quantize's fallback format instead (q4_K → q5_0,
/// …; see [`crate::quantize::fallback`]) and its true bits are counted, as a converter would do:
/// so every point covers every tensor.
///
/// # Errors
/// Quantization errors (non-finite weights).
pub fn tensor_points(
    name: &str,
    w: &[f32],
    rows: usize,
    cols: usize,
    imatrix: Option<&[f32]>,
) -> Result<Vec<Point>, quant_core::outlier::OutlierError> {
    let configs: Vec<(Format, f64)> = FORMATS
        .iter()
        .flat_map(|&f| FRACTIONS.iter().map(move |&k| (f, k)))
        .collect();
    configs
        .par_iter()
        .map(|&(format, fraction)| {
            let actual = crate::quantize::fallback(format, cols);
            let (y, bpw) = if actual.is_float() {
                let q = quantize_matrix(actual, w, rows, cols, None)?;
                (
                    dequantize_matrix(actual, &q, rows, cols)?,
                    q.len() as f64 * 8.0 / w.len() as f64,
                )
            } else if fraction == 0.0 {
                let q = quantize_matrix(actual, w, rows, cols, imatrix)?;
                (
                    dequantize_matrix(actual, &q, rows, cols)?,
                    q.len() as f64 * 8.0 / w.len() as f64,
                )
            } else {
                let q = quantize_with_outliers(
                    actual,
                    w,
                    rows,
                    cols,
                    imatrix,
                    &OutlierPolicy::TopFraction(fraction),
                    ValuePrecision::F16,
                )?;
                (dequantize_with_outliers(&q)?, q.bits_per_weight())
            };
            let (sse, ssw, max_err) = crate::error_sums(w, &y);
            Ok(Point {
                tensor: name.to_owned(),
                format,
                fraction,
                n: w.len(),
                bits_per_weight: bpw,
                sse,
                ssw,
                max_err,
            })
        })
        .collect()
}

/// Points summed over tensors per (format, fraction): bits and squared errors weighted by size.
pub fn aggregate(points: &[Point]) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::new();
    for p in points {
        match out
            .iter_mut()
            .find(|q| q.format == p.format && q.fraction == p.fraction)
        {
            Some(q) => {
                q.bits_per_weight = (q.bits_per_weight * q.n as f64
                    + p.bits_per_weight * p.n as f64)
                    / (q.n + p.n) as f64;
                q.n += p.n;
                q.sse += p.sse;
                q.ssw += p.ssw;
                q.max_err = q.max_err.max(p.max_err);
            }
            None => out.push(Point {
                tensor: "(all)".into(),
                ..p.clone()
            }),
        }
    }
    out.sort_by(|a, b| a.bits_per_weight.total_cmp(&b.bits_per_weight));
    out
}

/// Write the aggregate table as Markdown.
///
/// # Errors
/// I/O errors.
pub fn write_table(out: &mut dyn Write, agg: &[Point]) -> io::Result<()> {
    writeln!(
        out,
        "| format | kept | bits/weight | RMSE | rel. RMSE | max error |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|")?;
    for p in agg {
        writeln!(
            out,
            "| {} | {} | {:.4} | {:.4e} | {:.4} | {:.4} |",
            p.format,
            if p.fraction == 0.0 {
                "—".to_string()
            } else {
                format!("{}%", p.fraction * 100.0)
            },
            p.bits_per_weight,
            p.rmse(),
            p.rel_rmse(),
            p.max_err
        )?;
    }
    Ok(())
}

/// Draw relative RMSE (log scale) against bits per weight, one line per base format, as SVG.
///
/// # Errors
/// Drawing or I/O errors, as text.
pub fn write_svg(path: &std::path::Path, agg: &[Point], title: &str) -> Result<(), String> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xmax = agg.iter().map(|p| p.bits_per_weight).fold(0.0, f64::max) + 0.5;
    let ymin = agg
        .iter()
        .map(|p| p.rel_rmse())
        .filter(|v| *v > 0.0)
        .fold(1.0, f64::min)
        * 0.7;
    let ymax = agg.iter().map(|p| p.rel_rmse()).fold(0.0, f64::max) * 1.4;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(1.5f64..xmax, (ymin..ymax).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("bits per weight (blocks + outlier table)")
        .y_desc("relative RMSE ‖x − x̂‖/‖x‖")
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, f) in FORMATS.iter().enumerate() {
        let pts: Vec<(f64, f64)> = agg
            .iter()
            .filter(|p| p.format == *f)
            .map(|p| (p.bits_per_weight, p.rel_rmse()))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(f.name())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// For each table size, whether the table beats spending the same bits on plain formats: the
/// point is compared with the plain formats' Pareto frontier (relative RMSE, log scale,
/// interpolated linearly in bits/weight between neighbouring plain formats).
pub fn findings(agg: &[Point]) -> Vec<String> {
    let mut plain: Vec<&Point> = agg.iter().filter(|p| p.fraction == 0.0).collect();
    plain.sort_by(|a, b| {
        a.bits_per_weight
            .total_cmp(&b.bits_per_weight)
            .then(a.rel_rmse().total_cmp(&b.rel_rmse()))
    });
    let mut frontier: Vec<&Point> = Vec::new();
    for p in plain {
        if frontier.last().is_none_or(|q| p.rel_rmse() < q.rel_rmse()) {
            if frontier
                .last()
                .is_some_and(|q| q.bits_per_weight == p.bits_per_weight)
            {
                frontier.pop();
            }
            frontier.push(p);
        }
    }
    let interp = |b: f64| -> Option<f64> {
        let i = frontier.iter().rposition(|q| q.bits_per_weight <= b)?;
        let a = frontier[i];
        let c = frontier.get(i + 1)?;
        let t = (b - a.bits_per_weight) / (c.bits_per_weight - a.bits_per_weight);
        Some((a.rel_rmse().ln() * (1.0 - t) + c.rel_rmse().ln() * t).exp())
    };
    let mut out = Vec::new();
    for p in agg.iter().filter(|p| p.fraction > 0.0) {
        let verdict = match interp(p.bits_per_weight) {
            Some(e) if p.rel_rmse() < e => format!(
                "beats the plain frontier ({e:.4} at these bits) by {:.1} %",
                (1.0 - p.rel_rmse() / e) * 100.0
            ),
            Some(e) => format!(
                "loses to the plain frontier ({e:.4} at these bits) by {:.1} %",
                (p.rel_rmse() / e - 1.0) * 100.0
            ),
            None => "beyond the study's plain formats".to_string(),
        };
        out.push(format!(
            "{} + {}%: {:.3} bits/w, rel. RMSE {:.4}, max error {:.4}: {}",
            p.format,
            p.fraction * 100.0,
            p.bits_per_weight,
            p.rel_rmse(),
            p.max_err,
            verdict
        ));
    }
    out
}
