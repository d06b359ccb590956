//! aarch64 backends: NEON (`neon`), and NEON with the dotprod extension (`neon-dotprod`).
//!
//! NEON is part of the baseline of every mainstream aarch64 target; on a target built without it
//! (e.g. `aarch64-unknown-none-softfloat`) no aarch64 backend is offered and `scalar` is used.

#[cfg(target_feature = "neon")]
pub mod neon;

/// The aarch64 backends this CPU supports, best first.
pub(crate) fn backends() -> Vec<&'static dyn crate::Backend> {
    #[cfg(target_feature = "neon")]
    {
        neon::backends()
    }
    #[cfg(not(target_feature = "neon"))]
    {
        Vec::new()
    }
}
