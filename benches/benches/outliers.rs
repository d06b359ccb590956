#![allow(missing_docs)]
//! Overhead of outlier tables in matrix × vector, out of cache: the same 4-bit weight matrices
//! (4096×14336 and 14336×4096) with and without a table keeping 0.01 %, 0.1 % and 1 % of their
//! weights, on 1 and 2 threads (one rayon pool each), in one run. Target: < 10 % at 0.1 %.
//!
//! Out of cache as in `matvec.rs`: each (format, shape) cycles through several distinct matrices
//! totalling at least 256 MiB (8× this machine's 32 MiB L3), a different one per call, each with
//! its own tables, so every call streams its weights and its table from memory. The dense bytes
//! repeat 16 quantized rows (quantizing hundreds of MiB would dominate the run; the content does
//! not change the traffic); the tables keep uniformly random positions, the same count per matrix
//! as `OutlierPolicy::TopFraction` would (the positions' content does not change the work
//! either; `quant_core::outlier` selection itself is not measured here).
//!
//! Two measurements, both reported as GB/s of **dense weight bytes** (the same denominator with
//! and without a table, so the ratio is the time ratio):
//!
//! * criterion benchmarks `matvec_outliers/{format}/{shape}/{plain|table_…}/{threads}t`;
//! * a paired summary printed at the end (a markdown table): rounds that time every variant back
//!   to back (`CALLS` calls each, order rotated every round), so load from other processes hits
//!   all variants alike; GB/s from the median time per variant, overhead = median of the
//!   per-round ratios to the dense product. This is the number to quote on a shared machine. An
//!   A/A row times the dense product twice per round (its "overhead" is the noise), and the last
//!   column times the previous implementation (dense product, then the sparse term added
//!   serially on the calling thread) the same way.
//!
//! `cargo bench -p quant-benches --bench outliers` (the summary alone: add `-- summary`, a filter
//! that matches no criterion benchmark). Environment: `QUANT_BENCH_FORMATS=q4_0,q4_K,iq4_nl`,
//! `QUANT_BENCH_ROUNDS` (summary rounds, default 31).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quant_core::Format;
use quant_core::outlier::{OutlierTable, ValuePrecision};
use quant_kernels::{Backend, OutlierMatrix, Scratch};

/// Fractions of the weights kept in the table.
const FRACTIONS: [f64; 3] = [0.0001, 0.001, 0.01];
/// Calls per variant per round of the paired summary.
const CALLS: usize = 8;

fn shapes() -> Vec<(usize, usize)> {
    if common::test_mode() {
        vec![(64, 512)]
    } else {
        vec![(4096, 14336), (14336, 4096)]
    }
}

fn pct(f: f64) -> String {
    format!("{}%", f * 100.0)
}

/// A table keeping `fraction` of the `rows × cols` weights (as many as `TopFraction` keeps) at
/// uniformly random positions, values in f16.
fn table(rows: usize, cols: usize, fraction: f64, seed: u64) -> OutlierTable {
    let n = rows * cols;
    let k = ((n as f64) * fraction).round() as usize;
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5851_F42D_4C95_7F2D;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut pos: Vec<usize> = Vec::with_capacity(k);
    while pos.len() < k {
        pos.extend((pos.len()..k).map(|_| (next() % n as u64) as usize));
        pos.sort_unstable();
        pos.dedup();
    }
    let vals = quant_benches::weight_row(k, seed ^ 0xABCD);
    OutlierTable::from_entries(
        rows,
        cols,
        ValuePrecision::F16,
        pos.iter()
            .zip(&vals)
            .map(|(&p, &v)| (p / cols, p % cols, v * 20.0)),
    )
    .expect("table")
}

/// One (format, shape): the dense matrices and, per fraction, a table for each of them.
struct Case {
    format: Format,
    rows: usize,
    cols: usize,
    mats: Vec<Vec<u8>>,
    /// `tables[f][m]`: fraction `FRACTIONS[f]`, matrix `m`.
    tables: Vec<Vec<OutlierTable>>,
}

impl Case {
    fn new(format: Format, rows: usize, cols: usize) -> Self {
        let mats = common::matrices(format, rows, cols, 2);
        let tables = FRACTIONS
            .iter()
            .map(|&f| {
                (0..mats.len())
                    .map(|m| table(rows, cols, f, m as u64 + 1))
                    .collect()
            })
            .collect();
        Self {
            format,
            rows,
            cols,
            mats,
            tables,
        }
    }

    /// `None`: the dense product alone; `Some(f)`: with the tables of `FRACTIONS[f]`.
    fn views(&self, fraction: Option<usize>) -> Vec<OutlierMatrix<'_>> {
        self.mats
            .iter()
            .enumerate()
            .map(|(m, bytes)| {
                let t = match fraction {
                    Some(f) => &self.tables[f][m],
                    None => &self.tables[0][m], // unused: the dense part alone is called
                };
                OutlierMatrix::from_parts(self.format, self.rows, self.cols, bytes, t)
                    .expect("matrix")
            })
            .collect()
    }

    fn shape(&self) -> String {
        format!("{}x{}", self.rows, self.cols)
    }
}

/// How a call computes the product.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The dense product alone.
    Dense,
    /// [`OutlierMatrix::matvec`]: the sparse term fused into the threaded row loop.
    Table,
    /// The dense product, then the sparse term added row by row on the calling thread (the
    /// implementation before the fused one; kept to show what the fusion buys).
    SerialAdd,
}

fn call(
    m: &OutlierMatrix<'_>,
    mode: Mode,
    backend: &dyn Backend,
    x: &[f32],
    y: &mut [f32],
    scratch: &mut Scratch,
) {
    let x = black_box(x);
    match mode {
        Mode::Dense => m.dense().matvec(backend, x, y, scratch),
        Mode::Table => m.matvec(backend, x, y, scratch),
        Mode::SerialAdd => m.dense().matvec(backend, x, y, scratch).map(|()| {
            for (r, v) in y.iter_mut().enumerate() {
                *v += m.table().row_dot(r, x);
            }
        }),
    }
    .expect("matvec");
}

/// Every (format, shape), built one at a time (each holds at least 256 MiB).
fn cases() -> impl Iterator<Item = Case> {
    let formats = common::formats(&[Format::Q4_0, Format::Q4K]);
    formats.into_iter().flat_map(|format| {
        shapes()
            .into_iter()
            .map(move |(rows, cols)| Case::new(format, rows, cols))
    })
}

fn outliers(c: &mut Criterion) {
    let backend = quant_kernels::best();
    let pools = common::pools();
    let mut scratch = Scratch::new();
    for case in cases() {
        let x: Vec<f32> = quant_benches::weight_row(case.cols, 99)
            .iter()
            .map(|v| v * 30.0)
            .collect();
        let mut y = vec![0.0f32; case.rows];
        let mut g = c.benchmark_group(format!("matvec_outliers/{}/{}", case.format, case.shape()));
        g.throughput(Throughput::Bytes(case.mats[0].len() as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        let variants: Vec<(String, Option<usize>)> = std::iter::once(("plain".to_owned(), None))
            .chain((0..FRACTIONS.len()).map(|f| (format!("table_{}", pct(FRACTIONS[f])), Some(f))))
            .collect();
        for (threads, pool) in &pools {
            for (name, fraction) in &variants {
                let views = case.views(*fraction);
                let mut next = 0usize;
                g.bench_function(
                    BenchmarkId::new(name.as_str(), format!("{}/{threads}t", backend.name())),
                    |b| {
                        b.iter(|| {
                            let m = &views[next % views.len()];
                            next += 1;
                            pool.install(|| {
                                let mode = if fraction.is_some() {
                                    Mode::Table
                                } else {
                                    Mode::Dense
                                };
                                call(m, mode, backend, &x, &mut y, &mut scratch)
                            });
                        })
                    },
                );
            }
        }
        g.finish();
    }
    summary(backend, &pools);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The paired summary: every round times each variant for `CALLS` calls back to back.
fn summary(backend: &dyn Backend, pools: &[(usize, rayon::ThreadPool)]) {
    let rounds: usize = if common::test_mode() {
        3
    } else {
        std::env::var("QUANT_BENCH_ROUNDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(31)
    };
    let mut scratch = Scratch::new();
    println!(
        "\n## outlier-table overhead (paired, {rounds} rounds × {CALLS} calls, backend {}, medians)\n",
        backend.name()
    );
    println!(
        "| format | shape | kept | entries | threads | dense GB/s | with-table GB/s | overhead | serial add |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for case in cases() {
        let x: Vec<f32> = quant_benches::weight_row(case.cols, 99)
            .iter()
            .map(|v| v * 30.0)
            .collect();
        let mut y = vec![0.0f32; case.rows];
        let plain = case.views(None);
        let with: Vec<Vec<OutlierMatrix<'_>>> =
            (0..FRACTIONS.len()).map(|f| case.views(Some(f))).collect();
        let dense_bytes = case.mats[0].len() as f64;
        for (threads, pool) in pools {
            let mut next = 0usize;
            let mut time = |views: &[OutlierMatrix<'_>], mode: Mode| -> f64 {
                let t0 = Instant::now();
                for _ in 0..CALLS {
                    let m = &views[next % views.len()];
                    next += 1;
                    pool.install(|| call(m, mode, backend, &x, &mut y, &mut scratch));
                }
                t0.elapsed().as_secs_f64() / CALLS as f64
            };
            // Warm-up: page in every matrix and table once.
            time(&plain, Mode::Dense);
            for w in &with {
                time(w, Mode::Table);
            }
            // Slots timed every round, in an order rotated by one per round (no variant always
            // runs first or after the same one): the dense product twice (the second one is an
            // A/A control: its ratio to the first shows the noise), then per fraction the fused
            // product and the serial-add one.
            let mut slots: Vec<(&[OutlierMatrix<'_>], Mode)> =
                vec![(&plain, Mode::Dense), (&plain, Mode::Dense)];
            for w in &with {
                slots.push((w, Mode::Table));
                slots.push((w, Mode::SerialAdd));
            }
            let mut times = vec![vec![0.0f64; slots.len()]; rounds];
            for (round, t) in times.iter_mut().enumerate() {
                for i in 0..slots.len() {
                    let k = (i + round) % slots.len();
                    t[k] = time(slots[k].0, slots[k].1);
                }
            }
            let med = |k: usize| median(&mut times.iter().map(|t| t[k]).collect::<Vec<_>>());
            let ratio = |k: usize| {
                let r = median(&mut times.iter().map(|t| t[k] / t[0]).collect::<Vec<_>>());
                format!("{:+.1}%", (r - 1.0) * 100.0)
            };
            let p = med(0);
            println!(
                "| {} | {} | — (A/A) | 0 | {threads} | {:.2} | {:.2} | {} | |",
                case.format,
                case.shape(),
                dense_bytes / p / 1e9,
                dense_bytes / med(1) / 1e9,
                ratio(1)
            );
            for (f, fraction) in FRACTIONS.iter().enumerate() {
                let (kt, ks) = (2 + 2 * f, 3 + 2 * f);
                println!(
                    "| {} | {} | {} | {} | {threads} | {:.2} | {:.2} | {} | {} |",
                    case.format,
                    case.shape(),
                    pct(*fraction),
                    case.tables[f][0].len(),
                    dense_bytes / p / 1e9,
                    dense_bytes / med(kt) / 1e9,
                    ratio(kt),
                    ratio(ks)
                );
            }
        }
    }
    println!();
}

criterion_group!(benches, outliers);
criterion_main!(benches);
