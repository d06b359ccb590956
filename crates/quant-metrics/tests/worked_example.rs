//! The worked example of `docs/metrics.md`, checked against a direct f64 implementation of the
//! textbook formulas (and the rounded values printed in the guide).

use quant_metrics::{PerplexityAccumulator, compare_logits};

fn softmax(l: &[f64]) -> Vec<f64> {
    let m = l.iter().copied().fold(f64::MIN, f64::max);
    let e: Vec<f64> = l.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

#[test]
fn worked_example_matches_hand_computation() {
    let base = [2.0f32, 1.0, 0.0, -1.0];
    let quant = [1.8f32, 1.1, 0.1, -1.0];
    let target = 1;
    let pb = softmax(&base.map(f64::from));
    let pq = softmax(&quant.map(f64::from));
    let kl = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * (x / y).ln()).sum::<f64>();
    let m: Vec<f64> = pb.iter().zip(&pq).map(|(x, y)| 0.5 * (x + y)).collect();
    let jsd = 0.5 * kl(&pb, &m) + 0.5 * kl(&pq, &m);

    let c = compare_logits(&base, &quant, target).unwrap();
    // Same inputs; the fast kernel uses f32 exponentials and f32 terms (documented accuracy of
    // `compare_logits`: divergences within 1e-5 relative, NLL and Δp within 1e-6 absolute).
    assert!((c.kld - kl(&pb, &pq)).abs() < 1e-5 * kl(&pb, &pq));
    assert!((c.reverse_kld - kl(&pq, &pb)).abs() < 1e-5 * kl(&pq, &pb));
    assert!((c.jsd - jsd).abs() < 1e-5 * jsd);
    assert!((c.nll_base + pb[target].ln()).abs() < 1e-6);
    assert!((c.nll_quant + pq[target].ln()).abs() < 1e-6);
    assert!((c.delta_p - (pq[target] - pb[target])).abs() < 1e-6);
    assert!(c.same_top());

    // The values printed in the guide, to their printed precision.
    let printed = [
        (c.kld, 0.01012, 5e-6),
        (c.reverse_kld, 0.01036, 5e-6),
        (c.jsd, 0.002557, 5e-7),
        (c.nll_base, 1.4402, 5e-5),
        (c.nll_quant, 1.2539, 5e-5),
        (100.0 * c.delta_p, 4.85, 5e-3),
    ];
    for (got, doc, tol) in printed {
        assert!((got - doc).abs() <= tol, "{got} vs guide {doc}");
    }
    let mut ppl = PerplexityAccumulator::new();
    ppl.push_logits(&base, target).unwrap();
    assert!((ppl.estimate().ppl.value - 4.2215).abs() < 5e-5);
}
