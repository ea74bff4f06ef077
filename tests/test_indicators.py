"""IOC indicators: counts and sums checked against PostGIS (an independent computation),
latest-run selection in the analysis tables, city targets, and snapshots kept as history."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
import shapely
from click.testing import CliRunner

from spp.catalog import Catalog
from spp.indicators import (
    IndicatorInputs,
    compute_indicators,
    coverage_pct,
    fibre_pct,
    flood_exposure_by_commune,
    target_status,
)
from spp.store.query import read_layer

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _sql(db_url: str, query: str) -> dict[str, object]:
    with psycopg.connect(db_url) as conn:
        return {str(r[0]): r[1] for r in conn.execute(query).fetchall()}


@pytest.fixture(scope="module")
def sample_inputs(sample_db: str, catalog: Catalog) -> IndicatorInputs:
    def read(name: str, columns: list[str] | None = None) -> gpd.GeoDataFrame:
        return read_layer(sample_db, catalog.get(name), columns=columns)  # type: ignore[return-value]

    return IndicatorInputs(
        communes=read("communes", ["ma_xa", "ten", "dan_so"]),
        street_lights=read("street_lights", []),
        pump_stations=read("pump_stations", []),
        water_level_sensors=read("water_level_sensors", []),
        telecom_sites=read("telecom_sites", ["technology", "status"]),
    )


@pytest.fixture(scope="module")
def snapshot(sample_inputs: IndicatorInputs) -> gpd.GeoDataFrame:
    return compute_indicators(sample_inputs, computed_at=WHEN)


def test_one_row_per_commune_with_the_population_of_the_communes(snapshot: gpd.GeoDataFrame,
                                                                  sample_db: str) -> None:
    pop = _sql(sample_db, "SELECT ma_xa, dan_so FROM spp.communes")
    assert len(snapshot) == len(pop) == snapshot["ma_xa"].nunique()
    assert snapshot.set_index("ma_xa")["population"].to_dict() == pop
    assert sum(snapshot["population"]) == 4_199_824
    assert snapshot["snapshot_id"].str.endswith("@20260102T030405Z").all()


@pytest.mark.parametrize("layer, column, condition", [
    ("street_lights", "street_lights", "TRUE"),
    ("pump_stations", "pump_stations", "TRUE"),
    ("water_level_sensors", "water_level_sensors", "TRUE"),
    ("telecom_sites", "telecom_sites", "p.status IS DISTINCT FROM 'planned'"),
    ("telecom_sites", "telecom_sites_5g", "p.status IS DISTINCT FROM 'planned' AND p.technology = '5G'"),
])
def test_counts_equal_a_postgis_point_in_polygon_count(snapshot: gpd.GeoDataFrame, sample_db: str,
                                                       layer: str, column: str, condition: str) -> None:
    expected = _sql(sample_db, f"SELECT c.ma_xa, count(p.geom) FROM spp.communes c LEFT JOIN spp.{layer} p "
                               f"ON ST_Within(p.geom, c.geom) AND {condition} GROUP BY c.ma_xa")
    got = snapshot.set_index("ma_xa")[column].to_dict()
    assert got == expected
    assert sum(expected.values()) > 0  # type: ignore[arg-type]


def test_areas_and_densities_are_on_the_vn2000_plane(snapshot: gpd.GeoDataFrame, sample_db: str) -> None:
    expected = _sql(sample_db, "SELECT ma_xa, ST_Area(ST_Transform(geom, 9210)) / 1e6 FROM spp.communes")
    got = snapshot.set_index("ma_xa")
    for code, km2 in expected.items():
        assert got.loc[code, "area_km2"] == pytest.approx(km2, rel=1e-6)
    dens = got["street_lights"].astype(float) / got["area_km2"]
    assert got["street_lights_per_km2"].astype(float).to_numpy() == pytest.approx(dens.to_numpy())


def test_without_analysis_rows_the_shares_and_targets_are_null(snapshot: gpd.GeoDataFrame) -> None:
    for col in ("coverage_5g_area_pct", "coverage_5g_population_pct", "fibre_households_pct",
                "target_5g_gap_pct", "target_fibre_gap_pct", "flood_worst_share_pct"):
        assert snapshot[col].isna().all(), col
    assert snapshot["target_5g_met"].isna().all()
    assert (snapshot["flood_by_scenario"] == "{}").all()


def _communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"ma_xa": ["A", "B"], "ten": ["Phường Á", "Xã Bê"], "dan_so": [100, 200]},
                            geometry=[shapely.box(105.70, 10.00, 105.71, 10.01),
                                      shapely.box(105.71, 10.00, 105.72, 10.01)], crs=4326)


def test_coverage_takes_each_communes_latest_run_all_operators_5g() -> None:
    coverage = pd.DataFrame({
        "run_id": ["r1", "r1", "r1", "r2", "r2"],
        "ma_xa": ["A", "B", "A", "A", "A"],
        "operator": ["all", "all", "all", "all", "Viettel"],
        "technology": ["5G", "5G", "4G", "5G", "5G"],
        "share_area": [0.5, 0.8, 1.0, 0.9, 0.1],
        "share_population": [0.6, 1.0, 1.0, 0.95, 0.1],
    })
    runs = pd.DataFrame({"run_id": ["r2", "r1"], "run_at": [WHEN, WHEN.replace(year=2025)]})
    got = coverage_pct(coverage, runs)
    assert got.loc["A"].tolist() == pytest.approx([90.0, 95.0])  # r2 is newer for A
    assert got.loc["B"].tolist() == pytest.approx([80.0, 100.0])  # B only in r1


def test_targets_met_and_gaps_from_the_analysis_rows() -> None:
    fibre = pd.DataFrame({"run_id": ["f1", "f1", "f2"], "run_at": [1, 1, 2], "ma_xa": ["A", "B", "B"],
                          "share_households": [0.95, 0.5, 0.85]})
    coverage = pd.DataFrame({"run_id": ["c1", "c1"], "ma_xa": ["A", "B"], "operator": ["all", "all"],
                             "technology": ["5G", "5G"], "share_area": [1.0, 0.7],
                             "share_population": [1.0, 0.75]})
    out = compute_indicators(IndicatorInputs(communes=_communes(), coverage=coverage, fibre=fibre),
                             computed_at=WHEN).set_index("ma_xa")
    assert fibre_pct(fibre).to_dict() == pytest.approx({"A": 95.0, "B": 85.0})
    assert out.loc["A", "target_fibre_met"] is True and out.loc["A", "target_fibre_gap_pct"] == 0
    assert out.loc["B", "target_fibre_met"] is False
    assert out.loc["B", "target_fibre_gap_pct"] == pytest.approx(5.0)
    assert out.loc["A", "target_5g_met"] is True
    assert out.loc["B", "target_5g_met"] is False and out.loc["B", "target_5g_gap_pct"] == pytest.approx(25.0)
    assert out["street_lights"].isna().all()  # no layer given: NULL, not 0


def test_flood_exposure_of_the_latest_run_per_scenario() -> None:
    flood = pd.DataFrame({
        "run_id": ["old", "new", "new", "rain"],
        "ma_xa": ["A", "A", "B", "A"],
        "flooded_km2": [9.0, 0.2, 0.0, 0.5],
        "flooded_share": [0.9, 0.2, 0.0, 0.5],
        "people_exposed": [90, 20, 0, 50],
    })
    runs = pd.DataFrame({"run_id": ["old", "new", "rain"], "scenario": ["tide", "tide", "rain"],
                         "started_at": [1, 2, 1]})
    got = flood_exposure_by_commune(flood, runs)
    assert got.loc["A", "worst_scenario"] == "rain"
    assert got.loc["A", "worst_share_pct"] == pytest.approx(50.0)
    detail = json.loads(got.loc["A", "by_scenario"])
    assert detail["scenarios"]["tide"]["run"] == "new"  # the old tide run is superseded
    assert detail["scenarios"]["tide"]["share_pct"] == pytest.approx(20.0)
    assert got.loc["B", "worst_share_pct"] == 0


def test_target_status_is_null_where_the_share_is_unknown() -> None:
    met, gap = target_status(pd.Series([100.0, 99.5, None]), target_pct=100.0)
    assert met.tolist()[:2] == [True, False] and met.isna().tolist() == [False, False, True]
    assert gap.tolist()[:2] == pytest.approx([0.0, 0.5])


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        compute_indicators(IndicatorInputs(communes=_communes()), computed_at=datetime(2026, 1, 1))


def test_each_run_appends_a_snapshot_and_keeps_the_earlier_ones(sample_db: str, catalog: Catalog,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import spp.store.db
    from spp.cli.main import cli

    monkeypatch.setattr(spp.store.db, "url", lambda settings, **kw: sample_db)

    def snapshots() -> dict[datetime, tuple[int, int]]:
        with psycopg.connect(sample_db) as conn:
            if conn.execute("SELECT to_regclass('spp.commune_indicators')").fetchone() == (None,):
                return {}
            return {r[0]: (r[1], r[2]) for r in conn.execute(
                "SELECT computed_at, count(*), sum(population) FROM spp.commune_indicators GROUP BY 1")}

    before = snapshots()
    runner = CliRunner()
    stamps = [datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)]
    for when in stamps:
        result = runner.invoke(cli, ["indicators", "run", "--at", when.isoformat()])
        assert result.exit_code == 0, result.output
        assert "commune_indicators: loaded" in result.output
    after = snapshots()
    assert {k: v for k, v in after.items() if k not in stamps} == before  # earlier snapshots kept
    assert after[stamps[0]] == after[stamps[1]] == (103, 4_199_824)
    with psycopg.connect(sample_db) as conn:
        versions = conn.execute("SELECT count(*) FROM spp_meta.versions WHERE layer = 'commune_indicators'"
                                ).fetchone()
    assert versions is not None and versions[0] >= 2
    # the same time stamp again replaces that snapshot instead of duplicating it
    result = runner.invoke(cli, ["indicators", "run", "--at", stamps[1].isoformat()])
    assert result.exit_code == 0, result.output
    assert snapshots() == after
