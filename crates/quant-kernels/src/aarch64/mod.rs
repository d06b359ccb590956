//! aarch64 backends: NEON, and NEON with the dotprod extension.

pub mod neon;

/// The aarch64 backends this CPU supports, best first.
pub(crate) fn backends() -> Vec<&'static dyn crate::Backend> {
    neon::backends()
}
