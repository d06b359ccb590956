//! Outlier tables: validation, serialization, selection policies, and the composite format.

use proptest::prelude::*;
use quant_core::outlier::{
    OutlierError, OutlierPolicy, OutlierTable, ValuePrecision, dequantize_with_outliers,
    quantize_with_outliers, select_outliers,
};
use quant_core::{Format, sample, with_block_type};

#[test]
fn from_entries_validates() {
    let t = OutlierTable::from_entries(
        2,
        8,
        ValuePrecision::F32,
        [(1, 3, 2.0), (0, 7, -1.0), (1, 0, 5.0)],
    )
    .unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t.row(0), (&[7u32][..], &[-1.0f32][..]));
    assert_eq!(t.row(1), (&[0u32, 3][..], &[5.0f32, 2.0][..]));
    assert!(matches!(
        OutlierTable::from_entries(2, 8, ValuePrecision::F32, [(2, 0, 1.0)]),
        Err(OutlierError::OutOfRange { row: 2, .. })
    ));
    assert!(matches!(
        OutlierTable::from_entries(2, 8, ValuePrecision::F32, [(0, 8, 1.0)]),
        Err(OutlierError::OutOfRange { col: 8, .. })
    ));
    assert!(matches!(
        OutlierTable::from_entries(2, 8, ValuePrecision::F32, [(0, 1, 1.0), (0, 1, 2.0)]),
        Err(OutlierError::Unsorted { row: 0, col: 1 })
    ));
    assert!(matches!(
        OutlierTable::from_entries(2, 8, ValuePrecision::F32, [(0, 1, f32::NAN)]),
        Err(OutlierError::NonFinite { .. })
    ));
    // 1e5 overflows f16 (max 65504): rejected rather than stored as inf.
    assert!(matches!(
        OutlierTable::from_entries(2, 8, ValuePrecision::F16, [(0, 1, 1e5)]),
        Err(OutlierError::NonFinite { .. })
    ));
    let b = OutlierTable::from_entries(1, 4, ValuePrecision::Bf16, [(0, 0, 1.0 + 1.0 / 512.0)])
        .unwrap();
    assert_eq!(b.row(0).1[0], 1.0, "bf16 rounds to nearest even");
}

#[test]
fn bits_per_weight_counts_every_byte() {
    let t = OutlierTable::from_entries(
        4,
        1024,
        ValuePrecision::F16,
        (0..8).map(|i| (i % 4, i * 100, 1.0)),
    )
    .unwrap();
    // 32 header + 4·5 offsets + 8·(2 + 2) entries.
    assert_eq!(t.serialized_len(), 32 + 20 + 32);
    assert_eq!(t.to_bytes().len(), t.serialized_len());
    assert!((t.bits_per_weight() - (84.0 * 8.0 / 4096.0)).abs() < 1e-12);
    let wide =
        OutlierTable::from_entries(1, 70_000, ValuePrecision::F32, [(0, 69_999, 1.0)]).unwrap();
    assert_eq!(
        wide.serialized_len(),
        32 + 8 + 8,
        "u32 columns beyond 65536"
    );
}

fn table_strategy() -> impl Strategy<Value = OutlierTable> {
    (
        1usize..6,
        prop_oneof![Just(300usize), Just(70_000usize)],
        0usize..3,
    )
        .prop_flat_map(|(rows, cols, p)| {
            let prec = [
                ValuePrecision::F32,
                ValuePrecision::F16,
                ValuePrecision::Bf16,
            ][p];
            proptest::collection::btree_set((0..rows, 0..cols), 0..40).prop_flat_map(move |pos| {
                let n = pos.len();
                proptest::collection::vec(-1000.0f32..1000.0, n).prop_map(move |vals| {
                    OutlierTable::from_entries(
                        rows,
                        cols,
                        prec,
                        pos.iter().zip(vals).map(|(&(r, c), v)| (r, c, v)),
                    )
                    .unwrap()
                })
            })
        })
}

proptest! {
    #[test]
    fn serialization_round_trips(t in table_strategy()) {
        let bytes = t.to_bytes();
        prop_assert_eq!(bytes.len(), t.serialized_len());
        prop_assert_eq!(OutlierTable::from_bytes(&bytes).unwrap(), t);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..200), valid in any::<bool>()) {
        if valid && bytes.len() >= 32 {
            bytes[..4].copy_from_slice(b"QOTL");
            bytes[4..6].copy_from_slice(&1u16.to_le_bytes());
        }
        let _ = OutlierTable::from_bytes(&bytes);
    }
}

#[test]
fn from_bytes_rejects_corruption() {
    let t = OutlierTable::from_entries(
        2,
        16,
        ValuePrecision::F16,
        [(0, 3, 1.0), (0, 9, 2.0), (1, 1, 3.0)],
    )
    .unwrap();
    let good = t.to_bytes();
    for len in 0..good.len() {
        assert!(
            OutlierTable::from_bytes(&good[..len]).is_err(),
            "truncated to {len}"
        );
    }
    let mut extra = good.clone();
    extra.push(0);
    assert!(matches!(
        OutlierTable::from_bytes(&extra),
        Err(OutlierError::Size { .. })
    ));
    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(
        OutlierTable::from_bytes(&b),
        Err(OutlierError::Invalid(_))
    ));
    let mut b = good.clone();
    b[6] = 9;
    assert!(matches!(
        OutlierTable::from_bytes(&b),
        Err(OutlierError::Invalid(_))
    ));
    // Columns of row 0 swapped (9, 3): unsorted.
    let cols_at = 32 + 4 * 3;
    let mut b = good.clone();
    b[cols_at..cols_at + 2].copy_from_slice(&9u16.to_le_bytes());
    b[cols_at + 2..cols_at + 4].copy_from_slice(&3u16.to_le_bytes());
    assert!(matches!(
        OutlierTable::from_bytes(&b),
        Err(OutlierError::Unsorted { row: 0, col: 3 })
    ));
    // Column 16 is out of range.
    let mut b = good.clone();
    b[cols_at + 4..cols_at + 6].copy_from_slice(&16u16.to_le_bytes());
    assert!(matches!(
        OutlierTable::from_bytes(&b),
        Err(OutlierError::OutOfRange { col: 16, .. })
    ));
    // Row offsets decreasing.
    let mut b = good.clone();
    b[36..40].copy_from_slice(&3u32.to_le_bytes());
    b[40..44].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        OutlierTable::from_bytes(&b),
        Err(OutlierError::Invalid(_))
    ));
    // A claimed 2^40 rows with a short buffer: size error, no allocation.
    let mut b = good.clone();
    b[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(
        OutlierTable::from_bytes(&b),
        Err(OutlierError::Size { .. })
    ));
    // An f16 inf value.
    let vals_at = cols_at + 6;
    let mut b = good;
    b[vals_at..vals_at + 2].copy_from_slice(&0x7c00u16.to_le_bytes());
    assert!(matches!(
        OutlierTable::from_bytes(&b),
        Err(OutlierError::NonFinite { .. })
    ));
}

fn matrix() -> (Vec<f32>, usize, usize) {
    (sample::minilm_rows(), sample::ROWS, sample::COLS)
}

#[test]
fn policies_select_what_they_promise() {
    let (w, rows, cols) = matrix();
    let top = select_outliers(&w, rows, cols, None, &OutlierPolicy::TopKPerRow(2)).unwrap();
    assert_eq!(top.len(), 2 * rows);
    for r in 0..rows {
        let row = &w[r * cols..(r + 1) * cols];
        let mut mags: Vec<f32> = row.iter().map(|v| v.abs()).collect();
        mags.sort_by(|a, b| b.total_cmp(a));
        for &(_, c) in top.iter().filter(|p| p.0 == r) {
            assert!(
                row[c].abs() >= mags[1],
                "row {r}: kept |w| {} below the 2nd largest {}",
                row[c].abs(),
                mags[1]
            );
        }
    }
    let frac = select_outliers(&w, rows, cols, None, &OutlierPolicy::TopFraction(0.001)).unwrap();
    assert_eq!(frac.len(), (w.len() as f64 * 0.001).round() as usize);
    assert!(
        frac.contains(&(3, 856)),
        "the 175σ weight is in the top 0.1 %"
    );
    let sig = select_outliers(&w, rows, cols, None, &OutlierPolicy::SigmaRow(20.0)).unwrap();
    assert!(sig.contains(&(3, 856)));
    let blk = select_outliers(
        &w,
        rows,
        cols,
        None,
        &OutlierPolicy::SigmaBlock {
            k: 5.0,
            block_len: 32,
        },
    )
    .unwrap();
    assert!(blk.contains(&(3, 856)));
    assert!(matches!(
        select_outliers(
            &w,
            rows,
            cols,
            None,
            &OutlierPolicy::Explicit(vec![(rows, 0)])
        ),
        Err(OutlierError::OutOfRange { .. })
    ));
    assert!(matches!(
        select_outliers(&w, rows, cols, None, &OutlierPolicy::TopFraction(1.5)),
        Err(OutlierError::Policy(_))
    ));
    // Importance: a column with zero importance is never preferred over important ones.
    let mut imp = vec![1.0f32; cols];
    imp[856] = 0.0;
    let weighted =
        select_outliers(&w, rows, cols, Some(&imp), &OutlierPolicy::TopKPerRow(1)).unwrap();
    assert!(!weighted.contains(&(3, 856)));
    let err = select_outliers(
        &w,
        rows,
        cols,
        None,
        &OutlierPolicy::ErrorDriven {
            format: Format::Q4_0,
            fraction: 0.001,
        },
    )
    .unwrap();
    assert_eq!(err.len(), frac.len());
    assert!(
        err.contains(&(3, 856)),
        "removing the outlier helps its block most"
    );
}

fn rmse(a: &[f32], b: &[f32]) -> f64 {
    (a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64)
        .sqrt()
}

#[test]
fn composite_format_keeps_exact_values_and_lowers_error() {
    let (w, rows, cols) = matrix();
    for format in [
        Format::Q4_0,
        Format::Q4K,
        Format::Q3K,
        Format::Iq4Nl,
        Format::Q8_0,
    ] {
        let plain = quant_core::dequantize_matrix(
            format,
            &quant_core::quantize_matrix(format, &w, rows, cols, None).unwrap(),
            rows,
            cols,
        )
        .unwrap();
        let q = quantize_with_outliers(
            format,
            &w,
            rows,
            cols,
            None,
            &OutlierPolicy::TopFraction(0.001),
            ValuePrecision::F32,
        )
        .unwrap();
        let y = dequantize_with_outliers(&q).unwrap();
        for (r, c, v) in q.table.entries() {
            assert_eq!(
                y[r * cols + c],
                w[r * cols + c],
                "{format}: kept value exact (f32)"
            );
            assert_eq!(v, w[r * cols + c]);
        }
        let (e_plain, e_out) = (rmse(&w, &plain), rmse(&w, &y));
        assert!(
            e_out < e_plain,
            "{format}: outliers must lower the RMSE ({e_out} vs {e_plain})"
        );
        let expect_bpw = format.bits_per_weight() + q.table.bits_per_weight();
        assert!((q.bits_per_weight() - expect_bpw).abs() < 1e-12);
    }
}

/// The composite's error bound: every non-kept value is within the base format's stated bound for
/// the block as quantized (outliers replaced by the block mean).
#[test]
fn composite_error_within_base_bound() {
    let (w, rows, cols) = matrix();
    for format in [
        Format::Q4_0,
        Format::Q5_1,
        Format::Q4K,
        Format::Q6K,
        Format::Q8_0,
        Format::Iq4Xs,
    ] {
        let q = quantize_with_outliers(
            format,
            &w,
            rows,
            cols,
            None,
            &OutlierPolicy::TopKPerRow(3),
            ValuePrecision::F16,
        )
        .unwrap();
        let y = dequantize_with_outliers(&q).unwrap();
        let kept: std::collections::HashSet<(usize, usize)> =
            q.table.entries().map(|(r, c, _)| (r, c)).collect();
        let bl = format.block_len();
        for r in 0..rows {
            for b in 0..cols / bl {
                let base = r * cols + b * bl;
                let x = &w[base..base + bl];
                let idx: Vec<usize> = (0..bl)
                    .filter(|&j| kept.contains(&(r, b * bl + j)))
                    .collect();
                let rest: Vec<f32> = (0..bl).filter(|j| !idx.contains(j)).map(|j| x[j]).collect();
                let fill = if rest.is_empty() {
                    0.0
                } else {
                    (rest.iter().map(|&v| f64::from(v)).sum::<f64>() / rest.len() as f64) as f32
                };
                let filled: Vec<f32> = (0..bl)
                    .map(|j| if idx.contains(&j) { fill } else { x[j] })
                    .collect();
                let bound = with_block_type!(format, B => B::max_abs_error(&filled));
                if let Some(bound) = bound {
                    for j in (0..bl).filter(|j| !idx.contains(j)) {
                        let e = (x[j] - y[base + j]).abs();
                        assert!(
                            e <= bound,
                            "{format} row {r} block {b} value {j}: error {e} > bound {bound}"
                        );
                    }
                }
                for &j in &idx {
                    assert_eq!(
                        y[base + j],
                        half::f16::from_f32(x[j]).to_f32(),
                        "kept in f16"
                    );
                }
            }
        }
    }
}

/// The generic path for any block format gives the runtime path's bytes, table and values, and
/// rejects blocks of the wrong size with a typed error.
#[test]
fn generic_composite_matches_the_runtime_one() {
    use quant_core::formats::BlockQ4K;
    use quant_core::outlier::{dequantize_blocks_with_outliers, quantize_blocks_with_outliers};
    let (w, rows, cols) = matrix();
    let policy = OutlierPolicy::TopFraction(0.002);
    let q = quantize_with_outliers(
        Format::Q4K,
        &w,
        rows,
        cols,
        None,
        &policy,
        ValuePrecision::F16,
    )
    .unwrap();
    let (blocks, table) = quantize_blocks_with_outliers::<BlockQ4K>(
        &w,
        rows,
        cols,
        None,
        &policy,
        ValuePrecision::F16,
    )
    .unwrap();
    assert_eq!(quant_core::blocks_as_bytes(&blocks), &q.blocks[..]);
    assert_eq!(table, q.table);
    let y = dequantize_blocks_with_outliers(&blocks, &table).unwrap();
    assert_eq!(y, dequantize_with_outliers(&q).unwrap());
    assert!(matches!(
        dequantize_blocks_with_outliers(&blocks[1..], &table),
        Err(OutlierError::Format(
            quant_core::Error::LengthMismatch { .. }
        ))
    ));
    // A row length the format's blocks do not divide.
    assert!(matches!(
        quantize_blocks_with_outliers::<BlockQ4K>(
            &w[..128],
            1,
            128,
            None,
            &OutlierPolicy::TopKPerRow(1),
            ValuePrecision::F32
        ),
        Err(OutlierError::Format(quant_core::Error::RaggedLength { .. }))
    ));
}

#[test]
fn row_dot_is_the_sparse_term() {
    let t = OutlierTable::from_entries(
        2,
        4,
        ValuePrecision::F32,
        [(0, 1, 2.0), (0, 3, -1.0), (1, 0, 4.0)],
    )
    .unwrap();
    let x = [1.0, 10.0, 100.0, 1000.0];
    assert_eq!(t.row_dot(0, &x), 20.0 - 1000.0);
    assert_eq!(t.row_dot(1, &x), 4.0);
    let mut dense = vec![0.5f32; 8];
    t.apply(&mut dense);
    assert_eq!(dense, vec![0.5, 2.0, 0.5, -1.0, 4.0, 0.5, 0.5, 0.5]);
}

#[test]
fn stats_and_super_weights_on_real_rows() {
    let (w, rows, cols) = matrix();
    let s = quant_core::stats::tensor_stats(&w, rows, cols);
    assert_eq!(s.max_abs_pos, (3, 856));
    assert!(
        // 175σ over the whole tensor; on these 8 rows (12k values) the outlier itself inflates σ
        // and the ratio is about 95σ. 50σ still fails for any distribution without such a weight.
        s.max_over_sigma > 50.0,
        "the MiniLM outlier stands out: {}σ",
        s.max_over_sigma
    );
    assert!(s.excess_kurtosis > 10.0);
    assert!(
        s.above_20_sigma >= 1
            && s.above_6_sigma >= s.above_10_sigma
            && s.above_10_sigma >= s.above_20_sigma
    );
    let c = quant_core::stats::super_weight_candidates(&w, rows, cols, 5);
    assert_eq!((c[0].row, c[0].col), (3, 856));
    assert!(c.windows(2).all(|p| p[0].score >= p[1].score));
    // Activation-based: a spike on input 856 makes that weight dominate.
    let mut x = vec![1.0f32; cols];
    x[856] = 5.0;
    let a = quant_core::stats::super_weight_candidates_with_activations(&w, rows, cols, &x, 3);
    assert_eq!((a[0].row, a[0].col), (3, 856));
}

/// The kit's composite check (`testing::check_with_outliers`) on every built-in format: kept
/// weights exact in the table's precision, the others within their block's bound without the
/// outliers, every value within the plain format's bound; one test per (format, precision).
mod kit {
    use quant_core::BlockFormat;
    use quant_core::formats::*;
    use quant_core::half::{bf16, f16};
    use quant_core::outlier::ValuePrecision;
    use quant_core::testing::{KitConfig, check_with_outliers};

    /// 48 cases per (format, precision): well under a second for all of them at opt-level 3.
    /// `KIT_CASES` / `KIT_SEED` explore more.
    fn config() -> KitConfig {
        let cases = std::env::var("KIT_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(48);
        let seed = std::env::var("KIT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x6f75_746c);
        KitConfig::default().with_cases(cases).with_seed(seed)
    }

    fn check<B: BlockFormat>(precision: ValuePrecision) {
        let mut c = config();
        if B::BLOCK_LEN == 1 {
            c = c.with_max_blocks(64);
        }
        if let Err(failure) = check_with_outliers::<B>(&c, precision) {
            panic!("{failure}");
        }
    }

    macro_rules! composite {
        ($($name:ident => $ty:ty: $($prec:ident),+;)*) => {
            $(
                mod $name {
                    use super::*;
                    $(
                        #[test]
                        #[allow(non_snake_case)]
                        fn $prec() {
                            check::<$ty>(ValuePrecision::$prec);
                        }
                    )+
                }
            )*
        };
    }

    // Every precision at least as fine as the format. Not listed, by design: f16/bf16 values on
    // f32 weights and bf16 values on f16 weights (coarser than the format: the check must fail,
    // see below).
    composite! {
        float_f32 => f32: F32;
        float_f16 => f16: F32, F16;
        float_bf16 => bf16: F32, F16, Bf16;
        q4_0 => BlockQ4_0: F32, F16, Bf16;
        q4_1 => BlockQ4_1: F32, F16;
        q5_0 => BlockQ5_0: F32, F16, Bf16;
        q5_1 => BlockQ5_1: F32, F16;
        q8_0 => BlockQ8_0: F32, F16, Bf16;
        q8_1 => BlockQ8_1: F32, F16, Bf16;
        q2_k => BlockQ2K: F32, F16, Bf16;
        q3_k => BlockQ3K: F32, F16, Bf16;
        q4_k => BlockQ4K: F32, F16, Bf16;
        q5_k => BlockQ5K: F32, F16, Bf16;
        q6_k => BlockQ6K: F32, F16, Bf16;
        q8_k => BlockQ8K: F32, F16, Bf16;
        iq4_nl => BlockIq4Nl: F32, F16, Bf16;
        iq4_xs => BlockIq4Xs: F32, F16, Bf16;
        tq1_0 => BlockTq1_0: F32, F16, Bf16;
        tq2_0 => BlockTq2_0: F32, F16, Bf16;
        mxfp4 => BlockMxfp4: F32, F16, Bf16;
        nvfp4 => BlockNvfp4: F32, F16, Bf16;
    }

    /// A finding of the check (with `KIT_SEED` 0..5 and 300 cases, 5 of 6 seeds hit it).
    #[test]
    #[ignore = "finding: q4_1/q5_1 blocks with a large offset and a small spread (e.g. all values near 195.5) have a plain bound far below bf16's rounding (2⁻⁸ relative: 0.49 vs 0.014), so a kept value in bf16 is worse than the plain format; keep such weights in f16/f32"]
    fn q4_1_and_q5_1_with_bf16_values() {
        // Seed 1 with 300 cases hits it; the default 48 cases may not.
        let c = config().with_cases(300).with_seed(1);
        let q4_1 = check_with_outliers::<BlockQ4_1>(&c, ValuePrecision::Bf16);
        let q5_1 = check_with_outliers::<BlockQ5_1>(&c, ValuePrecision::Bf16);
        assert!(q4_1.is_ok() && q5_1.is_ok(), "{q4_1:?}\n{q5_1:?}");
    }

    /// The check can fail: bf16 table values (2⁻⁸ relative rounding) on f32 weights (bound 0)
    /// break "never worse than the plain format".
    #[test]
    fn catches_a_table_coarser_than_the_format() {
        let failure =
            check_with_outliers::<f32>(&config().with_max_blocks(64), ValuePrecision::Bf16)
                .unwrap_err();
        assert!(
            failure.message.contains("plain format's bound"),
            "{failure}"
        );
    }
}
