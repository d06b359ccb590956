//! The conformance kit run on the scalar backend itself: trivially equal results, but it exercises
//! every generator, tolerance and comparison path of the kit that the SIMD backends rely on.
#![cfg(feature = "conformance")]

use quant_kernels::conformance;
use quant_kernels::scalar::Scalar;

#[test]
fn scalar_passes_the_dot_checks() {
    conformance::check_dots(&Scalar, 16);
}

#[test]
fn scalar_passes_the_activation_quantizer_checks() {
    conformance::check_activation_quantizers(&Scalar, 16);
}

#[test]
fn scalar_passes_the_dequantizer_checks() {
    conformance::check_dequantizers(&Scalar, 16);
}

/// The kit must be able to fail: a backend with a wrong q8_0 dot (off by one integer unit per
/// block) is rejected.
#[test]
#[should_panic(expected = "dot q8_0·q8_0")]
fn a_wrong_kernel_is_rejected() {
    use quant_core::formats::BlockQ8_0;
    struct Broken;
    impl quant_kernels::Backend for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn dot_q8_0_q8_0(&self, w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
            let mut s = quant_kernels::scalar::dot_q8_0_q8_0(w, a);
            for (x, y) in w.iter().zip(a) {
                s += x.d.to_f32() * y.d.to_f32();
            }
            s
        }
    }
    conformance::check_dot(&Broken, quant_core::Format::Q8_0, 16);
}

/// A dequantizer that flips the sign of zeros is rejected (bit-exact comparison).
#[test]
#[should_panic(expected = "dequantize_q4_0")]
fn a_sign_of_zero_error_is_rejected() {
    use quant_core::formats::BlockQ4_0;
    struct Broken;
    impl quant_kernels::Backend for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn dequantize_q4_0(&self, src: &[BlockQ4_0], dst: &mut [f32]) {
            quant_kernels::scalar::dequantize_q4_0(src, dst);
            for v in dst.iter_mut() {
                if *v == 0.0 {
                    *v = 0.0;
                }
            }
        }
    }
    conformance::check_dequantizer(&Broken, quant_core::Format::Q4_0, 64);
}

/// A legitimate kernel with another summation order (blocks summed last to first, each block by
/// the scalar kernel) must pass: the tolerance must not reject reordering.
#[test]
fn a_reordered_backend_passes() {
    use quant_core::BlockFormat;
    use quant_core::formats::*;
    use quant_kernels::scalar;

    fn reversed<W: BlockFormat, A: BlockFormat>(
        w: &[W],
        a: &[A],
        dot: impl Fn(&[W], &[A]) -> f32,
    ) -> f32 {
        let per = W::BLOCK_LEN / A::BLOCK_LEN;
        let mut s = 0.0f32;
        for i in (0..w.len()).rev() {
            s += dot(&w[i..i + 1], &a[i * per..(i + 1) * per]);
        }
        s
    }

    struct Reversed;
    macro_rules! rev {
        ($($m:ident: $w:ty, $a:ty;)*) => {
            impl quant_kernels::Backend for Reversed {
                fn name(&self) -> &'static str {
                    "reversed"
                }
                fn dot_f32(&self, a: &[f32], b: &[f32]) -> f32 {
                    reversed(a, b, scalar::dot_f32)
                }
                $(fn $m(&self, w: &[$w], a: &[$a]) -> f32 {
                    reversed(w, a, scalar::$m)
                })*
            }
        };
    }
    rev!(
        dot_q4_0_q8_0: BlockQ4_0, BlockQ8_0;
        dot_q4_1_q8_1: BlockQ4_1, BlockQ8_1;
        dot_q5_0_q8_0: BlockQ5_0, BlockQ8_0;
        dot_q5_1_q8_1: BlockQ5_1, BlockQ8_1;
        dot_q8_0_q8_0: BlockQ8_0, BlockQ8_0;
        dot_q2k_q8k: BlockQ2K, BlockQ8K;
        dot_q3k_q8k: BlockQ3K, BlockQ8K;
        dot_q4k_q8k: BlockQ4K, BlockQ8K;
        dot_q5k_q8k: BlockQ5K, BlockQ8K;
        dot_q6k_q8k: BlockQ6K, BlockQ8K;
        dot_q8k_q8k: BlockQ8K, BlockQ8K;
        dot_iq4nl_q8_0: BlockIq4Nl, BlockQ8_0;
        dot_iq4xs_q8k: BlockIq4Xs, BlockQ8K;
        dot_mxfp4_q8_0: BlockMxfp4, BlockQ8_0;
        dot_nvfp4_q8_0: BlockNvfp4, BlockQ8_0;
        dot_tq1_0_q8k: BlockTq1_0, BlockQ8K;
        dot_tq2_0_q8k: BlockTq2_0, BlockQ8K;
    );
    conformance::check_dots(&Reversed, 64);
}
