//! `quant bench`: the kernel throughput table of this CPU.
//!
//! For every format × every selected backend: the dot product of one 4096-value row with its
//! partner activation row (in L1 cache), dequantization of a 4096-value row, and for the activation
//! formats (`q8_0`, `q8_1`, `q8_K`) quantization of an f32 row. Then the machine's streaming-read
//! bandwidth (summing a buffer larger than the last-level cache, on one thread and on all) and a
//! matrix × vector out of cache for a few formats, as GB/s of weight bytes and as a percentage of
//! the streaming bandwidth with the same thread count.
//!
//! Timing: [`quant_kernels::bench::time_ns`] (batches calibrated to about `budget / 11`, the
//! median of 11 batches), so each kernel measurement takes about `budget` of wall time. Buffers
//! start on cache lines; a dot product is the median over [`PLACEMENTS`] relative placements of
//! its two rows ([`DotCase::with_placement`]).

use std::io::{self, Write};
use std::time::{Duration, Instant};

use quant_core::Format;
use quant_kernels::bench::{DequantCase, DotCase, PLACEMENTS, QuantizeCase, test_values, time_ns};
use quant_kernels::{Backend, QuantMatrix, Scratch};
use rayon::prelude::*;
use serde::Serialize;

/// Values per row of the in-cache kernel measurements.
pub const ROW_LEN: usize = 4096;

/// Row length of the out-of-cache matrix × vector (an 8B model's `ffn_down`: 4096 × 14336).
pub const MATVEC_COLS: usize = 14336;

/// Rows of one matrix of the out-of-cache matrix × vector; several are stacked until the weights
/// exceed the streaming buffer's size.
pub const MATVEC_ROWS: usize = 4096;

/// Formats of the out-of-cache matrix × vector when `--formats` does not choose them.
pub const MATVEC_FORMATS: [Format; 3] = [Format::Q4_0, Format::Q4K, Format::Q8_0];

/// What to measure.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Backend names (empty: every backend this CPU can run).
    pub backends: Vec<String>,
    /// Formats (empty: every format).
    pub formats: Vec<Format>,
    /// Short timings and a smaller out-of-cache buffer (64 MiB): a few seconds in all.
    pub quick: bool,
    /// The in-cache kernels only (no streaming read, no matrix × vector).
    pub kernels_only: bool,
}

impl Options {
    /// Wall time of one kernel measurement.
    pub fn budget(&self) -> Duration {
        if self.quick {
            Duration::from_millis(3)
        } else {
            Duration::from_millis(25)
        }
    }

    /// Bytes of the streaming-read buffer and of the out-of-cache weights.
    pub fn stream_bytes(&self) -> usize {
        if self.quick { 64 << 20 } else { 256 << 20 }
    }

    /// Timed passes over the out-of-cache buffers (the median is reported).
    pub fn passes(&self) -> usize {
        if self.quick { 3 } else { 5 }
    }
}

/// Errors of `quant bench`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A `--backend` this CPU cannot run (or that does not exist).
    #[error("backend {name:?} is not available on this CPU (available: {available})")]
    UnknownBackend {
        /// The name asked for.
        name: String,
        /// The names this CPU can run.
        available: String,
    },
    /// A kernel rejected its inputs (a bug: the inputs are generated here).
    #[error(transparent)]
    Kernels(#[from] quant_kernels::Error),
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

/// The in-cache measurements of one format on one backend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KernelTiming {
    /// The format (ggml name).
    pub format: String,
    /// The activation format its dot product pairs with (`None` for `q8_1`).
    pub activation: Option<String>,
    /// The backend.
    pub backend: String,
    /// Nanoseconds per dot product of two 4096-value rows.
    pub dot_ns_per_row: Option<f64>,
    /// Dot-product throughput in values per nanosecond.
    pub dot_values_per_ns: Option<f64>,
    /// Dequantization throughput (values out per nanosecond); `None` for `f32`.
    pub dequantize_values_per_ns: Option<f64>,
    /// Activation quantization throughput (f32 values in per nanosecond), activation formats only.
    pub quantize_values_per_ns: Option<f64>,
}

/// Streaming-read bandwidth: a sum over a buffer larger than the last-level cache.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamTiming {
    /// Buffer size.
    pub bytes: usize,
    /// Threads of the "all threads" measurement.
    pub threads: usize,
    /// GB/s (10⁹ bytes per second) on one thread.
    pub gb_per_s_1_thread: f64,
    /// GB/s on `threads` threads.
    pub gb_per_s_all_threads: f64,
}

/// One out-of-cache matrix × vector measurement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatvecTiming {
    /// Weight format.
    pub format: String,
    /// Backend.
    pub backend: String,
    /// Rows (outputs) of the stacked matrix.
    pub rows: usize,
    /// Columns (values per row).
    pub cols: usize,
    /// Weight bytes read per call.
    pub weight_bytes: usize,
    /// Threads.
    pub threads: usize,
    /// Milliseconds per call (median).
    pub ms_per_call: f64,
    /// Weight bytes per second, GB/s.
    pub gb_per_s: f64,
    /// `gb_per_s` as a percentage of the streaming-read bandwidth with the same thread count.
    pub percent_of_stream: f64,
}

/// Everything `quant bench` measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    /// CPU model name (from `/proc/cpuinfo` where available) and architecture.
    pub cpu: String,
    /// Threads of the "all threads" measurements (rayon's pool size).
    pub threads: usize,
    /// Backends measured, best first.
    pub backends: Vec<String>,
    /// Values per row of the in-cache measurements.
    pub row_len: usize,
    /// Wall time of one kernel measurement, milliseconds.
    pub budget_ms: f64,
    /// In-cache kernel timings, one per format × backend.
    pub kernels: Vec<KernelTiming>,
    /// Streaming-read bandwidth (`None` with [`Options::kernels_only`]).
    pub stream: Option<StreamTiming>,
    /// Out-of-cache matrix × vector timings.
    pub matvec: Vec<MatvecTiming>,
}

/// The backends named in `names` (every available one if empty), in `available()` order.
///
/// # Errors
/// [`BenchError::UnknownBackend`] for a name this CPU cannot run.
pub fn select_backends(names: &[String]) -> Result<Vec<&'static dyn Backend>, BenchError> {
    let available = quant_kernels::available();
    if names.is_empty() {
        return Ok(available);
    }
    for n in names {
        if quant_kernels::by_name(n.trim()).is_none() {
            return Err(BenchError::UnknownBackend {
                name: n.clone(),
                available: available
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(available
        .into_iter()
        .filter(|b| {
            names
                .iter()
                .any(|n| b.name().eq_ignore_ascii_case(n.trim()))
        })
        .collect())
}

/// The activation formats (those `quant_kernels` quantizes f32 rows into).
pub fn is_activation_format(f: Format) -> bool {
    matches!(f, Format::Q8_0 | Format::Q8_1 | Format::Q8K)
}

/// Values per nanosecond of `backend`'s dot product of `format` (rows of [`ROW_LEN`] values),
/// measured for about `budget`.
///
/// # Errors
/// [`quant_kernels::Error::NoDot`] for `q8_1`.
pub fn dot_values_per_ns(
    backend: &dyn Backend,
    format: Format,
    budget: Duration,
) -> Result<f64, quant_kernels::Error> {
    let case = DotCase::new(format, ROW_LEN)?;
    let ns = time_ns(budget, || {
        std::hint::black_box(case.run(std::hint::black_box(backend)));
    });
    Ok(ROW_LEN as f64 / ns)
}

/// Measure the in-cache kernels of `formats` on `backends`.
///
/// # Errors
/// Kernel errors (none for the formats quant has).
pub fn kernels(
    backends: &[&dyn Backend],
    formats: &[Format],
    budget: Duration,
) -> Result<Vec<KernelTiming>, BenchError> {
    let mut out = Vec::new();
    for &format in formats {
        let dot = match format.vec_dot_partner() {
            Some(_) => Some(
                (0..PLACEMENTS)
                    .map(|k| DotCase::with_placement(format, ROW_LEN, k))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let deq = match format {
            Format::F32 => None,
            _ => Some(DequantCase::new(format, ROW_LEN)?),
        };
        let quant = if is_activation_format(format) {
            Some(QuantizeCase::new(format, ROW_LEN)?)
        } else {
            None
        };
        for &b in backends {
            // The median over the relative placements of the two rows (see
            // `DotCase::with_placement`), each timed for a quarter of the budget.
            let dot_ns = dot.as_ref().map(|cases| {
                let mut t: Vec<f64> = cases
                    .iter()
                    .map(|c| {
                        time_ns(budget / PLACEMENTS as u32, || {
                            std::hint::black_box(c.run(std::hint::black_box(b)));
                        })
                    })
                    .collect();
                t.sort_by(f64::total_cmp);
                (t[(t.len() - 1) / 2] + t[t.len() / 2]) / 2.0
            });
            let deq_ns = deq.as_ref().map(|c| {
                time_ns(budget, || {
                    std::hint::black_box(c.run(std::hint::black_box(b)));
                })
            });
            let quant_ns = quant.as_ref().map(|c| {
                time_ns(budget, || {
                    std::hint::black_box(c.run(std::hint::black_box(b)));
                })
            });
            let per_ns = |ns: f64| ROW_LEN as f64 / ns;
            out.push(KernelTiming {
                format: format.name().to_owned(),
                activation: format.vec_dot_partner().map(|p| p.name().to_owned()),
                backend: b.name().to_owned(),
                dot_ns_per_row: dot_ns,
                dot_values_per_ns: dot_ns.map(per_ns),
                dequantize_values_per_ns: deq_ns.map(per_ns),
                quantize_values_per_ns: quant_ns.map(per_ns),
            });
        }
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of `passes` calls of `f` after one warm-up call.
fn time_passes(passes: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..passes.max(1))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn pool(threads: usize) -> Result<rayon::ThreadPool, BenchError> {
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?)
}

/// Streaming-read bandwidth over a buffer of `bytes` (sum of u64 words), on one thread and on
/// `threads` threads, median of `passes` passes each.
///
/// # Errors
/// Thread-pool errors.
pub fn stream(bytes: usize, threads: usize, passes: usize) -> Result<StreamTiming, BenchError> {
    let words = (bytes / 8).max(1);
    // Written, not only allocated: untouched zero pages would all read from one cached page.
    let mut buf = vec![0u64; words];
    buf.par_iter_mut()
        .enumerate()
        .for_each(|(i, w)| *w = i as u64);
    let sum_chunks = |b: &[u64]| {
        b.par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
            .reduce(|| 0, u64::wrapping_add)
    };
    let mut gbs = Vec::new();
    for t in [1, threads] {
        let p = pool(t)?;
        let s = time_passes(passes, || {
            std::hint::black_box(p.install(|| sum_chunks(std::hint::black_box(&buf))));
        });
        gbs.push(words as f64 * 8.0 / s / 1e9);
    }
    Ok(StreamTiming {
        bytes: words * 8,
        threads,
        gb_per_s_1_thread: gbs[0],
        gb_per_s_all_threads: gbs[1],
    })
}

/// Matrix × vector of `format` out of cache on `backend`: [`MATVEC_ROWS`] × [`MATVEC_COLS`]
/// matrices stacked until the weights hold at least `bytes`, one call per pass, on one thread and
/// on `threads` threads.
///
/// The rows repeat 16 quantized rows (quantizing hundreds of MiB would dominate the run; the
/// content does not change the memory traffic).
///
/// # Errors
/// Kernel and thread-pool errors.
pub fn matvec(
    backend: &dyn Backend,
    format: Format,
    bytes: usize,
    stream: &StreamTiming,
    passes: usize,
) -> Result<Vec<MatvecTiming>, BenchError> {
    const TILE: usize = 16;
    let cols = MATVEC_COLS;
    let row_bytes = format.row_bytes(cols).map_err(quant_kernels::Error::from)?;
    let stack = bytes.div_ceil(MATVEC_ROWS * row_bytes).max(1);
    let rows = MATVEC_ROWS * stack;
    let tile: Vec<u8> = (0..TILE)
        .map(|r| quant_core::quantize(format, &test_values(cols, 10 + r as u64, 0.05), None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(quant_kernels::Error::from)?
        .concat();
    let mut w = vec![0u8; rows * row_bytes];
    w.par_chunks_mut(row_bytes)
        .enumerate()
        .for_each(|(r, dst)| {
            let t = (r * 7) % TILE;
            dst.copy_from_slice(&tile[t * row_bytes..(t + 1) * row_bytes]);
        });
    let m = QuantMatrix::new(format, rows, cols, &w)?;
    let x = test_values(cols, 99, 1.0);
    let mut y = vec![0.0f32; rows];
    let mut scratch = Scratch::new();
    let mut out = Vec::new();
    for (threads, reference) in [
        (1, stream.gb_per_s_1_thread),
        (stream.threads, stream.gb_per_s_all_threads),
    ] {
        let p = pool(threads)?;
        let mut err = None;
        let s = time_passes(passes, || {
            if let Err(e) = p.install(|| m.matvec(backend, &x, &mut y, &mut scratch)) {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        let gb_per_s = w.len() as f64 / s / 1e9;
        out.push(MatvecTiming {
            format: format.name().to_owned(),
            backend: backend.name().to_owned(),
            rows,
            cols,
            weight_bytes: w.len(),
            threads,
            ms_per_call: s * 1e3,
            gb_per_s,
            percent_of_stream: 100.0 * gb_per_s / reference,
        });
    }
    Ok(out)
}

/// The CPU's model name (Linux: `/proc/cpuinfo`) and architecture.
pub fn cpu_name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name") || l.starts_with("Model"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    });
    match model {
        Some(m) if !m.is_empty() => format!("{m} ({})", std::env::consts::ARCH),
        _ => std::env::consts::ARCH.to_owned(),
    }
}

/// The formats of the out-of-cache matrix × vector: [`MATVEC_FORMATS`] among `formats`, or if
/// none of them was chosen, the first (up to) three chosen formats that have a dot product.
pub fn matvec_formats(formats: &[Format]) -> Vec<Format> {
    let defaults: Vec<Format> = MATVEC_FORMATS
        .into_iter()
        .filter(|f| formats.contains(f))
        .collect();
    if !defaults.is_empty() {
        return defaults;
    }
    formats
        .iter()
        .copied()
        .filter(|f| f.vec_dot_partner().is_some())
        .take(3)
        .collect()
}

/// Run every measurement of `opts`. `progress` is called with a short description before each
/// step.
///
/// # Errors
/// [`BenchError::UnknownBackend`]; kernel and thread-pool errors.
pub fn run(opts: &Options, mut progress: impl FnMut(&str)) -> Result<BenchReport, BenchError> {
    let backends = select_backends(&opts.backends)?;
    let formats: Vec<Format> = if opts.formats.is_empty() {
        Format::ALL.to_vec()
    } else {
        let mut v = Vec::new();
        for f in &opts.formats {
            if !v.contains(f) {
                v.push(*f);
            }
        }
        v
    };
    let budget = opts.budget();
    let mut kernel_timings = Vec::new();
    for &f in &formats {
        progress(&format!("kernels {f}"));
        kernel_timings.extend(kernels(&backends, &[f], budget)?);
    }
    let threads = rayon::current_num_threads().max(1);
    let mut mv = Vec::new();
    let stream = if opts.kernels_only {
        None
    } else {
        progress("streaming read");
        let stream = stream(opts.stream_bytes(), threads, opts.passes())?;
        for f in matvec_formats(&formats) {
            progress(&format!("matvec {f}"));
            mv.extend(matvec(
                backends[0],
                f,
                opts.stream_bytes(),
                &stream,
                opts.passes(),
            )?);
        }
        Some(stream)
    };
    Ok(BenchReport {
        cpu: cpu_name(),
        threads,
        backends: backends.iter().map(|b| b.name().to_owned()).collect(),
        row_len: ROW_LEN,
        budget_ms: budget.as_secs_f64() * 1e3,
        kernels: kernel_timings,
        stream,
        matvec: mv,
    })
}

/// `v` with 4 significant digits at most (`1234`, `123.4`, `12.34`, `1.234`, `0.1234`).
fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A group of per-backend columns; the best (largest) value of each row is marked `*`.
fn cells(values: &[Option<f64>], mark: bool) -> Vec<String> {
    let best = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i);
    values
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(v) if mark && Some(i) == best => format!("{}*", num(*v)),
            Some(v) => format!("{} ", num(*v)),
            None => "- ".to_owned(),
        })
        .collect()
}

/// Print `r` as aligned tables.
///
/// # Errors
/// I/O errors of `out`.
pub fn print(out: &mut dyn Write, r: &BenchReport) -> io::Result<()> {
    let nb = r.backends.len();
    let mark = nb > 1;
    const W: usize = 9;
    writeln!(
        out,
        "quant bench: {}, {} threads; backends: {}",
        r.cpu,
        r.threads,
        r.backends.join(", ")
    )?;
    writeln!(
        out,
        "in-cache kernels on rows of {} values: values per ns (higher is better), median of 11 \
         batches in ~{:.0} ms{}",
        r.row_len,
        r.budget_ms,
        if mark { "; * = fastest backend" } else { "" }
    )?;
    writeln!(out)?;
    // Group titles centred over their columns (a short form where the long one does not fit).
    let group = |long: &str, short: &str, width: usize| {
        let t = if long.chars().count() <= width {
            long
        } else {
            short
        };
        format!("{t:^width$}")
    };
    writeln!(
        out,
        "{}",
        format!(
            "{:<16}{}{:^11}{}",
            "",
            group("dot: values/ns", "dot v/ns", nb * W),
            "dot",
            group("dequant: values/ns", "deq v/ns", nb * W)
        )
        .trim_end()
    )?;
    let names = |out: &mut dyn Write| -> io::Result<()> {
        for b in &r.backends {
            write!(out, "{b:>w$} ", w = W - 1)?;
        }
        Ok(())
    };
    write!(out, "{:<16}", "format × act")?;
    names(out)?;
    write!(out, " {:>9} ", "ns/row")?;
    names(out)?;
    writeln!(out)?;
    let mut formats: Vec<&str> = Vec::new();
    for k in &r.kernels {
        if !formats.contains(&k.format.as_str()) {
            formats.push(&k.format);
        }
    }
    let row_of = |f: &str| -> Vec<&KernelTiming> {
        r.backends
            .iter()
            .filter_map(|b| r.kernels.iter().find(|k| k.format == f && &k.backend == b))
            .collect()
    };
    for f in &formats {
        let ks = row_of(f);
        let head = match &ks[0].activation {
            Some(a) => format!("{f:<7}× {a}"),
            None => format!("{f:<7}act only"),
        };
        write!(out, "{head:<16}")?;
        let dots: Vec<Option<f64>> = ks.iter().map(|k| k.dot_values_per_ns).collect();
        for c in cells(&dots, mark) {
            write!(out, "{c:>W$}")?;
        }
        let best_ns = ks
            .iter()
            .filter_map(|k| k.dot_ns_per_row)
            .min_by(f64::total_cmp);
        write!(out, " {:>9} ", best_ns.map_or("-".to_owned(), num))?;
        let deqs: Vec<Option<f64>> = ks.iter().map(|k| k.dequantize_values_per_ns).collect();
        for c in cells(&deqs, mark) {
            write!(out, "{c:>W$}")?;
        }
        writeln!(out)?;
    }
    let act: Vec<&str> = formats
        .iter()
        .copied()
        .filter(|f| row_of(f).iter().any(|k| k.quantize_values_per_ns.is_some()))
        .collect();
    if !act.is_empty() {
        writeln!(out)?;
        write!(out, "{:<16}", "quantize f32 →")?;
        names(out)?;
        writeln!(out, "  (values/ns)")?;
        for f in act {
            write!(out, "{f:<16}")?;
            let qs: Vec<Option<f64>> = row_of(f).iter().map(|k| k.quantize_values_per_ns).collect();
            for c in cells(&qs, mark) {
                write!(out, "{c:>W$}")?;
            }
            writeln!(out)?;
        }
    }
    writeln!(out)?;
    if let Some(s) = &r.stream {
        writeln!(
            out,
            "memory: streaming read of {} MiB (sum of u64): {:.1} GB/s on 1 thread, {:.1} GB/s on {} threads",
            s.bytes >> 20,
            s.gb_per_s_1_thread,
            s.gb_per_s_all_threads,
            s.threads
        )?;
    }
    if let Some(m) = r.matvec.first() {
        writeln!(
            out,
            "matvec out of cache ({}): {} × {} ({} stacked {}×{} matrices), weight bytes per second",
            m.backend,
            m.rows,
            m.cols,
            m.rows / MATVEC_ROWS,
            MATVEC_ROWS,
            m.cols
        )?;
        writeln!(
            out,
            "{:<8} {:>7} {:>9} {:>9} {:>8} {:>11}",
            "format", "threads", "MiB", "ms/call", "GB/s", "% of stream"
        )?;
        for m in &r.matvec {
            writeln!(
                out,
                "{:<8} {:>7} {:>9} {:>9} {:>8} {:>10.0}%",
                m.format,
                m.threads,
                m.weight_bytes >> 20,
                num(m.ms_per_call),
                num(m.gb_per_s),
                m.percent_of_stream
            )?;
        }
    }
    Ok(())
}
