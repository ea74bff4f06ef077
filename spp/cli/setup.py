"""``spp setup``: everything README command 1 promises, idempotently."""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from spp.settings import Settings, get_settings

# First analyses on the sample city, so the map's overlays and the IOC indicators are not
# empty after set-up: (label, output layer, SQL condition on it that shows the analysis
# already ran, command, arguments). About 1–3 minutes on 2 cores; each is skipped when its
# output is already stored, so a second set-up runs none.
FIRST_ANALYSES: tuple[tuple[str, str, str, str, dict[str, object]], ...] = (
    ("flood, static spring tide 2.15 m", "flood_runs", "scenario = 'static-2.15m'",
     "spp.cli.flood:static_cmd", {"level_m": 2.15}),
    ("flood, 24-h spring tide + storm at 200 m", "flood_runs", "scenario = 'spring-tide-storm'",
     "spp.cli.flood:run_cmd", {"scenario": "spring-tide-storm", "resolution_m": 200.0}),
    ("5G coverage, whole city at 50 m", "coverage_runs", "true", "spp.cli.coverage:run_cmd", {}),
    ("fibre reach, whole city", "fibre_by_commune", "true", "spp.cli.broadband:run_cmd", {}),
)


def _has_rows(settings: Settings, layer: str, condition: str = "true") -> bool:
    """Whether the live layer exists and has a row meeting ``condition`` (trusted SQL)."""
    import psycopg

    from spp.store.db import url

    with psycopg.connect(url(settings)) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"spp.{layer}",)).fetchone()
        if not exists or not exists[0]:
            return False
        row = conn.execute(f'SELECT EXISTS (SELECT 1 FROM spp."{layer}" WHERE {condition})').fetchone()
    return bool(row and row[0])


def _command(target: str) -> click.Command:
    import importlib

    module, name = target.split(":")
    cmd: click.Command = getattr(importlib.import_module(module), name)
    return cmd


def run_first_analyses(settings: Settings, echo: Callable[[str], None]) -> list[str]:
    """Run :data:`FIRST_ANALYSES` whose output is missing, then the indicators if anything
    ran or none exist. Returns the labels that failed (each error is echoed, set-up goes on:
    the layers are loaded and worth serving even if an analysis breaks)."""
    from spp.cli.indicators import LAYER as INDICATORS
    from spp.errors import SppError

    ctx = click.get_current_context()
    failed: list[str] = []
    ran = False
    for label, output, condition, target, params in FIRST_ANALYSES:
        if _has_rows(settings, output, condition):
            echo(f"analysis: {label} — already stored, skipped")
            continue
        echo(f"analysis: {label} …")
        t0 = time.perf_counter()
        try:
            ctx.invoke(_command(target), **params)
        except (SppError, click.ClickException) as exc:
            echo(f"analysis: {label} FAILED: {exc}")
            failed.append(label)
            continue
        ran = True
        echo(f"analysis: {label} done in {time.perf_counter() - t0:.0f} s")
    if ran or not _has_rows(settings, INDICATORS):
        try:
            ctx.invoke(_command("spp.cli.indicators:run"))
        except (SppError, click.ClickException) as exc:
            echo(f"analysis: IOC indicators FAILED: {exc}")
            failed.append("IOC indicators")
    return failed


@click.command()
@click.option("--no-sample", is_flag=True, help="Do not load the sample city.")
@click.option("--no-serve", is_flag=True, help="Do not start the OGC API and map server.")
@click.option("--no-analyses", is_flag=True,
              help="Do not run the first flood, coverage, fibre and indicator analyses.")
def setup(no_sample: bool, no_serve: bool, no_analyses: bool) -> None:
    """Start PostGIS (private cluster unless SPP_DATABASE_URL), check the catalogue, load the
    sample Can Tho city, run the first analyses (flood, 5G, fibre, IOC indicators; only
    those not stored yet) and serve the OGC API and map on 127.0.0.1."""
    from spp.catalog import load_catalog
    from spp.cli.layers import load_sample, print_inventory
    from spp.store.cluster import cluster_up, ensure_database

    t0 = time.perf_counter()
    settings = get_settings()
    if settings.database_url:
        ensure_database(settings, settings.db_name)
        click.echo("PostGIS: using SPP_DATABASE_URL", err=True)
    else:
        status = cluster_up(settings)
        click.echo(f"PostGIS: private cluster on 127.0.0.1:{status.port} ({status.data_dir})", err=True)
    catalog = load_catalog(settings.layers_dir)
    click.echo(f"catalogue: {len(catalog)} layer specs OK", err=True)
    if not no_sample:
        click.echo("loading the sample city (built once, then reused):", err=True)
        load_sample(settings)
    print_inventory(settings)
    failed: list[str] = []
    if not no_sample and not no_analyses:
        failed = run_first_analyses(settings, lambda msg: click.echo(msg, err=True))
    if not no_serve:
        from spp.ogc.serve import start_server

        info = start_server(settings)
        click.echo(f"\nOGC API: {info.url}  (map: {info.url}/map)  — stop with 'spp serve --stop'")
    click.echo(f"set-up done in {time.perf_counter() - t0:.0f} s", err=True)
    if failed:
        raise click.ClickException("these analyses failed (the layers are loaded and served): "
                                   + "; ".join(failed))
