//! # quant-metrics
//!
//! What does a quantization cost? This crate measures it the way llama.cpp's `llama-perplexity`
//! does, so its numbers can be compared with the ones users already read, and removes that tool's
//! pain points (silent NaNs, unchecked files, O(context × vocab) memory):
//!
//! * numerically stable [`log_softmax`] (f64 accumulation, typed error on NaN/Inf);
//! * perplexity with ± standard error under three [`ScoringPolicy`]s (llama.cpp chunks, Hugging
//!   Face strided windows, disjoint windows), bits per byte and per-word perplexity
//!   ([`PerplexityAccumulator`]);
//! * per-token comparison of a base and a quantized distribution ([`compare_logits`]):
//!   KL(base‖quant), reverse KL, Jensen–Shannon, Δp of the actual next token, top-1 agreement,
//!   top-5/10 overlap, plus answer [`count_flips`];
//! * the aggregate [`KldReport`] with every statistic of llama.cpp's `--kl-divergence` mode (same
//!   formulas, uncertainties and percentile interpolation), printable in llama.cpp's exact
//!   layout ([`KldReport::to_llama_cpp_string`]) and serializable with serde;
//! * a streaming reader and bit-compatible writer of llama.cpp's logits files
//!   ([`LogitsFileReader`], [`LogitsFileWriter`]) and [`compare_logits_files`].
//!
//! Memory is O(vocab) per position in flight plus O(tokens) for the per-token values that
//! percentiles need. Results do not depend on the number of threads: per-token work may run in
//! parallel, but it is reduced in token order with compensated f64 sums.
//!
//! ## Example
//! ```
//! use quant_metrics::{KldAccumulator, compare_logits};
//!
//! // Two positions; the "quantized" model is slightly off at each.
//! let base = [[2.0f32, 0.5, -1.0, 0.0], [0.0, 3.0, 1.0, -2.0]];
//! let quant = [[1.9f32, 0.6, -1.0, 0.1], [0.1, 2.8, 1.2, -2.0]];
//! let targets = [0, 2];
//! let mut acc = KldAccumulator::new();
//! for ((b, q), &t) in base.iter().zip(&quant).zip(&targets) {
//!     let c = compare_logits(b, q, t)?;
//!     assert!(c.kld >= 0.0 && c.jsd <= std::f64::consts::LN_2);
//!     acc.push(&c);
//! }
//! acc.end_chunk();
//! let report = acc.finish();
//! assert_eq!(report.same_top.value, 1.0); // both models agree on the most likely token
//! assert!(report.kld.value > 0.0 && report.kld.value < 0.02);
//! // llama.cpp prints its statistics sections from 100 tokens on; the table is always there.
//! assert!(report.to_llama_cpp_string().contains("KL Divergence"));
//! # Ok::<(), quant_metrics::MetricsError>(())
//! ```
//!
//! See `docs/metrics.md` in the repository for a guide to the numbers, the file format and the
//! tolerances proved against llama.cpp's own output.

#![forbid(unsafe_code)]

mod compact;
mod compare;
mod error;
mod fast;
mod file_compare;
mod logits_file;
mod perplexity;
mod report;
mod softmax;
mod stats;

pub use compact::{
    COMPACT_MAGIC, COMPACT_VERSION, CompactHeader, CompactReader, CompactRecord, CompactWriter,
    compare_compact_to_logits_file, convert_logits_file_to_compact,
    convert_logits_file_to_compact_path,
};
pub use compare::{
    CompareOptions, Flips, LLAMA_CPP_KL_FLOOR, MAX_TOP_K, TokenComparison, compare_log_probs,
    compare_logits, compare_logits_batch, compare_logits_to_log_probs, count_flips,
};
#[doc(hidden)]
pub use compare::{
    compare_log_probs_reference, compare_logits_reference, compare_logits_to_log_probs_reference,
};
pub use error::{MetricsError, Result};
pub use file_compare::{
    FileCompareOptions, compare_logits_files, compare_logits_readers, logits_file_perplexity,
};
pub use logits_file::{
    HEADER_BYTES, LOG_PROB_CLAMP_NATS, LOGITS_MAGIC, LogitsFileHeader, LogitsFileReader,
    LogitsFileWriter, PackedRecord, nearest_int,
};
pub use perplexity::{EvalWindow, PerplexityAccumulator, PerplexityEstimate, ScoringPolicy};
pub use report::{
    ChunkRow, Distribution, KldAccumulator, KldReport, LLAMA_CPP_MIN_TOKENS_FOR_STATISTICS,
    PERCENTILE_FRACTIONS, Percentile,
};
pub use softmax::{checked_max, log_softmax, log_softmax_into, log_sum_exp, token_nll};
pub use stats::{
    CompensatedSum, Estimate, covariance_of_means, mean_and_uncertainty, median_sorted_f32,
    percentile_sorted_f32,
};

/// The guide `docs/metrics.md`, included so that its code examples are compiled and run as
/// doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/metrics.md")]
pub struct MetricsGuide;
