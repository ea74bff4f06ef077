"""Private numba kernels for :mod:`spp.flood` (static fill and local-inertial dynamics).

Everything here works on plain C-contiguous arrays in model-grid order (row 0 = north),
float32 depths/elevations in metres, fluxes in m²/s per unit width. Callers in
:mod:`spp.flood.static` and :mod:`spp.flood.dynamic` validate inputs; kernels do not.

Row loops of the dynamic kernels run over ``order``, a permutation of the rows (see
``spp.flood.dynamic._row_order``): numba splits a ``prange`` into one contiguous chunk per
thread, and interleaving blocks of rows gives each thread a fair share of the wet rows.

Grid layout of the dynamic scheme (Bates et al. 2010): ``qx[i, j]`` is the flux across
the west face of cell ``(i, j)`` (shape ``(ny, nx + 1)``), ``qy[i, j]`` the flux across
its north face (shape ``(ny + 1, nx)``). Positive fluxes point east/south. Outer faces
stay zero (closed domain edge); walls (nodata, closed gates) have zero flux on all faces.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

G = np.float32(9.81)
# fastmath without nnan/ninf: NaN marks nodata and "not yet arrived" and must compare as NaN.
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}

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
    stack = np.empty(min(1 << 20, ny * nx), dtype=np.int64)
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


@njit(parallel=True, fastmath=_FM, cache=True)
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


@njit(parallel=True, fastmath=_FM, cache=True)
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


@intrinsic
def _f32_bits(typingctx, x):  # type: ignore[no-untyped-def]
    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def _bits_f32(typingctx, x):  # type: ignore[no-untyped-def]
    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


# Bit pattern of 2^(4/3 · (127 − 0.045)) for the x^(−1/3) initial guess (Lomont-style).
_INV_CBRT_MAGIC = np.int32(round((127 - 0.0450465) * 4 / 3 * 2**23))


@njit(fastmath=True, inline="always", cache=True)
def inv_cbrt(x: float) -> float:
    """x^(−1/3) for positive normal float32 ``x``; relative error < 2e-5.

    A bit-level initial guess and two Newton steps r ← r (4 − x r³) / 3: no ``pow`` or
    ``cbrt`` call, so the face loop vectorizes (``np.cbrt`` costs ≈ 13 ns a call here).
    """
    bits = np.int64(_f32_bits(x))
    r = _bits_f32(np.int32(_INV_CBRT_MAGIC - np.int32((bits * np.int64(1431655766)) >> 32)))
    third = np.float32(1.0 / 3.0)
    four = np.float32(4.0)
    r = r * (four - x * r * r * r) * third
    r = r * (four - x * r * r * r) * third
    return r


# Inner loops over a column range run as ``for k in range(m): j = a + k`` inside the
# prange body: LLVM vectorizes that form, but not ``for j in range(a, b)`` with ``a`` read
# from an array, nor the same loop moved into a helper function (5–8× slower, measured).


@njit(parallel=True, fastmath=True, cache=True)
def compute_fluxes(
    h: np.ndarray,
    z: np.ndarray,
    gn2: np.ndarray,
    qx_old: np.ndarray,
    qy_old: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    x_lo: np.ndarray,
    x_hi: np.ndarray,
    y_lo: np.ndarray,
    y_hi: np.ndarray,
    dt: float,
    dx: float,
    theta: float,
    h_min: float,
    order: np.ndarray,
) -> None:
    """One momentum step of the local-inertial scheme: new fluxes from old ones.

    q⁺ = (θ q + (1−θ)/2 (q₋ + q₊) − g h_f Δt ∂η/∂x) / (1 + g n² Δt |q| h_f^(−7/3))
    (Bates et al. 2010 eq. 11 with θ = 1; de Almeida et al. 2012 eq. 5 for θ < 1, where
    both neighbouring faces carry flow; θ = 1 next to a dry face),
    h_f = max(η_i, η_j) − max(z_i, z_j); no flow where h_f ≤ ``h_min``. A face never
    carries more than half of its upwind cell's water in one step (|q| Δt ≤ h_up Δx / 2):
    without this limiter a point inflow running down a dry slope overdrew cells, and
    clipping the negative depths created water (174,000 m³ from 1,200 m³ in a test). Half,
    not a quarter, because a quarter also slowed fast shallow fronts (the analytic
    moving-front error rose from 1.8 to 3.1 cm); a cell draining through three or four
    faces at once can still overdraw, and the mass balance reports that as clipped. Walls carry a
    ground of 1e4 m in ``z`` so they never have a positive h_f. Fluxes are double
    buffered (``*_old`` in, ``qx``/``qy`` out) so the inner loops have no carried
    dependency and vectorize.

    Only the faces of the cells in each row's active span ``[lo[i], hi[i])`` are computed
    (an empty span has ``lo ≥ hi``); everything else in the output buffer must be zero.
    ``x_lo/x_hi`` (``y_lo/y_hi``) hold, per row of ``qx`` (``qy``), the face range this
    buffer was last written on; faces that leave it are zeroed here and the range updated.
    """
    nx = h.shape[1]
    dtf = np.float32(dt)
    c = np.float32(9.81 * dt / dx)
    hmin = np.float32(h_min)
    th = np.float32(theta)
    half1mth = np.float32(0.5 * (1.0 - theta))
    zero = np.float32(0.0)
    one = np.float32(1.0)
    half = np.float32(0.5)
    lim = np.float32(dx / (2.0 * dt))  # |q| ≤ h_upwind · Δx / (2 Δt)
    for k_row in prange(order.shape[0]):
        i = order[k_row]
        # x faces of row i: face j lies between cells j − 1 and j; faces 0 and nx stay 0
        a = max(lo[i], 1)
        b = min(hi[i], nx - 1) + 1
        if lo[i] >= hi[i] or a >= b:
            a = 1
            b = 1
        qx[i, x_lo[i]:max(min(a, x_hi[i]), x_lo[i])] = 0.0
        qx[i, max(b, x_lo[i]):max(x_hi[i], b)] = 0.0
        for k in range(b - a):
            j = a + k
            q0 = qx_old[i, j]
            z0 = z[i, j - 1]
            z1 = z[i, j]
            e0 = z0 + h[i, j - 1]
            e1 = z1 + h[i, j]
            hf = max(e0, e1) - max(z0, z1)
            hc = max(hf, hmin)
            qm = qx_old[i, j - 1]
            qp = qx_old[i, j + 1]
            # θ < 1 averages in the neighbouring faces only where both carry flow: averaging
            # with a dry face's zero would damp flow through one-cell channels and saddles
            qa = th * q0 + half1mth * (qm + qp) if qm != zero and qp != zero else q0
            r = inv_cbrt(hc)
            r2 = r * r
            den = one + dtf * half * (gn2[i, j - 1] + gn2[i, j]) * abs(q0) * (r2 * r2 * r2 * r)
            qn = (qa - c * hc * (e1 - e0)) / den
            qn = max(min(qn, h[i, j - 1] * lim), -h[i, j] * lim)
            qx[i, j] = qn if hf > hmin else zero
        x_lo[i] = a
        x_hi[i] = b
        if i > 0:
            # y faces between rows i − 1 and i, over the union of both rows' spans
            a = min(lo[i - 1] if lo[i - 1] < hi[i - 1] else nx, lo[i] if lo[i] < hi[i] else nx)
            b = max(hi[i - 1] if lo[i - 1] < hi[i - 1] else 0, hi[i] if lo[i] < hi[i] else 0)
            a = max(a, 0)
            b = min(b, nx)
            if a >= b:
                a = 0
                b = 0
            qy[i, y_lo[i]:max(min(a, y_hi[i]), y_lo[i])] = 0.0
            qy[i, max(b, y_lo[i]):max(y_hi[i], b)] = 0.0
            for k in range(b - a):
                j = a + k
                q0 = qy_old[i, j]
                z0 = z[i - 1, j]
                z1 = z[i, j]
                e0 = z0 + h[i - 1, j]
                e1 = z1 + h[i, j]
                hf = max(e0, e1) - max(z0, z1)
                hc = max(hf, hmin)
                qm = qy_old[i - 1, j]
                qp = qy_old[i + 1, j]
                qa = th * q0 + half1mth * (qm + qp) if qm != zero and qp != zero else q0
                r = inv_cbrt(hc)
                r2 = r * r
                den = one + dtf * half * (gn2[i - 1, j] + gn2[i, j]) * abs(q0) * (
                    r2 * r2 * r2 * r
                )
                qn = (qa - c * hc * (e1 - e0)) / den
                qn = max(min(qn, h[i - 1, j] * lim), -h[i, j] * lim)
                qy[i, j] = qn if hf > hmin else zero
            y_lo[i] = a
            y_hi[i] = b


@njit(parallel=True, fastmath=True, cache=True)
def update_depths(
    h: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    interior: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    row_hmax: np.ndarray,
    row_clip: np.ndarray,
    row_bnd: np.ndarray,
    dt: float,
    dx: float,
    rain_m: float,
    order: np.ndarray,
) -> None:
    """Continuity step h ← h + Δt/Δx Σ q (+ rain), in place on ``h``, on each row's span.

    Only ``interior`` cells change (not walls, not boundary cells whose level is imposed).
    Per row it writes ``row_hmax`` (deepest interior cell: the time step ignores imposed
    cells), ``row_clip`` (m³ added by clipping negative depths: a mass error) and
    ``row_bnd`` (m³ that left boundary cells into the domain; walls carry no flux).
    ``rain_m`` is the rain depth (m) of this step; the caller passes spans covering every
    modelled cell while it rains.
    """
    nx = h.shape[1]
    c = np.float32(dt / dx)
    vol = dt * dx
    area = dx * dx
    rain = np.float32(rain_m)
    zero = np.float32(0.0)
    for k_row in prange(order.shape[0]):
        i = order[k_row]
        a = max(lo[i], 0)
        b = max(min(hi[i], nx), a)
        hmx = zero
        clip = zero
        bnd = zero
        for k in range(b - a):
            j = a + k
            net = qx[i, j] - qx[i, j + 1] + qy[i, j] - qy[i + 1, j]
            inside = interior[i, j]
            h0 = h[i, j]
            hn = h0 + c * net + rain
            clip += max(-hn, zero) if inside else zero
            hn = max(hn, zero) if inside else h0
            bnd += zero if inside else net
            h[i, j] = hn
            hmx = max(hmx, hn if inside else zero)
        row_hmax[i] = hmx
        row_clip[i] = float(clip) * area
        row_bnd[i] = -float(bnd) * vol


@njit(parallel=True, cache=True)
def wet_extent(h: np.ndarray, lo: np.ndarray, hi: np.ndarray, h_min: float,
               first: np.ndarray, last: np.ndarray,
               order: np.ndarray) -> None:
    """Per row, the first and one past the last column deeper than ``h_min`` within
    ``[lo, hi)``; ``first = nx, last = 0`` for a row without such a cell."""
    nx = h.shape[1]
    hmin = np.float32(h_min)
    for k_row in prange(order.shape[0]):
        i = order[k_row]
        a = nx
        b = 0
        for j in range(max(lo[i], 0), hi[i]):
            if h[i, j] > hmin:
                a = j
                break
        if a < nx:
            for j in range(hi[i] - 1, a - 1, -1):
                if h[i, j] > hmin:
                    b = j + 1
                    break
        first[i] = a
        last[i] = b


@njit(parallel=True, fastmath=_FM, cache=True)
def update_stats(
    h: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    max_depth: np.ndarray,
    arrival_s: np.ndarray,
    duration_s: np.ndarray,
    thresholds: np.ndarray,
    t_s: float,
    elapsed_s: float,
    arrival_depth: float,
    order: np.ndarray,
) -> None:
    """Fold the current depths into max depth, first-arrival time and durations above.

    Called every few steps: ``elapsed_s`` is the time since the previous call, credited
    to every threshold the cell exceeds now; ``t_s`` is stamped as the arrival time of
    cells first deeper than ``arrival_depth``. Only each row's span ``[lo, hi)`` is
    visited: cells outside it are dry.
    """
    el = np.float32(elapsed_s)
    tt = np.float32(t_s)
    harr = np.float32(arrival_depth)
    zero = np.float32(0.0)
    nthr = thresholds.shape[0]
    for k_row in prange(order.shape[0]):
        i = order[k_row]
        a = max(lo[i], 0)
        b = max(hi[i], a)
        for kk in range(b - a):
            j = a + kk
            hn = h[i, j]
            max_depth[i, j] = max(max_depth[i, j], hn)
            ar = arrival_s[i, j]
            arrival_s[i, j] = tt if (hn > harr and ar != ar) else ar
        for k in range(nthr):
            thr = thresholds[k]
            for kk in range(b - a):
                j = a + kk
                duration_s[k, i, j] += el if h[i, j] > thr else zero


@njit(cache=True)
def impose_level(h: np.ndarray, z: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 level: float, open_: np.ndarray) -> None:
    """Set boundary cells to depth ``max(level − z, 0)`` (closed ones to 0).

    Serial: a few hundred thousand cells at most, cheaper than waking the thread pool.
    """
    lv = np.float32(level)
    for k in range(rows.shape[0]):
        i = rows[k]
        j = cols[k]
        d = lv - z[i, j] if open_[k] else np.float32(0.0)
        h[i, j] = max(d, np.float32(0.0))


@njit(parallel=True, cache=True)
def pump_out(h: np.ndarray, ptr: np.ndarray, cells: np.ndarray, capacity_m3: np.ndarray,
             area: float, removed: np.ndarray) -> None:
    """Each pump removes up to ``capacity_m3[p]`` from its cells, pro rata to depth.

    ``cells[ptr[p]:ptr[p+1]]`` are flat indices of pump ``p``'s drainage area (disjoint
    between pumps). ``removed[p]`` receives the volume (m³) actually pumped.
    """
    flat = h.reshape(-1)  # a view: h is C-contiguous; no division per cell
    for p in prange(ptr.shape[0] - 1):
        vol = 0.0
        for k in range(ptr[p], ptr[p + 1]):
            vol += float(flat[cells[k]])
        vol *= area
        take = min(vol, capacity_m3[p])
        removed[p] = 0.0
        if take <= 0.0:
            continue
        keep = np.float32(1.0 - take / vol)
        actual = 0.0
        for k in range(ptr[p], ptr[p + 1]):
            c = cells[k]
            old = flat[c]
            new = old * keep
            flat[c] = new
            actual += float(old - new)
        removed[p] = actual * area


@njit(cache=True)
def add_point_inflow(h: np.ndarray, rows: np.ndarray, cols: np.ndarray, depth_m: float) -> float:
    """Spread ``depth_m`` of water on each listed cell; return the float32 depth added sum."""
    d = np.float32(depth_m)
    added = 0.0
    for k in range(rows.shape[0]):
        old = h[rows[k], cols[k]]
        new = old + d
        h[rows[k], cols[k]] = new
        added += float(new - old)
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
