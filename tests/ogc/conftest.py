"""Fixtures of the OGC API tests: a test database with the sample city plus two probe layers, and the gunicorn servers
(public and restricted) on free ports of 127.0.0.1, started once and stopped after."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from spp.catalog import Catalog
from spp.ogc.serve import ServerInfo, start_server, stop_server
from spp.settings import Settings
from tests.ogc import data as D

COMMUNES_FILE = Path(__file__).resolve().parents[2] / "spp" / "sample" / "data" / "cantho_2025_communes.geojson"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ogc_home(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    return D.write_test_home(tmp_path_factory.mktemp("ogc"), settings.home)


@pytest.fixture(scope="session")
def ogc_catalog(ogc_home: Path) -> Catalog:
    """The real catalogue plus the probe layers."""
    return D.test_catalog(ogc_home)


@pytest.fixture(scope="session")
def ogc_db(request: pytest.FixtureRequest, db_url: str, catalog: Catalog, ogc_catalog: Catalog) -> str:
    """URL of the test database with the sample city plus the probe layers.

    ``SPP_OGC_TEST_NO_SAMPLE=1`` loads only the real communes (a quick local loop); by
    default a sample city that fails to build or load fails these tests."""
    if os.environ.get("SPP_OGC_TEST_NO_SAMPLE"):
        D.load_communes(db_url, ogc_catalog, COMMUNES_FILE)
    else:
        request.getfixturevalue("sample_db")
    D.load_probes(db_url, ogc_catalog)
    return db_url


@pytest.fixture(scope="session")
def api_key() -> str:
    return "test-" + secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def ogc_settings(settings: Settings, ogc_home: Path, api_key: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings.model_copy(update={
        "home": ogc_home, "api_keys": api_key, "api_keys_file": None,
        "state_dir": tmp_path_factory.mktemp("ogc-state"),
    })


@pytest.fixture(scope="session")
def ogc_server(ogc_settings: Settings, ogc_db: str) -> Iterator[ServerInfo]:
    """Public and restricted servers (2 gunicorn workers each) on free ports."""
    info = start_server(ogc_settings, workers=2, port=_free_port(), restricted_port=_free_port(),
                        db_url=ogc_db)
    yield info
    stop_server(ogc_settings)


@pytest.fixture(scope="session")
def base(ogc_server: ServerInfo) -> str:
    return ogc_server.url


@pytest.fixture(scope="session")
def restricted_base(ogc_server: ServerInfo) -> str:
    assert ogc_server.restricted_url
    return ogc_server.restricted_url


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="session")
def public_layers(ogc_catalog: Catalog, ogc_db: str) -> list[str]:
    """Public layers that have a live table in the test database."""
    with psycopg.connect(ogc_db) as conn:
        loaded = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'spp'")}
    return [s.name for s in ogc_catalog.public() if s.name in loaded]


def db_rows(db_url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run a read-only query on the test database."""
    with psycopg.connect(db_url) as conn:
        return list(conn.execute(sql, params).fetchall())
