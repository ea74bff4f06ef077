"""``spp broadband``: fibre reach along roads (``reach`` file based, ``run`` on the store)."""

from __future__ import annotations

from pathlib import Path

import click

from spp.cli.options import overwrite_opt


@click.group()
def broadband() -> None:
    """Fibre broadband: households within the drop limit along roads."""


def _read(path: Path) -> object:
    import geopandas as gpd

    from spp.errors import InputFileError

    try:
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputFileError(f"cannot read {path}: {exc}") from exc


@broadband.command("reach")
@click.option("--roads", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Road LineStrings (any CRS, e.g. EPSG:4326 GeoJSON).")
@click.option("--access-points", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Fibre access points.")
@click.option("--buildings", required=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="Buildings (points or polygons, optional 'households').")
@click.option("--communes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Commune polygons: print household shares per commune.")
@click.option("--drop-limit-m", default=300.0, show_default=True, type=float)
@click.option("--target-share", default=0.9, show_default=True, type=float)
@click.option("--epsg", default=9210, show_default=True, type=int,
              help="Projected CRS for distances.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output GeoJSON of buildings with distances and 'passable'.")
@overwrite_opt
def reach_cmd(roads: Path, access_points: Path, buildings: Path, communes: Path | None,
              drop_limit_m: float, target_share: float, epsg: int, out: Path,
              overwrite: bool) -> None:
    """Distance along roads from each building to the nearest access point."""
    import numpy as np

    from spp.broadband import build_road_graph, fibre_reach, household_shares
    from spp.errors import InputFileError

    if out.exists() and not overwrite:
        raise InputFileError(f"{out} exists; pass --overwrite to replace it")
    graph = build_road_graph(_read(roads), epsg=epsg)
    reach = fibre_reach(graph, _read(access_points), _read(buildings),
                        drop_limit_m=drop_limit_m)
    written = reach.copy()
    for col in ("road_distance_m", "total_distance_m"):
        written[col] = written[col].replace([np.inf], np.nan)
    if out.exists():
        out.unlink()
    written.to_crs(4326).to_file(out, driver="GeoJSON")
    hh = reach["households"]
    click.echo(f"{out}: {int(reach['passable'].sum())} of {len(reach)} buildings passable, "
               f"{(hh * reach['passable']).sum() / max(hh.sum(), 1):.1%} of households")
    if communes is not None:
        shares = household_shares(reach, _read(communes),
                                  target_share=target_share)
        click.echo(shares.to_csv(index=False), nl=False)


@broadband.command("run")
@click.option("--commune", default=None, metavar="NAME",
              help="One commune (name with or without diacritics, or code); default the city.")
@click.option("--drop-limit-m", default=300.0, show_default=True, type=float,
              help="Longest drop along roads, m.")
@click.option("--target-share", default=0.9, show_default=True, type=float,
              help="Household share each commune should reach.")
@click.option("--plan", is_flag=True, help="Also plan fibre extensions to reach the target.")
@click.option("--cost-vnd-per-km", default=None, type=float,
              help="Cost of new fibre along roads, VND/km (default 150,000,000, a placeholder).")
@click.option("--max-km", default=None, type=float,
              help="Plan budget in km of new fibre per commune.")
def run_cmd(commune: str | None, drop_limit_m: float, target_share: float, plan: bool,
            cost_vnd_per_km: float | None, max_km: float | None) -> None:
    """Households passable per commune from the stored layers; store them (and a plan)."""
    from spp.broadband import DEFAULT_COST_VND_PER_KM, run_broadband
    from spp.cli.options import progress_enabled
    from spp.settings import get_settings
    from spp.store.db import url

    progress = None
    if plan and progress_enabled():
        from tqdm import tqdm

        bar = tqdm(desc="extensions", unit="ext")

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

    settings = get_settings()
    run = run_broadband(settings, url(settings), commune=commune, drop_limit_m=drop_limit_m,
                        target_share=target_share, plan=plan, max_km=max_km,
                        cost_vnd_per_km=(DEFAULT_COST_VND_PER_KM if cost_vnd_per_km is None
                                         else cost_vnd_per_km),
                        progress=progress)
    hh = float(run.shares["households"].sum())
    ok = float(run.shares["passable_households"].sum())
    meets = int(run.shares["meets_target"].sum())
    click.echo(f"run {run.run_id}: {run.area}, {run.seconds:.1f} s; households passable "
               f"{ok / hh if hh else float('nan'):.1%} of {hh:,.0f}; {meets} of "
               f"{len(run.shares)} communes meet {target_share:.0%}")
    if run.segments is not None:
        click.echo(f"plan: {len(run.segments)} extensions, {run.km:,.1f} km, "
                   f"{run.cost_vnd:,.0f} VND ({run.stopped_because})")
    click.echo("stored: " + ", ".join(f"{k} v{v}" for k, v in run.versions.items()))
