//! Plain float "formats" (`f32`, `f16`, `bf16`) as blocks of one value, so that every generic path
//! (views, row functions, kernels) treats them like the block formats.
//!
//! Conversion from f32 rounds to nearest, ties to even (as ggml's `GGML_FP32_TO_FP16` /
//! `GGML_FP32_TO_BF16` do); values beyond the target's range become ±inf, as in ggml.

use half::{bf16, f16};

use crate::{BlockFormat, Format};

impl BlockFormat for f32 {
    const NAME: &'static str = "f32";
    const BLOCK_LEN: usize = 1;
    const FORMAT: Option<Format> = Some(Format::F32);
    const REQUANTIZE_STABLE: bool = true;

    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        dst.copy_from_slice(src);
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        dst[0] = *self;
    }

    fn max_abs_error(_src: &[f32]) -> Option<f32> {
        Some(0.0)
    }
}

impl BlockFormat for f16 {
    const NAME: &'static str = "f16";
    const BLOCK_LEN: usize = 1;
    const FORMAT: Option<Format> = Some(Format::F16);
    const REQUANTIZE_STABLE: bool = true;

    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = f16::from_f32(*s);
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        dst[0] = self.to_f32();
    }

    fn max_abs_error(src: &[f32]) -> Option<f32> {
        let x = src[0].abs();
        if x > f16::MAX.to_f32() {
            return None;
        }
        // Half an ulp of f16 at |x| (relative 2^-11), or half the smallest subnormal 2^-25.
        Some((x * 2f32.powi(-11)).max(2f32.powi(-25)))
    }
}

impl BlockFormat for bf16 {
    const NAME: &'static str = "bf16";
    const BLOCK_LEN: usize = 1;
    const FORMAT: Option<Format> = Some(Format::Bf16);
    const REQUANTIZE_STABLE: bool = true;

    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = bf16::from_f32(*s);
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        dst[0] = self.to_f32();
    }

    fn max_abs_error(src: &[f32]) -> Option<f32> {
        let x = src[0].abs();
        if x > bf16::MAX.to_f32() {
            return None;
        }
        // Half an ulp of bf16 at |x| (relative 2^-8), or half the smallest subnormal 2^-134.
        Some((x * 2f32.powi(-8)).max(2f32.powi(-134)))
    }
}
