"""Public API of :mod:`spp.flood`: static and dynamic inundation, scenarios, exposure.

Call these from the CLI, notebooks, the OGC Process and DB storage:

* :func:`inundate` (array) / :func:`inundate_raster` (GeoTIFF → COG): static level fill.
* :func:`simulate`: the local-inertial model on :class:`DynamicInputs`.
* :func:`load_scenario` + :func:`prepare_inputs` + :func:`run_scenario`: a YAML
  scenario over a :class:`spp.terrain.Terrain` with pumps, gates and land use.
* :func:`assess_exposure`: per-commune exposure table from a depth raster.

Grids are projected in metres (EPSG:9210 VN-2000 / TM-3 105°45′ by default), levels in
metres above Hòn Dấu, depths in metres.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from spp.errors import ScenarioError
from spp.flood.dynamic import (
    DEFAULT_THRESHOLDS_M,
    DynamicInputs,
    FloodResult,
    MassBalance,
    PointInflow,
    Pump,
    TimeSeries,
    simulate,
)
from spp.flood.exposure import DEPTH_CLASSES_M, assess_exposure
from spp.flood.scenario import Scenario, bundled_scenarios, load_scenario
from spp.flood.static import StaticResult, inundate, inundate_raster
from spp.terrain import Terrain

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "DEFAULT_THRESHOLDS_M",
    "DEPTH_CLASSES_M",
    "DynamicInputs",
    "FloodResult",
    "MassBalance",
    "PointInflow",
    "Pump",
    "Scenario",
    "StaticResult",
    "TimeSeries",
    "assess_exposure",
    "bundled_scenarios",
    "inundate",
    "inundate_raster",
    "load_scenario",
    "prepare_inputs",
    "run_scenario",
    "simulate",
]

logger = logging.getLogger(__name__)


def _cell_centres(terrain: Terrain) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = terrain.shape
    t = terrain.transform
    xs = t.c + (np.arange(nx) + 0.5) * t.a
    ys = t.f + (np.arange(ny) + 0.5) * t.e
    return xs, ys


def _disk(terrain: Terrain, x: float, y: float, radius_m: float) -> np.ndarray:
    xs, ys = _cell_centres(terrain)
    r = max(radius_m, terrain.cell_size_m * 0.75)
    return ((xs[None, :] - x) ** 2 + (ys[:, None] - y) ** 2) <= r * r


def _points_xy(gdf: gpd.GeoDataFrame, terrain: Terrain) -> np.ndarray:
    from spp.errors import CRSError

    if gdf.crs is None:
        raise CRSError("point layer has no CRS; set one (e.g. EPSG:4326)")
    g = gdf.to_crs(terrain.crs).geometry.representative_point()
    return np.column_stack([g.x.to_numpy(), g.y.to_numpy()])


def _tidal_river(z: np.ndarray, boundary: np.ndarray, lowest_level_m: float,
                 depth_m: float | None) -> np.ndarray:
    """``boundary`` plus the water 4-connected to it that is deeper than ``depth_m`` at
    ``lowest_level_m`` (the rest of a tidal river the burned reaches do not cover).
    ``z`` has NaN on walls, so the growth never crosses a closed gate."""
    if depth_m is None or not boundary.any():
        return boundary
    try:
        deep = inundate(z, lowest_level_m - depth_m, boundary=boundary, connectivity=4)
    except ScenarioError:
        return boundary  # no ground that deep
    extra = np.isfinite(deep) & (deep > 0)
    logger.info("tidal river: %d cells deeper than %.1f m at the lowest tide join the boundary",
                int((extra & ~boundary).sum()), depth_m)
    return np.asarray(boundary | extra, dtype=bool)


def prepare_inputs(
    scenario: Scenario,
    terrain: Terrain,
    *,
    pumps: gpd.GeoDataFrame | None = None,
    gates: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    landuse_field: str = "landuse",
) -> DynamicInputs:
    """Turn a scenario and layers into :class:`DynamicInputs` on ``terrain``'s grid.

    Parameters
    ----------
    scenario : Scenario
        Forcing and options (see :mod:`spp.flood.scenario`).
    terrain : Terrain
        Model grid with dikes and channels burned in and boundary cells flagged
        (:func:`spp.terrain.build_terrain`).
    pumps : GeoDataFrame, optional
        Points with ``capacity_m3s`` (and ``pump_id``/``name``). Each pump drains the
        cells within ``scenario.pump_drainage_radius_m`` that are nearer to it than to
        any other pump.
    gates : GeoDataFrame, optional
        Sluice gate points with ``gate_id`` and optional ``width_m``; closed gates
        become walls (default state from ``scenario.gates``, per-gate overrides).
    landuse : GeoDataFrame, optional
        Polygons whose ``landuse_field`` selects Manning's n from the scenario.

    Raises
    ------
    ScenarioError
        No boundary cells, pumps without capacity, unknown override gate ids.
    """
    from pyproj import Transformer

    if not terrain.boundary.any():
        raise ScenarioError("the terrain has no river boundary cells; burn rivers first")
    z = terrain.elevation_m.copy()
    to_grid = Transformer.from_crs("EPSG:4326", terrain.crs, always_xy=True)
    for b in scenario.breaches:
        x, y = to_grid.transform(b.lon, b.lat)
        near = _disk(terrain, x, y, b.width_m / 2.0) & (z > b.invert_level_m)
        if not near.any():
            logger.warning("breach %s lowers no cell (no ground above %.2f m within %.0f m)",
                           b.name, b.invert_level_m, b.width_m / 2)
        z[near] = b.invert_level_m
    manning: np.ndarray | float = scenario.manning.default
    if landuse is not None and len(landuse) and scenario.manning.by_landuse:
        from rasterio.features import rasterize

        lu = landuse.to_crs(terrain.crs)
        classes = {c: k + 1 for k, c in enumerate(sorted(scenario.manning.by_landuse))}
        shapes = [(g, classes[c]) for g, c in zip(lu.geometry, lu[landuse_field]) if c in classes]
        codes = rasterize(shapes, out_shape=terrain.shape, transform=terrain.transform,
                          fill=0, dtype="int32") if shapes else np.zeros(terrain.shape, np.int32)
        lut = np.array([scenario.manning.default]
                       + [scenario.manning.by_landuse[c] for c in sorted(classes)], np.float32)
        manning = lut[codes]
    walls = np.zeros(terrain.shape, dtype=bool)
    if gates is not None and len(gates):
        ids = [str(v) for v in gates.get("gate_id", gates.index)]
        unknown = set(scenario.gate_overrides) - set(ids)
        if unknown:
            raise ScenarioError(f"gate_overrides name unknown gate ids: {sorted(unknown)}")
        widths = gates["width_m"].to_numpy(float) if "width_m" in gates else np.full(len(ids), 0.0)
        for gid, (x, y), w in zip(ids, _points_xy(gates, terrain), widths):
            if scenario.gate_overrides.get(gid, scenario.gates) == "closed":
                walls |= _disk(terrain, x, y, w / 2.0)
    pump_list: list[Pump] = []
    if pumps is not None and len(pumps) and scenario.pumps == "on":
        if "capacity_m3s" not in pumps:
            raise ScenarioError("pump layer lacks column 'capacity_m3s'")
        from scipy.spatial import cKDTree

        xy = _points_xy(pumps, terrain)
        xs, ys = _cell_centres(terrain)
        gx, gy = np.meshgrid(xs, ys)
        dist, idx = cKDTree(xy).query(np.column_stack([gx.ravel(), gy.ravel()]))
        idx = idx.reshape(terrain.shape)
        inside = dist.reshape(terrain.shape) <= scenario.pump_drainage_radius_m
        names = [str(v) for v in pumps.get("pump_id", pumps.get("name", pumps.index))]
        for k, (name, cap) in enumerate(zip(names, pumps["capacity_m3s"].to_numpy(float))):
            pump_list.append(Pump(name, float(cap) * scenario.pump_capacity_factor,
                                  inside & (idx == k)))
    tide = scenario.tide
    boundary = _tidal_river(np.where(walls, np.nan, z), terrain.boundary, min(tide.level_m),
                            scenario.tidal_river_depth_m)
    # Hot start: channels connected to the river hold water at the first tide level, as
    # they do in reality; a dry start would send a dam-break wave down every channel.
    initial = None
    if scenario.hot_start:
        try:
            initial = inundate(z, float(tide.level_m[0]), boundary=boundary)
            initial = np.where(np.isfinite(initial), initial, 0.0).astype(np.float32)
        except ScenarioError:
            initial = None  # first level below all ground: start dry
    rain = None
    if scenario.rain is not None:
        rain = TimeSeries(np.asarray(scenario.rain.times_h) * 3600.0,
                          np.asarray(scenario.rain.mm_per_h), stepwise=True)
    return DynamicInputs(
        elevation_m=z,
        cell_size_m=terrain.cell_size_m,
        manning_n=manning,
        boundary=boundary,
        boundary_level_m=TimeSeries(np.asarray(tide.times_h) * 3600.0, np.asarray(tide.level_m)),
        rain_mm_h=rain,
        pumps=pump_list,
        walls=walls,
        initial_depth_m=initial,
    )


def run_scenario(
    scenario: Scenario,
    terrain: Terrain,
    *,
    pumps: gpd.GeoDataFrame | None = None,
    gates: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> FloodResult:
    """Run ``scenario`` on ``terrain`` (see :func:`prepare_inputs` for the layers).

    Returns
    -------
    FloodResult
        On ``terrain``'s grid; boundary (river) cells and cells wet at the start (the
        hot start's channels and sea, see :attr:`Scenario.hot_start`) are set to 0 depth
        in ``max_depth_m`` so that outputs show flooding of land, not permanent water.
    """
    if abs(terrain.cell_size_m - scenario.resolution_m) > 1e-6:
        logger.info("terrain is %.1f m, scenario asks %.1f m; using the terrain grid",
                    terrain.cell_size_m, scenario.resolution_m)
    inputs = prepare_inputs(scenario, terrain, pumps=pumps, gates=gates, landuse=landuse)
    result = simulate(inputs, scenario.duration_h * 3600.0,
                      thresholds_m=tuple(scenario.thresholds_m), progress=progress)
    river = np.asarray(inputs.boundary if inputs.boundary is not None else terrain.boundary).copy()
    if inputs.initial_depth_m is not None:
        # channels and sea held water from the start (hot start): permanent water, not flood
        river |= np.asarray(inputs.initial_depth_m) > 0
    result.max_depth_m[river] = 0.0
    result.arrival_time_s[river] = np.nan
    for a in result.duration_s.values():
        a[river] = 0.0
    mb = result.mass_balance
    logger.info("scenario %s: %s", scenario.name, mb.as_dict())
    return replace(result)
