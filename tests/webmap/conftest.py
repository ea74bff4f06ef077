"""Fixtures of the web-map tests: the OGC API test servers of tests/ogc (the map is mounted
at ``/map`` on them), an indicator snapshot, and a headless Chromium driven by Selenium
(Debian's ``chromium`` + ``chromium-driver``; software WebGL through SwiftShader)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from spp.catalog import Catalog
from spp.ogc.serve import ServerInfo
from tests.ogc.conftest import *  # the OGC servers and their database, as fixtures

SNAPSHOT_AT = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
CHROMIUM = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver",)


def _first(paths: tuple[str, ...], name: str) -> str:
    for p in paths:
        if Path(p).exists():
            return p
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (apt-get install chromium chromium-driver)")
    return found


@pytest.fixture(scope="session")
def indicators_db(ogc_db: str, ogc_catalog: Catalog) -> str:
    """The OGC test database with one indicator snapshot (taken at :data:`SNAPSHOT_AT`)."""
    from spp.cli.indicators import snapshot_indicators

    snapshot_indicators(ogc_db, ogc_catalog, computed_at=SNAPSHOT_AT)
    return ogc_db


@pytest.fixture(scope="session")
def map_url(indicators_db: str, ogc_server: ServerInfo) -> str:
    return ogc_server.url + "/map/"


@pytest.fixture(scope="session")
def flood_pair(ogc_db: str, ogc_catalog: Catalog, ogc_settings: Any, sample_files: dict[str, Path]) -> tuple[str, str]:
    """Two stored static runs (1.3 m then 1.8 m, 400 m cells) for the comparison views."""
    from spp.flood.city import run_city_static

    runs = [run_city_static(level, db_url=ogc_db, catalog=ogc_catalog, settings=ogc_settings,
                            resolution_m=400.0, dem=sample_files["dem"]).run_id for level in (1.3, 1.8)]
    return runs[0], runs[1]


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium (no GPU, no network beyond 127.0.0.1 needed), console logs kept."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = _first(CHROMIUM, "chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--window-size=1280,800",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_first(CHROMEDRIVER, "chromedriver")), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
