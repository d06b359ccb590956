//! Perplexity over a token stream: scoring policies, streaming accumulation, ± standard error.

use std::ops::Range;

use serde::Serialize;

use crate::error::{MetricsError, Result};
use crate::softmax::token_nll;
use crate::stats::{CompensatedSum, Estimate};

/// How a long token stream is cut into model evaluations and which positions are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScoringPolicy {
    /// llama.cpp's `llama-perplexity`: disjoint chunks of `n_ctx` tokens (a trailing partial chunk
    /// is dropped); in each, only positions `n_ctx/2 … n_ctx−2` are scored (they predict tokens
    /// `n_ctx/2+1 … n_ctx−1`), so every scored token has at least `n_ctx/2` tokens of context.
    /// With `bos`, the first token of each chunk is replaced by it (models whose vocabulary adds
    /// a BOS); it is never a target.
    LlamaCppChunks {
        /// Chunk size (≥ 3).
        n_ctx: usize,
        /// BOS token replacing each chunk's first token, if the model uses one.
        bos: Option<u32>,
        /// Use at most this many chunks (llama.cpp's `--chunks`).
        max_chunks: Option<usize>,
    },
    /// Hugging Face's strided sliding window (`transformers` perplexity guide): windows of up to
    /// `max_length` tokens starting every `stride` tokens; each window scores only the tokens not
    /// scored by the previous one (the first window scores all but its first token). As in
    /// Hugging Face's loop, a window's first token is never a target, so with
    /// `stride == max_length` the first token of every window is skipped.
    Strided {
        /// Window length (≥ 2).
        max_length: usize,
        /// Step between window starts (1 ≤ stride ≤ max_length).
        stride: usize,
    },
    /// Disjoint windows (lm-eval-harness rolling log-likelihood with one token of context):
    /// token spans `[k·window, (k+1)·window)` are predicted by separate evaluations whose input
    /// starts with the token before the span. With `prefix` (e.g. an EOT/BOS token) the very
    /// first token is scored too, predicted from the prefix alone.
    Disjoint {
        /// Tokens predicted per window (≥ 1).
        window: usize,
        /// Token fed before the first token, if any.
        prefix: Option<u32>,
    },
}

/// One model evaluation prescribed by a [`ScoringPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvalWindow {
    /// Tokens to feed the model (position 0 first).
    pub input: Vec<u32>,
    /// Positions of `input` whose logits are scored.
    pub scored: Range<usize>,
    /// The target of each scored position (`targets[i]` for position `scored.start + i`).
    pub targets: Vec<u32>,
    /// Index in the original stream of `targets[0]`.
    pub first_target_index: usize,
}

impl ScoringPolicy {
    /// Plans the evaluations over `tokens`. The windows are produced lazily; each holds
    /// O(window) tokens.
    ///
    /// # Errors
    /// [`MetricsError::InvalidParameter`] for invalid policy parameters,
    /// [`MetricsError::NotEnoughData`] if the stream is too short for one scored token.
    ///
    /// # Examples
    /// ```
    /// use quant_metrics::ScoringPolicy;
    /// let tokens: Vec<u32> = (0..10).collect();
    /// let p = ScoringPolicy::LlamaCppChunks { n_ctx: 4, bos: Some(99), max_chunks: None };
    /// let w: Vec<_> = p.windows(&tokens)?.collect();
    /// assert_eq!(w.len(), 2); // 10/4 chunks, the last 2 tokens dropped
    /// assert_eq!(w[1].input, vec![99, 5, 6, 7]);
    /// assert_eq!((w[1].scored.clone(), w[1].targets.clone()), (2..3, vec![7]));
    /// # Ok::<(), quant_metrics::MetricsError>(())
    /// ```
    pub fn windows<'a>(&self, tokens: &'a [u32]) -> Result<impl Iterator<Item = EvalWindow> + 'a> {
        let n = tokens.len();
        let spans: Box<dyn Iterator<Item = EvalWindow> + 'a> = match *self {
            Self::LlamaCppChunks {
                n_ctx,
                bos,
                max_chunks,
            } => {
                if n_ctx < 3 {
                    return Err(MetricsError::InvalidParameter(format!(
                        "n_ctx must be ≥ 3, got {n_ctx}"
                    )));
                }
                let mut n_chunk = n / n_ctx;
                if let Some(m) = max_chunks {
                    n_chunk = n_chunk.min(m);
                }
                if n_chunk == 0 {
                    return Err(MetricsError::NotEnoughData(format!(
                        "{n} tokens, need at least one chunk of {n_ctx}"
                    )));
                }
                let first = n_ctx / 2;
                Box::new((0..n_chunk).map(move |c| {
                    let start = c * n_ctx;
                    let mut input = tokens[start..start + n_ctx].to_vec();
                    if let Some(b) = bos {
                        input[0] = b;
                    }
                    EvalWindow {
                        input,
                        scored: first..n_ctx - 1,
                        targets: tokens[start + first + 1..start + n_ctx].to_vec(),
                        first_target_index: start + first + 1,
                    }
                }))
            }
            Self::Strided { max_length, stride } => {
                if max_length < 2 || stride == 0 || stride > max_length {
                    return Err(MetricsError::InvalidParameter(format!(
                        "need max_length ≥ 2 and 1 ≤ stride ≤ max_length, got {max_length}, {stride}"
                    )));
                }
                if n < 2 {
                    return Err(MetricsError::NotEnoughData(format!("{n} tokens")));
                }
                let mut prev_end = 0usize;
                let mut begin = 0usize;
                Box::new(std::iter::from_fn(move || {
                    if begin >= n || (prev_end == n && begin > 0) {
                        return None;
                    }
                    let end = (begin + max_length).min(n);
                    let len = end - begin;
                    let trg_len = end - prev_end;
                    // Labels kept: the last trg_len of the window; position p predicts p+1.
                    let first_pos = (len - trg_len.min(len)).saturating_sub(1);
                    let first_pos = if begin == 0 { 0 } else { first_pos };
                    let w = EvalWindow {
                        input: tokens[begin..end].to_vec(),
                        scored: first_pos..len - 1,
                        targets: tokens[begin + first_pos + 1..end].to_vec(),
                        first_target_index: begin + first_pos + 1,
                    };
                    prev_end = end;
                    begin += stride;
                    Some(w)
                }))
            }
            Self::Disjoint { window, prefix } => {
                if window == 0 {
                    return Err(MetricsError::InvalidParameter("window must be ≥ 1".into()));
                }
                if n < 2 && !(n == 1 && prefix.is_some()) {
                    return Err(MetricsError::NotEnoughData(format!("{n} tokens")));
                }
                Box::new((0..n.div_ceil(window)).filter_map(move |k| {
                    let s = k * window;
                    let e = (s + window).min(n);
                    if s == 0 {
                        match prefix {
                            Some(p) => {
                                let mut input = Vec::with_capacity(e);
                                input.push(p);
                                input.extend_from_slice(&tokens[..e - 1]);
                                Some(EvalWindow {
                                    input,
                                    scored: 0..e,
                                    targets: tokens[..e].to_vec(),
                                    first_target_index: 0,
                                })
                            }
                            None if e >= 2 => Some(EvalWindow {
                                input: tokens[..e].to_vec(),
                                scored: 0..e - 1,
                                targets: tokens[1..e].to_vec(),
                                first_target_index: 1,
                            }),
                            None => None,
                        }
                    } else {
                        Some(EvalWindow {
                            input: tokens[s - 1..e - 1].to_vec(),
                            scored: 0..e - s,
                            targets: tokens[s..e].to_vec(),
                            first_target_index: s,
                        })
                    }
                }))
            }
        };
        Ok(spans)
    }
}

/// Perplexity with its uncertainty and the derived per-byte / per-word measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PerplexityEstimate {
    /// Scored tokens.
    pub n_tokens: usize,
    /// Σ −ln p over the scored tokens, nats.
    pub total_nll: f64,
    /// Mean NLL ± its standard error `sqrt((Σx²/N − mean²)/(N−1))` (llama.cpp's perplexity mode;
    /// 0 for N < 2 or no spread).
    pub mean_nll: Estimate,
    /// PPL = exp(mean NLL) ± PPL × standard error of the mean NLL (llama.cpp's "Final estimate").
    pub ppl: Estimate,
}

impl PerplexityEstimate {
    /// Bits per byte of text: `Σ NLL / (n_bytes · ln 2)`. `n_bytes` must be the UTF-8 length of
    /// the text whose tokens were scored (all of them, for the value to mean anything).
    ///
    /// # Errors
    /// [`MetricsError::InvalidParameter`] for `n_bytes == 0`.
    pub fn bits_per_byte(&self, n_bytes: u64) -> Result<f64> {
        if n_bytes == 0 {
            return Err(MetricsError::InvalidParameter("n_bytes must be > 0".into()));
        }
        Ok(self.total_nll / (n_bytes as f64 * std::f64::consts::LN_2))
    }

    /// Per-word perplexity: `exp(Σ NLL / n_words)`, comparable across tokenizers.
    ///
    /// # Errors
    /// [`MetricsError::InvalidParameter`] for `n_words == 0`.
    pub fn word_perplexity(&self, n_words: u64) -> Result<f64> {
        if n_words == 0 {
            return Err(MetricsError::InvalidParameter("n_words must be > 0".into()));
        }
        Ok((self.total_nll / n_words as f64).exp())
    }
}

/// Streaming perplexity: O(1) state, one token at a time, compensated f64 sums.
///
/// # Examples
/// ```
/// use quant_metrics::PerplexityAccumulator;
/// let mut acc = PerplexityAccumulator::new();
/// // A uniform distribution over 50 tokens has perplexity 50.
/// for target in [3, 7, 11] {
///     acc.push_logits(&[0.25; 50], target)?;
/// }
/// let est = acc.estimate();
/// assert!((est.ppl.value - 50.0).abs() < 1e-9);
/// # Ok::<(), quant_metrics::MetricsError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct PerplexityAccumulator {
    count: usize,
    nll: CompensatedSum,
    nll2: CompensatedSum,
}

impl PerplexityAccumulator {
    /// An empty accumulator.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one token's negative log-likelihood (nats).
    ///
    /// # Errors
    /// [`MetricsError::NonFinite`] for NaN/Inf.
    pub fn push_nll(&mut self, nll: f64) -> Result<()> {
        if !nll.is_finite() {
            return Err(MetricsError::NonFinite {
                index: self.count,
                value: nll as f32,
            });
        }
        self.count += 1;
        self.nll.add(nll);
        self.nll2.add(nll * nll);
        Ok(())
    }

    /// Scores one position from its logits row and actual next token; returns the NLL.
    ///
    /// # Errors
    /// Those of [`crate::token_nll`].
    pub fn push_logits(&mut self, logits: &[f32], target: usize) -> Result<f64> {
        let v = token_nll(logits, target)?;
        self.push_nll(v)?;
        Ok(v)
    }

    /// Scores every scored position of a window, given a function returning the logits row of
    /// a position of `window.input` (rows are requested in increasing position order).
    ///
    /// # Errors
    /// The first error of `logits_at` or of [`PerplexityAccumulator::push_logits`].
    pub fn push_window<'l>(
        &mut self,
        window: &EvalWindow,
        mut logits_at: impl FnMut(usize) -> Result<&'l [f32]>,
    ) -> Result<()> {
        for (pos, &t) in window.scored.clone().zip(&window.targets) {
            let row = logits_at(pos)?;
            self.push_logits(row, t as usize)?;
        }
        Ok(())
    }

    /// Tokens scored so far.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count
    }

    /// The estimate so far.
    #[must_use]
    pub fn estimate(&self) -> PerplexityEstimate {
        let n = self.count as f64;
        let total = self.nll.value();
        let (mean, unc) = if self.count == 0 {
            (0.0, 0.0)
        } else {
            let mean = total / n;
            let var = self.nll2.value() / n - mean * mean;
            let unc = if var > 0.0 && self.count > 1 {
                (var / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            (mean, unc)
        };
        let ppl = mean.exp();
        PerplexityEstimate {
            n_tokens: self.count,
            total_nll: total,
            mean_nll: Estimate {
                value: mean,
                uncertainty: unc,
            },
            ppl: Estimate {
                value: ppl,
                uncertainty: ppl * unc,
            },
        }
    }
}
