//! A llama-architecture model: hyper-parameters from GGUF metadata, the source weights
//! dequantized to f32 once, and quantized *variants* of it (every weight matrix in one format,
//! with optional outlier tables and single-weight edits) ready for the forward pass.

use std::collections::HashMap;

use quant_core::Format;
use quant_core::outlier::{
    OutlierPolicy, OutlierTable, ValuePrecision, quantize_with_outliers, select_outliers,
};
use quant_gguf::Gguf;
use quant_kernels::{Backend, OutlierMatrix, QuantMatrix, Scratch};
use rayon::prelude::*;

use crate::error::{EvalError, Result};

/// Hyper-parameters of a llama-architecture model (`llama.*` GGUF keys).
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// Transformer blocks (`llama.block_count`).
    pub n_layer: usize,
    /// Hidden size (`llama.embedding_length`).
    pub n_embd: usize,
    /// Query heads (`llama.attention.head_count`).
    pub n_head: usize,
    /// Key/value heads (`llama.attention.head_count_kv`; grouped-query attention when smaller).
    pub n_head_kv: usize,
    /// Feed-forward size (`llama.feed_forward_length`).
    pub n_ff: usize,
    /// Vocabulary size (rows of `token_embd.weight`).
    pub n_vocab: usize,
    /// Rotated dimensions per head (`llama.rope.dimension_count`, default the head size).
    pub n_rot: usize,
    /// RoPE base frequency (`llama.rope.freq_base`, default 10000).
    pub rope_freq_base: f32,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
}

impl LlamaConfig {
    /// Values per attention head.
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Width of the key (and value) projection: `head_dim × n_head_kv`.
    pub fn n_embd_kv(&self) -> usize {
        self.head_dim() * self.n_head_kv
    }

    /// Read the hyper-parameters of a `general.architecture = "llama"` file.
    ///
    /// # Errors
    /// [`EvalError::Unsupported`] for another architecture; [`EvalError::Metadata`] for missing or
    /// inconsistent keys (heads not dividing the hidden size, odd or oversized rotation, ...).
    pub fn from_gguf(g: &Gguf<'_>) -> Result<Self> {
        let arch = g
            .get("general.architecture")
            .and_then(|v| v.as_str())
            .ok_or(EvalError::Metadata("general.architecture missing"))?;
        if arch != "llama" {
            return Err(EvalError::Unsupported(format!(
                "architecture {arch:?} (only llama is supported)"
            )));
        }
        let int = |key: &'static str| -> Result<usize> {
            g.get(key)
                .and_then(|v| v.as_u64())
                .and_then(|v| usize::try_from(v).ok())
                .filter(|&v| v > 0 && v < (1 << 24))
                .ok_or(EvalError::Metadata(key))
        };
        let float = |key: &'static str, default: f32| -> Result<f32> {
            match g.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_f64()
                    .map(|x| x as f32)
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .ok_or(EvalError::Metadata(key)),
            }
        };
        let n_embd = int("llama.embedding_length")?;
        let n_head = int("llama.attention.head_count")?;
        let n_head_kv = match g.get("llama.attention.head_count_kv") {
            None => n_head,
            Some(_) => int("llama.attention.head_count_kv")?,
        };
        if !n_embd.is_multiple_of(n_head) || !n_head.is_multiple_of(n_head_kv) {
            return Err(EvalError::Metadata(
                "head counts must divide the embedding length and each other",
            ));
        }
        let head_dim = n_embd / n_head;
        let n_rot = match g.get("llama.rope.dimension_count") {
            None => head_dim,
            Some(_) => int("llama.rope.dimension_count")?,
        };
        if n_rot > head_dim || n_rot > 512 || !n_rot.is_multiple_of(2) {
            return Err(EvalError::Metadata("llama.rope.dimension_count"));
        }
        let emb = g
            .tensor("token_embd.weight")
            .ok_or(EvalError::MissingTensor("token_embd.weight".into()))?;
        let n_vocab = usize::try_from(emb.n_rows()).map_err(|_| EvalError::Metadata("vocab"))?;
        Ok(Self {
            n_layer: int("llama.block_count")?,
            n_embd,
            n_head,
            n_head_kv,
            n_ff: int("llama.feed_forward_length")?,
            n_vocab,
            n_rot,
            rope_freq_base: float("llama.rope.freq_base", 10_000.0)?,
            rms_eps: float("llama.attention.layer_norm_rms_epsilon", 1e-5)?,
        })
    }
}

/// A weight matrix dequantized to f32 (row-major `rows × cols`, ggml orientation: a row is one
/// output feature, its `cols` values multiply the input).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceTensor {
    /// Output features.
    pub rows: usize,
    /// Input features (values per row).
    pub cols: usize,
    /// The values.
    pub data: Vec<f32>,
    /// The format the file stores it in.
    pub stored: Format,
}

/// The model as read from the file: configuration plus every tensor dequantized to f32.
///
/// "f32" variants built from it are therefore the *dequantized* weights of the file (for the
/// SmolLM2 GGUF shipped as Q4_1, "f32" means "Q4_1 dequantized exactly").
#[derive(Clone, Debug)]
pub struct SourceModel {
    /// Hyper-parameters.
    pub config: LlamaConfig,
    tensors: HashMap<String, SourceTensor>,
    order: Vec<String>,
}

/// Names of the matrices of block `i`, in file order of a llama block.
const BLOCK_MATRICES: [&str; 7] = [
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

impl SourceModel {
    /// Read the configuration and dequantize every tensor the forward pass uses.
    ///
    /// # Errors
    /// Errors of [`LlamaConfig::from_gguf`]; [`EvalError::MissingTensor`] or
    /// [`EvalError::Shape`] when a tensor is absent or has the wrong shape; decoding errors.
    pub fn from_gguf(g: &Gguf<'_>) -> Result<Self> {
        let config = LlamaConfig::from_gguf(g)?;
        let c = &config;
        let mut wanted: Vec<(String, usize, usize)> = vec![
            ("token_embd.weight".into(), c.n_vocab, c.n_embd),
            ("output_norm.weight".into(), 1, c.n_embd),
        ];
        if g.tensor("output.weight").is_some() {
            wanted.push(("output.weight".into(), c.n_vocab, c.n_embd));
        }
        for i in 0..c.n_layer {
            let kv = c.n_embd_kv();
            for (name, rows, cols) in [
                ("attn_norm", 1, c.n_embd),
                ("attn_q", c.n_embd, c.n_embd),
                ("attn_k", kv, c.n_embd),
                ("attn_v", kv, c.n_embd),
                ("attn_output", c.n_embd, c.n_embd),
                ("ffn_norm", 1, c.n_embd),
                ("ffn_gate", c.n_ff, c.n_embd),
                ("ffn_up", c.n_ff, c.n_embd),
                ("ffn_down", c.n_embd, c.n_ff),
            ] {
                wanted.push((format!("blk.{i}.{name}.weight"), rows, cols));
            }
        }
        let loaded: Vec<Result<(String, SourceTensor)>> = wanted
            .par_iter()
            .map(|(name, rows, cols)| {
                let info = g
                    .tensor(name)
                    .ok_or_else(|| EvalError::MissingTensor(name.clone()))?;
                if info.row_len() != *cols as u64 || info.n_rows() != *rows as u64 {
                    return Err(EvalError::Shape {
                        tensor: name.clone(),
                        expected: (*rows, *cols),
                        actual: (info.n_rows(), info.row_len()),
                    });
                }
                let data = g.tensor_f32(info)?;
                if data.iter().any(|v| !v.is_finite()) {
                    return Err(EvalError::NonFinite(name.clone()));
                }
                Ok((
                    name.clone(),
                    SourceTensor {
                        rows: *rows,
                        cols: *cols,
                        data,
                        stored: info.format,
                    },
                ))
            })
            .collect();
        let mut tensors = HashMap::new();
        let mut order = Vec::new();
        for r in loaded {
            let (name, t) = r?;
            order.push(name.clone());
            tensors.insert(name, t);
        }
        Ok(Self {
            config,
            tensors,
            order,
        })
    }

    /// A tensor by GGUF name.
    pub fn tensor(&self, name: &str) -> Option<&SourceTensor> {
        self.tensors.get(name)
    }

    /// Names of the weight matrices (quantized in a variant): the token embedding, the output
    /// projection if untied, and the seven matrices of every block.
    pub fn matrix_names(&self) -> impl Iterator<Item = &str> {
        self.order
            .iter()
            .map(String::as_str)
            .filter(|n| self.tensors[*n].rows > 1)
    }

    /// Names of the feed-forward down projections, where super weights live (Yu et al., 2024).
    pub fn down_projections(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.config.n_layer).map(|i| format!("blk.{i}.ffn_down.weight"))
    }

    /// Total number of parameters (every tensor the forward pass reads).
    pub fn n_params(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }
}

/// A change to one weight before a variant is built.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightEdit {
    /// Tensor name (e.g. `blk.3.ffn_down.weight`).
    pub tensor: String,
    /// Row (output feature).
    pub row: usize,
    /// Column (input feature).
    pub col: usize,
    /// What to do with it.
    pub action: EditAction,
}

/// See [`WeightEdit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditAction {
    /// Set the weight to zero (the super-weight ablation).
    Zero,
    /// Keep the weight exactly, in the tensor's outlier table, whatever the variant's policy.
    KeepExact,
}

/// How to build a variant: every weight matrix in `format` (with llama-quantize's fallback for
/// rows its blocks do not divide), optional outlier tables, optional edits.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantSpec {
    /// Display name (e.g. `q4_K`, `q4_K+0.1%`).
    pub label: String,
    /// Target format; [`Format::F32`] is the reference (products in f32, activations unquantized).
    pub format: Format,
    /// Outlier-table policy applied to every quantized matrix.
    pub outliers: Option<OutlierPolicy>,
    /// Precision of the kept values.
    pub precision: ValuePrecision,
    /// Single-weight edits.
    pub edits: Vec<WeightEdit>,
    /// Per-tensor formats replacing `format` (exact tensor names, e.g. to reproduce a
    /// llama-quantize mixture such as Q4_K_M from its log); the fallback still applies.
    pub overrides: Vec<(String, Format)>,
    /// Weight-only quantization: quantize (and apply the outlier table), then dequantize and run
    /// the products in f32 with unquantized activations. Separates the weights' error from the
    /// activations' (Q8_0/Q8_1/Q8_K) rounding.
    pub weight_only: bool,
}

impl VariantSpec {
    /// A plain variant: `format` everywhere, no table, no edit.
    pub fn plain(format: Format) -> Self {
        Self {
            label: format.name().to_string(),
            format,
            outliers: None,
            precision: ValuePrecision::F32,
            edits: Vec::new(),
            overrides: Vec::new(),
            weight_only: false,
        }
    }
}

/// One weight matrix of a variant: ggml/GGUF bytes in an 8-byte aligned buffer, plus the outlier
/// table if any.
#[derive(Debug)]
pub struct Weight {
    format: Format,
    rows: usize,
    cols: usize,
    words: Vec<u64>,
    len: usize,
    table: Option<OutlierTable>,
}

impl Weight {
    fn new(
        format: Format,
        rows: usize,
        cols: usize,
        bytes: &[u8],
        table: Option<OutlierTable>,
    ) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self {
            format,
            rows,
            cols,
            words,
            len: bytes.len(),
            table: table.filter(|t| !t.is_empty()),
        }
    }

    /// The weight format (after fallback).
    pub fn format(&self) -> Format {
        self.format
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The quantized bytes.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }

    /// The outlier table, if the matrix has one.
    pub fn table(&self) -> Option<&OutlierTable> {
        self.table.as_ref()
    }

    /// Storage in bytes: blocks plus the serialized outlier table.
    pub fn storage_bytes(&self) -> usize {
        self.len + self.table.as_ref().map_or(0, OutlierTable::serialized_len)
    }

    /// The matrix ready for products: its kernel view and, with an outlier table, the table's
    /// sparse correction precomputed (do this once, not per product: [`crate::Session`] does).
    ///
    /// # Errors
    /// Errors of the kernels' matrix constructors (none for a weight built by
    /// [`LlamaModel::build`]).
    pub fn prepare(&self) -> Result<PreparedWeight<'_>> {
        Ok(match &self.table {
            Some(t) => PreparedWeight::Outliers(OutlierMatrix::from_parts(
                self.format,
                self.rows,
                self.cols,
                self.bytes(),
                t,
            )?),
            None => PreparedWeight::Dense(QuantMatrix::new(
                self.format,
                self.rows,
                self.cols,
                self.bytes(),
            )?),
        })
    }

    /// `ys = xs·Wᵀ` for `batch` activation rows (see [`QuantMatrix::matmul`]), with the sparse
    /// term of the outlier table when there is one. Prepares the matrix on every call; hold a
    /// [`PreparedWeight`] to multiply repeatedly.
    ///
    /// # Errors
    /// Errors of the kernels (shape mismatch, non-finite activations).
    pub fn matmul(
        &self,
        backend: &dyn Backend,
        xs: &[f32],
        batch: usize,
        ys: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        self.prepare()?.matmul(backend, xs, batch, ys, scratch)
    }

    /// Dequantize row `r` into `out` (the embedding lookup), kept weights put back.
    ///
    /// # Errors
    /// [`EvalError::Token`] if `r` is out of range.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) -> Result<()> {
        if r >= self.rows {
            return Err(EvalError::Token {
                id: r,
                n_vocab: self.rows,
            });
        }
        let rb = self.len / self.rows;
        quant_core::dequantize_into(self.format, &self.bytes()[r * rb..(r + 1) * rb], out)?;
        if let Some(t) = &self.table {
            let (cols, vals) = t.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                out[c as usize] = v;
            }
        }
        Ok(())
    }
}

/// A [`Weight`] ready for products (see [`Weight::prepare`]).
#[derive(Debug)]
pub enum PreparedWeight<'a> {
    /// A plain quantized matrix.
    Dense(QuantMatrix<'a>),
    /// A quantized matrix with its outlier table.
    Outliers(OutlierMatrix<'a>),
}

impl PreparedWeight<'_> {
    /// `ys = xs·Wᵀ` for `batch` activation rows (see [`QuantMatrix::matmul`]).
    ///
    /// # Errors
    /// Errors of the kernels (shape mismatch, non-finite activations).
    pub fn matmul(
        &self,
        backend: &dyn Backend,
        xs: &[f32],
        batch: usize,
        ys: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        match self {
            PreparedWeight::Dense(m) => m.matmul(backend, xs, batch, ys, scratch)?,
            PreparedWeight::Outliers(m) => m.matmul(backend, xs, batch, ys, scratch)?,
        }
        Ok(())
    }
}

/// One transformer block of a variant.
#[derive(Debug)]
pub struct Block {
    /// Attention RMSNorm weight.
    pub attn_norm: Vec<f32>,
    /// Query projection.
    pub wq: Weight,
    /// Key projection.
    pub wk: Weight,
    /// Value projection.
    pub wv: Weight,
    /// Attention output projection.
    pub wo: Weight,
    /// Feed-forward RMSNorm weight.
    pub ffn_norm: Vec<f32>,
    /// Gate projection (SwiGLU).
    pub w_gate: Weight,
    /// Up projection.
    pub w_up: Weight,
    /// Down projection.
    pub w_down: Weight,
}

/// A model variant ready to run: the source weights quantized as a [`VariantSpec`] says.
#[derive(Debug)]
pub struct LlamaModel {
    /// Hyper-parameters.
    pub config: LlamaConfig,
    /// How it was built.
    pub spec: VariantSpec,
    /// Token embedding (also the output projection when `output` is `None`: tied embeddings).
    pub token_embd: Weight,
    /// The blocks.
    pub blocks: Vec<Block>,
    /// Final RMSNorm weight.
    pub output_norm: Vec<f32>,
    /// Untied output projection.
    pub output: Option<Weight>,
    /// `(tensor, format written)` for every matrix whose format differs from the spec's.
    pub fallbacks: Vec<(String, Format)>,
}

impl LlamaModel {
    /// Quantize the source's matrices as `spec` says (in parallel over matrices).
    ///
    /// # Errors
    /// [`EvalError::Edit`] for an edit outside its tensor; quantization errors.
    pub fn build(src: &SourceModel, spec: &VariantSpec) -> Result<Self> {
        for e in &spec.edits {
            let t = src
                .tensor(&e.tensor)
                .ok_or_else(|| EvalError::MissingTensor(e.tensor.clone()))?;
            if e.row >= t.rows || e.col >= t.cols {
                return Err(EvalError::Edit(format!(
                    "({}, {}) is outside {} ({}×{})",
                    e.row, e.col, e.tensor, t.rows, t.cols
                )));
            }
        }
        let names: Vec<&str> = src.matrix_names().collect();
        let built: Vec<Result<Weight>> = names
            .par_iter()
            .map(|name| build_weight(src, name, spec))
            .collect();
        let mut weights: HashMap<&str, Weight> = HashMap::new();
        for (name, w) in names.iter().zip(built) {
            weights.insert(name, w?);
        }
        let mut fallbacks: Vec<(String, Format)> = names
            .iter()
            .filter(|n| weights[**n].format != spec.format)
            .map(|n| ((*n).to_string(), weights[*n].format))
            .collect();
        fallbacks.sort();
        let mut take = |name: &str| -> Weight {
            weights
                .remove(name)
                .unwrap_or_else(|| unreachable!("{name} checked when the source was loaded"))
        };
        let vec_of = |name: &str| src.tensors[name].data.clone();
        let c = &src.config;
        let mut blocks = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let n = |m: &str| format!("blk.{i}.{m}.weight");
            blocks.push(Block {
                attn_norm: vec_of(&n("attn_norm")),
                wq: take(&n(BLOCK_MATRICES[0])),
                wk: take(&n(BLOCK_MATRICES[1])),
                wv: take(&n(BLOCK_MATRICES[2])),
                wo: take(&n(BLOCK_MATRICES[3])),
                ffn_norm: vec_of(&n("ffn_norm")),
                w_gate: take(&n(BLOCK_MATRICES[4])),
                w_up: take(&n(BLOCK_MATRICES[5])),
                w_down: take(&n(BLOCK_MATRICES[6])),
            });
        }
        let output = src.tensor("output.weight").map(|_| take("output.weight"));
        Ok(Self {
            config: c.clone(),
            spec: spec.clone(),
            token_embd: take("token_embd.weight"),
            blocks,
            output_norm: vec_of("output_norm.weight"),
            output,
            fallbacks,
        })
    }

    fn weights(&self) -> impl Iterator<Item = &Weight> {
        std::iter::once(&self.token_embd)
            .chain(self.output.iter())
            .chain(
                self.blocks
                    .iter()
                    .flat_map(|b| [&b.wq, &b.wk, &b.wv, &b.wo, &b.w_gate, &b.w_up, &b.w_down]),
            )
    }

    /// Storage of all weights in bytes: quantized matrices with their outlier tables, plus the
    /// f32 norm vectors (as a GGUF file would hold them).
    pub fn storage_bytes(&self) -> usize {
        let norms = (self.blocks.len() * 2 + 1) * self.config.n_embd * 4;
        self.weights().map(Weight::storage_bytes).sum::<usize>() + norms
    }

    /// Number of parameters.
    pub fn n_params(&self) -> usize {
        let norms = (self.blocks.len() * 2 + 1) * self.config.n_embd;
        self.weights().map(|w| w.rows * w.cols).sum::<usize>() + norms
    }

    /// Bits per weight over all parameters, outlier tables included.
    pub fn bits_per_weight(&self) -> f64 {
        self.storage_bytes() as f64 * 8.0 / self.n_params().max(1) as f64
    }

    /// Weights kept in outlier tables.
    pub fn n_outliers(&self) -> usize {
        self.weights()
            .filter_map(Weight::table)
            .map(OutlierTable::len)
            .sum()
    }

    /// The output projection (the token embedding when tied).
    pub fn output_weight(&self) -> &Weight {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

fn build_weight(src: &SourceModel, name: &str, spec: &VariantSpec) -> Result<Weight> {
    let t = &src.tensors[name];
    let mut data = std::borrow::Cow::Borrowed(&t.data[..]);
    let mut keep = Vec::new();
    for e in spec.edits.iter().filter(|e| e.tensor == name) {
        match e.action {
            EditAction::Zero => data.to_mut()[e.row * t.cols + e.col] = 0.0,
            EditAction::KeepExact => keep.push((e.row, e.col)),
        }
    }
    let format = spec
        .overrides
        .iter()
        .find(|(n, _)| n == name)
        .map_or(spec.format, |&(_, f)| f)
        .fallback_for_row(t.cols);
    if format == Format::F32 {
        // The reference keeps every value: no table needed.
        let bytes: &[u8] = bytemuck::cast_slice(&data);
        return Ok(Weight::new(format, t.rows, t.cols, bytes, None));
    }
    if spec.outliers.is_none() && keep.is_empty() {
        let bytes = quant_core::quantize_matrix(format, &data, t.rows, t.cols, None)?;
        if spec.weight_only {
            let y = quant_core::dequantize_matrix(format, &bytes, t.rows, t.cols)?;
            return Ok(Weight::new(
                Format::F32,
                t.rows,
                t.cols,
                bytemuck::cast_slice(&y),
                None,
            ));
        }
        return Ok(Weight::new(format, t.rows, t.cols, &bytes, None));
    }
    let mut positions = match &spec.outliers {
        Some(p) => select_outliers(&data, t.rows, t.cols, None, p)?,
        None => Vec::new(),
    };
    positions.extend(keep);
    positions.sort_unstable();
    positions.dedup();
    let q = quantize_with_outliers(
        format,
        &data,
        t.rows,
        t.cols,
        None,
        &OutlierPolicy::Explicit(positions),
        spec.precision,
    )?;
    Ok(Weight::new(
        format,
        t.rows,
        t.cols,
        &q.blocks,
        Some(q.table),
    ))
}
