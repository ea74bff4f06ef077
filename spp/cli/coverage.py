"""``spp coverage``: line of sight and path loss (file based) and stored runs (``run``)."""

from __future__ import annotations

from pathlib import Path

import click

from spp.cli.options import overwrite_opt


@click.group()
def coverage() -> None:
    """Radio coverage (3GPP TR 38.901 path loss, line of sight, RSRP)."""


@coverage.command("los")
@click.option("--dem", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Single-band projected (metre) DEM GeoTIFF.")
@click.option("--surface", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Optional surface (ground + buildings) GeoTIFF on the DEM's grid.")
@click.option("--site", nargs=2, type=float, required=True, metavar="X Y",
              help="Site position in the DEM's CRS (metres).")
@click.option("--height-m", required=True, type=float, help="Antenna height above ground, m.")
@click.option("--target-height-m", default=1.5, show_default=True, type=float,
              help="Receiver height above ground, m.")
@click.option("--radius-m", default=10_000.0, show_default=True, type=float,
              help="Maximum distance, m.")
@click.option("--refraction-k", default=4 / 3, show_default="4/3", type=float,
              help="Effective Earth-radius factor (0 = flat Earth).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output GeoTIFF: uint8 1 visible, 0 hidden, 255 nodata (beyond radius).")
@overwrite_opt
def los_cmd(dem: Path, surface: Path | None, site: tuple[float, float], height_m: float,
            target_height_m: float, radius_m: float, refraction_k: float, out: Path,
            overwrite: bool) -> None:
    """Cells visible from a site, on the DEM's grid and CRS."""
    import time

    import numpy as np

    from spp.coverage.los import OUTSIDE, read_dem, viewshed, write_uint8
    from spp.errors import InputFileError, RasterError

    if out.exists() and not overwrite:
        raise InputFileError(f"{out} exists; pass --overwrite to replace it")
    started = time.perf_counter()
    ground, grid = read_dem(dem)
    surf = None
    if surface is not None:
        surf, sgrid = read_dem(surface)
        if sgrid.shape != grid.shape or sgrid.transform != grid.transform:
            raise RasterError(f"{surface} is not on the grid of {dem}")
        surf = np.where(np.isnan(surf), ground, surf)
    vis = viewshed(ground, grid, x=site[0], y=site[1], height_m=height_m,
                   target_height_m=target_height_m, radius_m=radius_m, surface=surf,
                   refraction_k=refraction_k or None)
    write_uint8(out, vis, grid, overwrite=overwrite)
    inside = vis != OUTSIDE
    share = float((vis == 1).sum()) / max(int(inside.sum()), 1)
    click.echo(f"{out}: {int((vis == 1).sum())} of {int(inside.sum())} cells visible "
               f"({share:.1%}), {time.perf_counter() - started:.2f} s")


@coverage.command("pathloss")
@click.option("--model", type=click.Choice(["fspl", "uma", "umi", "rma"]), required=True)
@click.option("--los/--nlos", default=True, show_default=True,
              help="Line of sight or not (ignored by fspl).")
@click.option("--freq-mhz", required=True, type=float, help="Carrier frequency, MHz.")
@click.option("--distance-m", required=True, type=float, help="Horizontal distance, m.")
@click.option("--h-bs-m", default=25.0, show_default=True, type=float,
              help="Base-station antenna height, m.")
@click.option("--h-ut-m", default=1.5, show_default=True, type=float,
              help="User-terminal height, m.")
@click.option("--allow-out-of-range", is_flag=True,
              help="Warn instead of failing outside TR 38.901's validity ranges.")
def pathloss_cmd(model: str, los: bool, freq_mhz: float, distance_m: float, h_bs_m: float,
                 h_ut_m: float, allow_out_of_range: bool) -> None:
    """Print the median path loss in dB (3GPP TR 38.901 Table 7.4.1-1, or free space)."""
    from spp.coverage.pathloss import pathloss_db

    value = pathloss_db(model, distance_m, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m, los=los,
                        out_of_range="warn" if allow_out_of_range else "raise")
    click.echo(f"{float(value):.2f}")


def _stage_bar() -> object:
    """A tqdm bar per stage on a TTY, else None."""
    from spp.cli.options import progress_enabled

    if not progress_enabled():
        return None
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="site", leave=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


@coverage.command("run")
@click.option("--commune", default=None, metavar="NAME",
              help="One commune (name with or without diacritics, or 5-digit code); "
                   "default the whole city.")
@click.option("--resolution-m", default=50.0, show_default=True, type=float,
              help="Grid cell size, m (EPSG:9210).")
@click.option("--threshold-dbm", default=-110.0, show_default=True, type=float,
              help="RSRP at or above this is covered, dBm (within [-140, -40]).")
@click.option("--no-buildings", is_flag=True,
              help="Terrain only for line of sight (ignore building heights).")
@click.option("--plan", is_flag=True, help="Also plan new 5G sites (greedy, to 100% per commune).")
@click.option("--max-sites", default=None, type=int, help="Plan budget in sites.")
@click.option("--dem", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="DEM GeoTIFF in EPSG:9210 metres "
                   "(default: SPP_FLOOD_DEM or the sample city's dem.tif).")
def run_cmd(commune: str | None, resolution_m: float, threshold_dbm: float, no_buildings: bool,
            plan: bool, max_sites: int | None, dem: Path | None) -> None:
    """Best-server RSRP from the stored layers; store shares, gaps (and a site plan)."""
    from spp.coverage.run import check_run_inputs, run_coverage
    from spp.settings import get_settings
    from spp.store.db import url

    check_run_inputs(resolution_m=resolution_m, threshold_dbm=threshold_dbm)
    settings = get_settings()
    run = run_coverage(settings, url(settings), commune=commune, resolution_m=resolution_m,
                       threshold_dbm=threshold_dbm, use_buildings=not no_buildings, plan=plan,
                       max_sites=max_sites, dem_path=dem,
                       progress=_stage_bar())  # type: ignore[arg-type]
    overall = run.shares[run.shares["operator"] == "all"]
    pop = float(overall["population"].sum())
    cov = float(overall["covered_population"].sum())
    click.echo(f"run {run.run_id}: {run.area}, {run.sites} sites / {run.sectors} sectors, "
               f"{run.resolution_m:g} m cells, {run.seconds:.1f} s")
    click.echo(f"5G population covered (RSRP ≥ {run.threshold_dbm:g} dBm): "
               f"{cov / pop if pop else float('nan'):.1%} of {pop:,.0f}; "
               f"{len(run.gaps)} gap polygons")
    if run.planned is not None:
        click.echo(f"site plan: {len(run.planned)} new sites, "
                   f"{float(run.planned['people_gained'].sum()):,.0f} people gained "
                   f"({run.plan_stopped})")
    click.echo(f"RSRP COG: {run.raster}")
    click.echo("stored: " + ", ".join(f"{k} v{v}" for k, v in run.versions.items()))
