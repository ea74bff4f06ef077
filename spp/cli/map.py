"""``spp map``: self-contained HTML maps of catalogue layers for sharing."""

from __future__ import annotations

from pathlib import Path

import click

from spp.cli.options import overwrite_opt


@click.group("map")
def map_group() -> None:
    """Shareable maps (folium HTML; public layers and fields only)."""


@map_group.command("export")
@click.option("--layers", "layer_names", required=True, metavar="NAME[,NAME…]",
              help="Comma-separated catalogue layers, drawn in this order (first at the bottom).")
@click.option("--commune", default=None, metavar="NAME",
              help="Only features touching this commune (name with or without diacritics, "
                   "or 5-digit code); the map zooms to it.")
@click.option("--basemap", type=click.Choice(["none", "osm"]), default="none", show_default=True,
              help="Background tiles (osm needs a network; 'none' keeps the map offline).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output HTML file.")
@overwrite_opt
def export_cmd(layer_names: str, commune: str | None, basemap: str, out: Path,
               overwrite: bool) -> None:
    """Write a folium map of the chosen layers, styled from the catalogue.

    Restricted layers are refused and restricted fields are never written.
    """
    from spp.catalog import load_catalog
    from spp.errors import InputFileError
    from spp.mapping import build_map, public_frame, save_map
    from spp.settings import get_settings
    from spp.store.db import url
    from spp.store.query import read_layer
    from spp.studies import select_communes

    if out.exists() and not overwrite:
        raise InputFileError(f"{out} exists; pass --overwrite to replace it")
    settings = get_settings()
    catalog = load_catalog(settings.layers_dir)
    names = [n.strip() for n in layer_names.split(",") if n.strip()]
    if not names:
        raise click.UsageError("--layers names no layer")
    specs = [catalog.get(n) for n in names]
    db_url = url(settings)
    for spec in specs:  # refuse restricted layers before touching the database
        if spec.access != "public" or not spec.has_geometry:
            import geopandas as gpd

            public_frame(spec, gpd.GeoDataFrame(geometry=[], crs=4326))
    focus = None
    bbox = None
    if commune is not None:
        communes = read_layer(db_url, catalog.get("communes"), columns=["ma_xa", "ten"])
        focus = select_communes(communes, commune)
        bbox = tuple(float(v) for v in focus.total_bounds)
    frames = []
    for spec in specs:
        public = [f.name for f in spec.public_fields]
        frame = read_layer(db_url, spec, columns=public, bbox=bbox)  # type: ignore[arg-type]
        if focus is not None:
            frame = frame[frame.intersects(focus.union_all())]
        frames.append((spec, frame))
    name = None if focus is None else str(focus["ten"].iloc[0])
    m = build_map(frames, focus=focus, focus_name=name,
                  basemap=None if basemap == "none" else basemap)
    save_map(m, out, overwrite=overwrite)
    counts = ", ".join(f"{s.name} {len(f)}" for s, f in frames)
    click.echo(f"{out}: {counts} feature(s)" + (f" around {name}" if name else ""))
