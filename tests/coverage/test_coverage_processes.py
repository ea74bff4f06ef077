"""OGC API - Processes ``coverage-gaps`` and ``fibre-reach``: the processor classes'
``execute`` on the sample city (400s for bad input before any work), and the same
processes through the live pygeoapi server of the OGC tests when its configuration lists
them."""

from __future__ import annotations

import pytest
import requests

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

COMMUNE = "Truong Long"


def _city_dem_env() -> None:
    """The OGC server's workers have a temporary state folder: point them at the sample
    city's DEM (as the flood tests do) before any server starts."""
    import os

    from spp.settings import get_settings

    os.environ.setdefault("SPP_FLOOD_DEM", str(get_settings().sample_dir / "dem.tif"))


_city_dem_env()


def _processor(name: str, db_url: str):
    from psycopg.conninfo import conninfo_to_dict

    from spp.ogc.processes.coverage import CoverageGapsProcessor, FibreReachProcessor

    cls = {"coverage-gaps": CoverageGapsProcessor, "fibre-reach": FibreReachProcessor}[name]
    params = conninfo_to_dict(db_url)
    return cls({"name": name, "data": {k: params.get(k) for k in
                                       ("host", "port", "dbname", "user", "password")}})


def test_processes_are_registered() -> None:
    from spp.ogc.processes import PROCESSES

    assert PROCESSES["coverage-gaps"].endswith("coverage.CoverageGapsProcessor")
    assert PROCESSES["fibre-reach"].endswith("coverage.FibreReachProcessor")


@pytest.mark.parametrize(("name", "inputs", "message"), [
    ("coverage-gaps", {"commune": COMMUNE, "threshold_dbm": -20}, "within [-140, -40]"),
    ("coverage-gaps", {"commune": COMMUNE, "threshold_dbm": "loud"}, "finite number"),
    ("coverage-gaps", {"commune": "Atlantis"}, "no commune named"),
    ("coverage-gaps", {"commune": COMMUNE, "resolution_m": 1}, "within [10, 500]"),
    ("coverage-gaps", {"commune": COMMUNE, "colour": "red"}, "unknown input"),
    ("fibre-reach", {"commune": COMMUNE, "drop_limit_m": 0}, "within (0, 5000]"),
    ("fibre-reach", {"commune": "Nowhere"}, "no commune named"),
    ("fibre-reach", {"commune": COMMUNE, "plan": "yes"}, "true or false"),
])
def test_bad_input_is_a_400_before_any_work(name: str, inputs: dict[str, object], message: str,
                                            sample_db: str) -> None:
    processor = _processor(name, sample_db)
    with pytest.raises(Exception) as info:
        processor.execute(inputs)
    assert int(info.value.http_status_code) == 400
    assert message in info.value.message


@pytest.mark.slow
def test_coverage_process_execute_answers_shares_and_gaps(sample_db: str) -> None:
    mime, out = _processor("coverage-gaps", sample_db).execute(
        {"commune": "Xã Trường Long", "resolution_m": 200, "max_gaps": 5})
    assert mime == "application/json"
    assert out["area"] == "Xã Trường Long" and out["run_id"].startswith("cov-")
    assert 0 < out["share_population_5g"] < 1
    assert len(out["gaps"]) <= 5 and out["gap_count"] >= len(out["gaps"])
    assert {row["operator"] for row in out["communes"]} >= {"all"}


@pytest.mark.slow
def test_fibre_process_execute_answers_household_shares(sample_db: str) -> None:
    mime, out = _processor("fibre-reach", sample_db).execute({"commune": COMMUNE})
    assert mime == "application/json" and out["run_id"].startswith("fibre-")
    assert len(out["communes"]) == 1 and 0 <= out["share_households"] <= 1


def _listed(http: requests.Session, base: str) -> set[str]:  # noqa: F811
    resp = http.get(f"{base}/processes?f=json", timeout=30)
    return {p["id"] for p in resp.json().get("processes", [])} if resp.ok else set()


@pytest.mark.slow
def test_processes_run_through_the_live_server(http: requests.Session, base: str,  # noqa: F811
                                               ogc_db: str) -> None:  # noqa: F811
    if not {"coverage-gaps", "fibre-reach"} <= _listed(http, base):
        pytest.fail("ogc_config.yml does not list the coverage processes; run 'spp ogc config'")
    bad = http.post(f"{base}/processes/coverage-gaps/execution",
                    json={"inputs": {"commune": COMMUNE, "threshold_dbm": -10}}, timeout=60)
    assert bad.status_code == 400 and "threshold_dbm" in bad.text
    unknown = http.post(f"{base}/processes/fibre-reach/execution",
                        json={"inputs": {"commune": "Atlantis"}}, timeout=60)
    assert unknown.status_code == 400 and "Atlantis" in unknown.text
    resp = http.post(f"{base}/processes/coverage-gaps/execution",
                     json={"inputs": {"commune": "truong long", "resolution_m": 200}}, timeout=300)
    assert resp.status_code == 200, resp.text
    assert resp.json()["area"] == "Xã Trường Long"
    resp = http.post(f"{base}/processes/fibre-reach/execution",
                     json={"inputs": {"commune": COMMUNE}}, timeout=300)
    assert resp.status_code == 200, resp.text
    assert resp.json()["communes"][0]["ma_xa"] == "31309"


@pytest.mark.slow
def test_fibre_process_runs_as_an_asynchronous_job(http: requests.Session, base: str,  # noqa: F811
                                                   ogc_db: str) -> None:  # noqa: F811
    import time

    if "fibre-reach" not in _listed(http, base):
        pytest.fail("ogc_config.yml does not list the coverage processes; run 'spp ogc config'")
    resp = http.post(f"{base}/processes/fibre-reach/execution",
                     json={"inputs": {"commune": COMMUNE}},
                     headers={"Prefer": "respond-async"}, timeout=60)
    assert resp.status_code == 201, resp.text
    job = resp.headers["Location"]
    status = {}
    for _ in range(240):
        status = http.get(f"{job}?f=json", timeout=30).json()
        if status.get("status") in ("successful", "failed", "dismissed"):
            break
        time.sleep(0.5)
    assert status.get("status") == "successful", status
    result = http.get(f"{job}/results?f=json", timeout=30).json()
    assert result["communes"][0]["ma_xa"] == "31309"
