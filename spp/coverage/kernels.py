"""Private numba kernels for line of sight (not a public API; use :mod:`spp.coverage.los`)."""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

OUTSIDE = np.uint8(255)


@numba.njit(cache=True, inline="always")
def _bilinear(grid: NDArray[np.float64], r: float, c: float) -> float:
    nrows, ncols = grid.shape
    r0 = int(math.floor(r))
    c0 = int(math.floor(c))
    r0 = max(r0, 0)
    c0 = max(c0, 0)
    if r0 > nrows - 2:
        r0 = nrows - 2 if nrows > 1 else 0
    if c0 > ncols - 2:
        c0 = ncols - 2 if ncols > 1 else 0
    fr = min(max(r - r0, 0.0), 1.0)
    fc = min(max(c - c0, 0.0), 1.0)
    r1 = min(r0 + 1, nrows - 1)
    c1 = min(c0 + 1, ncols - 1)
    top = grid[r0, c0] * (1.0 - fc) + grid[r0, c1] * fc
    bottom = grid[r1, c0] * (1.0 - fc) + grid[r1, c1] * fc
    return top * (1.0 - fr) + bottom * fr


@numba.njit(parallel=True, cache=True)
def line_of_sight(
    ground: NDArray[np.float64],
    surface: NDArray[np.float64],
    obs_row: int,
    obs_col: int,
    z_obs: float,
    target_height: float,
    cell_x: float,
    cell_y: float,
    radius: float,
    curvature: float,
    step_cells: float,
    out: NDArray[np.uint8],
) -> None:
    """Fill ``out`` with 1 (visible), 0 (hidden) or 255 (beyond ``radius``).

    Per target cell a ray from the observer cell centre is sampled every ``step_cells``
    cells with bilinear interpolation of ``surface``; an obstacle blocks when its elevation
    angle (after the curvature drop ``curvature * d**2``) exceeds the target's. NaN surface
    samples never block; a NaN ground at the target gives 255.
    """
    nrows, ncols = ground.shape
    for r in numba.prange(nrows):
        for c in range(ncols):
            dr = r - obs_row
            dc = c - obs_col
            dy = dr * cell_y
            dx = dc * cell_x
            d = math.sqrt(dx * dx + dy * dy)
            if d > radius or math.isnan(ground[r, c]):
                out[r, c] = OUTSIDE
                continue
            if dr == 0 and dc == 0:
                out[r, c] = 1
                continue
            z_t = ground[r, c] + target_height - curvature * d * d
            slope_t = (z_t - z_obs) / d
            span = max(abs(dr), abs(dc))
            n = int(math.ceil(span / step_cells))
            visible = 1
            for i in range(1, n):
                t = i / n
                zs = _bilinear(surface, obs_row + t * dr, obs_col + t * dc)
                if math.isnan(zs):
                    continue
                ds = t * d
                if (zs - curvature * ds * ds - z_obs) / ds > slope_t:
                    visible = 0
                    break
            out[r, c] = visible


# --- fused best-server kernel -------------------------------------------------------------
# Path-loss models and the per-key parameter vector (see ``spp.coverage.fast``).
MODEL_FSPL, MODEL_UMA, MODEL_UMI, MODEL_RMA = 0, 1, 2, 3
(P_HSQ, P_LOS_MAX, P_NLOS_MAX, P_D_BP, P_A, P_A2, P_B, P_C, P_FC, P_M1, P_M2, P_M3,
 P_PL1_BP, P_S0, P_BB, P_E, P_RADIUS_CHECK) = range(17)
N_PARAMS = 17
RAD_TO_DEG = 180.0 / math.pi
FORTY_PI = 40.0 * math.pi
MARGIN_M = 1e-4
"""Safety margin (m) of the max-pyramid bound: samples are skipped only when clearly clear."""


@numba.njit(parallel=True, cache=True)
def max_pool(src: NDArray[np.float32], out: NDArray[np.float32]) -> None:
    """``out[i, j] = max(src[2i:2i+2, 2j:2j+2])`` (edge tiles: the cells there are)."""
    nrows, ncols = src.shape
    for i in numba.prange(out.shape[0]):
        for j in range(out.shape[1]):
            v = -np.inf
            for r in range(2 * i, min(2 * i + 2, nrows)):
                for c in range(2 * j, min(2 * j + 2, ncols)):
                    v = max(v, src[r, c])
            out[i, j] = v


@numba.njit(cache=True, inline="always")
def _pathloss_pair(model: int, d2d: float, p: NDArray[np.float64]) -> tuple[float, float]:
    """(LOS, NLOS) path loss in dB at horizontal distance ``d2d``; same operation order as
    :mod:`spp.coverage.pathloss` so results agree to the last bits."""
    d3 = math.sqrt(d2d * d2d + p[P_HSQ])
    if model == MODEL_FSPL:
        pl = 20.0 * math.log10(d3) + p[P_A] - 27.55
        return pl, pl
    lg = math.log10(d3)
    if model == MODEL_UMA:
        if d2d <= p[P_D_BP]:
            pl_los = 28.0 + 22.0 * lg + p[P_A]
        else:
            pl_los = 28.0 + 40.0 * lg + p[P_A] - p[P_B]
        pl_n = 13.54 + 39.08 * lg + p[P_A] - p[P_C]
    elif model == MODEL_UMI:
        if d2d <= p[P_D_BP]:
            pl_los = 32.4 + 21.0 * lg + p[P_A]
        else:
            pl_los = 32.4 + 40.0 * lg + p[P_A] - p[P_B]
        pl_n = 35.3 * lg + 22.4 + p[P_A2] - p[P_C]
    else:
        if d2d <= p[P_D_BP]:
            pl_los = (20.0 * math.log10(FORTY_PI * d3 * p[P_FC] / 3.0) + p[P_M1] * lg
                      - p[P_M2] + p[P_M3] * d3)
        else:
            pl_los = p[P_PL1_BP] + 40.0 * math.log10(d3 / p[P_D_BP])
        pl_n = p[P_S0] + p[P_BB] * (lg - 3.0) + p[P_A] - p[P_E]
    return pl_los, max(pl_los, pl_n)


@numba.njit(cache=True, inline="always")
def _tile_max(pyramid: NDArray[np.float32], offsets: NDArray[np.int64],
              widths: NDArray[np.int64], rmin: int, rmax: int, cmin: int, cmax: int) -> float:
    """Upper bound of the surface over grid rows ``rmin..rmax`` × cols ``cmin..cmax``
    from the max pyramid (level L: tiles of 2**L cells); ``inf`` if no level is coarse
    enough for the box to fall within 2 × 2 tiles."""
    count = max(rmax - rmin + 1, cmax - cmin + 1)
    level = 1
    while (1 << level) < count:
        level += 1
    if level >= offsets.shape[0]:
        return np.inf
    base = offsets[level]
    width = widths[level]
    top = -np.inf
    for tr in range(rmin >> level, (rmax >> level) + 1):
        for tc in range(cmin >> level, (cmax >> level) + 1):
            top = max(top, pyramid[base + tr * width + tc])
    return top


@numba.njit(cache=True, inline="always")
def _visible(
    surface: NDArray[np.float64], pyramid: NDArray[np.float32], offsets: NDArray[np.int64],
    widths: NDArray[np.int64], win_r0: int, win_c0: int,
    obs_row: int, obs_col: int, dr: int, dc: int, d: float, z_obs: float, slope_t: float,
    curvature: float, step_cells: float,
) -> int:
    """The ray test of :func:`line_of_sight` for one target, walked from the target back to
    the observer. Runs of samples whose surface cannot reach the ray (bounded by the max
    ``pyramid`` of the surface, NaN ignored) are skipped; the others are tested exactly as
    in :func:`line_of_sight`, so the answer is the same (whether any sample blocks does not
    depend on the order). ``surface`` is the window whose top-left is grid cell
    ``(win_r0, win_c0)``."""
    nrows, ncols = surface.shape
    k_max = offsets.shape[0] - 2
    span = max(abs(dr), abs(dc))
    n = math.ceil(span / step_cells)
    hi = n - 1
    k = min(2, k_max)
    while hi >= 1:
        lo = max(1, hi - (1 << k) + 1)
        ta = lo / n
        tb = hi / n
        ra = obs_row + ta * dr
        rb = obs_row + tb * dr
        ca = obs_col + ta * dc
        cb = obs_col + tb * dc
        # the cells _bilinear reads for these samples (it clamps to the window)
        rmin = max(min(math.floor(min(ra, rb)), nrows - 2), 0)
        rmax = min(math.floor(max(ra, rb)) + 1, nrows - 1)
        cmin = max(min(math.floor(min(ca, cb)), ncols - 2), 0)
        cmax = min(math.floor(max(ca, cb)) + 1, ncols - 1)
        top = _tile_max(pyramid, offsets, widths, rmin + win_r0, rmax + win_r0,
                        cmin + win_c0, cmax + win_c0)
        da = ta * d
        db = tb * d
        h_min = min(z_obs + slope_t * da + curvature * da * da,
                    z_obs + slope_t * db + curvature * db * db)
        if curvature > 0.0:
            dv = -slope_t / (2.0 * curvature)
            if da < dv < db:
                h_min = min(h_min, z_obs + slope_t * dv + curvature * dv * dv)
        if top < h_min - MARGIN_M:
            hi = lo - 1
            k = min(k + 1, k_max)
            continue
        if k > 1:
            k -= 1
            continue
        for i in range(hi, lo - 1, -1):
            t = i / n
            zs = _bilinear(surface, obs_row + t * dr, obs_col + t * dc)
            if math.isnan(zs):
                continue
            ds = t * d
            if (zs - curvature * ds * ds - z_obs) / ds > slope_t:
                return 0
        hi = lo - 1
    return 1


@numba.njit(cache=True, inline="always")
def _gain_db(azimuth: float, zenith: float, omni: bool, boresight: float, tilt: float,
             bw_h: float, bw_v: float) -> float:
    """TR 38.901 sector pattern, as :func:`spp.coverage.antenna.sector_gain_db`."""
    if omni:
        return 0.0
    theta = zenith - 90.0 - tilt
    a_v = -min(12.0 * (theta / bw_v) ** 2, 30.0)
    phi = (azimuth - boresight + 180.0) % 360.0 - 180.0
    a_h = -min(12.0 * (phi / bw_h) ** 2, 30.0)
    return -min(-(a_v + a_h), 30.0)


@numba.njit(cache=True, inline="always")
def _wins(value: np.float32, rank: int, best: np.float32, best_rank: int) -> bool:
    """Best-server order: higher RSRP wins; on a tie the earlier sector (lower rank) keeps it."""
    if math.isnan(best):
        return True
    return bool(value > best or (value == best and rank < best_rank))


@numba.njit(parallel=True, cache=True)
def best_server_masts(
    ground: NDArray[np.float64], surface: NDArray[np.float64], pyramid: NDArray[np.float32],
    pyramid_offsets: NDArray[np.int64], pyramid_widths: NDArray[np.int64],
    mast_lo: int, mast_hi: int, window: NDArray[np.int64], observer: NDArray[np.int64],
    z_obs: NDArray[np.float64], los_radius: NDArray[np.float64],
    first_sub: NDArray[np.int64], model: NDArray[np.int64], params: NDArray[np.float64],
    first_sector: NDArray[np.int64],
    eirp: NDArray[np.float64], omni: NDArray[np.bool_], boresight: NDArray[np.float64],
    tilt: NDArray[np.float64], bw_h: NDArray[np.float64], bw_v: NDArray[np.float64],
    offset_db: NDArray[np.float64], group: NDArray[np.int64], rank: NDArray[np.int64],
    index: NDArray[np.int64], rank_of: NDArray[np.int64],
    band_edges: NDArray[np.int64], ring_lo: float, ring_hi: float,
    target_height: float, cell_x: float, cell_y: float,
    x0: float, xa: float, y0: float, ye: float, radius_m: float, curvature: float,
    step_cells: float, use_los: bool,
    best: NDArray[np.float32], server: NDArray[np.int32], best_r0: int, best_c0: int,
) -> None:
    """Best-server update by masts ``mast_lo..mast_hi`` of the grid cells whose distance to
    the mast is in ``(ring_lo, ring_hi]`` metres; column bands (``band_edges``) in parallel.

    Per cell and sector: RSRP = EIRP − PL + A(θ, φ) − 10 log10(12 N_RB) (``offset_db``),
    with PL LOS or NLOS from the line of sight, which is traced only when it can change the
    outcome; written to ``best[group]``/``server[group]`` (sector ``index``) when it beats
    the value there (ties: lower ``rank``; ``rank_of[server]``, ``rank_of[-1]`` = −1).

    Mast m: ``window[m]`` = (r0, r1, c0, c1), the grid window its line of sight is computed
    on (as ``viewshed_window`` cuts it); ``observer[m]`` its cell; ``z_obs[m]`` the antenna
    elevation (m); its sector groups (same model, band, height) are
    ``first_sub[m]..first_sub[m + 1]``, group j holding sectors
    ``first_sector[j]..first_sector[j + 1]`` with path-loss ``model[j]``/``params[j]``.
    ``best`` is indexed from grid cell ``(best_r0, best_c0)``.
    """
    n_bands = band_edges.shape[0] - 1
    max_sectors = 1
    for j in range(first_sub[mast_lo], first_sub[mast_hi]):
        max_sectors = max(max_sectors, first_sector[j + 1] - first_sector[j])
    for b in numba.prange(n_bands):
        gains = np.empty(max_sectors)
        for m in range(mast_lo, mast_hi):
            r0, r1, c0, c1 = window[m, 0], window[m, 1], window[m, 2], window[m, 3]
            orow = observer[m, 0] - r0
            ocol = observer[m, 1] - c0
            reach = min(ring_hi, los_radius[m])
            pad_r = math.ceil(reach / cell_y) + 1
            pad_c = math.ceil(reach / cell_x) + 1
            row_lo = max(0, orow - pad_r)
            row_hi = min(r1 - r0, orow + pad_r + 1)
            col_lo = max(0, ocol - pad_c, band_edges[b] - c0)
            col_hi = min(c1 - c0, ocol + pad_c + 1, band_edges[b + 1] - c0)
            if col_lo >= col_hi or row_lo >= row_hi:
                continue
            g_win = ground[r0:r1, c0:c1]
            s_win = surface[r0:r1, c0:c1]
            sx = x0 + (observer[m, 1] + 0.5) * xa
            sy = y0 + (observer[m, 0] + 0.5) * ye
            for j in range(first_sub[m], first_sub[m + 1]):
                p = params[j]
                k0 = first_sector[j]
                k1 = first_sector[j + 1]
                check_radius = p[P_RADIUS_CHECK] > 0.0
                for lr in range(row_lo, row_hi):
                    dr = lr - orow
                    dyc = dr * cell_y
                    br = lr + r0 - best_r0
                    cy = y0 + (lr + r0 + 0.5) * ye
                    for lc in range(col_lo, col_hi):
                        dc = lc - ocol
                        dxc = dc * cell_x
                        d = math.sqrt(dxc * dxc + dyc * dyc)
                        if d > los_radius[m] or d <= ring_lo or d > ring_hi:
                            continue
                        g_t = g_win[lr, lc]
                        if math.isnan(g_t):
                            continue
                        dx = x0 + (lc + c0 + 0.5) * xa - sx
                        dy = cy - sy
                        hyp = math.hypot(dx, dy)
                        d2d = max(hyp, 10.0)
                        ok_los = True
                        ok_nlos = True
                        if check_radius:
                            in_radius = hyp <= radius_m
                            ok_los = in_radius and d2d <= p[P_LOS_MAX]
                            ok_nlos = in_radius and d2d <= p[P_NLOS_MAX]
                        if not use_los:
                            ok_los = False
                        if not (ok_los or ok_nlos):
                            continue
                        pl_los, pl_nlos = _pathloss_pair(model[j], d2d, p)
                        bc = lc + c0 - best_c0
                        # the best any sector can do here (gain <= 0 dB, LOS <= NLOS loss)
                        hopeful = False
                        for s in range(k0, k1):
                            top = np.float32(eirp[s] - (pl_los if ok_los else pl_nlos)
                                             + 0.0 - offset_db[s])
                            g = group[s]
                            if _wins(top, rank[s], best[g, br, bc], rank_of[server[g, br, bc]]):
                                hopeful = True
                                break
                        if not hopeful:
                            continue
                        z_ut = g_t + target_height
                        azimuth = (math.atan2(dx, dy) * RAD_TO_DEG) % 360.0
                        zenith = 90.0 + math.atan2(z_obs[m] - z_ut, d2d) * RAD_TO_DEG
                        wins_any = False
                        state_matters = False
                        for s in range(k0, k1):
                            gain = _gain_db(azimuth, zenith, omni[s], boresight[s], tilt[s],
                                            bw_h[s], bw_v[s])
                            gains[s - k0] = gain
                            v_los = np.float32(eirp[s] - pl_los + gain - offset_db[s])
                            v_nlos = np.float32(eirp[s] - pl_nlos + gain - offset_db[s])
                            g = group[s]
                            cur = best[g, br, bc]
                            cur_rank = rank_of[server[g, br, bc]]
                            if ((ok_los and _wins(v_los, rank[s], cur, cur_rank))
                                    or (ok_nlos and _wins(v_nlos, rank[s], cur, cur_rank))):
                                wins_any = True
                            if ok_los != ok_nlos or v_los != v_nlos:
                                state_matters = True
                        if not wins_any:
                            continue
                        is_los = ok_los
                        if use_los and state_matters:
                            if dr == 0 and dc == 0:
                                is_los = True
                            else:
                                z_t = g_t + target_height - curvature * d * d
                                slope_t = (z_t - z_obs[m]) / d
                                is_los = _visible(s_win, pyramid, pyramid_offsets,
                                                  pyramid_widths, r0, c0, orow, ocol, dr,
                                                  dc, d, z_obs[m], slope_t, curvature,
                                                  step_cells) == 1
                        if not (ok_los if is_los else ok_nlos):
                            continue
                        pl = pl_los if is_los else pl_nlos
                        for s in range(k0, k1):
                            v = np.float32(eirp[s] - pl + gains[s - k0] - offset_db[s])
                            g = group[s]
                            if _wins(v, rank[s], best[g, br, bc], rank_of[server[g, br, bc]]):
                                best[g, br, bc] = v
                                server[g, br, bc] = index[s]
