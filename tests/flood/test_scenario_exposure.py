"""Scenarios (YAML validation, a short run on a synthetic polder) and exposure tables."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import LineString, Point, box

from spp.errors import ScenarioError
from spp.flood import assess_exposure, bundled_scenarios, load_scenario, run_scenario
from spp.terrain import Terrain, build_terrain
from tests.flood.conftest import ORIGIN_X, ORIGIN_Y, write_dem


def test_bundled_scenarios_load_and_match_can_tho_tide() -> None:
    names = set(bundled_scenarios())
    assert {"spring-tide", "spring-tide-storm", "spring-tide-storm-pumps-off", "dike-breach"} <= names
    for name in names:
        s = load_scenario(name)
        assert 2.0 <= max(s.tide.level_m) <= 2.2
    assert load_scenario("spring-tide-storm").rain.total_mm() == pytest.approx(100.0)  # type: ignore[union-attr]


@pytest.mark.parametrize("patch,match", [
    ({"colour": "blue"}, "colour: unknown key"),
    ({"rain": {"times_h": [0, 1], "mm_per_h": [-5, 0]}}, "rain: .*≥ 0 mm/h"),
    ({"duration_h": -1}, "duration_h"),
])
def test_bad_scenario_is_rejected_with_key_path(patch: dict, match: str) -> None:
    data = load_scenario("spring-tide").model_dump()
    data.update(patch)
    with pytest.raises(ScenarioError, match=match):
        load_scenario(data)


def test_scenario_run_floods_through_breach_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """River on the west, ring dike at 3 m; the breach scenario floods the polder."""
    z = np.full((60, 60), 1.0, np.float32)
    dem = write_dem(tmp_path / "dem.tif", z, cell_m=50.0)
    x0, y0 = ORIGIN_X, ORIGIN_Y
    crs = "EPSG:9210"
    rivers = gpd.GeoDataFrame({"width_m": [200.0], "bed_level_m": [-3.0]},
                              geometry=[LineString([(x0 + 100, y0), (x0 + 100, y0 - 3000)])], crs=crs)
    dikes = gpd.GeoDataFrame({"crest_level_m": [3.0]},
                             geometry=[LineString([(x0 + 260, y0), (x0 + 260, y0 - 3000)])], crs=crs)
    terrain = build_terrain(dem, rivers=rivers, dikes=dikes)
    base = load_scenario("spring-tide").model_dump()
    base.update(duration_h=6.0)
    dry = run_scenario(load_scenario(base), terrain)
    assert np.nanmax(dry.max_depth_m[:, 8:]) == 0.0
    assert dry.mass_balance.error_pct < 0.1
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x0 + 260, y0 - 1500)
    base.update(name="breach", breaches=[{"name": "b", "lon": lon, "lat": lat, "width_m": 100,
                                          "invert_level_m": 0.5}])
    wet = run_scenario(load_scenario(base), terrain)
    assert np.nanmax(wet.max_depth_m[:, 8:]) > 0.2  # measured 0.44 m after 6 h
    assert wet.mass_balance.error_pct < 0.1


def test_exposure_counts_known_answer() -> None:
    """Two 1 km² communes; the west one is flooded 0.4 m on its western half."""
    t = Affine(10.0, 0, ORIGIN_X, 0, -10.0, ORIGIN_Y)
    depth = np.zeros((100, 200), np.float32)
    depth[:, :50] = 0.4
    crs = "EPSG:9210"
    x0, y0 = ORIGIN_X, ORIGIN_Y
    communes = gpd.GeoDataFrame({"commune_id": ["W", "E"], "name": ["Tây", "Đông"]},
                                geometry=[box(x0, y0 - 1000, x0 + 1000, y0),
                                          box(x0 + 1000, y0 - 1000, x0 + 2000, y0)], crs=crs)
    buildings = gpd.GeoDataFrame({"population": [10, 20, 30]},
                                 geometry=[Point(x0 + 100, y0 - 100), Point(x0 + 200, y0 - 500),
                                           Point(x0 + 900, y0 - 500)], crs=crs)
    roads = gpd.GeoDataFrame(geometry=[LineString([(x0, y0 - 505), (x0 + 2000, y0 - 505)])], crs=crs)
    assets = gpd.GeoDataFrame({"name": ["Trường A", "Bệnh viện B"]},
                              geometry=[Point(x0 + 50, y0 - 50), Point(x0 + 1500, y0 - 50)], crs=crs)
    out = assess_exposure(depth, communes, transform=t, crs=crs, buildings=buildings,
                          roads=roads, assets=assets).set_index("commune_id")
    assert out.loc["W", "flooded_km2"] == pytest.approx(0.5)
    assert out.loc["W", "flooded_share"] == pytest.approx(0.5)
    assert out.loc["W", "flooded_km2_0.3-0.5m"] == pytest.approx(0.5)
    assert out.loc["W", "flooded_km2_0.1-0.3m"] == 0
    assert out.loc["W", "people_exposed"] == 30 and out.loc["W", "buildings_flooded"] == 2
    assert out.loc["W", "road_km_impassable"] == pytest.approx(0.5, abs=0.01)
    assert out.loc["W", "assets_hit"] == "Trường A"
    assert out.loc["E", "flooded_km2"] == 0 and out.loc["E", "assets_hit_count"] == 0
    assert isinstance(Terrain, type)


def test_deep_tidal_river_joins_the_boundary() -> None:
    """Deep water connected to the burned tidal reach takes the tide; a shallower canal
    off the same river, a deep pond cut off by high ground and a closed gate do not."""
    from spp.flood.model import _tidal_river

    z = np.full((20, 30), 1.0, np.float32)
    z[:, :6] = -10.0           # river: the burned reach is columns 0-2, the DEM's is 0-5
    z[10, 6:25] = -2.5         # canal: 1.85 m deep at a −0.65 m low tide
    z[2:5, 20:25] = -9.0       # deep pond behind the bank
    z[15:18, 4:6] = np.nan     # closed gate (a wall) inside the river
    reach = np.zeros(z.shape, bool)
    reach[:, :3] = True
    got = _tidal_river(z, reach, -0.65, 3.0)
    assert got[:15, 3:6].all() and got[18:, 3:6].all()
    assert not got[10, 6:].any() and not got[2:5, 20:25].any() and not got[15:18, 4:6].any()
    assert (_tidal_river(z, reach, -0.65, None) == reach).all()
    assert (_tidal_river(z, reach, -0.65, 20.0) == reach).all()   # nothing that deep
