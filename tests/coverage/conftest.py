"""Fixtures for radio-coverage tests: synthetic DEMs on an EPSG:9210 grid.

numba probes for the ``coverage`` (coverage.py) package at import time. With ``tests/`` on
``sys.path`` (pytest's rootdir insertion, as ``tests/`` has no ``__init__.py``) this folder
would be imported as that package and numba would fail; import numba once with ``tests/``
hidden, before any test module needs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent.parent)
_saved = list(sys.path)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _TESTS]
try:
    if "coverage" in sys.modules and not hasattr(sys.modules["coverage"], "types"):
        del sys.modules["coverage"]
    import numba  # noqa: F401
finally:
    sys.path[:] = _saved

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from spp.coverage.los import Grid

CELL_M = 30.0
ORIGIN = (580_000.0, 1_115_000.0)  # EPSG:9210 metres, near Can Tho


def hilly_dem(n: int = 301, *, seed: int = 1, hills: int = 25, cell_m: float = CELL_M
              ) -> np.ndarray:
    """Ground in metres: a sum of Gaussian hills 5–60 m high on a flat delta."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n] * cell_m
    z = np.full((n, n), 1.0)
    for _ in range(hills):
        cx, cy = rng.uniform(0, n * cell_m, 2)
        s = rng.uniform(200, 1200)
        h = rng.uniform(5, 60)
        z += h * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    return z.astype(np.float32).astype(np.float64)


def make_grid(n: int, cell_m: float = CELL_M) -> Grid:
    return Grid(Affine(cell_m, 0, ORIGIN[0], 0, -cell_m, ORIGIN[1]), (n, n), CRS.from_epsg(9210))


@pytest.fixture
def dem_and_grid() -> tuple[np.ndarray, Grid]:
    n = 301
    return hilly_dem(n), make_grid(n)


@pytest.fixture
def make_dem():
    """Factory: ``make_dem(n, seed=…)`` → hilly ground in metres."""
    return hilly_dem


@pytest.fixture
def grid_of():
    """Factory: ``grid_of(n, cell_m=30)`` → EPSG:9210 north-up grid."""
    return make_grid
