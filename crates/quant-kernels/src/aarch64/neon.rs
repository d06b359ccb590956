//! The NEON backends: `neon` (baseline aarch64) and `neon-dotprod` (with `sdot`).

use crate::Backend;

/// Token for baseline NEON (always present on aarch64).
#[derive(Clone, Copy, Debug)]
pub struct Neon {
    _private: (),
}

impl Backend for Neon {
    fn name(&self) -> &'static str {
        "neon"
    }
}

/// The NEON backends this CPU supports, best first.
pub(crate) fn backends() -> Vec<&'static dyn Backend> {
    static NEON: Neon = Neon { _private: () };
    vec![&NEON]
}
