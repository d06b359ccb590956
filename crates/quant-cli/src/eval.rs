//! `quant eval`: perplexity and KL divergence of every requested format against the reference
//! (the file's weights dequantized to f32), on the same tokens, with the super-weight experiment.

use std::io::Write;
use std::path::{Path, PathBuf};

use quant_core::Format;
use quant_core::outlier::{OutlierPolicy, ValuePrecision};
use quant_eval::tokenizer::Tokenizer;
use quant_eval::{
    EditAction, EvalOptions, EvalResult, KvPrecision, SourceModel, SuperWeight, VariantResult,
    VariantSpec, WeightEdit,
};
use serde::Serialize;

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct Options {
    /// The GGUF model (llama architecture).
    pub model: PathBuf,
    /// The text file.
    pub text: PathBuf,
    /// Tokens per chunk.
    pub n_ctx: usize,
    /// At most this many chunks.
    pub max_chunks: Option<usize>,
    /// Formats besides the f32 reference.
    pub formats: Vec<Format>,
    /// Keep this fraction of every quantized matrix exactly (adds one `<format>+<pct>` row per
    /// format).
    pub outliers: Option<f64>,
    /// Run the super-weight experiment.
    pub zero_super_weight: bool,
    /// Quantize weights only (products in f32, activations unquantized).
    pub weight_only: bool,
    /// KV-cache precision.
    pub kv: KvPrecision,
    /// Also time decoding this many tokens one at a time per model (0: skip).
    pub gen_tokens: usize,
}

/// One printed row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Label (`f32`, `q4_K`, `q4_K+0.1%`, `f32 −SW`, `q4_K +SW`).
    pub label: String,
    /// Bits per weight, outlier tables included.
    pub bits_per_weight: f64,
    /// Weight storage, MiB.
    pub size_mib: f64,
    /// Perplexity and its uncertainty.
    pub ppl: f64,
    /// Uncertainty of `ppl`.
    pub ppl_unc: f64,
    /// PPL / PPL(reference) with llama.cpp's uncertainty (`None` for the reference).
    pub ppl_ratio: Option<(f64, f64)>,
    /// Mean KLD and its uncertainty.
    pub kld: Option<(f64, f64)>,
    /// 99th percentile of the per-token KLD.
    pub kld_p99: Option<f64>,
    /// Same most likely token, percent, with uncertainty.
    pub same_top_pct: Option<(f64, f64)>,
    /// Tokens per second of the evaluation (whole chunks in one batch, like prompt processing).
    pub tokens_per_second: f64,
    /// Tokens per second decoding one token at a time (`--gen`).
    pub gen_tokens_per_second: Option<f64>,
    /// Weights kept in outlier tables.
    pub outliers: usize,
    /// Matrices written in another format (llama-quantize's fallback), counted per format.
    pub fallbacks: Vec<(String, usize)>,
}

/// The whole output.
#[derive(Clone, Debug, Serialize)]
pub struct Output {
    /// Model file.
    pub model: String,
    /// Text file.
    pub text: String,
    /// Tokens in the text.
    pub text_tokens: usize,
    /// Tokens per chunk.
    pub n_ctx: usize,
    /// Chunks evaluated.
    pub n_chunks: usize,
    /// Scored tokens.
    pub n_scored: usize,
    /// The source file's tensor format (what "f32" dequantizes).
    pub source_formats: Vec<(String, usize)>,
    /// The super-weight candidate, if the experiment ran.
    pub super_weight: Option<SuperWeightRow>,
    /// Rows: reference first.
    pub rows: Vec<Row>,
}

/// The super weight found.
#[derive(Clone, Debug, Serialize)]
pub struct SuperWeightRow {
    /// Tensor.
    pub tensor: String,
    /// Row (output feature).
    pub row: usize,
    /// Column (input feature).
    pub col: usize,
    /// Value.
    pub value: f32,
    /// `|w − mean|/σ` in its row.
    pub row_sigmas: f64,
    /// `|w − mean|/σ` in its column.
    pub col_sigmas: f64,
    /// Its largest activation × weight product over the RMS product of its block.
    pub score: f64,
}

fn count_formats<'a>(it: impl Iterator<Item = &'a Format>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = Vec::new();
    for f in it {
        match v.iter_mut().find(|(n, _)| n == f.name()) {
            Some((_, c)) => *c += 1,
            None => v.push((f.name().to_string(), 1)),
        }
    }
    v
}

fn row(v: &VariantResult) -> Row {
    let k = v.kld.as_ref();
    Row {
        label: v.label.clone(),
        bits_per_weight: v.bits_per_weight,
        size_mib: v.storage_bytes as f64 / (1024.0 * 1024.0),
        ppl: v.perplexity.ppl.value,
        ppl_unc: v.perplexity.ppl.uncertainty,
        ppl_ratio: k.map(|k| (k.ppl_ratio.value, k.ppl_ratio.uncertainty)),
        kld: k.map(|k| (k.kld.value, k.kld.uncertainty)),
        kld_p99: k
            .and_then(|k| k.kld_distribution.as_ref())
            .and_then(|d| d.percentile(99.0)),
        same_top_pct: k.map(|k| (k.same_top.value * 100.0, k.same_top.uncertainty * 100.0)),
        tokens_per_second: v.tokens_per_second,
        gen_tokens_per_second: None,
        outliers: v.n_outliers,
        fallbacks: count_formats(v.fallbacks.iter().map(|(_, f)| f)),
    }
}

fn pct_label(frac: f64) -> String {
    format!("{}%", (frac * 100.0 * 1e6).round() / 1e6)
}

/// The variants `opts` asks for, the reference first.
pub fn variants(opts: &Options, sw: Option<&SuperWeight>) -> Vec<VariantSpec> {
    let mut reference = VariantSpec::plain(Format::F32);
    reference.label = "f32".into();
    let mut out = vec![reference];
    let quantized: Vec<Format> = opts
        .formats
        .iter()
        .copied()
        .filter(|&f| f != Format::F32)
        .collect();
    for &f in &quantized {
        let mut v = VariantSpec::plain(f);
        v.weight_only = opts.weight_only;
        out.push(v.clone());
        if let Some(frac) = opts.outliers {
            v.label = format!("{}+{}", f.name(), pct_label(frac));
            v.outliers = Some(OutlierPolicy::TopFraction(frac));
            v.precision = ValuePrecision::F16;
            out.push(v);
        }
    }
    if let Some(sw) = sw {
        let edit = |action| WeightEdit {
            tensor: sw.tensor.clone(),
            row: sw.candidate.row,
            col: sw.candidate.col,
            action,
        };
        let mut z = VariantSpec::plain(Format::F32);
        z.label = "f32 −SW".into();
        z.edits = vec![edit(EditAction::Zero)];
        out.push(z);
        for &f in &quantized {
            let mut zq = VariantSpec::plain(f);
            zq.weight_only = opts.weight_only;
            zq.label = format!("{} −SW", f.name());
            zq.edits = vec![edit(EditAction::Zero)];
            out.push(zq);
            let mut k = VariantSpec::plain(f);
            k.weight_only = opts.weight_only;
            k.label = format!("{} +SW", f.name());
            k.edits = vec![edit(EditAction::KeepExact)];
            k.precision = ValuePrecision::F32;
            out.push(k);
        }
    }
    out
}

/// Tokenize, build every variant, evaluate. `progress(stage, done, total)`.
///
/// # Errors
/// File, tokenizer, model and evaluation errors, as text.
pub fn run(
    opts: &Options,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Output, Box<dyn std::error::Error + Send + Sync>> {
    let text =
        std::fs::read_to_string(&opts.text).map_err(|e| format!("{}: {e}", opts.text.display()))?;
    let file = quant_gguf::GgufFile::open(&opts.model)?;
    let g = file.parse()?;
    let tok = Tokenizer::from_gguf(&g)?;
    let tokens = tok.encode(&text);
    progress("loading", 0, 1);
    let src = SourceModel::from_gguf(&g)?;
    let source_formats = count_formats(
        src.matrix_names()
            .filter_map(|n| src.tensor(n))
            .map(|t| &t.stored),
    );
    let mut specs = variants(opts, None);
    let mut models = Vec::with_capacity(specs.len());
    progress("quantizing f32", 0, specs.len());
    models.push(quant_eval::LlamaModel::build(&src, &specs[0])?);
    // The super weight from the reference's own activations on the start of the text.
    let sw = if opts.zero_super_weight {
        let n = tokens.len().min(opts.n_ctx).min(128);
        Some(
            quant_eval::find_super_weight_with_activations(&src, &models[0], &tokens[..n])?
                .ok_or("the model has no down projection")?,
        )
    } else {
        None
    };
    if sw.is_some() {
        specs = variants(opts, sw.as_ref());
    }
    for (i, s) in specs.iter().enumerate().skip(1) {
        progress(&format!("quantizing {}", s.label), i, specs.len());
        models.push(quant_eval::LlamaModel::build(&src, s)?);
    }
    let mut eopts = EvalOptions::new(opts.n_ctx);
    eopts.max_chunks = opts.max_chunks;
    eopts.kv = opts.kv;
    eopts.bos = if tok.adds_bos() { tok.bos_id() } else { None };
    let r: EvalResult =
        quant_eval::evaluate_models(&models[0], &models[1..], &tokens, &eopts, &mut |d, t| {
            progress("evaluating", d, t)
        })?;
    let mut rows = vec![row(&r.reference)];
    rows.extend(r.variants.iter().map(row));
    if opts.gen_tokens > 0 {
        let gen_tokens = &tokens[..opts.gen_tokens.min(tokens.len())];
        for (i, (m, row)) in models.iter().zip(&mut rows).enumerate() {
            progress(&format!("decoding {}", m.spec.label), i, models.len());
            row.gen_tokens_per_second = Some(quant_eval::generation_speed(m, gen_tokens, &eopts)?);
        }
    }
    Ok(Output {
        model: opts.model.display().to_string(),
        text: opts.text.display().to_string(),
        text_tokens: tokens.len(),
        n_ctx: r.n_ctx,
        n_chunks: r.n_chunks,
        n_scored: r.n_scored,
        source_formats,
        super_weight: sw.map(|s| SuperWeightRow {
            tensor: s.tensor,
            row: s.candidate.row,
            col: s.candidate.col,
            value: s.candidate.value,
            row_sigmas: s.candidate.row_sigmas,
            col_sigmas: s.candidate.col_sigmas,
            score: s.candidate.score,
        }),
        rows,
    })
}

/// Print the table.
///
/// # Errors
/// I/O errors.
pub fn print(out: &mut dyn Write, o: &Output) -> std::io::Result<()> {
    let src: Vec<String> = o
        .source_formats
        .iter()
        .map(|(f, n)| format!("{n} {f}"))
        .collect();
    writeln!(
        out,
        "{}: {} tokens of {}; {} chunks of {} ({} scored tokens, second half of each chunk)",
        o.model, o.text_tokens, o.text, o.n_chunks, o.n_ctx, o.n_scored
    )?;
    writeln!(
        out,
        "reference \"f32\" = the file's weights dequantized to f32 (matrices stored as {}), products in f32",
        src.join(", ")
    )?;
    if let Some(sw) = &o.super_weight {
        writeln!(
            out,
            "super weight (largest |activation × weight| into a down projection): {} [row {}, col {}] = {:+.4} ({:.0}σ in its row, {:.0}σ in its column; its product is {:.0}× the block's RMS product)",
            sw.tensor, sw.row, sw.col, sw.value, sw.row_sigmas, sw.col_sigmas, sw.score
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<14} {:>7} {:>8} {:>19} {:>17} {:>19} {:>9} {:>15} {:>8} {:>8}",
        "format",
        "bits/w",
        "MiB",
        "PPL",
        "PPL/PPL(f32)",
        "mean KLD",
        "KLD p99",
        "same top %",
        "eval t/s",
        "gen t/s"
    )?;
    for r in &o.rows {
        let opt2 = |v: Option<(f64, f64)>, prec: usize| {
            v.map_or("-".to_string(), |(a, b)| format!("{a:.prec$} ± {b:.prec$}"))
        };
        writeln!(
            out,
            "{:<14} {:>7.3} {:>8.1} {:>19} {:>17} {:>19} {:>9} {:>15} {:>8.0} {:>8}",
            r.label,
            r.bits_per_weight,
            r.size_mib,
            format!("{:.4} ± {:.4}", r.ppl, r.ppl_unc),
            opt2(r.ppl_ratio, 4),
            opt2(r.kld, 6),
            r.kld_p99.map_or("-".to_string(), |v| format!("{v:.5}")),
            opt2(r.same_top_pct, 2),
            r.tokens_per_second,
            r.gen_tokens_per_second
                .map_or("-".to_string(), |v| format!("{v:.1}"))
        )?;
    }
    let notes: Vec<String> = o
        .rows
        .iter()
        .filter(|r| !r.fallbacks.is_empty())
        .map(|r| {
            let f: Vec<String> = r
                .fallbacks
                .iter()
                .map(|(f, n)| format!("{n} in {f}"))
                .collect();
            format!("{}: {}", r.label, f.join(", "))
        })
        .collect();
    if !notes.is_empty() {
        writeln!(
            out,
            "\nfallback (rows the format's blocks do not divide, as llama-quantize): {}",
            notes.join("; ")
        )?;
    }
    Ok(())
}

/// Plot mean KLD against bits per weight (SVG, log scale), one labelled point per row.
///
/// # Errors
/// Drawing or I/O errors, as text.
pub fn write_plot(path: &Path, o: &Output) -> Result<(), String> {
    use plotters::prelude::*;
    let pts: Vec<(f64, f64, &str)> = o
        .rows
        .iter()
        .filter_map(|r| {
            r.kld
                .map(|(k, _)| (r.bits_per_weight, k.max(1e-6), r.label.as_str()))
        })
        .collect();
    if pts.is_empty() {
        return Err("nothing to plot: no quantized format was evaluated".into());
    }
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max) + 0.8;
    let xmin = (pts.iter().map(|p| p.0).fold(f64::MAX, f64::min) - 0.5).max(0.0);
    let ymin = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min) * 0.5;
    let ymax = pts.iter().map(|p| p.1).fold(0.0, f64::max) * 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "KL divergence vs bits per weight (ctx {}, {} tokens)",
                o.n_ctx, o.n_scored
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(xmin..xmax, (ymin..ymax).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("bits per weight (outlier tables included)")
        .y_desc("mean KLD vs f32 (nats)")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(pts.iter().map(|&(x, y, l)| {
            EmptyElement::at((x, y))
                + Circle::new((0, 0), 4, BLUE.filled())
                + Text::new(l.to_string(), (6, -12), ("sans-serif", 13))
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
