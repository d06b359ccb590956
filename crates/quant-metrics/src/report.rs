//! The aggregate KL-divergence report, llama.cpp's statistics and its text layout.

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::compare::TokenComparison;
use crate::stats::{
    CompensatedSum, Estimate, covariance_of_means, mean_and_uncertainty, median_sorted_f32,
    percentile_sorted_f32, sort_f32,
};

/// The percentiles computed for the KLD and Δp distributions, as llama.cpp's f32 fractions.
pub const PERCENTILE_FRACTIONS: [f32; 10] = [
    0.999, 0.990, 0.950, 0.900, 0.750, 0.250, 0.100, 0.050, 0.010, 0.001,
];

/// llama.cpp prints no distribution statistics below this many tokens.
pub const LLAMA_CPP_MIN_TOKENS_FOR_STATISTICS: usize = 100;

/// One percentile of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentile {
    /// The percentile in percent (e.g. `99.9`).
    pub percent: f64,
    /// Its value, by llama.cpp's interpolation over the sorted f32 values.
    pub value: f64,
}

/// Order statistics of per-token values (computed as llama.cpp does: over f32 values).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// Smallest value.
    pub minimum: f64,
    /// Largest value.
    pub maximum: f64,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// The percentiles of [`PERCENTILE_FRACTIONS`], highest first.
    pub percentiles: Vec<Percentile>,
}

impl Distribution {
    /// Computes the order statistics of `values` (any order). `None` when empty.
    #[must_use]
    pub fn from_values(values: &[f32]) -> Option<Self> {
        let mut sorted = values.to_vec();
        sort_f32(&mut sorted);
        Self::from_sorted(&sorted)
    }

    fn from_sorted(sorted: &[f32]) -> Option<Self> {
        let percentiles = PERCENTILE_FRACTIONS
            .iter()
            .map(|&f| {
                Some(Percentile {
                    percent: (f64::from(f) * 1000.0).round() / 10.0,
                    value: f64::from(percentile_sorted_f32(sorted, f)?),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            minimum: f64::from(*sorted.first()?),
            maximum: f64::from(*sorted.last()?),
            median: f64::from(median_sorted_f32(sorted)?),
            percentiles,
        })
    }

    /// The value of a computed percentile (`percent` as in [`Percentile::percent`], e.g. `99.0`).
    #[must_use]
    pub fn percentile(&self, percent: f64) -> Option<f64> {
        self.percentiles
            .iter()
            .find(|p| (p.percent - percent).abs() < 1e-9)
            .map(|p| p.value)
    }
}

/// One line of llama.cpp's per-chunk table: cumulative statistics after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChunkRow {
    /// 1-based chunk number.
    pub chunk: usize,
    /// Tokens accumulated so far.
    pub n_tokens: usize,
    /// PPL(Q) so far.
    pub ppl_quant: Estimate,
    /// Mean ln(PPL(Q)/PPL(base)) so far.
    pub ln_ppl_ratio: Estimate,
    /// Mean KLD so far.
    pub kld: Estimate,
    /// RMS Δp so far (a fraction, not percent).
    pub rms_delta_p: Estimate,
    /// Same-top fraction so far.
    pub same_top: Estimate,
}

/// The full comparison report: every statistic llama.cpp prints in KL-divergence mode (same
/// formulas and uncertainties), plus reverse KL, JSD and top-k overlaps. Probabilities are
/// fractions (llama.cpp prints them ×100).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KldReport {
    /// Number of scored tokens.
    pub n_tokens: usize,
    /// Mean PPL(Q) = exp(mean NLL of the quantized model), ± PPL × standard error of the mean NLL.
    pub ppl_quant: Estimate,
    /// Mean PPL(base).
    pub ppl_base: Estimate,
    /// Cor(ln PPL(Q), ln PPL(base)) as llama.cpp estimates it: covariance of the means divided by
    /// the product of their standard errors (a fraction; 0 when undefined).
    pub cor_ln_ppl: f64,
    /// Mean ln(PPL(Q)/PPL(base)) ± sqrt(σ_Q² + σ_b² − 2·cov).
    pub ln_ppl_ratio: Estimate,
    /// PPL(Q)/PPL(base).
    pub ppl_ratio: Estimate,
    /// PPL(Q) − PPL(base).
    pub ppl_diff: Estimate,
    /// Mean KL(base ‖ quant), nats.
    pub kld: Estimate,
    /// KLD order statistics (`None` without tokens).
    pub kld_distribution: Option<Distribution>,
    /// Mean Δp.
    pub delta_p: Estimate,
    /// Δp order statistics.
    pub delta_p_distribution: Option<Distribution>,
    /// RMS Δp ± `0.5/RMS · unc(mean Δp²)`.
    pub rms_delta_p: Estimate,
    /// Fraction of tokens whose most likely token is the same, ± sqrt(p(1−p)/(N−1)).
    pub same_top: Estimate,
    /// Mean KL(quant ‖ base) (not printed by llama.cpp).
    pub reverse_kld: Estimate,
    /// Mean Jensen–Shannon divergence (not printed by llama.cpp).
    pub jsd: Estimate,
    /// Mean top-5 overlap fraction (not printed by llama.cpp).
    pub top5_overlap: Estimate,
    /// Mean top-10 overlap fraction (not printed by llama.cpp).
    pub top10_overlap: Estimate,
    /// The per-chunk table (cumulative), one row per [`KldAccumulator::end_chunk`].
    pub per_chunk: Vec<ChunkRow>,
    /// Per-token KLD, in push order.
    pub per_token_kld: Vec<f64>,
    /// Per-token Δp, in push order.
    pub per_token_delta_p: Vec<f64>,
}

/// Streaming accumulator of per-token comparisons: O(1) state plus two f32 and two f64 values
/// per token for the order statistics. Push tokens in a fixed order (the results depend only on
/// that order, not on how or by how many threads the comparisons were computed); all sums are
/// Neumaier-compensated f64.
///
/// # Examples
/// ```
/// use quant_metrics::{KldAccumulator, compare_logits};
/// let mut acc = KldAccumulator::new();
/// acc.push(&compare_logits(&[1.0, 0.0], &[1.0, 0.1], 0)?);
/// acc.end_chunk();
/// let report = acc.finish();
/// assert_eq!(report.n_tokens, 1);
/// assert!(report.kld.value > 0.0);
/// # Ok::<(), quant_metrics::MetricsError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct KldAccumulator {
    count: usize,
    nll: CompensatedSum,
    nll2: CompensatedSum,
    nll_base: CompensatedSum,
    nll_base2: CompensatedSum,
    nll_nll_base: CompensatedSum,
    kld: CompensatedSum,
    kld2: CompensatedSum,
    dp: CompensatedSum,
    dp2: CompensatedSum,
    dp4: CompensatedSum,
    rkld: CompensatedSum,
    rkld2: CompensatedSum,
    jsd: CompensatedSum,
    jsd2: CompensatedSum,
    top5: CompensatedSum,
    top5_2: CompensatedSum,
    top10: CompensatedSum,
    top10_2: CompensatedSum,
    n_same_top: usize,
    kld_values: Vec<f64>,
    dp_values: Vec<f64>,
    per_chunk: Vec<ChunkRow>,
}

impl KldAccumulator {
    /// An empty accumulator.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tokens pushed.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count
    }

    /// Adds one token's comparison.
    pub fn push(&mut self, c: &TokenComparison) {
        fn add2(s: &mut CompensatedSum, s2: &mut CompensatedSum, x: f64) {
            s.add(x);
            s2.add(x * x);
        }
        self.count += 1;
        add2(&mut self.nll, &mut self.nll2, c.nll_quant);
        add2(&mut self.nll_base, &mut self.nll_base2, c.nll_base);
        self.nll_nll_base.add(c.nll_quant * c.nll_base);
        add2(&mut self.kld, &mut self.kld2, c.kld);
        let dp2 = c.delta_p * c.delta_p;
        self.dp.add(c.delta_p);
        self.dp2.add(dp2);
        self.dp4.add(dp2 * dp2);
        add2(&mut self.rkld, &mut self.rkld2, c.reverse_kld);
        add2(&mut self.jsd, &mut self.jsd2, c.jsd);
        add2(&mut self.top5, &mut self.top5_2, c.top5_overlap());
        add2(&mut self.top10, &mut self.top10_2, c.top10_overlap());
        self.n_same_top += usize::from(c.same_top());
        self.kld_values.push(c.kld);
        self.dp_values.push(c.delta_p);
    }

    /// Adds comparisons in slice order.
    pub fn extend<'a>(&mut self, items: impl IntoIterator<Item = &'a TokenComparison>) {
        for c in items {
            self.push(c);
        }
    }

    fn mu(&self, s: &CompensatedSum, s2: &CompensatedSum) -> Estimate {
        mean_and_uncertainty(s.value(), s2.value(), self.count)
    }

    fn log_ppl(&self) -> (Estimate, Estimate, f64) {
        let q = self.mu(&self.nll, &self.nll2);
        let b = self.mu(&self.nll_base, &self.nll_base2);
        let cov = covariance_of_means(
            self.nll.value(),
            self.nll_base.value(),
            self.nll_nll_base.value(),
            self.count,
        );
        (q, b, cov)
    }

    fn ln_ratio(q: Estimate, b: Estimate, cov: f64) -> Estimate {
        let var = q.uncertainty * q.uncertainty + b.uncertainty * b.uncertainty - 2.0 * cov;
        Estimate {
            value: q.value - b.value,
            uncertainty: var.max(0.0).sqrt(),
        }
    }

    fn rms_dp(&self) -> Estimate {
        let mse = mean_and_uncertainty(self.dp2.value(), self.dp4.value(), self.count);
        let rms = mse.value.max(0.0).sqrt();
        Estimate {
            value: rms,
            uncertainty: if rms > 0.0 {
                0.5 / rms * mse.uncertainty
            } else {
                0.0
            },
        }
    }

    fn same_top(&self) -> Estimate {
        if self.count == 0 {
            return Estimate::default();
        }
        let p = self.n_same_top as f64 / self.count as f64;
        let unc = if self.count > 1 {
            (p * (1.0 - p) / (self.count as f64 - 1.0)).max(0.0).sqrt()
        } else {
            0.0
        };
        Estimate {
            value: p,
            uncertainty: unc,
        }
    }

    /// The cumulative statistics so far, as a row of llama.cpp's per-chunk table.
    #[must_use]
    pub fn chunk_row(&self, chunk: usize) -> ChunkRow {
        let (q, b, cov) = self.log_ppl();
        let ppl = q.value.exp();
        ChunkRow {
            chunk,
            n_tokens: self.count,
            ppl_quant: Estimate {
                value: ppl,
                uncertainty: ppl * q.uncertainty,
            },
            ln_ppl_ratio: Self::ln_ratio(q, b, cov),
            kld: self.mu(&self.kld, &self.kld2),
            rms_delta_p: self.rms_dp(),
            same_top: self.same_top(),
        }
    }

    /// Marks the end of a chunk: records the cumulative row of the per-chunk table.
    pub fn end_chunk(&mut self) {
        let row = self.chunk_row(self.per_chunk.len() + 1);
        self.per_chunk.push(row);
    }

    /// Computes the report.
    #[must_use]
    pub fn finish(self) -> KldReport {
        let (q, b, cov) = self.log_ppl();
        let ppl_q = q.value.exp();
        let ppl_b = b.value.exp();
        let ppl_quant = Estimate {
            value: ppl_q,
            uncertainty: ppl_q * q.uncertainty,
        };
        let ppl_base = Estimate {
            value: ppl_b,
            uncertainty: ppl_b * b.uncertainty,
        };
        let denom = q.uncertainty * b.uncertainty;
        let cor_ln_ppl = if denom > 0.0 { cov / denom } else { 0.0 };
        let ln_ppl_ratio = Self::ln_ratio(q, b, cov);
        let ratio = ln_ppl_ratio.value.exp();
        let ppl_ratio = Estimate {
            value: ratio,
            uncertainty: ratio * ln_ppl_ratio.uncertainty,
        };
        let ppl_cov = ppl_q * ppl_b * cov;
        let diff_var = ppl_quant.uncertainty * ppl_quant.uncertainty
            + ppl_base.uncertainty * ppl_base.uncertainty
            - 2.0 * ppl_cov;
        let ppl_diff = Estimate {
            value: ppl_q - ppl_b,
            uncertainty: diff_var.max(0.0).sqrt(),
        };
        // llama.cpp keeps per-token KLD and Δp as f32 for its order statistics.
        let to_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        KldReport {
            n_tokens: self.count,
            ppl_quant,
            ppl_base,
            cor_ln_ppl,
            ln_ppl_ratio,
            ppl_ratio,
            ppl_diff,
            kld: self.mu(&self.kld, &self.kld2),
            kld_distribution: Distribution::from_values(&to_f32(&self.kld_values)),
            delta_p: self.mu(&self.dp, &self.dp2),
            delta_p_distribution: Distribution::from_values(&to_f32(&self.dp_values)),
            rms_delta_p: self.rms_dp(),
            same_top: self.same_top(),
            reverse_kld: self.mu(&self.rkld, &self.rkld2),
            jsd: self.mu(&self.jsd, &self.jsd2),
            top5_overlap: self.mu(&self.top5, &self.top5_2),
            top10_overlap: self.mu(&self.top10, &self.top10_2),
            per_chunk: self.per_chunk,
            per_token_kld: self.kld_values,
            per_token_delta_p: self.dp_values,
        }
    }
}

impl KldReport {
    /// The report in llama.cpp's `--kl-divergence` layout: the per-chunk table, then (from 100
    /// tokens on, as llama.cpp) the perplexity, KL-divergence and token-probability sections,
    /// number for number in llama.cpp's printf formats, so existing log parsers work.
    #[must_use]
    pub fn to_llama_cpp_string(&self) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_llama_cpp(&mut s);
        s
    }

    fn write_llama_cpp(&self, s: &mut String) -> fmt::Result {
        writeln!(s)?;
        writeln!(
            s,
            "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p"
        )?;
        for r in &self.per_chunk {
            writeln!(
                s,
                "{:4}    {:9.4} ± {:9.4}    {:10.5} ± {:10.5}    {:10.5} ± {:10.5}    {:6.3} ± {:6.3} %    {:6.3} ± {:6.3} %",
                r.chunk,
                r.ppl_quant.value,
                r.ppl_quant.uncertainty,
                r.ln_ppl_ratio.value,
                r.ln_ppl_ratio.uncertainty,
                r.kld.value,
                r.kld.uncertainty,
                100.0 * r.rms_delta_p.value,
                100.0 * r.rms_delta_p.uncertainty,
                100.0 * r.same_top.value,
                100.0 * r.same_top.uncertainty,
            )?;
        }
        writeln!(s)?;
        let (Some(kd), Some(dd)) = (&self.kld_distribution, &self.delta_p_distribution) else {
            return Ok(());
        };
        if self.n_tokens < LLAMA_CPP_MIN_TOKENS_FOR_STATISTICS {
            return Ok(());
        }
        let e = |x: &Estimate| (x.value, x.uncertainty);
        writeln!(s, "====== Perplexity statistics ======")?;
        let (v, u) = e(&self.ppl_quant);
        writeln!(s, "Mean PPL(Q)                   : {v:10.6} ± {u:10.6}")?;
        let (v, u) = e(&self.ppl_base);
        writeln!(s, "Mean PPL(base)                : {v:10.6} ± {u:10.6}")?;
        writeln!(
            s,
            "Cor(ln(PPL(Q)), ln(PPL(base))): {:6.2}%",
            100.0 * self.cor_ln_ppl
        )?;
        let (v, u) = e(&self.ln_ppl_ratio);
        writeln!(s, "Mean ln(PPL(Q)/PPL(base))     : {v:10.6} ± {u:10.6}")?;
        let (v, u) = e(&self.ppl_ratio);
        writeln!(s, "Mean PPL(Q)/PPL(base)         : {v:10.6} ± {u:10.6}")?;
        let (v, u) = e(&self.ppl_diff);
        writeln!(s, "Mean PPL(Q)-PPL(base)         : {v:10.6} ± {u:10.6}")?;
        writeln!(s)?;
        writeln!(s, "====== KL divergence statistics ======")?;
        let (v, u) = e(&self.kld);
        writeln!(s, "Mean    KLD: {v:10.6} ± {u:10.6}")?;
        let p = |d: &Distribution, pc: f64| d.percentile(pc).unwrap_or(f64::NAN);
        writeln!(s, "Maximum KLD: {:10.6}", kd.maximum)?;
        for pc in [99.9, 99.0, 95.0, 90.0] {
            writeln!(s, "{pc:4.1}%   KLD: {:10.6}", p(kd, pc))?;
        }
        writeln!(s, "Median  KLD: {:10.6}", kd.median)?;
        for pc in [10.0, 5.0, 1.0, 0.1] {
            writeln!(s, "{pc:4.1}%   KLD: {:10.6}", p(kd, pc))?;
        }
        writeln!(s, "Minimum KLD: {:10.6}", kd.minimum)?;
        writeln!(s)?;
        writeln!(s, "====== Token probability statistics ======")?;
        let (v, u) = e(&self.delta_p);
        writeln!(s, "Mean    Δp: {:6.3} ± {:5.3} %", 100.0 * v, 100.0 * u)?;
        writeln!(s, "Maximum Δp: {:6.3}%", 100.0 * dd.maximum)?;
        for pc in [99.9, 99.0, 95.0, 90.0, 75.0] {
            writeln!(s, "{pc:4.1}%   Δp: {:6.3}%", 100.0 * p(dd, pc))?;
        }
        writeln!(s, "Median  Δp: {:6.3}%", 100.0 * dd.median)?;
        for pc in [25.0, 10.0, 5.0, 1.0, 0.1] {
            writeln!(s, "{pc:4.1}%   Δp: {:6.3}%", 100.0 * p(dd, pc))?;
        }
        writeln!(s, "Minimum Δp: {:6.3}%", 100.0 * dd.minimum)?;
        let (v, u) = e(&self.rms_delta_p);
        writeln!(s, "RMS Δp    : {:6.3} ± {:5.3} %", 100.0 * v, 100.0 * u)?;
        let (v, u) = e(&self.same_top);
        writeln!(s, "Same top p: {:6.3} ± {:5.3} %", 100.0 * v, 100.0 * u)?;
        Ok(())
    }
}

impl fmt::Display for KldReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_llama_cpp_string())
    }
}
