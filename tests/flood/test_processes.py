"""The flood processes through a live pygeoapi server (the OGC tests' gunicorn fixture):
synchronous static fill, asynchronous dynamic job, and 400s for bad inputs."""

from __future__ import annotations

import time

import pytest
import requests

from tests.ogc.conftest import db_rows

RESOLUTION_M = 400


def execute(http: requests.Session, base: str, process: str, inputs: dict[str, object],
            *, prefer_async: bool = False) -> requests.Response:
    headers = {"Prefer": "respond-async"} if prefer_async else {}
    return http.post(f"{base}/processes/{process}/execution", json={"inputs": inputs},
                     headers=headers, timeout=120)


def short_storm() -> dict[str, object]:
    from spp.flood.scenario import load_scenario

    scenario = load_scenario("spring-tide-storm").model_dump(mode="json")
    scenario.update(name="ogc-short-storm", duration_h=2,
                    tide={"times_h": [0, 2], "level_m": [1.2, 1.8]},
                    rain={"times_h": [0, 1, 2], "mm_per_h": [40, 20, 0]})
    return scenario


def test_processes_are_listed_with_their_job_control_options(http, base):
    listed = {p["id"]: p for p in http.get(f"{base}/processes?f=json", timeout=30).json()["processes"]}
    assert {"flood-static", "flood-dynamic"} <= set(listed)
    # pygeoapi 0.21 lists sync and async for every process; our manager runs
    # flood-dynamic as a job whatever the Prefer header says
    assert "async-execute" in listed["flood-dynamic"]["jobControlOptions"]
    described = http.get(f"{base}/processes/flood-static?f=json", timeout=30).json()
    assert "level_m" in described["inputs"]


@pytest.mark.slow
def test_static_process_answers_exposure_and_stores_the_run(http, base, ogc_db):
    resp = execute(http, base, "flood-static", {"level_m": 1.3, "resolution_m": RESOLUTION_M})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["kind"] == "static" and out["level_m"] == 1.3
    communes = out["communes"]
    assert len(communes) == db_rows(ogc_db, "SELECT count(*) FROM spp.communes")[0][0]
    assert sum(c["flooded_km2"] for c in communes) == pytest.approx(out["flooded_km2"])
    assert sum(c["people_exposed"] for c in communes) == out["people_exposed"] > 0
    stored = db_rows(ogc_db, "SELECT flooded_km2, people_exposed FROM spp.flood_runs WHERE run_id = %s",
                     (out["run_id"],))
    assert stored and stored[0][0] == pytest.approx(out["flooded_km2"]) and stored[0][1] == out["people_exposed"]
    n = db_rows(ogc_db, "SELECT count(*) FROM spp.flood_exposure WHERE run_id = %s", (out["run_id"],))[0][0]
    assert n == len(communes)


@pytest.mark.slow
def test_nowcast_process_uses_the_online_gauges_and_stores_the_run(http, base, ogc_db):
    resp = execute(http, base, "flood-nowcast", {"resolution_m": RESOLUTION_M})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    online = dict(db_rows(ogc_db, "SELECT sensor_id, level_m FROM spp.water_level_sensors WHERE status = 'online'"))
    assert out["gauges"] == pytest.approx(online)
    assert set(out["skipped"]) == set(dict(db_rows(
        ogc_db, "SELECT sensor_id, status FROM spp.water_level_sensors WHERE status <> 'online'")))
    assert out["kind"] == "static" and out["scenario"].startswith("nowcast-")
    assert out["level_m"] == pytest.approx(max(online.values()))
    stored = db_rows(ogc_db, "SELECT people_exposed FROM spp.flood_runs WHERE run_id = %s", (out["run_id"],))
    assert stored == [(out["people_exposed"],)]


@pytest.mark.slow
def test_dynamic_process_runs_as_a_job_with_status_and_results(http, base, ogc_db):
    resp = execute(http, base, "flood-dynamic", {"scenario": short_storm(), "resolution_m": RESOLUTION_M},
                   prefer_async=True)
    assert resp.status_code == 201, resp.text
    job_url = resp.headers["Location"]
    deadline = time.monotonic() + 180
    status = {}
    while time.monotonic() < deadline:
        status = http.get(job_url, params={"f": "json"}, timeout=30).json()
        if status["status"] in ("successful", "failed"):
            break
        time.sleep(1.0)
    assert status.get("status") == "successful", status
    results = [link["href"] for link in status["links"]
               if link["rel"].endswith("results") and link.get("type") == "application/json"]
    assert results, status["links"]
    resp = http.get(results[0], timeout=30)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["kind"] == "dynamic" and out["scenario"] == "ogc-short-storm"
    assert abs(out["mass_balance_error_pct"]) < 0.01
    assert db_rows(ogc_db, "SELECT kind FROM spp.flood_runs WHERE run_id = %s", (out["run_id"],)) == [("dynamic",)]
    extents = db_rows(ogc_db, "SELECT count(*), bool_and(ST_IsValid(geom)) FROM spp.flood_extents "
                              "WHERE run_id = %s", (out["run_id"],))
    assert extents[0][0] >= 1 and extents[0][1]


def _bad_rain() -> dict[str, object]:
    s = short_storm()
    s["rain"] = {"times_h": [0, 1], "mm_per_h": [-5, 0]}
    return s


def _unknown_key() -> dict[str, object]:
    s = short_storm()
    s["tidal_range"] = 3
    return s


@pytest.mark.parametrize("process, inputs, prefer_async, message", [
    ("flood-dynamic", {"scenario": _bad_rain()}, True, "rain"),
    ("flood-dynamic", {"scenario": _unknown_key()}, True, "unknown key"),
    ("flood-dynamic", {"scenario": "no-such-scenario"}, False, "unknown scenario"),
    ("flood-dynamic", {"scenario": "spring-tide", "resolution_m": -50}, True, "resolution_m"),
    ("flood-static", {"level_m": -100}, False, "lowest ground"),
    ("flood-static", {"level_m": "high"}, False, "must be a number"),
    ("flood-static", {"level_m": 1.0, "connectivity": 6}, False, "connectivity"),
    ("flood-static", {}, False, "required"),
    ("flood-nowcast", {"max_age_h": 0}, False, "max_age_h"),
    ("flood-nowcast", {"include_offline": "yes"}, False, "include_offline"),
    ("flood-nowcast", {"level_m": 2}, False, "level_m"),
])
def test_bad_inputs_get_400_with_a_clear_message(http, base, process, inputs, prefer_async, message):
    resp = execute(http, base, process, inputs, prefer_async=prefer_async)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["description"]
