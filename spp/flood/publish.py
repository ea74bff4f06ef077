"""Flood results as versioned layers: ``flood_runs``, ``flood_exposure``, ``flood_extents``.

How runs accumulate
-------------------
The store versions a layer as a whole: every load replaces the live rows and keeps the old
ones as history. A run therefore *appends*: :func:`publish_run` reads the live rows, adds
the new run's rows and loads the union as the next version. So the live layer always holds
every run (any two can be compared, the IOC reads the latest with one filter), each
version records which runs existed at that time, and ``spp layers rollback`` withdraws the
latest run. A session advisory lock serialises concurrent publishers (a CLI run and an OGC
job) so that neither loses the other's rows. The three layers are loaded one after the
other, ``flood_runs`` last: a run listed there has its exposure and extents stored.
The price is that each version copies all earlier runs (storage grows with runs²); trim
old versions or start a fresh layer when that matters.

Extents are polygonised from the depth grid in its projected CRS (EPSG:9210, metres), then
stored in EPSG:4326 like every layer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from spp.errors import LayerNotFoundError
from spp.flood.exposure import DEPTH_CLASSES_M, class_label

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    from affine import Affine

    from spp.catalog import Catalog

__all__ = [
    "CLASS_COLUMNS",
    "COMPARE_COLUMNS",
    "compare_exposure",
    "exposure_rows",
    "extent_polygons",
    "publish_run",
    "read_run_exposure",
    "read_runs",
]

logger = logging.getLogger(__name__)

CLASS_COLUMNS: dict[str, str] = {
    "0.1-0.3m": "0_1_0_3", "0.3-0.5m": "0_3_0_5", "0.5-1m": "0_5_1", ">1m": "gt_1",
}
"""Depth-class label (:func:`spp.flood.exposure.class_label`) → column suffix in
``flood_exposure`` (``flooded_km2_<suffix>``, ``share_<suffix>``)."""

COMPARE_COLUMNS = ("flooded_km2", "flooded_share", "people_exposed", "buildings_flooded",
                   "road_km_impassable", "assets_hit_count")
"""Per-commune quantities that :func:`compare_exposure` differences."""

_LOCK = "spp.flood.publish"


def extent_polygons(
    depth_m: np.ndarray,
    transform: Affine,
    crs: Any,
    *,
    classes: Sequence[tuple[float, float]] = DEPTH_CLASSES_M,
) -> gpd.GeoDataFrame:
    """One MultiPolygon per depth class of ``depth_m`` (pure; no I/O).

    Parameters
    ----------
    depth_m : numpy.ndarray
        2-D depth in metres (NaN = no data) on the grid of ``transform``.
    transform : affine.Affine
        Grid transform, projected CRS in metres.
    crs : pyproj.CRS or str
        Projected CRS of the grid (e.g. EPSG:9210).
    classes : sequence of (lo, hi)
        Depth classes in metres, ``lo`` inclusive, ``hi`` exclusive.

    Returns
    -------
    GeoDataFrame
        Columns ``depth_class``, ``depth_min_m``, ``depth_max_m`` (NaN when open),
        ``area_km2`` (cells × cell area) and MultiPolygon geometry in ``crs``; classes
        with no cell are left out. Cell edges are kept exactly, so the polygon area equals
        the cell count times the cell area.
    """
    import geopandas as gpd
    import shapely
    from rasterio.features import shapes

    d = np.where(np.isfinite(depth_m), depth_m, 0.0).astype(np.float32)
    code = np.zeros(d.shape, dtype=np.uint8)
    for k, (lo, hi) in enumerate(classes):
        code[(d >= lo) & (d < hi)] = k + 1
    cell_km2 = abs(transform.a * transform.e) / 1e6
    counts = np.bincount(code.ravel(), minlength=len(classes) + 1)
    parts: dict[int, list[Any]] = {k: [] for k in range(1, len(classes) + 1)}
    for geom, value in shapes(code, mask=code > 0, transform=transform, connectivity=4):
        parts[int(value)].append(shapely.geometry.shape(geom))
    rows = []
    for k, (lo, hi) in enumerate(classes, start=1):
        if not parts[k]:
            continue
        multi = shapely.MultiPolygon(parts[k])
        if not multi.is_valid:
            multi = _as_multipolygon(shapely.make_valid(multi))
        rows.append({"depth_class": class_label(lo, hi), "depth_min_m": lo,
                     "depth_max_m": hi if np.isfinite(hi) else np.nan,
                     "area_km2": float(counts[k] * cell_km2), "geometry": multi})
    if not rows:
        return gpd.GeoDataFrame({"depth_class": [], "depth_min_m": [], "depth_max_m": [],
                                 "area_km2": []}, geometry=[], crs=crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def _as_multipolygon(geom: Any) -> Any:
    import shapely

    polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    flat = [p for g in polys for p in shapely.get_parts(g)]
    return shapely.MultiPolygon(flat)


def exposure_rows(run_id: str, exposure: pd.DataFrame) -> pd.DataFrame:
    """``flood_exposure`` rows of one run from :func:`spp.flood.exposure.assess_exposure`
    output (columns ``ma_xa``, ``name`` …); shares are of the commune area, 0–1."""
    import pandas as pd

    area = exposure["area_km2"].to_numpy(float)
    out = pd.DataFrame({
        "exposure_id": [f"{run_id}/{c}" for c in exposure["ma_xa"]],
        "run_id": run_id,
        "ma_xa": exposure["ma_xa"].astype(str).to_numpy(),
        "ten": exposure["name"].astype(str).to_numpy(),
        "area_km2": area,
        "flooded_km2": exposure["flooded_km2"].to_numpy(float),
        "flooded_share": np.clip(exposure["flooded_share"].to_numpy(float), 0.0, 1.0),
    })
    for label, suffix in CLASS_COLUMNS.items():
        km2 = exposure[f"flooded_km2_{label}"].to_numpy(float)
        out[f"flooded_km2_{suffix}"] = km2
        out[f"share_{suffix}"] = np.clip(np.where(area > 0, km2 / np.where(area > 0, area, 1), 0.0), 0, 1)
    out["people_exposed"] = exposure["people_exposed"].astype("int64").to_numpy()
    out["buildings_flooded"] = exposure["buildings_flooded"].astype("int64").to_numpy()
    out["road_km_impassable"] = exposure["road_km_impassable"].to_numpy(float)
    # a JSON list, never NULL: the binary COPY path cannot take an all-NULL text column
    out["assets_hit"] = [json.dumps(v.split("; ") if v else [], ensure_ascii=False)
                         for v in exposure["assets_hit"]]
    out["assets_hit_count"] = exposure["assets_hit_count"].astype("int64").to_numpy()
    return out


def _live(db_url: str, catalog: Catalog, name: str) -> Any:
    from spp.store.query import read_layer

    try:
        return read_layer(db_url, catalog.get(name))
    except LayerNotFoundError:
        return None


def _append_and_load(db_url: str, catalog: Catalog, name: str, new: Any, *, run_id: str,
                     geometry: bool) -> None:
    import geopandas as gpd
    import pandas as pd
    from pyproj import CRS

    from spp.store.load import load_frame
    from spp.validate import validate_frame

    spec = catalog.get(name)
    old = _live(db_url, catalog, name)
    if old is not None and len(old):
        old = old[old["run_id"] != run_id]
        frame = pd.concat([old, new], ignore_index=True)
        if geometry:
            frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
    else:
        frame = new
    checked = validate_frame(frame, spec, source=f"run {run_id}", crs=CRS.from_epsg(4326))
    rows = checked.frame
    sha = hashlib.sha256(f"{name}|{run_id}|{len(frame)}".encode()).hexdigest()
    load_frame(db_url, spec, rows, source=f"spp flood run {run_id}", sha256=sha,
               crs_in="EPSG:4326" if geometry else None, warnings=checked.warnings,
               note=f"flood run {run_id} appended")


def publish_run(
    db_url: str,
    catalog: Catalog,
    record: dict[str, Any],
    exposure: pd.DataFrame,
    extents: gpd.GeoDataFrame,
) -> None:
    """Append one run to ``flood_exposure``, ``flood_extents`` and ``flood_runs``.

    Parameters
    ----------
    record : dict
        The ``flood_runs`` row (keys = the layer's fields).
    exposure : DataFrame
        :func:`spp.flood.exposure.assess_exposure` output.
    extents : GeoDataFrame
        :func:`extent_polygons` output in a projected CRS; reprojected to EPSG:4326.

    Raises
    ------
    LoadValidationError, DatabaseError
        Nothing of the failing layer is changed (layers loaded before stay loaded).
    """
    import geopandas as gpd
    import pandas as pd
    import psycopg

    run_id = str(record["run_id"])
    ext = extents.to_crs(4326)
    ext_rows = gpd.GeoDataFrame({
        "extent_id": [f"{run_id}/{c}" for c in ext["depth_class"]],
        "run_id": run_id,
        "depth_class": ext["depth_class"].to_numpy(),
        "depth_min_m": ext["depth_min_m"].to_numpy(float),
        "depth_max_m": [None if not np.isfinite(v) else float(v) for v in ext["depth_max_m"]],
        "area_km2": ext["area_km2"].to_numpy(float),
    }, geometry=ext.geometry.to_numpy(), crs=4326)
    fields = [f.name for f in catalog.get("flood_runs").fields]
    runs_row = pd.DataFrame([{k: record.get(k) for k in fields}])
    with psycopg.connect(db_url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(hashtext(%s))", (_LOCK,))
        try:
            _append_and_load(db_url, catalog, "flood_exposure", exposure_rows(run_id, exposure),
                             run_id=run_id, geometry=False)
            if len(ext_rows):
                _append_and_load(db_url, catalog, "flood_extents", ext_rows, run_id=run_id,
                                 geometry=True)
            _append_and_load(db_url, catalog, "flood_runs", runs_row, run_id=run_id,
                             geometry=False)
        finally:
            lock.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_LOCK,))
    logger.info("published flood run %s", run_id)


def read_runs(db_url: str, catalog: Catalog) -> pd.DataFrame:
    """The live ``flood_runs`` rows, oldest first (empty when no run was stored)."""
    import pandas as pd

    frame = _live(db_url, catalog, "flood_runs")
    if frame is None:
        return pd.DataFrame(columns=[f.name for f in catalog.get("flood_runs").fields])
    return frame.sort_values("started_at").reset_index(drop=True)


def read_run_exposure(db_url: str, catalog: Catalog, run_id: str) -> pd.DataFrame:
    """``flood_exposure`` rows of ``run_id``.

    Raises
    ------
    LayerNotFoundError
        No run with that id (the message lists the stored ones).
    """
    from psycopg import sql

    from spp.store.query import read_layer

    frame = read_layer(db_url, catalog.get("flood_exposure"),
                       where=sql.SQL("run_id = {}").format(sql.Literal(run_id)))
    if not len(frame):
        known = list(read_runs(db_url, catalog)["run_id"])
        raise LayerNotFoundError(f"no flood run {run_id!r}; stored runs: {', '.join(known) or 'none'}")
    return frame.reset_index(drop=True)


def compare_exposure(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per-commune differences B − A of two runs' exposure rows (pure).

    Returns
    -------
    DataFrame
        ``ma_xa``, ``ten`` and for each of :data:`COMPARE_COLUMNS` the columns
        ``<q>_a``, ``<q>_b`` and ``<q>_diff`` (km², 0–1 share, persons, counts, km);
        communes missing from one run count as 0 there. Sorted by the largest change in
        people, then flooded area.
    """
    import pandas as pd

    cols = ["ma_xa", "ten", *COMPARE_COLUMNS]
    merged = pd.merge(a[cols], b[cols], on="ma_xa", how="outer", suffixes=("_a", "_b"))
    out = pd.DataFrame({"ma_xa": merged["ma_xa"],
                        "ten": merged["ten_a"].fillna(merged["ten_b"])})
    for q in COMPARE_COLUMNS:
        va = merged[f"{q}_a"].fillna(0).astype(float)
        vb = merged[f"{q}_b"].fillna(0).astype(float)
        out[f"{q}_a"], out[f"{q}_b"], out[f"{q}_diff"] = va, vb, vb - va
    order = np.lexsort((-out["flooded_km2_diff"].abs().to_numpy(),
                        -out["people_exposed_diff"].abs().to_numpy()))
    return out.iloc[order].reset_index(drop=True)
