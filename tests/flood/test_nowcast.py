"""Nowcast: the static fill from each river cell's nearest gauge reading, checked against
an independent per-source flood fill (scipy.ndimage.label), brute-force nearest gauges and
the sample city's sensors layer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner
from scipy import ndimage
from shapely.geometry import Point

from spp.catalog import Catalog
from spp.errors import ScenarioError
from spp.flood.nowcast import boundary_levels, inundate_levels, usable_gauges
from spp.flood.static import inundate
from spp.settings import get_settings


def reference_levels(z: np.ndarray, sources: np.ndarray, connectivity: int) -> np.ndarray:
    """Highest source level reaching each cell: for every source cell, the connected
    component (scipy.ndimage.label) of ground below its level that contains it."""
    structure = np.ones((3, 3), bool) if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    best = np.full(z.shape, -np.inf)
    for r, c in np.argwhere(np.isfinite(sources)):
        lv = sources[r, c]
        below = np.isfinite(z) & (z < lv)
        if not below[r, c]:
            continue
        labels, _ = ndimage.label(below, structure=structure)
        best = np.where(labels == labels[r, c], np.maximum(best, lv), best)
    return best


@pytest.mark.parametrize("connectivity", [8, 4])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_levels_match_an_independent_per_source_fill(seed: int, connectivity: int) -> None:
    rng = np.random.default_rng(seed)
    z = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (60, 70)), 2.0).astype(np.float32) * 3 + 1.0
    z[rng.random(z.shape) < 0.03] = np.nan
    sources = np.full(z.shape, np.nan, np.float32)
    edge = [(0, c) for c in range(70)] + [(59, c) for c in range(70)] + [(r, 0) for r in range(60)]
    for r, c in edge:  # three "gauges" along the edges, each with its own level
        sources[r, c] = 1.2 if c < 25 and r == 0 else (1.6 if r == 0 else (0.9 if r == 59 else 1.4))
    depth = inundate_levels(z, sources, connectivity=connectivity)
    best = reference_levels(z, sources, connectivity)
    wet = np.isfinite(best)
    assert wet.sum() > 50 and (~wet & np.isfinite(z)).sum() > 50  # a real mix of wet and dry
    np.testing.assert_allclose(depth[wet], (best - z)[wet], atol=1e-6)
    assert np.all(depth[~wet & np.isfinite(z)] == 0.0)
    assert np.all(np.isnan(depth[np.isnan(z)]))


def test_one_level_everywhere_is_the_static_fill() -> None:
    rng = np.random.default_rng(7)
    z = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (80, 80)), 3.0).astype(np.float32) * 4
    boundary = np.zeros(z.shape, bool)
    boundary[:, 0] = True
    sources = np.where(boundary, np.float32(0.5), np.nan).astype(np.float32)
    np.testing.assert_array_equal(inundate_levels(z, sources), inundate(z, 0.5, boundary=boundary))


def test_a_low_gauge_does_not_lower_water_a_high_gauge_brings_over_a_ridge() -> None:
    # west river at 2.0 m, east river at 1.0 m, a 1.5 m ridge between two 0.5 m basins
    z = np.full((5, 9), 0.5, np.float32)
    z[:, 4] = 1.5
    sources = np.full(z.shape, np.nan, np.float32)
    sources[:, 0] = 2.0
    sources[:, 8] = 1.0
    depth = inundate_levels(z, sources)
    np.testing.assert_allclose(depth[:, :4], 1.5)   # 2.0 − 0.5
    np.testing.assert_allclose(depth[:, 4], 0.5)    # over the ridge at 2.0
    np.testing.assert_allclose(depth[:, 5:], 1.5)   # the 2.0 m water spills east, past the 1.0 m gauge
    sources[:, 0] = 1.2                             # lower than the ridge: each side keeps its own level
    depth = inundate_levels(z, sources)
    np.testing.assert_allclose(depth[:, :4], 0.7)
    assert np.all(depth[:, 4] == 0.0)
    np.testing.assert_allclose(depth[:, 5:], 0.5)


def test_each_boundary_cell_takes_its_nearest_gauge() -> None:
    rng = np.random.default_rng(3)
    boundary = rng.random((40, 50)) < 0.2
    transform = Affine(30.0, 0.0, 587_000.0, 0.0, -30.0, 1_108_000.0)
    gauges = np.column_stack([rng.uniform(587_000, 588_500, 6), rng.uniform(1_106_800, 1_108_000, 6)])
    levels = np.array([1.1, 1.3, 1.5, 1.7, 1.9, 2.1])
    out = boundary_levels(boundary, transform, gauges, levels)
    for r, c in np.argwhere(boundary)[::7]:
        x, y = transform * (c + 0.5, r + 0.5)
        nearest = int(np.argmin(np.hypot(gauges[:, 0] - x, gauges[:, 1] - y)))
        assert out[r, c] == pytest.approx(levels[nearest])
    assert np.all(np.isnan(out[~boundary]))


def _sensors(statuses: list[str], ages_h: list[float]) -> gpd.GeoDataFrame:
    t0 = datetime(2025, 10, 15, 0, 0, tzinfo=UTC)
    return gpd.GeoDataFrame({
        "sensor_id": [f"MN{i:03d}" for i in range(len(statuses))],
        "level_m": [1.2 + 0.1 * i for i in range(len(statuses))],
        "reading_time": [t0 - timedelta(hours=a) for a in ages_h],
        "status": statuses,
    }, geometry=[Point(105.7 + 0.01 * i, 10.0) for i in range(len(statuses))], crs=4326)


def test_usable_gauges_are_online_and_recent() -> None:
    g = usable_gauges(_sensors(["online", "offline", "online", "online"], [0.0, 0.0, 5.0, 2.5]), max_age_h=3)
    assert list(g.used["sensor_id"]) == ["MN000", "MN003"]
    assert g.skipped == {"MN001": "offline", "MN002": "reading older than 3 h before the newest"}
    assert g.newest == datetime(2025, 10, 15, 0, 0, tzinfo=UTC)
    assert len(usable_gauges(_sensors(["offline"] * 2, [0, 1]), include_offline=True).used) == 2
    with pytest.raises(ScenarioError, match="no usable gauge.*MN000: offline.*--include-offline"):
        usable_gauges(_sensors(["offline"], [0]))


@pytest.mark.slow
def test_city_nowcast_uses_the_online_gauges_and_their_levels(city: str, catalog: Catalog) -> None:
    import psycopg

    from spp.flood.city import city_terrain, read_city_inputs
    from spp.flood.nowcast import run_city_nowcast
    from spp.store.query import read_layer

    sensors = read_layer(city, catalog.get("water_level_sensors"))
    online = sensors[sensors["status"] == "online"]
    settings = get_settings()
    inputs = read_city_inputs(city, catalog, settings)
    outcome, gauges = run_city_nowcast(db_url=city, catalog=catalog, settings=settings, resolution_m=400.0,
                                       inputs=inputs)
    assert sorted(gauges.used["sensor_id"]) == sorted(online["sensor_id"])  # sample readings span < 3 h
    params = json.loads(outcome.record["parameters"])
    assert {g["sensor_id"]: g["level_m"] for g in params["gauges"]} == dict(
        zip(online["sensor_id"], online["level_m"].astype(float), strict=True))
    assert outcome.record["level_m"] == pytest.approx(float(online["level_m"].max()))
    with rasterio.open(outcome.out_dir / "max_depth_m.tif") as src:
        depth = src.read(1, masked=True).filled(np.nan)
    z = city_terrain(inputs, resolution_m=400.0).elevation_m
    wet = depth > 0
    assert wet.sum() > 100
    surface = (depth + z)[wet]  # every wet cell's water level is one of the gauges' readings
    gap = np.abs(surface[:, None] - online["level_m"].to_numpy()[None, :]).min(axis=1)
    assert gap.max() < 1e-4
    with psycopg.connect(city) as conn:
        row = conn.execute("SELECT scenario, kind FROM spp.flood_runs WHERE run_id = %s",
                           (outcome.run_id,)).fetchone()
    assert row == (f"nowcast-{gauges.newest:%Y%m%dT%H%MZ}", "static")


@pytest.mark.slow
def test_nowcast_command_reports_gauges_and_the_run(city: str) -> None:
    from spp.cli.main import cli

    result = CliRunner().invoke(cli, ["flood", "nowcast", "--resolution-m", "400", "--no-store"])
    assert result.exit_code == 0, result.output
    assert "gauges (newest reading 2025-10-15" in result.output and "not stored" in result.output
    bad = CliRunner().invoke(cli, ["flood", "nowcast", "--max-age-h", "0"])
    assert bad.exit_code == 2 and "max-age-h" in bad.output
