//! The NEON backends: `neon` (baseline aarch64) and `neon-dotprod` (adds `sdot`).
//!
//! # Design
//!
//! Every dot-product kernel is written once, generic over an `I8Dot` strategy that adds 16
//! `i8 × i8` products into four `i32` lanes:
//!
//! * `Widen` (baseline NEON): `vmull_s8` (i8 × i8 → i16, exact: |−128 · −128| = 16384 fits)
//!   followed by `vpadalq_s16` (pairwise add into i32, exact);
//! * `Sdot` (FEAT_DotProd): one `sdot` instruction (exact i8 × i8 → i32 accumulation).
//!
//! Both are exact over the whole `i8` range, −128 included (the `maddubs`/sign trick used by
//! some x86 kernels is not). `vdotq_s32` is still unstable in Rust 1.95 (`stdarch_neon_dotprod`),
//! so `Sdot` issues `sdot` through `asm!`; a value of `Sdot` exists only after run-time
//! detection succeeded, which is what makes executing it sound.
//!
//! Only the lane *total* of an `I8Dot` accumulator is ever used, so the two strategies'
//! different lane groupings never show in results: integer parts match the scalar oracle
//! exactly, and per-block float terms are formed in the scalar oracle's operation order and added
//! sequentially. For every format except Q3_K/Q4_K/Q5_K/Q6_K the result is therefore bit-identical
//! to the oracle (`tests/neon.rs` asserts it); those four differ only because the oracle, like
//! ggml's generic kernels, scales eight integer lanes separately (`sums[l] += d·aux32[l]`) where
//! these kernels scale the exact super-block total once. A super-block whose `d·d8` is not finite
//! is handed to the oracle, so inf/NaN scales give the oracle's non-finite class.
//!
//! Activation quantizers reproduce the reference bytes exactly: `vcvtaq_s32_f32` rounds half away
//! from zero like C's `roundf` (Q8_0/Q8_1), `vcvtnq_s32_f32` rounds half to even like ggml's
//! `nearest_int` (Q8_K), conversions saturate like Rust's `as i8`, and a block whose inverse scale
//! is not finite is handed to the scalar reference. Dequantizers use separate `vmulq`/`vaddq`
//! (never `vfmaq`) in the reference's operation order, so they are bit-exact.
//!
//! All kernels are safe `#[target_feature(enable = "neon")]` functions; `unsafe` appears only
//! around pointer loads/stores (in the small `ld_*`/`st_*` helpers), the `asm!` of `Sdot` and
//! the f16 conversion helpers, and in the backends' trait methods that call the kernels.

use core::arch::aarch64::*;
use core::arch::asm;

use half::{bf16, f16};
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0, KVALUES_FP4, KVALUES_IQ4NL,
};

use crate::Backend;

// ---------------------------------------------------------------------------------------------
// Tokens and backends
// ---------------------------------------------------------------------------------------------

/// Baseline NEON backend (always present on aarch64).
#[derive(Clone, Copy, Debug)]
pub struct Neon {
    _private: (),
}

/// NEON backend that also uses the FEAT_DotProd `sdot` instruction for integer dot products.
///
/// Obtain it with [`NeonDotprod::get`], which checks the CPU at run time.
#[derive(Clone, Copy, Debug)]
pub struct NeonDotprod {
    sdot: Sdot,
}

static NEON: Neon = Neon { _private: () };

impl Neon {
    /// The baseline NEON backend (always available on aarch64).
    pub fn get() -> &'static Neon {
        &NEON
    }
}

impl NeonDotprod {
    /// The dotprod backend, if this CPU implements FEAT_DotProd (detected once, then cached by
    /// the standard library).
    pub fn get() -> Option<&'static NeonDotprod> {
        static DOTPROD: NeonDotprod = NeonDotprod {
            sdot: Sdot { _proof: () },
        };
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            Some(&DOTPROD)
        } else {
            None
        }
    }
}

/// The NEON backends this CPU supports, best first.
pub(crate) fn backends() -> Vec<&'static dyn Backend> {
    let mut v: Vec<&'static dyn Backend> = Vec::new();
    if let Some(b) = NeonDotprod::get() {
        v.push(b);
    }
    v.push(Neon::get());
    v
}

/// Implements the parts of `Backend` shared by both NEON backends (quantizers, dequantizers and
/// float dots, which do not use `sdot`), plus the integer dot products with the given strategy.
macro_rules! neon_backend {
    ($ty:ty, $name:literal, |$s:ident| $strategy:expr) => {
        impl Backend for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn dot_f32(&self, a: &[f32], b: &[f32]) -> f32 {
                assert_eq!(a.len(), b.len(), "dot_f32: lengths differ");
                // SAFETY: NEON is a baseline feature of every target this module is compiled
                // for (`aarch64/mod.rs` gates it on `target_feature = "neon"`).
                unsafe { dot_f32(a, b) }
            }
            fn dot_f16(&self, a: &[f16], b: &[f16]) -> f32 {
                assert_eq!(a.len(), b.len(), "dot_f16: lengths differ");
                // SAFETY: NEON is baseline here (see `dot_f32`).
                unsafe { dot_f16(a, b) }
            }
            fn dot_bf16(&self, a: &[bf16], b: &[bf16]) -> f32 {
                assert_eq!(a.len(), b.len(), "dot_bf16: lengths differ");
                // SAFETY: NEON is baseline here (see `dot_f32`).
                unsafe { dot_bf16(a, b) }
            }

            fn dot_q4_0_q8_0(&self, w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: NEON is baseline here (see `dot_f32`); the strategy token proves any
                // further feature it uses.
                unsafe { dot_q4_0_q8_0($strategy, w, a) }
            }
            fn dot_q4_1_q8_1(&self, w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q4_1_q8_1($strategy, w, a) }
            }
            fn dot_q5_0_q8_0(&self, w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q5_0_q8_0($strategy, w, a) }
            }
            fn dot_q5_1_q8_1(&self, w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q5_1_q8_1($strategy, w, a) }
            }
            fn dot_q8_0_q8_0(&self, w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q8_0_q8_0($strategy, w, a) }
            }
            fn dot_q2k_q8k(&self, w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q2k_q8k($strategy, w, a) }
            }
            fn dot_q3k_q8k(&self, w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q3k_q8k($strategy, w, a) }
            }
            fn dot_q4k_q8k(&self, w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q4k_q8k($strategy, w, a) }
            }
            fn dot_q5k_q8k(&self, w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q5k_q8k($strategy, w, a) }
            }
            fn dot_q6k_q8k(&self, w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q6k_q8k($strategy, w, a) }
            }
            fn dot_q8k_q8k(&self, w: &[BlockQ8K], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_q8k_q8k($strategy, w, a) }
            }
            fn dot_iq4nl_q8_0(&self, w: &[BlockIq4Nl], a: &[BlockQ8_0]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_iq4nl_q8_0($strategy, w, a) }
            }
            fn dot_iq4xs_q8k(&self, w: &[BlockIq4Xs], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_iq4xs_q8k($strategy, w, a) }
            }
            fn dot_mxfp4_q8_0(&self, w: &[BlockMxfp4], a: &[BlockQ8_0]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_mxfp4_q8_0($strategy, w, a) }
            }
            fn dot_nvfp4_q8_0(&self, w: &[BlockNvfp4], a: &[BlockQ8_0]) -> f32 {
                // One 64-value NVFP4 block spans two 32-value Q8_0 blocks.
                same_blocks(2 * w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_nvfp4_q8_0($strategy, w, a) }
            }
            fn dot_tq1_0_q8k(&self, w: &[BlockTq1_0], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_tq1_0_q8k($strategy, w, a) }
            }
            fn dot_tq2_0_q8k(&self, w: &[BlockTq2_0], a: &[BlockQ8K]) -> f32 {
                same_blocks(w.len(), a.len());
                let $s = self;
                // SAFETY: as in `dot_q4_0_q8_0`.
                unsafe { dot_tq2_0_q8k($strategy, w, a) }
            }

            fn quantize_q8_0(&self, src: &[f32], dst: &mut [BlockQ8_0]) {
                assert_eq!(src.len(), dst.len() * 32, "quantize_q8_0: length mismatch");
                // SAFETY: NEON is baseline here (see `dot_f32`).
                unsafe { quantize_q8_0(src, dst) }
            }
            fn quantize_q8_1(&self, src: &[f32], dst: &mut [BlockQ8_1]) {
                assert_eq!(src.len(), dst.len() * 32, "quantize_q8_1: length mismatch");
                // SAFETY: NEON is baseline here (see `dot_f32`).
                unsafe { quantize_q8_1(src, dst) }
            }
            fn quantize_q8k(&self, src: &[f32], dst: &mut [BlockQ8K]) {
                assert_eq!(src.len(), dst.len() * 256, "quantize_q8k: length mismatch");
                // SAFETY: NEON is baseline here (see `dot_f32`).
                unsafe { quantize_q8k(src, dst) }
            }

            neon_dequantizers!(
                dequantize_q4_0: BlockQ4_0 => 32,
                dequantize_q4_1: BlockQ4_1 => 32,
                dequantize_q5_0: BlockQ5_0 => 32,
                dequantize_q5_1: BlockQ5_1 => 32,
                dequantize_q8_0: BlockQ8_0 => 32,
                dequantize_q8_1: BlockQ8_1 => 32,
                dequantize_q2k: BlockQ2K => 256,
                dequantize_q3k: BlockQ3K => 256,
                dequantize_q4k: BlockQ4K => 256,
                dequantize_q5k: BlockQ5K => 256,
                dequantize_q6k: BlockQ6K => 256,
                dequantize_q8k: BlockQ8K => 256,
                dequantize_iq4nl: BlockIq4Nl => 32,
                dequantize_iq4xs: BlockIq4Xs => 256,
                dequantize_mxfp4: BlockMxfp4 => 32,
                dequantize_nvfp4: BlockNvfp4 => 64,
                dequantize_tq1_0: BlockTq1_0 => 256,
                dequantize_tq2_0: BlockTq2_0 => 256,
                dequantize_f16: f16 => 1,
                dequantize_bf16: bf16 => 1,
            );
        }
    };
}

/// The dequantizer trait methods: length check, then the same-named NEON kernel.
macro_rules! neon_dequantizers {
    ($($fn:ident: $blk:ty => $len:expr),* $(,)?) => {
        $(
            fn $fn(&self, src: &[$blk], dst: &mut [f32]) {
                assert_eq!(
                    dst.len(),
                    src.len() * $len,
                    concat!(stringify!($fn), ": destination length mismatch")
                );
                // SAFETY: NEON is baseline here (see `dot_f32`).
                unsafe { $fn(src, dst) }
            }
        )*
    };
}

neon_backend!(Neon, "neon", |_s| Widen);
neon_backend!(NeonDotprod, "neon-dotprod", |s| s.sdot);

/// Panics unless a weight row and an activation row hold the same number of blocks.
#[track_caller]
#[inline]
fn same_blocks(w: usize, a: usize) {
    assert_eq!(
        w, a,
        "weight and activation rows hold different numbers of values"
    );
}

// ---------------------------------------------------------------------------------------------
// Integer dot strategies
// ---------------------------------------------------------------------------------------------

/// How 16 `i8 × i8` products are added into four `i32` lanes. Only the total over the lanes is
/// specified; callers never look at individual lanes.
trait I8Dot: Copy {
    /// `acc + Σ a[i]·b[i]` (distributed over the lanes in an unspecified way), exact.
    fn dot(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;
}

/// Baseline strategy: `vmull_s8` + `vpadalq_s16` (exact for every `i8`, −128 included).
#[derive(Clone, Copy, Debug)]
struct Widen;

impl I8Dot for Widen {
    #[inline(always)]
    fn dot(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        // SAFETY: NEON is a baseline feature of every target this module is compiled for
        // (`aarch64/mod.rs` gates it on `target_feature = "neon"`); these are register-only ops.
        unsafe {
            let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
            let hi = vmull_high_s8(a, b);
            vpadalq_s16(vpadalq_s16(acc, lo), hi)
        }
    }
}

/// FEAT_DotProd strategy: `sdot` (exact i8 × i8 → i32). A value of this type is a proof that the
/// CPU implements `sdot`: it is only created by [`NeonDotprod::get`] after detection.
#[derive(Clone, Copy, Debug)]
struct Sdot {
    _proof: (),
}

impl I8Dot for Sdot {
    #[inline(always)]
    fn dot(self, acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: an `Sdot` value exists only after `is_aarch64_feature_detected!("dotprod")`
        // returned true (`NeonDotprod::get`), so the CPU executes `sdot`. The instruction reads
        // and writes only the three named vector registers (no memory, no stack, no flags).
        // `.arch_extension` lets the assembler accept `sdot` in functions compiled without the
        // `dotprod` target feature (that is what makes the kernels generic over `I8Dot`).
        unsafe {
            asm!(
                ".arch_extension dotprod",
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        acc
    }
}

// ---------------------------------------------------------------------------------------------
// Loads, stores and conversions
// ---------------------------------------------------------------------------------------------

/// Loads 16 bytes of `s` at `off`.
#[target_feature(enable = "neon")]
#[inline]
fn ld_u8(s: &[u8], off: usize) -> uint8x16_t {
    let c: &[u8; 16] = s[off..off + 16].try_into().expect("16 bytes");
    // SAFETY: `c` is 16 readable bytes; `vld1q_u8` has no alignment requirement.
    unsafe { vld1q_u8(c.as_ptr()) }
}

/// Loads 8 bytes of `s` at `off`.
#[target_feature(enable = "neon")]
#[inline]
fn ld_u8x8(s: &[u8], off: usize) -> uint8x8_t {
    let c: &[u8; 8] = s[off..off + 8].try_into().expect("8 bytes");
    // SAFETY: `c` is 8 readable bytes; `vld1_u8` has no alignment requirement.
    unsafe { vld1_u8(c.as_ptr()) }
}

/// Loads 16 signed bytes of `s` at `off`.
#[target_feature(enable = "neon")]
#[inline]
fn ld_s8(s: &[i8], off: usize) -> int8x16_t {
    let c: &[i8; 16] = s[off..off + 16].try_into().expect("16 bytes");
    // SAFETY: `c` is 16 readable bytes; `vld1q_s8` has no alignment requirement.
    unsafe { vld1q_s8(c.as_ptr()) }
}

/// Loads 4 floats of `s` at `off`.
#[target_feature(enable = "neon")]
#[inline]
fn ld_f32(s: &[f32], off: usize) -> float32x4_t {
    let c: &[f32; 4] = s[off..off + 4].try_into().expect("4 floats");
    // SAFETY: `c` is 4 readable f32; `vld1q_f32` needs only f32 alignment, which `&[f32]` has.
    unsafe { vld1q_f32(c.as_ptr()) }
}

/// Loads 4 u16 of `s` at `off`.
#[target_feature(enable = "neon")]
#[inline]
fn ld_u16x4(s: &[u16], off: usize) -> uint16x4_t {
    let c: &[u16; 4] = s[off..off + 4].try_into().expect("4 u16");
    // SAFETY: `c` is 4 readable u16; `vld1_u16` needs only u16 alignment, which `&[u16]` has.
    unsafe { vld1_u16(c.as_ptr()) }
}

/// Stores 4 floats into `d` at `off`.
#[target_feature(enable = "neon")]
#[inline]
fn st_f32(d: &mut [f32], off: usize, v: float32x4_t) {
    let c: &mut [f32; 4] = (&mut d[off..off + 4]).try_into().expect("4 floats");
    // SAFETY: `c` is 4 writable f32; `vst1q_f32` needs only f32 alignment.
    unsafe { vst1q_f32(c.as_mut_ptr(), v) }
}

/// Stores 16 signed bytes into `d` at `off`.
#[target_feature(enable = "neon")]
#[inline]
fn st_s8(d: &mut [i8], off: usize, v: int8x16_t) {
    let c: &mut [i8; 16] = (&mut d[off..off + 16]).try_into().expect("16 bytes");
    // SAFETY: `c` is 16 writable bytes; `vst1q_s8` has no alignment requirement.
    unsafe { vst1q_s8(c.as_mut_ptr(), v) }
}

/// IEEE f16 → f32 (exact; NaNs are quieted with their payload kept, like `half`'s conversion).
/// `fcvt Sd, Hn` is in the base ARMv8-A floating-point instruction set (no FEAT_FP16 needed).
#[inline(always)]
fn h2f(h: f16) -> f32 {
    let out: f32;
    // SAFETY: `fcvt` (half → single) is part of base AArch64 FP, always present on targets that
    // compile this module; it only reads and writes the named registers.
    unsafe {
        asm!(
            "fcvt {o:s}, {i:h}",
            o = lateout(vreg) out,
            i = in(vreg) h.to_bits(),
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// Four IEEE f16 (as raw bits) → four f32, exact (`fcvtl`, base AArch64 SIMD).
#[inline(always)]
fn h2f_x4(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: `fcvtl` is part of base AArch64 Advanced SIMD; register-only.
    unsafe {
        asm!(
            "fcvtl {o:v}.4s, {i:v}.4h",
            o = lateout(vreg) out,
            i = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// Widens 16 signed bytes to four f32 vectors (exact), in order.
#[target_feature(enable = "neon")]
#[inline]
fn s8_to_f32x16(v: int8x16_t) -> [float32x4_t; 4] {
    let lo = vmovl_s8(vget_low_s8(v));
    let hi = vmovl_high_s8(v);
    [
        vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))),
        vcvtq_f32_s32(vmovl_high_s16(lo)),
        vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))),
        vcvtq_f32_s32(vmovl_high_s16(hi)),
    ]
}

/// Stores `d · q` for 16 quants at `dst[off..off + 16]` (one rounding per value, like the
/// reference's `q * d`).
#[target_feature(enable = "neon")]
#[inline]
fn st_scaled(dst: &mut [f32], off: usize, q: int8x16_t, d: f32) {
    let f = s8_to_f32x16(q);
    for (k, v) in f.into_iter().enumerate() {
        st_f32(dst, off + 4 * k, vmulq_n_f32(v, d));
    }
}

/// Stores `d · q − m` for 16 quants (separate multiply and subtract, as in the reference).
#[target_feature(enable = "neon")]
#[inline]
fn st_scaled_sub(dst: &mut [f32], off: usize, q: int8x16_t, d: f32, m: f32) {
    let f = s8_to_f32x16(q);
    let mv = vdupq_n_f32(m);
    for (k, v) in f.into_iter().enumerate() {
        st_f32(dst, off + 4 * k, vsubq_f32(vmulq_n_f32(v, d), mv));
    }
}

/// Stores `d · q + m` for 16 quants (separate multiply and add, as in the reference).
#[target_feature(enable = "neon")]
#[inline]
fn st_scaled_add(dst: &mut [f32], off: usize, q: int8x16_t, d: f32, m: f32) {
    let f = s8_to_f32x16(q);
    let mv = vdupq_n_f32(m);
    for (k, v) in f.into_iter().enumerate() {
        st_f32(dst, off + 4 * k, vaddq_f32(vmulq_n_f32(v, d), mv));
    }
}

/// `(low nibbles, high nibbles)` of 16 bytes.
#[target_feature(enable = "neon")]
#[inline]
fn nibbles(v: uint8x16_t) -> (uint8x16_t, uint8x16_t) {
    (vandq_u8(v, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(v))
}

/// Reinterprets unsigned bytes as signed.
#[target_feature(enable = "neon")]
#[inline]
fn s8(v: uint8x16_t) -> int8x16_t {
    vreinterpretq_s8_u8(v)
}

/// Bit `j` of the little-endian `qh` (j in 0..32) as `0x10` in byte `j` of two vectors
/// (values 0..16 and 16..32): the fifth bit of Q5_0/Q5_1 quants.
#[target_feature(enable = "neon")]
#[inline]
fn q5_high_bits(qh: [u8; 4]) -> (uint8x16_t, uint8x16_t) {
    const BITS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    let bits = ld_u8(&BITS, 0);
    let h0 = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
    let h1 = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
    let sixteen = vdupq_n_u8(0x10);
    (
        vandq_u8(vtstq_u8(h0, bits), sixteen),
        vandq_u8(vtstq_u8(h1, bits), sixteen),
    )
}

/// ggml's `GGML_E8M0_TO_FP32_HALF`: `2^(e − 128)` as f32 (subnormal for e < 2).
#[inline]
fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// ggml's `ggml_ue4m3_to_fp32`: half the value of a UE4M3 scale (0 and 0x7F decode to 0).
#[inline]
fn ue4m3_to_f32_half(x: u8) -> f32 {
    if x == 0 || x == 0x7F {
        return 0.0;
    }
    let exp = i32::from((x >> 3) & 0xF);
    let man = f32::from(x & 0x7);
    // ldexpf of these values is exact: a power of two times a value with ≤ 4 significant bits.
    let raw = if exp == 0 {
        man * 2f32.powi(-9)
    } else {
        (1.0 + man / 8.0) * 2f32.powi(exp - 7)
    };
    raw * 0.5
}

// ---------------------------------------------------------------------------------------------
// Float dot products
// ---------------------------------------------------------------------------------------------

/// Horizontal sum of four accumulators.
#[target_feature(enable = "neon")]
#[inline]
fn hsum4(acc: [float32x4_t; 4]) -> f32 {
    vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ))
}

/// f32 dot: four `vfmaq_f32` accumulators over 16 values per step, scalar tail.
#[target_feature(enable = "neon")]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [vdupq_n_f32(0.0); 4];
    let n16 = a.len() / 16 * 16;
    let mut i = 0;
    while i < n16 {
        for (k, acc) in acc.iter_mut().enumerate() {
            *acc = vfmaq_f32(*acc, ld_f32(a, i + 4 * k), ld_f32(b, i + 4 * k));
        }
        i += 16;
    }
    let mut sum = hsum4(acc);
    for (x, y) in a[n16..].iter().zip(&b[n16..]) {
        sum += x * y;
    }
    sum
}

/// f16 dot: exact `fcvtl` widening, then as [`dot_f32`].
#[target_feature(enable = "neon")]
fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    let a: &[u16] = bytemuck::cast_slice(a);
    let b: &[u16] = bytemuck::cast_slice(b);
    let mut acc = [vdupq_n_f32(0.0); 4];
    let n16 = a.len() / 16 * 16;
    let mut i = 0;
    while i < n16 {
        for (k, acc) in acc.iter_mut().enumerate() {
            let x = h2f_x4(ld_u16x4(a, i + 4 * k));
            let y = h2f_x4(ld_u16x4(b, i + 4 * k));
            *acc = vfmaq_f32(*acc, x, y);
        }
        i += 16;
    }
    let mut sum = hsum4(acc);
    for (x, y) in a[n16..].iter().zip(&b[n16..]) {
        sum += h2f(f16::from_bits(*x)) * h2f(f16::from_bits(*y));
    }
    sum
}

/// bf16 dot: widening by a 16-bit left shift (exact), then as [`dot_f32`].
#[target_feature(enable = "neon")]
fn dot_bf16(a: &[bf16], b: &[bf16]) -> f32 {
    let a: &[u16] = bytemuck::cast_slice(a);
    let b: &[u16] = bytemuck::cast_slice(b);
    let mut acc = [vdupq_n_f32(0.0); 4];
    let n16 = a.len() / 16 * 16;
    let mut i = 0;
    while i < n16 {
        for (k, acc) in acc.iter_mut().enumerate() {
            let x = vreinterpretq_f32_u32(vshll_n_u16::<16>(ld_u16x4(a, i + 4 * k)));
            let y = vreinterpretq_f32_u32(vshll_n_u16::<16>(ld_u16x4(b, i + 4 * k)));
            *acc = vfmaq_f32(*acc, x, y);
        }
        i += 16;
    }
    let mut sum = hsum4(acc);
    for (x, y) in a[n16..].iter().zip(&b[n16..]) {
        sum += f32::from_bits(u32::from(*x) << 16) * f32::from_bits(u32::from(*y) << 16);
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// Dot products with 32-value blocks (activation Q8_0 / Q8_1)
// ---------------------------------------------------------------------------------------------

/// Exact `Σ x·y` over 32 values given as two halves.
#[target_feature(enable = "neon")]
#[inline]
fn isum32<D: I8Dot>(dp: D, x0: int8x16_t, x1: int8x16_t, y0: int8x16_t, y1: int8x16_t) -> i32 {
    vaddvq_s32(dp.dot(dp.dot(vdupq_n_s32(0), x0, y0), x1, y1))
}

/// Q4_0 · Q8_0: nibbles − 8 as i8, exact integer block sum, `sumf += (sumi·dx)·dy` as ggml.
#[target_feature(enable = "neon")]
fn dot_q4_0_q8_0<D: I8Dot>(dp: D, w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32 {
    let eight = vdupq_n_s8(8);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let lo = vsubq_s8(s8(lo), eight);
        let hi = vsubq_s8(s8(hi), eight);
        let sumi = isum32(dp, lo, hi, ld_s8(&y.qs, 0), ld_s8(&y.qs, 16));
        sumf += sumi as f32 * h2f(x.d) * h2f(y.d);
    }
    sumf
}

/// Q4_1 · Q8_1: nibbles as i8, `sumf += (dx·dy)·sumi + m·s` as ggml (uses the stored `s`).
#[target_feature(enable = "neon")]
fn dot_q4_1_q8_1<D: I8Dot>(dp: D, w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let sumi = isum32(dp, s8(lo), s8(hi), ld_s8(&y.qs, 0), ld_s8(&y.qs, 16));
        sumf += (h2f(x.d) * h2f(y.d)) * sumi as f32 + h2f(x.m) * h2f(y.s);
    }
    sumf
}

/// Q5_0 · Q8_0: `(nibble | fifth bit) − 16` as i8, `sumf += (dx·dy)·sumi`.
#[target_feature(enable = "neon")]
fn dot_q5_0_q8_0<D: I8Dot>(dp: D, w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32 {
    let sixteen = vdupq_n_s8(16);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let (h0, h1) = q5_high_bits(x.qh);
        let lo = vsubq_s8(s8(vorrq_u8(lo, h0)), sixteen);
        let hi = vsubq_s8(s8(vorrq_u8(hi, h1)), sixteen);
        let sumi = isum32(dp, lo, hi, ld_s8(&y.qs, 0), ld_s8(&y.qs, 16));
        sumf += (h2f(x.d) * h2f(y.d)) * sumi as f32;
    }
    sumf
}

/// Q5_1 · Q8_1: `nibble | fifth bit` as i8, `sumf += (dx·dy)·sumi + m·s`.
#[target_feature(enable = "neon")]
fn dot_q5_1_q8_1<D: I8Dot>(dp: D, w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let (h0, h1) = q5_high_bits(x.qh);
        let lo = s8(vorrq_u8(lo, h0));
        let hi = s8(vorrq_u8(hi, h1));
        let sumi = isum32(dp, lo, hi, ld_s8(&y.qs, 0), ld_s8(&y.qs, 16));
        sumf += (h2f(x.d) * h2f(y.d)) * sumi as f32 + h2f(x.m) * h2f(y.s);
    }
    sumf
}

/// Q8_0 · Q8_0: `sumf += sumi·(dx·dy)` as ggml.
#[target_feature(enable = "neon")]
fn dot_q8_0_q8_0<D: I8Dot>(dp: D, w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let sumi = isum32(
            dp,
            ld_s8(&x.qs, 0),
            ld_s8(&x.qs, 16),
            ld_s8(&y.qs, 0),
            ld_s8(&y.qs, 16),
        );
        sumf += sumi as f32 * (h2f(x.d) * h2f(y.d));
    }
    sumf
}

/// IQ4_NL · Q8_0: nibbles looked up in `KVALUES_IQ4NL` (`tbl`), `sumf += (dy·dx)·sumi`.
#[target_feature(enable = "neon")]
fn dot_iq4nl_q8_0<D: I8Dot>(dp: D, w: &[BlockIq4Nl], a: &[BlockQ8_0]) -> f32 {
    let table = ld_s8(&KVALUES_IQ4NL, 0);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let lo = vqtbl1q_s8(table, lo);
        let hi = vqtbl1q_s8(table, hi);
        let sumi = isum32(dp, lo, hi, ld_s8(&y.qs, 0), ld_s8(&y.qs, 16));
        let d = h2f(y.d) * h2f(x.d);
        sumf += d * sumi as f32;
    }
    sumf
}

/// MXFP4 · Q8_0: nibbles looked up in `KVALUES_FP4`, `d = dy · 2^(e−128)`, `sumf += d·sumi`.
#[target_feature(enable = "neon")]
fn dot_mxfp4_q8_0<D: I8Dot>(dp: D, w: &[BlockMxfp4], a: &[BlockQ8_0]) -> f32 {
    let table = ld_s8(&KVALUES_FP4, 0);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let lo = vqtbl1q_s8(table, lo);
        let hi = vqtbl1q_s8(table, hi);
        let sumi = isum32(dp, lo, hi, ld_s8(&y.qs, 0), ld_s8(&y.qs, 16));
        let d = h2f(y.d) * e8m0_to_f32_half(x.e);
        sumf += d * sumi as f32;
    }
    sumf
}

/// NVFP4 · Q8_0: per 16-value sub-block `s`, byte `j` of `qs[8s..8s+8]` holds values `j` (low)
/// and `j + 8` (high); `sumf += (dy·d_s)·sumi_s` as ggml.
#[target_feature(enable = "neon")]
fn dot_nvfp4_q8_0<D: I8Dot>(dp: D, w: &[BlockNvfp4], a: &[BlockQ8_0]) -> f32 {
    let table = ld_s8(&KVALUES_FP4, 0);
    let m4 = vdup_n_u8(0x0F);
    let mut sumf = 0.0f32;
    for (x, y2) in w.iter().zip(a.chunks_exact(2)) {
        for s in 0..4 {
            let y = &y2[s / 2];
            let q = ld_u8x8(&x.qs, 8 * s);
            let idx = vcombine_u8(vand_u8(q, m4), vshr_n_u8::<4>(q));
            let v = vqtbl1q_s8(table, idx);
            let sumi = vaddvq_s32(dp.dot(vdupq_n_s32(0), v, ld_s8(&y.qs, (s % 2) * 16)));
            let d = ue4m3_to_f32_half(x.d[s]);
            sumf += h2f(y.d) * d * sumi as f32;
        }
    }
    sumf
}

// ---------------------------------------------------------------------------------------------
// Dot products with 256-value super-blocks (activation Q8_K)
// ---------------------------------------------------------------------------------------------

/// Exact `Σ x·y` of 16 values, left in four lanes.
#[target_feature(enable = "neon")]
#[inline]
fn lanes16<D: I8Dot>(dp: D, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    dp.dot(vdupq_n_s32(0), x, y)
}

/// Q2_K · Q8_K. Integer part `Σ_g sc_g·Σ q·q8` (16 groups of 16) and `Σ_g m_g·bsum_g` exact;
/// per super-block `sumf += dall·isum − dmin·summs` as ggml.
#[target_feature(enable = "neon")]
fn dot_q2k_q8k<D: I8Dot>(dp: D, w: &[BlockQ2K], a: &[BlockQ8K]) -> f32 {
    let m3 = vdupq_n_u8(3);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut summs = 0i32;
        for (b, sc) in y.bsums.iter().zip(&x.scales) {
            summs += i32::from(*b) * i32::from(sc >> 4);
        }
        let mut isum = vdupq_n_s32(0);
        for k in 0..2 {
            let q0 = ld_u8(&x.qs, 32 * k);
            let q1 = ld_u8(&x.qs, 32 * k + 16);
            for j in 0..4 {
                let shift = vdupq_n_s8(-2 * j as i8);
                let a0 = s8(vandq_u8(vshlq_u8(q0, shift), m3));
                let a1 = s8(vandq_u8(vshlq_u8(q1, shift), m3));
                let off = 128 * k + 32 * j;
                let is = 8 * k + 2 * j;
                let p0 = lanes16(dp, a0, ld_s8(&y.qs, off));
                let p1 = lanes16(dp, a1, ld_s8(&y.qs, off + 16));
                isum = vmlaq_n_s32(isum, p0, i32::from(x.scales[is] & 0xF));
                isum = vmlaq_n_s32(isum, p1, i32::from(x.scales[is + 1] & 0xF));
            }
        }
        let isum = vaddvq_s32(isum);
        let dall = y.d * h2f(x.d);
        let dmin = y.d * h2f(x.dmin);
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// One super-block whose `d·d8` is not finite, computed by the scalar oracle. ggml's generic
/// K-quant kernels (and so the oracle) scale eight integer lanes separately (`sums[l] += d·aux32[l]`),
/// so with `d = ±inf` a zero lane gives NaN where `d·Σ lanes` would give ±inf; deferring such
/// (rare, already broken) blocks to the oracle keeps the non-finite class identical to it.
#[inline(never)]
#[cold]
fn nonfinite_block<W, A>(oracle: fn(&[W], &[A]) -> f32, x: &W, y: &A) -> f32 {
    oracle(core::slice::from_ref(x), core::slice::from_ref(y))
}

/// The 16 six-bit Q3_K scales (0..=63, before the −32 offset), unpacked as ggml does.
#[inline]
fn q3k_scales(packed: &[u8; 12]) -> [u8; 16] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let a0 = u32::from_le_bytes([packed[0], packed[1], packed[2], packed[3]]);
    let a1 = u32::from_le_bytes([packed[4], packed[5], packed[6], packed[7]]);
    let tmp = u32::from_le_bytes([packed[8], packed[9], packed[10], packed[11]]);
    let s2 = ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4);
    let s3 = ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4);
    let s0 = (a0 & KMASK2) | ((tmp & KMASK1) << 4);
    let s1 = (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4);
    let mut out = [0u8; 16];
    for (o, s) in out.chunks_exact_mut(4).zip([s0, s1, s2, s3]) {
        o.copy_from_slice(&s.to_le_bytes());
    }
    out
}

/// The 16 Q3_K quants (−4..=3) at `qs[32k + 16h ..]`, bit pair `s`, high-bit mask `m`.
#[target_feature(enable = "neon")]
#[inline]
fn q3k_quants(q: uint8x16_t, hm: uint8x16_t, s: usize, m: u8) -> int8x16_t {
    let low = vandq_u8(vshlq_u8(q, vdupq_n_s8(-2 * s as i8)), vdupq_n_u8(3));
    let set = vtstq_u8(hm, vdupq_n_u8(m));
    // `low − (hbit ? 0 : 4)`
    let sub = vbicq_u8(vdupq_n_u8(4), set);
    vsubq_s8(s8(low), s8(sub))
}

/// Q3_K · Q8_K: quants `(2 bits) − 4·!hbit`, scales `sc − 32`; exact integer sum per
/// super-block, `sumf += (d·d8)·isum`.
#[target_feature(enable = "neon")]
fn dot_q3k_q8k<D: I8Dot>(dp: D, w: &[BlockQ3K], a: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d = h2f(x.d) * y.d;
        if !d.is_finite() {
            sumf += nonfinite_block(crate::scalar::dot_q3k_q8k, x, y);
            continue;
        }
        let scales = q3k_scales(&x.scales);
        let h0 = ld_u8(&x.hmask, 0);
        let h1 = ld_u8(&x.hmask, 16);
        let mut isum = vdupq_n_s32(0);
        for k in 0..2 {
            let q0 = ld_u8(&x.qs, 32 * k);
            let q1 = ld_u8(&x.qs, 32 * k + 16);
            for s in 0..4 {
                let m = 1u8 << (4 * k + s);
                let a0 = q3k_quants(q0, h0, s, m);
                let a1 = q3k_quants(q1, h1, s, m);
                let off = 128 * k + 32 * s;
                let is = 8 * k + 2 * s;
                let p0 = lanes16(dp, a0, ld_s8(&y.qs, off));
                let p1 = lanes16(dp, a1, ld_s8(&y.qs, off + 16));
                isum = vmlaq_n_s32(isum, p0, i32::from(scales[is]) - 32);
                isum = vmlaq_n_s32(isum, p1, i32::from(scales[is + 1]) - 32);
            }
        }
        sumf += d * vaddvq_s32(isum) as f32;
    }
    sumf
}

/// The 8 six-bit scales and 8 six-bit mins of Q4_K / Q5_K (ggml `get_scale_min_k4`).
#[inline]
fn k4_scales_mins(q: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..8 {
        if j < 4 {
            sc[j] = q[j] & 63;
            mn[j] = q[j + 4] & 63;
        } else {
            sc[j] = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            mn[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
    (sc, mn)
}

/// `Σ_j bsums[j]·mins[j/2]` (exact).
#[inline]
fn k4_min_sum(bsums: &[i16; 16], mins: &[u8; 8]) -> i32 {
    let mut s = 0i32;
    for (j, b) in bsums.iter().enumerate() {
        s += i32::from(*b) * i32::from(mins[j / 2]);
    }
    s
}

/// Q4_K · Q8_K: exact `Σ sc·Σ q·q8` and `Σ m·bsum`; `sumf += d·isum; sumf −= dmin·summ`.
#[target_feature(enable = "neon")]
fn dot_q4k_q8k<D: I8Dot>(dp: D, w: &[BlockQ4K], a: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d = h2f(x.d) * y.d;
        if !d.is_finite() {
            sumf += nonfinite_block(crate::scalar::dot_q4k_q8k, x, y);
            continue;
        }
        let (sc, mn) = k4_scales_mins(&x.scales);
        let summ = k4_min_sum(&y.bsums, &mn);
        let mut isum = vdupq_n_s32(0);
        for j in 0..4 {
            let (lo0, hi0) = nibbles(ld_u8(&x.qs, 32 * j));
            let (lo1, hi1) = nibbles(ld_u8(&x.qs, 32 * j + 16));
            let off = 64 * j;
            let p_lo = dp.dot(
                lanes16(dp, s8(lo0), ld_s8(&y.qs, off)),
                s8(lo1),
                ld_s8(&y.qs, off + 16),
            );
            let p_hi = dp.dot(
                lanes16(dp, s8(hi0), ld_s8(&y.qs, off + 32)),
                s8(hi1),
                ld_s8(&y.qs, off + 48),
            );
            isum = vmlaq_n_s32(isum, p_lo, i32::from(sc[2 * j]));
            isum = vmlaq_n_s32(isum, p_hi, i32::from(sc[2 * j + 1]));
        }
        let dmin = h2f(x.dmin) * y.d;
        sumf += d * vaddvq_s32(isum) as f32;
        sumf -= dmin * summ as f32;
    }
    sumf
}

/// Q5_K · Q8_K: as Q4_K with the fifth bit (`qh` bit `2j` / `2j + 1` of byte `l`) adding 16.
#[target_feature(enable = "neon")]
fn dot_q5k_q8k<D: I8Dot>(dp: D, w: &[BlockQ5K], a: &[BlockQ8K]) -> f32 {
    let sixteen = vdupq_n_u8(16);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d = h2f(x.d) * y.d;
        if !d.is_finite() {
            sumf += nonfinite_block(crate::scalar::dot_q5k_q8k, x, y);
            continue;
        }
        let (sc, mn) = k4_scales_mins(&x.scales);
        let summ = k4_min_sum(&y.bsums, &mn);
        let hm0 = ld_u8(&x.qh, 0);
        let hm1 = ld_u8(&x.qh, 16);
        let mut isum = vdupq_n_s32(0);
        for j in 0..4 {
            let (lo0, hi0) = nibbles(ld_u8(&x.qs, 32 * j));
            let (lo1, hi1) = nibbles(ld_u8(&x.qs, 32 * j + 16));
            let m_lo = vdupq_n_u8(1 << (2 * j));
            let m_hi = vdupq_n_u8(1 << (2 * j + 1));
            let lo0 = vorrq_u8(lo0, vandq_u8(vtstq_u8(hm0, m_lo), sixteen));
            let lo1 = vorrq_u8(lo1, vandq_u8(vtstq_u8(hm1, m_lo), sixteen));
            let hi0 = vorrq_u8(hi0, vandq_u8(vtstq_u8(hm0, m_hi), sixteen));
            let hi1 = vorrq_u8(hi1, vandq_u8(vtstq_u8(hm1, m_hi), sixteen));
            let off = 64 * j;
            let p_lo = dp.dot(
                lanes16(dp, s8(lo0), ld_s8(&y.qs, off)),
                s8(lo1),
                ld_s8(&y.qs, off + 16),
            );
            let p_hi = dp.dot(
                lanes16(dp, s8(hi0), ld_s8(&y.qs, off + 32)),
                s8(hi1),
                ld_s8(&y.qs, off + 48),
            );
            isum = vmlaq_n_s32(isum, p_lo, i32::from(sc[2 * j]));
            isum = vmlaq_n_s32(isum, p_hi, i32::from(sc[2 * j + 1]));
        }
        let dmin = h2f(x.dmin) * y.d;
        sumf += d * vaddvq_s32(isum) as f32;
        sumf -= dmin * summ as f32;
    }
    sumf
}

/// The 16 Q6_K quants (−32..=31) of one 16-byte slice: low nibble (or high, `high = true`) of
/// `ql`, two bits of `qh` at `shift`, minus 32.
#[target_feature(enable = "neon")]
#[inline]
fn q6k_quants(ql: uint8x16_t, qh: uint8x16_t, high: bool, shift: i8) -> int8x16_t {
    let (lo, hi) = nibbles(ql);
    let n = if high { hi } else { lo };
    let h = vandq_u8(vshlq_u8(qh, vdupq_n_s8(-shift)), vdupq_n_u8(3));
    let q = vorrq_u8(n, vshlq_n_u8::<4>(h));
    vsubq_s8(s8(q), vdupq_n_s8(32))
}

/// Q6_K · Q8_K: exact `Σ sc·Σ q·q8` over 16 groups of 16; `sumf += (d·d8)·isum`.
#[target_feature(enable = "neon")]
fn dot_q6k_q8k<D: I8Dot>(dp: D, w: &[BlockQ6K], a: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d = h2f(x.d) * y.d;
        if !d.is_finite() {
            sumf += nonfinite_block(crate::scalar::dot_q6k_q8k, x, y);
            continue;
        }
        let mut isum = vdupq_n_s32(0);
        for k in 0..2 {
            let ql = [
                ld_u8(&x.ql, 64 * k),
                ld_u8(&x.ql, 64 * k + 16),
                ld_u8(&x.ql, 64 * k + 32),
                ld_u8(&x.ql, 64 * k + 48),
            ];
            let qh = [ld_u8(&x.qh, 32 * k), ld_u8(&x.qh, 32 * k + 16)];
            // Quarter `r` (values 128k + 32r .. +32) takes ql bytes `32·(r % 2)..`, nibble
            // `r / 2`, and qh bits `2r..2r + 2`.
            for r in 0..4 {
                for half in 0..2 {
                    let q = q6k_quants(ql[2 * (r % 2) + half], qh[half], r >= 2, 2 * r as i8);
                    let off = 128 * k + 32 * r + 16 * half;
                    let p = lanes16(dp, q, ld_s8(&y.qs, off));
                    isum = vmlaq_n_s32(isum, p, i32::from(x.scales[off / 16]));
                }
            }
        }
        sumf += d * vaddvq_s32(isum) as f32;
    }
    sumf
}

/// Q8_K · Q8_K: exact block sum, `sumf += sumi·(dx·dy)`.
#[target_feature(enable = "neon")]
fn dot_q8k_q8k<D: I8Dot>(dp: D, w: &[BlockQ8K], a: &[BlockQ8K]) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut acc = vdupq_n_s32(0);
        for off in (0..256).step_by(16) {
            acc = dp.dot(acc, ld_s8(&x.qs, off), ld_s8(&y.qs, off));
        }
        sumf += vaddvq_s32(acc) as f32 * (x.d * y.d);
    }
    sumf
}

/// IQ4_XS · Q8_K: per 32-value sub-block `sumf += (d·d8·(ls − 32))·sumi` as ggml.
#[target_feature(enable = "neon")]
fn dot_iq4xs_q8k<D: I8Dot>(dp: D, w: &[BlockIq4Xs], a: &[BlockQ8K]) -> f32 {
    let table = ld_s8(&KVALUES_IQ4NL, 0);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let d4d8 = h2f(x.d) * y.d;
        for ib in 0..8 {
            let (lo, hi) = nibbles(ld_u8(&x.qs, 16 * ib));
            let sumi = isum32(
                dp,
                vqtbl1q_s8(table, lo),
                vqtbl1q_s8(table, hi),
                ld_s8(&y.qs, 32 * ib),
                ld_s8(&y.qs, 32 * ib + 16),
            );
            let dl = d4d8 * (iq4xs_scale(x, ib) - 32) as f32;
            sumf += dl * sumi as f32;
        }
    }
    sumf
}

/// The six-bit scale `ls` (0..=63) of IQ4_XS sub-block `ib`.
#[inline]
fn iq4xs_scale(x: &BlockIq4Xs, ib: usize) -> i32 {
    let l = (x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    let h = ((x.scales_h >> (2 * ib)) & 3) as u8;
    i32::from(l | (h << 4))
}

/// The 16 ternary digits (0..=2) of 16 TQ1_0 bytes multiplied by `pow3` (wrapping u8), as ggml's
/// `((u8)(q·pow3) as u16 · 3) >> 8`.
#[target_feature(enable = "neon")]
#[inline]
fn tq1_trits(q: uint8x16_t, pow3: uint8x16_t) -> int8x16_t {
    let q = vmulq_u8(q, pow3);
    let three = vdup_n_u8(3);
    let lo = vshrn_n_u16::<8>(vmull_u8(vget_low_u8(q), three));
    let hi = vshrn_n_u16::<8>(vmull_high_u8(q, vdupq_n_u8(3)));
    vsubq_s8(s8(vcombine_u8(lo, hi)), vdupq_n_s8(1))
}

/// The 16 trits of `qh` (values 240..256 of a TQ1_0 block): value `240 + 4l + j` is trit `l` of
/// `qh[j]`.
#[target_feature(enable = "neon")]
#[inline]
fn tq1_qh_trits(qh: [u8; 4]) -> int8x16_t {
    const POW3: [u8; 16] = [1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27];
    let rep = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_le_bytes(qh)));
    tq1_trits(rep, ld_u8(&POW3, 0))
}

/// TQ1_0 · Q8_K: trits − 1 as i8, exact block sum, `sumf += sum·(d·d8)` as ggml.
#[target_feature(enable = "neon")]
fn dot_tq1_0_q8k<D: I8Dot>(dp: D, w: &[BlockTq1_0], a: &[BlockQ8K]) -> f32 {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let q0 = ld_u8(&x.qs, 0);
        let q1 = ld_u8(&x.qs, 16);
        let q2 = ld_u8(&x.qs, 32);
        let mut acc = vdupq_n_s32(0);
        for (l, p) in POW3.iter().enumerate() {
            let p = vdupq_n_u8(*p);
            acc = dp.dot(acc, tq1_trits(q0, p), ld_s8(&y.qs, 32 * l));
            acc = dp.dot(acc, tq1_trits(q1, p), ld_s8(&y.qs, 32 * l + 16));
            acc = dp.dot(acc, tq1_trits(q2, p), ld_s8(&y.qs, 160 + 16 * l));
        }
        acc = dp.dot(acc, tq1_qh_trits(x.qh), ld_s8(&y.qs, 240));
        sumf += vaddvq_s32(acc) as f32 * (h2f(x.d) * y.d);
    }
    sumf
}

/// TQ2_0 · Q8_K: 2-bit trits − 1 as i8, exact block sum, `sumf += sumi·(d8·d)` as ggml.
#[target_feature(enable = "neon")]
fn dot_tq2_0_q8k<D: I8Dot>(dp: D, w: &[BlockTq2_0], a: &[BlockQ8K]) -> f32 {
    let m3 = vdupq_n_u8(3);
    let one = vdupq_n_s8(1);
    let mut sumf = 0.0f32;
    for (x, y) in w.iter().zip(a) {
        let mut acc = vdupq_n_s32(0);
        for j in [0usize, 32] {
            let q0 = ld_u8(&x.qs, j);
            let q1 = ld_u8(&x.qs, j + 16);
            for l in 0..4 {
                let shift = vdupq_n_s8(-2 * l as i8);
                let t0 = vsubq_s8(s8(vandq_u8(vshlq_u8(q0, shift), m3)), one);
                let t1 = vsubq_s8(s8(vandq_u8(vshlq_u8(q1, shift), m3)), one);
                let off = 4 * j + 32 * l;
                acc = dp.dot(acc, t0, ld_s8(&y.qs, off));
                acc = dp.dot(acc, t1, ld_s8(&y.qs, off + 16));
            }
        }
        let d = y.d * h2f(x.d);
        sumf += vaddvq_s32(acc) as f32 * d;
    }
    sumf
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers
// ---------------------------------------------------------------------------------------------

/// Max of |x| over 4·k floats at `src[off..]`.
#[target_feature(enable = "neon")]
#[inline]
fn amax(src: &[f32]) -> f32 {
    let mut m = vdupq_n_f32(0.0);
    for off in (0..src.len()).step_by(4) {
        m = vmaxq_f32(m, vabsq_f32(ld_f32(src, off)));
    }
    vmaxvq_f32(m)
}

/// `round_half_away(x · id)` of 16 floats, saturated to i8 like Rust's `as i8`.
#[target_feature(enable = "neon")]
#[inline]
fn round_away_16(src: &[f32], off: usize, id: f32) -> int8x16_t {
    let q = |k: usize| vcvtaq_s32_f32(vmulq_n_f32(ld_f32(src, off + 4 * k), id));
    let lo = vcombine_s16(vqmovn_s32(q(0)), vqmovn_s32(q(1)));
    let hi = vcombine_s16(vqmovn_s32(q(2)), vqmovn_s32(q(3)));
    vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi))
}

/// Q8_0 reference quantizer: `d = amax/127`, `id = d ≠ 0 ? 1/d : 0`, `q = roundf(x·id)`.
#[target_feature(enable = "neon")]
fn quantize_q8_0(src: &[f32], dst: &mut [BlockQ8_0]) {
    for (x, y) in src.chunks_exact(32).zip(dst.iter_mut()) {
        let d = amax(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        if !id.is_finite() {
            // `d` is so small that `1/d` overflows: rare enough to leave to the reference.
            crate::scalar::quantize_q8_0(x, core::slice::from_mut(y));
            continue;
        }
        y.d = f16::from_f32(d);
        st_s8(&mut y.qs, 0, round_away_16(x, 0, id));
        st_s8(&mut y.qs, 16, round_away_16(x, 16, id));
    }
}

/// Q8_1 reference quantizer: as Q8_0, plus `s = f16(Σq · d)`.
#[target_feature(enable = "neon")]
fn quantize_q8_1(src: &[f32], dst: &mut [BlockQ8_1]) {
    for (x, y) in src.chunks_exact(32).zip(dst.iter_mut()) {
        let d = amax(x) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        if !id.is_finite() {
            crate::scalar::quantize_q8_1(x, core::slice::from_mut(y));
            continue;
        }
        let q0 = round_away_16(x, 0, id);
        let q1 = round_away_16(x, 16, id);
        let sum = i32::from(vaddlvq_s8(q0)) + i32::from(vaddlvq_s8(q1));
        y.d = f16::from_f32(d);
        y.s = f16::from_f32(sum as f32 * d);
        st_s8(&mut y.qs, 0, q0);
        st_s8(&mut y.qs, 16, q1);
    }
}

/// Q8_K reference quantizer: `max` = first value of largest magnitude, `iscale = −127/max`,
/// `q = min(127, nearest_int(iscale·x))` (round half to even), `d = 1/iscale`, `bsums`.
#[target_feature(enable = "neon")]
fn quantize_q8k(src: &[f32], dst: &mut [BlockQ8K]) {
    for (x, y) in src.chunks_exact(256).zip(dst.iter_mut()) {
        let am = amax(x);
        let iscale = if am != 0.0 {
            // The first value whose magnitude equals the maximum (ggml keeps the first on ties).
            let max = x.iter().copied().find(|v| v.abs() == am).unwrap_or(am);
            -127.0 / max
        } else {
            f32::NAN
        };
        if am == 0.0 || !iscale.is_finite() {
            // All-zero block (the reference leaves `bsums` as it decides) or overflowing scale.
            crate::scalar::quantize_q8k(x, core::slice::from_mut(y));
            continue;
        }
        for off in (0..256).step_by(16) {
            let q = |k: usize| vcvtnq_s32_f32(vmulq_n_f32(ld_f32(x, off + 4 * k), iscale));
            let lo = vcombine_s16(vqmovn_s32(q(0)), vqmovn_s32(q(1)));
            let hi = vcombine_s16(vqmovn_s32(q(2)), vqmovn_s32(q(3)));
            let v = vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
            y.bsums[off / 16] = vaddlvq_s8(v);
            st_s8(&mut y.qs, off, v);
        }
        y.d = 1.0 / iscale;
    }
}

// ---------------------------------------------------------------------------------------------
// Dequantizers (bit-exact: separate multiply and add in the reference's order)
// ---------------------------------------------------------------------------------------------

/// Q4_0: `(q − 8)·d`.
#[target_feature(enable = "neon")]
fn dequantize_q4_0(src: &[BlockQ4_0], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
        let d = h2f(x.d);
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let eight = vdupq_n_s8(8);
        st_scaled(y, 0, vsubq_s8(s8(lo), eight), d);
        st_scaled(y, 16, vsubq_s8(s8(hi), eight), d);
    }
}

/// Q4_1: `q·d + m`.
#[target_feature(enable = "neon")]
fn dequantize_q4_1(src: &[BlockQ4_1], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
        let (d, m) = (h2f(x.d), h2f(x.m));
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        st_scaled_add(y, 0, s8(lo), d, m);
        st_scaled_add(y, 16, s8(hi), d, m);
    }
}

/// Q5_0: `((nibble | fifth bit) − 16)·d`.
#[target_feature(enable = "neon")]
fn dequantize_q5_0(src: &[BlockQ5_0], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
        let d = h2f(x.d);
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let (h0, h1) = q5_high_bits(x.qh);
        let sixteen = vdupq_n_s8(16);
        st_scaled(y, 0, vsubq_s8(s8(vorrq_u8(lo, h0)), sixteen), d);
        st_scaled(y, 16, vsubq_s8(s8(vorrq_u8(hi, h1)), sixteen), d);
    }
}

/// Q5_1: `(nibble | fifth bit)·d + m`.
#[target_feature(enable = "neon")]
fn dequantize_q5_1(src: &[BlockQ5_1], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
        let (d, m) = (h2f(x.d), h2f(x.m));
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        let (h0, h1) = q5_high_bits(x.qh);
        st_scaled_add(y, 0, s8(vorrq_u8(lo, h0)), d, m);
        st_scaled_add(y, 16, s8(vorrq_u8(hi, h1)), d, m);
    }
}

/// Q8_0: `q·d`.
#[target_feature(enable = "neon")]
fn dequantize_q8_0(src: &[BlockQ8_0], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
        let d = h2f(x.d);
        st_scaled(y, 0, ld_s8(&x.qs, 0), d);
        st_scaled(y, 16, ld_s8(&x.qs, 16), d);
    }
}

/// Q8_1: `q·d` (`s` is not used).
#[target_feature(enable = "neon")]
fn dequantize_q8_1(src: &[BlockQ8_1], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
        let d = h2f(x.d);
        st_scaled(y, 0, ld_s8(&x.qs, 0), d);
        st_scaled(y, 16, ld_s8(&x.qs, 16), d);
    }
}

/// Q2_K: per 16 values `dl = d·(sc & 15)`, `ml = dmin·(sc >> 4)`, `y = dl·q − ml`.
#[target_feature(enable = "neon")]
fn dequantize_q2k(src: &[BlockQ2K], dst: &mut [f32]) {
    let m3 = vdupq_n_u8(3);
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        let (d, min) = (h2f(x.d), h2f(x.dmin));
        for k in 0..2 {
            let q = [ld_u8(&x.qs, 32 * k), ld_u8(&x.qs, 32 * k + 16)];
            for j in 0..4 {
                let shift = vdupq_n_s8(-2 * j as i8);
                for (h, q) in q.iter().enumerate() {
                    let is = 8 * k + 2 * j + h;
                    let sc = x.scales[is];
                    let dl = d * f32::from(sc & 0xF);
                    let ml = min * f32::from(sc >> 4);
                    let v = s8(vandq_u8(vshlq_u8(*q, shift), m3));
                    st_scaled_sub(y, 16 * is, v, dl, ml);
                }
            }
        }
    }
}

/// Q3_K: per 16 values `dl = d·(sc − 32)`, `y = dl·q`.
#[target_feature(enable = "neon")]
fn dequantize_q3k(src: &[BlockQ3K], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        let d = h2f(x.d);
        let scales = q3k_scales(&x.scales);
        let hm = [ld_u8(&x.hmask, 0), ld_u8(&x.hmask, 16)];
        for k in 0..2 {
            let q = [ld_u8(&x.qs, 32 * k), ld_u8(&x.qs, 32 * k + 16)];
            for s in 0..4 {
                let m = 1u8 << (4 * k + s);
                for h in 0..2 {
                    let is = 8 * k + 2 * s + h;
                    let dl = d * (i32::from(scales[is]) - 32) as f32;
                    st_scaled(y, 16 * is, q3k_quants(q[h], hm[h], s, m), dl);
                }
            }
        }
    }
}

/// Q4_K: per 32 values `d1 = d·sc`, `m1 = dmin·m`, `y = d1·q − m1`.
#[target_feature(enable = "neon")]
fn dequantize_q4k(src: &[BlockQ4K], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        let (d, min) = (h2f(x.d), h2f(x.dmin));
        let (sc, mn) = k4_scales_mins(&x.scales);
        for j in 0..4 {
            let (d1, m1) = (d * f32::from(sc[2 * j]), min * f32::from(mn[2 * j]));
            let (d2, m2) = (d * f32::from(sc[2 * j + 1]), min * f32::from(mn[2 * j + 1]));
            for h in 0..2 {
                let (lo, hi) = nibbles(ld_u8(&x.qs, 32 * j + 16 * h));
                st_scaled_sub(y, 64 * j + 16 * h, s8(lo), d1, m1);
                st_scaled_sub(y, 64 * j + 32 + 16 * h, s8(hi), d2, m2);
            }
        }
    }
}

/// Q5_K: as Q4_K with the fifth bit adding 16 to the quant.
#[target_feature(enable = "neon")]
fn dequantize_q5k(src: &[BlockQ5K], dst: &mut [f32]) {
    let sixteen = vdupq_n_u8(16);
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        let (d, min) = (h2f(x.d), h2f(x.dmin));
        let (sc, mn) = k4_scales_mins(&x.scales);
        let hm = [ld_u8(&x.qh, 0), ld_u8(&x.qh, 16)];
        for j in 0..4 {
            let (d1, m1) = (d * f32::from(sc[2 * j]), min * f32::from(mn[2 * j]));
            let (d2, m2) = (d * f32::from(sc[2 * j + 1]), min * f32::from(mn[2 * j + 1]));
            let m_lo = vdupq_n_u8(1 << (2 * j));
            let m_hi = vdupq_n_u8(1 << (2 * j + 1));
            for (h, hm) in hm.iter().enumerate() {
                let (lo, hi) = nibbles(ld_u8(&x.qs, 32 * j + 16 * h));
                let lo = vorrq_u8(lo, vandq_u8(vtstq_u8(*hm, m_lo), sixteen));
                let hi = vorrq_u8(hi, vandq_u8(vtstq_u8(*hm, m_hi), sixteen));
                st_scaled_sub(y, 64 * j + 16 * h, s8(lo), d1, m1);
                st_scaled_sub(y, 64 * j + 32 + 16 * h, s8(hi), d2, m2);
            }
        }
    }
}

/// Q6_K: `y = (d·sc)·q`.
#[target_feature(enable = "neon")]
fn dequantize_q6k(src: &[BlockQ6K], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        let d = h2f(x.d);
        for k in 0..2 {
            let ql = [
                ld_u8(&x.ql, 64 * k),
                ld_u8(&x.ql, 64 * k + 16),
                ld_u8(&x.ql, 64 * k + 32),
                ld_u8(&x.ql, 64 * k + 48),
            ];
            let qh = [ld_u8(&x.qh, 32 * k), ld_u8(&x.qh, 32 * k + 16)];
            for r in 0..4 {
                for half in 0..2 {
                    let q = q6k_quants(ql[2 * (r % 2) + half], qh[half], r >= 2, 2 * r as i8);
                    let off = 128 * k + 32 * r + 16 * half;
                    let dl = d * f32::from(x.scales[off / 16]);
                    st_scaled(y, off, q, dl);
                }
            }
        }
    }
}

/// Q8_K: `d·q` (f32 `d`).
#[target_feature(enable = "neon")]
fn dequantize_q8k(src: &[BlockQ8K], dst: &mut [f32]) {
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        for off in (0..256).step_by(16) {
            st_scaled(y, off, ld_s8(&x.qs, off), x.d);
        }
    }
}

/// IQ4_NL: `d·KVALUES_IQ4NL[q]`.
#[target_feature(enable = "neon")]
fn dequantize_iq4nl(src: &[BlockIq4Nl], dst: &mut [f32]) {
    let table = ld_s8(&KVALUES_IQ4NL, 0);
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
        let d = h2f(x.d);
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        st_scaled(y, 0, vqtbl1q_s8(table, lo), d);
        st_scaled(y, 16, vqtbl1q_s8(table, hi), d);
    }
}

/// IQ4_XS: per 32 values `dl = d·(ls − 32)`, `y = dl·KVALUES_IQ4NL[q]`.
#[target_feature(enable = "neon")]
fn dequantize_iq4xs(src: &[BlockIq4Xs], dst: &mut [f32]) {
    let table = ld_s8(&KVALUES_IQ4NL, 0);
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        let d = h2f(x.d);
        for ib in 0..8 {
            let dl = d * (iq4xs_scale(x, ib) - 32) as f32;
            let (lo, hi) = nibbles(ld_u8(&x.qs, 16 * ib));
            st_scaled(y, 32 * ib, vqtbl1q_s8(table, lo), dl);
            st_scaled(y, 32 * ib + 16, vqtbl1q_s8(table, hi), dl);
        }
    }
}

/// MXFP4: `KVALUES_FP4[q]·2^(e − 128)`.
#[target_feature(enable = "neon")]
fn dequantize_mxfp4(src: &[BlockMxfp4], dst: &mut [f32]) {
    let table = ld_s8(&KVALUES_FP4, 0);
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(32)) {
        let d = e8m0_to_f32_half(x.e);
        let (lo, hi) = nibbles(ld_u8(&x.qs, 0));
        st_scaled(y, 0, vqtbl1q_s8(table, lo), d);
        st_scaled(y, 16, vqtbl1q_s8(table, hi), d);
    }
}

/// NVFP4: per 16 values `KVALUES_FP4[q]·ue4m3(d_s)/2`.
#[target_feature(enable = "neon")]
fn dequantize_nvfp4(src: &[BlockNvfp4], dst: &mut [f32]) {
    let table = ld_s8(&KVALUES_FP4, 0);
    let m4 = vdup_n_u8(0x0F);
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(64)) {
        for s in 0..4 {
            let q = ld_u8x8(&x.qs, 8 * s);
            let idx = vcombine_u8(vand_u8(q, m4), vshr_n_u8::<4>(q));
            st_scaled(y, 16 * s, vqtbl1q_s8(table, idx), ue4m3_to_f32_half(x.d[s]));
        }
    }
}

/// TQ1_0: `(t − 1)·d`.
#[target_feature(enable = "neon")]
fn dequantize_tq1_0(src: &[BlockTq1_0], dst: &mut [f32]) {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        let d = h2f(x.d);
        let q = [ld_u8(&x.qs, 0), ld_u8(&x.qs, 16), ld_u8(&x.qs, 32)];
        for (l, p) in POW3.iter().enumerate() {
            let p = vdupq_n_u8(*p);
            st_scaled(y, 32 * l, tq1_trits(q[0], p), d);
            st_scaled(y, 32 * l + 16, tq1_trits(q[1], p), d);
            st_scaled(y, 160 + 16 * l, tq1_trits(q[2], p), d);
        }
        st_scaled(y, 240, tq1_qh_trits(x.qh), d);
    }
}

/// TQ2_0: `(t − 1)·d`.
#[target_feature(enable = "neon")]
fn dequantize_tq2_0(src: &[BlockTq2_0], dst: &mut [f32]) {
    let m3 = vdupq_n_u8(3);
    let one = vdupq_n_s8(1);
    for (x, y) in src.iter().zip(dst.chunks_exact_mut(256)) {
        let d = h2f(x.d);
        for j in [0usize, 32] {
            let q = [ld_u8(&x.qs, j), ld_u8(&x.qs, j + 16)];
            for l in 0..4 {
                let shift = vdupq_n_s8(-2 * l as i8);
                for (h, q) in q.iter().enumerate() {
                    let t = vsubq_s8(s8(vandq_u8(vshlq_u8(*q, shift), m3)), one);
                    st_scaled(y, 4 * j + 32 * l + 16 * h, t, d);
                }
            }
        }
    }
}

/// f16 → f32 (`fcvtl`, exact; NaN payloads kept and quieted, like `half::f16::to_f32`).
#[target_feature(enable = "neon")]
fn dequantize_f16(src: &[f16], dst: &mut [f32]) {
    let s: &[u16] = bytemuck::cast_slice(src);
    let n4 = s.len() / 4 * 4;
    for off in (0..n4).step_by(4) {
        st_f32(dst, off, h2f_x4(ld_u16x4(s, off)));
    }
    for (o, h) in dst[n4..].iter_mut().zip(&src[n4..]) {
        *o = h2f(*h);
    }
}

/// bf16 → f32: a 16-bit shift; NaNs get the quiet bit set, like `half::bf16::to_f32`.
#[target_feature(enable = "neon")]
fn dequantize_bf16(src: &[bf16], dst: &mut [f32]) {
    let s: &[u16] = bytemuck::cast_slice(src);
    let n4 = s.len() / 4 * 4;
    let abs_mask = vdupq_n_u32(0x7FFF_FFFF);
    let inf = vdupq_n_u32(0x7F80_0000);
    let quiet = vdupq_n_u32(0x0040_0000);
    for off in (0..n4).step_by(4) {
        let w = vshll_n_u16::<16>(ld_u16x4(s, off));
        let nan = vcgtq_u32(vandq_u32(w, abs_mask), inf);
        let w = vorrq_u32(w, vandq_u32(nan, quiet));
        st_f32(dst, off, vreinterpretq_f32_u32(w));
    }
    for (o, h) in dst[n4..].iter_mut().zip(&src[n4..]) {
        *o = h.to_f32();
    }
}
