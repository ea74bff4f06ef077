"""Options shared by several ``spp`` commands (defined once, as in rasterio's ``rio``)."""

from __future__ import annotations

import click

overwrite_opt = click.option(
    "--overwrite", is_flag=True, default=False, help="Replace an existing output file."
)
bbox_opt = click.option(
    "--bbox",
    nargs=4,
    type=float,
    default=None,
    metavar="MINX MINY MAXX MAXY",
    help="Bounding box (minx, miny, maxx, maxy) in the CRS given by --crs (default EPSG:4326).",
)
crs_opt = click.option(
    "--crs", default=None, metavar="EPSG:CODE", help="CRS of the input, e.g. EPSG:9210 (VN-2000)."
)


def progress_enabled() -> bool:
    """Show progress bars only when stderr is a terminal."""
    import sys

    return sys.stderr.isatty()
