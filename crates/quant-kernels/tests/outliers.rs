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
                // Exactly the dense result plus the table's term: the composition adds nothing else.
                assert_eq!(
                    y[r].to_bits(),
                    (yd[r] + q.table.row_dot(r, &x)).to_bits(),
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
