"""Per-commune flood exposure from a depth raster (pure function, no I/O).

All geometry work happens in the depth raster's projected CRS (metres; EPSG:9210 for
Can Tho); inputs in other CRSs are reprojected. Areas are km², lengths km.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from spp.crs import require_projected
from spp.errors import CRSError, RasterError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    from affine import Affine

__all__ = ["DEPTH_CLASSES_M", "assess_exposure", "class_label"]

logger = logging.getLogger(__name__)

DEPTH_CLASSES_M: tuple[tuple[float, float], ...] = (
    (0.1, 0.3), (0.3, 0.5), (0.5, 1.0), (1.0, float("inf")),
)
"""Depth classes (m, lower bound inclusive, upper exclusive) reported per commune."""


def class_label(lo: float, hi: float) -> str:
    """Column suffix for a depth class, e.g. ``0.1-0.3m`` or ``>1.0m``."""
    return f">{lo:g}m" if np.isinf(hi) else f"{lo:g}-{hi:g}m"


def _sample(depth: np.ndarray, transform: Affine, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    inv = ~transform
    cols, rows = inv * (x, y)
    r = np.floor(rows).astype(np.int64)
    c = np.floor(cols).astype(np.int64)
    ok = (r >= 0) & (r < depth.shape[0]) & (c >= 0) & (c < depth.shape[1])
    out = np.zeros(x.shape, dtype=np.float64)
    vals = depth[r[ok], c[ok]].astype(np.float64)
    out[ok] = np.where(np.isfinite(vals), vals, 0.0)
    return out


def _to(gdf: gpd.GeoDataFrame, crs: Any, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise CRSError(f"{what} layer has no CRS; set one before exposure analysis")
    return gdf.to_crs(crs)


def assess_exposure(
    depth_m: np.ndarray,
    communes: gpd.GeoDataFrame,
    *,
    transform: Affine,
    crs: Any,
    buildings: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    assets: gpd.GeoDataFrame | None = None,
    commune_id: str = "commune_id",
    commune_name: str = "name",
    population_field: str = "population",
    asset_name: str = "name",
    flooded_depth_m: float = 0.1,
    impassable_depth_m: float = 0.3,
    classes: tuple[tuple[float, float], ...] = DEPTH_CLASSES_M,
) -> pd.DataFrame:
    """Flood exposure per commune.

    Parameters
    ----------
    depth_m : numpy.ndarray
        2-D water depth in metres (NaN or negative = no data / dry) on the grid given by
        ``transform`` and ``crs``.
    communes : GeoDataFrame
        Commune (xã/phường) polygons with ``commune_id`` and ``commune_name``; any CRS.
    transform : affine.Affine
        Depth grid transform.
    crs : pyproj.CRS or str
        Projected CRS in metres of the depth grid (e.g. EPSG:9210).
    buildings : GeoDataFrame, optional
        Buildings (polygons or points) with ``population_field``; a building is hit
        when the depth at its representative point is ≥ ``flooded_depth_m``.
    roads : GeoDataFrame, optional
        Road lines; length where depth > ``impassable_depth_m`` is reported (km),
        sampled every half cell.
    assets : GeoDataFrame, optional
        Critical point assets (schools, hospitals, substations…) with ``asset_name``.
    flooded_depth_m, impassable_depth_m : float
        Depth thresholds in metres.
    classes : tuple of (lo, hi)
        Depth classes in metres for the area breakdown.

    Returns
    -------
    pandas.DataFrame
        One row per commune, columns ``commune_id``, ``name``, ``area_km2``,
        ``flooded_km2``, ``flooded_share`` (0–1), ``flooded_km2_<class>`` per class,
        ``people_exposed``, ``buildings_flooded``, ``road_km_impassable``,
        ``assets_hit`` (names joined by "; ") and ``assets_hit_count``.

    Raises
    ------
    RasterError
        ``depth_m`` not 2-D.
    CRSError
        Geographic depth CRS, or a layer without CRS.
    """
    import pandas as pd
    import shapely
    from pyproj import CRS
    from rasterio.features import rasterize

    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise RasterError(f"depth must be a 2-D array, got shape {depth.shape}")
    pcrs = require_projected(CRS.from_user_input(crs), source="depth raster")
    for col in (commune_id, commune_name):
        if col not in communes.columns:
            raise RasterError(f"communes layer lacks column {col!r}")
    com = _to(communes, pcrs, "communes").reset_index(drop=True)
    n = len(com)
    cell_km2 = abs(transform.a * transform.e) / 1e6
    zone = rasterize([(g, k + 1) for k, g in enumerate(com.geometry) if g is not None],
                     out_shape=depth.shape, transform=transform, fill=0, dtype="int32")
    d = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
    out = pd.DataFrame({
        commune_id: com[commune_id].to_numpy(),
        "name": com[commune_name].to_numpy(),
        "area_km2": com.geometry.area.to_numpy() / 1e6,
    })

    def per_zone(mask: np.ndarray) -> np.ndarray:
        return np.bincount(zone[mask], minlength=n + 1)[1:] * cell_km2

    out["flooded_km2"] = per_zone(d >= flooded_depth_m)
    out["flooded_share"] = np.where(out["area_km2"] > 0, out["flooded_km2"] / out["area_km2"], 0.0)
    for lo, hi in classes:
        out[f"flooded_km2_{class_label(lo, hi)}"] = per_zone((d >= lo) & (d < hi))

    def commune_of(points: Any) -> np.ndarray:
        tree = shapely.STRtree(com.geometry.to_numpy())
        pi, ci = tree.query(points, predicate="within")
        owner = np.full(len(points), -1, dtype=np.int64)
        owner[pi] = ci
        return owner

    people: np.ndarray = np.zeros(n)
    nbuild: np.ndarray = np.zeros(n, dtype=np.int64)
    if buildings is not None and len(buildings):
        b = _to(buildings, pcrs, "buildings")
        pts = b.geometry.representative_point().to_numpy()
        hit = _sample(d, transform, shapely.get_x(pts), shapely.get_y(pts)) >= flooded_depth_m
        owner = commune_of(pts)
        sel = hit & (owner >= 0)
        pop = b[population_field].fillna(0).to_numpy(float) if population_field in b else 0.0
        people = np.bincount(owner[sel], weights=np.broadcast_to(pop, hit.shape)[sel],
                             minlength=n)
        nbuild = np.bincount(owner[sel], minlength=n)
    out["people_exposed"] = np.round(people).astype(np.int64)
    out["buildings_flooded"] = nbuild.astype(np.int64)

    road_km = np.zeros(n)
    if roads is not None and len(roads):
        r = _to(roads, pcrs, "roads")
        step = abs(transform.a) / 2.0
        lines = shapely.line_merge(r.geometry.to_numpy())
        seg = shapely.segmentize(lines, step)
        coords, index = shapely.get_coordinates(seg, return_index=True)
        if len(coords) > 1:
            # midpoint of each consecutive pair on the same line carries that piece's length
            same = index[1:] == index[:-1]
            a, bpt = coords[:-1][same], coords[1:][same]
            mid = (a + bpt) / 2.0
            length = np.hypot(*(bpt - a).T)
            deep = _sample(d, transform, mid[:, 0], mid[:, 1]) > impassable_depth_m
            owner = commune_of(shapely.points(mid[deep]))
            ok = owner >= 0
            road_km = np.bincount(owner[ok], weights=length[deep][ok], minlength=n) / 1000.0
    out["road_km_impassable"] = road_km

    names: list[list[str]] = [[] for _ in range(n)]
    if assets is not None and len(assets):
        a_ = _to(assets, pcrs, "assets")
        pts = a_.geometry.representative_point().to_numpy()
        hit = _sample(d, transform, shapely.get_x(pts), shapely.get_y(pts)) >= flooded_depth_m
        owner = commune_of(pts)
        labels = a_[asset_name].astype(str).to_numpy() if asset_name in a_ else a_.index.astype(str)
        for k in np.nonzero(hit & (owner >= 0))[0]:
            names[owner[k]].append(str(labels[k]))
    out["assets_hit"] = ["; ".join(sorted(v)) for v in names]
    out["assets_hit_count"] = [len(v) for v in names]
    logger.info("exposure: %d communes, %.2f km² flooded, %d people", n,
                float(out["flooded_km2"].sum()), int(out["people_exposed"].sum()))
    return out
