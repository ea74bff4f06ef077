"""Shared fixtures: a real PostGIS (the project's private cluster, or SPP_DATABASE_URL's
server) with a test database of its own, the catalogue and the sample city.

The test database (``spp_test_<pid>`` unless ``SPP_TEST_DB`` says otherwise) is created for
each session and dropped at its end; the user's ``spp`` database is never touched.
Under CI a skipped test fails the run (as in geopandas' PostGIS tests).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from spp.catalog import Catalog, load_catalog
from spp.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def catalog(settings: Settings) -> Catalog:
    return load_catalog(settings.layers_dir)


def _drop_stale_test_databases(settings: Settings) -> None:
    """Drop ``spp_test_<pid>[_<purpose>]`` databases whose test session is gone (killed runs)."""
    from spp.store.cluster import database_url, drop_database

    with psycopg.connect(database_url(settings, dbname="postgres"), autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname ~ '^spp_test_[0-9]+(_[a-z]+)?$'")]
    for name in names:
        pid = int(name.split("_")[2])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            drop_database(settings, name)
        except PermissionError:
            pass


@pytest.fixture(scope="session")
def db_url(settings: Settings) -> Iterator[str]:
    """libpq URL of a fresh test database with PostGIS and the VN-2000 SRIDs.

    One database per test session (``spp_test_<pid>``, or ``SPP_TEST_DB``), dropped at the
    end, so concurrent sessions never share or drop each other's data."""
    from spp.store.cluster import cluster_up, database_url, drop_database, ensure_database

    if not settings.database_url:
        cluster_up(settings)
    name = os.environ.get("SPP_TEST_DB") or f"spp_test_{os.getpid()}"
    _drop_stale_test_databases(settings)
    drop_database(settings, name)
    ensure_database(settings, name)
    yield database_url(settings, dbname=name)
    try:
        drop_database(settings, name)
    except Exception:  # noqa: BLE001 - best effort: a stale one is dropped by the next session
        pass


@pytest.fixture()
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(db_url) as c:
        yield c
        c.rollback()


@pytest.fixture(scope="session")
def sample_files(settings: Settings) -> dict[str, Path]:
    """The deterministic sample city (built once into .spp/sample, then reused)."""
    from spp.sample.cache import ensure_sample

    return ensure_sample(settings)


@pytest.fixture(scope="session")
def sample_db(db_url: str, catalog: Catalog, sample_files: dict[str, Path]) -> str:
    """The test database with every sample layer loaded; returns its URL."""
    from spp.store.load import load_layer

    for spec in catalog:
        if spec.name in sample_files:
            load_layer(db_url, spec, sample_files[spec.name])
    return db_url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skip is a failure: every test must run on the CI machine."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        session.exitstatus = 1
        if reporter:
            reporter.write_line(f"CI: {skipped} test(s) skipped; a skip counts as a failure here", red=True)
