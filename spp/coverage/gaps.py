"""Per-commune coverage shares and uncovered gap polygons (pure functions).

Rasters are on a :class:`~spp.coverage.los.Grid` (projected, metres; EPSG:9210 for the
city). Communes and buildings may come in any CRS: they are reprojected to the grid's.
A cell belongs to the commune that contains its centre; a building counts as covered when
the cell containing its centroid (representative point for polygons) is covered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from spp.coverage.los import Grid
from spp.errors import CRSError, ScenarioError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "building_cells",
    "commune_labels",
    "coverage_shares",
    "coverage_shares_by_group",
    "gap_polygons",
    "population_grid",
]

log = logging.getLogger(__name__)


def _to_grid_crs(gdf: gpd.GeoDataFrame, grid: Grid, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise CRSError(f"{what} have no CRS; set one (e.g. EPSG:4326) first")
    return gdf.to_crs(grid.crs)


def commune_labels(communes: gpd.GeoDataFrame, grid: Grid) -> NDArray[np.int32]:
    """Raster of commune positions: 0 outside every commune, ``i + 1`` for row ``i``.

    Cells are assigned by their centre (rasterio's default rasterisation); where communes
    overlap, the later row wins.
    """
    from rasterio.features import rasterize

    metric = _to_grid_crs(communes, grid, "communes")
    shapes = [(geom, i + 1) for i, geom in enumerate(metric.geometry) if geom is not None]
    if not shapes:
        return np.zeros(grid.shape, dtype=np.int32)
    return rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0,
                     dtype="int32")


def building_cells(buildings: gpd.GeoDataFrame, grid: Grid) -> NDArray[np.int64]:
    """Flat cell index of each building (centroid/representative point); -1 outside the grid."""
    metric = _to_grid_crs(buildings, grid, "buildings")
    pts = metric.geometry.representative_point()
    cols_f, rows_f = ~grid.transform @ (pts.x.to_numpy(), pts.y.to_numpy())
    rows = np.floor(rows_f).astype(np.int64)
    cols = np.floor(cols_f).astype(np.int64)
    inside = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
    return np.where(inside, rows * grid.shape[1] + cols, -1)


def population_grid(
    buildings: gpd.GeoDataFrame, grid: Grid, *, population_field: str = "population"
) -> NDArray[np.float64]:
    """People per cell, summed from buildings' ``population_field`` at their centroid cell."""
    if population_field not in buildings.columns:
        raise ScenarioError(f"buildings have no {population_field!r} field")
    cells = building_cells(buildings, grid)
    people = buildings[population_field].fillna(0).to_numpy(dtype=np.float64)
    out = np.zeros(grid.shape[0] * grid.shape[1], dtype=np.float64)
    ok = cells >= 0
    np.add.at(out, cells[ok], people[ok])
    return out.reshape(grid.shape)


def coverage_shares(
    communes: gpd.GeoDataFrame,
    covered: NDArray[np.bool_],
    grid: Grid,
    *,
    population: NDArray[np.floating] | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    id_field: str = "ma_xa",
    name_field: str = "ten",
    labels: NDArray[np.int32] | None = None,
    building_cell: NDArray[np.int64] | None = None,
) -> pd.DataFrame:
    """Share of each commune's area, population and buildings that is covered.

    Parameters
    ----------
    communes : GeoDataFrame
        Commune polygons (any CRS) with ``id_field`` and ``name_field``.
    covered : ndarray of bool
        Covered cells on ``grid``.
    grid : Grid
        Projected grid in metres.
    population : ndarray, optional
        People per cell on ``grid`` (e.g. from :func:`population_grid`).
    buildings : GeoDataFrame, optional
        Buildings (any CRS); counted by centroid cell.
    labels, building_cell : ndarray, optional
        Precomputed :func:`commune_labels` and :func:`building_cells` (saves work when
        several masks share one grid).

    Returns
    -------
    DataFrame
        One row per commune: ``id``, ``name``, ``area_km2`` (polygon area in the grid CRS),
        ``cells``, ``share_area`` (covered cells / cells, centre rule),
        ``covered_area_km2`` (``share_area * area_km2``) and, when given,
        ``population``, ``covered_population``, ``share_population``, ``buildings``,
        ``covered_buildings``, ``share_buildings``. Shares are NaN for an empty denominator.
    """
    covered = np.asarray(covered, dtype=bool)
    if covered.shape != grid.shape:
        raise ScenarioError(f"covered mask {covered.shape} does not match grid {grid.shape}")
    if labels is None:
        labels = commune_labels(communes, grid)
    n = len(communes)
    metric = _to_grid_crs(communes, grid, "communes")
    flat = labels.ravel()
    # only cells inside a commune count: the same sums, over fewer cells
    inside = np.flatnonzero(flat)
    lab_in = flat[inside]
    cov_in = covered.ravel()[inside]
    cells = np.bincount(lab_in, minlength=n + 1)[1:]
    cov_cells = np.bincount(lab_in, weights=cov_in, minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        share_area = np.where(cells > 0, cov_cells / np.maximum(cells, 1), np.nan)
        area_km2 = metric.geometry.area.to_numpy() / 1e6
        out = pd.DataFrame({
            "id": communes[id_field].to_numpy() if id_field in communes else np.arange(n),
            "name": communes[name_field].to_numpy() if name_field in communes else None,
            "area_km2": area_km2,
            "cells": cells.astype(np.int64),
            "share_area": share_area,
            "covered_area_km2": share_area * area_km2,
        })
        if population is not None:
            pop = np.asarray(population, dtype=np.float64).ravel()[inside]
            total = np.bincount(lab_in, weights=pop, minlength=n + 1)[1:]
            cov = np.bincount(lab_in, weights=pop * cov_in, minlength=n + 1)[1:]
            out["population"] = total
            out["covered_population"] = cov
            out["share_population"] = np.where(total > 0, cov / np.maximum(total, 1e-300), np.nan)
        if buildings is not None:
            bcells = building_cell if building_cell is not None else building_cells(buildings, grid)
            ok = bcells >= 0
            b_label = flat[bcells[ok]]
            b_cov = covered.ravel()[bcells[ok]]
            total_b = np.bincount(b_label, minlength=n + 1)[1:]
            cov_b = np.bincount(b_label, weights=b_cov, minlength=n + 1)[1:]
            out["buildings"] = total_b
            out["covered_buildings"] = cov_b.astype(np.int64)
            out["share_buildings"] = np.where(total_b > 0, cov_b / np.maximum(total_b, 1), np.nan)
    return out


def coverage_shares_by_group(
    communes: gpd.GeoDataFrame,
    covered_by_group: dict[tuple[str, ...], NDArray[np.bool_]],
    grid: Grid,
    *,
    group_names: tuple[str, ...] = ("operator", "technology"),
    population: NDArray[np.floating] | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    id_field: str = "ma_xa",
    name_field: str = "ten",
) -> pd.DataFrame:
    """:func:`coverage_shares` for each group (e.g. operator × technology), stacked long."""
    frames = []
    labels = commune_labels(communes, grid)
    bcells = building_cells(buildings, grid) if buildings is not None else None
    for key, mask in covered_by_group.items():
        frame = coverage_shares(communes, mask, grid, population=population,
                                buildings=buildings, id_field=id_field, name_field=name_field,
                                labels=labels, building_cell=bcells)
        for name, value in zip(group_names, key):
            frame.insert(0, name, value)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def gap_polygons(
    covered: NDArray[np.bool_],
    grid: Grid,
    *,
    population: NDArray[np.floating],
    communes: gpd.GeoDataFrame | None = None,
    name_field: str = "ten",
    min_people: float = 0.0,
) -> gpd.GeoDataFrame:
    """Connected uncovered populated cells as polygons, ranked by people (largest first).

    Cells are joined by edges (4-connectivity), so every polygon is valid; with
    ``communes`` a gap never crosses a commune boundary (it is split per commune).

    Returns
    -------
    GeoDataFrame
        In ``grid.crs``: ``rank`` (1 = most people), ``people``, ``cells``, ``area_m2``,
        ``commune`` (name or None) and the polygon.
    """
    import geopandas as gpd
    import shapely
    from rasterio.features import shapes
    from scipy import ndimage

    pop = np.asarray(population, dtype=np.float64)
    gap = (~np.asarray(covered, dtype=bool)) & (pop > 0)
    if communes is not None:
        labels = commune_labels(communes, grid)
        names = list(communes[name_field]) if name_field in communes else [None] * len(communes)
    else:
        labels = np.ones(grid.shape, dtype=np.int32)
        names = [None]
    comp = np.zeros(grid.shape, dtype=np.int32)
    comp_commune: list[int] = [0]
    next_id = 1
    boxes = ndimage.find_objects(labels)
    for lab in np.unique(labels[gap]):
        if lab == 0:
            continue
        # label within the commune's bounding box: same components, same raster-order ids
        box = boxes[lab - 1]
        lab_mask = gap[box] & (labels[box] == lab)
        part, count = ndimage.label(lab_mask)
        comp[box][lab_mask] = part[lab_mask] + next_id - 1
        comp_commune.extend([int(lab)] * count)
        next_id += count
    n_comp = next_id - 1
    columns = ["rank", "people", "cells", "area_m2", "commune", "geometry"]
    if n_comp == 0:
        return gpd.GeoDataFrame({c: [] for c in columns[:-1]}, geometry=[], crs=grid.crs)
    people = np.bincount(comp.ravel(), weights=pop.ravel(), minlength=n_comp + 1)
    cells = np.bincount(comp.ravel(), minlength=n_comp + 1)
    pieces: dict[int, list[object]] = {}
    for geom, value in shapes(comp, mask=comp > 0, connectivity=4, transform=grid.transform):
        pieces.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    ids = [i for i in range(1, n_comp + 1) if people[i] > min_people]
    geoms = [shapely.union_all(pieces[i]) for i in ids]
    frame = gpd.GeoDataFrame({
        "people": people[ids], "cells": cells[ids],
        "area_m2": cells[ids] * grid.cell_x_m * grid.cell_y_m,
        "commune": [names[comp_commune[i] - 1] for i in ids],
    }, geometry=geoms, crs=grid.crs)
    frame = frame.sort_values("people", ascending=False, kind="stable").reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    log.info("%d gap polygons, %.0f people uncovered", len(frame), frame["people"].sum())
    return frame
