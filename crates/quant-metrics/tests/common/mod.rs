//! Helpers shared by the integration tests (deterministic pseudo-random logits).

#![allow(dead_code)]

/// A tiny deterministic generator (SplitMix64) so the tests need no extra dependency.
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A logits row with a spread of `spread` nats (so some entries fall under the 16-nat clamp
    /// when `spread > 16`).
    pub fn logits(&mut self, n: usize, spread: f64) -> Vec<f32> {
        (0..n)
            .map(|_| ((self.unit() - 0.5) * spread) as f32)
            .collect()
    }

    /// `row` perturbed by noise of amplitude `eps` (a "quantized" model).
    pub fn perturb(&mut self, row: &[f32], eps: f64) -> Vec<f32> {
        row.iter()
            .map(|&l| l + ((self.unit() - 0.5) * 2.0 * eps) as f32)
            .collect()
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
