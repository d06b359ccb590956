//! `quant quantize`: convert a GGUF or safetensors model into a GGUF of quant's formats, like
//! `llama-quantize --pure` (one type for every quantizable tensor), with per-tensor overrides, the
//! same fallback as llama-quantize where a tensor's rows do not fit the requested format, and
//! optional outlier tables.

use std::path::Path;

use quant_core::outlier::{OutlierPolicy, ValuePrecision, quantize_with_outliers};
use quant_core::{Format, quantize_matrix};
use quant_gguf::{GgufError, GgufWriter, Value, ValueType};
use regex::Regex;

use crate::model::{ModelFile, Tensor};

/// Metadata key prefix of outlier tables: `quant.outliers.<tensor name>` holds the serialized
/// table (u8 array, layout in `quant_core::outlier`). llama.cpp ignores unknown keys: it loads
/// the file, but without the kept weights (they read as their block's mean).
pub const OUTLIER_KEY_PREFIX: &str = "quant.outliers.";

/// Options of a conversion.
#[derive(Clone, Debug)]
pub struct Options {
    /// Target format of quantizable tensors.
    pub target: Format,
    /// `(pattern, format)` overrides, first match wins.
    pub overrides: Vec<(Regex, Format)>,
    /// Fraction of each quantized tensor's weights kept in an outlier table.
    pub outliers: Option<f64>,
    /// Importance matrix (llama.cpp `--imatrix`): quantized tensors with an entry use it.
    pub imatrix: Option<crate::imatrix::Imatrix>,
}

/// What happened to one tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Tensor name.
    pub name: String,
    /// Format in the input.
    pub from: Format,
    /// Format written.
    pub to: Format,
    /// Why `to` differs from the requested format, if it does.
    pub note: Option<String>,
    /// Values in the tensor.
    pub n_values: u64,
    /// Bits per weight written (with the outlier table).
    pub bits_per_weight: f64,
    /// Relative RMSE against the input's (dequantized) values.
    pub rel_rmse: f64,
    /// Weights kept in an outlier table.
    pub outliers: usize,
    /// Whether an importance vector from the imatrix was used (found, and `to` has an importance
    /// path).
    pub imatrix: bool,
}

/// Whether llama-quantize would quantize this tensor: 2-D or more, a `weight`, not a norm,
/// positional or token-type embedding, nor an MoE router.
pub fn is_quantizable(t: &Tensor) -> bool {
    let n_dims = t.dims.iter().filter(|&&d| d > 1).count();
    t.name.ends_with("weight")
        && n_dims >= 2
        && !t.name.contains("_norm")
        && !t.name.contains("ffn_gate_inp")
        && !t.name.contains("position_embd")
        && !t.name.contains("token_types")
}

/// llama-quantize's fallback for a row length its blocks do not divide (`llama_tensor_get_type`):
/// IQ4_XS → IQ4_NL, Q2_K/Q3_K/TQ1_0/TQ2_0 → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, and F16 if
/// that still does not fit.
pub fn fallback(target: Format, row_len: usize) -> Format {
    target.fallback_for_row(row_len)
}

/// llama.cpp's `general.file_type` (`llama_ftype`) for a model of mostly `f`.
pub fn llama_ftype(f: Format) -> u32 {
    match f {
        Format::F32 => 0,
        Format::F16 => 1,
        Format::Q4_0 => 2,
        Format::Q4_1 => 3,
        Format::Q8_0 => 7,
        Format::Q5_0 => 8,
        Format::Q5_1 => 9,
        Format::Q2K => 10,
        Format::Q3K => 11,
        Format::Q4K => 14,
        Format::Q5K => 16,
        Format::Q6K => 18,
        Format::Iq4Nl => 25,
        Format::Iq4Xs => 30,
        Format::Bf16 => 32,
        Format::Tq1_0 => 36,
        Format::Tq2_0 => 37,
        Format::Mxfp4 => 38,
        _ => 1024, // LLAMA_FTYPE_GUESSED
    }
}

fn rel_rmse(x: &[f32], y: &[f32]) -> f64 {
    let (se, ss, _) = crate::error_sums(x, y);
    if ss > 0.0 { (se / ss).sqrt() } else { 0.0 }
}

/// Convert `input` into the GGUF file `output`. `progress` is called after each tensor with
/// (done, total, name).
///
/// # Errors
/// File and format errors.
pub fn convert(
    input: &Path,
    output: &Path,
    opts: &Options,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<Vec<Outcome>, Box<dyn std::error::Error + Send + Sync>> {
    let model = ModelFile::open(input)?;
    let tensors = model.tensors()?;
    let mut w = GgufWriter::new();
    if let ModelFile::Gguf(f) = &model {
        let g = f.parse()?;
        for (k, v) in &g.metadata {
            w.set_metadata(k, v.clone());
        }
    }
    w.set_metadata("general.quantization_version", Value::U32(2));
    w.set_metadata("general.file_type", Value::U32(llama_ftype(opts.target)));
    if let Some(im) = &opts.imatrix {
        // The keys llama-quantize writes (its integer overrides are stored as u32).
        w.set_metadata("quantize.imatrix.file", Value::String(im.path.clone()));
        if let Some(d) = im.datasets.first() {
            w.set_metadata("quantize.imatrix.dataset", Value::String(d.clone()));
        }
        w.set_metadata(
            "quantize.imatrix.entries_count",
            Value::U32(u32::try_from(im.entries.len()).unwrap_or(u32::MAX)),
        );
        if let Some(c) = im.chunk_count.filter(|&c| c > 0) {
            w.set_metadata("quantize.imatrix.chunks_count", Value::U32(c));
        }
    }
    let mut outcomes = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        let x = model.tensor_f32(&t.name)?;
        let (rows, cols) = (t.n_rows(), t.row_len());
        let requested = opts
            .overrides
            .iter()
            .find(|(re, _)| re.is_match(&t.name))
            .map(|(_, f)| *f);
        let quantized = requested.is_some() || is_quantizable(t);
        let (to, note) = if let Some(f) = requested {
            let to = fallback(f, cols);
            (
                to,
                (to != f).then(|| format!("{f} does not fit rows of {cols}: {to}")),
            )
        } else if is_quantizable(t) {
            let to = fallback(opts.target, cols);
            (
                to,
                (to != opts.target)
                    .then(|| format!("{} does not fit rows of {cols}: {to}", opts.target)),
            )
        } else {
            let to = if t.format == Format::F16 || t.format == Format::Bf16 {
                t.format
            } else {
                Format::F32
            };
            (to, Some("not quantized (norm, bias or 1-D)".into()))
        };
        let importance = match &opts.imatrix {
            Some(im) if quantized && !to.is_float() => im.for_tensor(&t.name, &t.dims)?,
            _ => None,
        };
        let mut kept = 0;
        let (bytes, y) = match opts.outliers {
            Some(frac) if frac > 0.0 && !to.is_float() => {
                let q = quantize_with_outliers(
                    to,
                    &x,
                    rows,
                    cols,
                    importance,
                    &OutlierPolicy::TopFraction(frac),
                    ValuePrecision::F16,
                )?;
                kept = q.table.len();
                let y = quant_core::outlier::dequantize_with_outliers(&q)?;
                w.set_metadata(
                    &format!("{OUTLIER_KEY_PREFIX}{}", t.name),
                    Value::Array {
                        elem: ValueType::U8,
                        values: q.table.to_bytes().into_iter().map(Value::U8).collect(),
                    },
                );
                (q.blocks, y)
            }
            _ => {
                let b = quantize_matrix(to, &x, rows, cols, importance)?;
                let y = quant_core::dequantize_matrix(to, &b, rows, cols)?;
                (b, y)
            }
        };
        let table_bits = if kept > 0 {
            let key = format!("{OUTLIER_KEY_PREFIX}{}", t.name);
            w.metadata()
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.as_array())
                .map_or(0, |a| a.len()) as f64
                * 8.0
        } else {
            0.0
        };
        outcomes.push(Outcome {
            name: t.name.clone(),
            from: t.format,
            to,
            note,
            n_values: x.len() as u64,
            bits_per_weight: (bytes.len() as f64 * 8.0 + table_bits) / x.len().max(1) as f64,
            rel_rmse: rel_rmse(&x, &y),
            outliers: kept,
            // Formats without an importance path (q8_0, …) get the vector too, and ignore it.
            imatrix: importance.is_some() && to.uses_importance(),
        });
        w.add_tensor(&t.name, t.dims.clone(), to, bytes)
            .map_err(|e: GgufError| Box::new(e))?;
        progress(i + 1, tensors.len(), &t.name);
    }
    w.write_file(output)?;
    Ok(outcomes)
}

/// Print the per-tensor report and totals of a conversion.
///
/// # Errors
/// I/O errors.
pub fn print_summary(out: &mut dyn std::io::Write, outcomes: &[Outcome]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<40} {:>6} → {:<7} {:>8} {:>9} {:>8} {:>4}  note",
        "tensor", "from", "to", "bits/w", "rel RMSE", "kept", "imat"
    )?;
    let (mut bits, mut n) = (0.0f64, 0.0f64);
    for o in outcomes {
        writeln!(
            out,
            "{:<40} {:>6} → {:<7} {:>8.4} {:>9.5} {:>8} {:>4}  {}",
            o.name,
            o.from.name(),
            o.to.name(),
            o.bits_per_weight,
            o.rel_rmse,
            o.outliers,
            if o.imatrix { "yes" } else { "" },
            o.note.as_deref().unwrap_or("")
        )?;
        bits += o.bits_per_weight * o.n_values as f64;
        n += o.n_values as f64;
    }
    let mut counts: Vec<(Format, usize)> = Vec::new();
    for o in outcomes {
        match counts.iter_mut().find(|c| c.0 == o.to) {
            Some(c) => c.1 += 1,
            None => counts.push((o.to, 1)),
        }
    }
    let types = counts
        .iter()
        .map(|(f, c)| format!("{c} {f}"))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "\n{} tensors: {types}; {:.4} bits/weight over the converted tensors (outlier tables included)",
        outcomes.len(),
        bits / n.max(1.0)
    )
}
