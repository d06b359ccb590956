//! The `quant` command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quant_core::Format;

/// Quantize LLM weights on the CPU and measure what it costs.
#[derive(Parser)]
#[command(name = "quant", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Quantize an embedded sample of real weights (MiniLM) into every format and report
    /// bits/weight, error and dot-product throughput per format. No download needed.
    Report {
        /// Also plot error against bits per weight into this SVG file.
        #[arg(long, value_name = "OUT.svg")]
        plot: Option<PathBuf>,
    },
    /// The bit anatomy of a number: sign, exponent and significand fields, their values and the
    /// exact decimal value stored. Accepts a decimal number or a 0x/0b bit pattern.
    Float {
        /// The number (e.g. 0.1, -3e-5, inf) or bit pattern (0x3c00).
        value: String,
        /// Format: f32, f16, bf16, e4m3, e5m2 (default: all).
        #[arg(long = "as")]
        format: Option<quant_core::float::FloatFormat>,
        /// Never colour the fields.
        #[arg(long)]
        no_color: bool,
    },
    /// llama.cpp's KL-divergence statistics from two logits files (`--kl-divergence-base` files of
    /// the base and the quantized model), streamed in O(vocab) memory.
    Kld {
        /// Logits file of the base model.
        base: PathBuf,
        /// Logits file of the other (quantized) model.
        other: PathBuf,
        /// Print JSON instead of llama.cpp's layout.
        #[arg(long)]
        json: bool,
    },
    /// The tensors of a GGUF or safetensors file: shape, type, bits/weight, size, outlier
    /// statistics and super-weight candidates.
    Inspect {
        /// Model file (.gguf or .safetensors).
        model: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Skip the outlier statistics (faster on large models).
        #[arg(long)]
        no_stats: bool,
    },
    /// Convert a GGUF or safetensors model into a GGUF of one format (like `llama-quantize --pure`).
    Quantize {
        /// Input model (.gguf or .safetensors).
        input: PathBuf,
        /// Output GGUF file.
        output: PathBuf,
        /// Target format of quantizable tensors (ggml names: q4_K, q8_0, iq4_nl, …).
        #[arg(long = "type")]
        target: Format,
        /// Per-tensor override `REGEX=type` (repeatable; first match wins).
        #[arg(long = "keep", value_name = "REGEX=TYPE")]
        keep: Vec<String>,
        /// Keep this fraction of each quantized tensor's weights exactly in an outlier table
        /// (`0.1%` or `0.001`).
        #[arg(long)]
        outliers: Option<String>,
        /// llama.cpp importance matrix (`llama-imatrix` output: GGUF or the legacy `.dat`).
        #[arg(long, value_name = "FILE")]
        imatrix: Option<PathBuf>,
    },
    /// Kernel throughput of this CPU: dot product, dequantization and activation quantization of
    /// every format on every backend (in cache), streaming-read bandwidth and matrix × vector out
    /// of cache.
    Bench {
        /// Only these backends (repeatable or comma-separated; default: all this CPU can run).
        #[arg(long = "backend", value_name = "NAME", value_delimiter = ',')]
        backends: Vec<String>,
        /// Only these formats (comma-separated ggml names; default: all).
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        formats: Vec<Format>,
        /// Short timings and a 64 MiB out-of-cache buffer (a few seconds).
        #[arg(long)]
        quick: bool,
        /// The in-cache kernels only (no streaming read, no matrix × vector).
        #[arg(long)]
        kernels_only: bool,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Perplexity and KL divergence of each format against the f32 reference (the file's weights
    /// dequantized) on a text, side by side, with llama.cpp's chunking (second half of each chunk
    /// scored). Llama-architecture GGUF models.
    Eval {
        /// Model (.gguf, llama architecture, with its tokenizer).
        model: PathBuf,
        /// Text file to evaluate on.
        #[arg(long)]
        text: PathBuf,
        /// Tokens per chunk (llama.cpp's -c).
        #[arg(long, default_value_t = 512)]
        ctx: usize,
        /// Evaluate at most this many chunks (llama.cpp's --chunks).
        #[arg(long)]
        chunks: Option<usize>,
        /// Formats to compare with the f32 reference.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "q8_0,q6_K,q5_K,q4_K,q4_0,q3_K,q2_K"
        )]
        types: Vec<Format>,
        /// Also evaluate every format with this fraction of each matrix kept exactly in an
        /// outlier table (`0.1%` or `0.001`).
        #[arg(long)]
        outliers: Option<String>,
        /// The super-weight experiment: zero the top super-weight candidate, and keep it exactly
        /// in an outlier table, for the reference and every format.
        #[arg(long)]
        zero_super_weight: bool,
        /// Quantize the weights only: products in f32 with unquantized activations.
        #[arg(long)]
        weight_only: bool,
        /// KV-cache precision: f32 or f16 (llama.cpp's default).
        #[arg(long, default_value = "f32")]
        kv: String,
        /// Also time decoding this many tokens one at a time (llama-bench's tg) per model.
        #[arg(long = "gen", default_value_t = 0)]
        gen_tokens: usize,
        /// Write KLD vs bits per weight as an SVG plot.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let (v, scale) = match s.strip_suffix('%') {
        Some(p) => (p, 0.01),
        None => (s, 1.0),
    };
    let f: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("not a fraction: {s:?}"))?;
    let f = f * scale;
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err(format!("fraction out of [0, 1]: {s:?}"))
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Report { plot } => {
            if let Some(p) = &plot {
                quant_cli::report::check_plot_path(p)?;
            }
            let rows = quant_cli::report::run(&mut stdout)?;
            if let Some(p) = &plot {
                quant_cli::report::write_plot(p, &rows)?;
                println!("plot written to {}", p.display());
            }
        }
        Command::Float {
            value,
            format,
            no_color,
        } => {
            use std::io::IsTerminal;
            let colour = !no_color && std::io::stdout().is_terminal();
            let formats = format.map_or(quant_core::float::FloatFormat::ALL.to_vec(), |f| vec![f]);
            let typed = if value.starts_with("0x") || value.starts_with("0b") {
                None
            } else {
                value.trim().parse::<f64>().ok()
            };
            for (i, f) in formats.into_iter().enumerate() {
                if i > 0 {
                    println!();
                }
                let bits = quant_cli::float::parse_input(&value, f)?;
                quant_cli::float::print(&mut stdout, f, bits, typed, colour)?;
            }
        }
        Command::Kld { base, other, json } => {
            let r = quant_cli::kld::run(&base, &other)?;
            if json {
                serde_json::to_writer_pretty(&mut stdout, &r)?;
                println!();
            } else {
                print!("{}", r.to_llama_cpp_string());
            }
        }
        Command::Inspect {
            model,
            json,
            no_stats,
        } => {
            let m = quant_cli::model::ModelFile::open(&model)?;
            let r = quant_cli::inspect::build(&m, !no_stats)?;
            if json {
                serde_json::to_writer_pretty(&mut stdout, &r)?;
                println!();
            } else {
                quant_cli::inspect::print(&mut stdout, &r)?;
            }
        }
        Command::Quantize {
            input,
            output,
            target,
            keep,
            outliers,
            imatrix,
        } => {
            let overrides = keep
                .iter()
                .map(|k| {
                    let (re, ty) = k
                        .rsplit_once('=')
                        .ok_or_else(|| format!("--keep wants REGEX=type, got {k:?}"))?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                        regex::Regex::new(re)?,
                        ty.parse::<Format>()?,
                    ))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let outliers = outliers.as_deref().map(parse_fraction).transpose()?;
            let imatrix = imatrix
                .as_deref()
                .map(quant_cli::imatrix::Imatrix::open)
                .transpose()?;
            let opts = quant_cli::quantize::Options {
                target,
                overrides,
                outliers,
                imatrix,
            };
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let outcomes =
                quant_cli::quantize::convert(&input, &output, &opts, |done, total, name| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                    bar.set_message(name.to_owned());
                })?;
            bar.finish_and_clear();
            quant_cli::quantize::print_summary(&mut stdout, &outcomes)?;
        }
        Command::Eval {
            model,
            text,
            ctx,
            chunks,
            types,
            outliers,
            zero_super_weight,
            weight_only,
            kv,
            gen_tokens,
            plot,
            json,
        } => {
            let kv = match kv.as_str() {
                "f32" => quant_eval::KvPrecision::F32,
                "f16" => quant_eval::KvPrecision::F16,
                other => return Err(format!("--kv wants f32 or f16, got {other:?}").into()),
            };
            let opts = quant_cli::eval::Options {
                model,
                text,
                n_ctx: ctx,
                max_chunks: chunks,
                formats: types,
                outliers: outliers.as_deref().map(parse_fraction).transpose()?,
                zero_super_weight,
                weight_only,
                kv,
                gen_tokens,
            };
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg:24} {bar:40} {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let o = quant_cli::eval::run(&opts, &mut |stage, done, total| {
                bar.set_message(stage.to_owned());
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })?;
            bar.finish_and_clear();
            if let Some(p) = &plot {
                quant_cli::eval::write_plot(p, &o)?;
            }
            if json {
                serde_json::to_writer_pretty(&mut stdout, &o)?;
                println!();
            } else {
                quant_cli::eval::print(&mut stdout, &o)?;
            }
        }
        Command::Bench {
            backends,
            formats,
            quick,
            kernels_only,
            json,
        } => {
            let opts = quant_cli::bench::Options {
                backends,
                formats,
                quick,
                kernels_only,
            };
            use std::io::IsTerminal;
            let tty = std::io::stderr().is_terminal();
            let r = quant_cli::bench::run(&opts, |step| {
                if tty {
                    eprint!("\rmeasuring {step:<24}");
                }
            })?;
            if tty {
                eprint!("\r{:<40}\r", "");
            }
            if json {
                serde_json::to_writer_pretty(&mut stdout, &r)?;
                println!();
            } else {
                quant_cli::bench::print(&mut stdout, &r)?;
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quant: {e}");
            ExitCode::FAILURE
        }
    }
}
