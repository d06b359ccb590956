//! Outlier statistics of a weight tensor and super-weight detection.
//!
//! "Super weights" (Yu et al., *The Super Weight in Large Language Models*, 2024) are a handful of
//! scalar weights, typically in an early MLP down-projection, whose removal makes a model produce
//! gibberish. They are extreme in their row *and* their column; with sample activations they show
//! as spikes of `|x_j · w_ij|`. This module ranks candidates both ways and summarises a tensor's
//! tails (max |w|/σ, kurtosis, counts beyond 6σ/10σ/20σ).
//!
//! ```
//! use quant_core::stats::{tensor_stats, super_weight_candidates};
//! let (rows, cols) = (64, 64);
//! let mut w: Vec<f32> = (0..rows * cols).map(|i| (((i * 7919) % 1000) as f32 / 1000.0 - 0.5) * 0.04).collect();
//! w[10 * cols + 20] = 3.0;
//! let s = tensor_stats(&w, rows, cols);
//! assert_eq!(s.max_abs_pos, (10, 20));
//! assert!(s.max_over_sigma > 20.0 && s.above_20_sigma == 1);
//! let c = super_weight_candidates(&w, rows, cols, 3);
//! assert_eq!((c[0].row, c[0].col), (10, 20));
//! ```

/// Summary of a tensor's distribution and tails.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorStats {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Standard deviation (population).
    pub std: f64,
    /// Largest |w|.
    pub max_abs: f32,
    /// Its `(row, col)`.
    pub max_abs_pos: (usize, usize),
    /// `max |w − mean| / σ`.
    pub max_over_sigma: f64,
    /// Excess kurtosis (0 for a Gaussian; heavy tails give large values).
    pub excess_kurtosis: f64,
    /// Count of `|w − mean| > 6σ`.
    pub above_6_sigma: usize,
    /// Count of `|w − mean| > 10σ`.
    pub above_10_sigma: usize,
    /// Count of `|w − mean| > 20σ`.
    pub above_20_sigma: usize,
}

/// Statistics of the row-major `n_rows × n_cols` matrix `w` (f64 accumulation).
///
/// # Panics
/// If `w.len() != n_rows * n_cols`.
pub fn tensor_stats(w: &[f32], n_rows: usize, n_cols: usize) -> TensorStats {
    assert_eq!(w.len(), n_rows * n_cols, "matrix size");
    let n = w.len().max(1) as f64;
    let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut m2, mut m4) = (0.0f64, 0.0f64);
    for &v in w {
        let d = f64::from(v) - mean;
        m2 += d * d;
        m4 += d * d * d * d;
    }
    let var = m2 / n;
    let std = var.sqrt();
    let imax = (0..w.len())
        .max_by(|&a, &b| w[a].abs().total_cmp(&w[b].abs()))
        .unwrap_or(0);
    let count = |k: f64| {
        w.iter()
            .filter(|&&v| (f64::from(v) - mean).abs() > k * std)
            .count()
    };
    let max_dev = w
        .iter()
        .map(|&v| (f64::from(v) - mean).abs())
        .fold(0.0, f64::max);
    TensorStats {
        n: w.len(),
        mean,
        std,
        max_abs: w.get(imax).map_or(0.0, |v| v.abs()),
        max_abs_pos: imax
            .checked_div(n_cols)
            .map_or((0, 0), |r| (r, imax % n_cols)),
        max_over_sigma: if std > 0.0 { max_dev / std } else { 0.0 },
        excess_kurtosis: if var > 0.0 {
            m4 / n / (var * var) - 3.0
        } else {
            0.0
        },
        above_6_sigma: count(6.0),
        above_10_sigma: count(10.0),
        above_20_sigma: count(20.0),
    }
}

/// A super-weight candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SuperWeightCandidate {
    /// Row (output feature).
    pub row: usize,
    /// Column (input feature).
    pub col: usize,
    /// The weight.
    pub value: f32,
    /// `|w − mean| / σ` within its row.
    pub row_sigmas: f64,
    /// `|w − mean| / σ` within its column.
    pub col_sigmas: f64,
    /// Ranking score: `sqrt(row_sigmas · col_sigmas)` for data-free detection (extreme in both
    /// directions), the activation spike ratio for activation-based detection.
    pub score: f64,
}

/// Mean and standard deviation.
type MeanStd = (f64, f64);

fn row_col_stats(w: &[f32], n_rows: usize, n_cols: usize) -> (Vec<MeanStd>, Vec<MeanStd>) {
    let mut rows = Vec::with_capacity(n_rows);
    let mut csum = vec![0.0f64; n_cols];
    let mut csq = vec![0.0f64; n_cols];
    for r in 0..n_rows {
        let x = &w[r * n_cols..(r + 1) * n_cols];
        let (mut s, mut sq) = (0.0f64, 0.0f64);
        for (j, &v) in x.iter().enumerate() {
            let v = f64::from(v);
            s += v;
            sq += v * v;
            csum[j] += v;
            csq[j] += v * v;
        }
        let m = s / n_cols.max(1) as f64;
        rows.push((m, (sq / n_cols.max(1) as f64 - m * m).max(0.0).sqrt()));
    }
    let cols = csum
        .iter()
        .zip(&csq)
        .map(|(&s, &sq)| {
            let m = s / n_rows.max(1) as f64;
            (m, (sq / n_rows.max(1) as f64 - m * m).max(0.0).sqrt())
        })
        .collect();
    (rows, cols)
}

fn sigmas(v: f64, (m, sd): (f64, f64)) -> f64 {
    if sd > 0.0 { (v - m).abs() / sd } else { 0.0 }
}

/// Data-free detection: the `top` weights most extreme in both their row and their column.
///
/// # Panics
/// If `w.len() != n_rows * n_cols`.
pub fn super_weight_candidates(
    w: &[f32],
    n_rows: usize,
    n_cols: usize,
    top: usize,
) -> Vec<SuperWeightCandidate> {
    assert_eq!(w.len(), n_rows * n_cols, "matrix size");
    let (rs, cs) = row_col_stats(w, n_rows, n_cols);
    let mut c: Vec<SuperWeightCandidate> = Vec::new();
    for r in 0..n_rows {
        for j in 0..n_cols {
            let v = w[r * n_cols + j];
            let rz = sigmas(f64::from(v), rs[r]);
            if rz < 4.0 {
                continue; // not an outlier of its row: cannot rank high
            }
            let cz = sigmas(f64::from(v), cs[j]);
            c.push(SuperWeightCandidate {
                row: r,
                col: j,
                value: v,
                row_sigmas: rz,
                col_sigmas: cz,
                score: (rz * cz).sqrt(),
            });
        }
    }
    c.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((a.row, a.col).cmp(&(b.row, b.col)))
    });
    c.truncate(top);
    c
}

/// Activation-based detection: given `n_samples` activation rows `x` (each `n_cols` values, the
/// input of this matrix), rank weights by their largest contribution spike
/// `max_s |x_sj·w_ij| / rms_{j'≠j}(x_sj'·w_ij')` (how much one product dominates its output).
///
/// # Panics
/// If `w.len() != n_rows * n_cols` or `x.len()` is not a multiple of `n_cols`.
pub fn super_weight_candidates_with_activations(
    w: &[f32],
    n_rows: usize,
    n_cols: usize,
    x: &[f32],
    top: usize,
) -> Vec<SuperWeightCandidate> {
    assert_eq!(w.len(), n_rows * n_cols, "matrix size");
    assert!(
        n_cols > 0 && x.len().is_multiple_of(n_cols),
        "activations must be whole rows"
    );
    let (rs, cs) = row_col_stats(w, n_rows, n_cols);
    let mut best: Vec<(f64, usize)> = vec![(0.0, 0); n_rows]; // per row: best ratio and its column
    for xs in x.chunks_exact(n_cols) {
        for r in 0..n_rows {
            let wr = &w[r * n_cols..(r + 1) * n_cols];
            let sq: f64 = wr
                .iter()
                .zip(xs)
                .map(|(&a, &b)| (f64::from(a) * f64::from(b)).powi(2))
                .sum();
            for (j, (&a, &b)) in wr.iter().zip(xs).enumerate() {
                let p = (f64::from(a) * f64::from(b)).abs();
                // RMS of the row's other products: a lone spike stands out against it however large
                // it is (against the full RMS its ratio would saturate at sqrt(n_cols)).
                let rest = ((sq - p * p).max(0.0) / (n_cols.max(2) - 1) as f64).sqrt();
                let ratio = if rest > 0.0 {
                    p / rest
                } else if p > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                };
                if ratio > best[r].0 {
                    best[r] = (ratio, j);
                }
            }
        }
    }
    let mut c: Vec<SuperWeightCandidate> = best
        .iter()
        .enumerate()
        .filter(|(_, b)| b.0 > 0.0)
        .map(|(r, &(score, j))| {
            let v = w[r * n_cols + j];
            SuperWeightCandidate {
                row: r,
                col: j,
                value: v,
                row_sigmas: sigmas(f64::from(v), rs[r]),
                col_sigmas: sigmas(f64::from(v), cs[j]),
                score,
            }
        })
        .collect();
    c.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((a.row, a.col).cmp(&(b.row, b.col)))
    });
    c.truncate(top);
    c
}
