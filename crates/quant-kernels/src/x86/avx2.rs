//! The AVX2 backend (AVX2 + FMA + F16C).

use crate::Backend;

/// Token proving AVX2, FMA and F16C are available (construct with [`Avx2::get`]).
#[derive(Clone, Copy, Debug)]
pub struct Avx2 {
    _private: (),
}

impl Avx2 {
    /// The backend, if this CPU supports it.
    pub fn get() -> Option<&'static dyn Backend> {
        static TOKEN: Avx2 = Avx2 { _private: () };
        (is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c"))
        .then_some(&TOKEN as &dyn Backend)
    }
}

impl Backend for Avx2 {
    fn name(&self) -> &'static str {
        "avx2"
    }
}
