//! Property-test kit for block formats (feature `proptest`).
//!
//! Call it from your own tests with your own [`BlockFormat`] type to check that the format keeps
//! its promises on adversarial input. Every built-in format of this crate passes it.
//!
//! ```
//! use quant_core::testing::{check_format, KitConfig};
//! use quant_core::formats::BlockQ8_0;
//!
//! // Everything at once (round-trip error, determinism, re-quantization, arbitrary bytes,
//! // typed errors, importance weights); `Err` lists every failed check with a failing input.
//! check_format::<BlockQ8_0>(&KitConfig::default().with_cases(8)).unwrap();
//! ```
//!
//! The checks, each also callable on its own:
//!
//! | check | what it asserts |
//! |-------|-----------------|
//! | [`check_round_trip_error`] | `|x − dequantize(quantize(x))| ≤ B::max_abs_error(block)` per value, and no non-finite output for moderate input |
//! | [`check_determinism`] | same input → same bytes; the runtime [`Format`](crate::Format) API agrees with the typed one |
//! | [`check_requantize_stable`] | `quantize(dequantize(q)) == q` when `B::REQUANTIZE_STABLE` (blocks that still mean the same values may differ in bytes) |
//! | [`check_arbitrary_bytes`] | any bytes → [`blocks_from_bytes_unaligned`] → dequantize never panics; views agree |
//! | [`check_input_errors`] | NaN/±inf → [`Error::NonFinite`] with the first index, ragged rows / byte views, misalignment, bad importance → their typed errors |
//! | [`check_importance`] | with random non-negative importance weights the error bound still holds (`B::USES_IMPORTANCE`); otherwise the weights change nothing |
//! | [`check_with_outliers`] | the composite "format + outlier table" ([`crate::outlier`]): kept weights exact in the table's precision, the others within the bound of their block *with the outliers removed*, every value within the plain format's bound (not part of [`check_format`]: it takes the table's [`ValuePrecision`]) |
//!
//! # Which blocks the error bound is checked on
//!
//! [`BlockFormat::max_abs_error`] promises its bound only while the block's scale stays finite.
//! A scale stored in a narrow type overflows for large enough input (an f16 scale `amax / 7`
//! overflows for `amax` above about 4.6e5, an fp8 scale far earlier), and the block then
//! dequantizes to ±inf or NaN. The kit cannot read a user format's scale field, so it recognises
//! such blocks by their non-finite output and skips them — but only when the block's largest
//! magnitude is at least [`KitConfig::finite_below`] (default 1000). Below that, a non-finite
//! output is a failure: no format should overflow on moderate values, and this catches `0/0`-style
//! bugs (all-zero blocks, tiny values) that would otherwise hide behind the skip.
//!
//! # Input distributions
//!
//! Rows are concatenations of 1..=[`KitConfig::max_blocks`] blocks, each drawn from one
//! [`RowKind`]: gaussian, heavy-tailed (Student-t with 1–4 degrees of freedom), planted outliers,
//! signed zeros, constants, tiny (1e-30..1e-8), f32 subnormals, huge (up to ~1e30), alternating
//! signs, sparse (zeros with a few values of any magnitude) and exact ties (half-integer
//! multiples of a power of two with a planted maximum, which
//! land exactly between two quantization levels of the common `amax / 2^k` scales). Values are
//! generated from a seed by a small internal generator, so shrinking does not simplify them; a
//! failure reports the complete failing row.

use core::fmt;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::outlier::{
    OutlierError, OutlierPolicy, ValuePrecision, dequantize_blocks_with_outliers,
    dequantize_with_outliers, quantize_blocks_with_outliers, quantize_with_outliers,
    select_outliers,
};
use crate::{
    BlockFormat, Error, blocks_as_bytes, blocks_from_bytes, blocks_from_bytes_mut,
    blocks_from_bytes_unaligned, dequantize_row, dequantize_row_to_vec, quantize_row,
    quantize_row_to_vec,
};

/// Settings of the kit.
#[derive(Clone, Debug, PartialEq)]
pub struct KitConfig {
    /// Random cases per check (default 64).
    pub cases: u32,
    /// Rows have 1..=`max_blocks` blocks (default 4).
    pub max_blocks: usize,
    /// Blocks whose largest magnitude is below this must dequantize to finite values; at or above
    /// it a non-finite output is taken as scale overflow and the block is skipped by the error
    /// bound checks (default 1000). See the [module documentation](self).
    pub finite_below: f32,
    /// Seed of the random generator; `None` (the default) draws a fresh one per run.
    pub seed: Option<u64>,
    /// The kinds of blocks rows are made of (default: every [`RowKind`]).
    pub kinds: Vec<RowKind>,
}

impl Default for KitConfig {
    fn default() -> Self {
        KitConfig {
            cases: 64,
            max_blocks: 4,
            finite_below: 1000.0,
            seed: None,
            kinds: RowKind::ALL.to_vec(),
        }
    }
}

impl KitConfig {
    /// Set [`KitConfig::cases`].
    #[must_use]
    pub fn with_cases(mut self, cases: u32) -> Self {
        self.cases = cases;
        self
    }

    /// Set [`KitConfig::max_blocks`].
    #[must_use]
    pub fn with_max_blocks(mut self, max_blocks: usize) -> Self {
        self.max_blocks = max_blocks.max(1);
        self
    }

    /// Set [`KitConfig::finite_below`].
    #[must_use]
    pub fn with_finite_below(mut self, finite_below: f32) -> Self {
        self.finite_below = finite_below;
        self
    }

    /// Set [`KitConfig::kinds`] (an empty list means every kind).
    #[must_use]
    pub fn with_kinds(mut self, kinds: &[RowKind]) -> Self {
        self.kinds = if kinds.is_empty() {
            RowKind::ALL.to_vec()
        } else {
            kinds.to_vec()
        };
        self
    }

    /// Every [`RowKind`] except `kinds`.
    #[must_use]
    pub fn without_kinds(self, kinds: &[RowKind]) -> Self {
        let keep: Vec<RowKind> = RowKind::ALL
            .into_iter()
            .filter(|k| !kinds.contains(k))
            .collect();
        self.with_kinds(&keep)
    }

    /// Rows for format `B` under this configuration.
    pub fn rows<B: BlockFormat>(&self) -> BoxedStrategy<Vec<f32>> {
        adversarial_row_of(&self.kinds, B::BLOCK_LEN, self.max_blocks)
    }

    /// Set [`KitConfig::seed`] for reproducible runs.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn runner(&self) -> TestRunner {
        let config = Config {
            cases: self.cases,
            failure_persistence: None,
            // Values come from seeds, so shrinking cannot simplify a row much.
            max_shrink_iters: 32,
            ..Config::default()
        };
        match self.seed {
            Some(seed) => {
                let mut bytes = [0u8; 32];
                let mut g = SplitMix64(seed);
                for chunk in bytes.chunks_exact_mut(8) {
                    chunk.copy_from_slice(&g.next_u64().to_le_bytes());
                }
                TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
            }
            None => TestRunner::new(config),
        }
    }
}

/// The checks of the kit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Check {
    /// [`check_round_trip_error`].
    RoundTripError,
    /// [`check_determinism`].
    Determinism,
    /// [`check_requantize_stable`].
    RequantizeStable,
    /// [`check_arbitrary_bytes`].
    ArbitraryBytes,
    /// [`check_input_errors`].
    InputErrors,
    /// [`check_importance`].
    Importance,
    /// [`check_with_outliers`] (not in [`Check::ALL`]: [`Check::run`] runs it with f32 table
    /// values).
    WithOutliers,
}

impl Check {
    /// Every check, in the order [`check_format`] runs them.
    pub const ALL: [Check; 6] = [
        Check::RoundTripError,
        Check::Determinism,
        Check::RequantizeStable,
        Check::ArbitraryBytes,
        Check::InputErrors,
        Check::Importance,
    ];

    /// Run this check on format `B`.
    ///
    /// # Errors
    /// The check's [`KitFailure`].
    pub fn run<B: BlockFormat>(self, config: &KitConfig) -> Result<(), KitFailure> {
        match self {
            Check::RoundTripError => check_round_trip_error::<B>(config),
            Check::Determinism => check_determinism::<B>(config),
            Check::RequantizeStable => check_requantize_stable::<B>(config),
            Check::ArbitraryBytes => check_arbitrary_bytes::<B>(config),
            Check::InputErrors => check_input_errors::<B>(config),
            Check::Importance => check_importance::<B>(config),
            Check::WithOutliers => check_with_outliers::<B>(config, ValuePrecision::F32),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Check::RoundTripError => "round-trip error",
            Check::Determinism => "determinism",
            Check::RequantizeStable => "re-quantization stability",
            Check::ArbitraryBytes => "arbitrary bytes",
            Check::InputErrors => "input errors",
            Check::Importance => "importance weights",
            Check::WithOutliers => "outlier table",
        };
        f.pad(name)
    }
}

/// A failed check: which format, which check, and why (with the failing input).
#[derive(Clone, PartialEq)]
pub struct KitFailure {
    /// [`BlockFormat::NAME`] of the format.
    pub format: &'static str,
    /// The check that failed.
    pub check: Check,
    /// The reason and the (shrunk) failing input.
    pub message: String,
}

impl fmt::Display for KitFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}: {}", self.format, self.check, self.message)
    }
}

impl fmt::Debug for KitFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for KitFailure {}

/// Every failure of a [`check_format`] run.
#[derive(Clone, PartialEq)]
pub struct KitReport {
    /// The failed checks (at least one).
    pub failures: Vec<KitFailure>,
}

impl fmt::Display for KitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} kit check(s) failed:", self.failures.len())?;
        for x in &self.failures {
            writeln!(f, "- {x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for KitReport {}

/// Run every check of the kit on format `B`.
///
/// Works for any format: checks that depend on a promise the format does not make
/// (`max_abs_error` returning `None`, `REQUANTIZE_STABLE == false`) check only what remains
/// (no panics, finite output for moderate input, typed errors).
///
/// # Errors
/// A [`KitReport`] listing every failed check.
pub fn check_format<B: BlockFormat>(config: &KitConfig) -> Result<(), KitReport> {
    let failures: Vec<KitFailure> = Check::ALL
        .into_iter()
        .filter_map(|c| c.run::<B>(config).err())
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(KitReport { failures })
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// The kinds of adversarial blocks the kit generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowKind {
    /// Normal distribution, σ log-uniform in 1e-3..1e3.
    Gaussian,
    /// Student-t with 1–4 degrees of freedom (1 = Cauchy), scale 1e-2..1e2, clamped to ±1e30.
    HeavyTailed,
    /// Gaussian with a few values 10–1000× larger.
    Outliers,
    /// A mix of `+0.0` and `-0.0`.
    Zeros,
    /// One value repeated (possibly zero or negative).
    Constant,
    /// Magnitudes log-uniform in 1e-30..1e-8, random signs.
    Tiny,
    /// f32 subnormal magnitudes (1.4e-45..1.2e-38, log-uniform), random signs.
    Subnormal,
    /// Gaussian scaled by 1e8..1e30 (finite).
    Huge,
    /// Alternating signs, similar magnitudes.
    Alternating,
    /// Signed zeros with 1–3 non-zero values of any finite magnitude (log-uniform from the
    /// smallest f32 subnormal to 1e30).
    Sparse,
    /// Half-integer multiples of a power of two with a planted maximum `±M·2^k`: exact ties
    /// between quantization levels.
    Ties,
}

impl RowKind {
    /// Every kind.
    pub const ALL: [RowKind; 11] = [
        RowKind::Gaussian,
        RowKind::HeavyTailed,
        RowKind::Outliers,
        RowKind::Zeros,
        RowKind::Constant,
        RowKind::Tiny,
        RowKind::Subnormal,
        RowKind::Huge,
        RowKind::Alternating,
        RowKind::Sparse,
        RowKind::Ties,
    ];

    /// Generate `len` values of this kind from `seed` (deterministic).
    pub fn generate(self, len: usize, seed: u64) -> Vec<f32> {
        gen_block(self, len, &mut SplitMix64(seed))
    }
}

/// A block of `len` values of one kind.
pub fn block_of(kind: RowKind, len: usize) -> BoxedStrategy<Vec<f32>> {
    any::<u64>()
        .prop_map(move |seed| kind.generate(len, seed))
        .boxed()
}

/// A block of `len` values of a random [`RowKind`].
pub fn adversarial_block(len: usize) -> BoxedStrategy<Vec<f32>> {
    (0..RowKind::ALL.len(), any::<u64>())
        .prop_map(move |(k, seed)| RowKind::ALL[k].generate(len, seed))
        .boxed()
}

/// A row of 1..=`max_blocks` blocks of `block_len` values, each block of a random [`RowKind`].
pub fn adversarial_row(block_len: usize, max_blocks: usize) -> BoxedStrategy<Vec<f32>> {
    adversarial_row_of(&RowKind::ALL, block_len, max_blocks)
}

/// [`adversarial_row`] with blocks drawn from `kinds` only (every kind if empty).
pub fn adversarial_row_of(
    kinds: &[RowKind],
    block_len: usize,
    max_blocks: usize,
) -> BoxedStrategy<Vec<f32>> {
    let kinds: Vec<RowKind> = if kinds.is_empty() {
        RowKind::ALL.to_vec()
    } else {
        kinds.to_vec()
    };
    let block = (0..kinds.len(), any::<u64>())
        .prop_map(move |(k, seed)| kinds[k].generate(block_len, seed));
    proptest::collection::vec(block, 1..=max_blocks.max(1))
        .prop_map(|blocks| blocks.concat())
        .boxed()
}

/// Importance weights for `len` values: finite and non-negative, drawn from uniform,
/// log-uniform over 12 decades, sparse (mostly zero) and all-zero distributions.
pub fn importance_weights(len: usize) -> BoxedStrategy<Vec<f32>> {
    (0..4u8, any::<u64>())
        .prop_map(move |(kind, seed)| gen_importance(kind, len, &mut SplitMix64(seed)))
        .boxed()
}

/// SplitMix64: a tiny deterministic generator for the value distributions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn sign(&mut self) -> f64 {
        if self.next_u64() & 1 == 0 { 1.0 } else { -1.0 }
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (core::f64::consts::TAU * u2).cos()
    }

    /// 10^U(lo, hi).
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        10f64.powf(self.range(lo, hi))
    }
}

fn clamp_finite(x: f64) -> f32 {
    x.clamp(-3e30, 3e30) as f32
}

fn gen_block(kind: RowKind, len: usize, g: &mut SplitMix64) -> Vec<f32> {
    match kind {
        RowKind::Gaussian => {
            let sigma = g.log_uniform(-3.0, 3.0);
            (0..len).map(|_| (sigma * g.normal()) as f32).collect()
        }
        RowKind::HeavyTailed => {
            let nu = 1 + g.below(4);
            let scale = g.log_uniform(-2.0, 2.0);
            (0..len)
                .map(|_| {
                    let chi2: f64 = (0..nu).map(|_| g.normal().powi(2)).sum();
                    let t = g.normal() / (chi2 / nu as f64).sqrt().max(1e-300);
                    clamp_finite(scale * t)
                })
                .collect()
        }
        RowKind::Outliers => {
            let sigma = g.log_uniform(-2.0, 1.0);
            let mut v: Vec<f32> = (0..len).map(|_| (sigma * g.normal()) as f32).collect();
            let k = 1 + g.below((len / 16).max(1));
            for _ in 0..k {
                let i = g.below(len);
                v[i] = (g.sign() * sigma * g.log_uniform(1.0, 3.0)) as f32;
            }
            v
        }
        RowKind::Zeros => (0..len)
            .map(|_| if g.next_u64() & 1 == 0 { 0.0 } else { -0.0 })
            .collect(),
        RowKind::Constant => {
            let c = match g.below(4) {
                0 => 0.0,
                _ => (g.sign() * g.log_uniform(-4.0, 4.0)) as f32,
            };
            vec![c; len]
        }
        RowKind::Tiny => (0..len)
            .map(|_| (g.sign() * g.log_uniform(-30.0, -8.0)) as f32)
            .collect(),
        RowKind::Subnormal => (0..len)
            .map(|_| {
                // Log-uniform over the bit patterns: down to the smallest subnormals.
                let bits = (2f64.powf(g.range(0.0, 23.0)) as u32).max(1);
                f32::from_bits(bits) * g.sign() as f32
            })
            .collect(),
        RowKind::Huge => {
            let scale = g.log_uniform(8.0, 30.0);
            (0..len).map(|_| clamp_finite(scale * g.normal())).collect()
        }
        RowKind::Alternating => {
            let a = g.log_uniform(-3.0, 3.0);
            let jitter = g.below(2) == 1;
            (0..len)
                .map(|i| {
                    let m = if jitter { a * g.range(0.5, 1.0) } else { a };
                    (if i % 2 == 0 { m } else { -m }) as f32
                })
                .collect()
        }
        RowKind::Sparse => {
            let mut v: Vec<f32> = (0..len)
                .map(|_| if g.next_u64() & 1 == 0 { 0.0 } else { -0.0 })
                .collect();
            for _ in 0..1 + g.below(3) {
                let i = g.below(len);
                let e = g.range(-149.0, 99.0); // 2^-149 .. ~6e29
                v[i] = (g.sign() * 2f64.powf(e)).clamp(-3e30, 3e30) as f32;
                if v[i] == 0.0 {
                    v[i] = f32::from_bits(1);
                }
            }
            v
        }
        RowKind::Ties => {
            const MAXES: [i64; 11] = [1, 3, 4, 7, 8, 15, 16, 31, 32, 63, 127];
            let m = MAXES[g.below(MAXES.len())];
            let scale = 2f64.powi(g.below(17) as i32 - 8);
            let mut v: Vec<f32> = (0..len)
                .map(|_| {
                    let j = g.below((4 * m + 1) as usize) as i64 - 2 * m; // in [-2M, 2M]
                    (j as f64 / 2.0 * scale) as f32
                })
                .collect();
            let i = g.below(len);
            v[i] = (g.sign() * m as f64 * scale) as f32;
            v
        }
    }
}

fn gen_importance(kind: u8, len: usize, g: &mut SplitMix64) -> Vec<f32> {
    match kind {
        0 => (0..len).map(|_| g.unit() as f32).collect(),
        1 => (0..len).map(|_| g.log_uniform(-6.0, 6.0) as f32).collect(),
        2 => (0..len)
            .map(|_| {
                if g.below(8) == 0 {
                    g.log_uniform(-2.0, 2.0) as f32
                } else {
                    0.0
                }
            })
            .collect(),
        _ => vec![0.0; len],
    }
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

fn run_check<S: Strategy>(
    config: &KitConfig,
    format: &'static str,
    check: Check,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Result<(), KitFailure> {
    let mut runner = config.runner();
    runner.run(&strategy, test).map_err(|e| KitFailure {
        format,
        check,
        message: match e {
            TestError::Abort(reason) => format!("aborted: {reason}"),
            TestError::Fail(reason, value) => {
                format!("{reason}\n  failing input: {value:?}")
            }
        },
    })
}

fn fail(msg: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(msg.into())
}

fn max_abs(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Check the dequantized values `y` of the row `x` block by block against
/// [`BlockFormat::max_abs_error`] (see the module documentation for skipped blocks).
fn check_bound<B: BlockFormat>(
    config: &KitConfig,
    x: &[f32],
    y: &[f32],
    what: &str,
) -> Result<(), TestCaseError> {
    if y.len() != x.len() {
        return Err(fail(format!(
            "{what}: {} values dequantized from {} inputs",
            y.len(),
            x.len()
        )));
    }
    for (b, (xs, ys)) in x
        .chunks_exact(B::BLOCK_LEN)
        .zip(y.chunks_exact(B::BLOCK_LEN))
        .enumerate()
    {
        let amax = max_abs(xs);
        if let Some(j) = ys.iter().position(|v| !v.is_finite()) {
            if amax < config.finite_below {
                return Err(fail(format!(
                    "{what}: block {b} (max |x| = {amax:e}) dequantized to non-finite {} at offset {j}",
                    ys[j]
                )));
            }
            continue; // scale overflow: the bound is not promised
        }
        let Some(bound) = B::max_abs_error(xs) else {
            continue;
        };
        if bound.is_nan() || bound < 0.0 {
            return Err(fail(format!(
                "{what}: max_abs_error returned {bound} for block {b}"
            )));
        }
        for (j, (a, r)) in xs.iter().zip(ys).enumerate() {
            let err = (a - r).abs();
            // NaN errors fail too.
            if err.is_nan() || err > bound {
                return Err(fail(format!(
                    "{what}: block {b} value {j}: |{a:e} − {r:e}| = {err:e} exceeds the bound {bound:e} (block max |x| = {amax:e})"
                )));
            }
        }
    }
    Ok(())
}

/// Round-trip error within [`BlockFormat::max_abs_error`] on adversarial rows; non-finite output
/// only for blocks at or above [`KitConfig::finite_below`].
///
/// # Errors
/// A [`KitFailure`] with the failing row.
pub fn check_round_trip_error<B: BlockFormat>(config: &KitConfig) -> Result<(), KitFailure> {
    run_check(
        config,
        B::NAME,
        Check::RoundTripError,
        config.rows::<B>(),
        |x| {
            let q = quantize_row_to_vec::<B>(&x, None)
                .map_err(|e| fail(format!("quantize failed on finite input: {e}")))?;
            let y = dequantize_row_to_vec(&q);
            check_bound::<B>(config, &x, &y, "round trip")
        },
    )
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Quantizing the same row twice gives the same bytes; [`quantize_row`] into a caller buffer
/// agrees with [`quantize_row_to_vec`]; for built-in formats the runtime
/// [`quantize`](crate::quantize) / [`dequantize`](crate::dequantize) agree with the typed
/// functions.
///
/// # Errors
/// A [`KitFailure`] with the failing row.
pub fn check_determinism<B: BlockFormat>(config: &KitConfig) -> Result<(), KitFailure> {
    run_check(
        config,
        B::NAME,
        Check::Determinism,
        config.rows::<B>(),
        |x| {
            let q1 = quantize_row_to_vec::<B>(&x, None).map_err(|e| fail(e.to_string()))?;
            let mut q2 = vec![B::zeroed(); q1.len()];
            quantize_row(&x, None, &mut q2).map_err(|e| fail(e.to_string()))?;
            if blocks_as_bytes(&q1) != blocks_as_bytes(&q2) {
                return Err(fail("two quantizations of the same row differ"));
            }
            let y1 = dequantize_row_to_vec(&q1);
            let mut y2 = vec![0.0; x.len()];
            dequantize_row(&q2, &mut y2).map_err(|e| fail(e.to_string()))?;
            if !same_bits(&y1, &y2) {
                return Err(fail("two dequantizations of the same blocks differ"));
            }
            if let Some(f) = B::FORMAT {
                let rq = crate::quantize(f, &x, None).map_err(|e| fail(e.to_string()))?;
                if rq != blocks_as_bytes(&q1) {
                    return Err(fail(format!(
                        "runtime quantize({f}) differs from the typed one"
                    )));
                }
                let ry = crate::dequantize(f, &rq, x.len()).map_err(|e| fail(e.to_string()))?;
                if !same_bits(&ry, &y1) {
                    return Err(fail(format!(
                        "runtime dequantize({f}) differs from the typed one"
                    )));
                }
            }
            Ok(())
        },
    )
}

/// If `B::REQUANTIZE_STABLE`: quantizing the dequantized row gives back the same blocks (rows with
/// a non-finite dequantized value are skipped). Passes trivially otherwise.
///
/// One exception is allowed: a block whose bytes change but which still dequantizes to exactly
/// the same values (compared with `==`, so `+0.0 == -0.0`). ggml's quantizers compute the quants
/// with the unrounded f32 scale but store the scale rounded to f16 (or an E8M0 exponent); when
/// that scale underflows to zero (values around 1e-9 and below) the stored quants no longer mean
/// anything, every value dequantizes to ±0, and re-quantizing those zeros gives different
/// (canonical) quants for the very same values. Byte-exactness with ggml rules out fixing this
/// in the formats, and the values — what the promise is about — are reproduced.
///
/// # Errors
/// A [`KitFailure`] with the failing row.
pub fn check_requantize_stable<B: BlockFormat>(config: &KitConfig) -> Result<(), KitFailure> {
    if !B::REQUANTIZE_STABLE {
        return Ok(());
    }
    run_check(
        config,
        B::NAME,
        Check::RequantizeStable,
        config.rows::<B>(),
        |x| {
            let q = quantize_row_to_vec::<B>(&x, None).map_err(|e| fail(e.to_string()))?;
            let y = dequantize_row_to_vec(&q);
            if y.iter().any(|v| !v.is_finite()) {
                return Ok(());
            }
            let q2 = quantize_row_to_vec::<B>(&y, None).map_err(|e| fail(e.to_string()))?;
            let y2 = dequantize_row_to_vec(&q2);
            let bl = B::BLOCK_LEN;
            // A block may change its bytes only if it still means exactly the same values.
            let changed = (0..q.len())
                .find(|&b| q[b] != q2[b] && y[b * bl..(b + 1) * bl] != y2[b * bl..(b + 1) * bl]);
            if let Some(b) = changed {
                return Err(fail(format!(
                    "re-quantizing the dequantized row changes block {b}: {:?} -> {:?}",
                    q[b], q2[b]
                )));
            }
            Ok(())
        },
    )
}

/// Arbitrary bytes (any length, any alignment): [`blocks_from_bytes_unaligned`] returns the
/// blocks or [`Error::RaggedBytes`], and dequantizing them never panics; the zero-copy view
/// ([`blocks_from_bytes`]) and, for built-in formats, the runtime
/// [`dequantize`](crate::dequantize) give the same values bit for bit.
///
/// # Errors
/// A [`KitFailure`] with the failing bytes.
pub fn check_arbitrary_bytes<B: BlockFormat>(config: &KitConfig) -> Result<(), KitFailure> {
    let size = B::BLOCK_BYTES;
    let lens = (0..=config.max_blocks, 0..size, any::<bool>())
        .prop_map(move |(n, extra, ragged)| n * size + if ragged { extra } else { 0 });
    let strategy = (
        lens.prop_flat_map(|len| proptest::collection::vec(any::<u8>(), len)),
        0..8usize,
    );
    run_check(
        config,
        B::NAME,
        Check::ArbitraryBytes,
        strategy,
        |(raw, offset)| {
            // Place the bytes at `offset` in a buffer aligned for u64 to vary the alignment.
            let mut storage = vec![0u64; (raw.len() + offset).div_ceil(8) + 1];
            let buf: &mut [u8] = bytemuck::cast_slice_mut(&mut storage);
            buf[offset..offset + raw.len()].copy_from_slice(&raw);
            let bytes = &buf[offset..offset + raw.len()];
            let blocks = match blocks_from_bytes_unaligned::<B>(bytes) {
                Ok(b) => b,
                Err(Error::RaggedBytes { len, block_bytes })
                    if len == raw.len() && block_bytes == size && len % size != 0 =>
                {
                    return Ok(());
                }
                Err(e) => return Err(fail(format!("unexpected error {e:?}"))),
            };
            if blocks.len() * size != raw.len() {
                return Err(fail("wrong number of blocks"));
            }
            let y = dequantize_row_to_vec(&blocks);
            if y.len() != blocks.len() * B::BLOCK_LEN {
                return Err(fail("wrong number of dequantized values"));
            }
            match blocks_from_bytes::<B>(bytes) {
                Ok(view) => {
                    if !same_bits(&dequantize_row_to_vec(view), &y) {
                        return Err(fail("zero-copy view dequantizes differently"));
                    }
                }
                Err(Error::Misaligned { align }) if align == core::mem::align_of::<B>() => {}
                Err(e) => return Err(fail(format!("unexpected view error {e:?}"))),
            }
            if let Some(f) = B::FORMAT {
                let ry = crate::dequantize(f, bytes, y.len()).map_err(|e| fail(e.to_string()))?;
                if !same_bits(&ry, &y) {
                    return Err(fail(format!("runtime dequantize({f}) differs")));
                }
            }
            Ok(())
        },
    )
}

fn expect_err<T: fmt::Debug>(
    got: Result<T, Error>,
    ok: impl Fn(&Error) -> bool,
    what: &str,
) -> Result<(), TestCaseError> {
    match got {
        Err(e) if ok(&e) => Ok(()),
        other => Err(fail(format!("{what}: got {other:?}"))),
    }
}

/// A bad value for the input-error check.
fn bad_value(k: u8) -> f32 {
    match k % 3 {
        0 => f32::NAN,
        1 => f32::INFINITY,
        _ => f32::NEG_INFINITY,
    }
}

/// Typed errors: NaN/±inf → [`Error::NonFinite`] naming the first offending index and value;
/// a ragged row → [`Error::RaggedLength`]; importance weights of the wrong length →
/// [`Error::LengthMismatch`], negative or non-finite ones → [`Error::InvalidImportance`]; a
/// destination of the wrong size → [`Error::LengthMismatch`]; ragged bytes →
/// [`Error::RaggedBytes`]; a misaligned zero-copy view → [`Error::Misaligned`] (when the block's
/// alignment exceeds 1). Built-in formats are also checked through the runtime API.
///
/// # Errors
/// A [`KitFailure`] with the failing case.
pub fn check_input_errors<B: BlockFormat>(config: &KitConfig) -> Result<(), KitFailure> {
    let bl = B::BLOCK_LEN;
    let strategy = (
        config.rows::<B>(),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<u8>(),
        1..bl.max(2),
    );
    run_check(
        config,
        B::NAME,
        Check::InputErrors,
        strategy,
        |(x, i1, i2, k1, k2, ragged)| {
            let n = x.len();
            // Non-finite values: the first one is reported.
            let (a, b) = (i1.index(n), i2.index(n));
            let (first, second) = (a.min(b), a.max(b));
            let mut bad = x.clone();
            bad[second] = bad_value(k2);
            bad[first] = bad_value(k1);
            let v = bad[first];
            let is_first = |e: &Error| {
                matches!(e, Error::NonFinite { index, value }
                    if *index == first && value.to_bits() == v.to_bits())
            };
            expect_err(
                quantize_row_to_vec::<B>(&bad, None),
                is_first,
                "non-finite input",
            )?;
            let mut dst = vec![B::zeroed(); n / bl];
            expect_err(
                quantize_row(&bad, None, &mut dst),
                is_first,
                "non-finite input (into)",
            )?;
            if let Some(f) = B::FORMAT {
                expect_err(
                    crate::quantize(f, &bad, None),
                    is_first,
                    "runtime non-finite input",
                )?;
            }
            // Ragged row.
            if bl > 1 {
                let r = &x[..n - ragged];
                let is_ragged = |e: &Error| matches!(e, Error::RaggedLength { len, block_len } if *len == r.len() && *block_len == bl);
                expect_err(quantize_row_to_vec::<B>(r, None), is_ragged, "ragged row")?;
                if let Some(f) = B::FORMAT {
                    expect_err(crate::quantize(f, r, None), is_ragged, "runtime ragged row")?;
                    expect_err(
                        crate::dequantize(f, &[], r.len()),
                        is_ragged,
                        "runtime ragged dequantize",
                    )?;
                }
            }
            // Importance weights.
            let short = vec![1.0f32; n - 1];
            expect_err(
                quantize_row_to_vec::<B>(&x, Some(&short)),
                |e| matches!(e, Error::LengthMismatch { expected, actual, .. } if *expected == n && *actual == n - 1),
                "importance of the wrong length",
            )?;
            let mut w = vec![1.0f32; n];
            w[a] = if k1 % 2 == 0 { -1.0 } else { f32::NAN };
            expect_err(
                quantize_row_to_vec::<B>(&x, Some(&w)),
                |e| matches!(e, Error::InvalidImportance { index, .. } if *index == a),
                "invalid importance",
            )?;
            // Destination sizes.
            let mut big = vec![B::zeroed(); n / bl + 1];
            expect_err(
                quantize_row(&x, None, &mut big),
                |e| matches!(e, Error::LengthMismatch { expected, actual, .. } if *expected == n / bl && *actual == n / bl + 1),
                "destination of the wrong size",
            )?;
            let q = quantize_row_to_vec::<B>(&x, None).map_err(|e| fail(e.to_string()))?;
            let mut short_out = vec![0.0f32; n - 1];
            expect_err(
                dequantize_row(&q, &mut short_out),
                |e| matches!(e, Error::LengthMismatch { expected, actual, .. } if *expected == n && *actual == n - 1),
                "dequantize destination of the wrong size",
            )?;
            // Byte views.
            let bytes = blocks_as_bytes(&q);
            let cut = &bytes[..bytes.len() - 1];
            let is_ragged_bytes = |e: &Error| matches!(e, Error::RaggedBytes { len, block_bytes } if *len == cut.len() && *block_bytes == B::BLOCK_BYTES);
            expect_err(
                blocks_from_bytes::<B>(cut),
                is_ragged_bytes,
                "ragged bytes (view)",
            )?;
            expect_err(
                blocks_from_bytes_unaligned::<B>(cut),
                is_ragged_bytes,
                "ragged bytes (copy)",
            )?;
            let mut cut_mut = cut.to_vec();
            expect_err(
                blocks_from_bytes_mut::<B>(&mut cut_mut),
                is_ragged_bytes,
                "ragged bytes (mut view)",
            )?;
            if let Some(f) = B::FORMAT {
                expect_err(
                    crate::dequantize(f, cut, n),
                    |e| matches!(e, Error::LengthMismatch { expected, actual, .. } if *expected == bytes.len() && *actual == cut.len()),
                    "runtime dequantize of too few bytes",
                )?;
            }
            let align = core::mem::align_of::<B>();
            let mut padded = q.clone();
            padded.push(B::zeroed());
            let shifted = &blocks_as_bytes(&padded)[1..=bytes.len()];
            if align > 1 {
                expect_err(
                    blocks_from_bytes::<B>(shifted),
                    |e| matches!(e, Error::Misaligned { align: a } if *a == align),
                    "misaligned view",
                )?;
                let mut copy = vec![0u64; bytes.len().div_ceil(8) + 1];
                let cb: &mut [u8] = bytemuck::cast_slice_mut(&mut copy);
                cb[1..=bytes.len()].copy_from_slice(bytes);
                expect_err(
                    blocks_from_bytes_mut::<B>(&mut cb[1..=bytes.len()]),
                    |e| matches!(e, Error::Misaligned { align: a } if *a == align),
                    "misaligned mutable view",
                )?;
            }
            let copied =
                blocks_from_bytes_unaligned::<B>(shifted).map_err(|e| fail(e.to_string()))?;
            if blocks_as_bytes(&copied) != &blocks_as_bytes(&padded)[1..=bytes.len()] {
                return Err(fail("unaligned copy changed the bytes"));
            }
            Ok(())
        },
    )
}

/// If `B::USES_IMPORTANCE`: with random non-negative importance weights (uniform, 12 decades,
/// sparse, all zero) the [`BlockFormat::max_abs_error`] bound still holds. Otherwise the weights
/// must not change the bytes (the format ignores them).
///
/// # Errors
/// A [`KitFailure`] with the failing row and weights.
pub fn check_importance<B: BlockFormat>(config: &KitConfig) -> Result<(), KitFailure> {
    let strategy = config.rows::<B>().prop_flat_map(|x| {
        let n = x.len();
        (Just(x), importance_weights(n))
    });
    run_check(config, B::NAME, Check::Importance, strategy, |(x, w)| {
        let q = quantize_row_to_vec::<B>(&x, Some(&w)).map_err(|e| fail(e.to_string()))?;
        if B::USES_IMPORTANCE {
            let y = dequantize_row_to_vec(&q);
            check_bound::<B>(config, &x, &y, "with importance")
        } else {
            let plain = quantize_row_to_vec::<B>(&x, None).map_err(|e| fail(e.to_string()))?;
            if blocks_as_bytes(&plain) != blocks_as_bytes(&q) {
                return Err(fail(
                    "USES_IMPORTANCE is false but importance weights change the bytes",
                ));
            }
            Ok(())
        }
    })
}

/// The composite "base format `B` + outlier table" ([`quantize_blocks_with_outliers`], and for
/// built-in formats [`quantize_with_outliers`], which must give the same bytes, table and values)
/// on adversarial rows with 0–3 planted outliers (10–1000× the row's largest magnitude), under
/// a random policy (the planted positions, the top 1–4 of the row, > 3σ of the row, > 3σ of the
/// block). With `x` the row, `y` the composite's values and `f` a block with its kept positions
/// replaced by the mean of its other values (what the base format quantizes):
///
/// 1. every kept weight round-trips exactly in its precision: `y = precision.round(x)`, bit for
///    bit (f32: `x` itself; f16/bf16: round to nearest even); a kept value that overflows the
///    precision (f16 above 65504) is [`OutlierError::NonFinite`] instead;
/// 2. every other weight is within `B::max_abs_error(f)`: the bound of the block *without* its
///    outliers (the point of the table: the scale no longer sees them);
/// 3. every weight, kept or not, is within `B::max_abs_error(x_block)`, the plain format's bound:
///    a table never makes a block worse. This needs the precision's rounding (2⁻²⁴, 2⁻¹¹, 2⁻⁸
///    relative for f32, f16, bf16) to be within the plain bound: use f32 values for formats
///    finer than the table's precision (f32 and f16 themselves). Kept values below f16's normal
///    range (|x| < 2⁻¹⁴ ≈ 6.1e-5) with f16 values are exempt: f16 keeps them only to 2⁻²⁵
///    absolute (subnormals; below 2⁻²⁵ they become 0), which can exceed the bound of a block of
///    tiny values. They still pass check 1 (they are what f16 stores); keep weights that small in
///    f32 or bf16, or not at all.
///
/// Blocks whose output is non-finite are skipped as in [`check_round_trip_error`] (only at or
/// above [`KitConfig::finite_below`]).
///
/// ```
/// use quant_core::formats::BlockQ4_0;
/// use quant_core::outlier::ValuePrecision;
/// use quant_core::testing::{check_with_outliers, KitConfig};
///
/// check_with_outliers::<BlockQ4_0>(&KitConfig::default().with_cases(8), ValuePrecision::F16).unwrap();
/// ```
///
/// # Errors
/// A [`KitFailure`] with the failing row, planted outliers and policy.
pub fn check_with_outliers<B: BlockFormat>(
    config: &KitConfig,
    precision: ValuePrecision,
) -> Result<(), KitFailure> {
    let planted = proptest::collection::vec(
        (any::<prop::sample::Index>(), 1.0f64..3.0, any::<bool>()),
        0..=3,
    );
    let strategy = (config.rows::<B>(), planted, 0..4u8, 1..=4usize);
    run_check(
        config,
        B::NAME,
        Check::WithOutliers,
        strategy,
        |(mut x, planted, p, k)| {
            let n = x.len();
            let bl = B::BLOCK_LEN;
            let amax = f64::from(max_abs(&x)).max(1e-3);
            let mut spots = Vec::new();
            for (i, e, neg) in &planted {
                let v = amax * 10f64.powf(*e);
                x[i.index(n)] = clamp_finite(if *neg { -v } else { v });
                spots.push((0, i.index(n)));
            }
            let policy = match p {
                0 => OutlierPolicy::Explicit(spots),
                1 => OutlierPolicy::TopKPerRow(k),
                2 if n > 1 => OutlierPolicy::SigmaRow(3.0),
                3 if bl > 1 => OutlierPolicy::SigmaBlock {
                    k: 3.0,
                    block_len: bl,
                },
                _ => OutlierPolicy::TopKPerRow(k),
            };
            let what = format!("{policy:?}, {precision:?}");
            let kept = select_outliers(&x, 1, n, None, &policy)
                .map_err(|e| fail(format!("{what}: selection failed: {e}")))?;
            let composite = quantize_blocks_with_outliers::<B>(&x, 1, n, None, &policy, precision);
            if let Some(&(_, c)) = kept
                .iter()
                .find(|&&(_, c)| !precision.round(x[c]).is_finite())
            {
                return match composite {
                    Err(OutlierError::NonFinite { col, .. }) if col == c => Ok(()),
                    Err(OutlierError::NonFinite { .. }) if kept.len() > 1 => Ok(()),
                    other => Err(fail(format!(
                        "{what}: kept x[{c}] = {:e} overflows the precision: expected NonFinite, got {other:?}",
                        x[c]
                    ))),
                };
            }
            let (blocks, table) =
                composite.map_err(|e| fail(format!("{what}: quantize failed: {e}")))?;
            let positions: Vec<(usize, usize)> = table.entries().map(|(r, c, _)| (r, c)).collect();
            if positions != kept {
                return Err(fail(format!(
                    "{what}: table holds {positions:?}, the policy selects {kept:?}"
                )));
            }
            let y = dequantize_blocks_with_outliers(&blocks, &table)
                .map_err(|e| fail(format!("{what}: dequantize failed: {e}")))?;
            if let Some(f) = B::FORMAT {
                let q = quantize_with_outliers(f, &x, 1, n, None, &policy, precision)
                    .map_err(|e| fail(format!("{what}: runtime quantize failed: {e}")))?;
                if q.blocks != blocks_as_bytes(&blocks) || q.table != table {
                    return Err(fail(format!(
                        "{what}: quantize_with_outliers({f}) differs from the typed one"
                    )));
                }
                let ry = dequantize_with_outliers(&q).map_err(|e| fail(e.to_string()))?;
                if !same_bits(&ry, &y) {
                    return Err(fail(format!(
                        "{what}: dequantize_with_outliers({f}) differs from the typed one"
                    )));
                }
            }
            let plain = quantize_row_to_vec::<B>(&x, None).map_err(|e| fail(e.to_string()))?;
            let plain = dequantize_row_to_vec(&plain);
            let is_kept = |j: usize| kept.binary_search(&(0, j)).is_ok();
            for (b, (xs, ys)) in x.chunks_exact(bl).zip(y.chunks_exact(bl)).enumerate() {
                let at = |j: usize| b * bl + j;
                // 1. Kept weights: exact in their precision.
                for j in (0..bl).filter(|&j| is_kept(at(j))) {
                    let want = precision.round(xs[j]);
                    if ys[j].to_bits() != want.to_bits() {
                        return Err(fail(format!(
                            "{what}: kept x[{}] = {:e} came back as {:e}, not {want:e}",
                            at(j),
                            xs[j],
                            ys[j]
                        )));
                    }
                }
                // The block the base format quantized: kept positions → mean of the others.
                let others: Vec<f64> = (0..bl)
                    .filter(|&j| !is_kept(at(j)))
                    .map(|j| f64::from(xs[j]))
                    .collect();
                let fill = if others.is_empty() {
                    0.0
                } else {
                    (others.iter().sum::<f64>() / others.len() as f64) as f32
                };
                let filled: Vec<f32> = (0..bl)
                    .map(|j| if is_kept(at(j)) { fill } else { xs[j] })
                    .collect();
                let famax = max_abs(&filled);
                if let Some(j) = (0..bl).find(|&j| !ys[j].is_finite()) {
                    if famax < config.finite_below {
                        return Err(fail(format!(
                            "{what}: block {b} without its outliers (max |x| = {famax:e}) dequantized to non-finite {} at offset {j}",
                            ys[j]
                        )));
                    }
                    continue;
                }
                // 2. The others: within the bound of the block without its outliers.
                if let Some(bound) = B::max_abs_error(&filled) {
                    for j in (0..bl).filter(|&j| !is_kept(at(j))) {
                        let err = (xs[j] - ys[j]).abs();
                        if err.is_nan() || err > bound {
                            return Err(fail(format!(
                                "{what}: block {b} value {j}: |{:e} − {:e}| = {err:e} exceeds the bound {bound:e} of the block without its outliers (max |x| = {famax:e})",
                                xs[j], ys[j]
                            )));
                        }
                    }
                }
                // 3. Everything: within the plain format's bound (where the plain block is
                // finite; its overflow is covered by `check_round_trip_error`).
                let pys = &plain[b * bl..(b + 1) * bl];
                if pys.iter().any(|v| !v.is_finite()) {
                    continue;
                }
                let f16_subnormal = |v: f32| {
                    precision == ValuePrecision::F16 && v.abs() < half::f16::MIN_POSITIVE.to_f32()
                };
                if let Some(bound) = B::max_abs_error(xs) {
                    for j in (0..bl).filter(|&j| !(is_kept(at(j)) && f16_subnormal(xs[j]))) {
                        let err = (xs[j] - ys[j]).abs();
                        if err.is_nan() || err > bound {
                            return Err(fail(format!(
                                "{what}: block {b} value {j}{}: |{:e} − {:e}| = {err:e} exceeds the plain format's bound {bound:e}",
                                if is_kept(at(j)) { " (kept)" } else { "" },
                                xs[j],
                                ys[j]
                            )));
                        }
                    }
                }
            }
            Ok(())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_finite_and_sized() {
        for kind in RowKind::ALL {
            for seed in 0..50 {
                let v = kind.generate(32, seed);
                assert_eq!(v.len(), 32);
                assert!(v.iter().all(|x| x.is_finite()), "{kind:?}");
                assert_eq!(v, kind.generate(32, seed), "deterministic");
            }
        }
        let tiny = RowKind::Tiny.generate(64, 1);
        assert!(tiny.iter().all(|x| (1e-30..=1e-8).contains(&x.abs())));
        let sub = RowKind::Subnormal.generate(64, 1);
        assert!(sub.iter().all(|x| x.is_subnormal()));
        let zeros = RowKind::Zeros.generate(64, 3);
        assert!(zeros.iter().all(|x| *x == 0.0));
        assert!(zeros.iter().any(|x| x.is_sign_negative()));
        // Ties: every value is a half-integer multiple of a power of two.
        for seed in 0..20 {
            let t = RowKind::Ties.generate(32, seed);
            let amax = max_abs(&t);
            assert!(t.iter().any(|x| x.abs() == amax));
        }
    }

    /// A deliberately broken format: the kit must catch it.
    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Broken {
        d: f32,
        q: [i8; 4],
    }

    impl BlockFormat for Broken {
        const NAME: &'static str = "broken";
        const BLOCK_LEN: usize = 4;
        const REQUANTIZE_STABLE: bool = true;
        fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
            for (x, b) in src.chunks_exact(4).zip(dst) {
                let amax = max_abs(x);
                b.d = amax / 100.0; // claims 127 levels below
                for (q, v) in b.q.iter_mut().zip(x) {
                    *q = (v / b.d) as i8; // truncates; 0/0 = NaN → 0
                }
            }
        }
        fn dequantize_block(&self, dst: &mut [f32]) {
            for (o, q) in dst.iter_mut().zip(self.q) {
                *o = self.d * f32::from(q);
            }
        }
        fn max_abs_error(src: &[f32]) -> Option<f32> {
            Some(max_abs(src) / 254.0)
        }
    }

    #[test]
    fn kit_catches_a_broken_format() {
        let config = KitConfig::default().with_cases(32).with_seed(7);
        let report = check_format::<Broken>(&config).unwrap_err();
        let failed: Vec<Check> = report.failures.iter().map(|f| f.check).collect();
        assert!(failed.contains(&Check::RoundTripError), "{report}");
        assert!(failed.contains(&Check::RequantizeStable), "{report}");
        assert!(!failed.contains(&Check::InputErrors), "{report}");
        assert!(!failed.contains(&Check::ArbitraryBytes), "{report}");
    }
}

/// `docs/custom-formats.md`, compiled and run as doc tests so that the guide's code stays valid.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/custom-formats.md")]
pub struct CustomFormatsGuide;
