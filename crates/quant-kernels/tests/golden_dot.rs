//! Dot products against ggml's recorded results (`testdata/golden/<type>/cases.json`).
//!
//! * The scalar oracle reproduces `vec_dot_generic` (ggml's portable kernel) bit for bit on the
//!   stored weight (`.ref.q`) and activation (`.act.q`) bytes.
//! * Every available backend is within the golden README's tolerance of `vec_dot` (ggml's SIMD
//!   kernel): `|ours − vec_dot| ≤ 1e-5 · sqrt(n/32) · f64_abs_sum`; for a non-finite `vec_dot`
//!   the same class (NaN / +inf / −inf) is required.

#[path = "../../quant-core/tests/golden/mod.rs"]
mod golden;

use quant_core::Format;
use quant_kernels::{available, scalar::Scalar, vec_dot_with};

/// Every type folder whose cases carry a dot product.
fn dot_types() -> Vec<(Format, &'static str)> {
    Format::block_formats()
        .filter(|f| !matches!(f, Format::Q8_1 | Format::Q8K))
        .map(|f| (f, f.name()))
        .collect()
}

/// ggml's recorded dot of one case, read from `cases.json` directly so that non-finite records
/// (`"nan"` in `f64_abs_sum`, case `huge`) are kept too.
struct Recorded {
    vec_dot: f32,
    vec_dot_generic: f32,
    /// `None` when ggml's dot is not finite.
    f64_abs_sum: Option<f64>,
}

fn recorded(type_name: &str) -> std::collections::HashMap<String, Recorded> {
    let path = golden::golden_dir().join(type_name).join("cases.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut out = std::collections::HashMap::new();
    for c in json["cases"].as_array().unwrap() {
        let d = &c["dot"];
        if d.is_null() {
            continue;
        }
        let bits = |k: &str| f32::from_bits(d[k].as_u64().unwrap() as u32);
        out.insert(
            c["name"].as_str().unwrap().to_owned(),
            Recorded {
                vec_dot: bits("vec_dot_bits"),
                vec_dot_generic: bits("vec_dot_generic_bits"),
                f64_abs_sum: d["f64_abs_sum"].as_f64(),
            },
        );
    }
    out
}

fn class(v: f32) -> &'static str {
    if v.is_nan() {
        "nan"
    } else if v == f32::INFINITY {
        "inf"
    } else if v == f32::NEG_INFINITY {
        "-inf"
    } else {
        "finite"
    }
}

#[test]
fn scalar_matches_ggml_generic_bit_for_bit() {
    let mut checked = 0;
    for (format, name) in dot_types() {
        let rec = recorded(name);
        for case in golden::cases(name) {
            let Some(dot) = rec.get(&case.name) else {
                continue;
            };
            let w = case.bytes("ref").unwrap();
            let a = case.bytes("act_q").unwrap();
            let got = vec_dot_with(&Scalar, format, &w, &a).unwrap();
            let want = dot.vec_dot_generic;
            // NaN payloads differ between CPUs (x86's default NaN has the sign bit set): compare
            // NaN as a class, every other value by its bits.
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{name}/{}: scalar {got:e} ({:#010x}), ggml generic {want:e} ({:#010x})",
                case.name,
                got.to_bits(),
                want.to_bits()
            );
            checked += 1;
        }
    }
    // 16 dot types × 18 cases; guards against a silently empty test directory.
    assert_eq!(checked, 16 * 18, "only {checked} dot cases found");
}

#[test]
fn every_backend_within_golden_tolerance_of_ggml_vec_dot() {
    for backend in available() {
        let mut worst = 0.0f64;
        for (format, name) in dot_types() {
            let rec = recorded(name);
            for case in golden::cases(name) {
                let Some(dot) = rec.get(&case.name) else {
                    continue;
                };
                let w = case.bytes("ref").unwrap();
                let a = case.bytes("act_q").unwrap();
                let got = vec_dot_with(backend, format, &w, &a).unwrap();
                let want = dot.vec_dot;
                let what = format!("{}: {name}/{}", backend.name(), case.name);
                let Some(abs_sum) = dot.f64_abs_sum.filter(|_| want.is_finite()) else {
                    assert_eq!(
                        class(got),
                        class(want),
                        "{what}: got {got:e}, ggml {want:e}"
                    );
                    continue;
                };
                // Tolerance from the golden README ("How a test should use quant/", point 5):
                // summation-order differences scale with sqrt(#blocks) and with Σ|w·a|; ggml's
                // own SIMD and scalar kernels differ by at most 0.064 of this bound.
                let tol = 1e-5 * (case.n as f64 / 32.0).sqrt() * abs_sum;
                let diff = (f64::from(got) - f64::from(want)).abs();
                assert!(
                    diff <= tol,
                    "{what}: got {got:e}, ggml {want:e}, |diff| {diff:e} > {tol:e}"
                );
                if tol > 0.0 {
                    worst = worst.max(diff / tol);
                }
            }
        }
        eprintln!("{}: worst |diff| / tolerance = {worst:.3}", backend.name());
    }
}

#[test]
fn unaligned_bytes_give_the_same_result() {
    for (format, name) in dot_types() {
        let case = &golden::cases(name)[0];
        let w = case.bytes("ref").unwrap();
        let a = case.bytes("act_q").unwrap();
        let aligned = vec_dot_with(&Scalar, format, &w, &a).unwrap();
        // Shift both rows by one byte inside larger buffers so neither is aligned for its block.
        let mut wb = vec![0u8; w.len() + 1];
        wb[1..].copy_from_slice(&w);
        let mut ab = vec![0u8; a.len() + 1];
        ab[1..].copy_from_slice(&a);
        let shifted = vec_dot_with(&Scalar, format, &wb[1..], &ab[1..]).unwrap();
        assert_eq!(aligned.to_bits(), shifted.to_bits(), "{name}");
    }
}
