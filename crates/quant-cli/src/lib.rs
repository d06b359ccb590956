//! Library side of the `quant` command-line tool: every subcommand's work as a function that
//! writes to any `io::Write`, so tests can check the output.

pub mod bench;
pub mod eval;
pub mod float;
pub mod imatrix;
pub mod inspect;
pub mod kld;
pub mod model;
pub mod outliers;
pub mod quantize;
pub mod report;

/// `(Σ(x − y)², Σx², max |x − y|)` in f64: the error sums every report of the tool is built from.
pub(crate) fn error_sums(x: &[f32], y: &[f32]) -> (f64, f64, f64) {
    let (mut sse, mut ssw, mut max) = (0.0f64, 0.0f64, 0.0f64);
    for (a, b) in x.iter().zip(y) {
        let e = f64::from(*a) - f64::from(*b);
        sse += e * e;
        ssw += f64::from(*a) * f64::from(*a);
        max = max.max(e.abs());
    }
    (sse, ssw, max)
}
