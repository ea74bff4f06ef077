"""``spp db up|down|status|url``: the private PostGIS cluster."""

from __future__ import annotations

import click

from spp.settings import get_settings


@click.group()
def db() -> None:
    """The project's private PostGIS cluster (ignored when SPP_DATABASE_URL is set)."""


@db.command()
def up() -> None:
    """Create (first time) and start the private cluster; create the SPP database."""
    from spp.store.cluster import cluster_up, ensure_database

    settings = get_settings()
    if settings.database_url:
        ensure_database(settings, settings.db_name)
        click.echo("SPP_DATABASE_URL is set: using that server (no private cluster).")
        return
    status = cluster_up(settings)
    click.echo(f"PostGIS running on 127.0.0.1:{status.port} (data: {status.data_dir})")


@db.command()
def down() -> None:
    """Stop the private cluster (data is kept)."""
    from spp.store.cluster import cluster_down

    status = cluster_down(get_settings())
    click.echo("stopped" if not status.running else "still running")


@db.command()
def status() -> None:
    """Say whether the private cluster is initialised and running."""
    from spp.store.cluster import cluster_status

    settings = get_settings()
    if settings.database_url:
        click.echo("using SPP_DATABASE_URL (external server)")
        return
    s = cluster_status(settings)
    click.echo(f"data dir:    {s.data_dir}\ninitialised: {s.initialised}\nrunning:     {s.running}\nport:        {s.port}")
    if not s.running:
        raise SystemExit(3)


@db.command()
@click.option("--dbname", default=None, help="Another database on the same server.")
def url(dbname: str | None) -> None:
    """Print the libpq URL of the SPP database (contains the password: keep it private)."""
    from spp.store.cluster import database_url

    click.echo(database_url(get_settings(), dbname=dbname))
