//! Float anatomy: exhaustive checks over every f16, bf16 and fp8 bit pattern, round-to-nearest-even
//! against independent oracles (`half`, Rust's `as` casts, an exhaustive nearest-value search), and
//! exact decimal values.

use half::{bf16, f16};
use proptest::prelude::*;
use quant_core::float::{FloatClass, FloatFormat, Fp8E4M3, Fp8E5M2, Saturation, exact_decimal_f64};

const SMALL: [FloatFormat; 4] = [
    FloatFormat::F16,
    FloatFormat::Bf16,
    FloatFormat::E4M3,
    FloatFormat::E5M2,
];
const BOTH: [Saturation; 2] = [Saturation::NonSaturating, Saturation::Saturating];

fn patterns(f: FloatFormat) -> impl Iterator<Item = u32> {
    0..=f.bit_mask()
}

/// Independent classification from the format's documented rules, via f64 for the oracle formats.
fn oracle_value(f: FloatFormat, b: u32) -> Option<f64> {
    match f {
        FloatFormat::F32 => Some(f64::from(f32::from_bits(b))),
        FloatFormat::F16 => Some(f16::from_bits(b as u16).to_f64()),
        FloatFormat::Bf16 => Some(bf16::from_bits(b as u16).to_f64()),
        _ => None,
    }
}

#[test]
fn field_widths_and_constants() {
    for f in FloatFormat::ALL {
        assert_eq!(1 + f.exponent_bits() + f.mantissa_bits(), f.bits(), "{f}");
        assert_eq!(f.name().parse::<FloatFormat>().unwrap(), f);
    }
    let biases: Vec<i32> = FloatFormat::ALL.iter().map(|f| f.bias()).collect();
    assert_eq!(biases, [127, 15, 127, 7, 15]);
    assert_eq!(FloatFormat::E4M3.max_finite(), 448.0);
    assert_eq!(FloatFormat::E5M2.max_finite(), 57344.0);
    assert_eq!(FloatFormat::F16.max_finite(), f16::MAX.to_f64());
    assert_eq!(FloatFormat::Bf16.max_finite(), bf16::MAX.to_f64());
    assert_eq!(FloatFormat::F32.max_finite(), f64::from(f32::MAX));
    assert_eq!(FloatFormat::F16.min_positive_subnormal(), 2f64.powi(-24));
    assert_eq!(FloatFormat::E4M3.min_positive_subnormal(), 2f64.powi(-9));
    assert_eq!(FloatFormat::E5M2.min_positive_subnormal(), 2f64.powi(-16));
    assert_eq!(FloatFormat::E4M3.min_positive_normal(), 2f64.powi(-6));
    assert_eq!(Fp8E4M3::MAX.to_f32(), 448.0);
    assert_eq!(Fp8E4M3::MIN.to_f32(), -448.0);
    assert_eq!(Fp8E5M2::MAX.to_f32(), 57344.0);
    assert!(Fp8E4M3::NAN.is_nan() && Fp8E5M2::NAN.is_nan());
    assert_eq!(Fp8E4M3::MIN_POSITIVE.to_f64(), 2f64.powi(-6));
    assert_eq!(Fp8E5M2::MIN_POSITIVE_SUBNORMAL.to_f64(), 2f64.powi(-16));
    assert!("e9m9".parse::<FloatFormat>().is_err());
}

#[test]
fn decompose_recompose_round_trip_exhaustive() {
    for f in SMALL {
        for b in patterns(f) {
            let p = f.decompose(b);
            assert_eq!(p.to_bits(), b, "{f} {b:#x}");
            assert_eq!(
                f.compose(p.sign, p.exponent_field, p.significand_field),
                Some(b),
                "{f} {b:#x}"
            );
            assert_eq!(p.sign, b >> (f.bits() - 1) == 1);
            // The value from the fields by the textbook formula.
            if p.class.is_finite() {
                let v = p.significand() as f64
                    * 2f64.powi(p.unbiased_exponent - f.mantissa_bits() as i32);
                let v = if p.sign { -v } else { v };
                assert_eq!(v, f.to_f64(b), "{f} {b:#x}");
            }
        }
    }
}

#[test]
fn classification_counts_exhaustive() {
    // (zero, subnormal, normal, infinite, nan) counts follow from the field widths.
    let expect = |f: FloatFormat| -> [usize; 5] {
        let m = 1usize << f.mantissa_bits();
        let e = 1usize << f.exponent_bits();
        match f {
            FloatFormat::E4M3 => [2, 2 * (m - 1), 2 * m * (e - 1) - 2, 0, 2],
            _ => [2, 2 * (m - 1), 2 * m * (e - 2), 2, 2 * (m - 1)],
        }
    };
    for f in SMALL {
        let mut counts = [0usize; 5];
        for b in patterns(f) {
            let i = match f.classify(b) {
                FloatClass::Zero => 0,
                FloatClass::Subnormal => 1,
                FloatClass::Normal => 2,
                FloatClass::Infinite => 3,
                FloatClass::Nan => 4,
            };
            counts[i] += 1;
            assert_eq!(f.decompose(b).class, f.classify(b));
        }
        assert_eq!(counts, expect(f), "{f}");
    }
    // E4M3's only NaNs are S.1111.111.
    assert_eq!(FloatFormat::E4M3.classify(0x7f), FloatClass::Nan);
    assert_eq!(FloatFormat::E4M3.classify(0xff), FloatClass::Nan);
    assert_eq!(FloatFormat::E4M3.classify(0x7e), FloatClass::Normal);
    assert_eq!(FloatFormat::E5M2.classify(0x7c), FloatClass::Infinite);
}

#[test]
fn to_f64_agrees_with_half_exhaustive() {
    for f in [FloatFormat::F16, FloatFormat::Bf16] {
        for b in patterns(f) {
            let ours = f.to_f64(b);
            let theirs = oracle_value(f, b).unwrap();
            if theirs.is_nan() {
                assert!(ours.is_nan(), "{f} {b:#x}");
                assert_eq!(f.classify(b), FloatClass::Nan);
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{f} {b:#x}");
            }
            assert_eq!(f.to_f32(b).is_nan(), ours.is_nan());
        }
    }
}

#[test]
fn to_f64_agrees_with_f32_on_a_sweep() {
    // Every 4099th f32 pattern plus the edges (all 2^32 would take too long in CI).
    let edges = [
        0u32,
        1,
        0x007f_ffff,
        0x0080_0000,
        0x3f80_0000,
        0x7f7f_ffff,
        0x7f80_0000,
        0x7fc0_0000,
    ];
    let sweep = (0..=u32::MAX)
        .step_by(4099)
        .chain(edges)
        .chain(edges.map(|b| b | 0x8000_0000));
    for b in sweep {
        let ours = FloatFormat::F32.to_f64(b);
        let theirs = f64::from(f32::from_bits(b));
        if theirs.is_nan() {
            assert!(ours.is_nan());
        } else {
            assert_eq!(ours.to_bits(), theirs.to_bits(), "{b:#x}");
        }
        let p = FloatFormat::F32.decompose(b);
        assert_eq!(p.to_bits(), b);
        if theirs.is_finite() {
            assert_eq!(
                FloatFormat::F32.encode(theirs, Saturation::NonSaturating),
                b
            );
        }
    }
}

#[test]
fn encode_of_every_finite_pattern_is_itself() {
    for f in SMALL {
        for b in patterns(f) {
            let v = f.to_f64(b);
            match f.classify(b) {
                FloatClass::Nan => {
                    for s in BOTH {
                        assert_eq!(f.classify(f.encode(v, s)), FloatClass::Nan, "{f} {b:#x}");
                    }
                }
                FloatClass::Infinite => {
                    assert_eq!(f.encode(v, Saturation::NonSaturating), b, "{f} {b:#x}");
                    let sat = f.encode(v, Saturation::Saturating);
                    assert_eq!(f.to_f64(sat), f.max_finite().copysign(v));
                }
                _ => {
                    for s in BOTH {
                        assert_eq!(f.encode(v, s), b, "{f} {b:#x} {s:?}");
                        assert_eq!(f.encode_f32(v as f32, s), b, "{f} {b:#x} {s:?}");
                    }
                }
            }
        }
    }
}

/// Positive finite patterns in increasing order of value (patterns are monotonic in magnitude).
fn positive_finite(f: FloatFormat) -> Vec<u32> {
    (0..=f.max_finite_bits()).collect()
}

#[test]
fn ties_go_to_even_exhaustive() {
    for f in SMALL {
        let pos = positive_finite(f);
        for w in pos.windows(2) {
            let (a, b) = (f.to_f64(w[0]), f.to_f64(w[1]));
            assert!(a < b, "{f}: patterns must be ordered");
            let mid = (a + b) / 2.0; // exact: both are dyadic with few bits
            assert!(mid > a && mid < b);
            let even = if w[0] % 2 == 0 { w[0] } else { w[1] };
            for sign in [0, 1u32 << (f.bits() - 1)] {
                let m = if sign == 0 { mid } else { -mid };
                for s in BOTH {
                    assert_eq!(f.encode(m, s), sign | even, "{f} tie {m}");
                }
                // Just off the tie, the nearest wins (one f64 ulp away is still nearer).
                let below = if sign == 0 {
                    mid.next_down()
                } else {
                    -mid.next_down()
                };
                let above = if sign == 0 {
                    mid.next_up()
                } else {
                    -mid.next_up()
                };
                assert_eq!(f.encode(below, Saturation::NonSaturating), sign | w[0]);
                assert_eq!(f.encode(above, Saturation::NonSaturating), sign | w[1]);
            }
        }
    }
}

#[test]
fn overflow_and_saturation() {
    for f in FloatFormat::ALL {
        let max = f.max_finite();
        let max_bits = f.max_finite_bits();
        let sign = 1u32 << (f.bits() - 1);
        // Half a unit above max is the rounding boundary.
        let half_ulp = 2f64.powi(f.max_exponent() - f.mantissa_bits() as i32 - 1);
        let over = match f.infinity_bits() {
            Some(inf) => inf,
            None => f.nan_bits(),
        };
        for (x, s) in [(max + half_ulp * 1.5, 1.0), (-(max + half_ulp * 1.5), -1.0)] {
            let sb = if s < 0.0 { sign } else { 0 };
            assert_eq!(f.encode(x, Saturation::NonSaturating), sb | over, "{f} {x}");
            assert_eq!(
                f.encode(x, Saturation::Saturating),
                sb | max_bits,
                "{f} {x}"
            );
            let inf = f64::INFINITY * s;
            assert_eq!(f.encode(inf, Saturation::NonSaturating), sb | over, "{f}");
            assert_eq!(f.encode(inf, Saturation::Saturating), sb | max_bits, "{f}");
        }
        // The tie at max + half_ulp: max's significand is all ones (odd) for IEEE-like formats
        // so the tie overflows; E4M3's 448 = 1.110b is even so 464 rounds down to 448.
        let tie = f.encode(max + half_ulp, Saturation::NonSaturating);
        if f == FloatFormat::E4M3 {
            assert_eq!(tie, max_bits);
            assert_eq!(f.to_f64(tie), 448.0);
            assert!(
                f.to_f64(f.encode(464.0001, Saturation::NonSaturating))
                    .is_nan()
            );
        } else {
            assert_eq!(tie, over, "{f}");
        }
        assert_eq!(f.encode(max + half_ulp, Saturation::Saturating), max_bits);
        for s in BOTH {
            assert_eq!(f.classify(f.encode(f64::NAN, s)), FloatClass::Nan);
            assert_eq!(f.classify(f.encode(-f64::NAN, s)), FloatClass::Nan);
        }
        // Underflow keeps the sign of zero; half the smallest subnormal is a tie to +-0 (even).
        let tiny = f.min_positive_subnormal();
        assert_eq!(f.encode(tiny / 2.0, Saturation::NonSaturating), 0);
        assert_eq!(f.encode(-tiny / 2.0, Saturation::NonSaturating), sign);
        assert_eq!(f.encode(tiny * 0.75, Saturation::NonSaturating), 1);
        assert_eq!(f.encode(-0.0, Saturation::Saturating), sign);
    }
    assert!(Fp8E4M3::from_f32(500.0).is_nan());
    assert_eq!(Fp8E4M3::from_f32_saturating(500.0), Fp8E4M3::MAX);
    assert_eq!(
        Fp8E4M3::from_f32_saturating(f32::NEG_INFINITY),
        Fp8E4M3::MIN
    );
    assert_eq!(Fp8E5M2::from_f32(1e6).to_f32(), f32::INFINITY);
    assert_eq!(Fp8E5M2::from_f32_saturating(-1e6), Fp8E5M2::MIN);
}

#[test]
fn exact_decimals_of_known_values() {
    let f32d = |x: f32| FloatFormat::F32.exact_decimal(x.to_bits());
    assert_eq!(f32d(0.1), "0.100000001490116119384765625");
    assert_eq!(f32d(-1.5), "-1.5");
    assert_eq!(f32d(0.0), "0");
    assert_eq!(f32d(-0.0), "-0");
    assert_eq!(f32d(16_777_217.0), "16777216");
    assert_eq!(f32d(f32::MAX), "340282346638528859811704183484516925440");
    // 2^-149, the smallest f32 subnormal: 149 fractional digits ending in ...8203125.
    let s = f32d(f32::from_bits(1));
    assert!(s.starts_with("0.00000000000000000000000000000000000000000000140129846432481707"));
    assert!(s.ends_with("8203125"));
    assert_eq!(s.len(), 2 + 149);
    assert_eq!(FloatFormat::F16.exact_decimal(0x7bff), "65504");
    assert_eq!(FloatFormat::F16.exact_decimal(0xfbff), "-65504");
    assert_eq!(
        FloatFormat::F16.exact_decimal(0x0001),
        "0.000000059604644775390625"
    );
    assert_eq!(FloatFormat::F16.exact_decimal(0x0400), "0.00006103515625"); // 2^-14
    assert_eq!(FloatFormat::F16.exact_decimal(0x7c00), "inf");
    assert_eq!(FloatFormat::F16.exact_decimal(0xfc00), "-inf");
    assert_eq!(FloatFormat::F16.exact_decimal(0x7e00), "NaN");
    assert_eq!(FloatFormat::E4M3.exact_decimal(0x01), "0.001953125"); // 2^-9
    assert_eq!(FloatFormat::E4M3.exact_decimal(0x7e), "448");
    assert_eq!(FloatFormat::E4M3.exact_decimal(0x7f), "NaN");
    assert_eq!(FloatFormat::E5M2.exact_decimal(0x01), "0.0000152587890625"); // 2^-16
    assert_eq!(FloatFormat::E5M2.exact_decimal(0x7b), "57344");
    let bf_tiny = FloatFormat::Bf16.exact_decimal(0x0001); // 2^-133
    assert_eq!(bf_tiny.len(), 2 + 133);
    // 2^-133 = 5^133 / 10^133: its last seven digits are 5^133 mod 10^7; 2^-133 ≈ 9.18354961e-41.
    let last7 = (0..133).fold(1u64, |acc, _| acc * 5 % 10_000_000);
    assert!(bf_tiny.ends_with(&format!("{last7:07}")), "{bf_tiny}");
    assert!(bf_tiny.starts_with("0.0000000000000000000000000000000000000000918354961"));
    assert_eq!(
        exact_decimal_f64(0.1),
        "0.1000000000000000055511151231257827021181583404541015625"
    );
}

#[test]
fn exact_decimal_parses_back_exhaustive() {
    // Rust's float parsing is correctly rounded and every value is exact in f64, so the decimal
    // string must parse back to the very same f64. The number of fractional digits of m·2^-k
    // (m odd) is exactly k.
    for f in SMALL {
        for b in patterns(f) {
            let p = f.decompose(b);
            if !p.class.is_finite() {
                continue;
            }
            let s = f.exact_decimal(b);
            let v: f64 = s.parse().unwrap();
            assert_eq!(v.to_bits(), f.to_f64(b).to_bits(), "{f} {b:#x} {s}");
            if p.significand() != 0 {
                let m = p.significand();
                let k = f.mantissa_bits() as i32 - p.unbiased_exponent - m.trailing_zeros() as i32;
                let frac = s.split_once('.').map_or(0, |(_, fr)| fr.len());
                assert_eq!(frac as i32, k.max(0), "{f} {b:#x} {s}");
            }
        }
    }
}

#[test]
fn display_breakdown() {
    let p = FloatFormat::F32.decompose(0.1f32.to_bits());
    let text = p.to_string();
    assert!(
        text.starts_with("f32 0x3dcccccd = 0 01111011 10011001100110011001101"),
        "{text}"
    );
    assert!(text.contains("unbiased -4 (bias 127)"), "{text}");
    assert!(text.contains("class:       normal"), "{text}");
    assert!(
        text.ends_with("value:       0.100000001490116119384765625"),
        "{text}"
    );
    let sub = FloatFormat::E5M2.decompose(0x81).to_string();
    assert!(sub.contains("class:       subnormal"), "{sub}");
    assert!(sub.contains("-0.01b × 2^-14"), "{sub}");
    assert_eq!(Fp8E4M3::from_f32(1.5).to_string(), "1.5");
}

/// The reference: the nearest of all patterns `0..=max_finite_bits + 1` by exhaustive search,
/// where pattern `max_finite_bits + 1` stands for the value one unit above max (infinity's
/// position for IEEE-like formats, NaN's for E4M3) and means "overflow"; ties go to the even
/// pattern.
fn nearest_by_search(f: FloatFormat, x: f64, sat: Saturation) -> u32 {
    let sign = if x.is_sign_negative() {
        1u32 << (f.bits() - 1)
    } else {
        0
    };
    let a = x.abs();
    let top = f.max_finite_bits() + 1;
    let value = |b: u32| {
        if b == top {
            f.max_finite() + 2f64.powi(f.max_exponent() - f.mantissa_bits() as i32)
        } else {
            f.to_f64(b)
        }
    };
    let overflow = sign
        | match (sat, f.infinity_bits()) {
            (Saturation::Saturating, _) => f.max_finite_bits(),
            (_, Some(inf)) => inf,
            (_, None) => f.nan_bits(),
        };
    if a >= value(top) {
        return overflow;
    }
    // Below the virtual top value, the differences near `a` are exact in f64.
    let mut best = 0u32;
    let mut best_d = f64::INFINITY;
    for b in 0..=top {
        let d = (value(b) - a).abs();
        if d < best_d || (d == best_d && b % 2 == 0) {
            best = b;
            best_d = d;
        }
    }
    if best == top {
        return overflow;
    }
    sign | best
}

fn any_non_nan_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<u32>().prop_map(f32::from_bits),
        (-600.0f32..600.0),
        (-70000.0f32..70000.0),
        (-1e-3f32..1e-3),
    ]
    .prop_filter("not NaN", |x| !x.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fp8_encode_matches_exhaustive_search(x in any_non_nan_f32()) {
        for f in [FloatFormat::E4M3, FloatFormat::E5M2] {
            for s in BOTH {
                prop_assert_eq!(f.encode_f32(x, s), nearest_by_search(f, f64::from(x), s), "{} {:?} {}", f, s, x);
            }
        }
        prop_assert_eq!(Fp8E4M3::from_f32(x).to_bits() as u32, FloatFormat::E4M3.encode_f32(x, Saturation::NonSaturating));
        prop_assert_eq!(Fp8E5M2::from_f32_saturating(x).to_bits() as u32, FloatFormat::E5M2.encode_f32(x, Saturation::Saturating));
    }

    #[test]
    fn f16_bf16_encode_matches_half(x in any_non_nan_f32()) {
        // half's from_f32 rounds to nearest even and overflows to infinity.
        prop_assert_eq!(FloatFormat::F16.encode_f32(x, Saturation::NonSaturating), u32::from(f16::from_f32(x).to_bits()));
        prop_assert_eq!(FloatFormat::Bf16.encode_f32(x, Saturation::NonSaturating), u32::from(bf16::from_f32(x).to_bits()));
    }

    #[test]
    fn f16_encode_matches_exhaustive_search(x in (-70000.0f32..70000.0)) {
        for s in BOTH {
            prop_assert_eq!(FloatFormat::F16.encode_f32(x, s), nearest_by_search(FloatFormat::F16, f64::from(x), s));
        }
    }

    #[test]
    fn f64_to_f32_matches_as_cast(bits in any::<u64>()) {
        // Rust's `as` cast from f64 to f32 rounds to nearest even and overflows to infinity.
        let x = f64::from_bits(bits);
        prop_assume!(!x.is_nan());
        prop_assert_eq!(FloatFormat::F32.encode(x, Saturation::NonSaturating), (x as f32).to_bits());
    }

    #[test]
    fn conversion_chain_is_monotonic(a in any_non_nan_f32(), b in any_non_nan_f32()) {
        // Rounding is monotonic: a <= b implies round(a) <= round(b).
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        for f in FloatFormat::ALL {
            for s in BOTH {
                let (rl, rh) = (f.to_f64(f.encode_f32(lo, s)), f.to_f64(f.encode_f32(hi, s)));
                if !rl.is_nan() && !rh.is_nan() {
                    prop_assert!(rl <= rh, "{} {:?}: {} -> {}, {} -> {}", f, s, lo, rl, hi, rh);
                }
            }
        }
    }
}
