"""Analyst studies: the glue the notebooks call, on top of the stable pure APIs.

Each function reads what it needs from the store (or takes GeoDataFrames), runs
:mod:`spp.flood`, :mod:`spp.coverage` or :mod:`spp.broadband` on a small area (a few
communes, or one), and returns plain tables and rasters a notebook can plot. Nothing is
written to the database: stored runs are the job of ``spp flood|coverage|broadband run``.

Metric work is on EPSG:9210 grids (VN-2000 / TM-3 105°45′, metres); layers are read and
returned in EPSG:4326 unless a docstring says otherwise. Levels and elevations are metres
above the Hòn Dấu datum.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from spp.crs import METRIC_EPSG
from spp.errors import RasterError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from spp.broadband import ExtensionPlan
    from spp.catalog import Catalog
    from spp.coverage.los import Grid
    from spp.coverage.plan import PlanResult
    from spp.flood.dynamic import FloodResult
    from spp.terrain import Terrain

__all__ = [
    "Bounds",
    "CoverageStudy",
    "FibreStudy",
    "FloodComparison",
    "area_bounds_m",
    "bounds_to_lonlat",
    "clip_terrain",
    "compare_flood_scenarios",
    "coverage_study",
    "fibre_study",
    "read_dem_window",
    "read_layers",
    "select_communes",
]

log = logging.getLogger(__name__)
Bounds = tuple[float, float, float, float]
REACH_M = 5_000.0
"""Margin read around a commune for coverage: the UMa/UMi validity range of TR 38.901."""


def read_layers(
    db_url: str,
    names: Sequence[str],
    *,
    catalog: Catalog,
    bbox: Bounds | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Live layers by name as EPSG:4326 GeoDataFrames.

    Parameters
    ----------
    db_url : str
        libpq URL of the SPP database.
    names : sequence of str
        Catalogue layer names.
    catalog : Catalog
    bbox : tuple, optional
        (minx, miny, maxx, maxy) in EPSG:4326 degrees; only features intersecting it.

    Raises
    ------
    LayerNotFoundError
        A layer is unknown or not loaded.
    """
    from spp.store.query import read_layer

    return {n: read_layer(db_url, catalog.get(n), bbox=bbox) for n in names}


def select_communes(communes: gpd.GeoDataFrame, queries: str | Sequence[str]) -> gpd.GeoDataFrame:
    """The communes whose ``ten`` matches each query, with or without diacritics or prefix.

    "Ninh Kieu" finds "Phường Ninh Kiều"; a 5-digit code matches ``ma_xa``. Rows come in the
    order of ``queries``.

    Raises
    ------
    CommuneNotFoundError
        A query matches nothing or is ambiguous.
    """
    import pandas as pd

    from spp.names import match_name

    wanted = [queries] if isinstance(queries, str) else list(queries)
    rows = []
    for q in wanted:
        text = q.strip()
        if text.isdigit() and "ma_xa" in communes and text in set(communes["ma_xa"]):
            rows.append(communes[communes["ma_xa"] == text])
        else:
            rows.append(communes[communes["ten"] == match_name(text, list(communes["ten"]))])
    return pd.concat(rows).drop_duplicates(subset="ma_xa" if "ma_xa" in communes else None)


def area_bounds_m(area: gpd.GeoDataFrame, *, margin_m: float = 0.0,
                  epsg: int = METRIC_EPSG) -> Bounds:
    """(minx, miny, maxx, maxy) of ``area`` in EPSG:``epsg`` metres, grown by ``margin_m``."""
    b = area.to_crs(epsg).total_bounds
    return (float(b[0] - margin_m), float(b[1] - margin_m), float(b[2] + margin_m),
            float(b[3] + margin_m))


def bounds_to_lonlat(bounds_m: Bounds, *, epsg: int = METRIC_EPSG) -> Bounds:
    """Projected bounds (metres) → (minx, miny, maxx, maxy) in EPSG:4326 degrees."""
    from pyproj import Transformer

    tr = Transformer.from_crs(epsg, 4326, always_xy=True)
    return tuple(float(v) for v in tr.transform_bounds(*bounds_m))  # type: ignore[return-value]


def clip_terrain(terrain: Terrain, bounds_m: Bounds) -> Terrain:
    """The cells of ``terrain`` inside ``bounds_m`` (metres, the terrain's CRS), snapped outward.

    Raises
    ------
    RasterError
        The bounds miss the terrain.
    """
    from dataclasses import replace

    from rasterio.windows import from_bounds

    t = terrain.transform
    win = from_bounds(*bounds_m, transform=t).round_offsets(op="floor").round_lengths(op="ceil")
    r0, c0 = max(int(win.row_off), 0), max(int(win.col_off), 0)
    r1 = min(int(win.row_off + win.height), terrain.shape[0])
    c1 = min(int(win.col_off + win.width), terrain.shape[1])
    if r1 <= r0 or c1 <= c0:
        raise RasterError(f"bounds {bounds_m} lie outside the terrain")
    return replace(terrain, elevation_m=np.ascontiguousarray(terrain.elevation_m[r0:r1, c0:c1]),
                   boundary=np.ascontiguousarray(terrain.boundary[r0:r1, c0:c1]),
                   transform=t * t.translation(c0, r0))


# --------------------------------------------------------------------------- flood


@dataclass
class FloodComparison:
    """Several flood scenarios on one terrain.

    ``results``: scenario name → :class:`~spp.flood.FloodResult` (depths in metres on
    ``terrain``'s grid); ``exposure``: one row per scenario × commune (columns of
    :func:`~spp.flood.assess_exposure` plus ``scenario``); ``summary``: one row per
    scenario (``flooded_km2``, ``people_exposed``, ``buildings_flooded``,
    ``road_km_impassable``, ``max_depth_m``, ``mass_error_pct``, ``wall_s``).
    """

    terrain: Terrain
    results: dict[str, FloodResult]
    exposure: pd.DataFrame
    summary: pd.DataFrame


def compare_flood_scenarios(
    scenarios: Sequence[str],
    terrain: Terrain,
    *,
    communes: gpd.GeoDataFrame,
    layers: Mapping[str, gpd.GeoDataFrame],
    duration_h: float | None = None,
    progress: Callable[[str, float, float], None] | None = None,
) -> FloodComparison:
    """Run bundled (or YAML) scenarios on ``terrain`` and tabulate exposure per commune.

    Parameters
    ----------
    scenarios : sequence of str
        Bundled names (``spp flood scenarios``) or YAML paths.
    terrain : Terrain
        Model grid (EPSG:9210 metres) with rivers and dikes burned in, e.g.
        :func:`spp.terrain.build_terrain` then :func:`clip_terrain`.
    communes : GeoDataFrame
        Communes (``ma_xa``, ``ten``) to report on; any CRS.
    layers : mapping
        Optional ``pump_stations``, ``sluice_gates``, ``land_use`` (``label`` → Manning's n
        class), ``buildings`` (``population``), ``roads``.
    duration_h : float, optional
        Shorten every scenario to this many hours (quick looks).
    progress : callable, optional
        ``progress(scenario, t_s, total_s)``.
    """
    import pandas as pd

    from spp.flood import assess_exposure, load_scenario, run_scenario

    results: dict[str, FloodResult] = {}
    rows, tables = [], []
    landuse = layers.get("land_use")
    if landuse is not None and "label" in landuse and "landuse" not in landuse:
        landuse = landuse.assign(landuse=landuse["label"])
    cell_km2 = terrain.cell_size_m ** 2 / 1e6
    for name in scenarios:
        sc = load_scenario(name)
        if duration_h is not None:
            sc = sc.model_copy(update={"duration_h": float(duration_h)})
        cb = (lambda t, total, _n=sc.name: progress(_n, t, total)) if progress else None
        res = run_scenario(sc, terrain, pumps=layers.get("pump_stations"),
                           gates=layers.get("sluice_gates"), landuse=landuse, progress=cb)
        results[sc.name] = res
        table = assess_exposure(res.max_depth_m, communes, transform=terrain.transform,
                                crs=terrain.crs, buildings=layers.get("buildings"),
                                roads=layers.get("roads"), commune_id="ma_xa",
                                commune_name="ten")
        table.insert(0, "scenario", sc.name)
        tables.append(table)
        rows.append({
            "scenario": sc.name, "title_en": sc.title_en, "title_vi": sc.title_vi,
            "flooded_km2": float(np.sum(res.max_depth_m >= 0.1) * cell_km2),
            "people_exposed": float(table["people_exposed"].sum()),
            "buildings_flooded": int(table["buildings_flooded"].sum()),
            "road_km_impassable": float(table["road_km_impassable"].sum()),
            "max_depth_m": float(np.nanmax(res.max_depth_m)),
            "mass_error_pct": float(res.mass_balance.error_pct),
            "wall_s": float(res.wall_s),
        })
        log.info("scenario %s: %.2f km² flooded", sc.name, rows[-1]["flooded_km2"])
    return FloodComparison(terrain, results, pd.concat(tables, ignore_index=True),
                           pd.DataFrame(rows))


# ------------------------------------------------------------------------ coverage


@dataclass
class CoverageStudy:
    """5G coverage of one commune on an EPSG:9210 grid (RSRP in dBm, people per cell)."""

    commune: gpd.GeoDataFrame
    grid: Grid
    ground_m: NDArray[np.float64]
    rsrp_dbm: NDArray[np.float32]
    covered: NDArray[np.bool_]
    population: NDArray[np.float64]
    shares: pd.DataFrame
    gaps: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    plan: PlanResult | None = None
    threshold_dbm: float = -110.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def share_population(self) -> float:
        """Share (0–1) of the commune's people in covered cells (NaN without people)."""
        return float(self.shares["share_population"].iloc[0])

    @property
    def share_area(self) -> float:
        """Share (0–1) of the commune's cells that are covered."""
        return float(self.shares["share_area"].iloc[0])


def read_dem_window(dem_path: Path | str, bounds_m: Bounds, *, resolution_m: float
                    ) -> tuple[NDArray[np.float64], Grid]:
    """Ground (metres, NaN nodata) averaged onto ``resolution_m`` cells over ``bounds_m``
    (metres in the DEM's projected CRS, snapped outward and clipped to the DEM)."""
    import rasterio
    from affine import Affine
    from pyproj import CRS
    from rasterio.enums import Resampling
    from rasterio.windows import from_bounds

    from spp.coverage.los import Grid

    res = float(resolution_m)
    with rasterio.open(dem_path) as src:
        b = src.bounds
        minx = max(math.floor(bounds_m[0] / res) * res, b.left)
        miny = max(math.floor(bounds_m[1] / res) * res, b.bottom)
        maxx = min(math.ceil(bounds_m[2] / res) * res, b.right)
        maxy = min(math.ceil(bounds_m[3] / res) * res, b.top)
        if maxx <= minx or maxy <= miny:
            raise RasterError(f"{bounds_m} lies outside the DEM {dem_path}")
        width, height = round((maxx - minx) / res), round((maxy - miny) / res)
        window = from_bounds(minx, maxy - height * res, minx + width * res, maxy, src.transform)
        data = src.read(1, window=window, out_shape=(height, width), masked=True,
                        resampling=Resampling.average, boundless=True)
        grid = Grid(Affine(res, 0.0, minx, 0.0, -res, maxy), (height, width),
                    CRS.from_user_input(src.crs))
    return np.asarray(data.astype(np.float64).filled(np.nan)), grid


def _on_air_5g(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """telecom_sites rows → the fields :func:`sectors_from_sites` reads (on-air 5G only)."""
    frame = sites
    if "status" in frame:
        frame = frame[frame["status"].fillna("on_air") == "on_air"]
    frame = frame[frame["technology"] == "5G"]
    frame = frame.rename(columns={"height_m": "structure_height_m"})
    return frame.rename(columns={"equipment_height_m": "height_m", "azimuths_deg": "azimuths"})


def _inside_grid(points: gpd.GeoDataFrame, grid: Grid, ground: NDArray[np.float64]
                 ) -> NDArray[np.bool_]:
    metric = points.to_crs(grid.crs)
    cols_f, rows_f = ~grid.transform @ (metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy())
    rows, cols = np.floor(rows_f).astype(int), np.floor(cols_f).astype(int)
    ok = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
    ok[ok] = np.isfinite(ground[rows[ok], cols[ok]])
    return np.asarray(ok, dtype=bool)


def coverage_study(
    db_url: str,
    dem_path: Path | str,
    commune: str,
    *,
    catalog: Catalog,
    resolution_m: float = 50.0,
    threshold_dbm: float = -110.0,
    max_sites: int | None = 5,
    max_candidates: int = 40,
    candidate_spacing_m: float = 300.0,
) -> CoverageStudy:
    """5G best-server coverage, shares, gaps and a small greedy site plan for one commune.

    Sites within 5 km of the commune count (TR 38.901 UMa/UMi validity range); line of
    sight over terrain only. Candidate masts are street-light poles and 4G sites inside
    the commune, one per ``candidate_spacing_m`` square, the ``max_candidates`` with most
    uncovered people within 1 km.

    Parameters
    ----------
    db_url : str
        libpq URL of the SPP database.
    dem_path : path
        Sample-city DEM (EPSG:9210, metres above Hòn Dấu).
    commune : str
        Name with or without diacritics/prefix, or 5-digit code.
    resolution_m : float
        Cell size, metres.
    threshold_dbm : float
        5G RSRP threshold for "covered", dBm.
    max_sites : int, optional
        Site-plan budget; ``0`` skips the plan.

    Raises
    ------
    CommuneNotFoundError, LayerNotFoundError, ScenarioError
    """
    from scipy import ndimage

    from spp.coverage.gaps import commune_labels, coverage_shares, gap_polygons, population_grid
    from spp.coverage.model import CoverageSettings, compute_rsrp, sectors_from_sites
    from spp.coverage.plan import gather_candidates, plan_sites
    from spp.store.query import read_layer

    communes = read_layer(db_url, catalog.get("communes"), columns=["ma_xa", "ten", "dan_so"])
    chosen = select_communes(communes, commune)
    ground, grid = read_dem_window(dem_path, area_bounds_m(chosen, margin_m=REACH_M),
                                   resolution_m=resolution_m)
    grid_ll = bounds_to_lonlat((grid.transform.c, grid.transform.f - grid.shape[0] * grid.cell_y_m,
                                grid.transform.c + grid.shape[1] * grid.cell_x_m, grid.transform.f),
                               epsg=grid.crs.to_epsg() or METRIC_EPSG)
    area_ll = tuple(float(v) for v in chosen.total_bounds)
    sites = read_layer(db_url, catalog.get("telecom_sites"), bbox=grid_ll)
    buildings = read_layer(db_url, catalog.get("buildings"),
                           columns=["building_id", "population"], bbox=area_ll)  # type: ignore[arg-type]
    on_air = _on_air_5g(sites)
    on_air = on_air[_inside_grid(on_air, grid, ground)]
    settings = CoverageSettings(radius_m=REACH_M,
                                threshold_dbm={"5G": threshold_dbm, "4G": threshold_dbm})
    result = compute_rsrp(ground, grid, sectors_from_sites(on_air, crs=grid.crs),
                          settings=settings)
    covered = result.covered(threshold_dbm)
    inside = commune_labels(chosen, grid) > 0
    pop = np.where(inside, population_grid(buildings, grid), 0.0)
    shares = coverage_shares(chosen, covered, grid, population=pop)
    gaps = gap_polygons(covered, grid, population=pop, communes=chosen)
    study = CoverageStudy(chosen, grid, ground, result.rsrp_dbm, covered, pop, shares, gaps,
                          on_air, threshold_dbm=threshold_dbm)
    if not max_sites or not (pop * ~covered).sum() > 0:
        return study
    lights = read_layer(db_url, catalog.get("street_lights"), columns=["light_id", "pole_height_m"],
                        bbox=area_ll)  # type: ignore[arg-type]
    four_g = sites[(sites["technology"] == "4G")]
    cands = gather_candidates({
        "street_light": lights.rename(columns={"pole_height_m": "height_m"})[["height_m", "geometry"]],
        "upgrade_4g": four_g[["height_m", "geometry"]],
    }, crs=grid.crs)
    cands = cands[_inside_grid(cands, grid, ground)]
    gap_people = np.where(inside & ~covered, pop, 0.0)
    size = max(1, round(2_000.0 / grid.cell_x_m) | 1)
    score_grid = ndimage.uniform_filter(gap_people, size=size, mode="constant") * size * size
    cols_f, rows_f = ~grid.transform @ (cands.geometry.x.to_numpy(), cands.geometry.y.to_numpy())
    score = score_grid[np.floor(rows_f).astype(int), np.floor(cols_f).astype(int)]
    key = (np.floor(cands.geometry.x / candidate_spacing_m).astype(np.int64) * 1_000_003
           + np.floor(cands.geometry.y / candidate_spacing_m).astype(np.int64))
    cands = (cands.assign(score=score, _key=key.to_numpy())[score > 0.5]
             .sort_values(["score", "height_m"], ascending=False, kind="stable")
             .drop_duplicates("_key").head(max_candidates).drop(columns="_key")
             .reset_index(drop=True))
    study.extra["candidates"] = len(cands)
    if len(cands):
        study.plan = plan_sites(ground, grid, candidates=cands, population=pop, covered=covered,
                                communes=chosen, target_share=1.0, max_sites=max_sites,
                                settings=settings)
    return study


# ------------------------------------------------------------------------ broadband


@dataclass
class FibreStudy:
    """Fibre reach of one commune: buildings with road distances, shares and a plan."""

    commune: gpd.GeoDataFrame
    reach: gpd.GeoDataFrame
    shares: pd.DataFrame
    plan: ExtensionPlan | None

    @property
    def share(self) -> float:
        """Share (0–1) of the commune's households within the drop limit today."""
        return float(self.shares["share"].iloc[0])


def fibre_study(
    db_url: str,
    commune: str,
    *,
    catalog: Catalog,
    drop_limit_m: float = 300.0,
    target_share: float = 0.9,
    max_km: float | None = 5.0,
    margin_m: float = 1_000.0,
) -> FibreStudy:
    """Households within ``drop_limit_m`` of fibre along roads in one commune, and the
    cheapest extensions (greedy, up to ``max_km`` of new fibre) towards ``target_share``.

    Roads and access points within ``margin_m`` of the commune count, so fibre just across
    a boundary serves it. Distances in metres on EPSG:9210; results in EPSG:4326 except
    ``plan.segments`` (EPSG:9210).

    Raises
    ------
    CommuneNotFoundError, LayerNotFoundError, AnalysisError
    """
    from spp.broadband import build_road_graph, fibre_reach, household_shares, plan_extensions
    from spp.store.query import read_layer

    communes = read_layer(db_url, catalog.get("communes"), columns=["ma_xa", "ten", "dan_so"])
    chosen = select_communes(communes, commune)
    outer = bounds_to_lonlat(area_bounds_m(chosen, margin_m=margin_m))
    inner = tuple(float(v) for v in chosen.total_bounds)
    roads = read_layer(db_url, catalog.get("roads"), columns=["road_id", "road_class"], bbox=outer)
    aps = read_layer(db_url, catalog.get("fibre_access_points"), columns=["ap_id", "operator"],
                     bbox=outer)
    buildings = read_layer(db_url, catalog.get("buildings"),
                           columns=["building_id", "households", "population"], bbox=inner)  # type: ignore[arg-type]
    buildings = buildings[buildings.representative_point().within(chosen.union_all())]
    graph = build_road_graph(roads)
    reach = fibre_reach(graph, aps, buildings, drop_limit_m=drop_limit_m)
    shares = household_shares(reach, chosen, target_share=target_share)
    plan = None
    if not bool(shares["meets_target"].all()):
        plan = plan_extensions(graph, aps, buildings, communes=chosen,
                               target_share=target_share, drop_limit_m=drop_limit_m,
                               max_km=max_km)
    return FibreStudy(chosen, reach, shares, plan)
