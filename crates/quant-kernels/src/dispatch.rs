//! Run-time backend selection: detect once, cache, allow `QUANT_BACKEND` to force one.
//!
//! * [`available`] lists the backends this CPU can run, best first, `scalar` always last. Each
//!   SIMD backend is constructed only through a token whose constructor checks the CPU features at
//!   run time (`is_x86_feature_detected!` / `is_aarch64_feature_detected!`), so a listed backend
//!   never executes an instruction the CPU lacks.
//! * [`best`] is computed once per process and cached: the backend named by the environment
//!   variable `QUANT_BACKEND` if set and available, otherwise `available()[0]`.
//! * [`by_name`] picks one explicitly (e.g. for benchmarks and tests).

use std::sync::OnceLock;

use crate::Backend;
use crate::scalar::Scalar;

static SCALAR: Scalar = Scalar;

/// The environment variable that forces a backend for the whole process (`QUANT_BACKEND=avx2`).
pub const ENV_VAR: &str = "QUANT_BACKEND";

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

/// The backend named `name` (e.g. `"avx2"`, ASCII case ignored), if this CPU can run it.
pub fn by_name(name: &str) -> Option<&'static dyn Backend> {
    available()
        .into_iter()
        .find(|b| b.name().eq_ignore_ascii_case(name))
}

/// The backend `best` chooses for a given value of `QUANT_BACKEND`: the named backend if it is
/// available, otherwise (unset, empty, unknown or unsupported name) the first of [`available`].
/// Returns whether the request was honoured as the second value.
pub fn select(env_value: Option<&str>) -> (&'static dyn Backend, bool) {
    match env_value.map(str::trim).filter(|s| !s.is_empty()) {
        None => (available()[0], true),
        Some(name) => match by_name(name) {
            Some(b) => (b, true),
            None => (available()[0], false),
        },
    }
}

/// The best backend for this CPU, detected once and cached. The environment variable
/// `QUANT_BACKEND` (e.g. `QUANT_BACKEND=avx2`) forces one for the whole process; an unknown or
/// unsupported name falls back to detection (with a warning on stderr).
pub fn best() -> &'static dyn Backend {
    static BEST: OnceLock<&'static dyn Backend> = OnceLock::new();
    *BEST.get_or_init(|| {
        let env = std::env::var(ENV_VAR).ok();
        let (backend, honoured) = select(env.as_deref());
        if !honoured {
            eprintln!(
                "quant-kernels: {ENV_VAR}={:?} is not available here (available: {}); using {}",
                env.unwrap_or_default(),
                available()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", "),
                backend.name()
            );
        }
        backend
    })
}
