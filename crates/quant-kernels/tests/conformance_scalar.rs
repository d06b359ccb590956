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
