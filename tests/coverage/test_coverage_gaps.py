"""Per-commune shares against an independent geopandas overlay; gap polygons."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from rasterio.features import shapes
from shapely.geometry import Point, Polygon, shape

from spp.coverage.gaps import coverage_shares, gap_polygons, population_grid

N = 200
CELL = 30.0


@pytest.fixture
def setup(grid_of):
    grid = grid_of(N, cell_m=CELL)
    x0, y1 = grid.transform.c, grid.transform.f
    size = N * CELL
    x1, y0 = x0 + size, y1 - size
    xm = x0 + 0.43 * size
    # Three communes with boundaries that do not follow the grid (a slanted line).
    a = Polygon([(x0, y0), (xm - 400, y0), (xm + 400, y1), (x0, y1)])
    b = Polygon([(xm - 400, y0), (x1, y0), (x1, y0 + 0.5 * size), (xm + 0.0, y0 + 0.5 * size)])
    c = Polygon([(xm, y0 + 0.5 * size), (x1, y0 + 0.5 * size), (x1, y1), (xm + 400, y1)])
    communes = gpd.GeoDataFrame({"ma_xa": ["1", "2", "3"],
                                 "ten": ["Phường An", "Xã Bình", "Phường Cái"]},
                                geometry=[a, b, c], crs=9210)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:N, 0:N]
    covered = (np.hypot(xx - 60, yy - 70) < 55) | (np.hypot(xx - 150, yy - 140) < 40)
    pts = [Point(x, y) for x, y in zip(rng.uniform(x0, x1, 3000), rng.uniform(y0, y1, 3000))]
    buildings = gpd.GeoDataFrame({"population": rng.integers(1, 9, 3000)}, geometry=pts,
                                 crs=9210).to_crs(4326)
    return grid, communes, covered, buildings


def _covered_polygons(covered, grid):
    geoms = [shape(g) for g, v in shapes(covered.astype(np.uint8), mask=covered,
                                         transform=grid.transform)]
    return gpd.GeoDataFrame(geometry=geoms, crs=grid.crs)


def test_area_and_building_shares_match_an_independent_overlay(setup):
    grid, communes, covered, buildings = setup
    pop = population_grid(buildings, grid)
    got = coverage_shares(communes, covered, grid, population=pop, buildings=buildings)

    cov_poly = _covered_polygons(covered, grid)
    inter = gpd.overlay(communes, cov_poly, how="intersection")
    inter["a"] = inter.area
    area = inter.groupby("ma_xa")["a"].sum() / communes.set_index("ma_xa").area
    b = gpd.sjoin(buildings.to_crs(9210), communes, predicate="within")
    b["cov"] = gpd.sjoin(b[["geometry"]], cov_poly, predicate="within", how="left"
                         )["index_right"].notna().groupby(level=0).any()
    share_b = b.groupby("ma_xa")["cov"].mean()
    share_p = (b["population"] * b["cov"]).groupby(b["ma_xa"]).sum() / b.groupby(
        "ma_xa")["population"].sum()
    for _, row in got.iterrows():
        assert row["share_area"] == pytest.approx(area[row["id"]], abs=0.01)
        assert row["area_km2"] == pytest.approx(communes.set_index("ma_xa").area[row["id"]] / 1e6)
        # Buildings: the centroid-cell rule vs exact point-in-polygon; only cells cut by a
        # commune boundary may differ.
        assert row["share_buildings"] == pytest.approx(share_b[row["id"]], abs=0.01)
        assert row["share_population"] == pytest.approx(share_p[row["id"]], abs=0.01)
    assert got["share_area"].between(0.05, 0.95).all()


def test_gap_polygons_are_valid_ranked_and_hold_every_uncovered_person(setup):
    grid, communes, covered, buildings = setup
    pop = population_grid(buildings, grid)
    gaps = gap_polygons(covered, grid, population=pop, communes=communes)
    assert gaps.geometry.is_valid.all()
    assert list(gaps["rank"]) == list(range(1, len(gaps) + 1))
    assert gaps["people"].is_monotonic_decreasing
    assert gaps["people"].sum() == pytest.approx(pop[~covered].sum())
    assert set(gaps["commune"]) <= set(communes["ten"])
    # No gap touches a covered cell's interior.
    cov_poly = _covered_polygons(covered, grid).union_all()
    assert gaps.intersection(cov_poly).area.max() < 1e-6


def test_fully_covered_grid_has_no_gaps(grid_of):
    grid = grid_of(10)
    gaps = gap_polygons(np.ones((10, 10), bool), grid, population=np.ones((10, 10)))
    assert len(gaps) == 0
