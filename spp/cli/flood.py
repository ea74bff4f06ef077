"""``spp flood``: static level fill, dynamic scenario runs on the city, comparison of runs.

Without file arguments the commands model the city held in PostGIS (``spp load --all``
loads the sample city): the DEM is the sample's ``dem.tif`` (or ``--dem`` /
``SPP_FLOOD_DEM``), the other inputs are the live layers. Results go to
``<state>/runs/<run_id>/`` (COGs) and to the layers ``flood_runs``, ``flood_exposure`` and
``flood_extents``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from spp.cli.options import overwrite_opt, progress_enabled

resolution_opt = click.option(
    "--resolution-m", type=click.FloatRange(min=1.0), default=50.0, show_default=True,
    help="Model cell size in metres (EPSG:9210 grid).")


@click.group()
def flood() -> None:
    """Flood inundation (static r.lake-style fill, dynamic local-inertial model)."""


def _city() -> tuple[Any, Any, str]:
    from spp.catalog import load_catalog
    from spp.settings import get_settings
    from spp.store.db import url

    settings = get_settings()
    return settings, load_catalog(settings.layers_dir), url(settings)


def _summary(outcome: Any) -> str:
    r = outcome.record
    text = (f"run {outcome.run_id}: {r['flooded_km2']:.2f} km² flooded ≥ 0.1 m, "
            f"{r['people_exposed']:,} people, {r['buildings_flooded']:,} buildings")
    if r.get("mass_balance_error_pct") is not None:
        text += f", mass error {r['mass_balance_error_pct']:.4f}%"
    where = "stored in flood_runs/flood_exposure/flood_extents" if outcome.published else "not stored"
    return f"{text}; COGs in {outcome.out_dir}; {where}"


@flood.command("static")
@click.option("--level", "level_m", required=True, type=float,
              help="Water level at the boundary, metres above the national datum (Hòn Dấu).")
@click.option("--dem", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="DEM GeoTIFF. With --out: file to file, edge or --seed/--boundary cells as "
                   "boundary, nothing stored. Without --out: the city run on this DEM.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output depth COG of a file-to-file run (needs --dem).")
@click.option("--seed", nargs=2, type=float, default=None, metavar="X Y",
              help="File mode: boundary point in the DEM's CRS (default: DEM edge cells).")
@click.option("--boundary", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="File mode: vector file whose geometries are boundary cells.")
@click.option("--connectivity", type=click.Choice(["4", "8"]), default="8", show_default=True)
@resolution_opt
@click.option("--no-store", is_flag=True, help="City mode: write the COG but store nothing.")
@overwrite_opt
def static_cmd(level_m: float, dem: Path | None, out: Path | None,
               seed: tuple[float, float] | None, boundary: Path | None, connectivity: str,
               resolution_m: float, no_store: bool, overwrite: bool) -> None:
    """Flood every cell below LEVEL connected to the river; report and store exposure.

    Without --out: the city (PostGIS layers, tidal waterways as boundary), stored as a run.
    """
    if out is not None:
        from spp.flood.static import inundate_raster

        if dem is None:
            raise click.UsageError("--out writes a file-to-file run and needs --dem")
        if seed and boundary:
            raise click.UsageError("give --seed or --boundary, not both")
        res = inundate_raster(dem, level_m, out, seed_xy=(seed[0], seed[1]) if seed else None,
                              boundary=boundary, connectivity=int(connectivity),
                              overwrite=overwrite)
        click.echo(f"{res.path}: {res.flooded_cells} cells flooded ({res.flooded_km2:.3f} km²), "
                   f"max depth {res.max_depth_m:.2f} m, {res.total_s:.2f} s")
        return
    if seed or boundary:
        raise click.UsageError("--seed/--boundary apply to file-to-file runs (with --out)")
    from spp.flood.city import run_city_static

    settings, catalog, db_url = _city()
    outcome = run_city_static(level_m, db_url=db_url, catalog=catalog, settings=settings,
                              resolution_m=resolution_m, connectivity=int(connectivity),
                              dem=dem, publish=not no_store)
    click.echo(_summary(outcome))


@flood.command("nowcast")
@resolution_opt
@click.option("--max-age-h", type=click.FloatRange(min=0.0, min_open=True), default=3.0, show_default=True,
              help="Use gauges read within this many hours of the newest reading.")
@click.option("--include-offline", is_flag=True, help="Also use gauges whose status is offline.")
@click.option("--connectivity", type=click.Choice(["4", "8"]), default="8", show_default=True)
@click.option("--no-store", is_flag=True, help="Write the COG but store nothing.")
def nowcast_cmd(resolution_m: float, max_age_h: float, include_offline: bool, connectivity: str,
                no_store: bool) -> None:
    """Flood the city from the latest water-level readings (nearest gauge per river cell).

    Same fill as `spp flood static`, with each tidal river cell at the level of its nearest
    usable gauge (online, read within --max-age-h of the newest reading); stored as a run.
    """
    from spp.flood.nowcast import run_city_nowcast

    settings, catalog, db_url = _city()
    outcome, gauges = run_city_nowcast(db_url=db_url, catalog=catalog, settings=settings,
                                       resolution_m=resolution_m, connectivity=int(connectivity),
                                       max_age_h=max_age_h, include_offline=include_offline,
                                       publish=not no_store)
    levels = gauges.used["level_m"]
    click.echo(f"{len(gauges.used)} gauges (newest reading {gauges.newest:%Y-%m-%d %H:%M} UTC), "
               f"levels {levels.min():g}–{levels.max():g} m; {len(gauges.skipped)} left out"
               + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(gauges.skipped.items())[:5])
                  + (" …" if len(gauges.skipped) > 5 else "") + ")" if gauges.skipped else ""))
    click.echo(_summary(outcome))


@flood.command("scenarios")
def scenarios_cmd() -> None:
    """List the bundled Can Tho scenarios."""
    from spp.flood.scenario import bundled_scenarios, load_scenario

    for name in bundled_scenarios():
        s = load_scenario(name)
        click.echo(f"{name}\t{s.title_en} / {s.title_vi}")


@flood.command("run")
@click.argument("scenario")
@click.option("--dem", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="DEM GeoTIFF (default: SPP_FLOOD_DEM or the sample city's dem.tif).")
@click.option("--resolution-m", type=click.FloatRange(min=1.0), default=None,
              help="Model cell size in metres (default: the scenario's, 50 m for the bundled ones).")
@click.option("--duration-h", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Simulate only the first HOURS of the scenario.")
@click.option("--no-store", is_flag=True, help="Write the COGs but store nothing in PostGIS.")
def run_cmd(scenario: str, dem: Path | None, resolution_m: float | None, duration_h: float | None,
            no_store: bool) -> None:
    """Run SCENARIO (bundled name or YAML file) on the city and store the run.

    Inputs come from PostGIS (dikes, waterways, pump_stations, sluice_gates, land_use,
    communes, buildings, roads, substations); COGs of max depth, arrival time and duration
    go to <state>/runs/<run_id>/.
    """
    from spp.flood.city import run_city_scenario
    from spp.flood.scenario import load_scenario

    sc = load_scenario(scenario)
    if duration_h is not None:
        sc = sc.model_copy(update={"duration_h": duration_h})
    settings, catalog, db_url = _city()
    bar = None
    progress = None
    if progress_enabled():
        from tqdm import tqdm

        bar = tqdm(total=round(sc.duration_h, 2), unit="h", desc=sc.name)

        def progress(t_s: float, total_s: float) -> None:
            bar.n = round(t_s / 3600.0, 2)
            bar.refresh()

    try:
        outcome = run_city_scenario(sc, db_url=db_url, catalog=catalog, settings=settings,
                                    resolution_m=resolution_m, dem=dem, progress=progress,
                                    publish=not no_store)
    finally:
        if bar is not None:
            bar.close()
    click.echo(_summary(outcome))


@flood.command("runs")
def runs_cmd() -> None:
    """List the stored runs (flood_runs), oldest first."""
    from spp.flood.publish import read_runs

    _, catalog, db_url = _city()
    runs = read_runs(db_url, catalog)
    if not len(runs):
        click.echo("no flood runs stored; try 'spp flood run spring-tide'")
        return
    for r in runs.itertuples():
        click.echo(f"{r.run_id}\t{r.kind}\t{r.scenario}\t{r.resolution_m:g} m\t"
                   f"{r.flooded_km2:.2f} km²\t{r.people_exposed} people")


@flood.command("compare")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write every commune's values and differences as CSV ('-' = stdout).")
@click.option("--all", "show_all", is_flag=True, help="Also list communes that did not change.")
def compare_cmd(run_a: str, run_b: str, csv_path: str | None, show_all: bool) -> None:
    """Per-commune differences RUN_B − RUN_A (flooded km², share, people, buildings, road km)."""
    from spp.flood.publish import compare_exposure, read_run_exposure

    _, catalog, db_url = _city()
    diff = compare_exposure(read_run_exposure(db_url, catalog, run_a),
                            read_run_exposure(db_url, catalog, run_b))
    if csv_path is not None:
        if csv_path == "-":
            click.echo(diff.to_csv(index=False), nl=False)
            return
        diff.to_csv(csv_path, index=False)
    changed = diff[(diff.filter(like="_diff").abs() > 1e-9).any(axis=1)]
    shown = diff if show_all else changed
    click.echo(f"{run_b} − {run_a}: {len(changed)} of {len(diff)} communes differ")
    click.echo(f"{'ma_xa':<7} {'commune':<24} {'km² A':>8} {'km² B':>8} {'Δ km²':>8} "
               f"{'people A':>9} {'people B':>9} {'Δ people':>9} {'Δ bldg':>7} {'Δ road km':>9}")
    for r in shown.itertuples():
        click.echo(f"{r.ma_xa:<7} {str(r.ten)[:24]:<24} {r.flooded_km2_a:8.2f} {r.flooded_km2_b:8.2f} "
                   f"{r.flooded_km2_diff:+8.2f} {r.people_exposed_a:9.0f} {r.people_exposed_b:9.0f} "
                   f"{r.people_exposed_diff:+9.0f} {r.buildings_flooded_diff:+7.0f} "
                   f"{r.road_km_impassable_diff:+9.2f}")
    total = {q: float(diff[f"{q}_diff"].sum()) for q in ("flooded_km2", "people_exposed")}
    click.echo(f"total: {total['flooded_km2']:+.2f} km², {total['people_exposed']:+.0f} people")
    if csv_path not in (None, "-"):
        click.echo(f"CSV written to {csv_path}")
