//! A user-defined block format, end to end: a 3-bit block of 32 values with an f16 scale,
//! checked with the property-test kit and used through the generic row functions.
//!
//! Run it with `cargo run -p quant-core --example custom_format`; its `#[test]` runs with
//! `cargo test -p quant-core --examples`. `docs/custom-formats.md` walks through this code.

// ANCHOR: format
use quant_core::half::f16;
use quant_core::{BlockFormat, blocks_as_bytes, dequantize_row_to_vec, quantize_row_to_vec};

/// 32 values as 3-bit signed integers `q ∈ −4..=3` times an f16 scale: `w = d·q`.
/// 14 bytes per 32 values: 3.5 bits per weight.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct BlockQ3S {
    /// Scale.
    pub d: f16,
    /// 32 quants `q + 4 ∈ 0..8`, 3 bits each, value `i` at bits `3i..3i+3` (little endian).
    pub qs: [u8; 12],
}
const _: () = assert!(core::mem::size_of::<BlockQ3S>() == 14);

impl BlockQ3S {
    /// The value of largest magnitude `max` and the block's scale `max / −4` rounded to f16
    /// (`max` itself becomes `q = −4`, the extra negative level).
    fn scales(src: &[f32]) -> (f32, f32) {
        let max = src
            .iter()
            .fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
        (max, f16::from_f32(max / -4.0).to_f32())
    }

    fn get(&self, i: usize) -> i32 {
        let bit = 3 * i;
        let word =
            u16::from(self.qs[bit / 8]) | u16::from(*self.qs.get(bit / 8 + 1).unwrap_or(&0)) << 8;
        i32::from((word >> (bit % 8)) & 7) - 4
    }

    fn set(&mut self, i: usize, q: i32) {
        let bits = ((q + 4) as u16) << ((3 * i) % 8);
        let at = 3 * i / 8;
        self.qs[at] |= bits as u8;
        if at + 1 < self.qs.len() {
            self.qs[at + 1] |= (bits >> 8) as u8;
        }
    }
}

impl BlockFormat for BlockQ3S {
    const NAME: &'static str = "q3_s";
    const BLOCK_LEN: usize = 32;
    // Quantizing a dequantized block reproduces it: its largest magnitude is again d16·(−4), so
    // the scale is again d16, and every other value lies exactly on the grid (or all are zero).
    const REQUANTIZE_STABLE: bool = true;

    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (x, b) in src.chunks_exact(Self::BLOCK_LEN).zip(dst) {
            let (max, d16) = Self::scales(x);
            *b = BlockQ3S {
                d: f16::from_f32(d16),
                qs: [0; 12],
            };
            for (i, &v) in x.iter().enumerate() {
                // Quantize with the *stored* scale so that the error analysis is about one grid,
                // and pin `max` to −4 even where f16 rounding moved the scale (subnormal f16):
                // that is what makes re-quantization reproduce the block.
                let q = if d16 == 0.0 {
                    0
                } else if v == max {
                    -4
                } else {
                    ((v / d16).round() as i32).clamp(-4, 3)
                };
                b.set(i, q);
            }
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        for (i, o) in dst.iter_mut().enumerate() {
            *o = d * self.get(i) as f32;
        }
    }

    /// `(|d16| + 4·|d − d16|)·(1 + 2⁻¹⁰)`, where `d = max/−4` is the exact scale and `d16` the
    /// stored one (`None` if `d16` overflowed f16: the bound is promised for finite scales).
    ///
    /// * On the grid `d16·q` a value is at most `|d16|/2` from the nearest level.
    /// * Values of the sign opposite to `max` reach `|max| = 4|d|` and are clamped to `q = 3`:
    ///   error `≤ 4|d| − 3|d16| ≤ |d16| + 4|d − d16|`.
    /// * `max` itself is pinned to `q = −4`: error `4|d − d16|`; other values of its sign are
    ///   clamped to `q = −4` only if `|d16| < |d|`: error `≤ 4|d| − 4|d16|`.
    /// * If `d16` underflowed to 0 every value becomes 0: error `≤ |max| = 4|d − 0|`.
    /// * `2⁻¹⁰` covers the roundings of the division, the product and the error's own
    ///   subtraction (each ≤ 2⁻²⁴ relative). The bound is computed in f64 so that `4|d|` does
    ///   not lose the low bits of a subnormal `max`.
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        let (_, d16) = Self::scales(src);
        if !d16.is_finite() {
            return None;
        }
        let amax = src.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        let d = amax / 4.0; // exact in f64
        let d16 = f64::from(d16).abs();
        let bound = (d16 + 4.0 * (d - d16).abs()) * (1.0 + 1.0 / 1024.0);
        Some(bound as f32)
    }
}
// ANCHOR_END: format

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // ANCHOR: use
    // A row of 64 values: two blocks.
    let x: Vec<f32> = (0..64)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect();
    let blocks: Vec<BlockQ3S> = quantize_row_to_vec(&x, None)?;
    let y = dequantize_row_to_vec(&blocks);
    let bytes = blocks_as_bytes(&blocks);
    assert_eq!(bytes.len(), 2 * 14);
    let max_err = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "{}: {} bits/weight, {} bytes for {} values, max |error| {max_err:.4}",
        BlockQ3S::NAME,
        BlockQ3S::bits_per_weight(),
        bytes.len(),
        x.len()
    );
    // ANCHOR_END: use

    // ANCHOR: kit
    use quant_core::testing::{KitConfig, check_format};
    check_format::<BlockQ3S>(&KitConfig::default())?;
    println!(
        "{}: every check of the property-test kit passed",
        BlockQ3S::NAME
    );
    // ANCHOR_END: kit
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quant_core::testing::{Check, KitConfig, check_format};

    #[test]
    fn passes_the_kit() {
        let cases = std::env::var("KIT_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(256);
        if let Err(report) = check_format::<BlockQ3S>(&KitConfig::default().with_cases(cases)) {
            panic!("{report}");
        }
    }

    /// The same format with an outlier table beside it (`quant_core::outlier`): kept weights
    /// exact, the others within the bound of their block without the outliers.
    #[test]
    fn passes_the_kit_with_outlier_tables() {
        use quant_core::outlier::ValuePrecision;
        use quant_core::testing::check_with_outliers;
        for precision in [ValuePrecision::F16, ValuePrecision::Bf16] {
            if let Err(failure) =
                check_with_outliers::<BlockQ3S>(&KitConfig::default().with_cases(64), precision)
            {
                panic!("{failure}");
            }
        }
    }

    #[test]
    fn stable_where_the_f16_scale_is_subnormal() {
        // Blocks whose scale lands in f16's subnormal range (|d| < 2^-14), where f16 rounding
        // moves the scale by up to 2^-25 absolute.
        use quant_core::testing::RowKind;
        for seed in 0..2000u64 {
            let scale = 10f32.powf(-7.0 + (seed % 40) as f32 / 10.0);
            let x: Vec<f32> = RowKind::Gaussian
                .generate(32, seed)
                .iter()
                .map(|v| v * scale)
                .collect();
            let q: Vec<BlockQ3S> = quantize_row_to_vec(&x, None).unwrap();
            let y = dequantize_row_to_vec(&q);
            let q2: Vec<BlockQ3S> = quantize_row_to_vec(&y, None).unwrap();
            assert_eq!(q, q2, "seed {seed}");
            let bound = BlockQ3S::max_abs_error(&x).unwrap();
            assert!(
                x.iter().zip(&y).all(|(a, b)| (a - b).abs() <= bound),
                "seed {seed}"
            );
        }
    }

    /// `docs/custom-formats.md` quotes this file: its code must be this code.
    #[test]
    fn the_guide_quotes_this_file() {
        let doc = include_str!("../../../docs/custom-formats.md");
        let src = include_str!("custom_format.rs");
        let section = |name: &str| {
            let start = src.find(&format!("// ANCHOR: {name}\n")).unwrap();
            let start = src[start..].find('\n').unwrap() + start + 1;
            let end = src.find(&format!("// ANCHOR_END: {name}")).unwrap();
            src[start..src[..end].rfind('\n').unwrap() + 1].to_owned()
        };
        assert!(doc.contains(&section("format")), "format section differs");
        for line in section("use").lines() {
            assert!(
                doc.contains(line.trim()),
                "usage line missing from the guide: {line}"
            );
        }
    }

    #[test]
    fn packing_round_trips() {
        let mut b = BlockQ3S {
            d: f16::ONE,
            qs: [0; 12],
        };
        let qs: Vec<i32> = (0..32).map(|i| (i * 5 % 8) - 4).collect();
        for (i, &q) in qs.iter().enumerate() {
            b.set(i, q);
        }
        assert_eq!((0..32).map(|i| b.get(i)).collect::<Vec<_>>(), qs);
    }

    #[test]
    fn a_bad_bound_is_caught() {
        // The kit must fail a format whose bound is too tight: here half a step.
        #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        #[repr(transparent)]
        struct Tight(BlockQ3S);
        impl BlockFormat for Tight {
            const NAME: &'static str = "tight";
            const BLOCK_LEN: usize = 32;
            fn quantize_blocks(src: &[f32], imatrix: Option<&[f32]>, dst: &mut [Self]) {
                BlockQ3S::quantize_blocks(src, imatrix, bytemuck::cast_slice_mut(dst));
            }
            fn dequantize_block(&self, dst: &mut [f32]) {
                self.0.dequantize_block(dst);
            }
            fn max_abs_error(src: &[f32]) -> Option<f32> {
                BlockQ3S::max_abs_error(src).map(|b| b / 2.0)
            }
        }
        let report = check_format::<Tight>(&KitConfig::default().with_seed(1)).unwrap_err();
        assert!(
            report
                .failures
                .iter()
                .any(|f| f.check == Check::RoundTripError),
            "{report}"
        );
    }
}
