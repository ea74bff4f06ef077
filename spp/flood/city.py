"""Flood runs on the city held in PostGIS: read the inputs, run, write COGs, publish.

This is the I/O shell around the pure core (:mod:`spp.flood.model`): it reads the DEM
(the sample city's ``dem.tif`` unless told otherwise) and the dikes, waterways, pump
stations, sluice gates, land use, communes, buildings, roads and critical assets from the
store, runs a static level fill or a dynamic scenario on an EPSG:9210 grid, writes the
result rasters as COGs into ``<runs_dir>/<run_id>/`` and stores the run, its per-commune
exposure and its depth-class polygons as the next versions of ``flood_runs``,
``flood_exposure`` and ``flood_extents`` (:mod:`spp.flood.publish`).

Environment: ``SPP_FLOOD_DEM`` names the city DEM when it is not the sample's (the OGC
server's worker processes read it too).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spp.errors import InputFileError, ScenarioError
from spp.fingerprint import file_sha256

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from spp.catalog import Catalog
    from spp.flood.scenario import Scenario
    from spp.settings import Settings
    from spp.terrain import Terrain

__all__ = [
    "LANDUSE_CLASSES",
    "CityInputs",
    "RunOutcome",
    "default_dem",
    "read_city_inputs",
    "run_city_scenario",
    "run_city_static",
]

logger = logging.getLogger(__name__)

Progress = Callable[[float, float], None]

LANDUSE_CLASSES: dict[str, str] = {
    "LUC": "rice", "BHK": "rice", "CLN": "orchard", "RPH": "orchard", "NTS": "water",
    "ONT": "residential", "ODT": "residential", "TMD": "urban", "SKC": "urban",
    "SKK": "urban", "DGD": "urban", "DYT": "urban", "TSC": "urban", "TON": "urban",
    "DGT": "road", "DTL": "water", "SON": "water", "DKV": "park", "NTD": "park",
}
"""Land-use code (Circular 08/2024/TT-BTNMT, ``land_use.code``) → roughness class of the
scenarios' ``manning.by_landuse`` (rice, orchard, residential, urban, road, water, park)."""

ASSET_USES = ("education", "health")
"""Building uses counted as critical assets, beside substations and pump stations."""


@dataclass(frozen=True)
class CityInputs:
    """Everything a city run reads, geometries in EPSG:4326 as stored.

    ``hashes`` maps each input to ``"v<version>:<content sha256>"`` (layers) or
    ``"sha256:<hex>"`` (the DEM file).
    """

    dem: Path
    dikes: gpd.GeoDataFrame
    waterways: gpd.GeoDataFrame
    pumps: gpd.GeoDataFrame
    gates: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame
    communes: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    assets: gpd.GeoDataFrame
    hashes: dict[str, str] = field(default_factory=dict)


@dataclass
class RunOutcome:
    """A finished, stored run: its ``flood_runs`` row, exposure table and output folder."""

    run_id: str
    record: dict[str, Any]
    exposure: pd.DataFrame
    out_dir: Path
    extents: gpd.GeoDataFrame
    published: bool


def default_dem(settings: Settings) -> Path:
    """The city DEM: ``SPP_FLOOD_DEM`` or the sample city's ``dem.tif`` (built if missing).

    Raises
    ------
    InputFileError
        ``SPP_FLOOD_DEM`` names a missing file.
    """
    env = os.environ.get("SPP_FLOOD_DEM")
    if env:
        path = Path(env)
        if not path.is_file():
            raise InputFileError(f"SPP_FLOOD_DEM={env}: no such DEM file")
        return path
    path = settings.sample_dir / "dem.tif"
    if path.is_file():
        return path
    from spp.sample.cache import ensure_sample

    return ensure_sample(settings)["dem"]


def _layer_hashes(db_url: str, names: list[str]) -> dict[str, str]:
    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT layer, version, content_sha256 FROM spp_meta.versions "
            "WHERE valid_to IS NULL AND layer = ANY(%s)", (names,)).fetchall()
    return {str(r[0]): f"v{r[1]}:{r[2]}" for r in rows}


def read_city_inputs(
    db_url: str,
    catalog: Catalog,
    settings: Settings,
    *,
    dem: Path | None = None,
) -> CityInputs:
    """Read the flood model's inputs from the store (live versions) and the DEM.

    Parameters
    ----------
    db_url : str
        libpq URL of the SPP database.
    catalog : Catalog
        Layer catalogue.
    settings : Settings
        For the default DEM (:func:`default_dem`).
    dem : Path, optional
        DEM GeoTIFF in metres above Hòn Dấu, any projected CRS.

    Returns
    -------
    CityInputs
        Waterways carry ``boundary`` = their ``tidal`` flag (tidal reaches take the river
        level); land use carries ``landuse`` (:data:`LANDUSE_CLASSES`); pumps are the
        operating stations only; assets have a ``name``.

    Raises
    ------
    LayerNotFoundError
        An input layer was never loaded (``spp load --all`` loads the sample city).
    """
    import geopandas as gpd
    import pandas as pd

    from spp.store.query import read_layer

    def layer(name: str, columns: list[str] | None = None) -> gpd.GeoDataFrame:
        frame = read_layer(db_url, catalog.get(name), columns=columns)
        assert isinstance(frame, gpd.GeoDataFrame)
        return frame

    dem_path = Path(dem) if dem is not None else default_dem(settings)
    if not dem_path.is_file():
        raise InputFileError(f"{dem_path}: no such DEM file")
    waterways = layer("waterways", ["waterway_id", "name", "width_m", "bed_level_m", "tidal"])
    waterways["boundary"] = waterways.pop("tidal").fillna(False).astype(bool)
    landuse = layer("land_use", ["land_use_id", "code"])
    landuse["landuse"] = landuse["code"].map(LANDUSE_CLASSES).fillna("other")
    pumps = layer("pump_stations", ["station_id", "name", "capacity_m3s", "status"])
    pumps = pumps[pumps["status"] == "operating"].rename(columns={"station_id": "pump_id"})
    buildings = layer("buildings", ["building_id", "use", "population"])
    substations = layer("substations", ["substation_id", "name"])
    public = buildings[buildings["use"].isin(ASSET_USES)]
    assets = gpd.GeoDataFrame(
        {"name": pd.concat([
            "substation " + substations["name"].astype(str),
            "pump station " + pumps["name"].astype(str),
            public["use"].astype(str) + " " + public["building_id"].astype(str),
        ], ignore_index=True)},
        geometry=pd.concat([substations.geometry, pumps.geometry, public.geometry.representative_point()],
                           ignore_index=True).to_numpy(),
        crs=4326,
    )
    names = ["dikes", "waterways", "pump_stations", "sluice_gates", "land_use", "communes",
             "buildings", "roads", "substations"]
    hashes = _layer_hashes(db_url, names)
    hashes["dem"] = f"sha256:{file_sha256(dem_path)}"
    return CityInputs(
        dem=dem_path,
        dikes=layer("dikes", ["dike_id", "crest_level_m"]),
        waterways=waterways,
        pumps=pumps,
        gates=layer("sluice_gates", ["gate_id", "width_m"]),
        landuse=landuse,
        communes=layer("communes", ["ma_xa", "ten"]),
        buildings=buildings,
        roads=layer("roads", ["road_id"]),
        assets=assets,
        hashes=dict(sorted(hashes.items())),
    )


def city_terrain(inputs: CityInputs, *, resolution_m: float, epsg: int = 9210) -> Terrain:
    """The model grid: the DEM at ``resolution_m`` on EPSG:``epsg`` with the tidal
    waterways (boundary) and channels burned at bed level and dikes at crest level."""
    from spp.terrain import build_terrain

    return build_terrain(inputs.dem, epsg=epsg, resolution_m=resolution_m,
                         rivers=inputs.waterways, dikes=inputs.dikes)


def new_run_id(name: str, started: datetime) -> str:
    """``20261123T190102Z-spring-tide-3fa2c1``: sortable, unique, safe as a folder name."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name.lower())[:60]
    return f"{started:%Y%m%dT%H%M%SZ}-{safe}-{secrets.token_hex(3)}"


def _software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"spp {version('spp')}"
    except PackageNotFoundError:
        return "spp (not installed)"


def _exposure(depth: np.ndarray, terrain: Terrain, inputs: CityInputs) -> pd.DataFrame:
    from spp.flood.exposure import assess_exposure

    return assess_exposure(
        depth, inputs.communes, transform=terrain.transform, crs=terrain.crs,
        buildings=inputs.buildings, roads=inputs.roads, assets=inputs.assets,
        commune_id="ma_xa", commune_name="ten", population_field="population",
    )


def _finish(
    *,
    run_id: str,
    kind: str,
    name: str,
    title: str,
    parameters: dict[str, Any],
    started: datetime,
    depth: np.ndarray,
    terrain: Terrain,
    inputs: CityInputs,
    out_dir: Path,
    cogs: dict[str, str],
    db_url: str,
    catalog: Catalog,
    publish: bool,
    extra: dict[str, Any],
) -> RunOutcome:
    from spp.flood.publish import extent_polygons, publish_run

    exposure = _exposure(depth, terrain, inputs)
    extents = extent_polygons(depth, terrain.transform, terrain.crs)
    finished = datetime.now(UTC)
    record: dict[str, Any] = {
        "run_id": run_id, "kind": kind, "scenario": name, "title": title,
        "parameters": json.dumps(parameters, ensure_ascii=False, sort_keys=True),
        "software_version": _software_version(),
        "input_hashes": json.dumps(inputs.hashes, sort_keys=True),
        "started_at": started, "finished_at": finished,
        "resolution_m": terrain.cell_size_m,
        "flooded_km2": float(exposure["flooded_km2"].sum()),
        "people_exposed": int(exposure["people_exposed"].sum()),
        "buildings_flooded": int(exposure["buildings_flooded"].sum()),
        "max_depth_cog": cogs["max_depth"],
        "cogs": json.dumps(cogs, sort_keys=True),
        **extra,
    }
    (out_dir / "run.json").write_text(
        json.dumps({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in record.items()},
                   indent=2, ensure_ascii=False), encoding="utf-8")
    exposure.to_csv(out_dir / "exposure.csv", index=False)
    if publish:
        publish_run(db_url, catalog, record, exposure, extents)
    return RunOutcome(run_id, record, exposure, out_dir, extents, publish)


def run_city_static(
    level_m: float,
    *,
    db_url: str,
    catalog: Catalog,
    settings: Settings,
    resolution_m: float = 50.0,
    connectivity: int = 8,
    dem: Path | None = None,
    inputs: CityInputs | None = None,
    publish: bool = True,
) -> RunOutcome:
    """Static fill of the city to ``level_m`` (m above Hòn Dấu) from the tidal waterways.

    Depths are on an EPSG:9210 grid of ``resolution_m`` metres; tidal river cells (the
    boundary) are reported dry so that area and exposure count land only. Writes
    ``max_depth_m.tif`` and stores the run (see :func:`spp.flood.publish.publish_run`).

    Raises
    ------
    ScenarioError
        ``level_m`` at or below all ground, bad connectivity.
    LayerNotFoundError, InputFileError, DatabaseError
    """
    from spp.flood.static import inundate
    from spp.terrain import write_raster

    if connectivity not in (4, 8):
        raise ScenarioError(f"connectivity must be 4 or 8, got {connectivity}")
    started = datetime.now(UTC)
    inputs = inputs or read_city_inputs(db_url, catalog, settings, dem=dem)
    terrain = city_terrain(inputs, resolution_m=resolution_m)
    t0 = time.perf_counter()
    depth = inundate(terrain.elevation_m, level_m, boundary=terrain.boundary,
                     connectivity=connectivity)
    wall_s = time.perf_counter() - t0
    depth[terrain.boundary & np.isfinite(depth)] = 0.0
    name = f"static-{level_m:g}m"
    run_id = new_run_id(name, started)
    out_dir = settings.runs_dir / run_id
    out_dir.mkdir(parents=True, exist_ok=False)
    write_raster(out_dir / "max_depth_m.tif", depth, terrain, overviews=True)
    return _finish(
        run_id=run_id, kind="static", name=name,
        title=f"Static level {level_m:g} m above Hòn Dấu", started=started,
        parameters={"level_m": level_m, "connectivity": connectivity, "resolution_m": resolution_m,
                    "epsg": 9210, "dem": inputs.dem.name},
        depth=depth, terrain=terrain, inputs=inputs, out_dir=out_dir,
        cogs={"max_depth": f"{run_id}/max_depth_m.tif"}, db_url=db_url, catalog=catalog,
        publish=publish, extra={"level_m": level_m, "wall_s": wall_s},
    )


def run_city_scenario(
    scenario: Scenario,
    *,
    db_url: str,
    catalog: Catalog,
    settings: Settings,
    resolution_m: float | None = None,
    dem: Path | None = None,
    inputs: CityInputs | None = None,
    progress: Progress | None = None,
    publish: bool = True,
) -> RunOutcome:
    """Run a dynamic ``scenario`` on the city and store it.

    Parameters
    ----------
    scenario : Scenario
        Forcing and options; its ``resolution_m`` unless ``resolution_m`` is given.
    resolution_m : float, optional
        Model cell size in metres (EPSG:9210 grid).
    progress : callable, optional
        ``progress(t_s, duration_s)`` from the time loop.

    Returns
    -------
    RunOutcome
        COGs ``max_depth_m.tif``, ``arrival_h.tif`` (hours to ≥ 0.1 m, nodata = never)
        and ``duration_h_above_<d>m.tif`` per threshold in ``<runs_dir>/<run_id>/``.

    Raises
    ------
    ScenarioError, LayerNotFoundError, InputFileError, DatabaseError
    """
    from spp.flood.model import run_scenario
    from spp.terrain import write_raster

    if resolution_m is not None:
        if not resolution_m > 0:
            raise ScenarioError(f"resolution_m must be positive metres, got {resolution_m}")
        scenario = scenario.model_copy(update={"resolution_m": float(resolution_m)})
    started = datetime.now(UTC)
    inputs = inputs or read_city_inputs(db_url, catalog, settings, dem=dem)
    terrain = city_terrain(inputs, resolution_m=scenario.resolution_m, epsg=scenario.epsg)
    result = run_scenario(scenario, terrain, pumps=inputs.pumps, gates=inputs.gates,
                          landuse=inputs.landuse, progress=progress)
    run_id = new_run_id(scenario.name, started)
    out_dir = settings.runs_dir / run_id
    out_dir.mkdir(parents=True, exist_ok=False)
    write_raster(out_dir / "max_depth_m.tif", result.max_depth_m, terrain, overviews=True)
    write_raster(out_dir / "arrival_h.tif", result.arrival_time_s / 3600.0, terrain)
    durations = {}
    for thr, arr in result.duration_s.items():
        fname = f"duration_h_above_{thr:g}m.tif"
        write_raster(out_dir / fname, arr / 3600.0, terrain)
        durations[thr] = fname
    mb = result.mass_balance
    (out_dir / "mass_balance.json").write_text(json.dumps(mb.as_dict(), indent=2), encoding="utf-8")
    return _finish(
        run_id=run_id, kind="dynamic", name=scenario.name, title=scenario.title_en,
        started=started,
        parameters={"scenario": scenario.model_dump(mode="json"), "resolution_m": scenario.resolution_m},
        depth=result.max_depth_m, terrain=terrain, inputs=inputs, out_dir=out_dir,
        cogs={"max_depth": f"{run_id}/max_depth_m.tif", "arrival": f"{run_id}/arrival_h.tif",
              **{f"duration_above_{thr:g}m": f"{run_id}/{fname}" for thr, fname in durations.items()}},
        db_url=db_url, catalog=catalog, publish=publish,
        extra={"duration_h": scenario.duration_h, "mass_balance_error_pct": mb.error_pct,
               "mass_balance_error_m3": mb.error_m3, "wall_s": result.wall_s,
               # not stored in flood_runs; for reports and benchmarks
               "steps": result.steps, "rate": result.cell_updates_per_s,
               "cpu_s": result.cpu_s, "visited_share": result.visited_share,
               "grid": f"{terrain.shape[1]}×{terrain.shape[0]}"},
    )
