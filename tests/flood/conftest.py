"""Fixtures for flood tests: synthetic DEMs on EPSG:9210 near Can Tho, a plain BFS."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

# the OGC tests' live server and database fixtures, for the process tests (session-scoped,
# shared with tests/ogc when both run)
from tests.ogc.conftest import (  # noqa: F401
    api_key,
    base,
    http,
    ogc_catalog,
    ogc_db,
    ogc_home,
    ogc_server,
    ogc_settings,
)

# A corner of Ninh Kiều in EPSG:9210 (VN-2000 / TM-3 105°45′), metres.
ORIGIN_X, ORIGIN_Y = 587_000.0, 1_108_000.0


def write_dem(path: Path, z: np.ndarray, *, cell_m: float = 20.0, crs: str | None = "EPSG:9210",
              nodata: float = -9999.0) -> Path:
    """Write ``z`` (NaN = nodata) as a GeoTIFF with its NW corner at the fixture origin."""
    import rasterio
    from rasterio.transform import from_origin

    data = np.where(np.isnan(z), nodata, z).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
                       dtype="float32", crs=crs, nodata=nodata,
                       transform=from_origin(ORIGIN_X, ORIGIN_Y, cell_m, cell_m)) as dst:
        dst.write(data, 1)
    return path


def bfs_reference(z: np.ndarray, level: float, seeds: list[tuple[int, int]],
                  connectivity: int) -> np.ndarray:
    """Independent r.lake semantics: a plain queue BFS in Python (small grids only)."""
    ny, nx = z.shape
    nb = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        nb += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    wet = np.zeros(z.shape, bool)
    q: deque[tuple[int, int]] = deque()
    for r, c in seeds:
        if z[r, c] < level and not wet[r, c]:
            wet[r, c] = True
            q.append((r, c))
    while q:
        r, c = q.popleft()
        for dr, dc in nb:
            rr, cc = r + dr, c + dc
            if 0 <= rr < ny and 0 <= cc < nx and not wet[rr, cc] and z[rr, cc] < level:
                wet[rr, cc] = True
                q.append((rr, cc))
    return np.where(wet, level - z, 0.0)


def rough_dem(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Smooth random terrain, 0–3 m above datum, with basins and ridges."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    z = gaussian_filter(rng.standard_normal(shape), 3.0)
    z = (z - z.min()) / (z.max() - z.min()) * 3.0
    return z.astype(np.float32)


@pytest.fixture
def dem_file(tmp_path: Path) -> Path:
    return write_dem(tmp_path / "dem.tif", rough_dem((80, 100), 1))


@pytest.fixture
def helpers() -> object:
    """The helper functions above, for tests (conftest modules are not importable)."""
    import types

    return types.SimpleNamespace(write_dem=write_dem, bfs=bfs_reference, rough_dem=rough_dem,
                                 origin=(ORIGIN_X, ORIGIN_Y))


def _city_dem_env() -> None:
    """Point SPP_FLOOD_DEM at the sample city's DEM before any server starts, so that the
    OGC server's workers (whose state folder is a temporary one) find it."""
    import os

    from spp.settings import get_settings

    os.environ.setdefault("SPP_FLOOD_DEM", str(get_settings().sample_dir / "dem.tif"))


_city_dem_env()


@pytest.fixture(scope="module")
def city(sample_db: str, sample_files: dict[str, Path]) -> Iterator[str]:
    """The CLI pointed at the test database (same server, database of the test session) and
    the sample DEM."""
    from psycopg.conninfo import conninfo_to_dict

    from spp.settings import get_settings

    mp = pytest.MonkeyPatch()
    mp.setenv("SPP_DB_NAME", str(conninfo_to_dict(sample_db)["dbname"]))
    mp.setenv("SPP_FLOOD_DEM", str(sample_files["dem"]))
    get_settings.cache_clear()
    yield sample_db
    mp.undo()
    get_settings.cache_clear()
