"""The analyst notebooks run top to bottom against the sample city and print sane numbers.

Each notebook reads its database, DEM and OGC endpoint from ``SPP_NOTEBOOK_*`` environment
variables (defaulting to the user's own set-up); here they point at the test database, the
sample DEM and a test OGC server. A notebook prints one ``RESULT {json}`` line with its key
numbers, which are checked against PostGIS or a direct computation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from spp.catalog import Catalog
from tests.ogc.conftest import (  # noqa: F401  (fixtures: a test OGC server on a free port)
    api_key,
    base,
    ogc_catalog,
    ogc_db,
    ogc_home,
    ogc_server,
    ogc_settings,
)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """The ``python3`` kernel of this interpreter; installed into its prefix when missing."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix",
                        "--name", "python3"], check=True, capture_output=True)
    return "python3"


@pytest.fixture
def run_notebook(kernel_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 sample_db: str, sample_files: dict[str, Path]):
    """Execute a notebook (fails on any cell error) and return its RESULT dict."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("SPP_NOTEBOOK_DB", sample_db)
    monkeypatch.setenv("SPP_NOTEBOOK_DEM", str(dem_path(sample_files)))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    def run(name: str, **env: str) -> dict:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
            f"{name} is committed with outputs; strip them"
        NotebookClient(nb, timeout=300, kernel_name=kernel_name,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        lines = [line for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if o.get("output_type") == "stream" for line in o.get("text", "").splitlines()
                 if line.startswith("RESULT ")]
        assert len(lines) == 1, f"{name} printed {len(lines)} RESULT lines"
        return dict(json.loads(lines[0][len("RESULT "):]))

    return run


def dem_path(sample_files: dict[str, Path]) -> Path:
    return Path(sample_files.get("dem") or Path(sample_files["communes"]).parent / "dem.tif")


def _count(db_url: str, sql: str, params: tuple[object, ...] = ()) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def test_explore_layers_reads_the_ogc_api_like_postgis(run_notebook, base: str,  # noqa: F811
                                                      sample_db: str) -> None:
    result = run_notebook("01_explore_layers.ipynb", SPP_NOTEBOOK_OGC=base)
    assert result["communes"] == _count(sample_db, "SELECT count(*) FROM spp.communes")
    assert result["commune"] == "Phường Ninh Kiều"
    box = tuple(result["bbox"])
    lights = _count(sample_db, "SELECT count(*) FROM spp.street_lights WHERE ST_Intersects(geom, "
                               "ST_MakeEnvelope(%s, %s, %s, %s, 4326))", box)
    assert result["street_lights_in_bbox"] == lights > 0
    sites = _count(sample_db, "SELECT count(*) FROM spp.telecom_sites WHERE technology = '5G' "
                              "AND status = 'on_air' AND height_m >= 30")
    assert result["cql2_sites"] == sites > 0


def test_flood_scenarios_compare_with_physical_ordering(run_notebook) -> None:
    result = run_notebook("02_flood_scenarios.ipynb")
    flooded = result["flooded_km2"]
    assert result["resolution_m"] == 200
    assert all(0 < v < result["area_km2"] for v in flooded.values())
    # rain only adds water; switching the pumps off only removes an outflow
    assert flooded["spring-tide-storm"] >= flooded["spring-tide"]
    assert flooded["spring-tide-storm-pumps-off"] >= flooded["spring-tide-storm"]
    assert all(abs(v) < 0.1 for v in result["mass_error_pct"].values())


def test_5g_and_fibre_gaps_match_a_direct_computation(run_notebook, sample_db: str,
                                                      sample_files: dict[str, Path],
                                                      catalog: Catalog) -> None:
    from spp import studies

    result = run_notebook("03_5g_fibre_gaps.ipynb", SPP_NOTEBOOK_COMMUNE="Thanh Xuan")
    assert result["commune"] == "Xã Thạnh Xuân"
    cov = studies.coverage_study(sample_db, dem_path(sample_files), "Thạnh Xuân", catalog=catalog,
                                 resolution_m=result["resolution_m"], max_sites=0)
    assert result["share_population_5g"] == pytest.approx(cov.share_population, abs=1e-12)
    assert 0 < result["share_population_5g"] < 1 and result["gaps"] == len(cov.gaps) > 0
    fibre = studies.fibre_study(sample_db, "xa thanh xuan", catalog=catalog, max_km=0.0)
    assert result["fibre_share"] == pytest.approx(fibre.share, abs=1e-12)
    assert result["fibre_share"] <= result["fibre_share_after"] <= 1
    assert 0 < result["fibre_km"] <= 5.0 + 1.0  # the last extension may overshoot the budget


def test_flood_telecom_outage_matches_a_direct_coverage_study(run_notebook, sample_db: str,
                                                              sample_files: dict[str, Path],
                                                              catalog: Catalog) -> None:
    from spp import studies

    result = run_notebook("04_flood_telecom.ipynb", SPP_NOTEBOOK_FLOOD_COMMUNE="Chau Thanh",
                          SPP_NOTEBOOK_FLOOD_LEVEL_M="2.0")
    assert result["commune"] == "Xã Châu Thành"
    # normal times: the same 5G coverage as the analysts' coverage study of the ward
    cov = studies.coverage_study(sample_db, dem_path(sample_files), "Châu Thành", catalog=catalog,
                                 resolution_m=100, max_sites=0)
    assert result["share_population_normal"] == pytest.approx(cov.share_population, abs=1e-12)
    assert 0 <= result["share_population_flood"] < result["share_population_normal"] <= 1
    assert result["people_losing_service"] == pytest.approx(
        result["covered_population_normal"] - result["covered_population_flood"])
    assert result["sites_down"] >= result["sites_down_5g"] >= 1
    assert 0 < result["top_gain"] <= result["people_losing_service"]
