"""Best-server RSRP: definition, sectors, and monotonicity in transmit power."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from spp.coverage.antenna import sector_gain_db
from spp.coverage.model import (
    CoverageSettings,
    Sector,
    best_server,
    compute_rsrp,
    sectors_from_sites,
    with_power_offset,
)
from spp.coverage.pathloss import pathloss_db
from spp.errors import ScenarioError


def _site(grid, col: float, row: float, **kw) -> list[Sector]:
    x, y = grid.transform @ (col, row)
    azimuths = kw.pop("azimuths", (0.0, 120.0, 240.0))
    base = dict(site_id="s", x=x, y=y, height_m=30.0, eirp_dbm=60.0, band_mhz=3500.0,
                downtilt_deg=4.0, scenario="uma", operator="A", technology="5G")
    base.update(kw)
    return [Sector(azimuth_deg=az, **base) for az in azimuths]


def test_rsrp_on_flat_ground_matches_the_documented_formula(grid_of):
    n = 81
    grid = grid_of(n)
    ground = np.zeros((n, n))
    sectors = _site(grid, 40.5, 40.5)
    res = compute_rsrp(ground, grid, sectors, settings=CoverageSettings(radius_m=1000.0))
    # Cell 20 columns east (600 m), LOS on flat ground; sector 120° is closest to east.
    r, c = 40, 60
    d = 600.0
    zenith = 90 + math.degrees(math.atan2(30.0 - 1.5, d))
    gains = [float(sector_gain_db(90.0, zenith, boresight_deg=a, downtilt_deg=4.0))
             for a in (0.0, 120.0, 240.0)]
    pl = float(pathloss_db("uma", d, 3500.0, h_bs_m=30.0, h_ut_m=1.5, los=True))
    expected = 60.0 - pl + max(gains) - 10 * math.log10(12 * 273)
    assert res.rsrp_dbm[r, c] == pytest.approx(expected, abs=1e-3)
    assert res.server[r, c] == 1


def test_cells_beyond_model_range_get_no_signal(grid_of):
    n = 121
    grid = grid_of(n, cell_m=100.0)
    sectors = _site(grid, 60.5, 60.5, scenario="umi", height_m=10.0)
    res = compute_rsrp(np.zeros((n, n)), grid, sectors,
                       settings=CoverageSettings(radius_m=10_000.0))
    rows, cols = np.indices((n, n))
    dist = np.hypot(rows - 60, cols - 60) * 100.0
    assert np.all(np.isnan(res.rsrp_dbm[dist > 5000.0]))
    assert np.all(np.isfinite(res.rsrp_dbm[dist <= 5000.0]))


def test_terrain_blocks_switch_cells_to_nlos(grid_of):
    n = 81
    grid = grid_of(n)
    ground = np.zeros((n, n))
    surface = ground.copy()
    surface[:, 50] = 80.0
    sectors = _site(grid, 40.5, 40.5, azimuths=(90.0,))
    st_ = CoverageSettings(radius_m=1200.0)
    open_ = compute_rsrp(ground, grid, sectors, settings=st_)
    walled = compute_rsrp(ground, grid, sectors, surface=surface, settings=st_)
    assert walled.rsrp_dbm[40, 60] < open_.rsrp_dbm[40, 60] - 5.0
    assert walled.rsrp_dbm[40, 45] == pytest.approx(open_.rsrp_dbm[40, 45])


def test_group_by_operator_and_technology(grid_of):
    n = 61
    grid = grid_of(n)
    sectors = _site(grid, 20.5, 30.5, operator="A") + _site(
        grid, 40.5, 30.5, operator="B", technology="4G", band_mhz=1800.0)
    groups = best_server(np.zeros((n, n)), grid, sectors, group_by=("operator", "technology"),
                         settings=CoverageSettings(radius_m=800.0))
    assert set(groups) == {("A", "5G"), ("B", "4G")}
    assert np.all(groups[("A", "5G")].server[np.isfinite(groups[("A", "5G")].rsrp_dbm)] < 3)


def test_sectors_from_sites_parses_azimuth_text_and_reprojects():
    sites = gpd.GeoDataFrame(
        {"site_id": ["x1", "x2"], "operator": ["V", "M"], "technology": ["5G", "4G"],
         "band_mhz": [3500, 1800], "height_m": [30, 25], "eirp_dbm": [60, 58],
         "azimuths": ["0,120,240", ""], "downtilt_deg": [6, 4], "beamwidth_deg": [65, 65],
         "scenario": ["UMa", "UMi-Street Canyon"]},
        geometry=[Point(105.78, 10.03), Point(105.76, 10.04)], crs=4326)
    sectors = sectors_from_sites(sites, crs=9210)
    assert [s.azimuth_deg for s in sectors] == [0.0, 120.0, 240.0, None]
    assert sectors[3].scenario == "umi"
    assert 500_000 < sectors[0].x < 700_000  # metres in EPSG:9210


def test_unknown_technology_threshold_raises():
    with pytest.raises(ScenarioError):
        CoverageSettings().threshold_for("6G")


@settings(max_examples=25, deadline=None)
@given(
    offset_db=st.floats(min_value=0.0, max_value=20.0),
    threshold=st.floats(min_value=-125.0, max_value=-80.0),
    seed=st.integers(min_value=0, max_value=5),
)
def test_coverage_never_shrinks_as_transmit_power_rises(offset_db, threshold, seed):
    from affine import Affine
    from pyproj import CRS

    from spp.coverage.los import Grid

    n = 61
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n]
    ground = 20 * np.exp(-((xx - rng.uniform(0, n)) ** 2 + (yy - rng.uniform(0, n)) ** 2) / 80)
    grid = Grid(Affine(30.0, 0, 580_000, 0, -30.0, 1_115_000), (n, n), CRS.from_epsg(9210))
    sectors = _site(grid, 30.5, 30.5, eirp_dbm=50.0)
    cfg = CoverageSettings(radius_m=900.0)
    low = compute_rsrp(ground, grid, sectors, settings=cfg).covered(threshold)
    high = compute_rsrp(ground, grid, with_power_offset(sectors, offset_db),
                        settings=cfg).covered(threshold)
    assert np.all(high[low])
