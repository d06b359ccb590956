//! The outlier-table study on real weights (MiniLM's `encoder.layer.0.output.dense`, whose 175σ
//! weight is the reason tables exist). Needs `data/minilm.safetensors` (`scripts/fetch-data.sh
//! minilm`): skipped when absent outside CI, a failure in CI.

use quant_cli::outliers::{FRACTIONS, aggregate, tensor_points};
use quant_core::Format;

#[test]
fn tables_lower_error_on_real_outlier_tensor() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/minilm.safetensors");
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must fetch the MiniLM weights: scripts/fetch-data.sh minilm"
        );
        eprintln!(
            "skipped: {} absent (scripts/fetch-data.sh minilm)",
            path.display()
        );
        return;
    }
    let st = quant_gguf::SafetensorsFile::open(&path).unwrap();
    let name = "encoder.layer.0.output.dense.weight";
    let w = st.tensor_f32(name).unwrap();
    assert_eq!(w.len(), 384 * 1536);
    let pts = tensor_points(name, &w, 384, 1536, None).unwrap();
    assert_eq!(
        pts.len(),
        quant_cli::outliers::FORMATS.len() * FRACTIONS.len()
    );
    let agg = aggregate(&pts);
    let get = |f: Format, k: f64| {
        agg.iter()
            .find(|p| p.format == f && p.fraction == k)
            .unwrap()
    };
    for f in quant_cli::outliers::FORMATS {
        let plain = get(f, 0.0);
        assert_eq!(
            plain.bits_per_weight,
            f.bits_per_weight(),
            "{f}: plain bits are the format's"
        );
        let mut last = plain;
        for &k in &FRACTIONS[1..] {
            let p = get(f, k);
            // More kept weights: more bits, never a larger error (kept values are exact to f16,
            // and removing a block's largest weights can only shrink its scale).
            assert!(p.bits_per_weight > last.bits_per_weight, "{f} {k}");
            assert!(
                p.rel_rmse() <= last.rel_rmse() * 1.0001,
                "{f} {k}: {} > {}",
                p.rel_rmse(),
                last.rel_rmse()
            );
            last = p;
        }
        // The 7.9 outlier dominates every plain format's worst error; 0.1 % removes it.
        assert!(
            get(f, 0.001).max_err < plain.max_err,
            "{f}: max error must drop"
        );
    }
    // ggml's reference errors on this tensor (anchors.md): our plain formats are ggml's bytes,
    // so they must reproduce them (rounded to the printed digits).
    for (f, ggml) in [
        (Format::Q8_0, 0.0062),
        (Format::Q4K, 0.0736),
        (Format::Q4_0, 0.0914),
        (Format::Q2K, 0.302),
    ] {
        let e = get(f, 0.0).rel_rmse();
        assert!(
            (e - ggml).abs() <= 0.0006 * ggml.max(0.1) * 10.0,
            "{f}: rel RMSE {e} vs ggml {ggml}"
        );
    }
}
