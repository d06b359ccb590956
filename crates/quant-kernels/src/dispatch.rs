//! Run-time backend selection: detect once, cache, allow `QUANT_BACKEND` to force one.

use std::sync::OnceLock;

use crate::Backend;
use crate::scalar::Scalar;

static SCALAR: Scalar = Scalar;

/// Every backend this CPU can run, best first; `scalar` is always last.
pub fn available() -> Vec<&'static dyn Backend> {
    let mut v: Vec<&'static dyn Backend> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    v.extend(crate::x86::backends());
    #[cfg(target_arch = "aarch64")]
    v.extend(crate::aarch64::backends());
    v.push(&SCALAR);
    v
}

/// The backend named `name` (e.g. `"avx2"`), if this CPU can run it.
pub fn by_name(name: &str) -> Option<&'static dyn Backend> {
    available()
        .into_iter()
        .find(|b| b.name().eq_ignore_ascii_case(name))
}

/// The best backend for this CPU, detected once and cached. The environment variable
/// `QUANT_BACKEND` (e.g. `QUANT_BACKEND=avx2`) forces one for the whole process; an unknown or
/// unsupported name falls back to detection (with a warning on stderr).
pub fn best() -> &'static dyn Backend {
    static BEST: OnceLock<&'static dyn Backend> = OnceLock::new();
    *BEST.get_or_init(|| {
        if let Ok(name) = std::env::var("QUANT_BACKEND") {
            if let Some(b) = by_name(&name) {
                return b;
            }
            eprintln!("quant-kernels: QUANT_BACKEND={name:?} is not available here; detecting");
        }
        available()[0]
    })
}
