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
