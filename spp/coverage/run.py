"""A stored coverage run: layers from PostGIS, DEM from the sample city, results as layers.

:func:`run_coverage` reads ``telecom_sites``, ``buildings`` (population, heights),
``communes`` and the DEM (``dem.tif`` in EPSG:9210 metres, resampled to the run's cell
size), computes best-server RSRP per operator × technology
(:func:`~spp.coverage.model.best_server`), writes the RSRP as a COG under
``settings.runs_dir/<run_id>/`` and publishes ``coverage_runs``, ``coverage_by_commune``,
``coverage_gaps``, ``coverage_h3`` (5G per H3 resolution-9 hexagon) and, with ``plan=True``,
``planned_sites``. The whole city or one commune (matched with or without diacritics) is a
unit of work; the grid spans the area plus the sites' reach (5 km) around it, so sites of
neighbouring communes count.

Metric work is on an EPSG:9210 grid (VN-2000 / TM-3 105°45′); layers are read and stored
in EPSG:4326.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from spp.coverage.los import Grid
from spp.coverage.model import CoverageSettings, best_server, sectors_from_sites
from spp.errors import InputFileError, RasterError, ScenarioError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from spp.settings import Settings

__all__ = [
    "THRESHOLD_RANGE_DBM",
    "CoverageRun",
    "check_run_inputs",
    "read_area_dem",
    "run_coverage",
    "select_communes",
]

log = logging.getLogger(__name__)
StageProgress = Callable[[str, int, int], None]
THRESHOLD_RANGE_DBM = (-140.0, -40.0)
"""Accepted RSRP thresholds (dBm); outside this a run is refused."""
RESOLUTION_RANGE_M = (10.0, 500.0)
REACH_M = 5_000.0
"""Largest UMa/UMi validity range (3GPP TR 38.901): the margin read around an area."""
PUBLIC_USES = ("public", "education", "health")
CITY_CODE = "92"
"""Province code of Cần Thơ: ``ma_xa`` of a whole-city run."""


@dataclass
class CoverageRun:
    """What a run computed and stored."""

    run_id: str
    area: str
    resolution_m: float
    threshold_dbm: float
    shares: pd.DataFrame
    gaps: gpd.GeoDataFrame
    raster: Path
    sites: int
    sectors: int
    seconds: float
    planned: gpd.GeoDataFrame | None = None
    plan_stopped: str | None = None
    hexes: gpd.GeoDataFrame | None = None
    versions: dict[str, int] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


class StageTimes(dict[str, float]):
    """Seconds per stage of a run, filled by :meth:`lap`."""

    def lap(self, name: str, start: float) -> float:
        """Record ``name`` as the time since ``start`` (``time.perf_counter``); return now."""
        now = time.perf_counter()
        self[name] = round(now - start, 3)
        return now


def check_run_inputs(*, resolution_m: float, threshold_dbm: float) -> None:
    """Refuse a cell size or threshold outside the accepted ranges.

    Raises
    ------
    ScenarioError
        ``threshold_dbm`` outside [-140, -40] dBm or ``resolution_m`` outside [10, 500] m.
    """
    lo, hi = THRESHOLD_RANGE_DBM
    if not (isinstance(threshold_dbm, (int, float)) and lo <= threshold_dbm <= hi):
        raise ScenarioError(
            f"threshold_dbm must be within [{lo:g}, {hi:g}] dBm, got {threshold_dbm!r}")
    lo, hi = RESOLUTION_RANGE_M
    if not (isinstance(resolution_m, (int, float)) and lo <= resolution_m <= hi):
        raise ScenarioError(f"resolution_m must be within [{lo:g}, {hi:g}] m, got {resolution_m!r}")


def select_communes(communes: gpd.GeoDataFrame, commune: str | None) -> gpd.GeoDataFrame:
    """All communes, or the one whose ``ten`` or ``ma_xa`` matches ``commune``.

    Names match with or without diacritics and type prefix ("Ninh Kieu" finds
    "Phường Ninh Kiều"); a 5-digit code matches ``ma_xa``.

    Raises
    ------
    CommuneNotFoundError
        No match, or an ambiguous name.
    """
    from spp.names import match_name

    if commune is None:
        return communes
    text = commune.strip()
    if text.isdigit() and text in set(communes["ma_xa"]):
        return communes[communes["ma_xa"] == text]
    name = match_name(text, list(communes["ten"]))
    return communes[communes["ten"] == name]


def read_area_dem(
    path: Path, bounds_m: tuple[float, float, float, float], *, resolution_m: float
) -> tuple[NDArray[np.float64], Grid]:
    """Ground (metres, NaN nodata) on a north-up grid of ``resolution_m`` cells over ``bounds_m``.

    ``bounds_m`` is (minx, miny, maxx, maxy) in the DEM's CRS (EPSG:9210 metres); it is
    snapped outward to multiples of ``resolution_m`` and clipped to the DEM. Coarser cells
    are the average of the DEM cells they cover.

    Raises
    ------
    InputFileError
        The DEM cannot be read.
    RasterError
        The area lies outside the DEM.
    """
    import rasterio
    from affine import Affine
    from pyproj import CRS
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioIOError
    from rasterio.windows import from_bounds

    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise InputFileError(
            f"cannot read DEM {path}: {exc}; build it with 'spp sample build'") from exc
    with src:
        b = src.bounds
        res = float(resolution_m)
        minx = max(math.floor(bounds_m[0] / res) * res, b.left)
        miny = max(math.floor(bounds_m[1] / res) * res, b.bottom)
        maxx = min(math.ceil(bounds_m[2] / res) * res, b.right)
        maxy = min(math.ceil(bounds_m[3] / res) * res, b.top)
        if maxx <= minx or maxy <= miny:
            raise RasterError(f"the area {bounds_m} lies outside the DEM {path}")
        width = max(1, round((maxx - minx) / res))
        height = max(1, round((maxy - miny) / res))
        window = from_bounds(minx, maxy - height * res, minx + width * res, maxy, src.transform)
        data = src.read(1, window=window, out_shape=(height, width), masked=True,
                        resampling=Resampling.average, boundless=True)
        ground = np.asarray(data.astype(np.float64).filled(np.nan))
        grid = Grid(Affine(res, 0.0, minx, 0.0, -res, maxy), (height, width),
                    CRS.from_user_input(src.crs))
    return ground, grid


def _surface(ground: NDArray[np.float64], grid: Grid, buildings: gpd.GeoDataFrame
             ) -> NDArray[np.float64] | None:
    """Ground + building heights (tallest building whose footprint holds the cell centre)."""
    from rasterio.features import rasterize

    if "height_m" not in buildings or not buildings["height_m"].notna().any():
        return None
    metric = buildings.to_crs(grid.crs)
    heights = np.nan_to_num(metric["height_m"].to_numpy(dtype=float), nan=0.0)
    geoms = metric.geometry.to_numpy()
    order = np.argsort(heights, kind="stable")  # tallest last, so it wins the cell
    keep = order[(heights[order] > 0) & np.array([g is not None for g in geoms[order]])]
    shapes = list(zip(geoms[keep], heights[keep].tolist()))
    if not shapes:
        return None
    tops = rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0.0,
                     dtype="float64")
    return np.asarray(ground + tops)


def _sites_frame(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """telecom_sites fields → the names :func:`sectors_from_sites` reads; on-air sites only."""
    frame = sites
    if "status" in frame:
        frame = frame[frame["status"].fillna("on_air") == "on_air"]
    frame = frame.rename(columns={"height_m": "structure_height_m"})
    frame = frame.rename(columns={"equipment_height_m": "height_m", "azimuths_deg": "azimuths"})
    return frame


def _inside(grid: Grid, ground: NDArray[np.float64], sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    metric = sites.to_crs(grid.crs)
    cols_f, rows_f = ~grid.transform @ (metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy())
    rows, cols = np.floor(rows_f).astype(int), np.floor(cols_f).astype(int)
    ok = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
    ok[ok] = np.isfinite(ground[rows[ok], cols[ok]])
    if (~ok).any():
        log.warning("%d site(s) outside the DEM or on nodata are left out", int((~ok).sum()))
    return sites[ok]


def _write_rsrp_cog(path: Path, bands: list[tuple[str, NDArray[np.float32]]], grid: Grid) -> Path:
    """Float32 DEFLATE COG, NaN nodata, one band per (description, RSRP dBm array)."""
    import rasterio
    import rasterio.shutil
    from rasterio.io import MemoryFile

    profile = {"driver": "GTiff", "width": grid.shape[1], "height": grid.shape[0],
               "count": len(bands), "dtype": "float32", "crs": grid.crs.to_wkt(),
               "transform": grid.transform, "nodata": float("nan")}
    path.parent.mkdir(parents=True, exist_ok=True)
    with MemoryFile() as mem:
        with mem.open(**profile) as tmp:
            for i, (desc, data) in enumerate(bands, start=1):
                tmp.write(np.asarray(data, dtype=np.float32), i)
                tmp.set_band_description(i, desc)
                tmp.update_tags(i, units="dBm")
        with mem.open() as src:
            rasterio.shutil.copy(src, str(path), driver="COG", COMPRESS="DEFLATE",
                                 PREDICTOR="YES", BLOCKSIZE="512", OVERVIEWS="AUTO",
                                 RESAMPLING="AVERAGE")
    return path


def _candidates(
    layers: dict[str, gpd.GeoDataFrame], grid: Grid, gap_people: NDArray[np.float64], *,
    max_candidates: int, spacing_m: float = 250.0, reach_m: float = 1_000.0,
) -> gpd.GeoDataFrame:
    """Candidate masts near uncovered people: one per ``spacing_m`` square (best score),
    scored by uncovered people within ``reach_m``; the ``max_candidates`` best."""
    from scipy import ndimage

    from spp.coverage.plan import gather_candidates

    cands = gather_candidates(layers, crs=grid.crs)
    if len(cands) == 0:
        return cands
    size = max(1, round(2 * reach_m / grid.cell_x_m) | 1)
    score_grid = ndimage.uniform_filter(gap_people, size=size, mode="constant") * size * size
    cols_f, rows_f = ~grid.transform @ (cands.geometry.x.to_numpy(), cands.geometry.y.to_numpy())
    rows, cols = np.floor(rows_f).astype(int), np.floor(cols_f).astype(int)
    ok = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
    score = np.zeros(len(cands))
    score[ok] = score_grid[rows[ok], cols[ok]]
    cands = cands.assign(score=score)[score > 0.5]
    key = (np.floor(cands.geometry.x / spacing_m).astype(np.int64) * 1_000_003
           + np.floor(cands.geometry.y / spacing_m).astype(np.int64))
    cands = (cands.assign(_key=key.to_numpy())
             .sort_values(["score", "height_m"], ascending=False, kind="stable")
             .drop_duplicates("_key").head(max_candidates).drop(columns="_key"))
    return cands.reset_index(drop=True)


def run_coverage(
    settings: Settings,
    db_url: str,
    *,
    commune: str | None = None,
    resolution_m: float = 50.0,
    threshold_dbm: float = -110.0,
    use_buildings: bool = True,
    plan: bool = False,
    max_sites: int | None = None,
    max_candidates: int = 1_500,
    dem_path: Path | None = None,
    store: bool = True,
    progress: StageProgress | None = None,
) -> CoverageRun:
    """Compute, write and store a coverage run for the city or one commune.

    Parameters
    ----------
    settings : Settings
        Gives the catalogue, the sample folder (``dem.tif``) and ``runs_dir``.
    db_url : str
        libpq URL of the SPP database (layers read and written there).
    commune : str, optional
        Commune name (with or without diacritics or type prefix) or 5-digit code.
    resolution_m : float
        Grid cell size in metres (EPSG:9210), within [10, 500].
    threshold_dbm : float
        RSRP threshold for "covered", dBm, within [-140, -40] (4G and 5G alike).
    use_buildings : bool
        Add building heights to the line-of-sight surface.
    plan : bool
        Also plan new 5G sites (greedy, to 100 % of people per commune).
    max_sites, max_candidates : int
        Plan budget in sites; candidate masts examined.
    dem_path : Path, optional
        Ground elevation GeoTIFF in EPSG:9210 metres; default the city DEM
        (``SPP_FLOOD_DEM`` or the sample city's ``dem.tif``).
    store : bool
        Publish the result layers (False: compute and write the COG only).
    progress : callable, optional
        ``progress(stage, done, total)``.

    Raises
    ------
    ScenarioError
        Threshold or resolution outside the accepted ranges.
    CommuneNotFoundError
        ``commune`` matches none or several communes.
    LayerNotFoundError
        A needed layer is not loaded.
    """
    import geopandas as gpd
    import pandas as pd

    from spp.catalog import load_catalog
    from spp.coverage.gaps import (
        commune_labels,
        coverage_shares,
        coverage_shares_by_group,
        gap_polygons,
        population_grid,
    )
    from spp.coverage.hexes import h3_shares
    from spp.coverage.publish import append_run_rows, new_run_id
    from spp.store.query import read_layer

    check_run_inputs(resolution_m=resolution_m, threshold_dbm=threshold_dbm)
    t0 = time.perf_counter()
    timings = StageTimes()
    lap = timings.lap

    catalog = load_catalog(settings.layers_dir)
    communes = read_layer(db_url, catalog.get("communes"), columns=["ma_xa", "ten"])
    chosen = select_communes(communes, commune)
    area = str(chosen["ten"].iloc[0]) if commune is not None else "Thành phố Cần Thơ"
    run_id = new_run_id("cov", area if commune is not None else None)
    area_m = chosen.to_crs(9210)
    b = area_m.total_bounds
    margin = REACH_M if commune is not None else 0.0
    if dem_path is None:
        from spp.flood.city import default_dem  # the city DEM: SPP_FLOOD_DEM or the sample's

        dem_path = default_dem(settings)
    ground, grid = read_area_dem(dem_path,
                                 (b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin),
                                 resolution_m=resolution_m)
    grid_bbox = tuple(gpd.GeoSeries.from_xy(
        [grid.transform.c, grid.transform.c + grid.shape[1] * grid.cell_x_m],
        [grid.transform.f - grid.shape[0] * grid.cell_y_m, grid.transform.f],
        crs=grid.crs).to_crs(4326).total_bounds)
    area_bbox = tuple(chosen.total_bounds)
    sites = read_layer(db_url, catalog.get("telecom_sites"), bbox=grid_bbox)
    buildings = read_layer(db_url, catalog.get("buildings"),
                           columns=["building_id", "use", "height_m", "population"],
                           bbox=grid_bbox if use_buildings else area_bbox)
    t = lap("read", t0)
    surface = _surface(ground, grid, buildings) if use_buildings else None
    sites = _inside(grid, ground, _sites_frame(sites))
    sectors = sectors_from_sites(sites, crs=grid.crs)
    cov_settings = CoverageSettings(radius_m=REACH_M,
                                    threshold_dbm={"5G": threshold_dbm, "4G": threshold_dbm})
    t = lap("prepare", t)
    by_group = best_server(
        ground, grid, sectors, surface=surface, settings=cov_settings,
        group_by=("operator", "technology"),
        progress=(lambda d, n: progress("sites", d, n)) if progress else None)
    t = lap("rsrp", t)
    nan = np.full(grid.shape, np.nan, dtype=np.float32)
    best_all, best_5g = nan.copy(), nan.copy()
    for (_, tech), res in by_group.items():
        best_all = np.fmax(best_all, res.rsrp_dbm)
        if tech == "5G":
            best_5g = np.fmax(best_5g, res.rsrp_dbm)
    raster = _write_rsrp_cog(settings.runs_dir / run_id / "rsrp_dbm.tif",
                             [("best-server RSRP, all technologies (dBm)", best_all),
                              ("best-server RSRP, 5G (dBm)", best_5g)], grid)
    t = lap("write_cog", t)
    pop = population_grid(buildings, grid)
    with np.errstate(invalid="ignore"):
        covered_5g = best_5g >= threshold_dbm
        masks = {key: res.rsrp_dbm >= threshold_dbm for key, res in by_group.items()}
    masks[("all", "5G")] = covered_5g
    shares = coverage_shares_by_group(chosen, masks, grid, population=pop, buildings=buildings)
    gaps = gap_polygons(covered_5g, grid, population=pop, communes=chosen)
    t = lap("shares_gaps", t)
    inside = commune_labels(chosen, grid) > 0
    hexes = h3_shares(covered_5g, grid, pop, inside=inside)
    t = lap("h3", t)
    name_to_code = dict(zip(chosen["ten"], chosen["ma_xa"]))
    planned = None
    stopped = None
    if plan:
        from spp.coverage.plan import plan_sites

        layers = {
            "street_light": read_layer(
                db_url, catalog.get("street_lights"), columns=["light_id", "pole_height_m"],
                bbox=grid_bbox,
            ).rename(columns={"pole_height_m": "height_m"}).set_index("light_id"),
            "public_building": buildings[buildings["use"].isin(PUBLIC_USES)]
            .assign(height_m=lambda f: f["height_m"].fillna(10.0) + 5.0).set_index("building_id"),
            "upgrade_4g": sites[sites["technology"] == "4G"].set_index("site_id"),
        }
        gap_people = np.where(inside & ~covered_5g, pop, 0.0)
        cands = _candidates({k: v[[v.geometry.name] + (["height_m"] if "height_m" in v else [])]
                             for k, v in layers.items()}, grid, gap_people,
                            max_candidates=max_candidates)
        result = plan_sites(
            ground, grid, candidates=cands, population=np.where(inside, pop, 0.0),
            covered=covered_5g, communes=chosen, target_share=1.0, max_sites=max_sites,
            surface=surface, settings=cov_settings,
            progress=(lambda d, n: progress("candidates", d, n)) if progress else None)
        planned = result.sites
        stopped = result.stopped_because
        t = lap("plan", t)
    seconds = time.perf_counter() - t0
    total = coverage_shares(chosen, covered_5g, grid, population=pop)
    pop_total = float(total["population"].sum())
    cov_total = float(total["covered_population"].sum())
    area_cells = float(total["cells"].sum())
    cov_area = float((total["share_area"].fillna(0) * total["cells"]).sum())
    run = CoverageRun(run_id, area, float(resolution_m), float(threshold_dbm), shares, gaps,
                      raster, len(sites), len(sectors), seconds, planned, stopped,
                      hexes=hexes, timings_s=timings)
    if not store:
        return run
    from datetime import datetime

    runs_row = pd.DataFrame([{
        "run_id": run_id, "run_at": datetime.now(UTC), "area": area,
        "ma_xa": str(chosen["ma_xa"].iloc[0]) if commune is not None else CITY_CODE,
        "resolution_m": float(resolution_m), "threshold_dbm": float(threshold_dbm),
        "surface": "terrain+buildings" if surface is not None else "terrain",
        "sites": len(sites), "sectors": len(sectors), "cells": grid.shape[0] * grid.shape[1],
        "population": pop_total,
        "share_area_5g": cov_area / area_cells if area_cells else None,
        "share_population_5g": cov_total / pop_total if pop_total else None,
        "people_uncovered_5g": pop_total - cov_total, "gaps": len(gaps),
        "planned_sites": len(planned) if planned is not None else None,
        "plan_stopped": stopped or "not planned", "raster": f"{run_id}/{raster.name}",
        "seconds": round(seconds, 3),
    }])
    by_commune = shares.rename(columns={"id": "ma_xa", "name": "commune"}).assign(run_id=run_id)
    by_commune["row_id"] = (run_id + ":" + by_commune["ma_xa"].astype(str) + ":"
                            + by_commune["operator"] + ":" + by_commune["technology"])
    gap_rows = gaps.assign(run_id=run_id, ma_xa=gaps["commune"].map(name_to_code))
    gap_rows["gap_id"] = run_id + ":" + gap_rows["rank"].astype(str)
    hex_rows = hexes.assign(run_id=run_id, hex_id=run_id + ":" + hexes["h3_index"])
    versions = {}
    for layer, rows in (("coverage_by_commune", by_commune), ("coverage_gaps", gap_rows),
                        ("coverage_h3", hex_rows)):
        report = append_run_rows(db_url, catalog, layer, rows, run_id=run_id,
                                 latest_per_area=layer != "coverage_by_commune",
                                 note=f"coverage run {run_id} ({area})")
        if report is not None:
            versions[layer] = report.version
    if planned is not None:
        site_rows = planned.rename(columns={"order": "plan_order"}).assign(
            run_id=run_id, ma_xa=planned["commune"].map(name_to_code), technology="5G",
            band_mhz=3500.0, eirp_dbm=60.0)
        site_rows["site_id"] = run_id + ":" + site_rows["plan_order"].astype(str)
        site_rows["source_id"] = site_rows["source_id"].astype(str)
        report = append_run_rows(
            db_url, catalog, "planned_sites", site_rows, run_id=run_id, latest_per_area=True,
            note=f"site plan of {run_id}")
        if report is not None:
            versions["planned_sites"] = report.version
    report = append_run_rows(db_url, catalog, "coverage_runs", runs_row, run_id=run_id,
                             keep_runs=10_000)
    if report is not None:
        versions["coverage_runs"] = report.version
    run.versions = versions
    lap("store", t)
    run.seconds = time.perf_counter() - t0
    log.info("coverage run %s: %.1f s (%s)", run_id, run.seconds, timings)
    return run
