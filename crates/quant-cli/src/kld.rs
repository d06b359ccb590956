//! `quant kld`: llama.cpp's KL-divergence report from two logits files.

use std::path::Path;

use quant_metrics::{FileCompareOptions, KldReport, compare_logits_files};

/// Compare `base` and `other` (llama.cpp `--kl-divergence-base` files), streaming both.
///
/// # Errors
/// Reader errors and inconsistent files (different tokens or shapes).
pub fn run(base: &Path, other: &Path) -> Result<KldReport, quant_metrics::MetricsError> {
    compare_logits_files(base, other, &FileCompareOptions::default())
}
