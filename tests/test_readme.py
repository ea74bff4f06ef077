"""The README stays true: its quick-start commands, layer table and CI entry point."""

from __future__ import annotations

import re
from pathlib import Path

from spp.catalog import Catalog
from spp.report import between_markers, catalogue_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S)
    assert block is not None, "Quick start has no code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_holds_the_two_commands_in_order() -> None:
    assert _quick_start_commands() == ["./spp/bootstrap.sh up", "./spp/bootstrap.sh test"]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = _quick_start_commands()[1]
    assert f"exec {command}" in ci
    assert (ROOT / "spp" / "bootstrap.sh").stat().st_mode & 0o111
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111


def test_layer_table_matches_the_catalogue(catalog: Catalog) -> None:
    assert between_markers(README, "layers") == catalogue_markdown(catalog), (
        "README layer table is stale: run 'spp catalog table --write-readme'")
