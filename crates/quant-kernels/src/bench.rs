//! A small bench helper: ready-made inputs for every format's kernels, and a plain timer that
//! measures a user's backend beside the built-in ones.
//!
//! The `*Case` types own typed, deterministic inputs and expose `run(backend)`, so they drop into a
//! criterion closure (`b.iter(|| case.run(backend))`, as the workspace's `benches/dot.rs` does) or
//! into [`compare_dots`], which needs no benchmark framework:
//!
//! ```
//! use std::time::Duration;
//! use quant_core::Format;
//! use quant_kernels::{Backend, bench};
//! struct Mine; // a downstream backend (here without overrides)
//! impl Backend for Mine { fn name(&self) -> &'static str { "mine" } }
//! let t = bench::compare_dots(&[&Mine], &[Format::Q4_0], 256, Duration::from_millis(2))?;
//! assert!(t.iter().any(|t| t.backend == "mine") && t.iter().any(|t| t.backend == "scalar"));
//! println!("{}", bench::timings_table(&t));
//! # Ok::<(), quant_kernels::Error>(())
//! ```

use std::time::{Duration, Instant};

use quant_core::{BlockFormat, Format};

use crate::formats::{ActivationFormat, DequantizeFormat, WeightFormat};
use crate::{Backend, Result, available, scalar::Scalar};

type Kernel<T> = Box<dyn Fn(&dyn Backend) -> T + Send + Sync>;

/// Deterministic bell-shaped values (SplitMix64, sum of four uniforms) scaled by `scale`.
pub fn test_values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| {
            let u: f32 = (0..4)
                .map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32)
                .sum::<f32>();
            (u - 2.0) * scale
        })
        .collect()
}

/// One dot product of `format` with its partner: a weight row and an activation row of `n`
/// values, quantized once (weights by quant-core, activations by the scalar oracle).
pub struct DotCase {
    format: Format,
    n: usize,
    kernel: Kernel<f32>,
}

impl core::fmt::Debug for DotCase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DotCase")
            .field("format", &self.format)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

/// A copy of a slice starting at a 64-byte boundary.
///
/// Timings of in-cache kernels depend on the operands' relative alignment (on the AMD Zen machine
/// of this project, ggml's q4_K dot takes 132 ns with both rows 64-byte aligned and 198 ns with
/// the activation row 4 or 16 bytes off), so every case places every buffer at a cache-line
/// boundary, as `scripts/ggml-peer/ggml_bench.c` does for ggml: comparisons then measure the
/// kernels, not the allocator.
struct Aligned {
    buf: Vec<u8>,
    off: usize,
    len: usize,
}

impl Aligned {
    fn new<T: bytemuck::Pod>(v: &[T]) -> Self {
        let bytes: &[u8] = bytemuck::cast_slice(v);
        let mut buf = vec![0u8; bytes.len() + 64];
        let off = buf.as_ptr().align_offset(64).min(64);
        buf[off..off + bytes.len()].copy_from_slice(bytes);
        Aligned {
            buf,
            off,
            len: bytes.len(),
        }
    }

    fn get<T: bytemuck::Pod>(&self) -> &[T] {
        bytemuck::cast_slice(&self.buf[self.off..self.off + self.len])
    }

    fn get_mut<T: bytemuck::Pod>(&mut self) -> &mut [T] {
        bytemuck::cast_slice_mut(&mut self.buf[self.off..self.off + self.len])
    }
}

/// Relative placements of the two rows of a [`DotCase`] (see [`DotCase::with_placement`]).
pub const PLACEMENTS: usize = 4;

impl DotCase {
    /// Inputs of `n` values for `format` (placement 0 of [`DotCase::with_placement`]).
    ///
    /// # Errors
    /// [`crate::Error::NoDot`] for `q8_1`, [`quant_core::Error::RaggedLength`] (wrapped) if `n` is
    /// not a multiple of the block lengths.
    pub fn new(format: Format, n: usize) -> Result<Self> {
        Self::with_placement(format, n, 0)
    }

    /// Inputs of `n` values for `format`, both rows in one 64-byte aligned buffer: the weight row
    /// at offset 0, the activation row at `round_up(weight bytes, 64) + 64 + 1024·placement`.
    ///
    /// In-cache timings on AMD Zen depend on where the two rows sit relative to each other (the
    /// L1 way predictor hashes linear addresses: the same kernel can run 1.5× slower for some
    /// distances), for ggml's kernels as for ours. Timing every placement in
    /// `0..`[`PLACEMENTS`] and taking the median, identically on both sides
    /// (`scripts/ggml-peer/ggml_bench.c` uses the same layout), compares kernels rather than
    /// allocator luck.
    ///
    /// # Errors
    /// As [`DotCase::new`].
    pub fn with_placement(format: Format, n: usize, placement: usize) -> Result<Self> {
        fn typed<W: WeightFormat>(format: Format, n: usize, placement: usize) -> Result<DotCase> {
            let w: Vec<W> = quant_core::quantize_row_to_vec(&test_values(n, 1, 0.05), None)?;
            let x = test_values(n, 2, 1.0);
            quant_core::validate_row(&x, None, <W::Activation as BlockFormat>::BLOCK_LEN)?;
            let mut a =
                vec![<W::Activation as bytemuck::Zeroable>::zeroed(); n / W::Activation::BLOCK_LEN];
            W::Activation::quantize_activations(&Scalar, &x, &mut a);
            let (wb, ab): (&[u8], &[u8]) = (bytemuck::cast_slice(&w), bytemuck::cast_slice(&a));
            let a_off = wb.len().next_multiple_of(64) + 64 + 1024 * placement;
            let mut both = vec![0u8; a_off + ab.len()];
            both[..wb.len()].copy_from_slice(wb);
            both[a_off..].copy_from_slice(ab);
            let both = Aligned::new(&both);
            let (w_len, a_len) = (wb.len(), ab.len());
            Ok(DotCase {
                format,
                n,
                kernel: Box::new(move |b| {
                    let bytes = both.get::<u8>();
                    W::dot(
                        b,
                        bytemuck::cast_slice(&bytes[..w_len]),
                        bytemuck::cast_slice(&bytes[a_off..a_off + a_len]),
                    )
                }),
            })
        }
        crate::with_weight_type!(format, W => typed::<W>(format, n, placement),
            else => Err(crate::Error::NoDot { format }))
    }

    /// Run `backend`'s kernel once.
    pub fn run(&self, backend: &dyn Backend) -> f32 {
        (self.kernel)(backend)
    }

    /// The weight format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Values per row.
    pub fn n(&self) -> usize {
        self.n
    }
}

/// Dequantization of `n` values of a format into a reused buffer.
pub struct DequantCase {
    format: Format,
    n: usize,
    kernel: Kernel<f32>,
}

impl core::fmt::Debug for DequantCase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DequantCase")
            .field("format", &self.format)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl DequantCase {
    /// Inputs of `n` values for `format` (every format but `f32`).
    ///
    /// # Errors
    /// [`quant_core::Error::RaggedLength`] (wrapped) if `n` is not a multiple of the block length;
    /// [`quant_core::Error::Unsupported`] (wrapped) for `f32`.
    pub fn new(format: Format, n: usize) -> Result<Self> {
        fn typed<B: DequantizeFormat>(format: Format, n: usize) -> Result<DequantCase> {
            let v = test_values(n, 3, 0.05);
            quant_core::validate_row(&v, None, B::BLOCK_LEN)?;
            let mut blocks = vec![B::zeroed(); n / B::BLOCK_LEN];
            // Activation formats have no imatrix path; quantize_blocks covers every format.
            B::quantize_blocks(&v, None, &mut blocks);
            let blocks = Aligned::new(&blocks);
            let out = std::sync::Mutex::new(Aligned::new(&vec![0.0f32; n]));
            Ok(DequantCase {
                format,
                n,
                kernel: Box::new(move |b| {
                    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                    let out = out.get_mut::<f32>();
                    B::dequantize(b, blocks.get(), out);
                    out[0]
                }),
            })
        }
        match format {
            Format::F32 => Err(quant_core::Error::Unsupported {
                format,
                operation: "dequantization kernels",
            }
            .into()),
            Format::Q8_1 => typed::<quant_core::formats::BlockQ8_1>(format, n),
            _ => crate::with_weight_type!(format, B => typed::<B>(format, n),
                else => unreachable!()),
        }
    }

    /// Run `backend`'s kernel once (returns the first value, to keep the work observable).
    pub fn run(&self, backend: &dyn Backend) -> f32 {
        (self.kernel)(backend)
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Values per call.
    pub fn n(&self) -> usize {
        self.n
    }
}

/// Activation quantization of `n` f32 values into `q8_0`, `q8_1` or `q8_K`.
pub struct QuantizeCase {
    format: Format,
    n: usize,
    kernel: Kernel<u8>,
}

impl core::fmt::Debug for QuantizeCase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuantizeCase")
            .field("format", &self.format)
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl QuantizeCase {
    /// Inputs of `n` values for the activation format `format`.
    ///
    /// # Errors
    /// [`crate::Error::NotActivationFormat`] for other formats,
    /// [`quant_core::Error::RaggedLength`] (wrapped) if `n` is not a multiple of the block length.
    pub fn new(format: Format, n: usize) -> Result<Self> {
        fn typed<A: ActivationFormat>(format: Format, n: usize) -> Result<QuantizeCase> {
            let x = test_values(n, 4, 1.0);
            quant_core::validate_row(&x, None, A::BLOCK_LEN)?;
            let x = Aligned::new(&x);
            let out = std::sync::Mutex::new(Aligned::new(&vec![A::zeroed(); n / A::BLOCK_LEN]));
            Ok(QuantizeCase {
                format,
                n,
                kernel: Box::new(move |b| {
                    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                    let out = out.get_mut::<A>();
                    A::quantize_activations(b, x.get(), out);
                    bytemuck::cast_slice::<A, u8>(out)[0]
                }),
            })
        }
        use quant_core::formats as f;
        match format {
            Format::Q8_0 => typed::<f::BlockQ8_0>(format, n),
            Format::Q8_1 => typed::<f::BlockQ8_1>(format, n),
            Format::Q8K => typed::<f::BlockQ8K>(format, n),
            _ => Err(crate::Error::NotActivationFormat { format }),
        }
    }

    /// Run `backend`'s kernel once (returns the first output byte).
    pub fn run(&self, backend: &dyn Backend) -> u8 {
        (self.kernel)(backend)
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Values per call.
    pub fn n(&self) -> usize {
        self.n
    }
}

/// One measurement of [`compare_dots`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Backend name.
    pub backend: &'static str,
    /// Weight format.
    pub format: Format,
    /// Values per row.
    pub n: usize,
    /// Median nanoseconds per row.
    pub ns_per_row: f64,
}

impl Timing {
    /// Throughput in values per nanosecond.
    pub fn values_per_ns(&self) -> f64 {
        self.n as f64 / self.ns_per_row
    }
}

/// Median time of `f` in nanoseconds per call, over about `budget` of wall time (11 batches).
pub fn time_ns(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Calibrate the batch size to ~budget/11 per batch.
    let mut reps = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        let e = t.elapsed();
        if e * 11 >= budget || reps >= 1 << 30 {
            break;
        }
        reps = (reps * 2).max(1);
    }
    let mut samples: Vec<f64> = (0..11)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_nanos() as f64 / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Time the dot product of every format in `formats` (rows of `n` values, in cache) on the
/// `extra` backends and on every built-in backend of this CPU, about `budget` per pair.
///
/// # Errors
/// As [`DotCase::new`].
pub fn compare_dots(
    extra: &[&dyn Backend],
    formats: &[Format],
    n: usize,
    budget: Duration,
) -> Result<Vec<Timing>> {
    let mut backends: Vec<&dyn Backend> = extra.to_vec();
    backends.extend(available());
    let mut out = Vec::new();
    for &format in formats {
        let case = DotCase::new(format, n)?;
        for &b in &backends {
            let ns = time_ns(budget, || {
                std::hint::black_box(case.run(std::hint::black_box(b)));
            });
            out.push(Timing {
                backend: b.name(),
                format,
                n,
                ns_per_row: ns,
            });
        }
    }
    Ok(out)
}

/// A Markdown table of timings (one line per format × backend).
pub fn timings_table(timings: &[Timing]) -> String {
    let mut s = String::from("| format | backend | ns/row | values/ns |\n|---|---|---:|---:|\n");
    for t in timings {
        s.push_str(&format!(
            "| {} | {} | {:.1} | {:.2} |\n",
            t.format,
            t.backend,
            t.ns_per_row,
            t.values_per_ns()
        ));
    }
    s
}
