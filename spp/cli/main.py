"""The ``spp`` command: one click group, one module per subcommand group (imported lazily)."""

from __future__ import annotations

import atexit
import gc
import importlib
import importlib.util
import logging
import sys
from typing import Any

import click

from spp.errors import SppError

# name -> "module:attribute"; modules are imported only when their command runs, so
# `spp --help` stays fast and a heavy dependency (numba, pygeoapi) loads only when needed.
COMMANDS: dict[str, str] = {
    "db": "spp.cli.db:db",
    "catalog": "spp.cli.catalog:catalog",
    "load": "spp.cli.layers:load",
    "layers": "spp.cli.layers:layers",
    "sample": "spp.cli.sample:sample",
    "setup": "spp.cli.setup:setup",
    "ogc": "spp.cli.ogc:ogc",
    "serve": "spp.cli.ogc:serve",
    "flood": "spp.cli.flood:flood",
    "coverage": "spp.cli.coverage:coverage",
    "broadband": "spp.cli.broadband:broadband",
    "indicators": "spp.cli.indicators:indicators",
    "reports": "spp.cli.reports:reports",
    "map": "spp.cli.map:map_group",
    "scenario": "spp.cli.scenario:scenario",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = []
        for name, target in COMMANDS.items():
            module = target.split(":")[0]
            if importlib.util.find_spec(module) is not None:
                available.append(name)
        return sorted(available)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        if importlib.util.find_spec(module_name) is None:
            return None
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SppError as exc:
            verbosity = ctx.find_root().params.get("verbose", 0) or 0
            if verbosity >= 2:
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv: tracebacks too).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="spp")
def cli(verbose: int, quiet: bool) -> None:
    """SPP — Can Tho spatial-planning platform (Quy hoạch không gian)."""
    # At exit CPython runs the cyclic garbage collector over every object the command
    # created (pandas alone makes that ≈0.1 s); the OS frees the memory anyway, so move
    # everything to the permanent generation first. Files and connections still close.
    atexit.register(gc.freeze)
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
