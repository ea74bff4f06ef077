"""``spp setup``: everything README command 1 promises, idempotently."""

from __future__ import annotations

import time

import click

from spp.settings import get_settings


@click.command()
@click.option("--no-sample", is_flag=True, help="Do not load the sample city.")
@click.option("--no-serve", is_flag=True, help="Do not start the OGC API and map server.")
def setup(no_sample: bool, no_serve: bool) -> None:
    """Start PostGIS (private cluster unless SPP_DATABASE_URL), check the catalogue, load the
    sample Can Tho city and serve the OGC API and map on 127.0.0.1."""
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
    if not no_serve:
        from spp.ogc.serve import start_server

        info = start_server(settings)
        click.echo(f"\nOGC API: {info.url}  (map: {info.url}/map)  — stop with 'spp serve --stop'")
    click.echo(f"set-up done in {time.perf_counter() - t0:.0f} s", err=True)
