//! The AVX-512 kernels, written once and stamped out twice by [`avx512_kernels!`]: once with
//! `avx512vnni` enabled (`vpdpbusd`) and once without (F/BW/VL only). The two instantiations
//! differ only in the two helpers `dpbusd_small` / `dpbusd_full` that the enclosing module defines
//! (see `avx512.rs`), so both compute the same integers.
//!
//! # Exactness of the integer parts
//!
//! Every quantized dot is computed as `Σ u·s` with `u` unsigned bytes and `s` signed bytes
//! (`vpdpbusd` semantics: each i32 lane adds four `u8 × i8` products, no saturation), then an
//! offset correction. Signed weights `q` are stored as `u = q + off` with `off ≥ 0` chosen so
//! that `0 ≤ u ≤ 255`, and `Σ q·a = Σ u·a − off·Σ a`, where `off·Σ a` is one more
//! `vpdpbusd(splat(off), a)` (or `2·vpdpbusd(splat(64), a)` for `off = 128`). Both terms are exact
//! i32 sums (a lane holds at most `4·255·128 = 130 560`), so the difference is exact for every
//! byte pattern, `a = −128` included. No sign trick (`vpsignb`/`maddubs` with `|a|`) is used:
//! that trick turns `a·sign(w) = −128·−1` into `−128` (i8 overflow).
//!
//! `Σ a` is always computed from the activation bytes, never read from `q8_K`'s `bsums`, except
//! where the scalar reference itself uses `bsums` (the `mins` terms of q2_K, q4_K and q5_K): the
//! backend contract is "same result as scalar for every bit pattern", and `bsums` of arbitrary
//! blocks need not equal the sums of `qs`.
//!
//! Sub-block scales are applied with `vpmaddwd` on i32 lanes whose values fit in i16 (bounds in
//! each kernel) against scale lanes holding the scale in the low 16 bits and 0 in the high 16
//! bits, which is an exact `lane · scale`.
//!
//! # Float parts
//!
//! Per-block scales are multiplied in f32 exactly as in the reference (`d_w · d_a`), but the
//! lanes are summed in a different order, so dot results differ from the scalar oracle in the
//! last bits (tolerance in `tests/avx512.rs`). Dequantizers and activation quantizers mirror the
//! reference operation order and never fuse a multiply with an add, so they are bit-exact.

/// Stamps out every kernel with `#[target_feature(enable = $feat)]`. The calling module must
/// define `dpbusd_small(acc, u, s)` (exact for `u ≤ 128`, `|s| ≤ 127` or `u ≤ 127`) and
/// `dpbusd_full(acc, u, s)` (exact for every `u8 × i8`), both with `vpdpbusd` semantics.
macro_rules! avx512_kernels {
    ($feat:literal) => {
        use core::arch::x86_64::*;

        use bytemuck::Zeroable;
        use half::{bf16, f16};
        use quant_core::formats::{
            BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0,
            BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1,
            BlockQ8K, BlockTq1_0, BlockTq2_0,
        };

        use crate::scalar::e8m0_to_f32_half;
        use crate::x86::avx512::tables::{
            FP4_BYTES, FP4_PLUS_12, IQ4NL_BYTES, IQ4NL_PLUS_128, UE4M3_HALF,
        };

        // ------------------------------------------------------------------ loads

        /// 16 bytes.
        #[target_feature(enable = $feat)]
        #[inline]
        fn ld128(p: &[u8; 16]) -> __m128i {
            // SAFETY: `p` is 16 readable bytes; `loadu` has no alignment requirement.
            unsafe { _mm_loadu_si128(p.as_ptr().cast()) }
        }

        /// 32 bytes.
        #[target_feature(enable = $feat)]
        #[inline]
        fn ld256<T: bytemuck::Pod>(p: &[T]) -> __m256i {
            assert!(core::mem::size_of_val(p) == 32);
            // SAFETY: the assert guarantees 32 readable bytes; `loadu` needs no alignment.
            unsafe { _mm256_loadu_si256(p.as_ptr().cast()) }
        }

        /// 64 bytes.
        #[target_feature(enable = $feat)]
        #[inline]
        fn ld512<T: bytemuck::Pod>(p: &[T]) -> __m512i {
            assert!(core::mem::size_of_val(p) == 64);
            // SAFETY: the assert guarantees 64 readable bytes; `loadu` needs no alignment.
            unsafe { _mm512_loadu_si512(p.as_ptr().cast()) }
        }

        /// Stores 16 f32.
        #[target_feature(enable = $feat)]
        #[inline]
        fn st16(dst: &mut [f32], v: __m512) {
            assert!(dst.len() == 16);
            // SAFETY: the assert guarantees 16 writable f32; `storeu` needs no alignment.
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), v) }
        }

        /// Two 32-byte halves in one register (`lo` in bytes 0..32).
        #[target_feature(enable = $feat)]
        #[inline]
        fn pair256(lo: __m256i, hi: __m256i) -> __m512i {
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
        }

        /// One f16 widened to f32 with `vcvtph2ps` (exact).
        #[target_feature(enable = $feat)]
        #[inline]
        fn f16s(h: f16) -> f32 {
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h.to_bits()))))
        }

        /// Two blocks of 16 nibble-order bytes expanded to 64 values `0..=15`:
        /// bytes `0..16` = low nibbles of `q0` (values 0..16), `16..32` = its high nibbles
        /// (values 16..32), then the same for `q1`.
        #[target_feature(enable = $feat)]
        #[inline]
        fn nib_pair(q0: &[u8; 16], q1: &[u8; 16]) -> __m512i {
            let y = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(ld128(q0)), ld128(q1));
            let z = _mm512_castsi256_si512(y);
            // 128-bit lanes [q0, q0, q1, q1].
            let z = _mm512_shuffle_i64x2::<0b01_01_00_00>(z, z);
            // Shift the second copy of each by 4 (16-bit lanes 8..16 and 24..32).
            let z = _mm512_mask_srli_epi16::<4>(z, 0xFF00_FF00, z);
            _mm512_and_si512(z, _mm512_set1_epi8(0x0F))
        }

        /// Scale lanes for pair `k` of a 16-block chunk: block `2k` in lanes 0..8, `2k+1` in 8..16.
        #[target_feature(enable = $feat)]
        #[inline]
        fn pair_scale(s16: __m512, k: usize) -> __m512 {
            let base = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            let idx = _mm512_add_epi32(base, _mm512_set1_epi32(2 * k as i32));
            _mm512_permutexvar_ps(idx, s16)
        }

        /// `Σ q·a` per 4-byte lane for signed `q` (as raw i8 bytes) and signed `a`, exact for
        /// every pair (−128 included): `u = q ^ 0x80 = q + 128` is `0..=255`, and
        /// `Σ u·a − 2·Σ 64·a = Σ q·a`; both sums are exact i32 (|lane| ≤ 4·255·128).
        #[target_feature(enable = $feat)]
        #[inline]
        fn dot_i8i8(q: __m512i, a: __m512i) -> __m512i {
            let u = _mm512_xor_si512(q, _mm512_set1_epi8(-128));
            let p = dpbusd_full(_mm512_setzero_si512(), u, a);
            let c = dpbusd_small(_mm512_setzero_si512(), _mm512_set1_epi8(64), a);
            _mm512_sub_epi32(p, _mm512_slli_epi32::<1>(c))
        }

        /// `off · Σ a` per 4-byte lane (`off ≤ 127`).
        #[target_feature(enable = $feat)]
        #[inline]
        fn off_sum(off: i8, a: __m512i) -> __m512i {
            dpbusd_small(_mm512_setzero_si512(), _mm512_set1_epi8(off), a)
        }

        /// Sums a row of 32-value blocks: `scales` gives 16 per-block multipliers (and an
        /// additive per-block term, e.g. `m·s`), `pair` the exact integer lanes of two blocks.
        #[target_feature(enable = $feat)]
        #[inline]
        fn legacy_row<W: bytemuck::Pod, A: bytemuck::Pod>(
            w: &[W],
            a: &[A],
            scales: impl Fn(&[W; 16], &[A; 16]) -> (__m512, Option<__m512>),
            pair: impl Fn(&W, &W, &A, &A) -> __m512i,
        ) -> f32 {
            assert_eq!(w.len(), a.len());
            // Four accumulators: the FMAs of one chunk do not wait for each other.
            let mut acc = [_mm512_setzero_ps(); 4];
            let mut acc_m = _mm512_setzero_ps();
            let (wc, wr) = w.as_chunks::<16>();
            let (ac, ar) = a.as_chunks::<16>();
            // Zero blocks (scale 0, quants 0) contribute exactly 0 to the padded tail chunk.
            let mut wt = [W::zeroed(); 16];
            let mut at = [A::zeroed(); 16];
            wt[..wr.len()].copy_from_slice(wr);
            at[..ar.len()].copy_from_slice(ar);
            let chunks = wc.len() + usize::from(!wr.is_empty());
            // One loop (one inlined body) over the full chunks and the padded tail.
            for i in 0..chunks {
                let (wb, ab) = if i < wc.len() {
                    (&wc[i], &ac[i])
                } else {
                    (&wt, &at)
                };
                let (s, m) = scales(wb, ab);
                for k in 0..8 {
                    let isum = pair(&wb[2 * k], &wb[2 * k + 1], &ab[2 * k], &ab[2 * k + 1]);
                    let f = _mm512_cvtepi32_ps(isum);
                    acc[k % 4] = _mm512_fmadd_ps(f, pair_scale(s, k), acc[k % 4]);
                }
                if let Some(m) = m {
                    acc_m = _mm512_add_ps(acc_m, m);
                }
            }
            let acc = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            _mm512_reduce_add_ps(_mm512_add_ps(acc, acc_m))
        }

        /// Byte offsets `i·size_of::<T>() + off` of a field in 16 consecutive blocks.
        #[target_feature(enable = $feat)]
        #[inline]
        fn field_offsets<T>(off: usize) -> __m512i {
            let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            let size = _mm512_set1_epi32(size_of::<T>() as i32);
            _mm512_add_epi32(
                _mm512_mullo_epi32(lane, size),
                _mm512_set1_epi32(off as i32),
            )
        }

        /// The 4 bytes at offset `off` of each of 16 blocks, one `vpgatherdd`.
        ///
        /// # Panics
        /// If `off + 4 > size_of::<T>()`.
        #[target_feature(enable = $feat)]
        #[inline]
        fn gather_dwords<T>(blocks: &[T; 16], off: usize) -> __m512i {
            assert!(off + 4 <= size_of::<T>());
            let idx = field_offsets::<T>(off);
            // SAFETY: lane `i` reads bytes `i·size_of::<T>() + off .. + 4` of `blocks`, inside
            // block `i` by the assert; the gather has no alignment requirement.
            unsafe { _mm512_i32gather_epi32::<1>(idx, blocks.as_ptr().cast()) }
        }

        /// The f16 field at byte offset `off` of 16 blocks, widened to f32 (exact).
        #[target_feature(enable = $feat)]
        #[inline]
        fn f16_lanes<T>(blocks: &[T; 16], off: usize) -> __m512 {
            _mm512_cvtph_ps(_mm512_cvtepi32_epi16(gather_dwords(blocks, off)))
        }

        /// `d_w·d_a` of 16 block pairs whose f16 scale `d` is the first field.
        #[target_feature(enable = $feat)]
        #[inline]
        fn d_products<W, A>(w: &[W; 16], a: &[A; 16]) -> __m512 {
            _mm512_mul_ps(f16_lanes(w, 0), f16_lanes(a, 0))
        }

        #[target_feature(enable = $feat)]
        #[inline]
        fn q8_0_pair(a0: &BlockQ8_0, a1: &BlockQ8_0) -> __m512i {
            pair256(ld256(&a0.qs), ld256(&a1.qs))
        }

        #[target_feature(enable = $feat)]
        #[inline]
        fn q8_1_pair(a0: &BlockQ8_1, a1: &BlockQ8_1) -> __m512i {
            pair256(ld256(&a0.qs), ld256(&a1.qs))
        }

        /// Adds 16 to the bytes whose bit is set in the two `qh` words (5th bit of q5_0/q5_1).
        #[target_feature(enable = $feat)]
        #[inline]
        fn add_qh(u: __m512i, qh0: [u8; 4], qh1: [u8; 4]) -> __m512i {
            let k = u64::from(u32::from_le_bytes(qh0)) | (u64::from(u32::from_le_bytes(qh1)) << 32);
            _mm512_mask_add_epi8(u, k, u, _mm512_set1_epi8(16))
        }

        // ------------------------------------------------------------------ legacy dots

        /// q4_0 · q8_0: `u = nibble ∈ 0..=15`, `q = u − 8`; lanes `Σ u·a − 8·Σ a`, exact.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q4_0_q8_0(w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
            legacy_row(
                w,
                a,
                |wb, ab| (_mm512_mul_ps(f16_lanes(wb, 0), f16_lanes(ab, 0)), None),
                |w0, w1, a0, a1| {
                    let av = q8_0_pair(a0, a1);
                    let p = dpbusd_small(_mm512_setzero_si512(), nib_pair(&w0.qs, &w1.qs), av);
                    _mm512_sub_epi32(p, off_sum(8, av))
                },
            )
        }

        /// q4_1 · q8_1: `Σ d_w·d_a·Σ u·a + m_w·s_a` (u ≤ 15).
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q4_1_q8_1(w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
            legacy_row(
                w,
                a,
                |wb, ab| {
                    let d = d_products(wb, ab);
                    let m = _mm512_mul_ps(f16_lanes(wb, 2), f16_lanes(ab, 2));
                    (d, Some(m))
                },
                |w0, w1, a0, a1| {
                    let u = nib_pair(&w0.qs, &w1.qs);
                    dpbusd_small(_mm512_setzero_si512(), u, q8_1_pair(a0, a1))
                },
            )
        }

        /// q5_0 · q8_0: `u = nibble | 16·bit ∈ 0..=31`, `q = u − 16`; exact as q4_0.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q5_0_q8_0(w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
            legacy_row(
                w,
                a,
                |wb, ab| (_mm512_mul_ps(f16_lanes(wb, 0), f16_lanes(ab, 0)), None),
                |w0, w1, a0, a1| {
                    let av = q8_0_pair(a0, a1);
                    let u = add_qh(nib_pair(&w0.qs, &w1.qs), w0.qh, w1.qh);
                    let p = dpbusd_small(_mm512_setzero_si512(), u, av);
                    _mm512_sub_epi32(p, off_sum(16, av))
                },
            )
        }

        /// q5_1 · q8_1: `u = nibble | 16·bit ∈ 0..=31`, plus `m_w·s_a`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q5_1_q8_1(w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
            legacy_row(
                w,
                a,
                |wb, ab| {
                    let d = d_products(wb, ab);
                    let m = _mm512_mul_ps(f16_lanes(wb, 2), f16_lanes(ab, 2));
                    (d, Some(m))
                },
                |w0, w1, a0, a1| {
                    let u = add_qh(nib_pair(&w0.qs, &w1.qs), w0.qh, w1.qh);
                    dpbusd_small(_mm512_setzero_si512(), u, q8_1_pair(a0, a1))
                },
            )
        }

        /// q8_0 · q8_0: signed × signed through [`dot_i8i8`] (exact for −128).
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q8_0_q8_0(w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
            legacy_row(
                w,
                a,
                |wb, ab| (_mm512_mul_ps(f16_lanes(wb, 0), f16_lanes(ab, 0)), None),
                |w0, w1, a0, a1| dot_i8i8(q8_0_pair(w0, w1), q8_0_pair(a0, a1)),
            )
        }

        /// iq4_nl · q8_0: `u = kvalues[nibble] + 128 ∈ 1..=241` by `vpshufb`, lanes
        /// `Σ u·a − 128·Σ a`, exact.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_iq4nl_q8_0(w: &[BlockIq4Nl], a: &[BlockQ8_0]) -> f32 {
            let tbl = _mm512_broadcast_i32x4(ld128(&IQ4NL_PLUS_128));
            legacy_row(
                w,
                a,
                |wb, ab| (_mm512_mul_ps(f16_lanes(ab, 0), f16_lanes(wb, 0)), None),
                |w0, w1, a0, a1| {
                    let av = q8_0_pair(a0, a1);
                    let u = _mm512_shuffle_epi8(tbl, nib_pair(&w0.qs, &w1.qs));
                    let p = dpbusd_full(_mm512_setzero_si512(), u, av);
                    _mm512_sub_epi32(p, _mm512_slli_epi32::<1>(off_sum(64, av)))
                },
            )
        }

        /// mxfp4 · q8_0: `u = kvalues_fp4[nibble] + 12 ∈ 0..=24`, lanes `Σ u·a − 12·Σ a`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_mxfp4_q8_0(w: &[BlockMxfp4], a: &[BlockQ8_0]) -> f32 {
            let tbl = _mm512_broadcast_i32x4(ld128(&FP4_PLUS_12));
            legacy_row(
                w,
                a,
                |wb, ab| (_mm512_mul_ps(f16_lanes(ab, 0), e8m0_lanes(wb)), None),
                |w0, w1, a0, a1| {
                    let av = q8_0_pair(a0, a1);
                    let u = _mm512_shuffle_epi8(tbl, nib_pair(&w0.qs, &w1.qs));
                    let p = dpbusd_small(_mm512_setzero_si512(), u, av);
                    _mm512_sub_epi32(p, off_sum(12, av))
                },
            )
        }

        /// `e8m0_to_f32_half(e)` of 16 mxfp4 blocks: `0x0020_0000 << e` for `e < 2`, else
        /// `(e − 1) << 23` (exact bit patterns, as the scalar oracle).
        #[target_feature(enable = $feat)]
        #[inline]
        fn e8m0_lanes(w: &[BlockMxfp4; 16]) -> __m512 {
            let e = _mm512_and_si512(gather_dwords(w, 0), _mm512_set1_epi32(0xFF));
            let small = _mm512_cmplt_epu32_mask(e, _mm512_set1_epi32(2));
            let normal = _mm512_slli_epi32::<23>(_mm512_sub_epi32(e, _mm512_set1_epi32(1)));
            let sub = _mm512_sllv_epi32(_mm512_set1_epi32(0x0020_0000), e);
            _mm512_castsi512_ps(_mm512_mask_blend_epi32(small, normal, sub))
        }

        /// nvfp4 · q8_0: one nvfp4 block (64 values, four 16-value sub-blocks) against two q8_0
        /// blocks; `u = kvalues_fp4 + 12` as for mxfp4; 128-bit lane `s` holds sub-block `s`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_nvfp4_q8_0(w: &[BlockNvfp4], a: &[BlockQ8_0]) -> f32 {
            assert_eq!(w.len() * 2, a.len());
            let tbl = _mm512_broadcast_i32x4(ld128(&FP4_PLUS_12));
            let dup = _mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3);
            let bcast = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
            let mut acc = _mm512_setzero_ps();
            for (x, y) in w.iter().zip(a.chunks_exact(2)) {
                // 128-bit lane s = [qs[8s..8s+8] low nibbles, the same bytes' high nibbles].
                let q = _mm512_permutexvar_epi64(dup, _mm512_castsi256_si512(ld256(&x.qs)));
                let q = _mm512_mask_srli_epi16::<4>(q, 0xF0F0_F0F0, q);
                let u = _mm512_shuffle_epi8(tbl, _mm512_and_si512(q, _mm512_set1_epi8(0x0F)));
                let av = q8_0_pair(&y[0], &y[1]);
                let p = dpbusd_small(_mm512_setzero_si512(), u, av);
                let isum = _mm512_sub_epi32(p, off_sum(12, av));
                let dy0 = f16s(y[0].d);
                let dy1 = f16s(y[1].d);
                let s4 = _mm_setr_ps(
                    dy0 * UE4M3_HALF[usize::from(x.d[0])],
                    dy0 * UE4M3_HALF[usize::from(x.d[1])],
                    dy1 * UE4M3_HALF[usize::from(x.d[2])],
                    dy1 * UE4M3_HALF[usize::from(x.d[3])],
                );
                let s = _mm512_permutexvar_ps(bcast, _mm512_castps128_ps512(s4));
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc);
            }
            _mm512_reduce_add_ps(acc)
        }

        // ------------------------------------------------------------------ K-quant dots

        /// Scale lanes (low 16 bits = scale, high 16 bits = 0) of 16 sub-block scales given as
        /// i16, for `vpmaddwd`.
        #[target_feature(enable = $feat)]
        #[inline]
        fn scale_lanes_i16(s: __m256i) -> __m512i {
            _mm512_cvtepu16_epi32(s)
        }

        /// `lane · scale` for i32 lanes in i16 range and scale lanes from [`scale_lanes_i16`].
        #[target_feature(enable = $feat)]
        #[inline]
        fn mul_lanes(x: __m512i, sc: __m512i) -> __m512i {
            _mm512_madd_epi16(x, sc)
        }

        /// q4_K / q5_K scales and mins (`get_scale_min_k4` for j = 0..8), as bytes.
        #[inline]
        fn k4_scales_mins(scales: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
            const KMASK1: u32 = 0x3f3f_3f3f;
            const KMASK2: u32 = 0x0f0f_0f0f;
            const KMASK3: u32 = 0x0303_0303;
            let u0 = u32::from_le_bytes([scales[0], scales[1], scales[2], scales[3]]);
            let u1 = u32::from_le_bytes([scales[4], scales[5], scales[6], scales[7]]);
            let u2 = u32::from_le_bytes([scales[8], scales[9], scales[10], scales[11]]);
            let t3 = ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4);
            let t2 = u1 & KMASK1;
            let t1 = (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4);
            let t0 = u0 & KMASK1;
            let s = (u64::from(t1) << 32) | u64::from(t0);
            let m = (u64::from(t3) << 32) | u64::from(t2);
            (s.to_le_bytes(), m.to_le_bytes())
        }

        /// q3_K's 16 signed 6-bit scales minus 32, as i16.
        #[inline]
        fn k3_scales(scales: &[u8; 12]) -> [i16; 16] {
            const KMASK1: u32 = 0x0303_0303;
            const KMASK2: u32 = 0x0f0f_0f0f;
            let a0 = u32::from_le_bytes([scales[0], scales[1], scales[2], scales[3]]);
            let a1 = u32::from_le_bytes([scales[4], scales[5], scales[6], scales[7]]);
            let tmp = u32::from_le_bytes([scales[8], scales[9], scales[10], scales[11]]);
            let aux = [
                (a0 & KMASK2) | ((tmp & KMASK1) << 4),
                (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
                ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
                ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
            ];
            let mut out = [0i16; 16];
            for (i, word) in aux.iter().enumerate() {
                for (k, b) in word.to_le_bytes().into_iter().enumerate() {
                    out[4 * i + k] = i16::from(b as i8) - 32;
                }
            }
            out
        }

        /// Scale lanes for 32-value sub-blocks `g` (lanes 0..8) and `g + 1` (lanes 8..16).
        #[target_feature(enable = $feat)]
        #[inline]
        fn sub32_scales(sc: __m512i, g: i32) -> __m512i {
            let base = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            _mm512_permutexvar_epi32(_mm512_add_epi32(base, _mm512_set1_epi32(g)), sc)
        }

        /// Scale lanes for four 16-value sub-blocks `g..g+4` (4 lanes each).
        #[target_feature(enable = $feat)]
        #[inline]
        fn sub16_scales(sc: __m512i, g: i32) -> __m512i {
            let base = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
            _mm512_permutexvar_epi32(_mm512_add_epi32(base, _mm512_set1_epi32(g)), sc)
        }

        #[target_feature(enable = $feat)]
        #[inline]
        fn q8k_chunk(y: &BlockQ8K, c: usize) -> __m512i {
            ld512(&y.qs[64 * c..64 * c + 64])
        }

        /// Expands 32 bytes of 2-bit fields (q2_K / q3_K / tq2_0 layout: value `32j + l` of a
        /// 128-value group is bits `2j..2j+2` of byte `l`) into values `64h..64h+64` of the
        /// group (`h` = 0 or 1), as bytes `0..=3`.
        #[target_feature(enable = $feat)]
        #[inline]
        fn crumbs(q: __m512i, h: usize) -> __m512i {
            let cnt = if h == 0 {
                _mm512_setr_epi64(
                    0,
                    0,
                    0,
                    0,
                    0x0002_0002_0002_0002,
                    0x0002_0002_0002_0002,
                    0x0002_0002_0002_0002,
                    0x0002_0002_0002_0002,
                )
            } else {
                _mm512_setr_epi64(
                    0x0004_0004_0004_0004,
                    0x0004_0004_0004_0004,
                    0x0004_0004_0004_0004,
                    0x0004_0004_0004_0004,
                    0x0006_0006_0006_0006,
                    0x0006_0006_0006_0006,
                    0x0006_0006_0006_0006,
                    0x0006_0006_0006_0006,
                )
            };
            _mm512_and_si512(_mm512_srlv_epi16(q, cnt), _mm512_set1_epi8(3))
        }

        /// q2_K · q8_K. `u ∈ 0..=3`, lanes `Σ u·a` (|lane| ≤ 4·3·128 = 1536, i16-safe) times the
        /// 4-bit sub-block scale; mins use `bsums` exactly as the reference does.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q2k_q8k(w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let mut acc = _mm512_setzero_ps();
            let mut acc_m = _mm256_setzero_ps();
            for (x, y) in w.iter().zip(a) {
                let scb = ld128(&x.scales);
                let sc16 = _mm256_cvtepu8_epi16(scb);
                let sc = scale_lanes_i16(_mm256_and_si256(sc16, _mm256_set1_epi16(0x0F)));
                let mins = _mm256_srli_epi16::<4>(sc16);
                let mut isums = [_mm512_setzero_si512(); 2];
                for n in 0..2 {
                    let q = _mm512_broadcast_i64x4(ld256(&x.qs[32 * n..32 * n + 32]));
                    for h in 0..2 {
                        let u = crumbs(q, h);
                        let p = dpbusd_small(_mm512_setzero_si512(), u, q8k_chunk(y, 2 * n + h));
                        let g = (8 * n + 4 * h) as i32;
                        isums[h] = _mm512_add_epi32(isums[h], mul_lanes(p, sub16_scales(sc, g)));
                    }
                }
                let dm = _mm_cvtph_ps(_mm_setr_epi16(
                    x.d.to_bits() as i16,
                    x.dmin.to_bits() as i16,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ));
                let dall = y.d * _mm_cvtss_f32(dm);
                let dmin = y.d * _mm_cvtss_f32(_mm_movehdup_ps(dm));
                let isum = _mm512_add_epi32(isums[0], isums[1]);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dall), acc);
                let summs = _mm256_madd_epi16(ld256(&y.bsums), mins);
                acc_m = _mm256_fmadd_ps(_mm256_cvtepi32_ps(summs), _mm256_set1_ps(dmin), acc_m);
            }
            _mm512_reduce_add_ps(acc) - hsum256(acc_m)
        }

        #[target_feature(enable = $feat)]
        #[inline]
        fn hsum256(v: __m256) -> f32 {
            _mm512_reduce_add_ps(_mm512_zextps256_ps512(v))
        }

        /// Two f16 scales widened to f32 at once.
        #[target_feature(enable = $feat)]
        #[inline]
        fn f16x2(a: f16, b: f16) -> (f32, f32) {
            let v = _mm_cvtph_ps(_mm_cvtsi32_si128(
                (u32::from(a.to_bits()) | (u32::from(b.to_bits()) << 16)) as i32,
            ));
            (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_movehdup_ps(v)))
        }

        /// A byte splat of `1 << bit` in the low 32 bytes and `1 << (bit + 1)` in the high 32.
        #[target_feature(enable = $feat)]
        #[inline]
        fn bit_pair(bit: usize) -> __m512i {
            pair256(
                _mm256_set1_epi8((1u8 << bit) as i8),
                _mm256_set1_epi8((1u8 << (bit + 1)) as i8),
            )
        }

        /// q3_K · q8_K. `u = crumb + 4·hbit ∈ 0..=7`, `q = u − 4`; lanes `Σ u·a − 4·Σ a`
        /// (|lane| ≤ 4·4·128 = 2048, i16-safe) times the signed 6-bit scale minus 32.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q3k_q8k(w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let mut acc = _mm512_setzero_ps();
            for (x, y) in w.iter().zip(a) {
                let scs = k3_scales(&x.scales);
                let sc = scale_lanes_i16(ld256(&scs));
                let hm = _mm512_broadcast_i64x4(ld256(&x.hmask));
                let mut isums = [_mm512_setzero_si512(); 2];
                for n in 0..2 {
                    let q = _mm512_broadcast_i64x4(ld256(&x.qs[32 * n..32 * n + 32]));
                    for h in 0..2 {
                        let base = crumbs(q, h);
                        let k = _mm512_test_epi8_mask(hm, bit_pair(4 * n + 2 * h));
                        let u = _mm512_mask_add_epi8(base, k, base, _mm512_set1_epi8(4));
                        let av = q8k_chunk(y, 2 * n + h);
                        let p = dpbusd_small(_mm512_setzero_si512(), u, av);
                        let p = _mm512_sub_epi32(p, off_sum(4, av));
                        let g = (8 * n + 4 * h) as i32;
                        isums[h] = _mm512_add_epi32(isums[h], mul_lanes(p, sub16_scales(sc, g)));
                    }
                }
                let d = f16s(x.d) * y.d;
                let isum = _mm512_add_epi32(isums[0], isums[1]);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d), acc);
            }
            _mm512_reduce_add_ps(acc)
        }

        /// The 64 4-bit values of 32 bytes `qs[32j..]` for two 64-value groups (q4_K/q5_K
        /// layout: low nibbles = first 32 values of a group, high nibbles = next 32): returns
        /// (values `128c..128c+64`, values `128c+64..128c+128`).
        #[target_feature(enable = $feat)]
        #[inline]
        fn k4_nibbles(q: __m512i) -> (__m512i, __m512i) {
            let m = _mm512_set1_epi8(0x0F);
            let l = _mm512_and_si512(q, m);
            let h = _mm512_and_si512(_mm512_srli_epi16::<4>(q), m);
            (
                _mm512_shuffle_i64x2::<0b01_00_01_00>(l, h),
                _mm512_shuffle_i64x2::<0b11_10_11_10>(l, h),
            )
        }

        /// `Σ_j bsums[j]·mins[j/2]` lanes (8 × i32) for q4_K/q5_K, exact (|pair| ≤ 2·32768·63).
        #[target_feature(enable = $feat)]
        #[inline]
        fn k4_min_sums(bsums: &[i16; 16], mins: [u8; 8]) -> __m256i {
            let m8 = _mm_cvtsi64_si128(i64::from_le_bytes(mins));
            let m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
            _mm256_madd_epi16(ld256(bsums), m16)
        }

        /// q4_K · q8_K. `u ∈ 0..=15`, lanes `Σ u·a` (|lane| ≤ 7680, i16-safe) times the 6-bit
        /// scale; mins through `bsums` as in the reference.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q4k_q8k(w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let mut acc = _mm512_setzero_ps();
            let mut acc_m = _mm256_setzero_ps();
            for (x, y) in w.iter().zip(a) {
                let (scb, mnb) = k4_scales_mins(&x.scales);
                let sc = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(i64::from_le_bytes(scb)));
                let mut isum = _mm512_setzero_si512();
                let mut isum2 = _mm512_setzero_si512();
                for c in 0..2 {
                    let (w0, w1) = k4_nibbles(ld512(&x.qs[64 * c..64 * c + 64]));
                    let p0 = dpbusd_small(_mm512_setzero_si512(), w0, q8k_chunk(y, 2 * c));
                    let p1 = dpbusd_small(_mm512_setzero_si512(), w1, q8k_chunk(y, 2 * c + 1));
                    let g = 4 * c as i32;
                    isum = _mm512_add_epi32(isum, mul_lanes(p0, sub32_scales(sc, g)));
                    isum2 = _mm512_add_epi32(isum2, mul_lanes(p1, sub32_scales(sc, g + 2)));
                }
                let isum = _mm512_add_epi32(isum, isum2);
                let (d, dmin) = f16x2(x.d, x.dmin);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * y.d), acc);
                let ms = _mm256_cvtepi32_ps(k4_min_sums(&y.bsums, mnb));
                acc_m = _mm256_fmadd_ps(ms, _mm256_set1_ps(dmin * y.d), acc_m);
            }
            _mm512_reduce_add_ps(acc) - hsum256(acc_m)
        }

        /// q5_K · q8_K. `u = nibble + 16·bit ∈ 0..=31` (|lane| ≤ 4·31·128 = 15 872, i16-safe).
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q5k_q8k(w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let mut acc = _mm512_setzero_ps();
            let mut acc_m = _mm256_setzero_ps();
            let sixteen = _mm512_set1_epi8(16);
            for (x, y) in w.iter().zip(a) {
                let (scb, mnb) = k4_scales_mins(&x.scales);
                let sc = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(i64::from_le_bytes(scb)));
                let qh = _mm512_broadcast_i64x4(ld256(&x.qh));
                let mut isum = _mm512_setzero_si512();
                let mut isum2 = _mm512_setzero_si512();
                for c in 0..2 {
                    let (w0, w1) = k4_nibbles(ld512(&x.qs[64 * c..64 * c + 64]));
                    let k0 = _mm512_test_epi8_mask(qh, bit_pair(4 * c));
                    let k1 = _mm512_test_epi8_mask(qh, bit_pair(4 * c + 2));
                    let w0 = _mm512_mask_add_epi8(w0, k0, w0, sixteen);
                    let w1 = _mm512_mask_add_epi8(w1, k1, w1, sixteen);
                    let p0 = dpbusd_small(_mm512_setzero_si512(), w0, q8k_chunk(y, 2 * c));
                    let p1 = dpbusd_small(_mm512_setzero_si512(), w1, q8k_chunk(y, 2 * c + 1));
                    let g = 4 * c as i32;
                    isum = _mm512_add_epi32(isum, mul_lanes(p0, sub32_scales(sc, g)));
                    isum2 = _mm512_add_epi32(isum2, mul_lanes(p1, sub32_scales(sc, g + 2)));
                }
                let isum = _mm512_add_epi32(isum, isum2);
                let (d, dmin) = f16x2(x.d, x.dmin);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d * y.d), acc);
                let ms = _mm256_cvtepi32_ps(k4_min_sums(&y.bsums, mnb));
                acc_m = _mm256_fmadd_ps(ms, _mm256_set1_ps(dmin * y.d), acc_m);
            }
            _mm512_reduce_add_ps(acc) - hsum256(acc_m)
        }

        /// q6_K's 6-bit values (`0..=63`) of 128-value chunk `c`: (values 0..64, 64..128).
        #[target_feature(enable = $feat)]
        #[inline]
        fn q6_values(x: &BlockQ6K, c: usize) -> (__m512i, __m512i) {
            let m = _mm512_set1_epi8(0x0F);
            let ql = ld512(&x.ql[64 * c..64 * c + 64]);
            let l = _mm512_and_si512(ql, m);
            let h = _mm512_and_si512(_mm512_srli_epi16::<4>(ql), m);
            let qh = _mm512_broadcast_i64x4(ld256(&x.qh[32 * c..32 * c + 32]));
            let hl = _mm512_slli_epi16::<4>(crumbs(qh, 0));
            let hh = _mm512_slli_epi16::<4>(crumbs(qh, 1));
            (_mm512_or_si512(l, hl), _mm512_or_si512(h, hh))
        }

        /// q6_K · q8_K. `u ∈ 0..=63`, `q = u − 32`; lanes `Σ u·a − 32·Σ a`
        /// (|lane| ≤ 4·32·128 = 16 384, i16-safe) times the signed 8-bit scale.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q6k_q8k(w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let mut acc = _mm512_setzero_ps();
            for (x, y) in w.iter().zip(a) {
                let sc =
                    scale_lanes_i16(_mm256_cvtepi8_epi16(ld128(bytemuck::cast_ref(&x.scales))));
                let mut isums = [_mm512_setzero_si512(); 2];
                for c in 0..2 {
                    let (u0, u1) = q6_values(x, c);
                    for (h, u) in [(0, u0), (1, u1)] {
                        let av = q8k_chunk(y, 2 * c + h);
                        let p = dpbusd_small(_mm512_setzero_si512(), u, av);
                        let p = _mm512_sub_epi32(p, off_sum(32, av));
                        let g = (8 * c + 4 * h) as i32;
                        isums[h] = _mm512_add_epi32(isums[h], mul_lanes(p, sub16_scales(sc, g)));
                    }
                }
                let d = f16s(x.d) * y.d;
                let isum = _mm512_add_epi32(isums[0], isums[1]);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d), acc);
            }
            _mm512_reduce_add_ps(acc)
        }

        /// q8_K · q8_K: signed × signed through [`dot_i8i8`] (|lane| ≤ 4·4·128·128 per block,
        /// exact in i32 and in f32).
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_q8k_q8k(w: &[BlockQ8K], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let mut acc = _mm512_setzero_ps();
            for (x, y) in w.iter().zip(a) {
                let mut isums = [_mm512_setzero_si512(); 2];
                for c in 0..4 {
                    let p = dot_i8i8(q8k_chunk(x, c), q8k_chunk(y, c));
                    isums[c % 2] = _mm512_add_epi32(isums[c % 2], p);
                }
                let isum = _mm512_add_epi32(isums[0], isums[1]);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(x.d * y.d), acc);
            }
            _mm512_reduce_add_ps(acc)
        }

        /// iq4_xs · q8_K: `u = kvalues + 128` as iq4_nl (|lane| ≤ 4·127·128 = 65 024, not
        /// i16-safe, so the 6-bit scale is applied with `vpmulld`; lane totals stay < 2²⁴).
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_iq4xs_q8k(w: &[BlockIq4Xs], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let tbl = _mm512_broadcast_i32x4(ld128(&IQ4NL_PLUS_128));
            let mut acc = _mm512_setzero_ps();
            for (x, y) in w.iter().zip(a) {
                let mut ls = [0i32; 16];
                for (ib, l) in ls.iter_mut().take(8).enumerate() {
                    let lo = (x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
                    let hi = ((x.scales_h >> (2 * ib)) & 3) as u8;
                    *l = i32::from(lo | (hi << 4)) - 32;
                }
                // SAFETY: `ls` is 16 readable i32.
                let sc = unsafe { _mm512_loadu_si512(ls.as_ptr().cast()) };
                let (q16, _) = x.qs.as_chunks::<16>();
                let mut isums = [_mm512_setzero_si512(); 2];
                for k in 0..4 {
                    let u = _mm512_shuffle_epi8(tbl, nib_pair(&q16[2 * k], &q16[2 * k + 1]));
                    let av = q8k_chunk(y, k);
                    let p = dpbusd_full(_mm512_setzero_si512(), u, av);
                    let p = _mm512_sub_epi32(p, _mm512_slli_epi32::<1>(off_sum(64, av)));
                    let s = sub32_scales(sc, 2 * k as i32);
                    isums[k % 2] = _mm512_add_epi32(isums[k % 2], _mm512_mullo_epi32(p, s));
                }
                let isum = _mm512_add_epi32(isums[0], isums[1]);
                let d = f16s(x.d) * y.d;
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d), acc);
            }
            _mm512_reduce_add_ps(acc)
        }

        /// tq2_0 · q8_K: `u = crumb ∈ 0..=3`, `t = u − 1`; lanes `Σ u·a − Σ a`, exact.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_tq2_0_q8k(w: &[BlockTq2_0], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let mut acc = _mm512_setzero_ps();
            for (x, y) in w.iter().zip(a) {
                let mut isum = _mm512_setzero_si512();
                for n in 0..2 {
                    let q = _mm512_broadcast_i64x4(ld256(&x.qs[32 * n..32 * n + 32]));
                    for h in 0..2 {
                        let av = q8k_chunk(y, 2 * n + h);
                        let p = dpbusd_small(isum, crumbs(q, h), av);
                        isum = _mm512_sub_epi32(p, off_sum(1, av));
                    }
                }
                let d = y.d * f16s(x.d);
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d), acc);
            }
            _mm512_reduce_add_ps(acc)
        }

        /// `3·v` per byte, modulo 256.
        #[target_feature(enable = $feat)]
        #[inline]
        fn mul3(v: __m512i) -> __m512i {
            _mm512_add_epi8(v, _mm512_add_epi8(v, v))
        }

        /// The four 64-byte groups of tq1_0's "shifted" bytes `(q·3^l) mod 256`, in activation
        /// order: `[0..64]`, `[64..128]`, `[160..224]`, then `[128..160] ++ [224..256]`.
        #[target_feature(enable = $feat)]
        #[inline]
        fn tq1_bytes(x: &BlockTq1_0) -> [__m512i; 4] {
            const HI32: u64 = 0xFFFF_FFFF_0000_0000;
            // Part 1: qs[0..32], trits l = 0..5, value 32l + m.
            let z = _mm512_broadcast_i64x4(ld256(&x.qs[..32]));
            let z01 = _mm512_mask_add_epi8(z, HI32, z, _mm512_add_epi8(z, z));
            let z23 = mul3(mul3(z01));
            let z45 = mul3(mul3(z23));
            // Part 2: qs[32..48], trits l = 0..5, value 160 + 16l + m.
            let p2: &[u8; 16] = x.qs[32..48].try_into().unwrap();
            let v = _mm512_broadcast_i32x4(ld128(p2));
            let v = _mm512_mask_add_epi8(v, 0xFFFF_FFFF_FFFF_0000, v, _mm512_add_epi8(v, v));
            let v = _mm512_mask_add_epi8(v, 0xFFFF_FFFF_0000_0000, v, _mm512_add_epi8(v, v));
            let v = _mm512_mask_add_epi8(v, 0xFFFF_0000_0000_0000, v, _mm512_add_epi8(v, v));
            let v4 = mul3(v);
            // Part 3: qh[0..4], trits l = 0..4, value 240 + 4l + j.
            let h = _mm_set1_epi32(u32::from_le_bytes(x.qh) as i32);
            let h = _mm_mask_add_epi8(h, 0xFFF0, h, _mm_add_epi8(h, h));
            let h = _mm_mask_add_epi8(h, 0xFF00, h, _mm_add_epi8(h, h));
            let h = _mm_mask_add_epi8(h, 0xF000, h, _mm_add_epi8(h, h));
            let tail = _mm256_inserti128_si256::<1>(
                _mm256_castsi128_si256(_mm512_extracti32x4_epi32::<3>(v4)),
                h,
            );
            let z4 = pair256(_mm512_castsi512_si256(z45), tail);
            [z01, z23, v, z4]
        }

        /// tq1_0 · q8_K. The trit of a shifted byte `b` is `(3b) >> 8 = [b ≥ 86] + [b ≥ 171]`;
        /// `u = trit ∈ 0..=2`, lanes `Σ u·a − Σ a`, exact.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_tq1_0_q8k(w: &[BlockTq1_0], a: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), a.len());
            let one = _mm512_set1_epi8(1);
            let t1 = _mm512_set1_epi8(86);
            let t2 = _mm512_set1_epi8(171u8 as i8);
            let mut acc = _mm512_setzero_ps();
            for (x, y) in w.iter().zip(a) {
                let bytes = tq1_bytes(x);
                let acts = [
                    q8k_chunk(y, 0),
                    q8k_chunk(y, 1),
                    ld512(&y.qs[160..224]),
                    pair256(ld256(&y.qs[128..160]), ld256(&y.qs[224..256])),
                ];
                let mut isum = _mm512_setzero_si512();
                for (b, av) in bytes.into_iter().zip(acts) {
                    let k1 = _mm512_cmpge_epu8_mask(b, t1);
                    let k2 = _mm512_cmpge_epu8_mask(b, t2);
                    let u = _mm512_maskz_mov_epi8(k1, one);
                    let u = _mm512_mask_add_epi8(u, k2, u, one);
                    let p = dpbusd_small(isum, u, av);
                    isum = _mm512_sub_epi32(p, off_sum(1, av));
                }
                let d = f16s(x.d) * y.d;
                acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d), acc);
            }
            _mm512_reduce_add_ps(acc)
        }

        // ------------------------------------------------------------------ float dots

        /// 16 f32.
        #[target_feature(enable = $feat)]
        #[inline]
        fn ldps(x: &[f32]) -> __m512 {
            assert!(x.len() == 16);
            // SAFETY: the assert guarantees 16 readable f32; `loadu` needs no alignment.
            unsafe { _mm512_loadu_ps(x.as_ptr()) }
        }

        /// The mask of the first `n < 16` lanes.
        #[inline]
        fn first(n: usize) -> __mmask16 {
            debug_assert!(n < 16);
            ((1u32 << n) - 1) as u16
        }

        /// `Σ a·b` with four independent FMA chains over 64 values, then 16, then a masked tail.
        #[target_feature(enable = $feat)]
        #[inline]
        fn dot_floats<T: bytemuck::Pod>(
            a: &[T],
            b: &[T],
            load: impl Fn(&[T]) -> __m512,
            load_tail: impl Fn(&[T]) -> __m512,
        ) -> f32 {
            assert_eq!(a.len(), b.len());
            let mut acc = [_mm512_setzero_ps(); 4];
            let (ac, ar) = a.as_chunks::<64>();
            let (bc, br) = b.as_chunks::<64>();
            for (x, y) in ac.iter().zip(bc) {
                for (i, s) in acc.iter_mut().enumerate() {
                    let r = 16 * i..16 * i + 16;
                    *s = _mm512_fmadd_ps(load(&x[r.clone()]), load(&y[r]), *s);
                }
            }
            let (ac, ar) = ar.as_chunks::<16>();
            let (bc, br) = br.as_chunks::<16>();
            for (x, y) in ac.iter().zip(bc) {
                acc[0] = _mm512_fmadd_ps(load(x), load(y), acc[0]);
            }
            if !ar.is_empty() {
                acc[1] = _mm512_fmadd_ps(load_tail(ar), load_tail(br), acc[1]);
            }
            let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            _mm512_reduce_add_ps(s)
        }

        /// f32 · f32.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
            dot_floats(
                a,
                b,
                |t| ldps(t),
                |t| {
                    // SAFETY: lanes past `t.len() < 16` are masked off and not accessed (masked
                    // loads suppress faults on masked-off elements).
                    unsafe { _mm512_maskz_loadu_ps(first(t.len()), t.as_ptr()) }
                },
            )
        }

        /// 16 f16 (or fewer, masked) as 16-bit lanes.
        #[target_feature(enable = $feat)]
        #[inline]
        fn ld_u16<T: bytemuck::Pod>(t: &[T]) -> __m256i {
            debug_assert!(size_of::<T>() == 2);
            if t.len() == 16 {
                ld256(t)
            } else {
                // SAFETY: `t` holds `t.len() < 16` readable 2-byte values; the lanes past it
                // are masked off and not accessed.
                unsafe { _mm256_maskz_loadu_epi16(first(t.len()), t.as_ptr().cast()) }
            }
        }

        /// f16 · f16, widened exactly to f32 with `vcvtph2ps`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
            let load = |t: &[f16]| _mm512_cvtph_ps(ld_u16(t));
            dot_floats(a, b, load, load)
        }

        /// bf16 → f32 is exact: the bits shifted left by 16.
        #[target_feature(enable = $feat)]
        #[inline]
        fn bf16_lanes(t: &[bf16]) -> __m512 {
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(ld_u16(t))))
        }

        /// bf16 · bf16.
        #[target_feature(enable = $feat)]
        pub(crate) fn dot_bf16(a: &[bf16], b: &[bf16]) -> f32 {
            dot_floats(a, b, |t| bf16_lanes(t), |t| bf16_lanes(t))
        }

        // ------------------------------------------------------------------ quantizers

        /// f32 → f16, round to nearest even (`vcvtps2ph`, as `f16::from_f32`).
        #[target_feature(enable = $feat)]
        #[inline]
        fn to_f16(x: f32) -> f16 {
            let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(x));
            f16::from_bits(_mm_extract_epi16::<0>(h) as u16)
        }

        /// C `roundf` (half away from zero) of each lane, as i32, for |x| < 2²³: the fraction
        /// `x − trunc(x)` is exact, and the integer part moves away from zero iff it is ≥ 0.5 in
        /// magnitude.
        #[target_feature(enable = $feat)]
        #[inline]
        fn round_away(v: __m512) -> __m512i {
            let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
            let f = _mm512_sub_ps(v, t);
            let q = _mm512_cvttps_epi32(t);
            let up = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(f, _mm512_set1_ps(0.5));
            let dn = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(f, _mm512_set1_ps(-0.5));
            let one = _mm512_set1_epi32(1);
            let q = _mm512_mask_add_epi32(q, up, q, one);
            _mm512_mask_sub_epi32(q, dn, q, one)
        }

        /// Stores 16 i32 lanes (each in i8 range) as 16 bytes.
        #[target_feature(enable = $feat)]
        #[inline]
        fn st_i8(dst: &mut [i8], q: __m512i) {
            assert!(dst.len() == 16);
            // SAFETY: the assert guarantees 16 writable bytes; `storeu` needs no alignment.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(q)) }
        }

        /// ggml's `quantize_row_q8_0_ref` for one block: `d = amax/127`, `id = 1/d` (0 if
        /// `d == 0`), `q = roundf(x·id)`; returns `d` and the two halves of `q`.
        #[target_feature(enable = $feat)]
        #[inline]
        fn q8_block32(x: &[f32]) -> (f32, __m512i, __m512i) {
            let v0 = ldps(&x[..16]);
            let v1 = ldps(&x[16..]);
            let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let idv = _mm512_set1_ps(id);
            (
                d,
                round_away(_mm512_mul_ps(v0, idv)),
                round_away(_mm512_mul_ps(v1, idv)),
            )
        }

        /// Activations to q8_0, byte-identical to the reference.
        #[target_feature(enable = $feat)]
        pub(crate) fn quantize_q8_0(src: &[f32], dst: &mut [BlockQ8_0]) {
            assert_eq!(src.len(), dst.len() * 32);
            for (x, y) in src.chunks_exact(32).zip(dst.iter_mut()) {
                let (d, q0, q1) = q8_block32(x);
                y.d = to_f16(d);
                st_i8(&mut y.qs[..16], q0);
                st_i8(&mut y.qs[16..], q1);
            }
        }

        /// Activations to q8_1 (`s = f16(d·Σq)`), byte-identical to the reference.
        #[target_feature(enable = $feat)]
        pub(crate) fn quantize_q8_1(src: &[f32], dst: &mut [BlockQ8_1]) {
            assert_eq!(src.len(), dst.len() * 32);
            for (x, y) in src.chunks_exact(32).zip(dst.iter_mut()) {
                let (d, q0, q1) = q8_block32(x);
                let sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
                y.d = to_f16(d);
                y.s = to_f16(d * sum as f32);
                st_i8(&mut y.qs[..16], q0);
                st_i8(&mut y.qs[16..], q1);
            }
        }

        /// Activations to q8_K, byte-identical to `quantize_row_q8_K_ref`: `max` is the first
        /// value of largest magnitude, `iscale = −127/max`, `q = min(127, nearest_int(iscale·x))`
        /// (round half to even, as `vcvtps2dq` with explicit RNE), `d = 1/iscale`,
        /// `bsums` = sums of 16. An all-zero block is all zeros (as quant-core's reference).
        #[target_feature(enable = $feat)]
        pub(crate) fn quantize_q8k(src: &[f32], dst: &mut [BlockQ8K]) {
            assert_eq!(src.len(), dst.len() * 256);
            for (x, y) in src.chunks_exact(256).zip(dst.iter_mut()) {
                let (xc, _) = x.as_chunks::<16>();
                let mut m = _mm512_setzero_ps();
                for c in xc {
                    m = _mm512_max_ps(m, _mm512_abs_ps(ldps(c)));
                }
                let amax = _mm512_reduce_max_ps(m);
                if amax == 0.0 {
                    // As quant-core: everything zero (ggml leaves `bsums` unwritten).
                    *y = BlockQ8K::zeroed();
                    continue;
                }
                let mut max = 0.0f32;
                for (i, c) in xc.iter().enumerate() {
                    let k = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(
                        _mm512_abs_ps(ldps(c)),
                        _mm512_set1_ps(amax),
                    );
                    if k != 0 {
                        max = x[16 * i + k.trailing_zeros() as usize];
                        break;
                    }
                }
                let iscale = -127.0 / max;
                if !iscale.is_finite() {
                    // |max| < 127/f32::MAX: ggml's `nearest_int` of ±inf/NaN stores 0 (as
                    // quant-core).
                    *y = BlockQ8K::zeroed();
                    y.d = 1.0 / iscale;
                    continue;
                }
                let sv = _mm512_set1_ps(iscale);
                for (i, c) in xc.iter().enumerate() {
                    let q = _mm512_cvt_roundps_epi32::<
                        { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
                    >(_mm512_mul_ps(sv, ldps(c)));
                    let q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
                    st_i8(&mut y.qs[16 * i..16 * i + 16], q);
                    y.bsums[i] = _mm512_reduce_add_epi32(q) as i16;
                }
                y.d = 1.0 / iscale;
            }
        }

        // ------------------------------------------------------------------ dequantizers

        /// `(f32)q · d` for 16 i32 lanes, stored.
        #[target_feature(enable = $feat)]
        #[inline]
        fn st_scaled(dst: &mut [f32], q: __m512i, d: __m512) {
            st16(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(q), d));
        }

        /// `(f32)q · d + m` (multiply, then add: no fusion), stored.
        #[target_feature(enable = $feat)]
        #[inline]
        fn st_scaled_min(dst: &mut [f32], q: __m512i, d: __m512, m: __m512) {
            st16(
                dst,
                _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q), d), m),
            );
        }

        /// `d·(f32)q − m` (multiply, then subtract), stored.
        #[target_feature(enable = $feat)]
        #[inline]
        fn st_scaled_sub(dst: &mut [f32], q: __m512i, d: __m512, m: __m512) {
            st16(
                dst,
                _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(q)), m),
            );
        }

        /// Low and high nibbles of 16 bytes as i32 lanes.
        #[target_feature(enable = $feat)]
        #[inline]
        fn nibbles16(q: &[u8; 16]) -> (__m512i, __m512i) {
            let v = ld128(q);
            let m = _mm_set1_epi8(0x0F);
            (
                _mm512_cvtepu8_epi32(_mm_and_si128(v, m)),
                _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16::<4>(v), m)),
            )
        }

        #[track_caller]
        fn check_deq(blocks: usize, len: usize, values: usize) {
            assert_eq!(
                values,
                blocks * len,
                "dequantizer: {blocks} blocks into {values} values"
            );
        }

        /// q4_0: `(q − 8)·d`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q4_0(src: &[BlockQ4_0], dst: &mut [f32]) {
            check_deq(src.len(), 32, dst.len());
            let eight = _mm512_set1_epi32(8);
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
                let d = _mm512_set1_ps(f16s(b.d));
                let (lo, hi) = nibbles16(&b.qs);
                st_scaled(&mut y[..16], _mm512_sub_epi32(lo, eight), d);
                st_scaled(&mut y[16..], _mm512_sub_epi32(hi, eight), d);
            }
        }

        /// q4_1: `q·d + m`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q4_1(src: &[BlockQ4_1], dst: &mut [f32]) {
            check_deq(src.len(), 32, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
                let (d, m) = f16x2(b.d, b.m);
                let (d, m) = (_mm512_set1_ps(d), _mm512_set1_ps(m));
                let (lo, hi) = nibbles16(&b.qs);
                st_scaled_min(&mut y[..16], lo, d, m);
                st_scaled_min(&mut y[16..], hi, d, m);
            }
        }

        /// The 5-bit values of q5_0/q5_1 as i32 lanes (before any offset).
        #[target_feature(enable = $feat)]
        #[inline]
        fn q5_values(qs: &[u8; 16], qh: [u8; 4]) -> (__m512i, __m512i) {
            let (lo, hi) = nibbles16(qs);
            let h = u32::from_le_bytes(qh);
            let sixteen = _mm512_set1_epi32(16);
            (
                _mm512_mask_add_epi32(lo, h as u16, lo, sixteen),
                _mm512_mask_add_epi32(hi, (h >> 16) as u16, hi, sixteen),
            )
        }

        /// q5_0: `(q − 16)·d`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q5_0(src: &[BlockQ5_0], dst: &mut [f32]) {
            check_deq(src.len(), 32, dst.len());
            let sixteen = _mm512_set1_epi32(16);
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
                let d = _mm512_set1_ps(f16s(b.d));
                let (lo, hi) = q5_values(&b.qs, b.qh);
                st_scaled(&mut y[..16], _mm512_sub_epi32(lo, sixteen), d);
                st_scaled(&mut y[16..], _mm512_sub_epi32(hi, sixteen), d);
            }
        }

        /// q5_1: `q·d + m`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q5_1(src: &[BlockQ5_1], dst: &mut [f32]) {
            check_deq(src.len(), 32, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
                let (d, m) = f16x2(b.d, b.m);
                let (d, m) = (_mm512_set1_ps(d), _mm512_set1_ps(m));
                let (lo, hi) = q5_values(&b.qs, b.qh);
                st_scaled_min(&mut y[..16], lo, d, m);
                st_scaled_min(&mut y[16..], hi, d, m);
            }
        }

        /// 32 i8 as `(f32)q · d`.
        #[target_feature(enable = $feat)]
        #[inline]
        fn deq_i8x32(qs: &[i8; 32], d: f32, y: &mut [f32]) {
            let v = ld256(qs);
            let d = _mm512_set1_ps(d);
            st_scaled(
                &mut y[..16],
                _mm512_cvtepi8_epi32(_mm256_castsi256_si128(v)),
                d,
            );
            st_scaled(
                &mut y[16..32],
                _mm512_cvtepi8_epi32(_mm256_extracti128_si256::<1>(v)),
                d,
            );
        }

        /// q8_0: `q·d`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q8_0(src: &[BlockQ8_0], dst: &mut [f32]) {
            check_deq(src.len(), 32, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
                deq_i8x32(&b.qs, f16s(b.d), y);
            }
        }

        /// q8_1: `q·d`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q8_1(src: &[BlockQ8_1], dst: &mut [f32]) {
            check_deq(src.len(), 32, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
                deq_i8x32(&b.qs, f16s(b.d), y);
            }
        }

        /// q8_K: `d·q`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q8k(src: &[BlockQ8K], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let (qc, _) = b.qs.as_chunks::<32>();
                for (q, yy) in qc.iter().zip(y.chunks_exact_mut(32)) {
                    deq_i8x32(q, b.d, yy);
                }
            }
        }

        /// 16 table values (`tbl[nibble]`, signed) of the low (`hi = false`) or high nibbles.
        #[target_feature(enable = $feat)]
        #[inline]
        fn table16(tbl: __m128i, q: __m128i, hi: bool) -> __m512i {
            let n = if hi { _mm_srli_epi16::<4>(q) } else { q };
            _mm512_cvtepi8_epi32(_mm_shuffle_epi8(tbl, _mm_and_si128(n, _mm_set1_epi8(0x0F))))
        }

        /// iq4_nl: `d·kvalues[q]`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_iq4nl(src: &[BlockIq4Nl], dst: &mut [f32]) {
            check_deq(src.len(), 32, dst.len());
            let tbl = ld128(&IQ4NL_BYTES);
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
                let d = _mm512_set1_ps(f16s(b.d));
                let q = ld128(&b.qs);
                st_scaled(&mut y[..16], table16(tbl, q, false), d);
                st_scaled(&mut y[16..], table16(tbl, q, true), d);
            }
        }

        /// iq4_xs: `d·(ls − 32)·kvalues[q]` per 32 values.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_iq4xs(src: &[BlockIq4Xs], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            let tbl = ld128(&IQ4NL_BYTES);
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let d = f16s(b.d);
                let (q16, _) = b.qs.as_chunks::<16>();
                for (ib, (q, yy)) in q16.iter().zip(y.chunks_exact_mut(32)).enumerate() {
                    let ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF)
                        | ((((b.scales_h >> (2 * ib)) & 3) as u8) << 4);
                    let dl = _mm512_set1_ps(d * f32::from(i16::from(ls) - 32));
                    let q = ld128(q);
                    st_scaled(&mut yy[..16], table16(tbl, q, false), dl);
                    st_scaled(&mut yy[16..], table16(tbl, q, true), dl);
                }
            }
        }

        /// mxfp4: `kvalues_fp4[q]·2^(e−128)`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_mxfp4(src: &[BlockMxfp4], dst: &mut [f32]) {
            check_deq(src.len(), 32, dst.len());
            let tbl = ld128(&FP4_BYTES);
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
                let d = _mm512_set1_ps(e8m0_to_f32_half(b.e));
                let q = ld128(&b.qs);
                st_scaled(&mut y[..16], table16(tbl, q, false), d);
                st_scaled(&mut y[16..], table16(tbl, q, true), d);
            }
        }

        /// nvfp4: `kvalues_fp4[q]·ue4m3(d[s])/2` per 16 values.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_nvfp4(src: &[BlockNvfp4], dst: &mut [f32]) {
            check_deq(src.len(), 64, dst.len());
            let tbl = ld128(&FP4_BYTES);
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(64)) {
                let (q8, _) = b.qs.as_chunks::<8>();
                for (s, (q, yy)) in q8.iter().zip(y.chunks_exact_mut(16)).enumerate() {
                    let v = _mm_cvtsi64_si128(i64::from_le_bytes(*q));
                    let m = _mm_set1_epi8(0x0F);
                    let n = _mm_unpacklo_epi64(
                        _mm_and_si128(v, m),
                        _mm_and_si128(_mm_srli_epi16::<4>(v), m),
                    );
                    let k = _mm512_cvtepi8_epi32(_mm_shuffle_epi8(tbl, n));
                    st_scaled(yy, k, _mm512_set1_ps(UE4M3_HALF[usize::from(b.d[s])]));
                }
            }
        }

        /// 16 bytes of a 32-byte register (`hi` selects bytes 16..32).
        #[target_feature(enable = $feat)]
        #[inline]
        fn half128(v: __m256i, hi: bool) -> __m128i {
            if hi {
                _mm256_extracti128_si256::<1>(v)
            } else {
                _mm256_castsi256_si128(v)
            }
        }

        /// q2_K: `d·sc·q − dmin·m` per 16 values.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q2k(src: &[BlockQ2K], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let (d, min) = f16x2(b.d, b.dmin);
                for h in 0..2 {
                    let q = ld256(&b.qs[32 * h..32 * h + 32]);
                    for k in 0..4 {
                        let v = _mm256_and_si256(
                            _mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * k as i32)),
                            _mm256_set1_epi8(3),
                        );
                        for half in 0..2 {
                            let sc = b.scales[8 * h + 2 * k + half];
                            let dl = _mm512_set1_ps(d * f32::from(sc & 0xF));
                            let ml = _mm512_set1_ps(min * f32::from(sc >> 4));
                            let o = 128 * h + 32 * k + 16 * half;
                            let qv = _mm512_cvtepu8_epi32(half128(v, half == 1));
                            st_scaled_sub(&mut y[o..o + 16], qv, dl, ml);
                        }
                    }
                }
            }
        }

        /// q3_K: `d·(sc − 32)·(q − 4·!hbit)` per 16 values.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q3k(src: &[BlockQ3K], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let d = f16s(b.d);
                let scales = k3_scales(&b.scales);
                let hm = ld256(&b.hmask);
                for h in 0..2 {
                    let q = ld256(&b.qs[32 * h..32 * h + 32]);
                    for k in 0..4 {
                        let v = _mm256_and_si256(
                            _mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * k as i32)),
                            _mm256_set1_epi8(3),
                        );
                        let bit =
                            _mm256_test_epi8_mask(hm, _mm256_set1_epi8((1u8 << (4 * h + k)) as i8));
                        let four = _mm256_set1_epi8(4);
                        let v = _mm256_sub_epi8(v, four);
                        let v = _mm256_mask_add_epi8(v, bit, v, four);
                        for half in 0..2 {
                            let dl = _mm512_set1_ps(d * f32::from(scales[8 * h + 2 * k + half]));
                            let o = 128 * h + 32 * k + 16 * half;
                            st_scaled(
                                &mut y[o..o + 16],
                                _mm512_cvtepi8_epi32(half128(v, half == 1)),
                                dl,
                            );
                        }
                    }
                }
            }
        }

        /// q4_K and q5_K: `d·sc·q − dmin·m` per 32 values; `qh` adds 16 for q5_K.
        #[target_feature(enable = $feat)]
        #[inline]
        fn deq_k4(
            d: f32,
            min: f32,
            scales: &[u8; 12],
            qs: &[u8; 128],
            qh: Option<&[u8; 32]>,
            y: &mut [f32],
        ) {
            let (sc, mn) = k4_scales_mins(scales);
            let m = _mm256_set1_epi8(0x0F);
            let qhv = qh.map(|h| ld256(h));
            for c in 0..4 {
                let q = ld256(&qs[32 * c..32 * c + 32]);
                let mut lo = _mm256_and_si256(q, m);
                let mut hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m);
                if let Some(h) = qhv {
                    let sixteen = _mm256_set1_epi8(16);
                    let k1 = _mm256_test_epi8_mask(h, _mm256_set1_epi8((1u8 << (2 * c)) as i8));
                    let k2 = _mm256_test_epi8_mask(h, _mm256_set1_epi8((2u8 << (2 * c)) as i8));
                    lo = _mm256_mask_add_epi8(lo, k1, lo, sixteen);
                    hi = _mm256_mask_add_epi8(hi, k2, hi, sixteen);
                }
                for (j, v) in [(0, lo), (1, hi)] {
                    let dl = _mm512_set1_ps(d * f32::from(sc[2 * c + j]));
                    let ml = _mm512_set1_ps(min * f32::from(mn[2 * c + j]));
                    let o = 64 * c + 32 * j;
                    st_scaled_sub(
                        &mut y[o..o + 16],
                        _mm512_cvtepu8_epi32(half128(v, false)),
                        dl,
                        ml,
                    );
                    st_scaled_sub(
                        &mut y[o + 16..o + 32],
                        _mm512_cvtepu8_epi32(half128(v, true)),
                        dl,
                        ml,
                    );
                }
            }
        }

        /// q4_K.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q4k(src: &[BlockQ4K], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let (d, min) = f16x2(b.d, b.dmin);
                deq_k4(d, min, &b.scales, &b.qs, None, y);
            }
        }

        /// q5_K.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q5k(src: &[BlockQ5K], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let (d, min) = f16x2(b.d, b.dmin);
                deq_k4(d, min, &b.scales, &b.qs, Some(&b.qh), y);
            }
        }

        /// 128-bit lane `g` of a register.
        #[target_feature(enable = $feat)]
        #[inline]
        fn lane128(v: __m512i, g: usize) -> __m128i {
            match g {
                0 => _mm512_extracti32x4_epi32::<0>(v),
                1 => _mm512_extracti32x4_epi32::<1>(v),
                2 => _mm512_extracti32x4_epi32::<2>(v),
                _ => _mm512_extracti32x4_epi32::<3>(v),
            }
        }

        /// q6_K: `d·sc·(q − 32)` per 16 values, as `(d·sc)·q`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_q6k(src: &[BlockQ6K], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            let off = _mm512_set1_epi8(32);
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let d = f16s(b.d);
                for c in 0..2 {
                    let (u0, u1) = q6_values(b, c);
                    for (h, u) in [(0, u0), (1, u1)] {
                        let v = _mm512_sub_epi8(u, off);
                        for g in 0..4 {
                            let t = 8 * c + 4 * h + g;
                            let ds = _mm512_set1_ps(d * f32::from(b.scales[t]));
                            st_scaled(
                                &mut y[16 * t..16 * t + 16],
                                _mm512_cvtepi8_epi32(lane128(v, g)),
                                ds,
                            );
                        }
                    }
                }
            }
        }

        /// Trits (`0..=2`) of tq1_0's shifted bytes minus one, as `(t − 1)·d` into 64 values.
        #[target_feature(enable = $feat)]
        #[inline]
        fn deq_trits64(b: __m512i, d: __m512, y: &mut [f32]) {
            let one = _mm512_set1_epi8(1);
            let k1 = _mm512_cmpge_epu8_mask(b, _mm512_set1_epi8(86));
            let k2 = _mm512_cmpge_epu8_mask(b, _mm512_set1_epi8(171u8 as i8));
            let t = _mm512_maskz_mov_epi8(k1, one);
            let t = _mm512_mask_add_epi8(t, k2, t, one);
            let v = _mm512_sub_epi8(t, one);
            for g in 0..4 {
                st_scaled(
                    &mut y[16 * g..16 * g + 16],
                    _mm512_cvtepi8_epi32(lane128(v, g)),
                    d,
                );
            }
        }

        /// tq1_0: `(t − 1)·d`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_tq1_0(src: &[BlockTq1_0], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let d = _mm512_set1_ps(f16s(b.d));
                let [g0, g1, g2, g3] = tq1_bytes(b);
                let mut tail = [0.0f32; 64];
                deq_trits64(g0, d, &mut y[..64]);
                deq_trits64(g1, d, &mut y[64..128]);
                deq_trits64(g2, d, &mut y[160..224]);
                deq_trits64(g3, d, &mut tail);
                y[128..160].copy_from_slice(&tail[..32]);
                y[224..256].copy_from_slice(&tail[32..]);
            }
        }

        /// tq2_0: `(q − 1)·d`.
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_tq2_0(src: &[BlockTq2_0], dst: &mut [f32]) {
            check_deq(src.len(), 256, dst.len());
            let one = _mm512_set1_epi8(1);
            for (b, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
                let d = _mm512_set1_ps(f16s(b.d));
                for n in 0..2 {
                    let q = _mm512_broadcast_i64x4(ld256(&b.qs[32 * n..32 * n + 32]));
                    for h in 0..2 {
                        let v = _mm512_sub_epi8(crumbs(q, h), one);
                        let o = 128 * n + 64 * h;
                        for g in 0..4 {
                            st_scaled(
                                &mut y[o + 16 * g..o + 16 * g + 16],
                                _mm512_cvtepi8_epi32(lane128(v, g)),
                                d,
                            );
                        }
                    }
                }
            }
        }

        /// f16 → f32 (`vcvtph2ps`, exact).
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_f16(src: &[f16], dst: &mut [f32]) {
            check_deq(src.len(), 1, dst.len());
            for (s, y) in src.chunks(16).zip(dst.chunks_mut(16)) {
                let v = _mm512_cvtph_ps(ld_u16(s));
                store_tail(y, v);
            }
        }

        /// bf16 → f32 (bits shifted left by 16, exact).
        #[target_feature(enable = $feat)]
        pub(crate) fn dequantize_bf16(src: &[bf16], dst: &mut [f32]) {
            check_deq(src.len(), 1, dst.len());
            for (s, y) in src.chunks(16).zip(dst.chunks_mut(16)) {
                store_tail(y, bf16_lanes(s));
            }
        }

        /// Stores the first `y.len() ≤ 16` lanes.
        #[target_feature(enable = $feat)]
        #[inline]
        fn store_tail(y: &mut [f32], v: __m512) {
            if y.len() == 16 {
                st16(y, v);
            } else {
                // SAFETY: `y` holds `y.len() < 16` writable f32; masked-off lanes are not
                // written (masked stores suppress faults on masked-off elements).
                unsafe { _mm512_mask_storeu_ps(y.as_mut_ptr(), first(y.len()), v) }
            }
        }
    };
}
