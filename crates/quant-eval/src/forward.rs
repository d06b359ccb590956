//! The llama forward pass: RMSNorm, RoPE as llama.cpp applies it (`LLAMA_ROPE_TYPE_NORM`: adjacent
//! pairs, GGUF's permuted Q/K weights), grouped-query attention over a KV cache, SwiGLU, and the
//! (tied) output projection. Every matrix product goes through quant-kernels with the variant's
//! weights (plus their outlier tables); the other operations follow ggml's CPU code in operation
//! order (f64 sums in RMSNorm and softmax, iterated RoPE angles).
//!
//! Threads: every product splits its rows over the rayon pool; attention splits over token rows.

use quant_kernels::{Backend, Scratch};
use rayon::prelude::*;

use crate::error::{EvalError, Result};
use crate::model::{LlamaConfig, LlamaModel, PreparedWeight};

/// Storage precision of the KV cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvPrecision {
    /// Keys and values kept in f32.
    #[default]
    F32,
    /// Keys and values rounded to f16 when stored (llama.cpp's default cache type).
    F16,
}

/// A running sequence: the KV cache of one model plus reusable buffers.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use quant_eval::{LlamaModel, Session, SourceModel, VariantSpec};
/// let file = quant_gguf::GgufFile::open("data/smollm2-135m-instruct-q4_1.gguf")?;
/// let src = SourceModel::from_gguf(&file.parse()?)?;
/// let model = LlamaModel::build(&src, &VariantSpec::plain(quant_core::Format::Q8_0))?;
/// let mut s = Session::new(&model, 64)?;
/// let hidden = s.forward(&[19503, 346, 30])?.to_vec(); // 3 × n_embd final hidden states
/// let mut logits = vec![0.0; model.config.n_vocab];
/// s.logits(&hidden[2 * 576..], 1, &mut logits)?; // the next-token logits after 3 tokens
/// # Ok(()) }
/// ```
pub struct Session<'m> {
    model: &'m LlamaModel,
    /// Per block: q, k, v, o, gate, up, down, prepared once.
    prepared: Vec<[PreparedWeight<'m>; 7]>,
    output: PreparedWeight<'m>,
    backend: &'static dyn Backend,
    capacity: usize,
    pos: usize,
    kv: KvPrecision,
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    scratch: Scratch,
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    tmp: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    down_input_max: Option<Vec<Vec<f32>>>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("variant", &self.model.spec.label)
            .field("backend", &self.backend.name())
            .field("pos", &self.pos)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<'m> Session<'m> {
    /// A session holding up to `capacity` positions, on the best backend, f32 KV cache.
    ///
    /// # Errors
    /// As [`Session::with_options`].
    pub fn new(model: &'m LlamaModel, capacity: usize) -> Result<Self> {
        Self::with_options(model, capacity, quant_kernels::best(), KvPrecision::F32)
    }

    /// A session on a chosen backend and KV-cache precision. Every weight matrix is prepared
    /// for products once here (outlier tables' sparse terms precomputed).
    ///
    /// # Errors
    /// Errors of [`crate::model::Weight::prepare`] (none for a model built by
    /// [`LlamaModel::build`]).
    pub fn with_options(
        model: &'m LlamaModel,
        capacity: usize,
        backend: &'static dyn Backend,
        kv: KvPrecision,
    ) -> Result<Self> {
        let c = &model.config;
        let kv_len = capacity * c.n_embd_kv();
        let prepared = model
            .blocks
            .iter()
            .map(|b| {
                Ok([
                    b.wq.prepare()?,
                    b.wk.prepare()?,
                    b.wv.prepare()?,
                    b.wo.prepare()?,
                    b.w_gate.prepare()?,
                    b.w_up.prepare()?,
                    b.w_down.prepare()?,
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            model,
            prepared,
            output: model.output_weight().prepare()?,
            backend,
            capacity,
            pos: 0,
            kv,
            k_cache: (0..c.n_layer).map(|_| vec![0.0; kv_len]).collect(),
            v_cache: (0..c.n_layer).map(|_| vec![0.0; kv_len]).collect(),
            scratch: Scratch::new(),
            x: Vec::new(),
            h: Vec::new(),
            q: Vec::new(),
            k: Vec::new(),
            v: Vec::new(),
            att: Vec::new(),
            tmp: Vec::new(),
            gate: Vec::new(),
            up: Vec::new(),
            down_input_max: None,
        })
    }

    /// Positions already in the cache.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Start recording, per block, the largest |value| of every input channel of the feed-forward
    /// down projection (`silu(gate)·up`) over the tokens run from now on: the activation spikes
    /// that reveal super weights.
    pub fn record_down_inputs(&mut self) {
        let c = &self.model.config;
        self.down_input_max = Some(vec![vec![0.0; c.n_ff]; c.n_layer]);
    }

    /// The maxima recorded since [`Session::record_down_inputs`] (`n_layer` vectors of `n_ff`).
    pub fn down_input_max(&self) -> Option<&[Vec<f32>]> {
        self.down_input_max.as_deref()
    }

    /// Forget the sequence (the next token is at position 0).
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Run `tokens` at the next positions, append their keys and values to the cache, and return
    /// their final hidden states (after the output RMSNorm), `tokens.len() × n_embd` row-major.
    ///
    /// # Errors
    /// [`EvalError::Token`] for an id outside the vocabulary; [`EvalError::ContextOverflow`] when
    /// the cache is full; kernel errors (non-finite activations).
    pub fn forward(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        let c = self.model.config.clone();
        let t_len = tokens.len();
        if self.pos + t_len > self.capacity {
            return Err(EvalError::ContextOverflow {
                needed: self.pos + t_len,
                capacity: self.capacity,
            });
        }
        let (d, dkv, dff) = (c.n_embd, c.n_embd_kv(), c.n_ff);
        resize(&mut self.x, t_len * d);
        resize(&mut self.h, t_len * d);
        resize(&mut self.q, t_len * d);
        resize(&mut self.k, t_len * dkv);
        resize(&mut self.v, t_len * dkv);
        resize(&mut self.att, t_len * d);
        resize(&mut self.tmp, t_len * d);
        resize(&mut self.gate, t_len * dff);
        resize(&mut self.up, t_len * dff);
        for (t, &id) in tokens.iter().enumerate() {
            self.model
                .token_embd
                .dequantize_row(id as usize, &mut self.x[t * d..(t + 1) * d])?;
        }
        let model = self.model;
        let prepared = std::mem::take(&mut self.prepared);
        let r = self.run_blocks(model, &prepared, t_len);
        self.prepared = prepared;
        r?;
        self.pos += t_len;
        rms_norm(&self.x, &self.model.output_norm, c.rms_eps, &mut self.h);
        Ok(&self.h)
    }

    fn run_blocks(
        &mut self,
        model: &'m LlamaModel,
        prepared: &[[PreparedWeight<'m>; 7]],
        t_len: usize,
    ) -> Result<()> {
        let c = &model.config;
        let (d, dkv, dff) = (c.n_embd, c.n_embd_kv(), c.n_ff);
        let be = self.backend;
        for (li, (b, [wq, wk, wv, wo, w_gate, w_up, w_down])) in
            model.blocks.iter().zip(prepared).enumerate()
        {
            rms_norm(&self.x, &b.attn_norm, c.rms_eps, &mut self.h);
            wq.matmul(be, &self.h, t_len, &mut self.q, &mut self.scratch)?;
            wk.matmul(be, &self.h, t_len, &mut self.k, &mut self.scratch)?;
            wv.matmul(be, &self.h, t_len, &mut self.v, &mut self.scratch)?;
            for t in 0..t_len {
                let p = self.pos + t;
                rope(&mut self.q[t * d..(t + 1) * d], p, c);
                rope(&mut self.k[t * dkv..(t + 1) * dkv], p, c);
            }
            let (kc, vc) = (&mut self.k_cache[li], &mut self.v_cache[li]);
            let base = self.pos * dkv;
            kc[base..base + t_len * dkv].copy_from_slice(&self.k);
            vc[base..base + t_len * dkv].copy_from_slice(&self.v);
            if self.kv == KvPrecision::F16 {
                for v in kc[base..base + t_len * dkv]
                    .iter_mut()
                    .chain(vc[base..base + t_len * dkv].iter_mut())
                {
                    *v = half::f16::from_f32(*v).to_f32();
                }
            }
            attention(
                be,
                c,
                &self.q,
                &self.k_cache[li],
                &self.v_cache[li],
                self.pos,
                &mut self.att,
            );
            wo.matmul(be, &self.att, t_len, &mut self.tmp, &mut self.scratch)?;
            add_assign(&mut self.x, &self.tmp);
            rms_norm(&self.x, &b.ffn_norm, c.rms_eps, &mut self.h);
            w_gate.matmul(be, &self.h, t_len, &mut self.gate, &mut self.scratch)?;
            w_up.matmul(be, &self.h, t_len, &mut self.up, &mut self.scratch)?;
            for (g, u) in self.gate.iter_mut().zip(&self.up) {
                *g = silu(*g) * u;
            }
            if let Some(m) = &mut self.down_input_max {
                for row in self.gate.chunks_exact(dff) {
                    for (mx, &a) in m[li].iter_mut().zip(row) {
                        *mx = mx.max(a.abs());
                    }
                }
            }
            w_down.matmul(be, &self.gate, t_len, &mut self.tmp, &mut self.scratch)?;
            add_assign(&mut self.x, &self.tmp);
        }
        Ok(())
    }

    /// Logits for `n` final hidden states (`hidden` holds `n × n_embd` values, as returned by
    /// [`Session::forward`]): `out` receives `n × n_vocab` values.
    ///
    /// # Errors
    /// Kernel errors (shape mismatch, non-finite hidden states).
    pub fn logits(&mut self, hidden: &[f32], n: usize, out: &mut [f32]) -> Result<()> {
        let cols = self.model.config.n_embd;
        self.output
            .matmul(self.backend, &hidden[..n * cols], n, out, &mut self.scratch)
    }
}

fn resize(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// ggml's `silu`: `x / (1 + e^−x)`.
fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// ggml's `rms_norm` followed by the weight multiply: the sum of squares in f64, then
/// `x · 1/sqrt(mean + eps) · w` in f32.
fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let d = w.len();
    for (xr, yr) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let sum: f64 = xr.iter().map(|&v| f64::from(v * v)).sum();
        let mean = (sum / d as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((y, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
            *y = (v * scale) * g;
        }
    }
}

/// RoPE on every head of one token row (`LLAMA_ROPE_TYPE_NORM`): pairs `(2i, 2i+1)` of the first
/// `n_rot` dimensions rotated by `pos · base^(−2i/n_rot)`, the angle advanced by repeated
/// multiplication in f32 as ggml's rope cache does.
fn rope(row: &mut [f32], pos: usize, c: &LlamaConfig) {
    let hd = c.head_dim();
    let theta_scale = c.rope_freq_base.powf(-2.0 / c.n_rot as f32);
    let mut cache = [0.0f32; 2 * 256];
    let mut theta = pos as f32;
    for i in (0..c.n_rot).step_by(2) {
        cache[i] = theta.cos();
        cache[i + 1] = theta.sin();
        theta *= theta_scale;
    }
    for head in row.chunks_exact_mut(hd) {
        for i in (0..c.n_rot).step_by(2) {
            let (x0, x1) = (head[i], head[i + 1]);
            let (cos, sin) = (cache[i], cache[i + 1]);
            head[i] = x0 * cos - x1 * sin;
            head[i + 1] = x0 * sin + x1 * cos;
        }
    }
}

/// Causal grouped-query attention for the rows at positions `pos0..pos0 + T`: query head `h`
/// reads key/value head `h / (n_head / n_head_kv)`; scores scaled by `1/sqrt(head_dim)`, softmax
/// with an f64 sum (ggml's `soft_max`), then the weighted sum of values.
fn attention(
    be: &dyn Backend,
    c: &LlamaConfig,
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    pos0: usize,
    out: &mut [f32],
) {
    let (d, dkv, hd) = (c.n_embd, c.n_embd_kv(), c.head_dim());
    let group = c.n_head / c.n_head_kv;
    let scale = 1.0 / (hd as f32).sqrt();
    out.par_chunks_mut(d)
        .enumerate()
        .for_each_init(Vec::new, |scores: &mut Vec<f32>, (t, o)| {
            let n_keys = pos0 + t + 1;
            for h in 0..c.n_head {
                let g = h / group;
                let qh = &q[t * d + h * hd..t * d + (h + 1) * hd];
                scores.clear();
                scores.extend((0..n_keys).map(|j| {
                    be.dot_f32(qh, &k_cache[j * dkv + g * hd..j * dkv + (g + 1) * hd]) * scale
                }));
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f64;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    sum += f64::from(*s);
                }
                let inv = (1.0 / sum) as f32;
                let oh = &mut o[h * hd..(h + 1) * hd];
                oh.fill(0.0);
                for (j, &p) in scores.iter().enumerate() {
                    let p = p * inv;
                    let vj = &v_cache[j * dkv + g * hd..j * dkv + (g + 1) * hd];
                    for (a, &v) in oh.iter_mut().zip(vj) {
                        *a += p * v;
                    }
                }
            }
        });
}
