"""Coverage per H3 hexagon: every grid cell lands in the hexagon h3 itself gives for its
centre (reprojected here with pyproj, apart from the code under test), totals over hexagons
equal totals over the grid, hexagon polygons are h3's boundaries, and a stored run's hexagons
add up to the run's covered population."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spp.catalog import Catalog
from spp.settings import Settings

N = 80  # 80 × 80 cells of 30 m: 2.4 km square, a few dozen resolution-9 hexagons
COMMUNE_ASCII = "Ninh Kieu"
RESOLUTION_M = 100.0


@pytest.fixture
def synthetic(grid_of):
    rng = np.random.default_rng(7)
    grid = grid_of(N)
    covered = rng.random(grid.shape) < 0.6
    population = np.where(rng.random(grid.shape) < 0.4, rng.uniform(0, 40, grid.shape), 0.0)
    return grid, covered, population


def _independent_index(grid) -> np.ndarray:
    """H3 string index of every cell centre: pyproj in its authority axis order (lat, lon)."""
    import h3
    from pyproj import Transformer

    x, y = grid.cell_centres()
    lat, lon = Transformer.from_crs("EPSG:9210", "EPSG:4326").transform(x.ravel(), y.ravel())
    return np.array([h3.latlng_to_cell(a, b, 9) for a, b in zip(lat, lon)])


def test_each_cell_is_in_the_hexagon_h3_gives_for_its_centre(synthetic) -> None:
    import h3

    from spp.coverage.hexes import h3_cells

    grid, _, _ = synthetic
    got = h3_cells(grid, np.arange(N * N))
    expected = _independent_index(grid)
    assert [h3.int_to_str(int(c)) for c in got] == list(expected)
    assert len(set(expected)) > 10  # the grid spans many hexagons


def test_hexagon_counts_match_a_groupby_of_the_independent_index(synthetic) -> None:
    from spp.coverage.hexes import h3_shares

    grid, covered, population = synthetic
    frame = h3_shares(covered, grid, population)
    cells = pd.DataFrame({"h3": _independent_index(grid), "cells": 1,
                          "covered": covered.ravel().astype(int),
                          "people": population.ravel(),
                          "covered_people": (population * covered).ravel()})
    expected = cells.groupby("h3").sum()
    got = frame.set_index("h3_index").loc[expected.index]
    assert len(frame) == len(expected)
    assert list(got["cells"]) == list(expected["cells"])
    assert list(got["covered_cells"]) == list(expected["covered"])
    np.testing.assert_allclose(got["population"], expected["people"])
    np.testing.assert_allclose(got["covered_population"], expected["covered_people"])


@pytest.mark.parametrize("disk", [False, True])
def test_totals_over_hexagons_equal_totals_over_the_grid(synthetic, disk: bool) -> None:
    from spp.coverage.hexes import h3_shares

    grid, covered, population = synthetic
    inside = None
    keep = np.ones(grid.shape, dtype=bool)
    if disk:
        rows, cols = np.indices(grid.shape)
        keep = (rows - 40) ** 2 + (cols - 35) ** 2 < 30 ** 2
        inside = keep
    frame = h3_shares(covered, grid, population, inside=inside)
    assert frame.crs.to_epsg() == 4326 and frame["h3_index"].is_unique
    assert (frame["resolution"] == 9).all()
    assert int(frame["cells"].sum()) == int(keep.sum())
    assert int(frame["covered_cells"].sum()) == int((covered & keep).sum())
    assert frame["population"].sum() == pytest.approx(population[keep].sum(), rel=1e-12)
    assert frame["covered_population"].sum() == pytest.approx(
        (population * covered)[keep].sum(), rel=1e-12)
    shares = frame["share_area"]
    assert ((shares >= 0) & (shares <= 1)).all()
    np.testing.assert_allclose(shares, frame["covered_cells"] / frame["cells"])
    with_people = frame["population"] > 0
    np.testing.assert_allclose(frame.loc[with_people, "share_population"],
                               frame.loc[with_people, "covered_population"]
                               / frame.loc[with_people, "population"])
    assert frame.loc[~with_people, "share_population"].isna().all()


def test_a_fully_covered_hexagon_has_share_one_and_an_uncovered_one_zero(synthetic) -> None:
    from spp.coverage.hexes import h3_shares

    grid, _, population = synthetic
    index = _independent_index(grid).reshape(grid.shape)
    full, empty = index[40, 40], index[5, 5]
    assert full != empty
    covered = np.random.default_rng(3).random(grid.shape) < 0.5
    covered[index == full] = True
    covered[index == empty] = False
    population = population + 1.0  # people everywhere
    frame = h3_shares(covered, grid, population).set_index("h3_index")
    assert frame.loc[full, "share_area"] == 1.0
    assert frame.loc[full, "share_population"] == pytest.approx(1.0, rel=1e-12)
    assert frame.loc[full, "covered_cells"] == frame.loc[full, "cells"] == (index == full).sum()
    assert frame.loc[empty, "share_area"] == 0.0 and frame.loc[empty, "share_population"] == 0.0


def test_hexagon_polygons_are_h3_boundaries_in_lon_lat(synthetic) -> None:
    import geopandas as gpd
    import h3

    from spp.coverage.hexes import h3_shares

    grid, covered, population = synthetic
    frame = h3_shares(covered, grid, population)
    assert frame.geometry.is_valid.all()
    for index, polygon in zip(frame["h3_index"], frame.geometry):
        ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(index)]
        coords = list(polygon.exterior.coords)
        assert coords[0] == coords[-1]
        assert coords[:-1] == ring
    # the polygons' area on the ground is h3's cell area (a lat/lng swap would not be)
    np.testing.assert_allclose(frame.to_crs(9210).area,
                               [h3.cell_area(i, unit="m^2") for i in frame["h3_index"]],
                               rtol=1e-2)  # h3: spherical Earth; 9210: ellipsoid, TM
    # every cell centre lies in its hexagon's polygon (1 cm slack for edges in lon/lat)
    x, y = grid.cell_centres()
    points = gpd.GeoSeries.from_xy(x.ravel(), y.ravel(), crs=9210).to_crs(4326)
    polygons = frame.set_index("h3_index").geometry.loc[_independent_index(grid)]
    assert polygons.reset_index(drop=True).dwithin(points, 1e-7).all()


def test_empty_area_and_mismatched_shapes(synthetic) -> None:
    from spp.coverage.hexes import h3_shares
    from spp.errors import ScenarioError

    grid, covered, population = synthetic
    empty = h3_shares(covered, grid, population, inside=np.zeros(grid.shape, dtype=bool))
    assert len(empty) == 0 and empty.crs.to_epsg() == 4326
    with pytest.raises(ScenarioError, match="does not match grid"):
        h3_shares(covered[:-1], grid, population)
    with pytest.raises(ScenarioError, match="does not match grid"):
        h3_shares(covered, grid, population, inside=np.ones((3, 3), dtype=bool))
    with pytest.raises(ScenarioError, match="resolution"):
        h3_shares(covered, grid, population, resolution=16)


@pytest.fixture(scope="module")
def run(sample_db: str, settings: Settings, sample_files: dict[str, Path],
        tmp_path_factory: pytest.TempPathFactory):
    from spp.coverage.run import run_coverage

    local = settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("cov-h3-state")})
    return run_coverage(local, sample_db, commune=COMMUNE_ASCII, resolution_m=RESOLUTION_M,
                        dem_path=sample_files["dem"])


def _rows(db_url: str, catalog: Catalog, layer: str, run_id: str):
    from spp.store.query import read_layer

    frame = read_layer(db_url, catalog.get(layer))
    return frame[frame["run_id"] == run_id].reset_index(drop=True)


@pytest.mark.slow
def test_stored_hexagons_add_up_to_the_runs_covered_population(
        run, sample_db: str, catalog: Catalog) -> None:
    hexes = _rows(sample_db, catalog, "coverage_h3", run.run_id)
    assert len(hexes) == len(run.hexes) > 5
    assert hexes["h3_index"].is_unique and (hexes["resolution"] == 9).all()
    assert list(hexes["hex_id"]) == [f"{run.run_id}:{i}" for i in hexes["h3_index"]]
    assert hexes.geometry.is_valid.all()

    overall = _rows(sample_db, catalog, "coverage_by_commune", run.run_id)
    overall = overall[(overall["operator"] == "all") & (overall["technology"] == "5G")]
    assert len(overall) == 1
    assert hexes["covered_population"].sum() == pytest.approx(
        overall["covered_population"].sum(), rel=1e-9)
    assert hexes["population"].sum() == pytest.approx(overall["population"].sum(), rel=1e-9)
    runs = _rows(sample_db, catalog, "coverage_runs", run.run_id).iloc[0]
    assert hexes["covered_population"].sum() == pytest.approx(
        runs["population"] - runs["people_uncovered_5g"], rel=1e-9)
    assert 0 < hexes["covered_population"].sum() <= hexes["population"].sum()
