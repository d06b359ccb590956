//! Numerically stable log-softmax with f64 accumulation.

use crate::error::{MetricsError, Result};

/// Returns `(max, index of the first maximum)` of a row, or an error for an empty row or a
/// non-finite value.
///
/// # Errors
/// [`MetricsError::EmptyRow`] for an empty row, [`MetricsError::NonFinite`] if any value is NaN or
/// infinite.
pub fn checked_max(row: &[f32]) -> Result<(f32, usize)> {
    let first = *row.first().ok_or(MetricsError::EmptyRow)?;
    let mut max = first;
    let mut imax = 0;
    for (i, &v) in row.iter().enumerate() {
        if !v.is_finite() {
            return Err(MetricsError::NonFinite { index: i, value: v });
        }
        if v > max {
            max = v;
            imax = i;
        }
    }
    Ok((max, imax))
}

/// `ln Σ exp(l)` of a logits row, computed stably: the maximum is subtracted first and the sum of
/// exponentials is accumulated in f64.
///
/// # Errors
/// [`MetricsError::EmptyRow`] for an empty row, [`MetricsError::NonFinite`] if any logit is NaN or
/// infinite.
///
/// # Examples
/// ```
/// let lse = quant_metrics::log_sum_exp(&[0.0, 0.0])?;
/// assert!((lse - 2f64.ln()).abs() < 1e-15);
/// # Ok::<(), quant_metrics::MetricsError>(())
/// ```
pub fn log_sum_exp(logits: &[f32]) -> Result<f64> {
    let (max, _) = checked_max(logits)?;
    Ok(f64::from(max) + sum_exp_shifted(logits, f64::from(max)).ln())
}

/// Σ exp(l − shift) in f64 (values assumed finite).
pub(crate) fn sum_exp_shifted(logits: &[f32], shift: f64) -> f64 {
    // Four independent accumulators: a fixed, data-independent order (so deterministic) that
    // lets the CPU overlap the exponentials. All terms are in (0, 1], so f64 loses nothing
    // that matters here (relative error ≤ n·2⁻⁵³).
    let mut acc = [0.0f64; 4];
    let chunks = logits.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += (f64::from(c[k]) - shift).exp();
        }
    }
    for &v in rest {
        acc[0] += (f64::from(v) - shift).exp();
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Log-softmax of a logits row into `out` (same length), returning `ln Σ exp(l)`.
///
/// `out[v] = l[v] − ln Σ exp(l)`, computed in f64. Adding a constant to every logit leaves the
/// result unchanged (up to rounding of the inputs).
///
/// # Errors
/// [`MetricsError::EmptyRow`], [`MetricsError::NonFinite`], or
/// [`MetricsError::LengthMismatch`] when `out` has a different length.
pub fn log_softmax_into(logits: &[f32], out: &mut [f64]) -> Result<f64> {
    if out.len() != logits.len() {
        return Err(MetricsError::LengthMismatch {
            what: "log_softmax output",
            left: logits.len(),
            right: out.len(),
        });
    }
    let lse = log_sum_exp(logits)?;
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = f64::from(l) - lse;
    }
    Ok(lse)
}

/// Log-softmax of a logits row: the natural-log probabilities, in f64.
///
/// # Errors
/// [`MetricsError::EmptyRow`] for an empty row, [`MetricsError::NonFinite`] if any logit is NaN or
/// infinite.
///
/// # Examples
/// ```
/// let lp = quant_metrics::log_softmax(&[1.0, 1.0, 1.0, 1.0])?;
/// for v in lp {
///     assert!((v + 4f64.ln()).abs() < 1e-12);
/// }
/// # Ok::<(), quant_metrics::MetricsError>(())
/// ```
pub fn log_softmax(logits: &[f32]) -> Result<Vec<f64>> {
    let mut out = vec![0.0; logits.len()];
    log_softmax_into(logits, &mut out)?;
    Ok(out)
}

/// Negative log-likelihood `−ln p(target)` of one token under a logits row.
///
/// # Errors
/// [`MetricsError::TokenOutOfRange`] if `target` is not a valid index, plus the errors of
/// [`log_sum_exp`].
///
/// # Examples
/// ```
/// // Uniform over 8 tokens: every token costs ln 8 nats.
/// let nll = quant_metrics::token_nll(&[0.5; 8], 3)?;
/// assert!((nll - 8f64.ln()).abs() < 1e-12);
/// # Ok::<(), quant_metrics::MetricsError>(())
/// ```
pub fn token_nll(logits: &[f32], target: usize) -> Result<f64> {
    let lse = log_sum_exp(logits)?;
    let l = logits.get(target).ok_or(MetricsError::TokenOutOfRange {
        token: target as i64,
        n_vocab: logits.len(),
    })?;
    Ok(lse - f64::from(*l))
}
