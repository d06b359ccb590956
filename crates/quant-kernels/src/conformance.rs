//! The backend conformance kit (feature `conformance`): checks any [`Backend`] against the
//! [`scalar`](crate::scalar) oracle on every format, with proptest.
//!
//! Call it from a test of the crate that defines the backend:
//!
//! ```
//! # use quant_kernels::{Backend, scalar::Scalar};
//! // A backend that only overrides what it accelerates (here: nothing).
//! struct Mine;
//! impl Backend for Mine {
//!     fn name(&self) -> &'static str { "mine" }
//! }
//! // Dot products only, 4 cases per format (use more in a real test):
//! quant_kernels::conformance::check_dots(&Mine, 4);
//! ```
//!
//! Every check panics with a message naming the backend, the kernel and the (shrunk) failing input
//! on the first mismatch. `cases` is the number of random inputs per kernel.
//!
//! # What is checked
//! * **Dot products** (every [`WeightFormat`] pair): weight and activation rows of random bytes over
//!   the full bit-pattern range of the quant fields (i8 = −128 included), with float scales kept
//!   finite (random f16/f32 scales with magnitudes in `[0, 2^5)`, subnormals and ±0 included; any
//!   E8M0 exponent up to 2^22 and any UE4M3 byte), `q8_K` block sums consistent with their quants
//!   (a format invariant the SIMD kernels rely on), every block count from 1 to 300 (32-value
//!   blocks), 150 (nvfp4), 40 (256-value blocks) or 2048 values (plain floats) once with fixed
//!   seeds, then `cases` random counts (biased to small ones) with shrinking, slices starting at even and odd block indices
//!   of a larger buffer, plus the byte-level runtime path [`vec_dot_with`](crate::vec_dot_with) on
//!   bytes at an odd address. The float tolerance is documented at [`dot_tolerance`]. Half of the
//!   cases use "exact" rows (every scale of a row `±2^k`, activation quants in `[-8, 7]`) where
//!   any summation order gives the same value: there the result must equal the oracle's exactly,
//!   which checks the integer parts.
//! * **Activation quantizers** (`q8_0`, `q8_1`, `q8_K`): random finite rows (zeros, −0, values on
//!   rounding ties, magnitudes from 2^−40 to 2^40), output bytes must be identical.
//! * **Dequantizers** (every format): random bytes over the full range including inf/NaN scales;
//!   values must be identical bit for bit (NaN compared as a class: payloads are not specified).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use half::f16;
use quant_core::formats::{BlockQ8_0, BlockQ8_1, BlockQ8K};
use quant_core::{BlockFormat, Format};

use crate::Backend;
use crate::formats::{ActivationFormat, DequantizeFormat, WeightFormat};
use crate::scalar::Scalar;
use crate::tolerance::abs_terms;
pub use crate::tolerance::dot_tolerance;

/// Run every check: [`check_dots`], [`check_activation_quantizers`], [`check_dequantizers`].
///
/// # Panics
/// On the first mismatch, with a message naming the kernel and the failing input.
pub fn check_all(backend: &dyn Backend, cases: u32) {
    check_dots(backend, cases);
    check_activation_quantizers(backend, cases);
    check_dequantizers(backend, cases);
}

/// Check the dot product of every weight format (see [`check_dot`]).
///
/// # Panics
/// On the first mismatch.
pub fn check_dots(backend: &dyn Backend, cases: u32) {
    for format in Format::ALL {
        if format != Format::Q8_1 {
            check_dot(backend, format, cases);
        }
    }
}

/// Check the activation quantizers `q8_0`, `q8_1` and `q8_K`.
///
/// # Panics
/// On the first mismatch.
pub fn check_activation_quantizers(backend: &dyn Backend, cases: u32) {
    for format in [Format::Q8_0, Format::Q8_1, Format::Q8K] {
        check_activation_quantizer(backend, format, cases);
    }
}

/// Check the dequantizer of every format except `f32` (a copy).
///
/// # Panics
/// On the first mismatch.
pub fn check_dequantizers(backend: &dyn Backend, cases: u32) {
    for format in Format::ALL {
        if format != Format::F32 {
            check_dequantizer(backend, format, cases);
        }
    }
}

/// Check `backend`'s dot product for weight format `format` against the scalar oracle.
///
/// # Panics
/// On the first mismatch, or for `q8_1` (no dot product).
pub fn check_dot(backend: &dyn Backend, format: Format, cases: u32) {
    crate::with_weight_type!(format, W => dot_kernel::<W>(backend, format, cases),
        else => panic!("{format} has no dot product"));
}

/// Check `backend`'s activation quantizer for `format` (`q8_0`, `q8_1` or `q8_K`).
///
/// # Panics
/// On the first mismatch, or for another format.
pub fn check_activation_quantizer(backend: &dyn Backend, format: Format, cases: u32) {
    match format {
        Format::Q8_0 => quantizer_kernel::<BlockQ8_0>(backend, cases),
        Format::Q8_1 => quantizer_kernel::<BlockQ8_1>(backend, cases),
        Format::Q8K => quantizer_kernel::<BlockQ8K>(backend, cases),
        _ => panic!("{format} is not a quantized activation format"),
    }
}

/// Check `backend`'s dequantizer for `format`.
///
/// # Panics
/// On the first mismatch, or for `f32`.
pub fn check_dequantizer(backend: &dyn Backend, format: Format, cases: u32) {
    match format {
        Format::F32 => panic!("f32 has no dequantizer kernel"),
        Format::Q8_1 => dequant_kernel::<BlockQ8_1>(backend, cases),
        _ => crate::with_weight_type!(format, B => dequant_kernel::<B>(backend, cases),
            else => unreachable!()),
    }
}

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

#[track_caller]
fn run<S: Strategy>(
    what: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: core::fmt::Debug,
{
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("conformance: {what}: {e}");
    }
}

/// splitmix64: the byte source of the generated blocks (seeded by proptest).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// A finite f16 with magnitude below 2^5: zero, subnormal or normal, random sign.
    fn scale_f16(&mut self) -> f16 {
        let sign = (self.below(2) as u16) << 15;
        let exp = self.below(20) as u16; // biased exponents 0..=19: values < 2^5
        let man = self.below(1024) as u16;
        f16::from_bits(sign | (exp << 10) | man)
    }

    /// A finite f32 with magnitude in [2^-20, 2^5), or ±0, random sign.
    fn scale_f32(&mut self) -> f32 {
        if self.below(16) == 0 {
            return if self.below(2) == 0 { 0.0 } else { -0.0 };
        }
        let sign = (self.below(2) as u32) << 31;
        let exp = 127 - 20 + self.below(25) as u32;
        let man = self.below(1 << 23) as u32;
        f32::from_bits(sign | (exp << 23) | man)
    }

    /// An activation-like value: ±0, a tie-prone multiple of 1/8, or a random magnitude.
    fn value(&mut self, block_scale: f32) -> f32 {
        match self.below(8) {
            0 => 0.0,
            1 => -0.0,
            2 | 3 => (self.below(257) as f32 - 128.0) / 8.0 * block_scale,
            _ => {
                let sign = (self.below(2) as u32) << 31;
                let man = self.below(1 << 23) as u32;
                f32::from_bits(sign | (127 << 23) | man) * block_scale
            }
        }
    }
}

/// How the float fields of generated blocks are chosen.
#[derive(Clone, Copy, Debug)]
enum Scales {
    /// Random finite scales (see the module docs).
    Random,
    /// Every scale of the row is `±2^k` (one `k` per row), and (with `small`) every 8-bit quant
    /// lies in `[-8, 7]`: every term of the dot product is then an integer multiple of
    /// `2^(k_w + k_a)`, so any summation order is exact while `Σ|term| < 2^24·2^(k_w + k_a)`.
    Exact { k: i32, small: bool },
}

/// Byte offsets of the f16 scale fields of a block.
fn f16_fields(format: Option<Format>) -> &'static [usize] {
    match format {
        Some(Format::Q4_0 | Format::Q5_0 | Format::Q8_0 | Format::Iq4Nl | Format::Iq4Xs) => &[0],
        Some(Format::Q4_1 | Format::Q5_1 | Format::Q8_1 | Format::Q4K | Format::Q5K) => &[0, 2],
        Some(Format::Q2K) => &[80, 82],
        Some(Format::Q3K) => &[108],
        Some(Format::Q6K) => &[208],
        Some(Format::Tq1_0) => &[52],
        Some(Format::Tq2_0) => &[64],
        _ => &[],
    }
}

/// Make random block bytes valid dot-product input: finite scales, consistent q8_K block sums.
fn sanitize<B: BlockFormat>(blocks: &mut [B], rng: &mut Rng, scales: Scales) {
    let size = B::BLOCK_BYTES;
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(blocks);
    for block in bytes.chunks_exact_mut(size) {
        let sign = |rng: &mut Rng| if rng.below(2) == 0 { 1.0f32 } else { -1.0 };
        for &off in f16_fields(B::FORMAT) {
            let v = match scales {
                Scales::Random => rng.scale_f16(),
                Scales::Exact { k, .. } => f16::from_f32(sign(rng) * 2f32.powi(k)),
            };
            block[off..off + 2].copy_from_slice(&v.to_le_bytes());
        }
        let small = matches!(scales, Scales::Exact { small: true, .. });
        match B::FORMAT {
            Some(Format::Q8K) => {
                let d = match scales {
                    Scales::Random => rng.scale_f32(),
                    Scales::Exact { k, .. } => sign(rng) * 2f32.powi(k),
                };
                block[0..4].copy_from_slice(&d.to_le_bytes());
                if small {
                    for q in &mut block[4..260] {
                        *q = ((*q as i8) >> 4) as u8;
                    }
                }
                for g in 0..16 {
                    let s: i16 = block[4 + 16 * g..4 + 16 * g + 16]
                        .iter()
                        .map(|&q| i16::from(q as i8))
                        .sum();
                    block[260 + 2 * g..262 + 2 * g].copy_from_slice(&s.to_le_bytes());
                }
            }
            Some(f @ (Format::Q8_0 | Format::Q8_1)) if small => {
                let start = if f == Format::Q8_0 { 2 } else { 4 };
                for q in &mut block[start..] {
                    *q = ((*q as i8) >> 4) as u8;
                }
            }
            // E8M0 exponents up to 150 (2^22): the dot stays far from f32 overflow.
            Some(Format::Mxfp4) => {
                block[0] = match scales {
                    Scales::Random => rng.below(151) as u8,
                    Scales::Exact { k, .. } => (128 + k) as u8,
                }
            }
            // UE4M3 scales 2^(e-8) with a zero mantissa.
            Some(Format::Nvfp4) => {
                if let Scales::Exact { k, .. } = scales {
                    block[..4].fill(((k + 8) as u8) << 3);
                }
            }
            _ => {}
        }
    }
}

/// Random blocks for a dot product: plain floats get finite values of moderate magnitude (small
/// integers in the exact mode).
fn random_blocks<B: BlockFormat>(n: usize, rng: &mut Rng, scales: Scales) -> Vec<B> {
    let mut v = vec![B::zeroed(); n];
    match (B::FORMAT, scales) {
        (Some(Format::F32 | Format::F16 | Format::Bf16), Scales::Exact { .. }) => {
            let vals: Vec<f32> = (0..n).map(|_| rng.below(33) as f32 - 16.0).collect();
            B::quantize_blocks(&vals, None, &mut v);
        }
        (Some(Format::F32 | Format::Bf16), Scales::Random) => {
            // Magnitudes in [2^-30, 2^20): products and sums stay normal and finite.
            let vals: Vec<f32> = (0..n)
                .map(|_| {
                    let sign = (rng.below(2) as u32) << 31;
                    let exp = 127 - 30 + rng.below(50) as u32;
                    f32::from_bits(sign | (exp << 23) | rng.below(1 << 23) as u32)
                })
                .collect();
            B::quantize_blocks(&vals, None, &mut v);
        }
        (Some(Format::F16), Scales::Random) => {
            // Every finite f16 (the largest products, 2^32, cannot overflow an f32 sum).
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut v);
            for h in bytes.chunks_exact_mut(2) {
                let mut bits = rng.next() as u16;
                if bits & 0x7C00 == 0x7C00 {
                    bits &= !0x4000;
                }
                h.copy_from_slice(&bits.to_le_bytes());
            }
        }
        _ => {
            rng.fill(bytemuck::cast_slice_mut(&mut v));
            sanitize(&mut v, rng, scales);
        }
    }
    v
}

fn class(v: f32) -> u8 {
    if v.is_nan() {
        0
    } else if v == f32::INFINITY {
        1
    } else if v == f32::NEG_INFINITY {
        2
    } else {
        3
    }
}

fn max_blocks(block_len: usize) -> usize {
    match block_len {
        1 => 2048,
        32 => 300,
        64 => 150,
        _ => 40,
    }
}

/// Block counts biased towards small ones (where SIMD tails live), up to `max`.
fn counts(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![1..=8usize, 1..=max]
}

fn dot_kernel<W: WeightFormat>(backend: &dyn Backend, format: Format, cases: u32) {
    let what = format!(
        "{}: dot {}·{}",
        backend.name(),
        W::NAME,
        W::Activation::NAME
    );
    // Every block count once (deterministic inputs), then `cases` random ones with shrinking.
    for nw in 1..=max_blocks(W::BLOCK_LEN) {
        let (offset, seed, exact) = (nw % 2, 0x5EED_0000 + nw as u64, nw % 3 == 0);
        if let Err(e) = dot_case::<W>(backend, format, nw, offset, seed, exact) {
            panic!(
                "conformance: {what}: block-count sweep, input (nw, offset, seed, exact) = \
                 ({nw}, {offset}, {seed}, {exact}): {e}"
            );
        }
    }
    let strategy = (
        counts(max_blocks(W::BLOCK_LEN)),
        0..2usize,
        any::<u64>(),
        any::<bool>(),
    );
    run(&what, cases, strategy, |(nw, offset, seed, exact)| {
        dot_case::<W>(backend, format, nw, offset, seed, exact)
    });
}

/// One dot-product comparison: `nw` weight blocks at block offset `offset`, bytes from `seed`.
fn dot_case<W: WeightFormat>(
    backend: &dyn Backend,
    format: Format,
    nw: usize,
    offset: usize,
    seed: u64,
    exact: bool,
) -> Result<(), TestCaseError> {
    let a_len = <W::Activation as BlockFormat>::BLOCK_LEN;
    let mut rng = Rng(seed);
    let n = nw * W::BLOCK_LEN;
    let na = n / a_len;
    let (kw, ka) = if format.is_float() {
        (0, 0)
    } else {
        (rng.below(12) as i32 - 7, rng.below(12) as i32 - 7)
    };
    let (ws, as_) = if exact {
        (
            Scales::Exact {
                k: kw,
                small: false,
            },
            Scales::Exact { k: ka, small: true },
        )
    } else {
        (Scales::Random, Scales::Random)
    };
    // Slices at `offset` blocks into larger buffers: odd offsets start at odd block indices.
    let wbuf = random_blocks::<W>(nw + offset, &mut rng, ws);
    let abuf = random_blocks::<W::Activation>(na + offset, &mut rng, as_);
    let (w, a) = (&wbuf[offset..], &abuf[offset..]);
    let want = W::dot(&Scalar, w, a);
    let got = W::dot(backend, w, a);
    let abs_sum = abs_terms::<W>(w, a);
    if !want.is_finite() || !got.is_finite() {
        prop_assert_eq!(class(got), class(want), "got {:e}, scalar {:e}", got, want);
    } else if exact && abs_sum < 2f64.powi(24 + kw + ka) {
        // Every term and partial sum is an exactly representable multiple of 2^(kw+ka):
        // every summation order gives the same value, so the integer parts are checked
        // exactly.
        prop_assert!(
            got == want,
            "n = {} (exact case: scales ±2^{} and ±2^{}): got {:e}, scalar {:e}",
            n,
            kw,
            ka,
            got,
            want
        );
    } else {
        let tol = dot_tolerance(format, n, abs_sum);
        let diff = (f64::from(got) - f64::from(want)).abs();
        prop_assert!(
            diff <= tol,
            "n = {}: got {:e}, scalar {:e}, |diff| {:e} > tolerance {:e}",
            n,
            got,
            want,
            diff,
            tol
        );
    }
    // The four-row kernel (batch products) must give each row's one-row result bit for bit.
    let extra: Vec<Vec<W::Activation>> = (0..3)
        .map(|_| random_blocks::<W::Activation>(na, &mut rng, as_))
        .collect();
    let rows = [a, &extra[0][..], &extra[1][..], &extra[2][..]];
    let four = W::dot4(backend, w, rows);
    for (i, (row, v)) in rows.iter().zip(four).enumerate() {
        let one = W::dot(backend, w, row);
        prop_assert!(
            v.to_bits() == one.to_bits() || (v.is_nan() && one.is_nan()),
            "dot4 row {} gave {:e}, the one-row kernel {:e}",
            i,
            v,
            one
        );
    }
    // The byte-level runtime path at an odd address must run the same kernel.
    let mut wb = vec![0u8; w.len() * W::BLOCK_BYTES + 1];
    wb[1..].copy_from_slice(bytemuck::cast_slice(w));
    let mut ab = vec![0u8; a.len() * <W::Activation as BlockFormat>::BLOCK_BYTES + 1];
    ab[1..].copy_from_slice(bytemuck::cast_slice(a));
    let via_bytes = crate::vec_dot_with(backend, format, &wb[1..], &ab[1..])
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(
        via_bytes.to_bits() == got.to_bits() || (via_bytes.is_nan() && got.is_nan()),
        "vec_dot_with on unaligned bytes gave {:e}, the typed kernel {:e}",
        via_bytes,
        got
    );
    Ok(())
}

fn quantizer_kernel<A: ActivationFormat>(backend: &dyn Backend, cases: u32) {
    let what = format!("{}: quantize_{}", backend.name(), A::NAME);
    let strategy = (counts(max_blocks(A::BLOCK_LEN)), 0..2usize, any::<u64>());
    run(&what, cases, strategy, |(nb, offset, seed)| {
        let mut rng = Rng(seed);
        let n = nb * A::BLOCK_LEN;
        let mut src = Vec::with_capacity(n + offset);
        src.resize(offset, 0.0);
        for _ in 0..nb {
            // One magnitude per block (2^-40 .. 2^40), occasionally a whole zero block.
            let scale = if rng.below(16) == 0 {
                0.0
            } else {
                2f32.powi(rng.below(81) as i32 - 40)
            };
            for _ in 0..A::BLOCK_LEN {
                src.push(rng.value(scale));
            }
        }
        let src = &src[offset..];
        let mut want = vec![A::zeroed(); nb + offset];
        let mut got = vec![A::zeroed(); nb + offset];
        A::quantize_activations(&Scalar, src, &mut want[offset..]);
        A::quantize_activations(backend, src, &mut got[offset..]);
        for (i, (g, w)) in got[offset..].iter().zip(&want[offset..]).enumerate() {
            prop_assert!(
                g == w,
                "block {} of {}: got {:?}, scalar {:?}\ninput {:?}",
                i,
                nb,
                g,
                w,
                &src[i * A::BLOCK_LEN..(i + 1) * A::BLOCK_LEN]
            );
        }
        Ok(())
    });
}

fn dequant_kernel<B: DequantizeFormat>(backend: &dyn Backend, cases: u32) {
    let what = format!("{}: dequantize_{}", backend.name(), B::NAME);
    let strategy = (counts(max_blocks(B::BLOCK_LEN)), 0..2usize, any::<u64>());
    run(&what, cases, strategy, |(nb, offset, seed)| {
        let mut rng = Rng(seed);
        // Full bit-pattern range, inf/NaN scales included.
        let mut buf = vec![B::zeroed(); nb + offset];
        rng.fill(bytemuck::cast_slice_mut(&mut buf));
        let blocks = &buf[offset..];
        let n = nb * B::BLOCK_LEN;
        let mut want = vec![0.0f32; n];
        let mut got = vec![f32::from_bits(0x7FA0_0001); n];
        B::dequantize(&Scalar, blocks, &mut want);
        B::dequantize(backend, blocks, &mut got);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            prop_assert!(
                g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                "value {} (block {}): got {:e} ({:#010x}), scalar {:e} ({:#010x})\nblock {:?}",
                i,
                i / B::BLOCK_LEN,
                g,
                g.to_bits(),
                w,
                w.to_bits(),
                blocks[i / B::BLOCK_LEN]
            );
        }
        Ok(())
    });
}
