//! Helpers shared by ggml's quantizers (`nearest_int`, `make_qx_quants`, …) and value tables.
//!
//! Every routine here is a safe-Rust transcription of the routine of the same name in ggml's
//! `ggml-quants.c` that performs the same f32 operations **in the same order** (no fused
//! multiply-add, no reassociation), so that the quantizers built on them reproduce ggml's bytes
//! exactly. Where C evaluates `w*x[i]*l` we evaluate `(w * x[i]) * l as f32`, and so on; comments
//! point out the few places where C's implicit conversions matter.
//!
//! Buffers that ggml passes in (`L`, `Laux`, `the_min`) are slices or return values here; the
//! length `n` of ggml's signatures is the length of the `x` slice.
// Index loops mirror ggml's C loops one to one, which keeps the operation order auditable.
#![allow(clippy::needless_range_loop)]

use half::f16;

/// The 16 non-linear values of IQ4_NL / IQ4_XS (ggml `kvalues_iq4nl`).
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// E2M1 values doubled (ggml `kvalues_mxfp4`): index = 4-bit code.
pub const KVALUES_FP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// ggml's `GROUP_MAX_EPS`: groups whose largest magnitude is below this are treated as zero.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// Longest group the fixed-size scratch buffers below support (ggml never uses more than 32).
const MAX_GROUP: usize = 32;

/// ggml's `nearest_int`: round to the nearest integer, ties to even, by adding `1.5·2^23` and
/// reading the low mantissa bits.
///
/// Exact for `|fval| <= 4194303` (ggml asserts this in debug builds, and so do we); outside that
/// range the result is whatever the bit trick gives, exactly as in ggml (NaN gives 0).
#[inline(always)]
pub(crate) fn nearest_int(fval: f32) -> i32 {
    // ggml's `assert(fabsf(fval) <= 4194303.f)` also trips on NaN; NaN only reaches here from
    // inputs whose scale overflowed (ggml's release builds carry on with 0), so we let it pass
    // to keep debug builds usable for those.
    debug_assert!(
        fval.is_nan() || fval.abs() <= 4_194_303.0,
        "nearest_int({fval})"
    );
    let val = fval + 12_582_912.0;
    let i = val.to_bits() as i32;
    (i & 0x007f_ffff) - 0x0040_0000
}

/// ggml's `make_qx_quants`: fit a symmetric scale for quants in `[-nmax, nmax - 1]`.
///
/// Writes `L[i] = q_i + nmax` (so `0 ..= 2·nmax − 1`) into `l` and returns the scale `d` such that
/// `x[i] ≈ d·q_i`. `rmse_type` selects ggml's variant: 0 = plain rounding with `d = max/−nmax`;
/// otherwise a weighted least-squares refit over 18 trial scales, with weights `qw` if given, else
/// `x²` (1), `1` (2), `|x|` (3) or `sqrt|x|` (other); a negative `rmse_type` returns right after
/// the first refit (the average of the least-squares and the initial scale).
///
/// `x.len() == l.len()`; `qw`, if given, has at least `x.len()` entries.
pub(crate) fn make_qx_quants(
    nmax: i32,
    x: &[f32],
    l: &mut [i8],
    rmse_type: i32,
    qw: Option<&[f32]>,
) -> f32 {
    let n = x.len();
    let l = &mut l[..n];
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &xi in x {
        let ax = xi.abs();
        if ax > amax {
            amax = ax;
            max = xi;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let nmaxf = nmax as f32;
    let mut iscale = -nmaxf / max;
    if rmse_type == 0 {
        for (li, &xi) in l.iter_mut().zip(x) {
            let q = nearest_int(iscale * xi);
            *li = (nmax + q.clamp(-nmax, nmax - 1)) as i8;
        }
        return 1.0 / iscale;
    }
    let (rmse_type, return_early) = if rmse_type < 0 {
        (-rmse_type, true)
    } else {
        (rmse_type, false)
    };
    let weight = |i: usize| -> f32 {
        match qw {
            Some(w) => w[i],
            None => match rmse_type {
                1 => x[i] * x[i],
                2 => 1.0,
                3 => x[i].abs(),
                _ => x[i].abs().sqrt(),
            },
        }
    };
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let q = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        l[i] = (q + nmax) as i8;
        let w = weight(i);
        let qf = q as f32;
        sumlx += w * x[i] * qf;
        suml2 += w * qf * qf;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    if return_early {
        return if suml2 > 0.0 {
            0.5 * (scale + 1.0 / iscale)
        } else {
            1.0 / iscale
        };
    }
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmaxf + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for i in 0..n {
            let q = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1) as f32;
            let w = weight(i);
            sumlx += w * x[i] * q;
            suml2 += w * q * q;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for i in 0..n {
                let q = nearest_int(iscale * x[i]);
                l[i] = (nmax + q.clamp(-nmax, nmax - 1)) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// ggml's `make_q3_quants`: symmetric quants in `[-nmax, nmax - 1]` (stored `+ nmax` in `l`),
/// with `x²`-weighted coordinate-descent refinement when `do_rmse`. Returns the scale.
pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], l: &mut [i8], do_rmse: bool) -> f32 {
    let n = x.len();
    let l = &mut l[..n];
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &xi in x {
        let ax = xi.abs();
        if ax > amax {
            amax = ax;
            max = xi;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    if do_rmse {
        let mut sumlx = 0.0f32;
        let mut suml2 = 0.0f32;
        for i in 0..n {
            let q = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
            l[i] = q as i8;
            let w = x[i] * x[i];
            let qf = q as f32;
            sumlx += w * x[i] * qf;
            suml2 += w * qf * qf;
        }
        for _itry in 0..5 {
            let mut n_changed = 0;
            for i in 0..n {
                let w = x[i] * x[i];
                let li = l[i] as f32;
                let mut slx = sumlx - w * x[i] * li;
                if slx > 0.0 {
                    let mut sl2 = suml2 - w * li * li;
                    let new_l = nearest_int(x[i] * sl2 / slx).clamp(-nmax, nmax - 1);
                    if new_l != i32::from(l[i]) {
                        let nl = new_l as f32;
                        slx += w * x[i] * nl;
                        sl2 += w * nl * nl;
                        if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            l[i] = new_l as i8;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed += 1;
                        }
                    }
                }
            }
            if n_changed == 0 {
                break;
            }
        }
        for li in l.iter_mut() {
            *li += nmax as i8;
        }
        return if suml2 > 0.0 { sumlx / suml2 } else { 0.0 };
    }
    for (li, &xi) in l.iter_mut().zip(x) {
        let q = nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
        *li = (q + nmax) as i8;
    }
    1.0 / iscale
}

/// ggml's `make_qkx2_quants`: asymmetric quants `L[i] ∈ [0, nmax]` with `x ≈ scale·L − the_min`,
/// searching `nstep + 1` trial scales `(rmin + rdelta·is + nmax)/(max − min)` and keeping the
/// weighted least-squares fit of lowest weighted error (absolute if `use_mad`, else squared).
///
/// Returns `(scale, the_min)`; `the_min >= 0` is ggml's `*the_min` (the negated offset, `-0.0`
/// possible exactly where ggml gives it). `x.len() <= 32`; `weights` and `l` at least as long.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    make_qkx_quants_impl(
        nmax,
        x,
        Some(weights),
        l,
        rmin,
        rdelta,
        nstep,
        use_mad,
        false,
    )
}

/// ggml's `make_qkx3_quants`: as [`make_qkx2_quants`] but the weights default to `x²` when `None`
/// and a constant group (`max <= min` after clamping `min` to `<= 0`) gives zero quants.
///
/// Returns `(scale, the_min)` (ggml's return value and `*the_min`). `x.len() <= 32`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx3_quants(
    nmax: i32,
    x: &[f32],
    weights: Option<&[f32]>,
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    make_qkx_quants_impl(nmax, x, weights, l, rmin, rdelta, nstep, use_mad, true)
}

/// Shared body of `make_qkx2_quants` / `make_qkx3_quants`, which differ only in the default
/// weights and in the test for a constant group (`max == min` vs `max <= min`, identical for
/// non-NaN input since `min <= max` always holds after the scan).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn make_qkx_quants_impl(
    nmax: i32,
    x: &[f32],
    weights: Option<&[f32]>,
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
    qkx3: bool,
) -> (f32, f32) {
    let n = x.len();
    assert!(n <= MAX_GROUP && n > 0, "group of {n} values");
    let l = &mut l[..n];
    let weight = |i: usize| -> f32 {
        match weights {
            Some(w) => w[i],
            None => x[i] * x[i],
        }
    };
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weight(0);
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weight(i);
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    let constant = if qkx3 { max <= min } else { max == min };
    if constant {
        l.fill(0);
        return (0.0, -min);
    }
    let nmaxf = nmax as f32;
    let mut iscale = nmaxf / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l[i] = q as u8;
        let diff = scale * q as f32 + min - x[i];
        let diff = if use_mad { diff.abs() } else { diff * diff };
        best_error += weight(i) * diff;
    }
    if nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; MAX_GROUP];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmaxf) / (max - min);
        let mut sum_l = 0.0f32;
        let mut sum_l2 = 0.0f32;
        let mut sum_xl = 0.0f32;
        for i in 0..n {
            let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = q as u8;
            let w = weight(i);
            let qf = q as f32;
            sum_l += w * qf;
            sum_l2 += w * qf * qf;
            sum_xl += w * qf * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * f32::from(laux[i]) + this_min - x[i];
                let diff = if use_mad { diff.abs() } else { diff * diff };
                cur_error += weight(i) * diff;
            }
            if cur_error < best_error {
                l.copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml's `make_qp_quants`: quantize non-negative values (sub-block scales or mins) to
/// `L[i] ∈ [0, nmax]` with weights `quant_weights`, trying 9 scales then refining by coordinate
/// descent. Returns the scale. `x.len() <= 32`.
pub(crate) fn make_qp_quants(nmax: i32, x: &[f32], l: &mut [u8], quant_weights: &[f32]) -> f32 {
    let n = x.len();
    let l = &mut l[..n];
    let mut max = 0.0f32;
    for &xi in x {
        // ggml's MAX(max, x[i]) = max > x[i] ? max : x[i]
        max = if max > xi { max } else { xi };
    }
    if max < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let nmaxf = nmax as f32;
    let mut iscale = nmaxf / max;
    for (li, &xi) in l.iter_mut().zip(x) {
        // Stored in a uint8_t in ggml: truncation is part of the arithmetic below.
        *li = nearest_int(iscale * xi) as u8;
    }
    let scale = 1.0 / iscale;
    let mut best_mse = 0.0f32;
    for i in 0..n {
        let diff = x[i] - scale * f32::from(l[i]);
        let w = quant_weights[i];
        best_mse += w * diff * diff;
    }
    for is in -4..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1 * is as f32 + nmaxf) / max;
        let scale_is = 1.0 / iscale_is;
        let mut mse = 0.0f32;
        for i in 0..n {
            let q = nearest_int(iscale_is * x[i]).min(nmax);
            let diff = x[i] - scale_is * q as f32;
            let w = quant_weights[i];
            mse += w * diff * diff;
        }
        if mse < best_mse {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let q = nearest_int(iscale * x[i]).min(nmax);
        l[i] = q as u8;
        let w = quant_weights[i];
        let qf = f32::from(l[i]);
        sumlx += w * x[i] * qf;
        suml2 += w * qf * qf;
    }
    for _itry in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = quant_weights[i];
            let li = f32::from(l[i]);
            let mut slx = sumlx - w * x[i] * li;
            let mut sl2 = suml2 - w * li * li;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != i32::from(l[i]) {
                    let nl = new_l as f32;
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l[i] = new_l as u8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..8) of a q4_K / q5_K
/// block from its 12 packed bytes.
///
/// Packing: for `j < 4`, scale `j` is the low 6 bits of byte `j` and min `j` the low 6 bits of
/// byte `j + 4`; for `j >= 4`, byte `j + 4` holds the low 4 bits of scale `j` (low nibble) and of
/// min `j` (high nibble), and their 2 high bits are the top 2 bits of bytes `j − 4` (scale) and
/// `j` (min).
#[inline(always)]
pub(crate) fn get_scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Inverse of [`get_scale_min_k4`]: pack 8 six-bit scales and mins (each `<= 63`) as ggml's
/// q4_K / q5_K quantizers do.
#[inline]
pub(crate) fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..8 {
        let (a, b) = (ls[j], lm[j]);
        if j < 4 {
            s[j] = a;
            s[j + 4] = b;
        } else {
            s[j + 4] = (a & 0xF) | ((b & 0xF) << 4);
            s[j - 4] |= (a >> 4) << 6;
            s[j] |= (b >> 4) << 6;
        }
    }
    s
}

/// Pack 256 two-bit quants as q2_K / q3_K store them: byte `32h + l` of the result holds
/// `L[128h + l + 32k]` in bits `2k .. 2k + 2` (`h < 2`, `l < 32`, `k < 4`).
#[inline]
pub(crate) fn pack_2bit(l: &[u8; 256]) -> [u8; 64] {
    let mut qs = [0u8; 64];
    for h in 0..2 {
        for i in 0..32 {
            let j = 128 * h + i;
            qs[32 * h + i] = l[j] | (l[j + 32] << 2) | (l[j + 64] << 4) | (l[j + 96] << 6);
        }
    }
    qs
}

/// `max |x|` of a block (0 for an empty one).
#[inline]
pub(crate) fn abs_max(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// The error bound `c·max|x| + k·2⁻²⁴` used by the `max_abs_error` of the K-quants and IQ4
/// formats.
///
/// * `c·max|x|` is a small number of the format's quantization steps at full scale (a step is
///   the distance between adjacent levels when the block's levels span `±max|x|`). Within the
///   range covered by a group's (scale, min), ggml's final requantization rounds to the nearest
///   level (error ≤ half a step of that group, never more than half a full-scale step); the
///   extra steps cover the values ggml's heuristic scale search leaves outside the covered range
///   (the least-squares fits trade the extremes for the bulk, so the extremes may be clamped),
///   and the quantization of the sub-block scales/mins to 4, 6 or 8 bits. ggml's search gives no
///   closed-form guarantee, so each constant was checked against the worst case measured over
///   240 000 random and adversarial blocks per format and weighting (two seeds) (Gaussian, uniform, one-signed, heavy-tailed,
///   outliers, sparse, constant, few-valued, integer grids, per-group offsets and magnitudes
///   spanning 10⁻⁶ … 10³), with and without importance weights; each format's docs give the
///   margin.
/// * `k·2⁻²⁴` covers f16 super-block scales that are subnormal or flush to zero: an f16 scale is
///   then off by up to half a subnormal step (2⁻²⁵) in absolute terms, multiplied by at most
///   `k/2` = (largest sub-block scale × largest |quant| + largest min) of the format. A block
///   whose scale flushes to 0 holds values of at most about that size, so the same term covers
///   it.
#[inline]
pub(crate) fn k_error_bound(x: &[f32], c: f32, k: f32) -> f32 {
    c * abs_max(x) + k * f32::powi(2.0, -24)
}

/// ggml's `best_index_int8`: index of the entry of the sorted table `val` nearest to `x` (ties
/// go to the upper entry), by bisection, with ggml's float comparisons.
#[inline(always)]
pub(crate) fn best_index_int8(val: &[i8; 16], x: f32) -> u8 {
    let n = val.len();
    if x <= f32::from(val[0]) {
        return 0;
    }
    if x >= f32::from(val[n - 1]) {
        return (n - 1) as u8;
    }
    let mut ml = 0usize;
    let mut mu = n - 1;
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < f32::from(val[mav]) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - f32::from(val[mu - 1]) < f32::from(val[mu]) - x {
        (mu - 1) as u8
    } else {
        mu as u8
    }
}

/// Output of [`quantize_iq4_impl`] for one super-block.
pub(crate) struct Iq4Block<'a> {
    /// ggml's `dh[0]`: the (super-)block scale.
    pub d: &'a mut f16,
    /// Packed indices, `x.len() / 2` bytes, nibble order per 32 values.
    pub q4: &'a mut [u8],
    /// iq4_xs only: 2 high bits of each 6-bit sub-block scale (ignored for a single block).
    pub scales_h: &'a mut u16,
    /// iq4_xs only: low nibbles of the sub-block scales (empty for a single block).
    pub scales_l: &'a mut [u8],
}

/// ggml's `quantize_row_iq4_nl_impl` with `values = kvalues_iq4nl` and `block_size = 32`, for
/// one super-block of `x.len()` values (32 for iq4_nl, 256 for iq4_xs).
///
/// `l` (`x.len()` entries) is ggml's index scratch buffer `L`: for a single 32-value block it is
/// read without being written when the block is all (near) zero and `ntry <= 0` (ggml's reference
/// iq4_nl quantizer then stores whatever the buffer held); callers decide what it holds.
/// `qw` are the importance weights of these values, `ntry` ggml's number of extra scale trials
/// on each side (7 for the chunk quantizers, −1 for `quantize_row_iq4_nl_ref`).
pub(crate) fn quantize_iq4_impl(
    x: &[f32],
    out: Iq4Block<'_>,
    l: &mut [u8],
    qw: Option<&[f32]>,
    ntry: i32,
) {
    const BLOCK: usize = 32;
    let values = &KVALUES_IQ4NL;
    let super_block_size = x.len();
    let nblocks = super_block_size / BLOCK;
    assert!((1..=8).contains(&nblocks) && super_block_size.is_multiple_of(BLOCK));
    let v0 = f32::from(values[0]);

    let mut sigma2 = 0.0f32;
    for &xi in x {
        sigma2 += xi * xi;
    }
    sigma2 *= 2.0 / super_block_size as f32;

    out.q4.fill(0);
    *out.d = f16::from_f32(0.0);

    let mut scales = [0.0f32; 8];
    let mut weight = [0.0f32; BLOCK];
    let mut max_scale = 0.0f32;
    let mut amax_scale = 0.0f32;
    for ib in 0..nblocks {
        let xb = &x[ib * BLOCK..(ib + 1) * BLOCK];
        let lb = &mut l[ib * BLOCK..(ib + 1) * BLOCK];
        match qw {
            Some(qw) => {
                let qw = &qw[ib * BLOCK..(ib + 1) * BLOCK];
                for j in 0..BLOCK {
                    weight[j] = qw[j] * (sigma2 + xb[j] * xb[j]).sqrt();
                }
            }
            None => {
                for j in 0..BLOCK {
                    weight[j] = xb[j] * xb[j];
                }
            }
        }
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &xj in xb {
            let ax = xj.abs();
            if ax > amax {
                amax = ax;
                max = xj;
            }
        }
        if amax < GROUP_MAX_EPS {
            scales[ib] = 0.0;
            continue;
        }
        let mut d = if ntry > 0 { -max / v0 } else { max / v0 };
        let mut id = 1.0 / d;
        let mut sumqx = 0.0f32;
        let mut sumq2 = 0.0f32;
        for j in 0..BLOCK {
            let al = id * xb[j];
            let li = best_index_int8(values, al);
            lb[j] = li;
            let q = f32::from(values[li as usize]);
            let w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
        let mut best = d * sumqx;
        for itry in -ntry..=ntry {
            // C: (itry + values[0]) is an int sum, converted once.
            id = (itry + i32::from(values[0])) as f32 / max;
            sumqx = 0.0;
            sumq2 = 0.0;
            for j in 0..BLOCK {
                let al = id * xb[j];
                let li = best_index_int8(values, al);
                let q = f32::from(values[li as usize]);
                let w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        let abs_d = d.abs();
        if abs_d > amax_scale {
            amax_scale = abs_d;
            max_scale = d;
        }
    }

    if nblocks > 1 {
        *out.scales_h = 0;
        let d = -max_scale / 32.0;
        *out.d = f16::from_f32(d);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for ib in 0..nblocks {
            let mut li = nearest_int(id * scales[ib]).clamp(-32, 31);
            let dl = d * li as f32;
            let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
            let xb = &x[ib * BLOCK..(ib + 1) * BLOCK];
            let lb = &mut l[ib * BLOCK..(ib + 1) * BLOCK];
            for j in 0..BLOCK {
                lb[j] = best_index_int8(values, idl * xb[j]);
            }
            li += 32;
            let l_l = (li & 0xf) as u8;
            let l_h = (li >> 4) as u16;
            if ib % 2 == 0 {
                out.scales_l[ib / 2] = l_l;
            } else {
                out.scales_l[ib / 2] |= l_l << 4;
            }
            *out.scales_h |= l_h << (2 * (ib % 8));
        }
    } else {
        *out.d = f16::from_f32(scales[0]);
        if ntry > 0 {
            let id = if scales[0] != 0.0 {
                1.0 / scales[0]
            } else {
                0.0
            };
            for j in 0..super_block_size {
                l[j] = best_index_int8(values, id * x[j]);
            }
        }
    }

    for i in 0..super_block_size / 32 {
        for j in 0..16 {
            out.q4[16 * i + j] = l[32 * i + j] | (l[32 * i + 16 + j] << 4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        let cases: [(f32, i32); 14] = [
            (0.0, 0),
            (-0.0, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (-2.5, -2),
            (0.49999997, 0),
            (0.50000006, 1),
            (-7.4, -7),
            (15.6, 16),
            (4_194_303.0, 4_194_303),
            (-4_194_303.0, -4_194_303),
        ];
        for (x, want) in cases {
            assert_eq!(nearest_int(x), want, "nearest_int({x})");
        }
        // Agrees with round-half-even everywhere on a sweep of quarter steps.
        for k in -4000..4000 {
            let x = k as f32 * 0.25;
            assert_eq!(nearest_int(x), x.round_ties_even() as i32, "{x}");
        }
    }

    #[test]
    fn scale_min_k4_packing_round_trips() {
        // Every 6-bit value appears in every position across the sweep.
        for seed in 0u32..64 {
            let mut ls = [0u8; 8];
            let mut lm = [0u8; 8];
            for j in 0..8 {
                ls[j] = ((seed + 7 * j as u32) % 64) as u8;
                lm[j] = ((seed * 5 + 11 * j as u32 + 3) % 64) as u8;
            }
            let packed = pack_scale_min_k4(&ls, &lm);
            for j in 0..8 {
                assert_eq!(
                    get_scale_min_k4(j, &packed),
                    (ls[j], lm[j]),
                    "seed {seed} j {j}"
                );
            }
        }
    }

    #[test]
    fn best_index_picks_nearest_with_upper_ties() {
        let v = &KVALUES_IQ4NL;
        assert_eq!(best_index_int8(v, -1000.0), 0);
        assert_eq!(best_index_int8(v, 1000.0), 15);
        assert_eq!(best_index_int8(v, 0.0), 8); // -10 vs 1: 1 is nearer
        assert_eq!(best_index_int8(v, -4.5), 8); // tie between -10 and 1 goes up
        assert_eq!(best_index_int8(v, -4.6), 7);
        for i in 0..16 {
            assert_eq!(best_index_int8(v, f32::from(v[i])), i as u8);
        }
    }
}
