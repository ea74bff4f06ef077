"""Private numba kernels for :mod:`spp.flood` (static fill and local-inertial dynamics).

Everything here works on plain C-contiguous arrays in model-grid order (row 0 = north),
float32 depths/elevations in metres, fluxes in m²/s per unit width. Callers in
:mod:`spp.flood.static` and :mod:`spp.flood.dynamic` validate inputs; kernels do not.

Grid layout of the dynamic scheme (Bates et al. 2010): ``qx[i, j]`` is the flux across
the west face of cell ``(i, j)`` (shape ``(ny, nx + 1)``), ``qy[i, j]`` the flux across
its north face (shape ``(ny + 1, nx)``). Positive fluxes point east/south. Outer faces
stay zero (closed domain edge); walls (nodata, closed gates) have zero flux on all faces.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

G = np.float32(9.81)

# Neighbour offsets, 4-connectivity first so that [:4] gives the rook case.
_DI = np.array([-1, 1, 0, 0, -1, -1, 1, 1], dtype=np.int64)
_DJ = np.array([0, 0, -1, 1, -1, 1, -1, 1], dtype=np.int64)


@njit(cache=True)
def fill_connected(below: np.ndarray, seeds: np.ndarray, connectivity: int) -> np.ndarray:
    """Cells of ``below`` reachable from any seed cell through ``below`` cells.

    ``below`` is a 2-D bool mask (cell is under the water level and valid), ``seeds``
    an ``(k, 2)`` int64 array of (row, col). Seeds not in ``below`` start nothing.
    Iterative depth-first fill with an explicit stack: O(cells), no recursion.
    """
    ny, nx = below.shape
    wet = np.zeros((ny, nx), dtype=np.bool_)
    stack = np.empty(ny * nx if ny * nx < 1 << 20 else 1 << 20, dtype=np.int64)
    top = 0
    nn = 4 if connectivity == 4 else 8
    for s in range(seeds.shape[0]):
        r = seeds[s, 0]
        c = seeds[s, 1]
        if r < 0 or r >= ny or c < 0 or c >= nx:
            continue
        if not below[r, c] or wet[r, c]:
            continue
        wet[r, c] = True
        if top >= stack.shape[0]:
            stack = np.concatenate((stack, np.empty(stack.shape[0], dtype=np.int64)))
        stack[top] = r * nx + c
        top += 1
        while top > 0:
            top -= 1
            k = stack[top]
            i = k // nx
            j = k - i * nx
            for d in range(nn):
                ii = i + _DI[d]
                jj = j + _DJ[d]
                if ii < 0 or ii >= ny or jj < 0 or jj >= nx:
                    continue
                if wet[ii, jj] or not below[ii, jj]:
                    continue
                wet[ii, jj] = True
                if top >= stack.shape[0]:
                    stack = np.concatenate((stack, np.empty(stack.shape[0], dtype=np.int64)))
                stack[top] = ii * nx + jj
                top += 1
    return wet


@njit(parallel=True, fastmath=True, cache=True)
def below_level(z: np.ndarray, level: float) -> np.ndarray:
    """Bool mask of finite cells strictly below ``level`` (NaN = nodata is never below)."""
    ny, nx = z.shape
    out = np.empty((ny, nx), dtype=np.bool_)
    lv = np.float32(level)
    for i in prange(ny):
        for j in range(nx):
            v = z[i, j]
            out[i, j] = v < lv  # NaN compares False
    return out


@njit(parallel=True, fastmath=True, cache=True)
def depth_from_mask(z: np.ndarray, wet: np.ndarray, level: float, nodata: float) -> np.ndarray:
    """float32 depth ``level - z`` on wet cells, 0 on dry, ``nodata`` where ``z`` is NaN."""
    ny, nx = z.shape
    out = np.empty((ny, nx), dtype=np.float32)
    lv = np.float32(level)
    nd = np.float32(nodata)
    for i in prange(ny):
        for j in range(nx):
            v = z[i, j]
            if v != v:
                out[i, j] = nd
            elif wet[i, j]:
                out[i, j] = lv - v
            else:
                out[i, j] = np.float32(0.0)
    return out


@njit(parallel=True, fastmath=True, cache=True)
def compute_fluxes(
    h: np.ndarray,
    z: np.ndarray,
    gn2: np.ndarray,
    wall: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    qy_prev: np.ndarray,
    row_wet: np.ndarray,
    row_done: np.ndarray,
    dt: float,
    dx: float,
    theta: float,
    h_min: float,
) -> None:
    """One momentum step of the local-inertial scheme, in place on ``qx`` and ``qy``.

    q⁺ = (θ q + (1−θ)/2 (q₋ + q₊) − g h_f Δt ∂η/∂x) / (1 + g n² Δt |q| / h_f^(7/3))
    (Bates et al. 2010 eq. 11 with θ = 1; de Almeida et al. 2012 eq. 5 for θ < 1),
    h_f = max(η_i, η_j) − max(z_i, z_j). ``h_f^(7/3)`` is ``h_f² ∛h_f`` to avoid ``pow``.
    Rows whose cells and neighbours are all dry are skipped; ``row_done`` remembers which
    rows hold non-zero fluxes so a row that dries out is zeroed once; after the call it
    flags the rows the continuity step must visit. ``qy_prev`` is a copy of ``qy`` taken
    before the call (read only when θ < 1, to avoid racing on neighbouring rows).
    """
    ny, nx = h.shape
    dtf = np.float32(dt)
    rdx = np.float32(1.0 / dx)
    hmin = np.float32(h_min)
    th = np.float32(theta)
    half1mth = np.float32(0.5 * (1.0 - theta))
    smooth = theta < 1.0
    for i in prange(ny):
        wet_here = row_wet[i]
        wet_up = row_wet[i - 1] if i > 0 else False
        # x faces of row i
        if wet_here:
            q_left_old = qx[i, 0]
            for j in range(1, nx):
                q_old = qx[i, j]
                q_new = np.float32(0.0)
                if not (wall[i, j - 1] or wall[i, j]):
                    h0 = h[i, j - 1]
                    h1 = h[i, j]
                    if h0 > hmin or h1 > hmin:
                        z0 = z[i, j - 1]
                        z1 = z[i, j]
                        e0 = z0 + h0
                        e1 = z1 + h1
                        hf = max(e0, e1) - max(z0, z1)
                        if hf > hmin:
                            qa = q_old
                            if smooth:
                                qa = th * q_old + half1mth * (q_left_old + qx[i, j + 1])
                            num = qa - G * hf * dtf * (e1 - e0) * rdx
                            gn2f = np.float32(0.5) * (gn2[i, j - 1] + gn2[i, j])
                            den = np.float32(1.0) + dtf * gn2f * abs(q_old) / (
                                hf * hf * np.cbrt(hf)
                            )
                            q_new = num / den
                qx[i, j] = q_new
                q_left_old = q_old
        elif row_done[i]:
            for j in range(nx + 1):
                qx[i, j] = np.float32(0.0)
        # y face between rows i-1 and i
        if i > 0:
            if wet_here or wet_up:
                for j in range(nx):
                    q_old = qy[i, j]
                    q_new = np.float32(0.0)
                    if not (wall[i - 1, j] or wall[i, j]):
                        h0 = h[i - 1, j]
                        h1 = h[i, j]
                        if h0 > hmin or h1 > hmin:
                            z0 = z[i - 1, j]
                            z1 = z[i, j]
                            e0 = z0 + h0
                            e1 = z1 + h1
                            hf = max(e0, e1) - max(z0, z1)
                            if hf > hmin:
                                qa = q_old
                                if smooth:
                                    qa = th * q_old + half1mth * (qy_prev[i - 1, j] + qy_prev[i + 1, j])
                                num = qa - G * hf * dtf * (e1 - e0) * rdx
                                gn2f = np.float32(0.5) * (gn2[i - 1, j] + gn2[i, j])
                                den = np.float32(1.0) + dtf * gn2f * abs(q_old) / (
                                    hf * hf * np.cbrt(hf)
                                )
                                q_new = num / den
                    qy[i, j] = q_new
            elif row_done[i] or row_done[i - 1]:
                for j in range(nx):
                    qy[i, j] = np.float32(0.0)
    for i in prange(ny):
        row_done[i] = row_wet[i] or (i > 0 and row_wet[i - 1]) or (i + 1 < ny and row_wet[i + 1])


@njit(parallel=True, fastmath=True, cache=True)
def update_depths(
    h: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    wall: np.ndarray,
    boundary: np.ndarray,
    row_active: np.ndarray,
    row_wet: np.ndarray,
    row_hmax: np.ndarray,
    row_clip: np.ndarray,
    row_bnd: np.ndarray,
    max_depth: np.ndarray,
    arrival_s: np.ndarray,
    duration_s: np.ndarray,
    thresholds: np.ndarray,
    t_s: float,
    dt: float,
    dx: float,
    rain_m: float,
    h_min: float,
    arrival_depth: float,
) -> None:
    """Continuity step, in place on ``h``; also updates max depth, arrival and durations.

    Per row it writes: ``row_wet`` (any cell deeper than ``h_min``), ``row_hmax`` (deepest
    cell), ``row_clip`` (m³ added by clipping negative depths: a mass error), ``row_bnd``
    (m³ that left boundary cells into the domain this step). Boundary cells are not
    updated (their level is imposed); walls never hold water. ``rain_m`` is the rain depth
    (m) falling this step on every non-wall, non-boundary cell.
    """
    ny, nx = h.shape
    dtf = np.float32(dt)
    c = np.float32(dt / dx)
    area = dx * dx
    hmin = np.float32(h_min)
    rain = np.float32(rain_m)
    harr = np.float32(arrival_depth)
    nthr = thresholds.shape[0]
    raining = rain_m > 0.0
    for i in prange(ny):
        if not (raining or row_active[i]):
            row_wet[i] = False
            row_hmax[i] = np.float32(0.0)
            row_clip[i] = 0.0
            row_bnd[i] = 0.0
            continue
        wet = False
        hmx = np.float32(0.0)
        clip = 0.0
        bnd = 0.0
        for j in range(nx):
            if wall[i, j]:
                continue
            net = qx[i, j] - qx[i, j + 1] + qy[i, j] - qy[i + 1, j]
            if boundary[i, j]:
                bnd -= float(net) * dt * dx
                hn = h[i, j]
            else:
                hn = h[i, j] + c * net + rain
                if hn < 0:
                    clip -= float(hn) * area
                    hn = np.float32(0.0)
                h[i, j] = hn
            if hn > hmin:
                wet = True
                if hn > hmx:
                    hmx = hn
                if hn > max_depth[i, j]:
                    max_depth[i, j] = hn
                if hn > harr and arrival_s[i, j] != arrival_s[i, j]:
                    arrival_s[i, j] = np.float32(t_s + dt)
                for k in range(nthr):
                    if hn > thresholds[k]:
                        duration_s[k, i, j] += dtf
        row_wet[i] = wet
        row_hmax[i] = hmx
        row_clip[i] = clip
        row_bnd[i] = bnd


@njit(parallel=True, fastmath=True, cache=True)
def impose_level(h: np.ndarray, z: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 level: float, open_: np.ndarray, row_wet: np.ndarray, h_min: float) -> None:
    """Set boundary cells to depth ``max(level − z, 0)`` (closed ones to 0)."""
    lv = np.float32(level)
    for k in prange(rows.shape[0]):
        i = rows[k]
        j = cols[k]
        d = lv - z[i, j] if open_[k] else np.float32(0.0)
        if d < 0:
            d = np.float32(0.0)
        h[i, j] = d
    for k in range(rows.shape[0]):
        if h[rows[k], cols[k]] > h_min:
            row_wet[rows[k]] = True


@njit(parallel=True, cache=True)
def pump_out(h: np.ndarray, ptr: np.ndarray, cells: np.ndarray, capacity_m3: np.ndarray,
             area: float, removed: np.ndarray) -> None:
    """Each pump removes up to ``capacity_m3[p]`` from its cells, pro rata to depth.

    ``cells[ptr[p]:ptr[p+1]]`` are flat indices of pump ``p``'s drainage area (disjoint
    between pumps). ``removed[p]`` receives the volume (m³) actually pumped.
    """
    nx = h.shape[1]
    for p in prange(ptr.shape[0] - 1):
        vol = 0.0
        for k in range(ptr[p], ptr[p + 1]):
            c = cells[k]
            vol += float(h[c // nx, c % nx])
        vol *= area
        take = min(vol, capacity_m3[p])
        removed[p] = 0.0
        if take <= 0.0:
            continue
        keep = np.float32(1.0 - take / vol)
        actual = 0.0
        for k in range(ptr[p], ptr[p + 1]):
            c = cells[k]
            i = c // nx
            j = c % nx
            old = h[i, j]
            new = old * keep
            h[i, j] = new
            actual += float(old - new)
        removed[p] = actual * area


@njit(cache=True)
def add_point_inflow(h: np.ndarray, rows: np.ndarray, cols: np.ndarray, depth_m: float,
                     row_wet: np.ndarray) -> float:
    """Spread ``depth_m`` of water on each listed cell; return the float32 depth added sum."""
    d = np.float32(depth_m)
    added = 0.0
    for k in range(rows.shape[0]):
        old = h[rows[k], cols[k]]
        new = old + d
        h[rows[k], cols[k]] = new
        added += float(new - old)
        row_wet[rows[k]] = True
    return added


@njit(parallel=True, cache=True)
def stored_volume(h: np.ndarray, counted: np.ndarray, area: float) -> float:
    """Water volume (m³) on ``counted`` cells, summed in float64."""
    ny, nx = h.shape
    rows = np.zeros(ny, dtype=np.float64)
    for i in prange(ny):
        s = 0.0
        for j in range(nx):
            if counted[i, j]:
                s += float(h[i, j])
        rows[i] = s
    return rows.sum() * area
