//! x86-64 backends: AVX2 (+FMA, F16C) and AVX-512 (F/BW/VL, VNNI where it pays).

pub mod avx2;
pub mod avx512;

/// The x86 backends this CPU supports, best first.
pub(crate) fn backends() -> Vec<&'static dyn crate::Backend> {
    let mut v: Vec<&'static dyn crate::Backend> = Vec::new();
    if let Some(b) = avx512::Avx512::get() {
        v.push(b);
    }
    if let Some(b) = avx2::Avx2::get() {
        v.push(b);
    }
    v
}
