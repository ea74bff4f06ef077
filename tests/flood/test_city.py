"""City runs through the CLI on the sample city in PostGIS: rows in flood_runs,
flood_exposure and flood_extents, checked against independent computations on the COGs."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from spp.catalog import Catalog
from spp.cli.main import cli
from spp.settings import get_settings

RES_M = 400.0
CELL_KM2 = (RES_M / 1000.0) ** 2


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _run_id(output: str) -> str:
    found = re.search(r"run (\S+):", output)
    assert found, output
    return found.group(1)


def _row(db_url: str, catalog: Catalog, layer: str, run_id: str) -> object:
    from psycopg import sql

    from spp.store.query import read_layer

    return read_layer(db_url, catalog.get(layer), where=sql.SQL("run_id = {}").format(sql.Literal(run_id)))


@pytest.fixture(scope="module")
def static_runs(city: str) -> Iterator[dict[float, str]]:
    runs = {level: _run_id(_invoke("flood", "static", "--level", str(level), "--resolution-m", str(RES_M)))
            for level in (0.9, 1.4)}
    yield runs
    for run_id in runs.values():
        shutil.rmtree(get_settings().runs_dir / run_id, ignore_errors=True)


@pytest.mark.slow
def test_static_run_area_equals_flooded_cells_of_its_cog_inside_the_communes(city, catalog, static_runs):
    import rasterio
    from rasterio.features import geometry_mask

    from spp.store.query import read_layer

    run_id = static_runs[1.4]
    run = _row(city, catalog, "flood_runs", run_id)
    assert len(run) == 1 and run["kind"].iloc[0] == "static" and run["level_m"].iloc[0] == 1.4
    cog = get_settings().runs_dir / run["max_depth_cog"].iloc[0]
    with rasterio.open(cog) as src:
        depth = src.read(1, masked=True).filled(0.0)
        transform, crs = src.transform, src.crs
        assert src.res == (RES_M, RES_M) and src.crs.to_epsg() == 9210
    communes = read_layer(city, catalog.get("communes"), columns=["ma_xa"]).to_crs(crs.to_wkt())
    inside = ~geometry_mask(communes.geometry, out_shape=depth.shape, transform=transform)
    expected_km2 = float(((depth >= 0.1) & inside).sum() * CELL_KM2)
    assert expected_km2 > 0
    assert run["flooded_km2"].iloc[0] == pytest.approx(expected_km2, rel=1e-3)
    exposure = _row(city, catalog, "flood_exposure", run_id)
    assert len(exposure) == len(communes)
    assert exposure["flooded_km2"].sum() == pytest.approx(expected_km2, rel=1e-3)
    classes = exposure[[c for c in exposure.columns if c.startswith("flooded_km2_")]].sum(axis=1)
    assert np.allclose(classes, exposure["flooded_km2"], atol=1e-6)
    assert exposure["flooded_share"].between(0, 1).all()
    extents = _row(city, catalog, "flood_extents", run_id)
    assert set(extents["depth_class"]) <= {"0.1-0.3m", "0.3-0.5m", "0.5-1m", ">1m"}
    assert extents.geometry.is_valid.all() and (extents.geom_type == "MultiPolygon").all()
    all_cells_km2 = float((depth >= 0.1).sum() * CELL_KM2)
    assert extents["area_km2"].sum() == pytest.approx(all_cells_km2, rel=1e-6)
    assert extents.to_crs(crs.to_wkt()).area.sum() / 1e6 == pytest.approx(all_cells_km2, rel=5e-3)


@pytest.mark.slow
def test_static_run_people_are_the_population_of_buildings_on_flooded_cells(city, catalog, static_runs):
    import rasterio
    import shapely

    from spp.store.query import read_layer

    run_id = static_runs[1.4]
    run = _row(city, catalog, "flood_runs", run_id)
    with rasterio.open(get_settings().runs_dir / run["max_depth_cog"].iloc[0]) as src:
        depth = src.read(1, masked=True).filled(0.0)
        buildings = read_layer(city, catalog.get("buildings"), columns=["population"]).to_crs(src.crs.to_wkt())
        pts = buildings.geometry.representative_point()
        rows, cols = rasterio.transform.rowcol(src.transform, pts.x.to_numpy(), pts.y.to_numpy())
    rows, cols = np.asarray(rows), np.asarray(cols)
    ok = (rows >= 0) & (rows < depth.shape[0]) & (cols >= 0) & (cols < depth.shape[1])
    wet = np.zeros(len(buildings), bool)
    wet[ok] = depth[rows[ok], cols[ok]] >= 0.1
    communes = read_layer(city, catalog.get("communes"), columns=["ma_xa"]).to_crs(buildings.crs)
    in_commune = np.zeros(len(buildings), bool)
    in_commune[shapely.STRtree(communes.geometry.to_numpy()).query(pts.to_numpy(), predicate="within")[0]] = True
    people = int(buildings["population"].fillna(0).to_numpy()[wet & in_commune].sum())
    assert people > 0
    assert abs(int(run["people_exposed"].iloc[0]) - people) <= 1
    assert int(run["buildings_flooded"].iloc[0]) == int((wet & in_commune).sum())


@pytest.mark.slow
def test_compare_reports_per_commune_differences_of_two_runs(city, static_runs, tmp_path):
    low, high = static_runs[0.9], static_runs[1.4]
    out = _invoke("flood", "compare", low, high)
    assert "communes differ" in out and "total:" in out
    csv_path = tmp_path / "diff.csv"
    _invoke("flood", "compare", low, high, "--csv", str(csv_path))
    import pandas as pd

    diff = pd.read_csv(csv_path, dtype={"ma_xa": str})
    assert len(diff) > 0
    assert (diff["flooded_km2_diff"] >= -1e-9).all()  # higher water never floods less
    assert diff["people_exposed_diff"].sum() > 0
    assert np.allclose(diff["flooded_km2_b"] - diff["flooded_km2_a"], diff["flooded_km2_diff"])


def test_runs_accumulate_as_versions_and_keep_every_run(city, catalog, static_runs):
    from spp.flood.publish import read_runs

    runs = read_runs(city, catalog)
    assert set(static_runs.values()) <= set(runs["run_id"])
    out = _invoke("flood", "runs")
    assert all(r in out for r in static_runs.values())


@pytest.mark.slow
def test_dynamic_run_stores_run_exposure_and_extents_with_small_mass_error(city, catalog, tmp_path):
    scenario = yaml.safe_load((Path(__file__).parents[2] / "spp/flood/scenarios/spring-tide-storm.yml")
                              .read_text(encoding="utf-8"))
    scenario.update(name="test-short-storm", duration_h=3,
                    tide={"times_h": [0, 3], "level_m": [1.2, 1.9]},
                    rain={"times_h": [0, 1, 2], "mm_per_h": [40, 20, 0]})
    path = tmp_path / "short.yml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    run_id = _run_id(_invoke("flood", "run", str(path), "--resolution-m", str(RES_M)))
    try:
        run = _row(city, catalog, "flood_runs", run_id)
        assert run["kind"].iloc[0] == "dynamic" and run["duration_h"].iloc[0] == 3
        assert abs(run["mass_balance_error_pct"].iloc[0]) < 0.01
        assert json.loads(run["parameters"].iloc[0])["scenario"]["name"] == "test-short-storm"
        hashes = json.loads(run["input_hashes"].iloc[0])
        assert {"dem", "dikes", "waterways", "pump_stations", "land_use"} <= set(hashes)
        cogs = json.loads(run["cogs"].iloc[0])
        for key in ("max_depth", "arrival", "duration_above_0.1m"):
            assert (get_settings().runs_dir / cogs[key]).is_file()
        exposure = _row(city, catalog, "flood_exposure", run_id)
        assert exposure["flooded_km2"].sum() == pytest.approx(run["flooded_km2"].iloc[0])
        assert exposure["people_exposed"].sum() == run["people_exposed"].iloc[0] > 0
        assert all(isinstance(json.loads(a), list) for a in exposure["assets_hit"])
        extents = _row(city, catalog, "flood_extents", run_id)
        assert len(extents) >= 1 and extents.geometry.is_valid.all()
    finally:
        shutil.rmtree(get_settings().runs_dir / run_id, ignore_errors=True)


@pytest.mark.parametrize("args, message", [
    (["flood", "static", "--level", "-100", "--resolution-m", "400"], "lowest ground"),
    (["flood", "run", "no-such-scenario"], "no such scenario"),
])
def test_bad_inputs_exit_1_with_a_clear_message(city, args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert message in result.output


def test_compare_of_an_unknown_run_names_the_stored_runs(city, static_runs):
    result = CliRunner().invoke(cli, ["flood", "compare", "nope", static_runs[0.9]])
    assert result.exit_code == 1 and "no flood run 'nope'" in result.output


def test_dem_environment_variable_must_name_a_file(monkeypatch, settings):
    from spp.errors import InputFileError
    from spp.flood.city import default_dem

    monkeypatch.setenv("SPP_FLOOD_DEM", os.devnull + ".missing.tif")
    with pytest.raises(InputFileError):
        default_dem(settings)
