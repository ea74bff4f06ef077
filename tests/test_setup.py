"""``spp setup`` (README command 1 without the server): on a database of its own it loads the
sample city, runs the first analyses whose output is missing and the IOC indicators, and a
second run loads nothing, runs nothing and changes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from spp.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def setup_db(settings: Settings, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database of this test's own, which ``spp setup`` is pointed at."""
    from spp.settings import get_settings
    from spp.store.cluster import database_url, drop_database

    name = f"spp_test_{os.getpid()}_setup"
    drop_database(settings, name)
    url = database_url(settings, dbname=name)
    monkeypatch.setenv("SPP_DATABASE_URL", url)
    monkeypatch.setenv("SPP_DB_NAME", name)
    get_settings.cache_clear()  # settings are cached per process
    try:
        yield url
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        drop_database(settings, name)


def _versions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT layer, max(version) FROM spp_meta.versions GROUP BY layer").fetchall())


def test_setup_loads_runs_first_analyses_once_and_is_idempotent(
        setup_db: str, sample_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import spp.cli.setup as setup_mod
    from spp.cli.main import cli

    # the static flood stands for the list (the others are tested on their own and take minutes)
    first = [a for a in setup_mod.FIRST_ANALYSES if a[3] == "spp.cli.flood:static_cmd"]
    assert len(first) == 1
    monkeypatch.setattr(setup_mod, "FIRST_ANALYSES", tuple(first))

    result = CliRunner().invoke(cli, ["setup", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "analysis: flood, static spring tide 2.15 m done" in result.output
    with psycopg.connect(setup_db) as conn:
        runs = conn.execute("SELECT scenario, level_m, flooded_km2 FROM spp.flood_runs").fetchall()
        communes = conn.execute("SELECT count(*) FROM spp.communes").fetchone()
        snapshots = conn.execute("SELECT count(DISTINCT computed_at), count(*) FROM spp.commune_indicators"
                                 ).fetchone()
    assert [(r[0], r[1]) for r in runs] == [("static-2.15m", 2.15)] and runs[0][2] > 0
    assert communes == (103,)
    assert snapshots == (1, 103)
    before = _versions(setup_db)

    again = CliRunner().invoke(cli, ["setup", "--no-serve"])
    assert again.exit_code == 0, again.output
    analyses = [line for line in again.output.splitlines() if line.startswith("analysis:")]
    assert analyses == ["analysis: flood, static spring tide 2.15 m — already stored, skipped"]
    assert _versions(setup_db) == before  # nothing reloaded, no new run, no new snapshot
