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
//!
//! # Speed without changing a bit
//!
//! ggml's searches are chains of dependent f32 additions, so a literal transcription is bound by
//! addition latency. The quantizers here keep every chain exactly as ggml orders it but run
//! independent chains side by side in fixed-size arrays that the compiler turns into SIMD code
//! (SSE2 suffices, no `unsafe`, no run-time dispatch):
//!
//! * `make_qkx_quants_groups` / `make_qx_quants_groups`: one lane per sub-block of a
//!   super-block (the sub-block searches are independent), each lane running ggml's sequential
//!   trial loop;
//! * `make_qx_quants`, the iq4 search: one lane per trial scale (ggml's trials are independent;
//!   only their acceptance, done afterwards in ggml's order, is sequential);
//! * the single-group `make_qkx2_quants` / `make_qkx3_quants`: a few consecutive trials per
//!   batch, re-evaluated after an accepted trial that moves `min` (on which later trials depend).
//!
//! `nearest_int` becomes `(v + 1.5·2²³) − 1.5·2²³` in those lanes, identical for `|v| < 2²²`; each
//! batch checks that bound up front (from the group's range, by monotonicity of rounding) and
//! falls back to the bit trick otherwise. The unit tests compare every vectorized search with
//! the plain sequential transcription (kept under `#[cfg(test)]`) bit for bit on random and
//! extreme data, and the golden tests compare the quantizers with ggml's own bytes.
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

/// Number of independent trial scales evaluated side by side (SIMD-friendly lanes) by the
/// scale searches below. Each lane performs exactly ggml's operations for its trial.
const LANES: usize = 8;

/// Lanes of the `make_qkx2/3_quants` search, whose trials must be re-evaluated after each
/// accepted trial (ggml updates `min` there), so fewer lanes waste less work.
const QKX_LANES: usize = 4;

/// ggml's `nearest_int`: round to the nearest integer, ties to even, by adding `1.5·2^23` and
/// reading the low mantissa bits.
///
/// Exact for `|fval| <= 4194303`. ggml asserts that range in debug builds only; we do not assert
/// at all, because finite inputs near `f32::MAX` (whose differences overflow) legitimately lead
/// here with larger or non-finite arguments, and a quantizer must not panic on finite input.
/// Outside the range the result is whatever the bit trick gives, exactly as in ggml's release
/// builds (e.g. 0 for NaN and ±inf).
#[inline(always)]
pub(crate) fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0;
    let i = val.to_bits() as i32;
    (i & 0x007f_ffff) - 0x0040_0000
}

/// [`nearest_int`] without the debug assertion, for the lane loops (whose arguments are bounded
/// by construction: `|iscale·x| <= nmax + 1`), so that they vectorize in debug-assertion builds.
#[inline(always)]
fn nearest_int_lane(fval: f32) -> i32 {
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
/// `x.len() <= 32` and `l.len() >= x.len()`; `qw`, if given, has at least `x.len()` entries.
pub(crate) fn make_qx_quants(
    nmax: i32,
    x: &[f32],
    l: &mut [i8],
    rmse_type: i32,
    qw: Option<&[f32]>,
) -> f32 {
    let n = x.len();
    assert!(n <= MAX_GROUP, "group of {n} values");
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
    let iscale = -nmaxf / max;
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
    // ggml's 18 trial scales `is = −9 ..= 9, is ≠ 0` are independent of each other (only the
    // acceptance is sequential), so LANES of them are evaluated side by side, each lane with
    // exactly ggml's operations, then accepted in ggml's order.
    const TRIALS: [i32; 18] = [
        -9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ];
    let mut w = [0.0f32; MAX_GROUP];
    for i in 0..n {
        w[i] = weight(i);
    }
    for batch in TRIALS.chunks(LANES) {
        let mut lane_iscale = [0.0f32; LANES];
        for (t, v) in lane_iscale.iter_mut().enumerate() {
            let is = batch[t.min(batch.len() - 1)];
            *v = -(nmaxf + 0.1 * is as f32) / max;
        }
        let mut lx = [0.0f32; LANES];
        let mut l2 = [0.0f32; LANES];
        // |iscale·x| <= |iscale|·amax (rounding is monotone); below 2^22 the float rounding
        // trick equals nearest_int. Always the case here (|iscale|·amax ≈ nmax), checked anyway.
        let mut fast = true;
        for &v in &lane_iscale {
            fast &= v.abs() * amax < 4_194_304.0;
        }
        let (lof, hif) = (-nmaxf, nmaxf - 1.0);
        for i in 0..n {
            let (wi, xi) = (w[i], x[i]);
            for t in 0..LANES {
                let v = lane_iscale[t] * xi;
                let q = if fast {
                    let r = (v + 12_582_912.0) - 12_582_912.0;
                    let r = if r < lof { lof } else { r };
                    if r > hif { hif } else { r }
                } else {
                    nearest_int_lane(v).clamp(-nmax, nmax - 1) as f32
                };
                lx[t] += wi * xi * q;
                l2[t] += wi * q * q;
            }
        }
        for t in 0..batch.len() {
            if l2[t] > 0.0 && lx[t] * lx[t] > best * l2[t] {
                for i in 0..n {
                    let q = nearest_int(lane_iscale[t] * x[i]);
                    l[i] = (nmax + q.clamp(-nmax, nmax - 1)) as i8;
                }
                scale = lx[t] / l2[t];
                best = scale * lx[t];
            }
        }
    }
    scale
}

/// [`make_qx_quants`] with `rmse_type = 1` for `G` independent groups of `N` values at once, with
/// explicit weights (`qw`, or `x²` where ggml passes no weights): `x`, `w` and `l` hold the
/// groups one after the other. Returns the scales.
///
/// Each group runs ggml's sequential search with exactly ggml's operations in ggml's order; the
/// groups are evaluated side by side (one SIMD lane per group), so the results are bit-identical
/// to `G` separate calls.
pub(crate) fn make_qx_quants_groups<const G: usize, const N: usize>(
    nmax: i32,
    x: &[f32],
    w: &[f32],
    l: &mut [i8],
) -> [f32; G] {
    assert!(N >= 1 && x.len() == G * N && w.len() == G * N && l.len() == G * N);
    let mut xt = [[0.0f32; G]; N];
    let mut wt = [[0.0f32; G]; N];
    for g in 0..G {
        for i in 0..N {
            xt[i][g] = x[g * N + i];
            wt[i][g] = w[g * N + i];
        }
    }
    let mut max = [0.0f32; G];
    let mut amax = [0.0f32; G];
    for row in &xt {
        for g in 0..G {
            let ax = row[g].abs();
            if ax > amax[g] {
                amax[g] = ax;
                max[g] = row[g];
            }
        }
    }
    let mut active = [false; G];
    for g in 0..G {
        active[g] = amax[g] >= GROUP_MAX_EPS;
    }
    let nmaxf = nmax as f32;
    let (lof, hif) = (-nmaxf, nmaxf - 1.0);
    // Quants of every group for one inverse scale per group, and ggml's sums Σw·x·l, Σw·l².
    let trial = |iscale: &[f32; G], q: &mut [[f32; G]; N]| {
        // |iscale·x| <= |iscale|·amax (monotone rounding): below 2^22 the float trick is exact.
        let mut fast = true;
        for g in 0..G {
            fast &= iscale[g].abs() * amax[g] < 4_194_304.0;
        }
        let mut lx = [0.0f32; G];
        let mut l2 = [0.0f32; G];
        for i in 0..N {
            for g in 0..G {
                let xi = xt[i][g];
                let wi = wt[i][g];
                let v = iscale[g] * xi;
                let r = if fast {
                    // Clamping to integer bounds commutes with rounding (maxps/minps-shaped).
                    let c = if v > lof { v } else { lof };
                    let c = if c < hif { c } else { hif };
                    (c + 12_582_912.0) - 12_582_912.0
                } else {
                    nearest_int(v).clamp(-nmax, nmax - 1) as f32
                };
                q[i][g] = r;
                lx[g] += wi * xi * r;
                l2[g] += wi * r * r;
            }
        }
        (lx, l2)
    };
    let mut iscale = [0.0f32; G];
    for g in 0..G {
        let v = -nmaxf / max[g];
        iscale[g] = if active[g] { v } else { 0.0 };
    }
    let mut q = [[0.0f32; G]; N];
    let mut lq = [[0.0f32; G]; N];
    let (sumlx, suml2) = trial(&iscale, &mut lq);
    let mut scale = [0.0f32; G];
    let mut best = [0.0f32; G];
    for g in 0..G {
        scale[g] = if suml2[g] != 0.0 {
            sumlx[g] / suml2[g]
        } else {
            0.0
        };
        best[g] = scale[g] * sumlx[g];
    }
    for is in [
        -9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ] {
        let mut it = [0.0f32; G];
        for g in 0..G {
            let v = -(nmaxf + 0.1 * is as f32) / max[g];
            it[g] = if active[g] { v } else { 0.0 };
        }
        let (lx, l2) = trial(&it, &mut q);
        let mut won = [false; G];
        let mut any = false;
        for g in 0..G {
            if active[g] && l2[g] > 0.0 && lx[g] * lx[g] > best[g] * l2[g] {
                won[g] = true;
                any = true;
                scale[g] = lx[g] / l2[g];
                best[g] = scale[g] * lx[g];
            }
        }
        if any {
            for i in 0..N {
                for g in 0..G {
                    if won[g] {
                        lq[i][g] = q[i][g];
                    }
                }
            }
        }
    }
    for g in 0..G {
        if !active[g] {
            scale[g] = 0.0;
        }
        for i in 0..N {
            l[g * N + i] = if active[g] {
                (lq[i][g] as i32 + nmax) as i8
            } else {
                0
            };
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
#[allow(dead_code)] // the K-quants use `make_qkx_quants_groups`; kept for single-group callers
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
#[allow(dead_code)] // used by the q4_1 / q5_1 importance-weighted quantizers
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

/// `nearest_int(v)` as an f32, computed with float operations only (SIMD-friendly): adding and
/// subtracting `1.5·2²³` rounds to an integer, half to even, exactly as ggml's bit trick does for
/// `|v| < 2²²`. Sets `*outside` when `v` is outside that range (or NaN), where the caller must
/// use [`nearest_int`] instead.
#[inline(always)]
fn round_lane(v: f32, outside: &mut bool) -> f32 {
    *outside |= v.is_nan() || v.abs() >= 4_194_304.0;
    (v + 12_582_912.0) - 12_582_912.0
}

/// The trial loop of `make_qkx2/3_quants` for QKX_LANES trial scales: quants `laux[i][t]` (as f32)
/// and the sums `[Σw·l, Σw·l², Σw·l·x]` per lane, in ggml's order. With `FAST`, rounds with
/// [`round_lane`] and returns `false` (results unusable) if any argument was out of its range;
/// without, uses [`nearest_int`] and always succeeds.
#[inline(always)]
fn qkx_lanes<const FAST: bool>(
    x: &[f32],
    w: &[f32],
    min: f32,
    nmaxf: f32,
    lane_iscale: &[f32; QKX_LANES],
    laux: &mut [[f32; QKX_LANES]; MAX_GROUP],
    sums: [&mut [f32; QKX_LANES]; 3],
) -> bool {
    let [sum_l, sum_l2, sum_xl] = sums;
    *sum_l = [0.0; QKX_LANES];
    *sum_l2 = [0.0; QKX_LANES];
    *sum_xl = [0.0; QKX_LANES];
    let mut outside = false;
    for ((&xi, &wi), row) in x.iter().zip(w).zip(laux.iter_mut()) {
        let xm = xi - min;
        for t in 0..QKX_LANES {
            let v = lane_iscale[t] * xm;
            let q = if FAST {
                let r = round_lane(v, &mut outside);
                // clamp(0, nmax); `r >= 0` is false for NaN, like nearest_int(NaN) = 0.
                let r = if r >= 0.0 { r } else { 0.0 };
                if r > nmaxf { nmaxf } else { r }
            } else {
                nearest_int(v).clamp(0, nmaxf as i32) as f32
            };
            row[t] = q;
            sum_l[t] += wi * q;
            sum_l2[t] += wi * q * q;
            sum_xl[t] += wi * q * xi;
        }
    }
    !(FAST && outside)
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
    let mut w = [0.0f32; MAX_GROUP];
    match weights {
        Some(ws) => w[..n].copy_from_slice(&ws[..n]),
        None => {
            for i in 0..n {
                w[i] = x[i] * x[i];
            }
        }
    }
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = w[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        sum_w += w[i];
        sum_x += w[i] * x[i];
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
    let iscale = nmaxf / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l[i] = q as u8;
        let diff = scale * q as f32 + min - x[i];
        let diff = if use_mad { diff.abs() } else { diff * diff };
        best_error += w[i] * diff;
    }
    if nstep < 1 {
        return (scale, -min);
    }
    // ggml tries the scales `is = 0 ..= nstep` one after the other. A trial depends on the
    // earlier ones only through `min`, which changes when a trial wins. So we evaluate QKX_LANES
    // consecutive trials side by side (each lane with exactly ggml's operations, in ggml's
    // order, so the results are bit-identical), then accept them in ggml's order; after a win
    // that changes `min`, the following trials are evaluated again with the new `min`.
    let mut is = 0i32;
    while is <= nstep {
        let count = (nstep - is + 1).min(QKX_LANES as i32) as usize;
        let mut lane_iscale = [0.0f32; QKX_LANES];
        for (t, v) in lane_iscale.iter_mut().enumerate() {
            let ist = is + t.min(count - 1) as i32;
            *v = (rmin + rdelta * ist as f32 + nmaxf) / (max - min);
        }
        let mut laux = [[0.0f32; QKX_LANES]; MAX_GROUP];
        let mut sum_l = [0.0f32; QKX_LANES];
        let mut sum_l2 = [0.0f32; QKX_LANES];
        let mut sum_xl = [0.0f32; QKX_LANES];
        let fits = qkx_lanes::<true>(
            &x[..n],
            &w[..n],
            min,
            nmaxf,
            &lane_iscale,
            &mut laux,
            [&mut sum_l, &mut sum_l2, &mut sum_xl],
        );
        if !fits {
            qkx_lanes::<false>(
                &x[..n],
                &w[..n],
                min,
                nmaxf,
                &lane_iscale,
                &mut laux,
                [&mut sum_l, &mut sum_l2, &mut sum_xl],
            );
        }
        let mut det = [0.0f32; QKX_LANES];
        let mut this_scale = [0.0f32; QKX_LANES];
        let mut this_min = [0.0f32; QKX_LANES];
        for t in 0..QKX_LANES {
            det[t] = sum_w * sum_l2[t] - sum_l[t] * sum_l[t];
            // Computed for every lane; used only where det > 0, as in ggml.
            this_scale[t] = (sum_w * sum_xl[t] - sum_x * sum_l[t]) / det[t];
            this_min[t] = (sum_l2[t] * sum_x - sum_l[t] * sum_xl[t]) / det[t];
            if this_min[t] > 0.0 {
                this_min[t] = 0.0;
                this_scale[t] = sum_xl[t] / sum_l2[t];
            }
        }
        let mut cur_error = [0.0f32; QKX_LANES];
        for i in 0..n {
            let (wi, xi) = (w[i], x[i]);
            for t in 0..QKX_LANES {
                let diff = this_scale[t] * laux[i][t] + this_min[t] - xi;
                let diff = if use_mad { diff.abs() } else { diff * diff };
                cur_error[t] += wi * diff;
            }
        }
        let mut advance = count;
        for t in 0..count {
            if det[t] > 0.0 && cur_error[t] < best_error {
                for i in 0..n {
                    l[i] = laux[i][t] as u8;
                }
                best_error = cur_error[t];
                scale = this_scale[t];
                // Later lanes used the old `min` in `iscale` and `x − min`; they stay valid
                // only if its value is unchanged (±0 give identical quants).
                let changed = this_min[t] != min;
                min = this_min[t];
                if changed {
                    advance = t + 1;
                    break;
                }
            }
        }
        is += advance as i32;
    }
    (scale, -min)
}

/// ggml's final requantization of a group with its stored scale:
/// `nearest_int((x[i] + add) / d).clamp(lo, hi)` (`nearest_int(x[i] / d)` when `add` is `None`,
/// the two forms ggml uses), computed with float operations where that is exact (every quotient
/// of magnitude below 2²²) and with [`nearest_int`] otherwise.
#[inline(always)]
pub(crate) fn requantize<const M: usize>(
    x: &[f32],
    add: Option<f32>,
    d: f32,
    lo: i32,
    hi: i32,
) -> [i32; M] {
    let x: &[f32; M] = x.try_into().expect("group length");
    let mut v = [0.0f32; M];
    match add {
        Some(a) => {
            for k in 0..M {
                v[k] = (x[k] + a) / d;
            }
        }
        None => {
            for k in 0..M {
                v[k] = x[k] / d;
            }
        }
    }
    let mut fast = true;
    for &vk in &v {
        fast &= vk.abs() < 4_194_304.0;
    }
    let mut out = [0i32; M];
    if fast {
        let (lof, hif) = (lo as f32, hi as f32);
        for k in 0..M {
            let r = (v[k] + 12_582_912.0) - 12_582_912.0;
            let r = if r < lof { lof } else { r };
            let r = if r > hif { hif } else { r };
            out[k] = r as i32;
        }
    } else {
        for k in 0..M {
            out[k] = nearest_int(v[k]).clamp(lo, hi);
        }
    }
    out
}

/// [`make_qkx2_quants`] / [`make_qkx3_quants`] for `G` independent groups of `N` values at once
/// (`x`, `weights` and `l` hold the groups one after the other), as the K-quants call them for
/// the sub-blocks of a super-block.
///
/// Each group runs ggml's sequential search with exactly ggml's operations in ggml's order; the
/// groups are evaluated side by side (one SIMD lane per group), so the results are bit-identical
/// to `G` separate calls. `qkx3` selects `make_qkx3_quants`' constant-group test (the weights
/// must be given either way). Returns the scales and `the_min`s.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx_quants_groups<const G: usize, const N: usize>(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
    qkx3: bool,
) -> ([f32; G], [f32; G]) {
    assert!(N >= 1 && x.len() == G * N && weights.len() == G * N && l.len() == G * N);
    // Transposed copies: row i holds value i of every group, so lane g is contiguous.
    let mut xt = [[0.0f32; G]; N];
    let mut wt = [[0.0f32; G]; N];
    for g in 0..G {
        for i in 0..N {
            xt[i][g] = x[g * N + i];
            wt[i][g] = weights[g * N + i];
        }
    }
    let mut min = xt[0];
    let mut max = xt[0];
    let mut sum_w = wt[0];
    let mut sum_x = [0.0f32; G];
    for g in 0..G {
        sum_x[g] = sum_w[g] * xt[0][g];
    }
    for i in 1..N {
        for g in 0..G {
            let xi = xt[i][g];
            if xi < min[g] {
                min[g] = xi;
            }
            if xi > max[g] {
                max[g] = xi;
            }
            sum_w[g] += wt[i][g];
            sum_x[g] += wt[i][g] * xi;
        }
    }
    let xlo = min;
    let mut active = [false; G];
    for g in 0..G {
        if min[g] > 0.0 {
            min[g] = 0.0;
        }
        active[g] = if qkx3 {
            max[g] > min[g]
        } else {
            max[g] != min[g]
        };
    }
    let nmaxf = nmax as f32;
    let mut lt = [[0u8; G]; N];
    let mut scale = [0.0f32; G];
    let mut laux = [[0.0f32; G]; N];
    let mut sums = [[0.0f32; G]; 3];
    // One trial for every group: quants in `laux`, sums in `sums`.
    let mut trial = |lane_iscale: &[f32; G], min: &[f32; G], laux: &mut [[f32; G]; N]| {
        // The float rounding trick equals nearest_int when every argument has magnitude below
        // 2^22: x − min lies between xlo − min and max − min (rounding is monotone), so
        // |iscale|·max(|xlo − min|, |max − min|) < 2^22 suffices (false for NaN).
        let mut fast = true;
        for g in 0..G {
            let span = (xlo[g] - min[g]).abs().max((max[g] - min[g]).abs());
            fast &= lane_iscale[g].abs() * span < 4_194_304.0;
        }
        if fast {
            qkx_group_lanes::<true, G, N>(&xt, &wt, min, nmaxf, lane_iscale, laux, &mut sums);
        } else {
            qkx_group_lanes::<false, G, N>(&xt, &wt, min, nmaxf, lane_iscale, laux, &mut sums);
        }
        sums
    };
    let errors = |laux: &[[f32; G]; N], scale: &[f32; G], min: &[f32; G]| {
        if use_mad {
            group_errors::<true, G, N>(&xt, &wt, laux, scale, min)
        } else {
            group_errors::<false, G, N>(&xt, &wt, laux, scale, min)
        }
    };
    let mut iscale = [0.0f32; G];
    for g in 0..G {
        let v = nmaxf / (max[g] - min[g]);
        iscale[g] = if active[g] { v } else { 0.0 };
        scale[g] = if active[g] { 1.0 / v } else { 0.0 };
    }
    trial(&iscale, &min, &mut laux);
    let mut best_error = errors(&laux, &scale, &min);
    for i in 0..N {
        for g in 0..G {
            lt[i][g] = laux[i][g] as u8;
        }
    }
    if nstep >= 1 {
        for is in 0..=nstep {
            let mut lane_iscale = [0.0f32; G];
            let num = rmin + rdelta * is as f32 + nmaxf;
            for g in 0..G {
                let v = num / (max[g] - min[g]);
                lane_iscale[g] = if active[g] { v } else { 0.0 };
            }
            let sums = trial(&lane_iscale, &min, &mut laux);
            let [sum_l, sum_l2, sum_xl] = sums;
            let mut det = [0.0f32; G];
            let mut this_scale = [0.0f32; G];
            let mut this_min = [0.0f32; G];
            for g in 0..G {
                det[g] = sum_w[g] * sum_l2[g] - sum_l[g] * sum_l[g];
                // Computed for every lane; used only where det > 0, as in ggml.
                this_scale[g] = (sum_w[g] * sum_xl[g] - sum_x[g] * sum_l[g]) / det[g];
                this_min[g] = (sum_l2[g] * sum_x[g] - sum_l[g] * sum_xl[g]) / det[g];
                if this_min[g] > 0.0 {
                    this_min[g] = 0.0;
                    this_scale[g] = sum_xl[g] / sum_l2[g];
                }
            }
            let cur_error = errors(&laux, &this_scale, &this_min);
            let mut won = [false; G];
            let mut any = false;
            for g in 0..G {
                if active[g] && det[g] > 0.0 && cur_error[g] < best_error[g] {
                    won[g] = true;
                    any = true;
                    best_error[g] = cur_error[g];
                    scale[g] = this_scale[g];
                    min[g] = this_min[g];
                }
            }
            if any {
                for i in 0..N {
                    for g in 0..G {
                        if won[g] {
                            lt[i][g] = laux[i][g] as u8;
                        }
                    }
                }
            }
        }
    }
    let mut the_min = [0.0f32; G];
    for g in 0..G {
        the_min[g] = -min[g];
        if !active[g] {
            scale[g] = 0.0;
        }
        for i in 0..N {
            l[g * N + i] = lt[i][g];
        }
    }
    (scale, the_min)
}

/// The trial loop of [`make_qkx_quants_groups`] for one trial scale per group (see
/// [`qkx_lanes`]; here lane `g` is group `g`).
#[inline(always)]
fn qkx_group_lanes<const FAST: bool, const G: usize, const N: usize>(
    xt: &[[f32; G]; N],
    wt: &[[f32; G]; N],
    min: &[f32; G],
    nmaxf: f32,
    lane_iscale: &[f32; G],
    laux: &mut [[f32; G]; N],
    sums: &mut [[f32; G]; 3],
) {
    *sums = [[0.0; G]; 3];
    let [sum_l, sum_l2, sum_xl] = sums;
    for i in 0..N {
        let (xr, wr, lr) = (&xt[i], &wt[i], &mut laux[i]);
        for g in 0..G {
            let xi = xr[g];
            let wi = wr[g];
            let v = lane_iscale[g] * (xi - min[g]);
            let q = if FAST {
                // clamp(nearest_int(v), 0, nmax) for |v| < 2^22 (checked by the caller): clamping
                // to integer bounds commutes with rounding, and the float trick rounds exactly.
                // `v > 0` is false for NaN, like nearest_int(NaN) = 0. (maxps/minps-shaped.)
                let c = if v > 0.0 { v } else { 0.0 };
                let c = if c < nmaxf { c } else { nmaxf };
                (c + 12_582_912.0) - 12_582_912.0
            } else {
                nearest_int(v).clamp(0, nmaxf as i32) as f32
            };
            lr[g] = q;
            sum_l[g] += wi * q;
            sum_l2[g] += wi * q * q;
            sum_xl[g] += wi * q * xi;
        }
    }
}

/// The weighted error of each group's trial fit, `Σ w·|scale·l + min − x|` (`MAD`) or
/// `Σ w·(scale·l + min − x)²`, in ggml's order.
#[inline(always)]
fn group_errors<const MAD: bool, const G: usize, const N: usize>(
    xt: &[[f32; G]; N],
    wt: &[[f32; G]; N],
    laux: &[[f32; G]; N],
    this_scale: &[f32; G],
    this_min: &[f32; G],
) -> [f32; G] {
    let mut err = [0.0f32; G];
    for i in 0..N {
        for g in 0..G {
            let diff = this_scale[g] * laux[i][g] + this_min[g] - xt[i][g];
            let diff = if MAD { diff.abs() } else { diff * diff };
            err[g] += wt[i][g] * diff;
        }
    }
    err
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

/// Lanes of the iq4 scale search: the first fit plus up to 15 trial scales (`ntry = 7`).
const IQ4_LANES: usize = 16;

/// Midpoints between consecutive [`KVALUES_IQ4NL`] entries and the gaps between them.
///
/// For every non-NaN `x`, `best_index_int8(KVALUES_IQ4NL, x)` is the number of midpoints `<= x`:
/// ggml picks the lower neighbour `lo` of an interval `[lo, hi)` iff `fl(x − lo) < fl(hi − x)`,
/// a condition monotone in `x` that is true just below the midpoint `m = (lo + hi)/2` and false
/// at `m` (both differences are exact there, as all midpoints have magnitude ≥ 4.5), so it
/// switches exactly at `m`. Checked exhaustively around every midpoint by a unit test.
const IQ4_MID: [f32; 15] = {
    let mut m = [0.0f32; 15];
    let mut k = 0;
    while k < 15 {
        m[k] = (KVALUES_IQ4NL[k] as i32 + KVALUES_IQ4NL[k + 1] as i32) as f32 / 2.0;
        k += 1;
    }
    m
};
const IQ4_GAP: [f32; 15] = {
    let mut g = [0.0f32; 15];
    let mut k = 0;
    while k < 15 {
        g[k] = (KVALUES_IQ4NL[k + 1] as i32 - KVALUES_IQ4NL[k] as i32) as f32;
        k += 1;
    }
    g
};

/// `KVALUES_IQ4NL[best_index_int8(KVALUES_IQ4NL, x)]` as an f32, branch-free (see [`IQ4_MID`]),
/// for non-NaN `x`.
#[inline(always)]
fn iq4_value(x: f32) -> f32 {
    let mut q = f32::from(KVALUES_IQ4NL[0]);
    for k in 0..15 {
        q += if x >= IQ4_MID[k] { IQ4_GAP[k] } else { 0.0 };
    }
    q
}

/// ggml's weighted sums `Σ w·q·x` and `Σ w·q²` of one 32-value block for each lane's inverse
/// scale `ids[t]` (quants `q` = nearest grid value of `ids[t]·x`), each in ggml's order.
/// The arguments `ids[t]·x` are finite (|id·x| ≤ 134 for ggml's trial scales), never NaN.
#[inline(always)]
fn iq4_trial_lanes(
    xb: &[f32],
    weight: &[f32; 32],
    ids: &[f32; IQ4_LANES],
) -> ([f32; IQ4_LANES], [f32; IQ4_LANES]) {
    let mut sumqx = [0.0f32; IQ4_LANES];
    let mut sumq2 = [0.0f32; IQ4_LANES];
    for (&x, &w) in xb.iter().zip(weight) {
        for t in 0..IQ4_LANES {
            let q = iq4_value(ids[t] * x);
            sumqx[t] += w * q * x;
            sumq2[t] += w * q * q;
        }
    }
    (sumqx, sumq2)
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
        let d0 = if ntry > 0 { -max / v0 } else { max / v0 };
        // Lane 0: the first fit with id = 1/d0; lanes 1 ..= 2·ntry + 1: ggml's trial scales
        // itry = −ntry ..= ntry. All are independent; they are accepted in ggml's order below.
        let mut ids = [0.0f32; IQ4_LANES];
        ids[0] = 1.0 / d0;
        let ntrials = if ntry >= 0 { 2 * ntry as usize + 1 } else { 0 };
        assert!(ntrials < IQ4_LANES);
        for t in 1..IQ4_LANES {
            // C: (itry + values[0]) is an int sum, converted once.
            let itry = -ntry + (t.min(ntrials.max(1)) as i32 - 1);
            ids[t] = (itry + i32::from(values[0])) as f32 / max;
        }
        let (sumqx, sumq2) = iq4_trial_lanes(xb, &weight, &ids);
        if ntry <= 0 {
            // Only the reference quantizer keeps the first fit's indices.
            for j in 0..BLOCK {
                lb[j] = best_index_int8(values, ids[0] * xb[j]);
            }
        }
        let mut d = if sumq2[0] > 0.0 {
            sumqx[0] / sumq2[0]
        } else {
            0.0
        };
        let mut best = d * sumqx[0];
        for t in 1..=ntrials {
            if sumq2[t] > 0.0 && sumqx[t] * sumqx[t] > best * sumq2[t] {
                d = sumqx[t] / sumq2[t];
                best = d * sumqx[t];
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

/// ggml's scale searches written as plain sequential loops (the first version of this module),
/// kept to check the lane-parallel versions above bit for bit on random data.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
mod scalar_ref {
    use super::*;

    pub(super) fn quantize_iq4_impl(
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

    pub(super) fn make_qx_quants(
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

    pub(super) fn make_qkx_quants_impl(
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

    /// xorshift64* stream for the equivalence tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32
        }
        /// A group of `n` values of one of several shapes (symmetric, one-signed, offset,
        /// sparse, few-valued, integer), at a random magnitude.
        fn group(&mut self, n: usize) -> Vec<f32> {
            let amp = [1.0f32, 1e-3, 300.0, 1e-7][(self.next() % 4) as usize];
            let kind = self.next() % 6;
            let off = self.unit() * 2.0 - 1.0;
            let a = self.unit();
            let b = -self.unit();
            (0..n)
                .map(|_| {
                    let u = self.unit() * 2.0 - 1.0;
                    amp * match kind {
                        0 => u,
                        1 => u.abs(),
                        2 => off + 0.05 * u,
                        3 => {
                            if self.next().is_multiple_of(5) {
                                u
                            } else {
                                0.0
                            }
                        }
                        4 => {
                            if self.next().is_multiple_of(2) {
                                a
                            } else {
                                b
                            }
                        }
                        _ => (u * 5.0).round(),
                    }
                })
                .collect()
        }
    }

    #[test]
    fn lane_parallel_qkx_matches_sequential() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let params: [(i32, usize, f32, f32, i32, bool); 5] = [
            (15, 32, -1.0, 0.1, 20, false),
            (31, 32, -0.5, 0.1, 15, false),
            (3, 16, -0.5, 0.1, 15, true),
            (15, 32, -0.9, 0.05, 36, false),
            (3, 16, -0.9, 0.05, 36, false),
        ];
        for it in 0..20_000 {
            let (nmax, n, rmin, rdelta, nstep, mad) = params[it % params.len()];
            let x = r.group(n);
            let w: Vec<f32> = (0..n).map(|_| r.unit() * 4.0 + 0.01).collect();
            for (weights, qkx3) in [(Some(&w[..]), false), (Some(&w[..]), true), (None, true)] {
                let mut l1 = [0u8; 32];
                let mut l2 = [0u8; 32];
                let a = make_qkx_quants_impl(
                    nmax, &x, weights, &mut l1, rmin, rdelta, nstep, mad, qkx3,
                );
                let b = scalar_ref::make_qkx_quants_impl(
                    nmax, &x, weights, &mut l2, rmin, rdelta, nstep, mad, qkx3,
                );
                assert_eq!(
                    (a.0.to_bits(), a.1.to_bits()),
                    (b.0.to_bits(), b.1.to_bits())
                );
                assert_eq!(l1, l2, "{x:?}");
            }
        }
    }

    #[test]
    fn lane_parallel_qx_matches_sequential() {
        let mut r = Rng(0x0123_4567_89ab_cdef);
        for it in 0..20_000 {
            let n = if it % 2 == 0 { 16 } else { 32 };
            let nmax = [4, 8, 16, 32][it % 4];
            let rmse_type = [1, 2, 3, 4, -1, 0][(it / 4) % 6];
            let x = r.group(n);
            let w: Vec<f32> = (0..n).map(|_| r.unit() * 4.0 + 0.01).collect();
            for qw in [None, Some(&w[..])] {
                let mut l1 = [0i8; 32];
                let mut l2 = [0i8; 32];
                let a = make_qx_quants(nmax, &x, &mut l1, rmse_type, qw);
                let b = scalar_ref::make_qx_quants(nmax, &x, &mut l2, rmse_type, qw);
                assert_eq!(a.to_bits(), b.to_bits());
                assert_eq!(l1, l2);
            }
        }
    }

    /// Relative speed of the lane-parallel and sequential scale searches (run with
    /// `--ignored --nocapture`; interleaved so that machine load affects both alike).
    #[test]
    #[ignore]
    fn lane_parallel_speed() {
        let mut r = Rng(7);
        let groups: Vec<Vec<f32>> = (0..512).map(|_| r.group(32)).collect();
        let w: Vec<f32> = (0..32).map(|i| 1.0 + i as f32 * 0.1).collect();
        let (mut best_new, mut best_old) = (f64::MAX, f64::MAX);
        for _ in 0..50 {
            let t = std::time::Instant::now();
            for g in &groups {
                let mut l = [0u8; 32];
                core::hint::black_box(make_qkx2_quants(15, g, &w, &mut l, -1.0, 0.1, 20, false));
            }
            best_new = best_new.min(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            for g in &groups {
                let mut l = [0u8; 32];
                core::hint::black_box(scalar_ref::make_qkx_quants_impl(
                    15,
                    g,
                    Some(&w),
                    &mut l,
                    -1.0,
                    0.1,
                    20,
                    false,
                    false,
                ));
            }
            best_old = best_old.min(t.elapsed().as_secs_f64());
        }
        println!(
            "make_qkx2_quants(32, nmax 15, 21 trials): lanes {:.0} ns, sequential {:.0} ns per group",
            best_new * 1e9 / 512.0,
            best_old * 1e9 / 512.0
        );
    }

    #[test]
    fn grouped_qkx_matches_sequential() {
        let mut r = Rng(0x5555_aaaa_1234_5678);
        for it in 0..3_000 {
            let mut x8: Vec<f32> = (0..8).flat_map(|_| r.group(32)).collect();
            if it % 10 == 0 {
                // Extreme magnitudes: differences overflow, arguments leave nearest_int's range.
                for v in x8.iter_mut().step_by(7) {
                    *v = if r.next().is_multiple_of(2) {
                        3e38
                    } else {
                        -3e38
                    };
                }
            }
            let w8: Vec<f32> = (0..256).map(|_| r.unit() * 4.0 + 0.01).collect();
            let x16: Vec<f32> = (0..16).flat_map(|_| r.group(16)).collect();
            let qkx3 = it % 2 == 0;
            let (nmax, rmin, rdelta, nstep, mad) = if qkx3 {
                (15, -0.9, 0.05, 36, false)
            } else {
                (15, -1.0, 0.1, 20, false)
            };
            let mut l = [0u8; 256];
            let (sc, mn) = make_qkx_quants_groups::<8, 32>(
                nmax, &x8, &w8, &mut l, rmin, rdelta, nstep, mad, qkx3,
            );
            for g in 0..8 {
                let mut lg = [0u8; 32];
                let (a, b) = scalar_ref::make_qkx_quants_impl(
                    nmax,
                    &x8[32 * g..32 * g + 32],
                    Some(&w8[32 * g..32 * g + 32]),
                    &mut lg,
                    rmin,
                    rdelta,
                    nstep,
                    mad,
                    qkx3,
                );
                assert_eq!(
                    (sc[g].to_bits(), mn[g].to_bits()),
                    (a.to_bits(), b.to_bits())
                );
                assert_eq!(&l[32 * g..32 * g + 32], &lg[..]);
            }
            let (nmax, rmin, rdelta, nstep, mad) = if qkx3 {
                (3, -0.9, 0.05, 36, false)
            } else {
                (3, -0.5, 0.1, 15, true)
            };
            let (sc, mn) = make_qkx_quants_groups::<16, 16>(
                nmax, &x16, &w8, &mut l, rmin, rdelta, nstep, mad, qkx3,
            );
            for g in 0..16 {
                let mut lg = [0u8; 16];
                let (a, b) = scalar_ref::make_qkx_quants_impl(
                    nmax,
                    &x16[16 * g..16 * g + 16],
                    Some(&w8[16 * g..16 * g + 16]),
                    &mut lg,
                    rmin,
                    rdelta,
                    nstep,
                    mad,
                    qkx3,
                );
                assert_eq!(
                    (sc[g].to_bits(), mn[g].to_bits()),
                    (a.to_bits(), b.to_bits())
                );
                assert_eq!(&l[16 * g..16 * g + 16], &lg[..]);
            }
        }
    }

    #[test]
    fn iq4_value_matches_best_index() {
        let v = &KVALUES_IQ4NL;
        let check = |x: f32| {
            let want = f32::from(v[usize::from(best_index_int8(v, x))]);
            assert_eq!(iq4_value(x), want, "x = {x:e} ({:#x})", x.to_bits());
        };
        // Every float within 4096 ulps of every midpoint and grid value, both signs of zero,
        // and a sweep of the whole range.
        for &m in IQ4_MID.iter().chain(v.map(f32::from).iter()) {
            for d in 0..4096u32 {
                check(f32::from_bits(m.to_bits().wrapping_add(d)));
                check(f32::from_bits(m.to_bits().wrapping_sub(d)));
            }
        }
        check(0.0);
        check(-0.0);
        for k in -300_000..300_000 {
            check(k as f32 * 0.000_5);
        }
        for e in [
            f32::MAX,
            f32::MIN,
            1e30,
            -1e30,
            1e-30,
            -1e-30,
            200.0,
            -200.0,
        ] {
            check(e);
        }
    }

    #[test]
    fn lane_parallel_iq4_matches_sequential() {
        let mut r = Rng(0x0f0f_1234_4321_f0f0);
        for it in 0..4_000 {
            let n = if it % 2 == 0 { 32 } else { 256 };
            let x: Vec<f32> = (0..n / 32).flat_map(|_| r.group(32)).collect();
            let qw: Vec<f32> = (0..n).map(|_| r.unit() * 4.0).collect();
            let ntry = [7, -1][(it / 2) % 2];
            for w in [None, Some(&qw[..])] {
                let mut got = ([0u8; 128], f16::ZERO, 0u16, [0u8; 4], [5u8; 256]);
                let mut want = ([0u8; 128], f16::ZERO, 0u16, [0u8; 4], [5u8; 256]);
                let nl = if n == 32 { 0 } else { 4 };
                quantize_iq4_impl(
                    &x,
                    Iq4Block {
                        d: &mut got.1,
                        q4: &mut got.0[..n / 2],
                        scales_h: &mut got.2,
                        scales_l: &mut got.3[..nl],
                    },
                    &mut got.4[..n],
                    w,
                    ntry,
                );
                scalar_ref::quantize_iq4_impl(
                    &x,
                    Iq4Block {
                        d: &mut want.1,
                        q4: &mut want.0[..n / 2],
                        scales_h: &mut want.2,
                        scales_l: &mut want.3[..nl],
                    },
                    &mut want.4[..n],
                    w,
                    ntry,
                );
                assert_eq!(got.1.to_bits(), want.1.to_bits());
                assert_eq!(
                    (got.0, got.2, got.3, got.4),
                    (want.0, want.2, want.3, want.4)
                );
            }
        }
    }

    #[test]
    fn grouped_qx_matches_sequential() {
        let mut r = Rng(0x7777_1234_abcd_0001);
        for it in 0..3_000 {
            let x: Vec<f32> = (0..16).flat_map(|_| r.group(16)).collect();
            let qw: Vec<f32> = (0..256).map(|_| r.unit() * 4.0).collect();
            let nmax = [32, 4][it % 2];
            for use_qw in [false, true] {
                let w: Vec<f32> = if use_qw {
                    qw.clone()
                } else {
                    x.iter().map(|v| v * v).collect()
                };
                let mut l = [0i8; 256];
                let sc = make_qx_quants_groups::<16, 16>(nmax, &x, &w, &mut l);
                for g in 0..16 {
                    let mut lg = [0i8; 16];
                    let want = scalar_ref::make_qx_quants(
                        nmax,
                        &x[16 * g..16 * g + 16],
                        &mut lg,
                        1,
                        use_qw.then(|| &qw[16 * g..16 * g + 16]),
                    );
                    assert_eq!(sc[g].to_bits(), want.to_bits());
                    assert_eq!(&l[16 * g..16 * g + 16], &lg[..]);
                }
            }
        }
    }
}

/// Below this largest magnitude every f16 scale and minimum a quantizer derives from the block
/// rounds to zero (f16's smallest subnormal is 2⁻²⁴ and the scales are at most the block's
/// magnitude), so every value decodes to ±0 and the error is exactly `|x| ≤ amax`. Closed-form
/// bounds evaluated in f32 underflow there, so formats return `amax` instead.
pub(crate) const TINY_BLOCK: f32 = 1.0 / (1u64 << 40) as f32;

/// Above this largest magnitude the f16 super-block scale of q3_K / q6_K / iq4_xs (at most
/// `amax / 128` for q3_K, smaller for the others) may overflow f16's 65504: the format promises
/// nothing there (`max_abs_error` returns `None`). `65504 · 64` leaves a factor of 2 of margin for
/// q3_K.
pub(crate) const K_SCALE_OVERFLOW: f32 = 65504.0 * 64.0;

/// `Some(amax)` for blocks below [`TINY_BLOCK`] (see there), else `None` (use the closed form).
pub(crate) fn tiny_block_bound(src: &[f32]) -> Option<f32> {
    let amax = abs_max(src);
    (amax < TINY_BLOCK).then_some(amax)
}
