//! `evaluate` against llama.cpp's printed numbers on the same tokens (ctx 32, 7 chunks, 105
//! scored tokens): reference perplexity, and the KL divergence of Q8_0 and of Q4_K_M (rebuilt
//! tensor by tensor from llama-quantize's log, see `scripts/make-eval-fixture.py`).

mod common;

use quant_core::Format;
use quant_eval::{EvalOptions, VariantSpec, evaluate};

#[test]
fn reference_ppl_and_kld_agree_with_llama_cpp() {
    let Some(path) = common::model_path() else {
        return;
    };
    let fx = common::fixture();
    let tokens = common::fixture_tokens(&fx);
    let src = common::source_model(&path);
    let mut q4km = VariantSpec::plain(Format::Q4K);
    q4km.label = "q4_K_M".into();
    q4km.overrides = fx["q4_k_m_types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().parse::<Format>().unwrap()))
        .collect();
    let variants = [VariantSpec::plain(Format::Q8_0), q4km];
    let mut calls = 0;
    let r = evaluate(
        &src,
        &tokens,
        &VariantSpec::plain(Format::F32),
        &variants,
        &EvalOptions::new(32),
        &mut |done, total| {
            calls += 1;
            assert!(done <= total);
        },
    )
    .unwrap();
    assert_eq!((r.n_chunks, r.n_scored, calls), (7, 105, 7));
    let want = fx["llama_cpp_ppl"].as_f64().unwrap();
    let ppl = r.reference.perplexity.ppl.value;
    // The bar: within 0.1% of llama.cpp's f32 perplexity.
    assert!(
        (ppl / want - 1.0).abs() < 1e-3,
        "reference ppl {ppl} vs {want}"
    );
    for (v, key) in r.variants.iter().zip(["q8_0", "q4_k_m"]) {
        let k = v.kld.as_ref().unwrap();
        let (lk, unc) = (
            fx["llama_cpp_kld"][key][0].as_f64().unwrap(),
            fx["llama_cpp_kld"][key][1].as_f64().unwrap(),
        );
        eprintln!(
            "{key}: KLD {:.6} ± {:.6} (llama.cpp {lk} ± {unc}), PPL {:.4}, bpw {:.3}",
            k.kld.value, k.kld.uncertainty, v.perplexity.ppl.value, v.bits_per_weight
        );
        // The bar: our KLD within the uncertainty llama.cpp prints for its own.
        assert!(
            (k.kld.value - lk).abs() <= unc,
            "{key}: {} vs {lk} ± {unc}",
            k.kld.value
        );
        // The variant's own perplexity is the one KldReport carries.
        // The variant's own perplexity is the one KldReport carries (two f64 log-sum-exp paths
        // over 49,152 logits: measured 5e-9 relative apart).
        assert!((k.ppl_quant.value / v.perplexity.ppl.value - 1.0).abs() < 1e-6);
    }
    // Q8_0 everywhere is 8.5 bits per weight for the matrices; norms add a little.
    let q8 = &r.variants[0];
    assert!(
        q8.bits_per_weight > 8.5 && q8.bits_per_weight < 8.6,
        "{}",
        q8.bits_per_weight
    );
    assert!(q8.fallbacks.is_empty());
    assert!(r.reference.kld.is_none());
}
