//! The AVX-512 backend (F/BW/VL, VNNI where it pays).

use crate::Backend;

/// Token proving AVX-512 F/BW/VL (and AVX2/FMA/F16C) are available (construct with [`Avx512::get`]).
#[derive(Clone, Copy, Debug)]
pub struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// The backend, if this CPU supports it.
    pub fn get() -> Option<&'static dyn Backend> {
        static TOKEN: Avx512 = Avx512 { _private: () };
        (is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c"))
        .then_some(&TOKEN as &dyn Backend)
    }
}

impl Backend for Avx512 {
    fn name(&self) -> &'static str {
        "avx512"
    }
}
