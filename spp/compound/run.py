"""A stored flood → telecom run: flood run and layers from PostGIS, results as layers.

:func:`run_flood_telecom` takes a flood run (:func:`resolve_flood_run`: a stored run id,
the latest stored run of a scenario, or a new run of a bundled scenario or of
``static-<level>m``), reads its maximum-depth COG, the telecom sites, substations,
buildings and communes, and applies :mod:`spp.compound.model`. The coverage grid and its
inputs are prepared as in a stored coverage run (:mod:`spp.coverage.run`: the city DEM at
the run's cell size, building heights for line of sight, on-air sites, 5 km reach around
one commune), so the normal-times shares equal those of ``spp coverage run``.
Results go to ``flood_telecom_by_commune`` and ``flood_telecom_sites`` through the
versioned loader (:func:`spp.coverage.publish.append_run_rows`).

Metric work is on an EPSG:9210 grid (VN-2000 / TM-3 105°45′); layers are read and stored
in EPSG:4326.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spp.compound.model import DEFAULT_EQUIPMENT_HEIGHT_M, SUBSTATION_RADIUS_M
from spp.errors import InputFileError, ScenarioError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from spp.catalog import Catalog
    from spp.settings import Settings

__all__ = ["FloodTelecomRun", "known_flood_scenarios", "resolve_flood_run", "run_flood_telecom"]

log = logging.getLogger(__name__)
StageProgress = Callable[[str, int, int], None]
_STATIC = re.compile(r"static-(-?\d+(?:\.\d+)?)m")


@dataclass
class FloodTelecomRun:
    """What a flood → telecom run computed (and stored)."""

    run_id: str
    flood_run_id: str
    scenario: str
    area: str
    resolution_m: float
    threshold_dbm: float
    substation_radius_m: float
    communes: pd.DataFrame
    sites: gpd.GeoDataFrame
    """The down sites (EPSG:4326), ranked for hardening (:func:`~spp.compound.model.rank_hardening`)."""
    substations_down: list[str]
    sites_on_air: int
    seconds: float
    flood_ran: bool = False
    substations: pd.DataFrame | None = None
    """Flooded substations feeding sites of the area: ``substation_id``, ``name``,
    ``depth_m``, ``sites_cut_off`` (sites down with it as a cause), ``sites_only_cut_off``
    (down only because of it) and ``people_regained`` (5G, if it stayed dry), most first."""
    versions: dict[str, int] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def people_losing_service(self) -> float:
        """People who lose 5G during the flood, over the area's communes."""
        return float(self.communes["people_losing_service"].sum())


def known_flood_scenarios(db_url: str, catalog: Catalog) -> list[str]:
    """Bundled scenario names and the scenarios of stored runs, sorted, without repeats."""
    from spp.flood.publish import read_runs
    from spp.flood.scenario import bundled_scenarios

    stored = set(read_runs(db_url, catalog)["scenario"].astype(str))
    return sorted(set(bundled_scenarios()) | stored)


def resolve_flood_run(
    settings: Settings,
    db_url: str,
    scenario: str,
    *,
    catalog: Catalog,
    flood_resolution_m: float | None = None,
    run: bool = True,
) -> tuple[dict[str, Any], bool]:
    """The ``flood_runs`` record to use for ``scenario``, and whether it was run now.

    ``scenario`` is a stored run id, or the name of a scenario whose latest stored run is
    taken; when none is stored and ``run`` is true, a bundled scenario (``spring-tide``
    …) is run with :func:`spp.flood.city.run_city_scenario` and ``static-<level>m``
    (level in metres above Hòn Dấu) with :func:`spp.flood.city.run_city_static`, at
    ``flood_resolution_m`` (default: the scenario's own, 50 m) and stored.

    Raises
    ------
    ScenarioError
        Unknown scenario (the message lists the known ones), or not stored and ``run``
        is false.
    """
    from spp.flood.publish import read_runs
    from spp.flood.scenario import bundled_scenarios

    name = scenario.strip()
    runs = read_runs(db_url, catalog)
    if len(runs):
        by_id = runs[runs["run_id"] == name]
        if len(by_id):
            return by_id.iloc[-1].to_dict(), False
        of_scenario = runs[runs["scenario"] == name]
        if len(of_scenario):
            return of_scenario.iloc[-1].to_dict(), False
    static = _STATIC.fullmatch(name)
    if name not in bundled_scenarios() and static is None:
        known = known_flood_scenarios(db_url, catalog)
        raise ScenarioError(
            f"unknown flood scenario {scenario!r}; known scenarios: {', '.join(known)}, "
            "a stored run id ('spp flood runs'), or static-<level>m (e.g. static-1.5m)")
    if not run:
        raise ScenarioError(f"no stored run of flood scenario {name!r}; run it first")
    from spp.flood.city import run_city_scenario, run_city_static

    log.info("no stored run of %s: running it", name)
    if static is not None:
        outcome = run_city_static(float(static.group(1)), db_url=db_url, catalog=catalog,
                                  settings=settings, resolution_m=flood_resolution_m or 50.0)
    else:
        from spp.flood.scenario import load_scenario

        outcome = run_city_scenario(load_scenario(name), db_url=db_url, catalog=catalog,
                                    settings=settings, resolution_m=flood_resolution_m)
    return dict(outcome.record), True


def _read_depth(settings: Settings, record: dict[str, Any]) -> tuple[Any, Any, Any]:
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(settings.runs_dir) / str(record["max_depth_cog"])
    try:
        with rasterio.open(path) as src:
            data = src.read(1, masked=True).astype(np.float64).filled(np.nan)
            return data, src.transform, src.crs
    except RasterioIOError as exc:
        raise InputFileError(
            f"flood run {record['run_id']}: cannot read its depth COG {path}: {exc}; "
            "run the scenario again ('spp flood run …')") from exc


def run_flood_telecom(
    settings: Settings,
    db_url: str,
    scenario: str,
    *,
    commune: str | None = None,
    resolution_m: float = 50.0,
    threshold_dbm: float = -110.0,
    substation_radius_m: float = SUBSTATION_RADIUS_M,
    default_height_m: float = DEFAULT_EQUIPMENT_HEIGHT_M,
    use_buildings: bool = True,
    flood_resolution_m: float | None = None,
    dem_path: Path | None = None,
    store: bool = True,
    progress: StageProgress | None = None,
) -> FloodTelecomRun:
    """Sites down, 5G coverage normal vs flood per commune, and hardening ranks.

    Parameters
    ----------
    settings : Settings
        Catalogue, runs folder (flood COGs) and the DEM.
    db_url : str
        libpq URL of the SPP database.
    scenario : str
        Flood scenario name or stored run id (see :func:`resolve_flood_run`).
    commune : str, optional
        One commune (name with or without diacritics, or 5-digit code); default the city.
    resolution_m : float
        Coverage grid cell size, metres (EPSG:9210), within [10, 500].
    threshold_dbm : float
        5G RSRP threshold for covered, dBm, within [-140, -40].
    substation_radius_m : float
        A site depends on the nearest substation within this distance, metres (0: none).
    default_height_m : float
        Critical equipment height where a site or substation gives none, metres.
    use_buildings : bool
        Building heights in the line-of-sight surface (as ``spp coverage run``).
    flood_resolution_m : float, optional
        Cell size of a flood run started because none is stored, metres.
    dem_path : Path, optional
        Ground elevation GeoTIFF in EPSG:9210 metres (default the city DEM).
    store : bool
        Publish ``flood_telecom_by_commune`` and ``flood_telecom_sites``.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Raises
    ------
    ScenarioError
        Unknown scenario, bad threshold/resolution/radius/height.
    CommuneNotFoundError, LayerNotFoundError, InputFileError, DatabaseError
    """
    import geopandas as gpd

    from spp.catalog import load_catalog
    from spp.compound.model import (
        commune_outage,
        outage_coverage,
        radio_sites,
        rank_hardening,
        sites_down,
    )
    from spp.coverage.gaps import commune_labels, population_grid
    from spp.coverage.model import CoverageSettings, sectors_from_sites
    from spp.coverage.publish import new_run_id
    from spp.coverage.run import (
        REACH_M,
        StageTimes,
        _surface,
        check_run_inputs,
        read_area_dem,
        select_communes,
    )
    from spp.names import name_key
    from spp.store.query import read_layer

    check_run_inputs(resolution_m=resolution_m, threshold_dbm=threshold_dbm)
    if not (isinstance(substation_radius_m, (int, float)) and 0 <= substation_radius_m <= 100_000):
        raise ScenarioError(f"substation radius must be within [0, 100000] m, "
                            f"got {substation_radius_m!r}")
    if not (isinstance(default_height_m, (int, float)) and 0 <= default_height_m <= 30):
        raise ScenarioError(f"default equipment height must be within [0, 30] m, "
                            f"got {default_height_m!r}")
    t0 = time.perf_counter()
    timings = StageTimes()
    lap = timings.lap

    catalog = load_catalog(settings.layers_dir)
    communes = read_layer(db_url, catalog.get("communes"), columns=["ma_xa", "ten"])
    chosen = select_communes(communes, commune)
    area = str(chosen["ten"].iloc[0]) if commune is not None else "Thành phố Cần Thơ"
    record, ran = resolve_flood_run(settings, db_url, scenario, catalog=catalog,
                                    flood_resolution_m=flood_resolution_m)
    flood_run_id, flood_scenario = str(record["run_id"]), str(record["scenario"])
    t = lap("flood", t0)
    depth, depth_transform, depth_crs = _read_depth(settings, record)
    b = chosen.to_crs(9210).total_bounds
    margin = REACH_M if commune is not None else 0.0
    if dem_path is None:
        from spp.flood.city import default_dem

        dem_path = default_dem(settings)
    ground, grid = read_area_dem(dem_path, (b[0] - margin, b[1] - margin, b[2] + margin,
                                            b[3] + margin), resolution_m=resolution_m)
    grid_bbox = tuple(gpd.GeoSeries.from_xy(
        [grid.transform.c, grid.transform.c + grid.shape[1] * grid.cell_x_m],
        [grid.transform.f - grid.shape[0] * grid.cell_y_m, grid.transform.f],
        crs=grid.crs).to_crs(4326).total_bounds)
    sites = read_layer(db_url, catalog.get("telecom_sites"), bbox=grid_bbox)
    substations = read_layer(db_url, catalog.get("substations"),
                             columns=["substation_id", "name", "critical_equipment_height_m"])
    buildings = read_layer(db_url, catalog.get("buildings"),
                           columns=["building_id", "height_m", "population"],
                           bbox=grid_bbox if use_buildings else tuple(chosen.total_bounds))
    t = lap("read", t)
    surface = _surface(ground, grid, buildings) if use_buildings else None
    radio = radio_sites(sites, grid=grid, ground=ground)
    state = sites_down(radio, substations, depth, transform=depth_transform, crs=depth_crs,
                       radius_m=float(substation_radius_m), default_height_m=float(default_height_m))
    is_5g = (state["technology"] == "5G").to_numpy()
    down = state["down"].to_numpy(bool)
    sectors_up = sectors_from_sites(state[is_5g & ~down], crs=grid.crs)
    sectors_down = sectors_from_sites(state[is_5g & down], crs=grid.crs)
    pop = population_grid(buildings, grid)
    pop_in = np.where(commune_labels(chosen, grid) > 0, pop, 0.0)
    cov_settings = CoverageSettings(radius_m=REACH_M,
                                    threshold_dbm={"5G": threshold_dbm, "4G": threshold_dbm})
    t = lap("prepare", t)
    only_sub = state[is_5g & (state["cause"] == "substation").to_numpy()]
    groups = {str(k): list(v.astype(str)) for k, v in only_sub.groupby("substation_id")["site_id"]}
    outage = outage_coverage(
        ground, grid, sectors_up=sectors_up, sectors_down=sectors_down,
        threshold_dbm=threshold_dbm, population=pop_in, surface=surface, settings=cov_settings,
        groups=groups, progress=(lambda d, n: progress("sites", d, n)) if progress else None)
    t = lap("coverage", t)
    table = commune_outage(chosen, outage, grid, population=pop_in,
                           down_5g=state[is_5g & down])
    ranked = rank_hardening(state[down], outage.gains).to_crs(4326)
    sub_flooded = state.loc[state["substation_flooded"], "substation_id"]
    run_id = new_run_id("ftel", f"{flood_scenario} {'city' if commune is None else name_key(area)}")
    run = FloodTelecomRun(
        run_id, flood_run_id, flood_scenario, area, float(resolution_m), float(threshold_dbm),
        float(substation_radius_m), table, ranked, sorted(set(sub_flooded.astype(str))),
        len(state), 0.0, ran, timings_s=timings)
    run.substations = _substation_table(state, substations, outage.group_gains)
    t = lap("tables", t)
    if store:
        run.versions = _publish(db_url, catalog, run)
        lap("store", t)
    run.seconds = time.perf_counter() - t0
    log.info("flood-telecom run %s: %.1f s (%s)", run_id, run.seconds, timings)
    return run


def _substation_table(state: gpd.GeoDataFrame, substations: gpd.GeoDataFrame,
                      gains: dict[str, float]) -> pd.DataFrame:
    import pandas as pd

    cut = state[state["substation_flooded"].to_numpy(bool)]
    rows = []
    names = dict(zip(substations["substation_id"].astype(str), substations["name"].astype(str)))
    for sub_id, sites in cut.groupby("substation_id"):
        rows.append({"substation_id": str(sub_id), "name": names.get(str(sub_id)),
                     "depth_m": float(sites["substation_depth_m"].iloc[0]),
                     "sites_cut_off": len(sites),
                     "sites_only_cut_off": int((sites["cause"] == "substation").sum()),
                     "people_regained": gains.get(str(sub_id), 0.0)})
    columns = ["substation_id", "name", "depth_m", "sites_cut_off", "sites_only_cut_off",
               "people_regained"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["people_regained", "substation_id"], ascending=[False, True],
                             kind="stable").reset_index(drop=True)


def _publish(db_url: str, catalog: Catalog, run: FloodTelecomRun) -> dict[str, int]:
    from spp.coverage.publish import append_run_rows

    common = {"run_id": run.run_id, "flood_run_id": run.flood_run_id, "scenario": run.scenario}
    by_commune = run.communes.assign(**common, resolution_m=run.resolution_m,
                                     threshold_dbm=run.threshold_dbm)
    by_commune["row_id"] = run.run_id + ":" + by_commune["ma_xa"].astype(str)
    sites = run.sites.assign(**common)
    sites["row_id"] = run.run_id + ":" + sites["site_id"].astype(str)
    # "none" rather than NULL: the store cannot take a text column that is NULL in every
    # row (as with a radius of 0), and one spelling keeps the layer easy to filter
    sites["substation_id"] = sites["substation_id"].astype(object).where(
        sites["substation_id"].notna(), "none")
    sites["harden_rank"] = sites["harden_rank"].astype("Int64")
    versions: dict[str, int] = {}
    note = f"flood-telecom run {run.run_id} ({run.area}, flood run {run.flood_run_id})"
    for layer, rows, latest in (("flood_telecom_sites", sites, True),
                                ("flood_telecom_by_commune", by_commune, False)):
        if not len(rows):
            continue
        report = append_run_rows(db_url, catalog, layer, rows, run_id=run.run_id,
                                 latest_per_area=latest, note=note)
        if report is not None:
            versions[layer] = report.version
    return versions
