"""``spp load`` and ``spp layers list|show|history|rollback``."""

from __future__ import annotations

from pathlib import Path

import click

from spp.cli.options import crs_opt, progress_enabled
from spp.settings import Settings, get_settings


def _catalog(settings: Settings):  # type: ignore[no-untyped-def]
    from spp.catalog import load_catalog

    return load_catalog(settings.layers_dir)


def _url(settings: Settings) -> str:
    from spp.store.db import url

    return url(settings)


def _bar(label: str):  # type: ignore[no-untyped-def]
    """A tqdm progress callback on a TTY, else None."""
    if not progress_enabled():
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="rows", desc=label, leave=False)

    def cb(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return cb, bar


def print_inventory(settings: Settings) -> None:
    """Echo the table of loaded layers."""
    from spp.report import text_table
    from spp.store.db import connect
    from spp.store.inventory import inventory

    with connect(settings) as conn:
        rows = inventory(conn, _catalog(settings))
    click.echo(text_table(
        ["layer", "features", "CRS in", "data", "version", "loaded at (UTC)"],
        [[r.name, r.features if r.features is not None else "-", r.crs_in or "-",
          "synthetic" if r.synthetic else "real", r.version if r.version is not None else "-",
          r.loaded_at.strftime("%Y-%m-%d %H:%M:%S") if r.loaded_at else "-"] for r in rows],
    ))


def load_sample(settings: Settings, *, only: list[str] | None = None, force: bool = False) -> list[object]:
    """Build the sample city if needed and load every layer that has a sample file."""
    from spp.sample.cache import ensure_sample
    from spp.store.load import load_layer

    files = ensure_sample(settings)
    catalog = _catalog(settings)
    reports: list[object] = []
    for spec in catalog:
        if spec.sample is None or (only and spec.name not in only):
            continue
        path = files.get(spec.name) or settings.sample_dir / spec.sample
        cb, bar = _bar(spec.name)
        try:
            report = load_layer(_url(settings), spec, path, force=force, progress=cb)
        finally:
            if bar is not None:
                bar.close()
        click.echo(f"  {spec.name:<24} {report.outcome:<9} v{report.version}  {report.rows} features "
                   f"({report.seconds:.1f} s)", err=True)
        reports.append(report)
    return reports


@click.command()
@click.argument("layer", required=False)
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option("--all", "load_all", is_flag=True, help="Load the whole sample city (builds it when missing).")
@crs_opt
@click.option("--note", default=None, help="A note stored with the version (why this load).")
@click.option("--force", is_flag=True, help="Load even when the file equals the live version.")
def load(layer: str | None, file: Path | None, load_all: bool, crs: str | None, note: str | None,
         force: bool) -> None:
    """Validate FILE against LAYER's spec and make it the live version (atomic, versioned).

    FILE: GeoPackage, GeoJSON, zipped Shapefile, FlatGeobuf, or CSV with a WKT column or
    lon/lat (x/y) columns; any CRS (VN-2000 included; --crs when the file declares none).
    """
    settings = get_settings()
    if load_all:
        if layer or file:
            raise click.UsageError("--all takes no LAYER or FILE")
        load_sample(settings, force=force)
        print_inventory(settings)
        return
    if not layer or not file:
        raise click.UsageError("give LAYER and FILE, or --all")
    from spp.store.load import load_layer

    spec = _catalog(settings).get(layer)
    cb, bar = _bar(layer)
    try:
        report = load_layer(_url(settings), spec, file, crs=crs, note=note, force=force, progress=cb)
    finally:
        if bar is not None:
            bar.close()
    if report.outcome == "unchanged":
        click.echo(f"{layer}: unchanged — {file.name} is identical to live version {report.version}")
        return
    click.echo(f"{layer}: loaded version {report.version}, {report.rows} features from {file.name} "
               f"(CRS in: {report.crs_in}; {report.validation} validation) in {report.seconds:.1f} s")
    for w in report.warnings:
        click.echo(f"  warning: {w}")


@click.group()
def layers() -> None:
    """Inspect loaded layers, their history, and roll back."""


@layers.command(name="list")
def list_cmd() -> None:
    """Every catalogue layer with its live version and feature count."""
    print_inventory(get_settings())


@layers.command()
@click.argument("layer")
def show(layer: str) -> None:
    """A layer's spec summary and live version."""
    from spp.store.db import connect
    from spp.store.load import live_version

    settings = get_settings()
    spec = _catalog(settings).get(layer)
    with connect(settings) as conn:
        live = live_version(conn, layer)
    click.echo(f"{spec.name}: {spec.title.vi} / {spec.title.en}")
    click.echo(f"  theme {spec.theme}, {spec.geometry}, key {spec.primary_key}, access {spec.access}, "
               f"{'synthetic' if spec.synthetic else 'real'} data; source: {spec.source.attribution}")
    for f in spec.fields:
        extra = []
        if f.unit:
            extra.append(f.unit)
        if f.allowed:
            extra.append("one of " + ", ".join(map(str, f.allowed)))
        if f.access == "restricted":
            extra.append("RESTRICTED")
        click.echo(f"  - {f.name} ({f.type}{'; required' if f.required else ''}{'; ' + '; '.join(extra) if extra else ''})")
    if live is None:
        click.echo("  not loaded")
    else:
        click.echo(f"  live: version {live.version}, {live.row_count} features from {live.source}, "
                   f"loaded {live.loaded_at:%Y-%m-%d %H:%M:%S} by {live.loaded_by}")


@layers.command()
@click.argument("layer")
def history(layer: str) -> None:
    """Every version of LAYER with valid_from / valid_to."""
    from spp.report import text_table
    from spp.store.db import connect
    from spp.store.load import layer_history

    settings = get_settings()
    _catalog(settings).get(layer)
    with connect(settings) as conn:
        versions = layer_history(conn, layer)
    click.echo(text_table(
        ["version", "valid_from (UTC)", "valid_to (UTC)", "features", "source", "sha256", "note"],
        [[v.version, f"{v.valid_from:%Y-%m-%d %H:%M:%S}",
          f"{v.valid_to:%Y-%m-%d %H:%M:%S}" if v.valid_to else "live", v.row_count, v.source,
          v.source_sha256[:12], v.note or ""] for v in versions],
    ))


@layers.command()
@click.argument("layer")
@click.argument("version", required=False, type=int)
def rollback(layer: str, version: int | None) -> None:
    """Make VERSION (default: the previous one) of LAYER live again, as a new version."""
    from spp.store.load import rollback_layer

    settings = get_settings()
    spec = _catalog(settings).get(layer)
    report = rollback_layer(_url(settings), spec, version)
    click.echo(f"{layer}: {report.warnings[0]} as version {report.version} ({report.rows} features)")
