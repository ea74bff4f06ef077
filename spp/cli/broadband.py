"""``spp broadband``: fibre reach along roads (file based; DB-backed runs come later)."""

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
    graph = build_road_graph(_read(roads), epsg=epsg)  # type: ignore[arg-type]
    reach = fibre_reach(graph, _read(access_points), _read(buildings),  # type: ignore[arg-type]
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
        shares = household_shares(reach, _read(communes),  # type: ignore[arg-type]
                                  target_share=target_share)
        click.echo(shares.to_csv(index=False), nl=False)
