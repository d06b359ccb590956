//! Backend detection and selection: `available()`, `by_name`, `select`, `QUANT_BACKEND`, and every
//! listed backend (lower tiers included) actually running every kernel.

use quant_core::Format;
use quant_kernels::dispatch::{ENV_VAR, select};
use quant_kernels::scalar::Scalar;
use quant_kernels::tolerance::{abs_terms_bytes, dot_tolerance};
use quant_kernels::{
    available, best, by_name, dequantize_with, quantize_activations, vec_dot_with,
};

#[test]
fn scalar_is_always_available_and_last() {
    let all = available();
    assert_eq!(all.last().unwrap().name(), "scalar");
    assert_eq!(all.iter().filter(|b| b.name() == "scalar").count(), 1);
    let mut names: Vec<_> = all.iter().map(|b| b.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "backend names must be unique");
}

#[test]
fn every_available_backend_can_be_chosen_by_name() {
    for b in available() {
        assert_eq!(by_name(b.name()).unwrap().name(), b.name());
        assert_eq!(
            by_name(&b.name().to_ascii_uppercase()).unwrap().name(),
            b.name()
        );
        let (chosen, honoured) = select(Some(b.name()));
        assert!(honoured);
        assert_eq!(chosen.name(), b.name());
    }
    assert!(by_name("no-such-backend").is_none());
}

#[test]
fn select_falls_back_to_detection() {
    let first = available()[0].name();
    assert_eq!(select(None).0.name(), first);
    assert!(select(None).1);
    assert_eq!(select(Some("")).0.name(), first);
    let (b, honoured) = select(Some("no-such-backend"));
    assert!(!honoured);
    assert_eq!(b.name(), first);
}

#[test]
fn best_honours_the_environment() {
    // CI may force a backend for the whole test run (e.g. the NEON tiers under qemu).
    let env = std::env::var(ENV_VAR).ok();
    assert_eq!(best().name(), select(env.as_deref()).0.name());
}

/// Run by `quant_backend_forces_the_backend` in a child process with `QUANT_BACKEND` set.
#[test]
fn child_reports_forced_backend() {
    let Ok(expected) = std::env::var("QUANT_KERNELS_EXPECT_BACKEND") else {
        return; // not the child
    };
    assert_eq!(best().name(), expected);
}

#[test]
fn quant_backend_forces_the_backend() {
    let exe = std::env::current_exe().unwrap();
    for b in available() {
        let out = std::process::Command::new(&exe)
            .args(["child_reports_forced_backend", "--exact", "--nocapture"])
            .env(ENV_VAR, b.name())
            .env("QUANT_KERNELS_EXPECT_BACKEND", b.name())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{ENV_VAR}={}: child failed:\n{}\n{}",
            b.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
    }
    // An unknown name falls back to detection with a warning.
    let out = std::process::Command::new(&exe)
        .args(["child_reports_forced_backend", "--exact", "--nocapture"])
        .env(ENV_VAR, "no-such-backend")
        .env("QUANT_KERNELS_EXPECT_BACKEND", available()[0].name())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not available here"));
}

fn row(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let h = (i as u32 ^ seed).wrapping_mul(2_654_435_761);
            (h >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// Every listed backend, lower tiers included, runs every kernel (no SIGILL) and agrees with the
/// scalar oracle: dequantization and activation quantization exactly, dot products within the
/// summation-order tolerance of `quant_kernels::tolerance`.
#[test]
fn every_backend_runs_every_kernel() {
    let n = 512;
    let w = row(n, 1);
    let x = row(n, 2);
    for b in available() {
        for format in Format::ALL {
            let what = format!("{}: {format}", b.name());
            if let Some(partner) = format.vec_dot_partner() {
                let wq = quant_core::quantize(format, &w, None).unwrap();
                let aq = quantize_activations(b, partner, &x).unwrap();
                assert_eq!(
                    aq,
                    quantize_activations(&Scalar, partner, &x).unwrap(),
                    "{what}"
                );
                let got = vec_dot_with(b, format, &wq, &aq).unwrap();
                let want = vec_dot_with(&Scalar, format, &wq, &aq).unwrap();
                // Summation order only: the conformance kit's tolerance (see
                // `quant_kernels::tolerance::dot_tolerance` for its justification).
                let abs = abs_terms_bytes(format, &wq, &aq).unwrap();
                let tol = dot_tolerance(format, n, abs);
                assert!(
                    (f64::from(got) - f64::from(want)).abs() <= tol,
                    "{what}: {got} vs {want}"
                );
            }
            if format != Format::F32 {
                let bytes = quant_core::quantize(format, &w, None).unwrap();
                let mut got = vec![0.0; n];
                let mut want = vec![0.0; n];
                dequantize_with(b, format, &bytes, &mut got).unwrap();
                dequantize_with(&Scalar, format, &bytes, &mut want).unwrap();
                let gb: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                let wb: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
                assert_eq!(gb, wb, "{what}: dequantize");
            }
        }
    }
}
