"""A stored coverage run on the sample city in PostGIS: rows in every result layer, shares
that an independent geopandas overlay reproduces, commune names with or without diacritics,
and refusals of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spp.catalog import Catalog
from spp.settings import Settings

COMMUNE_ASCII = "Truong Long"  # Xã Trường Long: partly covered at 100 m on the sample city
RESOLUTION_M = 100.0


@pytest.fixture(scope="module")
def run(sample_db: str, settings: Settings, sample_files: dict[str, Path],
        tmp_path_factory: pytest.TempPathFactory):
    from spp.coverage.run import run_coverage

    local = settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("cov-state")})
    return run_coverage(local, sample_db, commune=COMMUNE_ASCII, resolution_m=RESOLUTION_M,
                        dem_path=sample_files["dem"], plan=True, max_sites=3)


def _rows(db_url: str, catalog: Catalog, layer: str, run_id: str):
    from spp.store.query import read_layer

    frame = read_layer(db_url, catalog.get(layer))
    return frame[frame["run_id"] == run_id].reset_index(drop=True)


@pytest.mark.slow
def test_run_stores_rows_in_every_result_layer(run, sample_db: str, catalog: Catalog) -> None:
    import rasterio

    assert run.area == "Xã Trường Long"
    runs = _rows(sample_db, catalog, "coverage_runs", run.run_id)
    assert len(runs) == 1 and runs["ma_xa"].iloc[0] == "31309"
    assert runs["resolution_m"].iloc[0] == RESOLUTION_M and runs["threshold_dbm"].iloc[0] == -110
    by_commune = _rows(sample_db, catalog, "coverage_by_commune", run.run_id)
    assert set(by_commune["ma_xa"]) == {"31309"}
    assert ("all", "5G") in set(zip(by_commune["operator"], by_commune["technology"]))
    assert len(by_commune) == len(run.shares) >= 2
    gaps = _rows(sample_db, catalog, "coverage_gaps", run.run_id)
    assert len(gaps) == len(run.gaps) > 0
    assert list(gaps.sort_values("rank")["people"]) == sorted(gaps["people"], reverse=True)
    assert gaps.geometry.is_valid.all() and set(gaps["ma_xa"]) == {"31309"}
    planned = _rows(sample_db, catalog, "planned_sites", run.run_id)
    assert 1 <= len(planned) <= 3 and (planned["people_gained"] > 0).all()
    with rasterio.open(run.raster) as src:
        assert src.count == 2 and src.crs.to_epsg() == 9210 and src.res == (100.0, 100.0)
        rsrp = src.read(2)
    assert np.nanmax(rsrp) > -110 > np.nanmin(rsrp)


@pytest.mark.slow
def test_population_share_matches_an_overlay_of_stored_gaps_with_buildings(
        run, sample_db: str, catalog: Catalog) -> None:
    """Uncovered people = buildings whose representative point lies in a stored gap polygon
    (geopandas sjoin, computed apart from the raster code); the stored row must agree."""
    import geopandas as gpd

    from spp.store.query import read_layer

    gaps = _rows(sample_db, catalog, "coverage_gaps", run.run_id).to_crs(9210)
    commune = read_layer(sample_db, catalog.get("communes"), columns=["ma_xa", "ten"])
    commune = commune[commune["ma_xa"] == "31309"].to_crs(9210)
    buildings = read_layer(sample_db, catalog.get("buildings"),
                           columns=["building_id", "population"],
                           bbox=tuple(commune.to_crs(4326).total_bounds)).to_crs(9210)
    points = gpd.GeoDataFrame(buildings[["population"]],
                              geometry=buildings.geometry.representative_point(), crs=9210)
    in_gap = gpd.sjoin(points, gaps[["geometry"]], predicate="within", how="inner")
    uncovered = float(in_gap.loc[~in_gap.index.duplicated(), "population"].sum())
    in_commune = gpd.sjoin(points, commune[["geometry"]], predicate="within", how="inner")
    people = float(in_commune["population"].sum())

    row = _rows(sample_db, catalog, "coverage_by_commune", run.run_id)
    row = row[(row["operator"] == "all") & (row["technology"] == "5G")].iloc[0]
    assert row["population"] - row["covered_population"] == pytest.approx(uncovered, abs=0.5)
    # commune membership: cell centre (stored) vs the building itself (overlay); 2 % apart at most
    assert row["population"] == pytest.approx(people, rel=0.02)
    assert row["share_population"] == pytest.approx(row["covered_population"] / row["population"])
    assert 0.0 < row["share_population"] < 1.0
    assert float(gaps["people"].sum()) == pytest.approx(uncovered, abs=0.5)


@pytest.mark.parametrize("query", ["Phường Ninh Kiều", "Ninh Kieu", "ninh kieu", "P. Ninh Kiều",
                                   "Phu\u031bo\u031b\u0300ng Ninh Kie\u0302\u0300u", "31135"])
def test_commune_is_found_with_or_without_diacritics(query: str, sample_db: str,
                                                     catalog: Catalog) -> None:
    from spp.coverage.run import select_communes
    from spp.store.query import read_layer

    communes = read_layer(sample_db, catalog.get("communes"), columns=["ma_xa", "ten"])
    found = select_communes(communes, query)
    assert list(found["ten"]) == ["Phường Ninh Kiều"]


def test_unknown_commune_is_refused(sample_db: str, catalog: Catalog) -> None:
    from spp.coverage.run import select_communes
    from spp.errors import CommuneNotFoundError
    from spp.store.query import read_layer

    communes = read_layer(sample_db, catalog.get("communes"), columns=["ma_xa", "ten"])
    with pytest.raises(CommuneNotFoundError, match="no commune named"):
        select_communes(communes, "Atlantis")


@pytest.mark.parametrize(("threshold", "resolution"), [(-20.0, 50.0), (-141.0, 50.0),
                                                       (-110.0, 1.0), (float("nan"), 50.0)])
def test_out_of_range_inputs_are_refused_before_any_work(threshold: float, resolution: float,
                                                         settings: Settings) -> None:
    from spp.coverage.run import run_coverage
    from spp.errors import ScenarioError

    with pytest.raises(ScenarioError, match="must be within"):
        run_coverage(settings, "postgresql://invalid", threshold_dbm=threshold,
                     resolution_m=resolution)


def test_cli_refuses_a_threshold_outside_the_range() -> None:
    from click.testing import CliRunner

    from spp.cli.main import cli

    result = CliRunner().invoke(cli, ["coverage", "run", "--threshold-dbm", "-20"])
    assert result.exit_code == 1
    assert "threshold_dbm must be within [-140, -40] dBm" in result.output
