"""``spp coverage``: line of sight and path loss from the command line (file based)."""

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
