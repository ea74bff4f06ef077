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
@click.option("--write-readme", is_flag=True, help="Replace the table between the layer markers in README.md.")
def table_cmd(write_readme: bool) -> None:
    """Print the catalogue as a Markdown table (the README's layer table)."""
    from spp.catalog import load_catalog
    from spp.report import catalogue_markdown, replace_between_markers

    settings = get_settings()
    table = catalogue_markdown(load_catalog(settings.layers_dir))
    if not write_readme:
        click.echo(table)
        return
    readme = settings.home / "README.md"
    readme.write_text(replace_between_markers(readme.read_text(encoding="utf-8"), "layers", table), encoding="utf-8")
    click.echo(f"updated the layer table in {readme.name}")
