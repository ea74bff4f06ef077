"""Coverage aggregated to H3 hexagons (resolution 9 by default), as national broadband maps do.

A grid cell belongs to the H3 cell that contains its centre: the centre is taken from the
grid's projected CRS (EPSG:9210 for the city) to longitude/latitude (EPSG:4326, pyproj,
``always_xy``) and indexed with ``h3.latlng_to_cell``. Only the cells in ``inside`` (e.g. the
cells of the run's communes) are counted, so a hexagon on the area's edge holds only its
cells inside the area. Resolution 9 hexagons are about 0.105 km² (edge ≈ 174 m).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from spp.coverage.los import Grid
from spp.errors import ScenarioError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["H3_RESOLUTION", "h3_cells", "h3_polygons", "h3_shares"]

log = logging.getLogger(__name__)
H3_RESOLUTION = 9
"""H3 resolution of the stored aggregation (≈ 0.105 km² hexagons)."""

_COLUMNS = ["h3_index", "resolution", "cells", "covered_cells", "share_area",
            "population", "covered_population", "share_population"]


def h3_cells(grid: Grid, flat_index: NDArray[np.integer], resolution: int = H3_RESOLUTION
             ) -> NDArray[np.uint64]:
    """H3 cell (64-bit integer form) of the centre of each grid cell in ``flat_index``.

    ``flat_index`` is ``row * ncols + col`` on ``grid``. h3 4.x has no array API, so this
    loops in Python over the cells given (≈ 0.5 µs per cell): pass only the cells you need.
    """
    import h3.api.basic_int as h3int
    from pyproj import Transformer

    if not 0 <= int(resolution) <= 15:
        raise ScenarioError(f"H3 resolution must be within [0, 15], got {resolution!r}")
    flat_index = np.asarray(flat_index, dtype=np.int64)
    rows, cols = np.divmod(flat_index, grid.shape[1])
    t = grid.transform
    x = t.c + (cols + 0.5) * t.a
    y = t.f + (rows + 0.5) * t.e
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    to_cell = h3int.latlng_to_cell
    res = int(resolution)
    return np.fromiter((to_cell(la, lo, res) for la, lo in zip(lat.tolist(), lon.tolist())),
                       dtype=np.uint64, count=len(flat_index))


def h3_polygons(cells: NDArray[np.uint64]) -> NDArray[np.object_]:
    """Boundary polygons (lon/lat, EPSG:4326) of H3 cells given as 64-bit integers.

    ``h3.cell_to_boundary`` gives (lat, lng) pairs; they are swapped to (lon, lat). Cells
    cut by an icosahedron edge have more than six vertices, so rings are built ragged.
    """
    import h3.api.basic_int as h3int
    import shapely

    rings = [h3int.cell_to_boundary(int(c)) for c in cells]
    if not rings:
        return np.array([], dtype=object)
    sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    latlng = np.array([p for r in rings for p in r], dtype=np.float64)
    index = np.repeat(np.arange(len(rings)), sizes)
    return shapely.polygons(shapely.linearrings(latlng[:, ::-1], indices=index))


def h3_shares(
    covered: NDArray[np.bool_],
    grid: Grid,
    population: NDArray[np.floating],
    resolution: int = H3_RESOLUTION,
    *,
    inside: NDArray[np.bool_] | None = None,
) -> gpd.GeoDataFrame:
    """Covered cells and people per H3 hexagon.

    Parameters
    ----------
    covered : ndarray of bool
        Covered cells on ``grid`` (e.g. 5G best-server RSRP ≥ threshold).
    grid : Grid
        Projected grid in metres; its CRS goes to EPSG:4326 through pyproj.
    population : ndarray
        People per cell on ``grid``.
    resolution : int
        H3 resolution, 0–15 (9: ≈ 0.105 km² hexagons).
    inside : ndarray of bool, optional
        Cells to count (e.g. ``commune_labels(...) > 0``); default every cell.

    Returns
    -------
    GeoDataFrame
        EPSG:4326, one row per hexagon holding at least one counted cell, sorted by
        ``h3_index``: ``h3_index`` (hex string), ``resolution``, ``cells``,
        ``covered_cells``, ``share_area`` (covered cells / cells, centre rule),
        ``population``, ``covered_population``, ``share_population`` (NaN with no people)
        and the hexagon's polygon (``h3.cell_to_boundary``).
    """
    import geopandas as gpd
    import h3
    import pandas as pd

    covered = np.asarray(covered, dtype=bool)
    pop = np.asarray(population, dtype=np.float64)
    for what, arr in (("covered mask", covered), ("population", pop)):
        if arr.shape != grid.shape:
            raise ScenarioError(f"{what} {arr.shape} does not match grid {grid.shape}")
    if inside is None:
        flat = np.arange(covered.size, dtype=np.int64)
    else:
        inside = np.asarray(inside, dtype=bool)
        if inside.shape != grid.shape:
            raise ScenarioError(f"inside mask {inside.shape} does not match grid {grid.shape}")
        flat = np.flatnonzero(inside)
    ids = h3_cells(grid, flat, resolution)
    inverse, hexes = pd.factorize(ids, sort=True)  # np.unique's result, ~15× faster
    hexes = np.asarray(hexes, dtype=np.uint64)
    n = len(hexes)
    cov = covered.ravel()[flat]
    people = pop.ravel()[flat]
    cells = np.bincount(inverse, minlength=n)
    cov_cells = np.bincount(inverse, weights=cov, minlength=n)
    total = np.bincount(inverse, weights=people, minlength=n)
    cov_people = np.bincount(inverse, weights=people * cov, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share_area = np.where(cells > 0, cov_cells / np.maximum(cells, 1), np.nan)
        share_pop = np.where(total > 0, cov_people / np.maximum(total, 1e-300), np.nan)
    frame = gpd.GeoDataFrame({
        "h3_index": [h3.int_to_str(int(c)) for c in hexes],
        "resolution": np.full(n, int(resolution), dtype=np.int64),
        "cells": cells.astype(np.int64),
        "covered_cells": cov_cells.astype(np.int64),
        "share_area": share_area,
        "population": total,
        "covered_population": cov_people,
        "share_population": share_pop,
    }, geometry=h3_polygons(hexes), crs="EPSG:4326")
    log.info("%d H3 r%d hexagons from %d cells", n, resolution, len(flat))
    return frame[_COLUMNS + ["geometry"]]
