"""``spp ogc config [--check]`` and ``spp serve [--port] [--stop] [--foreground]``."""

from __future__ import annotations

import click

from spp.settings import get_settings


@click.group()
def ogc() -> None:
    """OGC APIs (pygeoapi): configuration generated from the layer catalogue."""


@ogc.command("config")
@click.option("--check", is_flag=True, help="Fail when ogc_config.yml differs from what layers/ gives.")
@click.option("--restricted", is_flag=True,
              help="Print the restricted endpoint's configuration (every layer and field) to stdout.")
def config_cmd(check: bool, restricted: bool) -> None:
    """Write ogc_config.yml (public layers and fields) from layers/*.yml."""
    from spp.catalog import load_catalog
    from spp.ogc.config import CONFIG_FILE, check_config, render_config, write_config

    settings = get_settings()
    catalog = load_catalog(settings.layers_dir)
    path = settings.home / CONFIG_FILE
    if restricted:
        click.echo(render_config(catalog, access="restricted"), nl=False)
        return
    if check:
        check_config(catalog, path)
        click.echo(f"{CONFIG_FILE} is up to date ({len(catalog.public())} public layers)", err=True)
        return
    write_config(catalog, path)
    click.echo(f"wrote {CONFIG_FILE} ({len(catalog.public())} public of {len(catalog)} layers)", err=True)


@click.command()
@click.option("--port", type=int, default=None, help="Public port (default SPP_SERVE_PORT, 5000).")
@click.option("--stop", is_flag=True, help="Stop the background server.")
@click.option("--foreground", is_flag=True, help="Run in the foreground (Ctrl-C stops it).")
@click.option("--workers", type=int, default=None, help="gunicorn workers (default SPP_OGC_WORKERS or 2).")
def serve(port: int | None, stop: bool, foreground: bool, workers: int | None) -> None:
    """Serve the OGC API (and map) on 127.0.0.1 with gunicorn, in the background.

    The public endpoint serves public layers; the restricted one (public port + 1) serves
    every layer to callers with an API key (SPP_API_KEYS or SPP_API_KEYS_FILE).
    """
    from spp.ogc.serve import run_foreground, start_server, stop_server

    settings = get_settings()
    if port is not None:
        settings = settings.model_copy(update={"serve_port": port})
    if stop:
        stopped = stop_server(settings)
        click.echo("stopped the OGC API server" if stopped else "no OGC API server was running", err=True)
        return
    if foreground:
        run_foreground(settings, workers=workers)
        return
    info = start_server(settings, workers=workers)
    click.echo(f"OGC API: {info.url}  (map: {info.url}/map)")
    if info.restricted_url:
        click.echo(f"restricted OGC API (API key): {info.restricted_url}")
    click.echo("stop with 'spp serve --stop'", err=True)
