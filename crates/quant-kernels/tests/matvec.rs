//! Matrix × vector and matrix × batch: equal to per-row dot products, identical across thread
//! counts, no allocation in steady state, typed errors; the generic path for custom formats.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use quant_core::{BlockFormat, Format, quantize_matrix};
use quant_kernels::{
    Backend, Error, GenericMatrix, QuantMatrix, Scratch, available, dot_generic,
    quantize_activations, scalar::Scalar, vec_dot_with,
};

/// Counts every allocation of the test process (to check that steady-state products do not
/// allocate).
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocation counter is process-wide: the tests of this file run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let h = (i as u32).wrapping_add(seed.wrapping_mul(0x9E37_79B9));
            let h = h.wrapping_mul(2_654_435_761) ^ (h >> 13);
            ((h >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2.0
        })
        .collect()
}

/// Every format with a dot product, with a column count every block length divides.
fn weight_formats() -> impl Iterator<Item = Format> {
    Format::ALL.into_iter().filter(|f| *f != Format::Q8_1)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn matvec_equals_row_by_row_dots_bit_for_bit() {
    let _serial = serial();
    let (rows, cols) = (37, 512);
    let x = values(cols, 7);
    let mut scratch = Scratch::new();
    for backend in available() {
        for format in weight_formats() {
            let w = quantize_matrix(format, &values(rows * cols, 1), rows, cols, None).unwrap();
            let m = QuantMatrix::new(format, rows, cols, &w).unwrap();
            let mut y = vec![f32::NAN; rows];
            m.matvec(backend, &x, &mut y, &mut scratch).unwrap();
            let partner = format.vec_dot_partner().unwrap();
            let xq = quantize_activations(backend, partner, &x).unwrap();
            let row_bytes = format.row_bytes(cols).unwrap();
            let want: Vec<f32> = w
                .chunks_exact(row_bytes)
                .map(|r| vec_dot_with(backend, format, r, &xq).unwrap())
                .collect();
            assert_eq!(bits(&y), bits(&want), "{} {format}", backend.name());
        }
    }
}

#[test]
fn threaded_results_equal_single_threaded_bit_for_bit() {
    let _serial = serial();
    let (rows, cols) = (203, 1024);
    let x = values(cols, 3);
    let mut scratch = Scratch::new();
    for format in [Format::Q4_0, Format::Q4K, Format::Q6K, Format::F16] {
        let w = quantize_matrix(format, &values(rows * cols, 5), rows, cols, None).unwrap();
        let m = QuantMatrix::new(format, rows, cols, &w).unwrap();
        let backend = quant_kernels::best();
        let mut serial = vec![0.0; rows];
        m.matvec_serial(backend, &x, &mut serial, &mut scratch)
            .unwrap();
        for threads in [1, 2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut y = vec![0.0; rows];
            pool.install(|| m.matvec(backend, &x, &mut y, &mut scratch))
                .unwrap();
            assert_eq!(bits(&y), bits(&serial), "{format}, {threads} threads");
        }
    }
}

#[test]
fn matmul_equals_matvec_per_batch_row() {
    let _serial = serial();
    // 21 rows: a full tile of 16 (four 4-row kernel calls), then 4 + 1.
    let (rows, cols, batch) = (45, 512, 21);
    let xs = values(batch * cols, 11);
    let mut scratch = Scratch::new();
    for format in weight_formats() {
        let w = quantize_matrix(format, &values(rows * cols, 2), rows, cols, None).unwrap();
        let m = QuantMatrix::new(format, rows, cols, &w).unwrap();
        let backend = quant_kernels::best();
        let mut ys = vec![f32::NAN; batch * rows];
        m.matmul(backend, &xs, batch, &mut ys, &mut scratch)
            .unwrap();
        for b in 0..batch {
            let mut y = vec![0.0; rows];
            m.matvec(backend, &xs[b * cols..(b + 1) * cols], &mut y, &mut scratch)
                .unwrap();
            assert_eq!(
                bits(&ys[b * rows..(b + 1) * rows]),
                bits(&y),
                "{format} b={b}"
            );
        }
    }
}

#[test]
fn steady_state_products_do_not_allocate() {
    let _serial = serial();
    let (rows, cols, batch) = (64, 1024, 4);
    let w = quantize_matrix(Format::Q4K, &values(rows * cols, 9), rows, cols, None).unwrap();
    let m = QuantMatrix::new(Format::Q4K, rows, cols, &w).unwrap();
    let xs = values(batch * cols, 1);
    let mut y = vec![0.0; rows];
    let mut ys = vec![0.0; rows * batch];
    let mut scratch = Scratch::new();
    let backend = quant_kernels::best();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // Every worker has started (thread start-up allocates its deque and thread-locals).
    pool.broadcast(|_| ());
    pool.install(|| {
        // Warm-up: the scratch grows to its final size.
        m.matvec(backend, &xs[..cols], &mut y, &mut scratch)
            .unwrap();
        m.matmul(backend, &xs, batch, &mut ys, &mut scratch)
            .unwrap();
        let before = ALLOCS.load(Ordering::SeqCst);
        for _ in 0..10 {
            m.matvec(backend, &xs[..cols], &mut y, &mut scratch)
                .unwrap();
            m.matmul(backend, &xs, batch, &mut ys, &mut scratch)
                .unwrap();
        }
        let after = ALLOCS.load(Ordering::SeqCst);
        assert_eq!(after - before, 0, "allocations in steady state");
    });
}

#[test]
fn row_term_is_added_to_each_row() {
    let _serial = serial();
    let (rows, cols) = (20, 256);
    let w = quantize_matrix(Format::Q8_0, &values(rows * cols, 4), rows, cols, None).unwrap();
    let x = values(cols, 6);
    let mut scratch = Scratch::new();
    let plain = QuantMatrix::new(Format::Q8_0, rows, cols, &w).unwrap();
    let mut y0 = vec![0.0; rows];
    plain.matvec(&Scalar, &x, &mut y0, &mut scratch).unwrap();
    // A sparse "outlier" term: row r adds 10·r·x[r].
    let term = |r: usize, x: &[f32]| 10.0 * r as f32 * x[r];
    let with = QuantMatrix::new(Format::Q8_0, rows, cols, &w)
        .unwrap()
        .with_row_term(&term);
    let mut y1 = vec![0.0; rows];
    with.matvec(&Scalar, &x, &mut y1, &mut scratch).unwrap();
    for r in 0..rows {
        assert_eq!(y1[r].to_bits(), (y0[r] + term(r, &x)).to_bits(), "row {r}");
    }
}

#[test]
fn misaligned_weight_bytes_are_accepted() {
    let _serial = serial();
    let (rows, cols) = (9, 256);
    let w = quantize_matrix(Format::Q8K, &values(rows * cols, 8), rows, cols, None).unwrap();
    let mut shifted = vec![0u8; w.len() + 1];
    shifted[1..].copy_from_slice(&w);
    let x = values(cols, 2);
    let mut scratch = Scratch::new();
    let (mut a, mut b) = (vec![0.0; rows], vec![0.0; rows]);
    QuantMatrix::new(Format::Q8K, rows, cols, &w)
        .unwrap()
        .matvec(&Scalar, &x, &mut a, &mut scratch)
        .unwrap();
    let m = QuantMatrix::new(Format::Q8K, rows, cols, &shifted[1..]).unwrap();
    assert_eq!(m.bytes(), &w[..]);
    m.matvec(&Scalar, &x, &mut b, &mut scratch).unwrap();
    assert_eq!(bits(&a), bits(&b));
}

#[test]
fn bad_shapes_give_typed_errors() {
    let _serial = serial();
    let (rows, cols) = (4, 64);
    let w = quantize_matrix(Format::Q4_0, &values(rows * cols, 1), rows, cols, None).unwrap();
    let mut scratch = Scratch::new();
    assert!(matches!(
        QuantMatrix::new(Format::Q4_0, rows + 1, cols, &w),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        QuantMatrix::new(Format::Q4_0, rows, 48, &w),
        Err(Error::Core(quant_core::Error::RaggedLength { .. }))
    ));
    assert!(matches!(
        QuantMatrix::new(Format::Q8_1, 1, 32, &[0u8; 36]),
        Err(Error::NoDot { .. })
    ));
    let m = QuantMatrix::new(Format::Q4_0, rows, cols, &w).unwrap();
    let mut y = vec![0.0; rows];
    assert!(matches!(
        m.matvec(&Scalar, &values(cols - 1, 1), &mut y, &mut scratch),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        m.matvec(&Scalar, &values(cols, 1), &mut y[1..], &mut scratch),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut x = values(cols, 1);
    x[5] = f32::NAN;
    assert!(matches!(
        m.matvec(&Scalar, &x, &mut y, &mut scratch),
        Err(Error::Core(quant_core::Error::NonFinite { index: 5, .. }))
    ));
    let mut ys = vec![0.0; rows * 2];
    assert!(matches!(
        m.matmul(&Scalar, &values(cols * 3, 1), 2, &mut ys, &mut scratch),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn degenerate_shapes_work() {
    let _serial = serial();
    let mut scratch = Scratch::new();
    // No columns: every row's dot is the empty sum.
    let m = QuantMatrix::new(Format::Q4_0, 3, 0, &[]).unwrap();
    let mut y = vec![f32::NAN; 3];
    m.matvec(&Scalar, &[], &mut y, &mut scratch).unwrap();
    assert_eq!(y, [0.0; 3]);
    let mut ys = vec![f32::NAN; 6];
    m.matmul(&Scalar, &[], 2, &mut ys, &mut scratch).unwrap();
    assert_eq!(ys, [0.0; 6]);
    // No rows.
    let m = QuantMatrix::new(Format::Q4_0, 0, 32, &[]).unwrap();
    m.matvec(&Scalar, &values(32, 1), &mut [], &mut scratch)
        .unwrap();
    m.matmul(&Scalar, &values(64, 1), 2, &mut [], &mut scratch)
        .unwrap();
}

/// A user-defined format (8 values, f32 scale, i8 quants), as in quant-core's docs.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Tiny {
    d: f32,
    q: [i8; 8],
}

impl BlockFormat for Tiny {
    const NAME: &'static str = "tiny8";
    const BLOCK_LEN: usize = 8;
    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        for (x, b) in src.chunks_exact(8).zip(dst) {
            let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            b.d = d;
            for (q, v) in b.q.iter_mut().zip(x) {
                *q = (v * id).round() as i8;
            }
        }
    }
    fn dequantize_block(&self, dst: &mut [f32]) {
        for (o, q) in dst.iter_mut().zip(self.q) {
            *o = self.d * f32::from(q);
        }
    }
}

#[test]
fn generic_path_handles_custom_and_builtin_formats() {
    let _serial = serial();
    let (rows, cols) = (33, 2048 + 8);
    let wv = values(rows * cols, 12);
    let x = values(cols, 13);
    let blocks: Vec<Tiny> = quant_core::quantize_row_to_vec(&wv, None).unwrap();
    let deq = quant_core::dequantize_row_to_vec(&blocks);
    let m = GenericMatrix::new(&blocks, rows, cols).unwrap();
    for backend in available() {
        let mut y = vec![0.0; rows];
        m.matvec(backend, &x, &mut y).unwrap();
        let nb = cols / 8;
        for r in 0..rows {
            let row = &blocks[r * nb..(r + 1) * nb];
            // Same kernel per row: identical to a direct call.
            let direct = dot_generic(backend, row, &x);
            assert_eq!(y[r].to_bits(), direct.to_bits());
            // And the f32 dot of the dequantized row up to summation order: γ_n-style bound
            // 2·n·2^-24·Σ|w·x| (see quant_kernels::tolerance::dot_tolerance for f32).
            let wr = &deq[r * cols..(r + 1) * cols];
            let exact: f64 = wr
                .iter()
                .zip(&x)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            let abs: f64 = wr
                .iter()
                .zip(&x)
                .map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs())
                .sum();
            let tol = quant_kernels::tolerance::dot_tolerance(Format::F32, cols, abs);
            assert!((f64::from(y[r]) - exact).abs() <= tol, "row {r}");
        }
    }
    // Built-in formats work through the same path, and agree with the dedicated f32 kernel on
    // the dequantized row.
    let q4: Vec<quant_core::formats::BlockQ4K> =
        quant_core::quantize_row_to_vec(&wv[..2048], None).unwrap();
    let d4 = quant_core::dequantize_row_to_vec(&q4);
    let g = dot_generic(&Scalar, &q4, &x[..2048]);
    // CHUNK (1024 values) partial dots summed: the same sequential order as scalar dot_f32 over
    // 1024-value chunks; compared with the γ_n bound.
    let abs: f64 = d4
        .iter()
        .zip(&x)
        .map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs())
        .sum();
    let want = Scalar.dot_f32(&d4, &x[..2048]);
    assert!(
        (f64::from(g) - f64::from(want)).abs()
            <= quant_kernels::tolerance::dot_tolerance(Format::F32, 2048, abs)
    );
    assert!(matches!(
        GenericMatrix::new(&blocks, rows + 1, cols),
        Err(Error::ShapeMismatch { .. })
    ));
}
