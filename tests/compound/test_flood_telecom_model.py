"""The flood → telecom functions on a small synthetic town with known answers.

A 3 km square of flat ground (EPSG:9210, 30 m cells), a flood 1.0 m deep west of the
middle and 0.3 m east of it, seven sites and two substations with known critical
equipment heights. Every expected number is computed here another way: the down set
from the analytic depth and brute-force distances, coverage with
:func:`spp.coverage.model.compute_rsrp` on the surviving sites, people losing service by
overlaying building points on communes, hardening gains by re-adding each site.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from pyproj import CRS
from shapely.geometry import box

from spp.compound import (
    commune_outage,
    depth_at_points,
    link_substations,
    outage_coverage,
    rank_hardening,
    sites_down,
)
from spp.coverage.los import Grid
from spp.coverage.model import CoverageSettings, compute_rsrp, sectors_from_sites

X0, Y0 = 580_000.0, 1_115_000.0
CELL_M, N = 30.0, 101
MIDDLE_M = 1500.0
THRESHOLD_DBM = -110.0
RADIUS_M = 1000.0
SETTINGS = CoverageSettings(radius_m=5000.0)


def depth_of(x_m: float) -> float:
    """The known flood: 1.0 m west of the middle, 0.3 m east (x offset in metres)."""
    return 1.0 if x_m < MIDDLE_M else 0.3


# site id, x and y offsets from the NW corner (m, y downwards), technology, critical height
SITES = [
    ("A", 615, 615, "5G", None),     # west, 1.0 > 0.5 default: flooded
    ("B", 615, 2415, "5G", 1.5),     # west, 1.0 < 1.5: dry; fed by S2 (dry)
    ("C", 2415, 615, "5G", None),    # east, 0.3 < 0.5: dry; no substation within 1 km
    ("D", 2415, 2415, "5G", 0.2),    # east, 0.3 > 0.2: flooded, and fed by S1 (flooded)
    ("E", 1815, 1515, "5G", None),   # east, dry, but fed by S1: down
    ("F", 1015, 1515, "5G", 2.0),    # west, dry, fed by S2
    ("G", 2415, 1515, "4G", None),   # east, dry, fed by S1: down (4G: no 5G effect)
]
SUBSTATIONS = [("S1", 1815, 1815, 0.1), ("S2", 315, 1515, 2.0)]


def _points(rows: list[tuple], columns: list[str]) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        [dict(zip(columns, r[:1] + r[3:])) for r in rows],
        geometry=gpd.points_from_xy([X0 + r[1] for r in rows], [Y0 - r[2] for r in rows]),
        crs=9210)
    return frame


@pytest.fixture
def town():
    grid = Grid(Affine(CELL_M, 0, X0, 0, -CELL_M, Y0), (N, N), CRS.from_epsg(9210))
    ground = np.ones((N, N))
    sites = _points(SITES, ["site_id", "technology", "critical_equipment_height_m"])
    sites = sites.assign(band_mhz=3500.0, height_m=20.0, eirp_dbm=30.0, azimuths="",
                         scenario="UMi", operator="Viettel").to_crs(4326)
    subs = _points(SUBSTATIONS, ["substation_id", "critical_equipment_height_m"]).to_crs(4326)
    depth_cell = 60.0
    depth_transform = Affine(depth_cell, 0, X0, 0, -depth_cell, Y0)
    xs = (np.arange(51) + 0.5) * depth_cell
    depth = np.tile([depth_of(x) for x in xs], (51, 1))
    communes = gpd.GeoDataFrame(
        {"ma_xa": ["00001", "00002"], "ten": ["Phường Tây", "Xã Đông"]},
        geometry=[box(X0, Y0 - N * CELL_M, X0 + MIDDLE_M, Y0),
                  box(X0 + MIDDLE_M, Y0 - N * CELL_M, X0 + N * CELL_M, Y0)], crs=9210)
    rng = np.random.default_rng(7)
    bx, by = np.meshgrid(np.arange(45.0, N * CELL_M, 90.0), np.arange(45.0, N * CELL_M, 90.0))
    buildings = gpd.GeoDataFrame(
        {"population": rng.integers(1, 40, bx.size).astype(float)},
        geometry=gpd.points_from_xy(X0 + bx.ravel(), Y0 - by.ravel()), crs=9210)
    return grid, ground, sites, subs, depth, depth_transform, communes, buildings


def _expected_down() -> dict[str, str]:
    """Down sites and causes, from the analytic depth and brute-force distances."""
    sub_flooded = {}
    for sid, x, _y, height in SUBSTATIONS:
        sub_flooded[sid] = depth_of(x) > height
    out = {}
    for sid, x, y, _tech, height in SITES:
        flooded = depth_of(x) > (0.5 if height is None else height)
        dist = {s: math.hypot(x - sx, y - sy) for s, sx, sy, _ in SUBSTATIONS}
        near = min(dist, key=dist.__getitem__)
        cut = dist[near] <= RADIUS_M and sub_flooded[near]
        if flooded or cut:
            out[sid] = "both" if flooded and cut else ("flooded" if flooded else "substation")
    return out


def _covered(ground, grid, sites: gpd.GeoDataFrame) -> np.ndarray:
    five_g = sites[sites["technology"] == "5G"]
    return compute_rsrp(ground, grid, sectors_from_sites(five_g, crs=grid.crs),
                        settings=SETTINGS).covered(THRESHOLD_DBM)


def _population(buildings, grid) -> np.ndarray:
    from spp.coverage.gaps import population_grid

    return population_grid(buildings, grid)


def _run(town):
    grid, ground, sites, subs, depth, transform, _, buildings = town
    state = sites_down(sites, subs, depth, transform=transform, crs=grid.crs, radius_m=RADIUS_M)
    five_g = (state["technology"] == "5G").to_numpy()
    down = state["down"].to_numpy(bool)
    pop = _population(buildings, grid)
    outage = outage_coverage(
        ground, grid, sectors_up=sectors_from_sites(state[five_g & ~down], crs=grid.crs),
        sectors_down=sectors_from_sites(state[five_g & down], crs=grid.crs),
        threshold_dbm=THRESHOLD_DBM, population=pop, settings=SETTINGS)
    return state, outage, pop


def test_sites_down_are_exactly_those_flooded_above_their_equipment_or_cut_off(town):
    state, _, _ = _run(town)
    got = dict(zip(state.loc[state["down"], "site_id"], state.loc[state["down"], "cause"]))
    assert got == _expected_down() == {"A": "flooded", "D": "both", "E": "substation",
                                       "G": "substation"}
    by_id = state.set_index("site_id")
    assert by_id.loc["A", "depth_m"] == 1.0 and by_id.loc["C", "depth_m"] == 0.3
    assert by_id.loc["A", "critical_equipment_height_m"] == 0.5  # the default
    assert by_id.loc["C", "substation_id"] is None  # S1 is 1.34 km away
    assert by_id.loc["E", "substation_id"] == "S1" and by_id.loc["F", "substation_id"] == "S2"


def test_raising_the_default_height_above_the_flood_keeps_only_substation_outages(town):
    grid, _, sites, subs, depth, transform, *_ = town
    state = sites_down(sites, subs, depth, transform=transform, crs=grid.crs,
                       radius_m=RADIUS_M, default_height_m=1.1)
    assert set(state.loc[state["down"], "site_id"]) == {"D", "E", "G"}
    none = sites_down(sites, subs, depth, transform=transform, crs=grid.crs, radius_m=0.0)
    assert set(none.loc[none["down"], "site_id"]) == {"A", "D"}
    assert none["substation_id"].isna().all()


def test_flood_coverage_equals_a_run_without_the_down_sites(town):
    grid, ground, sites, *_ = town
    _, outage, _ = _run(town)
    survivors = sites[~sites["site_id"].isin(list(_expected_down()))]
    assert np.array_equal(outage.covered_flood, _covered(ground, grid, survivors))
    assert np.array_equal(outage.covered_normal, _covered(ground, grid, sites))
    lost = outage.covered_normal & ~outage.covered_flood
    assert lost.sum() > 100  # the case is not trivial


def test_people_losing_service_match_a_building_overlay(town):
    grid, ground, sites, _, _, _, communes, buildings = town
    state, outage, pop = _run(town)
    table = commune_outage(communes, outage, grid, population=pop,
                           down_5g=state[state["down"] & (state["technology"] == "5G")])
    survivors = sites[~sites["site_id"].isin(list(_expected_down()))]
    normal, flood = _covered(ground, grid, sites), _covered(ground, grid, survivors)
    rows, cols = zip(*[(int((Y0 - p.y) // CELL_M), int((p.x - X0) // CELL_M))
                       for p in buildings.geometry])
    joined = gpd.sjoin(buildings.assign(normal=normal[rows, cols], flood=flood[rows, cols]),
                       communes, predicate="within")
    for r in table.itertuples():
        mine = joined[joined["ma_xa"] == r.ma_xa]
        assert r.population == pytest.approx(mine["population"].sum())
        assert r.covered_population_normal == pytest.approx(mine.loc[mine["normal"], "population"].sum())
        assert r.covered_population_flood == pytest.approx(mine.loc[mine["flood"], "population"].sum())
        lost = mine.loc[mine["normal"] & ~mine["flood"], "population"].sum()
        assert r.people_losing_service == pytest.approx(lost)
        assert r.share_population_flood <= r.share_population_normal
    assert table["people_losing_service"].sum() > 0
    assert dict(zip(table["ma_xa"], table["sites_down"])) == {"00001": 1, "00002": 2}


def test_hardening_rank_one_regains_the_most_and_re_adding_it_reproduces_the_gain(town):
    grid, ground, sites, *_ = town
    state, outage, pop = _run(town)
    ranked = rank_hardening(state[state["down"]], outage.gains)
    assert list(ranked["harden_rank"].iloc[:3]) == [1, 2, 3]
    assert ranked["harden_rank"].iloc[3] is pd_na() and ranked["site_id"].iloc[3] == "G"
    gains = ranked["people_regained"].to_numpy()
    assert np.all(np.diff(gains[:3]) <= 0) and gains[0] > 0
    survivors = sites[~sites["site_id"].isin(list(_expected_down()))]
    flood_people = pop[_covered(ground, grid, survivors)].sum()
    for site_id, gain in zip(ranked["site_id"].iloc[:3], gains[:3]):
        again = _covered(ground, grid, sites[sites["site_id"].isin(
            [*survivors["site_id"], site_id])])
        assert pop[again].sum() - flood_people == pytest.approx(gain)


def pd_na():
    import pandas as pd

    return pd.NA


def test_depth_outside_the_grid_or_on_nodata_is_nan():
    d = np.array([[0.2, np.nan]])
    got = depth_at_points(d, Affine(10, 0, 0, 0, -10, 10), np.array([5.0, 15.0, -1.0]),
                          np.array([5.0, 5.0, 5.0]))
    assert got[0] == 0.2 and np.isnan(got[1]) and np.isnan(got[2])


def test_link_substations_needs_a_crs():
    from spp.errors import CRSError

    pts = gpd.GeoDataFrame({"substation_id": ["S"]}, geometry=gpd.points_from_xy([0], [0]))
    with pytest.raises(CRSError):
        link_substations(pts, pts, crs=9210)


def test_group_gain_is_the_joint_gain_of_re_adding_the_group_not_the_sum(town):
    grid, ground, sites, subs, depth, transform, _, buildings = town
    state = sites_down(sites, subs, depth, transform=transform, crs=grid.crs, radius_m=RADIUS_M)
    five_g = (state["technology"] == "5G").to_numpy()
    down = state["down"].to_numpy(bool)
    pop = _population(buildings, grid)
    outage = outage_coverage(
        ground, grid, sectors_up=sectors_from_sites(state[five_g & ~down], crs=grid.crs),
        sectors_down=sectors_from_sites(state[five_g & down], crs=grid.crs),
        threshold_dbm=THRESHOLD_DBM, population=pop, settings=SETTINGS,
        groups={"AD": ["A", "D"], "E": ["E"]})
    survivors = sites[~sites["site_id"].isin(list(_expected_down()))]
    flood_people = pop[_covered(ground, grid, survivors)].sum()
    both = _covered(ground, grid, sites[sites["site_id"].isin([*survivors["site_id"], "A", "D"])])
    assert outage.group_gains["AD"] == pytest.approx(pop[both].sum() - flood_people)
    assert outage.group_gains["E"] == pytest.approx(outage.gains["E"])
    assert outage.group_gains["AD"] <= outage.gains["A"] + outage.gains["D"]
