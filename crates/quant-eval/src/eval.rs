//! Perplexity and KL divergence of quantized variants against a reference, on the same tokens,
//! streamed through quant-metrics.
//!
//! The text is cut into chunks of `n_ctx` tokens as llama.cpp's `llama-perplexity` does: every
//! chunk is evaluated from an empty cache, and only its second half is scored (the logits at
//! positions `n_ctx/2 … n_ctx−2` predict the next token), so each scored token has at least
//! `n_ctx/2` tokens of context. The reference and every variant run **in lockstep**, chunk by
//! chunk; their logits are compared a few positions at a time and dropped, so memory stays
//! `O(vocab)` whatever the length of the text (no logits files).

use std::time::Instant;

use quant_kernels::Backend;
use quant_metrics::{KldAccumulator, KldReport, PerplexityAccumulator, PerplexityEstimate};

use crate::error::{EvalError, Result};
use crate::forward::{KvPrecision, Session};
use crate::model::{LlamaModel, SourceModel, VariantSpec};

/// Positions whose logits are computed in one output product.
const LOGIT_BATCH: usize = 8;

/// Parameters of an evaluation.
#[derive(Clone, Copy)]
pub struct EvalOptions {
    /// Tokens per chunk (llama.cpp's `-c`).
    pub n_ctx: usize,
    /// Evaluate at most this many chunks (llama.cpp's `--chunks`).
    pub max_chunks: Option<usize>,
    /// Replace the first token of every chunk by this BOS id (llama.cpp does when the vocabulary
    /// says `add_bos_token`; SmolLM2's does not).
    pub bos: Option<u32>,
    /// KV-cache precision.
    pub kv: KvPrecision,
    /// The backend every product runs on.
    pub backend: &'static dyn Backend,
}

impl std::fmt::Debug for EvalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalOptions")
            .field("n_ctx", &self.n_ctx)
            .field("max_chunks", &self.max_chunks)
            .field("bos", &self.bos)
            .field("kv", &self.kv)
            .field("backend", &self.backend.name())
            .finish()
    }
}

impl EvalOptions {
    /// `n_ctx` tokens per chunk, all chunks, no BOS, f32 cache, best backend.
    pub fn new(n_ctx: usize) -> Self {
        Self {
            n_ctx,
            max_chunks: None,
            bos: None,
            kv: KvPrecision::F32,
            backend: quant_kernels::best(),
        }
    }

    /// Chunks evaluated for `n_tokens` tokens.
    pub fn n_chunks(&self, n_tokens: usize) -> usize {
        let n = n_tokens / self.n_ctx.max(1);
        self.max_chunks.map_or(n, |m| n.min(m))
    }
}

/// What one model (reference or variant) measured.
#[derive(Clone, Debug)]
pub struct VariantResult {
    /// The variant's label.
    pub label: String,
    /// Its format (before per-tensor fallback).
    pub format: quant_core::Format,
    /// Bits per weight over all parameters, outlier tables included.
    pub bits_per_weight: f64,
    /// Weight storage in bytes (quantized matrices, tables, norms).
    pub storage_bytes: usize,
    /// Weights kept in outlier tables.
    pub n_outliers: usize,
    /// Matrices written in another format than asked (llama-quantize's fallback).
    pub fallbacks: Vec<(String, quant_core::Format)>,
    /// Perplexity of this model on the scored tokens.
    pub perplexity: PerplexityEstimate,
    /// The comparison with the reference (`None` for the reference itself).
    pub kld: Option<KldReport>,
    /// Tokens evaluated per second (forward pass over every chunk token plus the output
    /// projection of the scored positions), on the options' backend and the rayon pool.
    pub tokens_per_second: f64,
}

/// The whole evaluation.
#[derive(Clone, Debug)]
pub struct EvalResult {
    /// Tokens per chunk.
    pub n_ctx: usize,
    /// Chunks evaluated.
    pub n_chunks: usize,
    /// Scored tokens.
    pub n_scored: usize,
    /// The reference.
    pub reference: VariantResult,
    /// The variants, in the order given.
    pub variants: Vec<VariantResult>,
}

struct Runner<'m> {
    model: &'m LlamaModel,
    session: Session<'m>,
    hidden: Vec<f32>,
    seconds: f64,
    kld: KldAccumulator,
    ppl: PerplexityAccumulator,
}

impl<'m> Runner<'m> {
    fn new(model: &'m LlamaModel, opts: &EvalOptions) -> Result<Self> {
        Ok(Self {
            model,
            session: Session::with_options(model, opts.n_ctx, opts.backend, opts.kv)?,
            hidden: Vec::new(),
            seconds: 0.0,
            kld: KldAccumulator::new(),
            ppl: PerplexityAccumulator::new(),
        })
    }

    fn run_chunk(&mut self, tokens: &[u32]) -> Result<()> {
        let t0 = Instant::now();
        self.session.reset();
        let h = self.session.forward(tokens)?;
        self.hidden.clear();
        self.hidden.extend_from_slice(h);
        self.seconds += t0.elapsed().as_secs_f64();
        Ok(())
    }

    fn logits(&mut self, first: usize, n: usize, out: &mut [f32]) -> Result<()> {
        let t0 = Instant::now();
        let d = self.model.config.n_embd;
        self.session
            .logits(&self.hidden[first * d..(first + n) * d], n, out)?;
        self.seconds += t0.elapsed().as_secs_f64();
        Ok(())
    }

    fn result(self, n_tokens: usize, is_reference: bool) -> VariantResult {
        let m = self.model;
        VariantResult {
            label: m.spec.label.clone(),
            format: m.spec.format,
            bits_per_weight: m.bits_per_weight(),
            storage_bytes: m.storage_bytes(),
            n_outliers: m.n_outliers(),
            fallbacks: m.fallbacks.clone(),
            perplexity: self.ppl.estimate(),
            kld: (!is_reference).then(|| self.kld.finish()),
            tokens_per_second: n_tokens as f64 / self.seconds.max(1e-9),
        }
    }
}

/// Evaluate `reference` and every variant on `tokens` (see the module documentation).
/// `progress(done, total)` is called after every chunk.
///
/// # Errors
/// [`EvalError::Parameter`] for `n_ctx < 4` or fewer tokens than one chunk; errors of building
/// the variants and of the forward pass; [`EvalError::Token`] for ids outside the vocabulary.
pub fn evaluate(
    src: &SourceModel,
    tokens: &[u32],
    reference: &VariantSpec,
    variants: &[VariantSpec],
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalResult> {
    let models = build_models(src, reference, variants)?;
    evaluate_models(&models[0], &models[1..], tokens, opts, progress)
}

/// Build the reference and the variants (in this order).
///
/// # Errors
/// Errors of [`LlamaModel::build`].
pub fn build_models(
    src: &SourceModel,
    reference: &VariantSpec,
    variants: &[VariantSpec],
) -> Result<Vec<LlamaModel>> {
    std::iter::once(reference)
        .chain(variants)
        .map(|spec| LlamaModel::build(src, spec))
        .collect()
}

/// [`evaluate`] on models already built.
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_models(
    reference: &LlamaModel,
    variants: &[LlamaModel],
    tokens: &[u32],
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalResult> {
    let n_ctx = opts.n_ctx;
    if n_ctx < 4 {
        return Err(EvalError::Parameter(format!(
            "context {n_ctx} is too small (at least 4 tokens)"
        )));
    }
    let n_chunks = opts.n_chunks(tokens.len());
    if n_chunks == 0 {
        return Err(EvalError::Parameter(format!(
            "{} tokens do not fill one chunk of {n_ctx}",
            tokens.len()
        )));
    }
    let n_vocab = reference.config.n_vocab;
    if let Some(&bad) = tokens[..n_chunks * n_ctx]
        .iter()
        .chain(opts.bos.as_ref())
        .find(|&&t| t as usize >= n_vocab)
    {
        return Err(EvalError::Token {
            id: bad as usize,
            n_vocab,
        });
    }
    let first = n_ctx / 2;
    let mut base = Runner::new(reference, opts)?;
    let mut others: Vec<Runner<'_>> = variants
        .iter()
        .map(|m| Runner::new(m, opts))
        .collect::<Result<_>>()?;
    let mut base_logits = vec![0.0f32; LOGIT_BATCH * n_vocab];
    let mut logits = vec![0.0f32; LOGIT_BATCH * n_vocab];
    let mut chunk = vec![0u32; n_ctx];
    for c in 0..n_chunks {
        chunk.copy_from_slice(&tokens[c * n_ctx..(c + 1) * n_ctx]);
        if let Some(bos) = opts.bos {
            chunk[0] = bos;
        }
        base.run_chunk(&chunk)?;
        for r in &mut others {
            r.run_chunk(&chunk)?;
        }
        // Positions first..n_ctx-1 predict tokens first+1..n_ctx (the real text's tokens, also
        // when the chunk's first token was replaced by BOS).
        let mut p = first;
        while p < n_ctx - 1 {
            let n = LOGIT_BATCH.min(n_ctx - 1 - p);
            base.logits(p, n, &mut base_logits[..n * n_vocab])?;
            for i in 0..n {
                let target = tokens[c * n_ctx + p + i + 1] as usize;
                base.ppl
                    .push_logits(&base_logits[i * n_vocab..(i + 1) * n_vocab], target)?;
            }
            for r in &mut others {
                r.logits(p, n, &mut logits[..n * n_vocab])?;
                for i in 0..n {
                    let target = tokens[c * n_ctx + p + i + 1] as usize;
                    let (b, q) = (
                        &base_logits[i * n_vocab..(i + 1) * n_vocab],
                        &logits[i * n_vocab..(i + 1) * n_vocab],
                    );
                    r.kld.push(&quant_metrics::compare_logits(b, q, target)?);
                    r.ppl.push_logits(q, target)?;
                }
            }
            p += n;
        }
        for r in &mut others {
            r.kld.end_chunk();
        }
        progress(c + 1, n_chunks);
    }
    let n_tokens = n_chunks * n_ctx;
    Ok(EvalResult {
        n_ctx,
        n_chunks,
        n_scored: n_chunks * (n_ctx - 1 - first),
        reference: base.result(n_tokens, true),
        variants: others
            .into_iter()
            .map(|r| r.result(n_tokens, false))
            .collect(),
    })
}

/// The super weight as Yu et al. find it, from activations: run `tokens` through `model` (the
/// reference), record the largest |input| of every down-projection channel, and return the weight
/// with the largest contribution `max_s |x_sj|·|w_ij|` over all blocks: the weight that creates the
/// model's "super activation". Its `score` is that contribution divided by the RMS of all
/// contributions of its block (how far it stands out); `row_sigmas`/`col_sigmas` are the weight's
/// own statistics as in the data-free detector.
///
/// # Errors
/// Forward-pass errors; [`EvalError::Parameter`] for no tokens.
pub fn find_super_weight_with_activations(
    src: &SourceModel,
    model: &LlamaModel,
    tokens: &[u32],
) -> Result<Option<SuperWeight>> {
    if tokens.is_empty() {
        return Err(EvalError::Parameter(
            "no tokens to record activations".into(),
        ));
    }
    let mut s = Session::new(model, tokens.len())?;
    s.record_down_inputs();
    s.forward(tokens)?;
    let maxima = s.down_input_max().unwrap_or_default().to_vec();
    let mut best: Option<(f64, f64, String, usize, usize)> = None;
    for (name, xm) in src.down_projections().zip(&maxima) {
        let Some(t) = src.tensor(&name) else { continue };
        let (mut top, mut r, mut c, mut sq) = (0.0f64, 0, 0, 0.0f64);
        for (i, row) in t.data.chunks_exact(t.cols).enumerate() {
            for (j, (&w, &x)) in row.iter().zip(xm).enumerate() {
                let p = f64::from(w.abs()) * f64::from(x);
                sq += p * p;
                if p > top {
                    (top, r, c) = (p, i, j);
                }
            }
        }
        let rms = (sq / t.data.len().max(1) as f64).sqrt();
        if best.as_ref().is_none_or(|b| top > b.0) {
            best = Some((top, if rms > 0.0 { top / rms } else { 0.0 }, name, r, c));
        }
    }
    Ok(best.map(|(_, ratio, tensor, row, col)| {
        let t = src.tensor(&tensor).expect("found above");
        let (row_sigmas, col_sigmas) = weight_sigmas(&t.data, t.rows, t.cols, row, col);
        SuperWeight {
            tensor,
            candidate: quant_core::stats::SuperWeightCandidate {
                row,
                col,
                value: t.data[row * t.cols + col],
                row_sigmas,
                col_sigmas,
                score: ratio,
            },
        }
    }))
}

/// `|w − mean|/σ` of weight `(r, c)` within its row and within its column.
fn weight_sigmas(w: &[f32], rows: usize, cols: usize, r: usize, c: usize) -> (f64, f64) {
    let stats = |it: &mut dyn Iterator<Item = f32>| {
        let (mut n, mut s, mut sq) = (0.0f64, 0.0f64, 0.0f64);
        for v in it {
            let v = f64::from(v);
            n += 1.0;
            s += v;
            sq += v * v;
        }
        let m = s / n.max(1.0);
        (m, (sq / n.max(1.0) - m * m).max(0.0).sqrt())
    };
    let v = f64::from(w[r * cols + c]);
    let (rm, rs) = stats(&mut w[r * cols..(r + 1) * cols].iter().copied());
    let (cm, cs) = stats(&mut (0..rows).map(|i| w[i * cols + c]));
    let sig = |m: f64, sd: f64| if sd > 0.0 { (v - m).abs() / sd } else { 0.0 };
    (sig(rm, rs), sig(cm, cs))
}

/// The model's top data-free super-weight candidate over its feed-forward down projections
/// (where Yu et al., "The Super Weight in Large Language Models", 2024, find them): the weight
/// most extreme in both its row and its column ([`quant_core::stats::super_weight_candidates`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SuperWeight {
    /// Tensor name.
    pub tensor: String,
    /// The candidate (coordinates, value, statistics, score).
    pub candidate: quant_core::stats::SuperWeightCandidate,
}

/// Find the [`SuperWeight`] of `src` (`None` for a model without down projections).
pub fn find_super_weight(src: &SourceModel) -> Option<SuperWeight> {
    src.down_projections()
        .filter_map(|name| {
            let t = src.tensor(&name)?;
            let c = quant_core::stats::super_weight_candidates(&t.data, t.rows, t.cols, 1)
                .into_iter()
                .next()?;
            Some(SuperWeight {
                tensor: name,
                candidate: c,
            })
        })
        .max_by(|a, b| a.candidate.score.total_cmp(&b.candidate.score))
}

/// Decoding speed: tokens per second of feeding `tokens` one at a time (a KV cache growing from
/// empty, the next-token logits computed at every step), like llama-bench's `tg` test.
///
/// # Errors
/// [`EvalError::Parameter`] for no tokens; forward-pass errors.
pub fn generation_speed(model: &LlamaModel, tokens: &[u32], opts: &EvalOptions) -> Result<f64> {
    if tokens.is_empty() {
        return Err(EvalError::Parameter("no tokens to decode".into()));
    }
    let mut s = Session::with_options(model, tokens.len(), opts.backend, opts.kv)?;
    let mut logits = vec![0.0f32; model.config.n_vocab];
    let t0 = Instant::now();
    for &t in tokens {
        let h = s.forward(&[t])?.to_vec();
        s.logits(&h, 1, &mut logits)?;
    }
    Ok(tokens.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9))
}
