"""The stored flood → telecom run on the sample city: flood run resolution (run when
missing), stored layers, agreement with an independent coverage run and with depths
sampled from the flood COG, the CLI, and the ``flood-telecom`` OGC process (direct and
through the live server as an asynchronous job), with 400s for bad input."""

from __future__ import annotations

import os
import time

import numpy as np
import psycopg
import pytest
import rasterio
from click.testing import CliRunner

from spp.catalog import Catalog
from spp.errors import ScenarioError
from spp.settings import Settings, get_settings

# the OGC tests' server and database fixtures (session-scoped, shared when both run)
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

os.environ.setdefault("SPP_FLOOD_DEM", str(get_settings().sample_dir / "dem.tif"))

SCENARIO = "static-2m"
COMMUNE = "chau thanh"  # Xã Châu Thành: people lose 5G at 2 m (ring dikes keep Vĩnh Châu dry at 1.2 m)
RESOLUTION_M = 200.0
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ft_settings(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Settings:
    """Settings whose runs folder is a temporary one (the flood COG goes there)."""
    return settings.model_copy(update={"state_dir": tmp_path_factory.mktemp("ftel-state")})


@pytest.fixture(scope="module")
def flood_record(ft_settings: Settings, sample_db: str, catalog: Catalog) -> dict:
    from spp.compound.run import resolve_flood_run

    record, ran = resolve_flood_run(ft_settings, sample_db, SCENARIO, catalog=catalog,
                                    flood_resolution_m=RESOLUTION_M)
    assert ran and record["scenario"] == SCENARIO
    return record


@pytest.fixture(scope="module")
def stored_run(ft_settings: Settings, sample_db: str, flood_record: dict):
    from spp.compound.run import run_flood_telecom

    return run_flood_telecom(ft_settings, sample_db, SCENARIO, commune=COMMUNE,
                             resolution_m=RESOLUTION_M)


def _rows(db_url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return list(conn.execute(query, params).fetchall())


def test_a_stored_run_is_reused_by_scenario_name_and_by_run_id(ft_settings, sample_db, catalog,
                                                               flood_record):
    from spp.compound.run import resolve_flood_run

    again, ran = resolve_flood_run(ft_settings, sample_db, SCENARIO, catalog=catalog)
    assert not ran and again["run_id"] == flood_record["run_id"]
    by_id, ran = resolve_flood_run(ft_settings, sample_db, flood_record["run_id"], catalog=catalog)
    assert not ran and by_id["run_id"] == flood_record["run_id"]


def test_unknown_scenario_is_refused_listing_the_known_ones(ft_settings, sample_db, catalog,
                                                            flood_record):
    from spp.compound.run import resolve_flood_run

    with pytest.raises(ScenarioError) as info:
        resolve_flood_run(ft_settings, sample_db, "spring-tsunami", catalog=catalog)
    message = str(info.value)
    assert "spring-tsunami" in message and "spring-tide-storm" in message
    assert SCENARIO in message and "static-<level>m" in message


def test_sites_down_match_depths_sampled_from_the_flood_cog(stored_run, ft_settings, sample_db,
                                                            catalog, flood_record):
    from spp.store.query import read_layer

    run = stored_run
    assert run.flood_run_id == flood_record["run_id"] and run.area == "Xã Châu Thành"
    sites = read_layer(sample_db, catalog.get("telecom_sites"))
    on_air = sites[sites["status"] == "on_air"].set_index("site_id")
    down = run.sites.set_index("site_id")
    assert set(down.index) <= set(on_air.index) and len(down) > 0
    with rasterio.open(ft_settings.runs_dir / flood_record["max_depth_cog"]) as src:
        pts = on_air.geometry.to_crs(src.crs)
        depth = np.array([v[0] for v in src.sample(zip(pts.x, pts.y))], dtype=float)
    depth = np.where(np.isfinite(depth), depth, 0.0)
    flooded = set(on_air.index[depth > 0.5])  # every sample site has the 0.5 m default
    # a down site is flooded at the site exactly when the COG says water > 0.5 m there
    for sid in down.index:
        assert (down.loc[sid, "cause"] in ("flooded", "both")) == (sid in flooded), sid
    assert down.loc[list(set(down.index) & flooded), "depth_m"].gt(0.5).all()
    subs = run.substations
    assert subs["sites_cut_off"].sum() == down["cause"].isin(["substation", "both"]).sum()
    assert subs["sites_only_cut_off"].sum() == (down["cause"] == "substation").sum()
    ranked = down[down["harden_rank"].notna()].sort_values("harden_rank")
    assert (ranked["technology"] == "5G").all()
    assert np.all(np.diff(ranked["people_regained"].to_numpy()) <= 0)


def test_normal_shares_equal_an_independent_coverage_run(stored_run, ft_settings, sample_db):
    from spp.coverage.run import run_coverage

    cov = run_coverage(ft_settings, sample_db, commune=COMMUNE, resolution_m=RESOLUTION_M,
                       store=False)
    overall = cov.shares[cov.shares["operator"] == "all"].iloc[0]
    row = stored_run.communes.iloc[0]
    assert row["population"] == pytest.approx(overall["population"])
    assert row["share_population_normal"] == pytest.approx(overall["share_population"], abs=1e-12)
    assert row["share_area_normal"] == pytest.approx(overall["share_area"], abs=1e-12)
    assert row["share_population_flood"] <= row["share_population_normal"]
    assert row["people_losing_service"] == pytest.approx(
        row["covered_population_normal"] - row["covered_population_flood"])
    assert row["people_losing_service"] > 0


def test_the_run_is_stored_as_versioned_layers(stored_run, sample_db):
    run = stored_run
    rows = _rows(sample_db, "SELECT ma_xa, people_losing_service, share_population_flood, "
                            "flood_run_id FROM spp.flood_telecom_by_commune WHERE run_id = %s",
                 (run.run_id,))
    assert [(r[0], r[3]) for r in rows] == [("31366", run.flood_run_id)]
    assert rows[0][1] == pytest.approx(run.people_losing_service)
    n = _rows(sample_db, "SELECT count(*), count(harden_rank) FROM spp.flood_telecom_sites "
                         "WHERE run_id = %s", (run.run_id,))[0]
    assert n == (len(run.sites), int(run.sites["harden_rank"].notna().sum()))
    assert set(run.versions) == {"flood_telecom_by_commune", "flood_telecom_sites"}



def test_without_substation_dependency_only_flooded_sites_go_down(stored_run, ft_settings,
                                                                   sample_db):
    from spp.compound.run import run_flood_telecom

    run = run_flood_telecom(ft_settings, sample_db, SCENARIO, commune=COMMUNE,
                            resolution_m=RESOLUTION_M, substation_radius_m=0)
    assert set(run.sites["cause"]) == {"flooded"}
    flooded_before = set(stored_run.sites.loc[stored_run.sites["cause"].isin(
        ["flooded", "both"]), "site_id"])
    assert set(run.sites["site_id"]) == flooded_before
    assert run.people_losing_service <= stored_run.people_losing_service
    stored = _rows(sample_db, "SELECT DISTINCT substation_id FROM spp.flood_telecom_sites "
                              "WHERE run_id = %s", (run.run_id,))
    assert stored == [("none",)]

def _cli(monkeypatch, settings: Settings, db_url: str, args: list[str]):
    import spp.settings
    import spp.store.db
    from spp.cli.main import cli

    monkeypatch.setattr(spp.settings, "get_settings", lambda: settings)
    monkeypatch.setattr(spp.store.db, "url", lambda s, **kw: db_url)
    return CliRunner().invoke(cli, args)


def test_cli_prints_the_outage_table_and_hardening_ranks(monkeypatch, ft_settings, sample_db,
                                                         flood_record):
    result = _cli(monkeypatch, ft_settings, sample_db, [
        "scenario", "flood-telecom", SCENARIO, "--commune", "Châu Thành", "--resolution-m",
        str(RESOLUTION_M), "--no-store", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert flood_record["run_id"] in result.output and "sites down:" in result.output
    assert "Xã Châu Thành" in result.output and "harden first" in result.output
    assert "lose service" in result.output


def test_cli_unknown_scenario_fails_with_one_line_listing_known_ones(monkeypatch, ft_settings,
                                                                     sample_db):
    result = _cli(monkeypatch, ft_settings, sample_db,
                  ["scenario", "flood-telecom", "no-such-flood", "--no-store"])
    assert result.exit_code == 1
    assert "unknown flood scenario 'no-such-flood'" in result.output
    assert "spring-tide-storm" in result.output


def _processor(db_url: str):
    from psycopg.conninfo import conninfo_to_dict

    from spp.ogc.processes.compound import FloodTelecomProcessor

    params = conninfo_to_dict(db_url)
    return FloodTelecomProcessor({"name": "flood-telecom", "data": {
        k: params.get(k) for k in ("host", "port", "dbname", "user", "password")}})


def test_process_is_registered_and_async_only() -> None:
    from spp.ogc.processes import PROCESSES
    from spp.ogc.processes.compound import FLOOD_TELECOM_METADATA

    assert PROCESSES["flood-telecom"].endswith("compound.FloodTelecomProcessor")
    assert FLOOD_TELECOM_METADATA["jobControlOptions"] == ["async-execute"]


@pytest.mark.parametrize(("inputs", "message"), [
    ({"scenario": "spring-tsunami"}, "unknown flood scenario 'spring-tsunami'"),
    ({}, "input 'scenario' is required"),
    ({"scenario": SCENARIO, "commune": "Atlantis"}, "no commune named"),
    ({"scenario": SCENARIO, "resolution_m": 5}, "within [10, 500]"),
    ({"scenario": SCENARIO, "substation_radius_m": -1}, "within [0, 100000]"),
    ({"scenario": SCENARIO, "colour": "red"}, "unknown input"),
])
def test_process_bad_input_is_a_400_before_any_work(inputs, message, sample_db) -> None:
    with pytest.raises(Exception) as info:
        _processor(sample_db).execute(inputs)
    assert int(info.value.http_status_code) == 400
    assert message in info.value.message
    if "spring-tsunami" in message:
        assert "spring-tide-storm" in info.value.message


def test_process_execute_answers_the_stored_numbers(monkeypatch, ft_settings, sample_db,
                                                    stored_run):
    import spp.settings

    monkeypatch.setattr(spp.settings, "get_settings", lambda: ft_settings)
    mime, out = _processor(sample_db).execute(
        {"scenario": SCENARIO, "commune": "Xa Chau Thanh", "resolution_m": RESOLUTION_M,
         "max_sites": 3})
    assert mime == "application/json" and out["flood_run_id"] == stored_run.flood_run_id
    assert out["people_losing_service"] == pytest.approx(stored_run.people_losing_service)
    assert out["sites_down"] == len(stored_run.sites) and len(out["sites"]) == 3
    assert out["sites"][0]["harden_rank"] == 1
    assert out["sites"][0]["site_id"] == stored_run.sites["site_id"].iloc[0]


def test_process_runs_as_a_job_through_the_live_server(http, base, ogc_db):  # noqa: F811
    listed = http.get(f"{base}/processes?f=json", timeout=30).json().get("processes", [])
    if "flood-telecom" not in {p["id"] for p in listed}:
        pytest.fail("ogc_config.yml does not list flood-telecom; run 'spp ogc config'")
    bad = http.post(f"{base}/processes/flood-telecom/execution",
                    json={"inputs": {"scenario": "spring-tsunami"}}, timeout=60)
    assert bad.status_code == 400 and "spring-tide-storm" in bad.text
    # a level no other test stores: the server runs the flood first, in its own state folder
    resp = http.post(f"{base}/processes/flood-telecom/execution",
                     json={"inputs": {"scenario": "static-2.05m", "commune": "chau thanh",
                                      "resolution_m": 400, "flood_resolution_m": 400}},
                     headers={"Prefer": "respond-async"}, timeout=60)
    assert resp.status_code == 201, resp.text
    job = resp.headers["Location"]
    status: dict = {}
    for _ in range(600):
        status = http.get(f"{job}?f=json", timeout=30).json()
        if status.get("status") in ("successful", "failed", "dismissed"):
            break
        time.sleep(0.5)
    assert status.get("status") == "successful", status
    result = http.get(f"{job}/results?f=json", timeout=30).json()
    assert result["flood_ran"] is True and result["scenario"] == "static-2.05m"
    assert result["area"] == "Xã Châu Thành" and result["sites_down"] >= 1
    stored = _rows(ogc_db, "SELECT people_losing_service FROM spp.flood_telecom_by_commune "
                           "WHERE run_id = %s", (result["run_id"],))
    assert stored and stored[0][0] == pytest.approx(result["people_losing_service"])

