//! Arbitrary f32 rows → quantize, for every format through the runtime API.
//!
//! Input: byte 0 picks the format (`Format::ALL[b % len]`), the rest is read as little-endian
//! f32 values (any bit pattern: NaN, ±inf, subnormals, huge values). Asserts:
//! * a NaN/±inf anywhere → `Error::NonFinite` naming the first one (index and bits);
//! * otherwise a length that is not a multiple of the block length → `Error::RaggedLength`;
//! * otherwise `Ok`, and every block dequantizes within `B::max_abs_error` — skipping, as the
//!   property-test kit does, blocks whose output is non-finite when their largest magnitude is
//!   at least 1000 (scale overflow: the bound is only promised for finite scales).
#![no_main]

use libfuzzer_sys::fuzz_target;
use quant_core::{BlockFormat, Error, Format, dequantize, quantize, with_block_type};

/// Same threshold as `KitConfig::default().finite_below`.
const FINITE_BELOW: f32 = 1000.0;

fn check_bound<B: BlockFormat>(format: Format, x: &[f32], y: &[f32]) {
    for (b, (xs, ys)) in x
        .chunks_exact(B::BLOCK_LEN)
        .zip(y.chunks_exact(B::BLOCK_LEN))
        .enumerate()
    {
        let amax = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if ys.iter().any(|v| !v.is_finite()) {
            assert!(
                amax >= FINITE_BELOW,
                "{format}: block {b} (max |x| = {amax:e}) dequantized to a non-finite value"
            );
            continue;
        }
        if let Some(bound) = B::max_abs_error(xs) {
            for (j, (a, r)) in xs.iter().zip(ys).enumerate() {
                let err = (a - r).abs();
                assert!(
                    err <= bound,
                    "{format}: block {b} value {j}: |{a:e} - {r:e}| = {err:e} > bound {bound:e}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else {
        return;
    };
    let format = Format::ALL[usize::from(*sel) % Format::ALL.len()];
    let x: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let result = quantize(format, &x, None);
    if let Some(first) = x.iter().position(|v| !v.is_finite()) {
        if x.len() % format.block_len() == 0 {
            match result {
                Err(Error::NonFinite { index, value }) => {
                    assert_eq!(index, first);
                    assert_eq!(value.to_bits(), x[first].to_bits());
                }
                other => panic!("{format}: expected NonFinite at {first}, got {other:?}"),
            }
            return;
        }
    }
    if x.len() % format.block_len() != 0 {
        assert_eq!(
            result.unwrap_err(),
            Error::RaggedLength { len: x.len(), block_len: format.block_len() }
        );
        return;
    }
    let bytes = result.expect("finite row of whole blocks quantizes");
    assert_eq!(bytes.len(), format.row_bytes(x.len()).unwrap());
    let y = dequantize(format, &bytes, x.len()).expect("own bytes dequantize");
    with_block_type!(format, B => check_bound::<B>(format, &x, &y));
});
