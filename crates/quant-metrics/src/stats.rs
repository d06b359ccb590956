//! Accumulators, llama.cpp's mean/uncertainty formulas and percentiles.

use serde::Serialize;

/// Neumaier-compensated f64 sum: the error does not grow with the number of terms.
///
/// # Examples
/// ```
/// use quant_metrics::CompensatedSum;
/// let mut s = CompensatedSum::default();
/// for v in [1e16, 1.0, -1e16] {
///     s.add(v);
/// }
/// assert_eq!(s.value(), 1.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    /// Adds one term.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The compensated total.
    #[must_use]
    pub fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// A value with its standard uncertainty (one standard error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Its standard error (0 when llama.cpp would print 0: too few values or no spread).
    pub uncertainty: f64,
}

/// llama.cpp's `mean_and_uncertainty`: mean `Σx/N` and standard error
/// `sqrt((Σx²/N − mean²)/(N−1))`, the latter 0 when `N ≤ 10` or the variance is not positive.
///
/// # Examples
/// ```
/// let e = quant_metrics::mean_and_uncertainty(10.0, 10.0, 10);
/// assert_eq!((e.value, e.uncertainty), (1.0, 0.0));
/// ```
#[must_use]
pub fn mean_and_uncertainty(sum: f64, sum2: f64, count: usize) -> Estimate {
    if count < 1 {
        return Estimate::default();
    }
    let n = count as f64;
    let f = sum / n;
    let df = sum2 / n - f * f;
    let unc = if df > 0.0 && count > 10 {
        (df / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Estimate {
        value: f,
        uncertainty: unc,
    }
}

/// llama.cpp's covariance estimate of the mean: `(Σab/N − Σa/N·Σb/N)/(N−1)`, 0 when `N < 10`.
#[must_use]
pub fn covariance_of_means(sum_a: f64, sum_b: f64, sum_ab: f64, count: usize) -> f64 {
    if count < 10 {
        return 0.0;
    }
    let n = count as f64;
    (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1.0)
}

/// llama.cpp's percentile of an ascending-sorted f32 slice: linear interpolation at
/// `p = fraction·(N−1)` computed in f32, `(1−frac(p))·v[⌊p⌋] + frac(p)·v[⌊p⌋+1]` in f32.
/// `fraction ≤ 0` gives the first value, `≥ 1` the last. Returns `None` for an empty slice.
///
/// # Examples
/// ```
/// let v = [1.0f32, 2.0, 3.0, 4.0, 5.0];
/// assert_eq!(quant_metrics::percentile_sorted_f32(&v, 0.5), Some(3.0));
/// let p10 = quant_metrics::percentile_sorted_f32(&v, 0.1).unwrap();
/// assert!((p10 - 1.4).abs() < 1e-6); // position 0.4 between 1 and 2 (f32 arithmetic)
/// ```
#[must_use]
pub fn percentile_sorted_f32(sorted: &[f32], fraction: f32) -> Option<f32> {
    let (&first, &last) = (sorted.first()?, sorted.last()?);
    if fraction.is_nan() {
        return None;
    }
    if fraction <= 0.0 {
        return Some(first);
    }
    if fraction >= 1.0 {
        return Some(last);
    }
    // llama.cpp: float p = fraction*(values.size() - 1); the size is converted to float.
    let mut p = fraction * ((sorted.len() - 1) as f32);
    let ip = p as usize; // p ≥ 0, truncation as in C
    p -= ip as f32;
    let lo = sorted[ip.min(sorted.len() - 1)];
    let hi = sorted[(ip + 1).min(sorted.len() - 1)];
    Some((1.0 - p) * lo + p * hi)
}

/// llama.cpp's median of an ascending-sorted f32 slice: the middle value, or `0.5·(a+b)` in f32
/// of the two middle values for an even count. `None` for an empty slice.
#[must_use]
pub fn median_sorted_f32(sorted: &[f32]) -> Option<f32> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(if n.is_multiple_of(2) {
        0.5f32 * (sorted[n / 2] + sorted[n / 2 - 1])
    } else {
        sorted[n / 2]
    })
}

/// Sorts f32 values ascending with a total order (NaN last), as a stable reference order.
pub(crate) fn sort_f32(v: &mut [f32]) {
    v.sort_by(f32::total_cmp);
}
