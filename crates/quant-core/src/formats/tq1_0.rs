//! `tq1_0`: 256 ternary weights, `w = d·(t − 1)` (ggml `block_tq1_0`).

use bytemuck::{Pod, Zeroable};
use half::f16;

use super::tq2_0::{scale_and_trits, ternary_max_abs_error};
use crate::{BlockFormat, Format};

/// 256 ternary weights, `w = d·(t − 1)` (ggml `block_tq1_0`).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
pub struct BlockTq1_0 {
    /// 5 trits per byte, fixed-point base-3 packing.
    pub qs: [u8; 48],
    /// 4 trits per byte.
    pub qh: [u8; 4],
    /// Scale.
    pub d: f16,
}
crate::assert_block_size!(BlockTq1_0, 54);

/// Packs trits `t[0]` (most significant) … into a base-3 number, with ggml's uint8 wrap-around
/// (`q *= 3; q += t`), and stores it as the 8-bit fixed-point fraction `⌈q·256/243⌉`
/// (`243 = 3⁵`), so that the decoder can read trit `n` as the top of `(q·3ⁿ mod 256)·3 / 256`.
#[inline(always)]
fn pack_trits<const K: usize>(t: [i32; K], extra_shift: bool) -> u8 {
    let mut q = 0u8;
    for t in t {
        q = q.wrapping_mul(3).wrapping_add(t as u8);
    }
    if extra_shift {
        // qh bytes hold 4 trits: shift the first one to the most significant trit.
        q = q.wrapping_mul(3);
    }
    // ggml's ceiling division `(q·256 + 242) / 243`; the uint8_t store keeps the low byte.
    (u32::from(q) * 256).div_ceil(243) as u8
}

/// The trit `n` (0 = most significant) of a fixed-point byte, as in `dequantize_row_tq1_0`.
#[inline(always)]
fn trit(byte: u8, n: usize) -> i32 {
    const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];
    let q = byte.wrapping_mul(POW3[n]);
    i32::from((u16::from(q) * 3) >> 8)
}

impl BlockFormat for BlockTq1_0 {
    const NAME: &'static str = "tq1_0";
    const BLOCK_LEN: usize = 256;
    const FORMAT: Option<Format> = Some(Format::Tq1_0);
    const USES_IMPORTANCE: bool = false;
    /// Holds whenever the stored scale is finite and non-zero (same trits and scale as
    /// `tq2_0`; the base-3 packing round-trips exactly).
    const REQUANTIZE_STABLE: bool = true;

    /// `quantize_row_tq1_0_ref` (ggml ignores importance weights for `tq1_0`):
    /// `qs[m]`, `m < 32`, packs values `m + 32n`; `qs[32 + m]`, `m < 16`, values
    /// `160 + m + 16n` (`n = 0..5`, first = most significant); `qh[j]` values `240 + j + 4n`
    /// (`n = 0..4`).
    fn quantize_blocks(src: &[f32], _imatrix: Option<&[f32]>, dst: &mut [Self]) {
        let (xs, _) = src.as_chunks::<256>();
        for (x, b) in xs.iter().zip(dst) {
            let (d, t) = scale_and_trits(x);
            b.d = f16::from_f32(d);
            for m in 0..32 {
                b.qs[m] = pack_trits(core::array::from_fn::<_, 5, _>(|n| t[m + 32 * n]), false);
            }
            for m in 0..16 {
                b.qs[32 + m] = pack_trits(
                    core::array::from_fn::<_, 5, _>(|n| t[160 + m + 16 * n]),
                    false,
                );
            }
            for j in 0..4 {
                b.qh[j] = pack_trits(
                    core::array::from_fn::<_, 4, _>(|n| t[240 + j + 4 * n]),
                    true,
                );
            }
        }
    }

    fn dequantize_block(&self, dst: &mut [f32]) {
        let d = self.d.to_f32();
        for n in 0..5 {
            for m in 0..32 {
                dst[32 * n + m] = (trit(self.qs[m], n) - 1) as f32 * d;
            }
        }
        for n in 0..5 {
            for m in 0..16 {
                dst[160 + 16 * n + m] = (trit(self.qs[32 + m], n) - 1) as f32 * d;
            }
        }
        for n in 0..4 {
            for j in 0..4 {
                dst[240 + 4 * n + j] = (trit(self.qh[j], n) - 1) as f32 * d;
            }
        }
    }

    /// Same bound as `tq2_0` (same scale and trits).
    fn max_abs_error(src: &[f32]) -> Option<f32> {
        Some(ternary_max_abs_error(src))
    }
}
