//! The AVX-512 backend (F/BW/VL, with VNNI where the CPU has it).
//!
//! # Two tiers in one backend
//!
//! [`Avx512::get`] checks `avx512f`, `avx512bw`, `avx512vl`, `avx2`, `fma` and `f16c` once, and
//! `avx512vnni` once more; the token remembers the answer. Every kernel is compiled twice from
//! the same source (`avx512/kernels.rs`): the `vnni` instantiation uses `vpdpbusd`, the `base`
//! instantiation emulates it exactly (`vpmaddubsw` + `vpmaddwd` where no product pair can
//! saturate, i8→i16 widening + `vpmaddwd` otherwise) and is what Skylake-SP class CPUs run. Each
//! [`Backend`] method branches on the flag once per call. [`Avx512::get_base`] returns the base
//! tier even on a VNNI CPU so that tests and benchmarks can exercise it.
//!
//! # Verification
//!
//! `tests/avx512.rs` checks both tiers against the scalar oracle (property tests over random
//! block bytes, every block count up to 300 / 40, exact bytes for the quantizers, exact bits for
//! the dequantizers, −128 regressions, the conformance kit); it skips on CPUs without AVX-512.
//! The kernels were also executed instruction by instruction under an AVX-512 emulator (BochsCPU,
//! Skylake-X model: F/BW/VL/DQ/CD, no VNNI) against the scalar oracle, so the `base` tier and all
//! shared code ran; the `vnni` tier differs from it only in `dpbusd_small`/`dpbusd_full`
//! (one `vpdpbusd` each, `u8 × i8` with i32 accumulation, as documented by Intel).
//!
//! # Speed
//!
//! Static estimates (llvm-mca 14, `icelake-server` model, VNNI tier, hot loop of each dot), in
//! core cycles per 32 values: q8_0 2.0–3.2, q4_0 2.0–3.1, q4_1 3.0–3.5, q5_0 2.5–3.6, iq4_nl
//! 2.1–3.4, mxfp4 2.0–3.3, q2_K 1.5–2.4, q3_K 3.6–4.8, q4_K 1.9–2.3, q5_K 2.4–3.0, q6_K 1.8–2.9,
//! q8_K 1.1–1.3, iq4_xs 4.8–5.5, tq1_0 2.0–3.2, tq2_0 1.0–2.3 (port-pressure bound – simulated).
//! ggml's measured TSC cycles per 32 values are in `shared/anchors.md` (q4_0 3.7, q4_K 2.9, …).
//! These are not measurements; q3_K and iq4_xs are expected to be slower than ggml's kernels.
//!
//! # Safety
//!
//! The kernels are safe `#[target_feature]` functions; the only `unsafe` operations inside them
//! are loads and stores from references whose size is checked (each with a `SAFETY` comment).
//! Calling them is `unsafe` only because the features must be present: a token exists only after
//! [`Avx512::get`] / [`Avx512::get_base`] has checked them, which is what each method's single
//! `unsafe` block relies on.

use half::{bf16, f16};
use quant_core::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1,
    BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0, BlockQ8_1, BlockQ8K, BlockTq1_0,
    BlockTq2_0,
};

use crate::Backend;

#[macro_use]
mod kernels;

/// Lookup tables shared by both instantiations.
pub(crate) mod tables {
    use quant_core::formats::{KVALUES_FP4, KVALUES_IQ4NL};

    /// `KVALUES_IQ4NL[i] + 128` as bytes (`1..=241`).
    pub(crate) const IQ4NL_PLUS_128: [u8; 16] = {
        let mut t = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            t[i] = (KVALUES_IQ4NL[i] as i16 + 128) as u8;
            i += 1;
        }
        t
    };

    /// `KVALUES_FP4[i] + 12` as bytes (`0..=24`).
    pub(crate) const FP4_PLUS_12: [u8; 16] = {
        let mut t = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            t[i] = (KVALUES_FP4[i] + 12) as u8;
            i += 1;
        }
        t
    };

    /// `KVALUES_IQ4NL` as bytes (for `vpshufb`).
    pub(crate) const IQ4NL_BYTES: [u8; 16] = {
        let mut t = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            t[i] = KVALUES_IQ4NL[i] as u8;
            i += 1;
        }
        t
    };

    /// `KVALUES_FP4` as bytes (for `vpshufb`).
    pub(crate) const FP4_BYTES: [u8; 16] = {
        let mut t = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            t[i] = KVALUES_FP4[i] as u8;
            i += 1;
        }
        t
    };

    const fn pow2(k: i32) -> f32 {
        f32::from_bits(((k + 127) as u32) << 23)
    }

    /// `ue4m3_to_f32_half` of every byte, evaluated with the scalar oracle's expression (every
    /// value is exact, so the table equals the oracle bit for bit; a test checks all 256).
    pub(crate) static UE4M3_HALF: [f32; 256] = {
        let mut t = [0.0f32; 256];
        let mut i = 0;
        while i < 256 {
            let x = i as u8;
            t[i] = if x == 0 || x == 0x7F {
                0.0
            } else {
                let exp = ((x >> 3) & 0xF) as i32;
                let man = (x & 7) as f32;
                let raw = if exp == 0 {
                    man * pow2(-9)
                } else {
                    (1.0 + man / 8.0) * pow2(exp - 7)
                };
                raw * 0.5
            };
            i += 1;
        }
        t
    };
}

/// The VNNI instantiation: `vpdpbusd` for every `u8 × i8` lane sum.
mod vnni {
    use core::arch::x86_64::{__m512i, _mm512_dpbusd_epi32};

    /// `acc + Σ₄ u·s` per i32 lane (one `vpdpbusd`; exact, no saturation).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn dpbusd_small(acc: __m512i, u: __m512i, s: __m512i) -> __m512i {
        _mm512_dpbusd_epi32(acc, u, s)
    }

    /// Same as [`dpbusd_small`]: `vpdpbusd` is exact for every `u8 × i8`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn dpbusd_full(acc: __m512i, u: __m512i, s: __m512i) -> __m512i {
        _mm512_dpbusd_epi32(acc, u, s)
    }

    avx512_kernels!("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c");
}

/// The F/BW/VL instantiation: `vpdpbusd` emulated exactly.
mod base {
    use core::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_castsi512_si256, _mm512_cvtepi8_epi16,
        _mm512_cvtepu8_epi16, _mm512_extracti64x4_epi64, _mm512_madd_epi16, _mm512_maddubs_epi16,
        _mm512_permutex2var_epi32, _mm512_set1_epi16, _mm512_setr_epi32,
    };

    /// `acc + Σ₄ u·s` per i32 lane for `u ≤ 128`, `|s| ≤ 127` or `u ≤ 127`, `s ≥ −128`:
    /// `vpmaddubsw` adds two products into an i16; `|u₀s₀ + u₁s₁| ≤ 2·128·127 = 32 512` (or
    /// `2·127·128`), below 32 767, so it never saturates; `vpmaddwd` by 1 then adds the pairs in
    /// i32. Every caller passes `u ≤ 127` (4-bit to 7-bit values and offsets ≤ 64).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    #[inline]
    fn dpbusd_small(acc: __m512i, u: __m512i, s: __m512i) -> __m512i {
        let p = _mm512_maddubs_epi16(u, s);
        _mm512_add_epi32(acc, _mm512_madd_epi16(p, _mm512_set1_epi16(1)))
    }

    /// `acc + Σ₄ u·s` per i32 lane for every `u8 × i8`: both operands widened to i16
    /// (zero- resp. sign-extended), `vpmaddwd` (exact: `|u₀s₀ + u₁s₁| ≤ 2·255·128`), then the
    /// i32 pairs of each 4-byte group added; lane `j` gets bytes `4j..4j+4` as `vpdpbusd`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    #[inline]
    fn dpbusd_full(acc: __m512i, u: __m512i, s: __m512i) -> __m512i {
        let u_lo = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(u));
        let u_hi = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64::<1>(u));
        let s_lo = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(s));
        let s_hi = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64::<1>(s));
        let m_lo = _mm512_madd_epi16(u_lo, s_lo);
        let m_hi = _mm512_madd_epi16(u_hi, s_hi);
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let sum = _mm512_add_epi32(
            _mm512_permutex2var_epi32(m_lo, even, m_hi),
            _mm512_permutex2var_epi32(m_lo, odd, m_hi),
        );
        _mm512_add_epi32(acc, sum)
    }

    avx512_kernels!("avx512f,avx512bw,avx512vl,avx2,fma,f16c");
}

/// Token proving AVX-512 F/BW/VL (and AVX2/FMA/F16C) are available (construct with
/// [`Avx512::get`]); it also records whether the VNNI kernels may be used.
#[derive(Clone, Copy, Debug)]
pub struct Avx512 {
    vnni: bool,
}

impl Avx512 {
    /// The backend, if this CPU supports it, using VNNI (`vpdpbusd`) when the CPU has it.
    pub fn get() -> Option<&'static dyn Backend> {
        static VNNI: Avx512 = Avx512 { vnni: true };
        Self::get_base()?;
        Some(if std::arch::is_x86_feature_detected!("avx512vnni") {
            &VNNI
        } else {
            Self::base_token()
        })
    }

    /// The backend restricted to its F/BW/VL kernels (no VNNI), if this CPU supports it: the
    /// tier a CPU without VNNI runs, available on every AVX-512 CPU for tests and benchmarks.
    pub fn get_base() -> Option<&'static dyn Backend> {
        (std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c"))
        .then(|| Self::base_token() as &dyn Backend)
    }

    fn base_token() -> &'static Avx512 {
        static BASE: Avx512 = Avx512 { vnni: false };
        &BASE
    }

    /// Whether this token runs the VNNI kernels.
    pub fn has_vnni(&self) -> bool {
        self.vnni
    }
}

/// Implements a `Backend` method by calling the kernel of the token's tier.
macro_rules! tiered {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) $(-> $ret:ty)?;)*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) $(-> $ret)? {
                if self.vnni {
                    // SAFETY: a token with `vnni: true` is only handed out by `Avx512::get`
                    // after it detected AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
                    unsafe { vnni::$name($($arg),*) }
                } else {
                    // SAFETY: every token is handed out only after `Avx512::get_base` detected
                    // AVX-512 F/BW/VL, AVX2, FMA and F16C.
                    unsafe { base::$name($($arg),*) }
                }
            }
        )*
    };
}

impl Backend for Avx512 {
    fn name(&self) -> &'static str {
        "avx512"
    }

    tiered! {
        fn dot_q4_0_q8_0(&self, w: &[BlockQ4_0], a: &[BlockQ8_0]) -> f32;
        fn dot_q4_1_q8_1(&self, w: &[BlockQ4_1], a: &[BlockQ8_1]) -> f32;
        fn dot_q5_0_q8_0(&self, w: &[BlockQ5_0], a: &[BlockQ8_0]) -> f32;
        fn dot_q5_1_q8_1(&self, w: &[BlockQ5_1], a: &[BlockQ8_1]) -> f32;
        fn dot_q8_0_q8_0(&self, w: &[BlockQ8_0], a: &[BlockQ8_0]) -> f32;
        fn dot_q2k_q8k(&self, w: &[BlockQ2K], a: &[BlockQ8K]) -> f32;
        fn dot_q3k_q8k(&self, w: &[BlockQ3K], a: &[BlockQ8K]) -> f32;
        fn dot_q4k_q8k(&self, w: &[BlockQ4K], a: &[BlockQ8K]) -> f32;
        fn dot_q5k_q8k(&self, w: &[BlockQ5K], a: &[BlockQ8K]) -> f32;
        fn dot_q6k_q8k(&self, w: &[BlockQ6K], a: &[BlockQ8K]) -> f32;
        fn dot_q8k_q8k(&self, w: &[BlockQ8K], a: &[BlockQ8K]) -> f32;
        fn dot_iq4nl_q8_0(&self, w: &[BlockIq4Nl], a: &[BlockQ8_0]) -> f32;
        fn dot_iq4xs_q8k(&self, w: &[BlockIq4Xs], a: &[BlockQ8K]) -> f32;
        fn dot_mxfp4_q8_0(&self, w: &[BlockMxfp4], a: &[BlockQ8_0]) -> f32;
        fn dot_nvfp4_q8_0(&self, w: &[BlockNvfp4], a: &[BlockQ8_0]) -> f32;
        fn dot_tq1_0_q8k(&self, w: &[BlockTq1_0], a: &[BlockQ8K]) -> f32;
        fn dot_tq2_0_q8k(&self, w: &[BlockTq2_0], a: &[BlockQ8K]) -> f32;
        fn dot_f32(&self, a: &[f32], b: &[f32]) -> f32;
        fn dot_f16(&self, a: &[f16], b: &[f16]) -> f32;
        fn dot_bf16(&self, a: &[bf16], b: &[bf16]) -> f32;
        fn quantize_q8_0(&self, src: &[f32], dst: &mut [BlockQ8_0]);
        fn quantize_q8_1(&self, src: &[f32], dst: &mut [BlockQ8_1]);
        fn quantize_q8k(&self, src: &[f32], dst: &mut [BlockQ8K]);
        fn dequantize_q4_0(&self, src: &[BlockQ4_0], dst: &mut [f32]);
        fn dequantize_q4_1(&self, src: &[BlockQ4_1], dst: &mut [f32]);
        fn dequantize_q5_0(&self, src: &[BlockQ5_0], dst: &mut [f32]);
        fn dequantize_q5_1(&self, src: &[BlockQ5_1], dst: &mut [f32]);
        fn dequantize_q8_0(&self, src: &[BlockQ8_0], dst: &mut [f32]);
        fn dequantize_q8_1(&self, src: &[BlockQ8_1], dst: &mut [f32]);
        fn dequantize_q2k(&self, src: &[BlockQ2K], dst: &mut [f32]);
        fn dequantize_q3k(&self, src: &[BlockQ3K], dst: &mut [f32]);
        fn dequantize_q4k(&self, src: &[BlockQ4K], dst: &mut [f32]);
        fn dequantize_q5k(&self, src: &[BlockQ5K], dst: &mut [f32]);
        fn dequantize_q6k(&self, src: &[BlockQ6K], dst: &mut [f32]);
        fn dequantize_q8k(&self, src: &[BlockQ8K], dst: &mut [f32]);
        fn dequantize_iq4nl(&self, src: &[BlockIq4Nl], dst: &mut [f32]);
        fn dequantize_iq4xs(&self, src: &[BlockIq4Xs], dst: &mut [f32]);
        fn dequantize_mxfp4(&self, src: &[BlockMxfp4], dst: &mut [f32]);
        fn dequantize_nvfp4(&self, src: &[BlockNvfp4], dst: &mut [f32]);
        fn dequantize_tq1_0(&self, src: &[BlockTq1_0], dst: &mut [f32]);
        fn dequantize_tq2_0(&self, src: &[BlockTq2_0], dst: &mut [f32]);
        fn dequantize_f16(&self, src: &[f16], dst: &mut [f32]);
        fn dequantize_bf16(&self, src: &[bf16], dst: &mut [f32]);
    }
}

#[cfg(test)]
mod tests {
    /// The UE4M3 table equals the scalar oracle's conversion for all 256 bytes, bit for bit.
    #[test]
    fn ue4m3_table_matches_scalar() {
        for x in 0..=255u8 {
            assert_eq!(
                super::tables::UE4M3_HALF[usize::from(x)].to_bits(),
                crate::scalar::ue4m3_to_f32_half(x).to_bits(),
                "byte {x:#04x}"
            );
        }
    }

    /// The offset tables hold `kvalues + offset` (checked against the quant-core tables).
    #[test]
    fn offset_tables() {
        use quant_core::formats::{KVALUES_FP4, KVALUES_IQ4NL};
        for i in 0..16 {
            assert_eq!(
                i16::from(super::tables::IQ4NL_PLUS_128[i]),
                i16::from(KVALUES_IQ4NL[i]) + 128
            );
            assert_eq!(
                i16::from(super::tables::FP4_PLUS_12[i]),
                i16::from(KVALUES_FP4[i]) + 12
            );
            assert_eq!(super::tables::IQ4NL_BYTES[i] as i8, KVALUES_IQ4NL[i]);
            assert_eq!(super::tables::FP4_BYTES[i] as i8, KVALUES_FP4[i]);
        }
    }
}
