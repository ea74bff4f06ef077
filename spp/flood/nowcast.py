"""Flood nowcast: "what is under water now", from the latest water-level readings.

The static model (:mod:`spp.flood.static`, ``r.lake`` semantics) with one level per gauge
instead of one for the city. Each tidal boundary cell takes the latest level of its nearest
usable gauge (Thiessen polygons in the grid's projected CRS); water then spreads from every
boundary cell through cells whose ground is below that cell's level. Where the water of two
gauges meets, a cell takes the highest level that reaches it: a cell is wet at level L when
some boundary cell with level L connects to it through ground below L.

Usable gauges are ``online`` and read within ``max_age_h`` of the newest reading (the
sample's readings are from 15 Oct 2025, so the age is measured against the newest reading,
not the wall clock; the run records that time). Levels are metres above the Hòn Dấu datum,
like the DEM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from spp.errors import RasterError, ScenarioError

if TYPE_CHECKING:
    from pathlib import Path

    import geopandas as gpd
    import pandas as pd
    from affine import Affine

    from spp.catalog import Catalog
    from spp.flood.city import CityInputs, RunOutcome
    from spp.settings import Settings

__all__ = ["Gauges", "boundary_levels", "inundate_levels", "run_city_nowcast", "usable_gauges"]

SENSORS = "water_level_sensors"


@dataclass(frozen=True)
class Gauges:
    """The gauges a nowcast uses (EPSG:4326 points with ``sensor_id``, ``name``, ``level_m``,
    ``reading_time``), the newest reading time, and the ids left out with the reason."""

    used: gpd.GeoDataFrame
    newest: datetime
    skipped: dict[str, str]


def usable_gauges(sensors: gpd.GeoDataFrame, *, max_age_h: float = 3.0,
                  include_offline: bool = False) -> Gauges:
    """Gauges whose latest reading can drive a nowcast.

    Raises
    ------
    ScenarioError
        ``max_age_h`` not positive, or no gauge is usable (the message says why each was left out).
    """
    import pandas as pd

    if not max_age_h > 0:
        raise ScenarioError(f"max_age_h must be positive, got {max_age_h}")
    if sensors.empty:
        raise ScenarioError(f"the {SENSORS} layer is empty: no reading to start a nowcast from")
    times = pd.to_datetime(sensors["reading_time"], utc=True)
    has_level = sensors["level_m"].notna() & times.notna()
    if not has_level.any():
        raise ScenarioError(f"no gauge in {SENSORS} has both level_m and reading_time")
    newest = times[has_level].max()
    skipped: dict[str, str] = {}
    keep = []
    for i, row in enumerate(sensors.itertuples(index=False)):
        sid = str(row.sensor_id)
        if not has_level.iloc[i]:
            skipped[sid] = "no level or reading time"
        elif not include_offline and getattr(row, "status", "online") == "offline":
            skipped[sid] = "offline"
        elif (newest - times.iloc[i]).total_seconds() > max_age_h * 3600.0:
            skipped[sid] = f"reading older than {max_age_h:g} h before the newest"
        else:
            keep.append(i)
    if not keep:
        raise ScenarioError(f"no usable gauge in {SENSORS}: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
                            + " (use --include-offline or a larger --max-age-h)")
    return Gauges(sensors.iloc[keep].copy(), newest.to_pydatetime(), skipped)


def boundary_levels(boundary: np.ndarray, transform: Affine, gauge_xy: np.ndarray,
                    gauge_levels: np.ndarray) -> np.ndarray:
    """float32 level (m) of each boundary cell from its nearest gauge (cell centres and
    ``gauge_xy`` in the grid's projected CRS, metres); NaN off the boundary."""
    from scipy.spatial import cKDTree

    xy = np.asarray(gauge_xy, dtype=np.float64).reshape(-1, 2)
    lv = np.asarray(gauge_levels, dtype=np.float64).ravel()
    if len(xy) == 0 or len(xy) != len(lv):
        raise ScenarioError(f"need one level per gauge, got {len(xy)} gauges and {len(lv)} levels")
    out = np.full(boundary.shape, np.nan, dtype=np.float32)
    rows, cols = np.nonzero(boundary)
    if len(rows) == 0:
        return out
    x = transform.c + (cols + 0.5) * transform.a + (rows + 0.5) * transform.b
    y = transform.f + (cols + 0.5) * transform.d + (rows + 0.5) * transform.e
    _, nearest = cKDTree(xy).query(np.column_stack([x, y]))
    out[rows, cols] = lv[nearest]
    return out


def inundate_levels(elevation_m: np.ndarray, source_levels: np.ndarray, *,
                    connectivity: int = 8) -> np.ndarray:
    """Depth (m, float32) of water spreading from source cells each with its own level.

    ``source_levels`` is NaN except on source cells (e.g. :func:`boundary_levels`). A cell
    is wet at the highest source level L that reaches it through cells with ground below
    L; depth = L − ground there, 0 on dry cells, NaN where the elevation is NaN. With one
    level everywhere this is :func:`spp.flood.static.inundate`.

    Raises
    ------
    RasterError
        Shapes differ, not 2-D or all nodata.
    ScenarioError
        Bad connectivity or no source cell.
    """
    from spp.flood import kernels

    z = np.ascontiguousarray(elevation_m, dtype=np.float32)
    src = np.asarray(source_levels, dtype=np.float32)
    if z.ndim != 2 or src.shape != z.shape:
        raise RasterError(f"elevation {z.shape} and source levels {src.shape} must be the same 2-D grid")
    if connectivity not in (4, 8):
        raise ScenarioError(f"connectivity must be 4 or 8, got {connectivity}")
    valid = np.isfinite(z)
    if not valid.any():
        raise RasterError("the elevation grid is nodata everywhere")
    is_src = np.isfinite(src)
    if not is_src.any():
        raise ScenarioError("no source cell has a water level")
    level = np.full(z.shape, np.nan, dtype=np.float32)
    wet = np.zeros(z.shape, dtype=bool)
    for lv in np.unique(src[is_src])[::-1]:  # highest first: a cell keeps the first level that reaches it
        seeds = np.argwhere(is_src & (src == lv) & ~wet).astype(np.int64)
        if not len(seeds):
            continue
        below = valid & ~wet & (z < lv)
        reached = kernels.fill_connected(below, seeds, connectivity)
        level[reached] = lv
        wet |= reached
    depth = np.where(wet, level - z, np.float32(0.0)).astype(np.float32)
    depth[~valid] = np.nan
    return depth


def run_city_nowcast(
    *,
    db_url: str,
    catalog: Catalog,
    settings: Settings,
    resolution_m: float = 50.0,
    connectivity: int = 8,
    max_age_h: float = 3.0,
    include_offline: bool = False,
    dem: Path | None = None,
    inputs: CityInputs | None = None,
    publish: bool = True,
) -> tuple[RunOutcome, Gauges]:
    """Nowcast the city from the latest gauge readings and store it like a static run
    (scenario ``nowcast-<time of the newest reading>``; the gauges and levels used are in
    the run's parameters).

    Raises
    ------
    ScenarioError
        No usable gauge; LayerNotFoundError when the sensors layer is not loaded.
    """
    from spp.flood.city import _finish, city_terrain, new_run_id, read_city_inputs
    from spp.store.query import read_layer
    from spp.terrain import write_raster

    started = datetime.now(UTC)
    sensors = read_layer(db_url, catalog.get(SENSORS))
    gauges = usable_gauges(sensors, max_age_h=max_age_h, include_offline=include_offline)
    inputs = inputs or read_city_inputs(db_url, catalog, settings, dem=dem)
    terrain = city_terrain(inputs, resolution_m=resolution_m)
    t0 = time.perf_counter()
    pts = gauges.used.to_crs(terrain.crs)
    xy = np.column_stack([pts.geometry.x, pts.geometry.y])
    levels = boundary_levels(terrain.boundary, terrain.transform, xy, gauges.used["level_m"].to_numpy())
    depth = inundate_levels(terrain.elevation_m, levels, connectivity=connectivity)
    wall_s = time.perf_counter() - t0
    depth[terrain.boundary & np.isfinite(depth)] = 0.0  # report land only, as static runs do
    name = f"nowcast-{gauges.newest:%Y%m%dT%H%MZ}"
    run_id = new_run_id(name, started)
    out_dir = settings.runs_dir / run_id
    out_dir.mkdir(parents=True, exist_ok=False)
    write_raster(out_dir / "max_depth_m.tif", depth, terrain, overviews=True)
    used: list[dict[str, Any]] = [
        {"sensor_id": str(r.sensor_id), "level_m": float(r.level_m),
         "reading_time": _iso(r.reading_time)} for r in gauges.used.itertuples(index=False)]
    lo, hi = min(g["level_m"] for g in used), max(g["level_m"] for g in used)
    outcome = _finish(
        run_id=run_id, kind="static", name=name,
        title=f"Nowcast from {len(used)} gauges at {gauges.newest:%Y-%m-%d %H:%M} UTC, {lo:g}–{hi:g} m",
        started=started,
        parameters={"gauges": used, "skipped": gauges.skipped, "max_age_h": max_age_h,
                    "include_offline": include_offline, "connectivity": connectivity,
                    "resolution_m": resolution_m, "epsg": 9210, "dem": inputs.dem.name,
                    "newest_reading": gauges.newest.isoformat()},
        depth=depth, terrain=terrain, inputs=inputs, out_dir=out_dir,
        cogs={"max_depth": f"{run_id}/max_depth_m.tif"}, db_url=db_url, catalog=catalog,
        publish=publish, extra={"level_m": hi, "wall_s": wall_s},
    )
    return outcome, gauges


def _iso(value: pd.Timestamp | datetime | str) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
