"""Line of sight over terrain and buildings, with Earth curvature and refraction.

The observer sits at the centre of the DEM cell that contains its (x, y), ``height_m``
above that cell's *ground*; targets are cell centres ``target_height_m`` above their ground.
Obstacles are the *surface* (ground, or ground + buildings/trees when a surface raster is
given) sampled along the straight ray with bilinear interpolation. Earth curvature lowers a
point at horizontal distance d by ``d² / (2 k R)`` (k = 4/3 standard radio refraction,
R = 6 378 137 m, GRS80/WGS 84 semi-major axis, as GDAL uses); this is the same as
``gdal_viewshed -cc 1/k``.

All rasters are on one projected grid in metres (e.g. EPSG:9210, VN-2000 / TM-3 105°45′).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from numpy.typing import NDArray
from pyproj import CRS

from spp.coverage import kernels
from spp.crs import require_projected
from spp.errors import CRSError, InputFileError, RasterError

__all__ = [
    "EARTH_RADIUS_M",
    "OUTSIDE",
    "Grid",
    "observer_cell",
    "read_dem",
    "viewshed",
    "viewshed_window",
    "write_uint8",
]

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_378_137.0
"""Earth radius for curvature, metres (GRS80/WGS 84 semi-major axis, as gdal_viewshed)."""
OUTSIDE = 255
"""Value of cells beyond the radius, or with nodata ground, in uint8 LOS rasters."""


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: ``transform`` (rasterio Affine), ``shape`` (rows, cols), ``crs``."""

    transform: Affine
    shape: tuple[int, int]
    crs: CRS

    @property
    def cell_x_m(self) -> float:
        """Cell width in metres."""
        return float(abs(self.transform.a))

    @property
    def cell_y_m(self) -> float:
        """Cell height in metres."""
        return float(abs(self.transform.e))

    def cell_centres(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """x and y of every cell centre (two arrays of ``shape``), in the grid's CRS."""
        rows, cols = np.indices(self.shape, dtype=np.float64)
        x = self.transform.c + (cols + 0.5) * self.transform.a
        y = self.transform.f + (rows + 0.5) * self.transform.e
        return x, y


def _check_grid(transform: Affine, crs: CRS | None, *, source: str) -> CRS:
    try:
        crs = require_projected(crs, source=source)
    except CRSError as exc:
        raise RasterError(str(exc)) from exc
    if transform.b != 0 or transform.d != 0:
        raise RasterError(f"{source}: rotated grids are not supported; warp it north-up first")
    return crs


def read_dem(path: str | Path) -> tuple[NDArray[np.float64], Grid]:
    """Read band 1 of a projected GeoTIFF DEM as float64 metres with nodata as NaN.

    Raises
    ------
    InputFileError
        The file cannot be opened.
    RasterError
        No CRS, geographic CRS, rotated grid or no valid cell.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            data = src.read(1, masked=True).astype(np.float64).filled(np.nan)
            crs = _check_grid(src.transform, src.crs and CRS.from_user_input(src.crs),
                              source=str(path))
            grid = Grid(src.transform, (src.height, src.width), crs)
    except RasterioIOError as exc:
        raise InputFileError(f"cannot read DEM {path}: {exc}") from exc
    if not np.isfinite(data).any():
        raise RasterError(f"{path}: every cell is nodata")
    return data, grid


def observer_cell(grid: Grid, x: float, y: float) -> tuple[int, int]:
    """(row, col) of the cell containing (x, y) in the grid's CRS.

    Raises
    ------
    RasterError
        When the point is outside the grid.
    """
    col_f, row_f = ~grid.transform @ (x, y)
    row, col = int(math.floor(row_f)), int(math.floor(col_f))
    if not (0 <= row < grid.shape[0] and 0 <= col < grid.shape[1]):
        raise RasterError(f"site ({x:.1f}, {y:.1f}) is outside the DEM grid")
    return row, col


def viewshed(
    ground: NDArray[np.floating],
    grid: Grid,
    *,
    x: float,
    y: float,
    height_m: float,
    target_height_m: float = 1.5,
    radius_m: float = 10_000.0,
    surface: NDArray[np.floating] | None = None,
    refraction_k: float | None = 4.0 / 3.0,
    step_cells: float = 1.0,
) -> NDArray[np.uint8]:
    """Cells visible from a site: 1 visible, 0 hidden, 255 beyond ``radius_m`` or nodata.

    Parameters
    ----------
    ground : ndarray
        Ground elevation in metres (NaN = nodata) on ``grid``.
    grid : Grid
        Projected grid in metres (e.g. EPSG:9210).
    x, y : float
        Site position in the grid's CRS, metres.
    height_m : float
        Antenna height above the ground of the site's cell, metres.
    target_height_m : float
        Receiver height above ground, metres (1.5 m handset).
    radius_m : float
        Maximum horizontal distance, metres.
    surface : ndarray, optional
        Obstacle surface (ground + buildings/trees) in metres on the same grid; default
        ``ground``.
    refraction_k : float or None
        Effective Earth-radius factor k (4/3 standard atmosphere); ``None`` for a flat Earth.
    step_cells : float
        Sampling step along the ray, in cells.

    Returns
    -------
    ndarray of uint8, shape ``grid.shape``.

    Raises
    ------
    RasterError
        Shapes differ, the site is outside the grid or on a nodata cell.

    References
    ----------
    Same geometry as GDAL's ``gdal_viewshed`` with ``-cc 1/k`` (curvature coefficient).
    """
    ground64 = np.asarray(ground, dtype=np.float64)
    surf64 = ground64 if surface is None else np.asarray(surface, dtype=np.float64)
    if ground64.shape != grid.shape or surf64.shape != grid.shape:
        raise RasterError(
            f"ground {ground64.shape} / surface {surf64.shape} do not match grid {grid.shape}"
        )
    if radius_m <= 0 or step_cells <= 0:
        raise RasterError("radius_m and step_cells must be > 0")
    window, (r0, c0) = viewshed_window(
        ground64, grid, x=x, y=y, height_m=height_m, target_height_m=target_height_m,
        radius_m=radius_m, surface=surf64, refraction_k=refraction_k, step_cells=step_cells,
    )
    out = np.full(grid.shape, OUTSIDE, dtype=np.uint8)
    out[r0:r0 + window.shape[0], c0:c0 + window.shape[1]] = window
    log.debug("viewshed at (%s, %s): %d visible cells", x, y, int((out == 1).sum()))
    return out


def viewshed_window(
    ground: NDArray[np.float64],
    grid: Grid,
    *,
    x: float,
    y: float,
    height_m: float,
    target_height_m: float,
    radius_m: float,
    surface: NDArray[np.float64],
    refraction_k: float | None,
    step_cells: float = 1.0,
) -> tuple[NDArray[np.uint8], tuple[int, int]]:
    """Like :func:`viewshed` but only for the window around the site that the radius can reach.

    Returns the window (uint8, 1/0/255) and its (row, col) offset in the grid. Inputs must be
    float64 arrays of ``grid.shape``.
    """
    row, col = observer_cell(grid, x, y)
    z_ground = ground[row, col]
    if not math.isfinite(z_ground):
        raise RasterError(f"site ({x:.1f}, {y:.1f}) stands on a nodata DEM cell")
    curvature = 0.0 if refraction_k is None else 1.0 / (2.0 * refraction_k * EARTH_RADIUS_M)
    pad_r = int(math.ceil(radius_m / grid.cell_y_m))
    pad_c = int(math.ceil(radius_m / grid.cell_x_m))
    r0, r1 = max(0, row - pad_r), min(grid.shape[0], row + pad_r + 1)
    c0, c1 = max(0, col - pad_c), min(grid.shape[1], col + pad_c + 1)
    window = np.full((r1 - r0, c1 - c0), OUTSIDE, dtype=np.uint8)
    kernels.line_of_sight(
        np.ascontiguousarray(ground[r0:r1, c0:c1]),
        np.ascontiguousarray(surface[r0:r1, c0:c1]),
        row - r0, col - c0, z_ground + height_m, target_height_m,
        grid.cell_x_m, grid.cell_y_m, radius_m, curvature, step_cells, window,
    )
    return window, (r0, c0)


def write_uint8(
    path: str | Path, data: NDArray[np.uint8], grid: Grid, *, nodata: int = OUTSIDE,
    overwrite: bool = False,
) -> None:
    """Write a uint8 raster as a tiled, deflate-compressed GeoTIFF on ``grid``.

    Raises
    ------
    InputFileError
        The file exists and ``overwrite`` is false.
    """
    import rasterio

    path = Path(path)
    if path.exists() and not overwrite:
        raise InputFileError(f"{path} exists; pass --overwrite to replace it")
    profile = {
        "driver": "GTiff", "width": grid.shape[1], "height": grid.shape[0], "count": 1,
        "dtype": "uint8", "crs": grid.crs.to_wkt(), "transform": grid.transform,
        "nodata": nodata, "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
