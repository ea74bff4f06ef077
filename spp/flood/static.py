"""Static ("how high can it get") inundation with GRASS ``r.lake`` semantics.

A cell floods when its ground is strictly below the water level AND it is connected
(8- or 4-neighbourhood) through such cells to a boundary cell: a seed point, a mask of
river cells, or by default the edge cells of the DEM. Depth = level − ground.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spp.errors import RasterError, ScenarioError

__all__ = ["StaticResult", "edge_seeds", "inundate", "inundate_raster"]

logger = logging.getLogger(__name__)


def edge_seeds(shape: tuple[int, int]) -> np.ndarray:
    """``(k, 2)`` int64 (row, col) of every cell on the outer edge of a grid of ``shape``."""
    ny, nx = shape
    rows = np.concatenate([np.zeros(nx), np.full(nx, ny - 1), np.arange(ny), np.arange(ny)])
    cols = np.concatenate([np.arange(nx), np.arange(nx), np.zeros(ny), np.full(ny, nx - 1)])
    return np.stack([rows, cols], axis=1).astype(np.int64)


def inundate(
    elevation_m: np.ndarray,
    level_m: float,
    *,
    seeds: Sequence[tuple[int, int]] | np.ndarray | None = None,
    boundary: np.ndarray | None = None,
    connectivity: int = 8,
) -> np.ndarray:
    """Depth of water connected to the boundary and below ``level_m``.

    Parameters
    ----------
    elevation_m : numpy.ndarray
        2-D ground elevation in metres above the Hòn Dấu datum on a projected grid
        (e.g. EPSG:9210); NaN = nodata.
    level_m : float
        Water level at the boundary, metres above the same datum.
    seeds : sequence of (row, col), optional
        Boundary cells given as grid indices.
    boundary : numpy.ndarray, optional
        bool mask of boundary cells (e.g. :attr:`spp.terrain.Terrain.boundary`).
        With neither ``seeds`` nor ``boundary`` the grid's edge cells are the boundary.
    connectivity : {8, 4}
        Neighbourhood through which water spreads (8 = with diagonals, as ``r.lake``).

    Returns
    -------
    numpy.ndarray
        float32 depth in metres: ``level_m − elevation`` on flooded cells, 0 on dry
        cells, NaN where the elevation is NaN.

    Raises
    ------
    RasterError
        Not 2-D or all nodata.
    ScenarioError
        Bad connectivity, or ``level_m`` at or below every ground cell.

    Examples
    --------
    >>> z = np.array([[0., 5., 0.], [0., 5., 0.]], dtype=np.float32)
    >>> inundate(z, 1.0, seeds=[(0, 0)]).tolist()
    [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    from spp.flood import kernels

    z = np.ascontiguousarray(elevation_m, dtype=np.float32)
    if z.ndim != 2:
        raise RasterError(f"elevation must be a 2-D array, got shape {z.shape}")
    if connectivity not in (4, 8):
        raise ScenarioError(f"connectivity must be 4 or 8, got {connectivity}")
    if not np.isfinite(level_m):
        raise ScenarioError(f"water level must be a finite number of metres, got {level_m}")
    finite = np.isfinite(z)
    if not finite.any():
        raise RasterError("every DEM cell is nodata; nothing to flood")
    zmin = float(np.nanmin(z))
    if level_m <= zmin:
        raise ScenarioError(
            f"water level {level_m:.3f} m is at or below the lowest ground ({zmin:.3f} m "
            "above datum): nothing can flood. Levels are metres above Hòn Dấu, not depths."
        )
    if seeds is not None:
        seed_arr = np.asarray(seeds, dtype=np.int64).reshape(-1, 2)
    elif boundary is not None:
        if boundary.shape != z.shape:
            raise RasterError(f"boundary mask shape {boundary.shape} != DEM shape {z.shape}")
        seed_arr = np.argwhere(boundary).astype(np.int64)
    else:
        seed_arr = edge_seeds(z.shape)
    below = kernels.below_level(z, float(level_m))
    wet = kernels.fill_connected(below, seed_arr, int(connectivity))
    if not wet.any():
        logger.warning("no boundary cell is below %.3f m; the result is dry", level_m)
    return kernels.depth_from_mask(z, wet, float(level_m), np.nan)


@dataclass(frozen=True)
class StaticResult:
    """Summary of a file-to-file static run (areas in km², depths in m, times in s)."""

    path: Path
    flooded_cells: int
    flooded_km2: float
    max_depth_m: float
    kernel_s: float
    total_s: float


def inundate_raster(
    dem: str | Path,
    level_m: float,
    out: str | Path,
    *,
    seed_xy: tuple[float, float] | None = None,
    boundary: str | Path | None = None,
    connectivity: int = 8,
    overwrite: bool = False,
) -> StaticResult:
    """Read a DEM GeoTIFF, flood it to ``level_m`` and write the depth COG.

    Parameters
    ----------
    dem : str or Path
        Single-band GeoTIFF in any projected CRS in metres; values in metres above the
        national datum.
    level_m : float
        Water level at the boundary (m above datum).
    out : str or Path
        Output COG: float32 depth in metres, 0 where dry, nodata where the DEM has none,
        on the DEM's grid and CRS.
    seed_xy : (x, y), optional
        Boundary point in the DEM's CRS (metres).
    boundary : str or Path, optional
        Vector file (any OGR format and CRS) whose geometries mark boundary cells.
    connectivity : {8, 4}
        See :func:`inundate`.
    overwrite : bool
        Replace ``out`` if it exists.

    Raises
    ------
    InputFileError, RasterError, ScenarioError, CRSError
    """
    from spp.terrain import cells_of, read_dem, write_raster

    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and not overwrite:
        from spp.errors import InputFileError

        raise InputFileError(f"{out} exists; pass --overwrite to replace it")
    terrain = read_dem(dem)
    seeds = None
    mask = None
    if seed_xy is not None:
        seeds = [terrain.rowcol(*seed_xy)]
    elif boundary is not None:
        import geopandas as gpd

        mask = cells_of(gpd.read_file(boundary), terrain)
        if not mask.any():
            raise RasterError(f"{boundary}: no geometry overlaps the DEM grid")
    t1 = time.perf_counter()
    depth = inundate(terrain.elevation_m, level_m, seeds=seeds, boundary=mask,
                     connectivity=connectivity)
    t2 = time.perf_counter()
    write_raster(out, depth, terrain, overwrite=overwrite)
    wet = depth > 0
    n = int(wet.sum())
    result = StaticResult(
        path=out, flooded_cells=n, flooded_km2=n * terrain.cell_size_m**2 / 1e6,
        max_depth_m=float(depth[wet].max()) if n else 0.0, kernel_s=t2 - t1,
        total_s=time.perf_counter() - t0,
    )
    logger.info("static flood %s: %d cells, %.3f km², max %.2f m", out, n,
                result.flooded_km2, result.max_depth_m)
    return result
