"""``spp catalog check|list|table``: the layer catalogue."""

from __future__ import annotations

import click

from spp.settings import get_settings


@click.group()
def catalog() -> None:
    """The layer catalogue in layers/*.yml."""


@catalog.command()
def check() -> None:
    """Validate every layers/*.yml; a malformed spec fails naming the file and key."""
    from spp.catalog import load_catalog

    cat = load_catalog(get_settings().layers_dir)
    click.echo(f"{len(cat)} layer specs OK")


@catalog.command(name="table")
def table_cmd() -> None:
    """Print the catalogue as a Markdown table (for the README)."""
    from spp.catalog import load_catalog
    from spp.report import catalogue_markdown

    click.echo(catalogue_markdown(load_catalog(get_settings().layers_dir)))
