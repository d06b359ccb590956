//! Shared deterministic inputs for the criterion benches of the quant workspace.

/// A deterministic pseudo-random row of `n` weight-like values (SplitMix64 → roughly N(0, 0.02²)
/// with occasional outliers), the same on every run and machine.
pub fn weight_row(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| {
            // Sum of 4 uniforms: a cheap, bounded, bell-shaped value.
            let u: f32 = (0..4)
                .map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32)
                .sum::<f32>()
                - 2.0;
            let outlier = if next() % 1000 == 0 { 20.0 } else { 1.0 };
            u * 0.035 * outlier
        })
        .collect()
}
