//! Products with outlier tables on every backend: equal to the dense product plus the exact
//! sparse term, and to "dequantize (with the table) then f32 dot" within the dot tolerance.

use quant_core::outlier::{
    OutlierPolicy, ValuePrecision, dequantize_with_outliers, quantize_with_outliers,
};
use quant_core::{Format, sample};
use quant_kernels::{OutlierMatrix, QuantMatrix, Scratch};

#[test]
fn outlier_products_on_every_backend() {
    let (rows, cols) = (sample::ROWS, sample::COLS);
    let w = sample::minilm_rows();
    let x: Vec<f32> = (0..cols)
        .map(|i| ((i * 7919 % 997) as f32 / 997.0 - 0.5) * 2.0)
        .collect();
    for format in [
        Format::Q4_0,
        Format::Q4K,
        Format::Q8_0,
        Format::Iq4Nl,
        Format::Q2K,
        Format::Q6K,
    ] {
        let q = quantize_with_outliers(
            format,
            &w,
            rows,
            cols,
            None,
            &OutlierPolicy::TopFraction(0.001),
            ValuePrecision::F16,
        )
        .unwrap();
        assert!(!q.table.is_empty());
        let m = OutlierMatrix::new(&q).unwrap();
        let dense = QuantMatrix::new(format, rows, cols, &q.blocks).unwrap();
        let wd = dequantize_with_outliers(&q).unwrap();
        for backend in quant_kernels::available() {
            let mut scratch = Scratch::new();
            let (mut y, mut yd) = (vec![0.0f32; rows], vec![0.0f32; rows]);
            m.matvec(backend, &x, &mut y, &mut scratch).unwrap();
            dense.matvec(backend, &x, &mut yd, &mut scratch).unwrap();
            for r in 0..rows {
                // Exactly the dense result plus the sparse term: the composition adds nothing else.
                assert_eq!(
                    y[r].to_bits(),
                    (yd[r] + m.sparse_term(r, &x)).to_bits(),
                    "{format} {}",
                    backend.name()
                );
                // Against dequantize-then-dot in f64: the activation is quantized to the partner
                // format (8-bit, relative error ≤ 1/254 per block), so allow 1/100 of Σ|w·x| plus
                // the SIMD summation bound; the kept weights themselves are exact.
                let exact: f64 = (0..cols)
                    .map(|j| f64::from(wd[r * cols + j]) * f64::from(x[j]))
                    .sum();
                let abs: f64 = (0..cols)
                    .map(|j| (f64::from(wd[r * cols + j]) * f64::from(x[j])).abs())
                    .sum();
                assert!(
                    (f64::from(y[r]) - exact).abs() <= 0.01 * abs,
                    "{format} {} row {r}: {} vs {exact}",
                    backend.name(),
                    y[r]
                );
            }
            // Batched product equals per-row products bit for bit.
            let xs: Vec<f32> = x.iter().chain(x.iter().rev()).copied().collect();
            let mut ys = vec![0.0f32; 2 * rows];
            m.matmul(backend, &xs, 2, &mut ys, &mut scratch).unwrap();
            assert_eq!(&ys[..rows], &y[..], "{format} {}", backend.name());
        }
    }
}

#[test]
fn table_shape_must_match() {
    let w = vec![0.5f32; 2 * 64];
    let q = quantize_with_outliers(
        Format::Q8_0,
        &w,
        2,
        64,
        None,
        &OutlierPolicy::TopKPerRow(1),
        ValuePrecision::F32,
    )
    .unwrap();
    let other = quant_core::outlier::OutlierTable::empty(3, 64, ValuePrecision::F32);
    assert!(matches!(
        OutlierMatrix::from_parts(Format::Q8_0, 2, 64, &q.blocks, &other),
        Err(quant_kernels::Error::ShapeMismatch { .. })
    ));
}

/// The threaded product (1 and 2 threads), the serial one and every batch row are the same bits,
/// on matrices large enough to split into many tasks, with rows holding 0, 1 or many kept weights.
#[test]
fn outlier_products_are_deterministic_across_threads() {
    let (rows, cols) = (300, 512);
    let w: Vec<f32> = (0..rows * cols)
        .map(|i| {
            let v = ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 0.1;
            if i % 997 == 0 { v * 300.0 } else { v }
        })
        .collect();
    let x: Vec<f32> = (0..cols)
        .map(|i| ((i * 104_729 % 991) as f32 / 991.0 - 0.5) * 3.0)
        .collect();
    // Uneven rows across tasks: a small table (10 % of the rows keep 40 weights, the others
    // none; its sparse pass runs on the calling thread) and a large one (every row but those
    // keeps 128: 34,560 entries, the sparse pass is split across the pool).
    let small: Vec<(usize, usize)> = (0..rows)
        .filter(|r| r % 10 == 3)
        .flat_map(|r| (0..40).map(move |k| (r, (k * 13 + r) % cols)))
        .collect();
    let large: Vec<(usize, usize)> = (0..rows)
        .filter(|r| r % 10 != 3)
        .flat_map(|r| (0..128).map(move |k| (r, (k * 4 + r) % cols)))
        .collect();
    let pools: Vec<rayon::ThreadPool> = [1, 2]
        .iter()
        .map(|&t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        })
        .collect();
    for (format, positions, kept) in [
        (Format::Q4_0, &small, 30 * 40),
        (Format::Q4K, &small, 30 * 40),
        (Format::Q4_0, &large, 270 * 128),
        (Format::Q4K, &large, 270 * 128),
    ] {
        let policy = OutlierPolicy::Explicit(positions.clone());
        for precision in [ValuePrecision::F16, ValuePrecision::Bf16] {
            let q =
                quantize_with_outliers(format, &w, rows, cols, None, &policy, precision).unwrap();
            assert_eq!(q.table.len(), kept);
            let m = OutlierMatrix::new(&q).unwrap();
            let backend = quant_kernels::best();
            let mut scratch = Scratch::new();
            let mut serial = vec![0.0f32; rows];
            m.matvec_serial(backend, &x, &mut serial, &mut scratch)
                .unwrap();
            for pool in &pools {
                let mut y = vec![f32::NAN; rows];
                pool.install(|| m.matvec(backend, &x, &mut y, &mut scratch))
                    .unwrap();
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&y),
                    bits(&serial),
                    "{format} {precision:?} {} threads",
                    pool.current_num_threads()
                );
                // A batch of three: each row of the result is the single product of its input.
                let x2: Vec<f32> = x.iter().map(|v| -0.5 * v).collect();
                let xs: Vec<f32> = [&x[..], &x2[..], &x[..]].concat();
                let mut ys = vec![0.0f32; 3 * rows];
                pool.install(|| m.matmul(backend, &xs, 3, &mut ys, &mut scratch))
                    .unwrap();
                let mut y2 = vec![0.0f32; rows];
                m.matvec_serial(backend, &x2, &mut y2, &mut scratch)
                    .unwrap();
                assert_eq!(bits(&ys[..rows]), bits(&serial));
                assert_eq!(bits(&ys[rows..2 * rows]), bits(&y2));
                assert_eq!(bits(&ys[2 * rows..]), bits(&serial));
            }
        }
    }
}

#[test]
fn bad_buffers_are_typed_errors() {
    let w = vec![0.5f32; 2 * 64];
    let q = quantize_with_outliers(
        Format::Q8_0,
        &w,
        2,
        64,
        None,
        &OutlierPolicy::TopKPerRow(1),
        ValuePrecision::F32,
    )
    .unwrap();
    let m = OutlierMatrix::new(&q).unwrap();
    let backend = quant_kernels::best();
    let mut scratch = Scratch::new();
    let mut y = vec![0.0f32; 2];
    assert!(matches!(
        m.matvec(backend, &[1.0; 63], &mut y, &mut scratch),
        Err(quant_kernels::Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        m.matvec(backend, &[1.0; 64], &mut [0.0; 3], &mut scratch),
        Err(quant_kernels::Error::ShapeMismatch { .. })
    ));
    let mut x = vec![1.0f32; 64];
    x[5] = f32::NAN;
    assert!(m.matvec(backend, &x, &mut y, &mut scratch).is_err());
    // The scratch still works after an error: same bits as with a fresh one.
    m.matvec(backend, &[1.0; 64], &mut y, &mut scratch).unwrap();
    let mut fresh = vec![0.0f32; 2];
    m.matvec(backend, &[1.0; 64], &mut fresh, &mut Scratch::new())
        .unwrap();
    assert_eq!(y, fresh);
}

/// With activations that the partner format represents exactly (integers with a ±127 in every
/// 32-value block: scale 1 for q8_0/q8_1, 1/iscale = ∓1 for q8_K), the product must equal the
/// product with `dequantize_with_outliers`' matrix up to f32 summation error. Rows of values near
/// 1 (block mean ≈ 1) with kept weights at columns where `x` is 127: counting a kept position's
/// base value as well as its exact value would be off by ≈ 127 per entry.
#[test]
fn kept_weights_are_not_counted_twice() {
    let (rows, cols) = (8, 512);
    let w: Vec<f32> = (0..rows * cols)
        .map(|i| {
            let v = 1.0 + ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 0.2;
            if i % 61 == 0 { 40.0 } else { v }
        })
        .collect();
    let x: Vec<f32> = (0..cols)
        .map(|j| {
            if j % 32 == 5 || (j * 61) % cols < 8 {
                127.0
            } else {
                ((j * 104_729 % 255) as f32) - 127.0
            }
        })
        .collect();
    for format in [
        Format::Q4_0,
        Format::Q4_1,
        Format::Q5_0,
        Format::Q8_0,
        Format::Iq4Nl,
        Format::Q2K,
        Format::Q3K,
        Format::Q4K,
        Format::Q5K,
        Format::Q6K,
    ] {
        let q = quantize_with_outliers(
            format,
            &w,
            rows,
            cols,
            None,
            &OutlierPolicy::SigmaRow(3.0),
            ValuePrecision::F32,
        )
        .unwrap();
        assert!(q.table.len() >= rows, "{format}: the 40s are kept");
        let wd = dequantize_with_outliers(&q).unwrap();
        let m = OutlierMatrix::new(&q).unwrap();
        for backend in quant_kernels::available() {
            let mut y = vec![0.0f32; rows];
            m.matvec(backend, &x, &mut y, &mut Scratch::new()).unwrap();
            for r in 0..rows {
                let row = &wd[r * cols..(r + 1) * cols];
                let exact: f64 = row
                    .iter()
                    .zip(&x)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                let abs: f64 = row
                    .iter()
                    .zip(&x)
                    .map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs())
                    .sum();
                // The activations are exact, so only f32 rounding remains: of the block scales
                // times integer sums (a few roundings per block) and of the sparse sum, each
                // ≤ 2⁻²⁴ relative of terms bounded by Σ|w·x|; 1e-5·Σ|w·x| (≈ 0.4 here) covers
                // them with a wide margin and is far below the 127 of a double count.
                assert!(
                    (f64::from(y[r]) - exact).abs() <= 1e-5 * abs,
                    "{format} {} row {r}: {} vs {exact} (Σ|w·x| = {abs})",
                    backend.name(),
                    y[r]
                );
            }
        }
    }
}
