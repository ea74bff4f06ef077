"""Loading files into PostGIS: formats, CRSs, validation errors, atomicity, versions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

from spp.catalog import LayerSpec
from spp.errors import InputFileError, LoadValidationError, VersionNotFoundError
from spp.store.load import layer_history, live_version, load_layer, rollback_layer

from .conftest import NAMES, fingerprint

Writer = Callable[[gpd.GeoDataFrame, str], Path]


def _rows(db_url: str, layer: str = "test_pumps") -> gpd.GeoDataFrame:
    with psycopg.connect(db_url) as conn:
        return gpd.read_postgis(f'SELECT * FROM spp."{layer}" ORDER BY station_id', conn, geom_col="geom")


@pytest.fixture()
def live(db_url: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame, write: Writer) -> str:
    """The test layer with a known good live version."""
    load_layer(db_url, pump_spec, write(pumps, "good.gpkg"))
    return db_url


@pytest.mark.parametrize("name", ["p.gpkg", "p.geojson", "p.fgb", "p.zip", "p.csv"])
def test_every_format_loads_the_same_features(db_url: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame,
                                               write: Writer, name: str) -> None:
    report = load_layer(db_url, pump_spec, write(pumps, name), crs="EPSG:4326" if name.endswith(".csv") else None,
                        force=True)
    assert report.outcome == "loaded" and report.rows == 20
    got = _rows(db_url)
    assert list(got.station_id) == list(pumps.station_id)
    assert list(got.ten) == list(pumps.ten)
    np.testing.assert_allclose(got.capacity_m3s, pumps.capacity_m3s)
    assert list(got.pumps) == list(pumps.pumps)
    assert list(got.automated) == list(pumps.automated)
    assert [d.isoformat() for d in got.commissioned] == list(pumps.commissioned)
    dist = shapely.distance(got.geometry.values, pumps.geometry.values)
    assert dist.max() < 1e-9


def test_csv_with_lon_lat_columns_loads_as_points(db_url: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame,
                                                  tmp_path: Path) -> None:
    df = pumps.drop(columns="geometry")
    df["lon"], df["lat"] = pumps.geometry.x, pumps.geometry.y
    path = tmp_path / "pumps_lonlat.csv"
    df.to_csv(path, index=False)
    report = load_layer(db_url, pump_spec, path)
    assert report.rows == 20
    assert any("assumed EPSG:4326" in w for w in report.warnings)
    assert shapely.distance(_rows(db_url).geometry.values, pumps.geometry.values).max() < 1e-9


@pytest.mark.parametrize("epsg", [9210, 3405, 32648, 4756])
def test_vn2000_and_utm_inputs_land_in_wgs84(db_url: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame,
                                             write: Writer, epsg: int) -> None:
    """A department file in VN-2000 (TM-3 or UTM) ends up where the same points in WGS 84 are."""
    from spp.crs import transformer

    tr = transformer(4326, epsg)
    x, y = tr.transform(pumps.geometry.x.to_numpy(), pumps.geometry.y.to_numpy())
    vn = pumps.copy()
    vn = gpd.GeoDataFrame(vn.drop(columns="geometry"), geometry=gpd.points_from_xy(x, y), crs=f"EPSG:{epsg}")
    report = load_layer(db_url, pump_spec, write(vn, f"vn{epsg}.gpkg"), force=True)
    assert report.crs_in == f"EPSG:{epsg}"
    got = _rows(db_url).to_crs(9210)
    want = pumps.to_crs(9210)
    # within 1 mm on the ground
    assert shapely.distance(got.geometry.values, want.geometry.values).max() < 1e-3


def test_vietnamese_names_survive_file_to_postgis_to_python(db_url: str, pump_spec: LayerSpec,
                                                            pumps: gpd.GeoDataFrame, write: Writer) -> None:
    load_layer(db_url, pump_spec, write(pumps, "names.geojson"), force=True)
    got = _rows(db_url)
    assert list(got.ten) == list(pumps.ten)
    assert all(unicodedata.is_normalized("NFC", t) for t in got.ten)
    assert "Trạm bơm Phường Ninh Kiều" in set(got.ten)


def test_decomposed_unicode_is_normalised_to_nfc_with_a_warning(db_url: str, pump_spec: LayerSpec,
                                                                pumps: gpd.GeoDataFrame, write: Writer) -> None:
    nfd = pumps.copy()
    nfd["ten"] = [unicodedata.normalize("NFD", t) for t in nfd.ten]
    report = load_layer(db_url, pump_spec, write(nfd, "nfd.geojson"), force=True)
    assert any("NFC" in w for w in report.warnings)
    assert list(_rows(db_url).ten) == list(pumps.ten)


def test_loading_the_same_file_again_is_reported_unchanged(live: str, pump_spec: LayerSpec,
                                                           pumps: gpd.GeoDataFrame, write: Writer) -> None:
    before = fingerprint(live, "test_pumps")
    report = load_layer(live, pump_spec, write(pumps, "good.gpkg"))
    assert report.outcome == "unchanged"
    assert fingerprint(live, "test_pumps") == before


def test_each_load_is_a_version_and_rollback_restores_the_previous_one(
        live: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame, write: Writer) -> None:
    v_before = live_version(psycopg.connect(live), "test_pumps")
    assert v_before is not None
    changed = pumps.copy()
    changed.loc[0, "capacity_m3s"] = 99.5
    report = load_layer(live, pump_spec, write(changed, "changed.gpkg"))
    assert report.version == v_before.version + 1
    assert _rows(live).capacity_m3s.iloc[0] == 99.5
    with psycopg.connect(live) as conn:
        history = layer_history(conn, "test_pumps")
        old = conn.execute("SELECT capacity_m3s FROM spp_hist.test_pumps__history "
                           "WHERE spp_version = %s AND station_id = 'TB000'", (v_before.version,)).fetchone()
    assert [v.version for v in history][-2:] == [v_before.version, report.version]
    assert history[-2].valid_to == history[-1].valid_from
    assert old is not None and old[0] == pumps.capacity_m3s.iloc[0]
    back = rollback_layer(live, pump_spec)
    assert back.version == report.version + 1
    assert _rows(live).capacity_m3s.iloc[0] == pumps.capacity_m3s.iloc[0]
    with pytest.raises(VersionNotFoundError, match="no version 999"):
        rollback_layer(live, pump_spec, 999)


def test_the_live_table_has_its_key_and_spatial_index_and_stale_staging_is_cleared(
        live: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame, write: Writer) -> None:
    """Rows are staged and committed in spp_stage before the indexes are built on two
    connections; a table left there by a load killed at that moment is dropped by the next
    load of the layer, and the live table ends with its primary key and GiST index."""
    with psycopg.connect(live, autocommit=True) as conn:
        conn.execute('CREATE TABLE spp_stage."test_pumps__v999" (station_id text)')  # as a killed load leaves it
        conn.execute('CREATE TABLE spp_stage."test_pumps_other__v1" (x int)')  # another layer's: kept
    changed = pumps.copy()
    changed.loc[1, "pumps"] = 7
    load_layer(live, pump_spec, write(changed, "next.gpkg"))
    with psycopg.connect(live) as conn:
        staged = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'spp_stage'")}
        pk = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                          "WHERE conrelid = 'spp.test_pumps'::regclass AND contype = 'p'").fetchone()
        gist = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'spp' AND tablename = 'test_pumps' "
                            "AND indexdef ILIKE '%USING gist (geom)%'").fetchone()
        dup = conn.execute("SELECT count(*) FROM spp.test_pumps GROUP BY station_id ORDER BY 1 DESC LIMIT 1").fetchone()
        conn.execute('DROP TABLE spp_stage."test_pumps_other__v1"')
        conn.commit()
    assert staged == {"test_pumps_other__v1"}
    assert pk is not None and pk[0] == "PRIMARY KEY (station_id)"
    assert gist is not None and gist[0] == 1 and dup is not None and dup[0] == 1


# ---- bad input: a specific error, every problem listed, the live layer unchanged -----------------

def _mutate_bad_inputs() -> dict[str, tuple[Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame], str, str]]:
    def drop_name(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return g.drop(columns="ten")

    def extra_column(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return g.assign(operator_phone="0292 123 456")

    def wrong_type(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        g = g.astype({"capacity_m3s": object})
        g.loc[3, "capacity_m3s"] = "about five"
        return g

    def not_allowed(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        g.loc[4, "status"] = "broken"
        return g

    def out_of_range(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        g.loc[5, "capacity_m3s"] = -3.0
        return g

    def missing_value(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        g.loc[6, "ten"] = None
        return g

    def duplicate(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        g.loc[7, "station_id"] = "TB001"
        return g

    def wrong_geometry_type(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        geoms = list(g.geometry)
        geoms[8] = LineString([(105.7, 10.0), (105.71, 10.01)])
        return g.set_geometry(gpd.GeoSeries(geoms, crs=4326))

    def empty_geometry(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        geoms = list(g.geometry)
        geoms[9] = Point()
        return g.set_geometry(gpd.GeoSeries(geoms, crs=4326))

    def outside(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        geoms = list(g.geometry)
        geoms[10] = Point(105.85, 21.03)  # Hà Nội
        return g.set_geometry(gpd.GeoSeries(geoms, crs=4326))

    def mislabelled_crs(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return g.to_crs(9210).set_crs(4326, allow_override=True)  # VN-2000 metres labelled as degrees

    def mojibake(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        g.loc[11, "ten"] = "Trạm bơm Ninh Kiều".encode().decode("latin-1")  # UTF-8 read as Latin-1
        return g

    return {
        "missing required column": (drop_name, "missing_field", "required column 'ten'"),
        "unknown column": (extra_column, "unknown_field", "column 'operator_phone'"),
        "mistyped value": (wrong_type, "wrong_type", "'about five' is not a valid real"),
        "value outside the domain": (not_allowed, "not_allowed", "'broken' is not one of"),
        "value out of range": (out_of_range, "out_of_range", "-3 m³/s is outside [0, 100]"),
        "required value empty": (missing_value, "missing_value", "feature station_id=TB006"),
        "duplicate key": (duplicate, "duplicate_key", "key 'TB001' appears more than once"),
        "wrong geometry type": (wrong_geometry_type, "wrong_geometry_type", "LineString, layer 'test_pumps' takes Point"),
        "empty geometry": (empty_geometry, "empty_geometry", "feature station_id=TB009"),
        "outside the city": (outside, "outside_extent", "fall outside Can Tho"),
        "wrong CRS declared": (mislabelled_crs, "outside_extent", "check the CRS"),
        "mojibake text": (mojibake, "mojibake", "UTF-8 read as Windows-1252"),
    }


BAD = _mutate_bad_inputs()


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_rejected_with_a_specific_error_and_nothing_changes(
        live: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame, write: Writer, case: str) -> None:
    mutate, code, text = BAD[case]
    path = write(mutate(pumps.copy()), "bad.gpkg")
    before = fingerprint(live, "test_pumps")
    with pytest.raises(LoadValidationError) as info:
        load_layer(live, pump_spec, path)
    assert code in info.value.codes()
    assert text in str(info.value)
    assert "bad.gpkg" in str(info.value) and "nothing was loaded" in str(info.value)
    assert fingerprint(live, "test_pumps") == before
    with psycopg.connect(live) as conn:
        logged = conn.execute("SELECT outcome, problems FROM spp_meta.load_log WHERE layer = 'test_pumps' "
                              "ORDER BY id DESC LIMIT 1").fetchone()
    assert logged is not None and logged[0] == "rejected" and any(p["code"] == code for p in logged[1])


def test_all_problems_are_reported_at_once(live: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame,
                                           write: Writer) -> None:
    g = pumps.copy()
    for mutate, _, _ in (BAD["value outside the domain"], BAD["duplicate key"], BAD["outside the city"]):
        g = mutate(g)
    with pytest.raises(LoadValidationError) as info:
        load_layer(live, pump_spec, write(g, "many.geojson"))
    assert {"not_allowed", "duplicate_key", "outside_extent"} <= info.value.codes()


def test_invalid_polygon_reports_the_geos_reason(db_url: str, catalog: object) -> None:
    spec = catalog.get("communes")  # type: ignore[attr-defined]
    bowtie = Polygon([(105.7, 10.0), (105.8, 10.1), (105.8, 10.0), (105.7, 10.1), (105.7, 10.0)])
    g = gpd.GeoDataFrame({"ma_xa": ["31117"], "ten": ["Phường Cái Khế"], "loai": ["phường"]},
                         geometry=[bowtie], crs=4326)
    with pytest.raises(LoadValidationError, match=r"Self-intersection\[") as info:
        from spp.validate import validate_frame

        validate_frame(g, spec, source="bowtie.geojson", crs=g.crs)
    assert info.value.codes() == {"invalid_geometry"}
    assert "ma_xa=31117" in str(info.value)


def test_shapefile_without_prj_needs_a_crs(live: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame,
                                           write: Writer, tmp_path: Path) -> None:
    import zipfile

    path = write(pumps, "noprj.zip")
    stripped = tmp_path / "noprj_stripped.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(stripped, "w") as dst:
        for n in src.namelist():
            if not n.endswith(".prj"):
                dst.writestr(n, src.read(n))
    before = fingerprint(live, "test_pumps")
    with pytest.raises(LoadValidationError, match="declares no CRS") as info:
        load_layer(live, pump_spec, stripped)
    assert "no_crs" in info.value.codes()
    assert fingerprint(live, "test_pumps") == before
    # the same file loads once the CRS is given
    assert load_layer(live, pump_spec, stripped, crs="EPSG:4326", force=True).rows == 20


def test_non_utf8_file_is_refused_with_the_line(live: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame,
                                                tmp_path: Path) -> None:
    text = pumps.to_json(ensure_ascii=False)
    path = tmp_path / "cp1258.geojson"
    path.write_bytes(text.encode("cp1258", errors="replace"))
    before = fingerprint(live, "test_pumps")
    with pytest.raises(InputFileError, match=r"cp1258.geojson: not UTF-8 \(byte 0x[0-9a-f]{2} at line"):
        load_layer(live, pump_spec, path)
    assert fingerprint(live, "test_pumps") == before


@pytest.mark.parametrize("name,content,message", [
    ("pumps.kml", b"<kml/>", "unknown format '.kml'"),
    ("missing.gpkg", None, "file not found"),
    ("broken.gpkg", b"not a geopackage", "cannot open"),
])
def test_unreadable_files_are_refused(live: str, pump_spec: LayerSpec, tmp_path: Path, name: str,
                                      content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    before = fingerprint(live, "test_pumps")
    with pytest.raises(InputFileError, match=message):
        load_layer(live, pump_spec, path)
    assert fingerprint(live, "test_pumps") == before


def test_empty_file_is_refused(live: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame, write: Writer) -> None:
    with pytest.raises(LoadValidationError, match="holds no features"):
        load_layer(live, pump_spec, write(pumps.iloc[:0], "empty.geojson"))


def test_unparseable_wkt_in_csv_names_the_row(live: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame,
                                              write: Writer) -> None:
    path = write(pumps, "wkt.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",POINT (105.7"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LoadValidationError, match="row 2.*unreadable WKT"):
        load_layer(live, pump_spec, path, crs="EPSG:4326")


@pytest.mark.slow
@pytest.mark.parametrize(("validation", "phase"), [("full", "copy"), ("quick", "copy"), ("quick", "index")])
def test_a_load_killed_mid_copy_leaves_the_live_layer_exactly_as_it_was(
        live: str, pump_spec: LayerSpec, tmp_path: Path, validation: str, phase: str) -> None:
    """SIGKILL the loading process while PostgreSQL is receiving its COPY, on either path
    (the file's columns are exactly the spec's on the quick path), or while the server builds
    the indexes of the staged rows (already committed in spp_stage: the next load drops them)."""
    live_spec = pump_spec
    if validation == "quick":
        pump_spec = LayerSpec.model_validate({**pump_spec.model_dump(mode="json"), "fields": [
            f.model_dump(mode="json") for f in pump_spec.fields[:3]]})
    n = 400_000
    rng = np.random.default_rng(1)
    big = gpd.GeoDataFrame(
        {"station_id": [f"K{i:07d}" for i in range(n)], "ten": [NAMES[i % 10] for i in range(n)],
         "capacity_m3s": rng.uniform(0, 10, n).round(2)},
        geometry=gpd.points_from_xy(rng.uniform(105.5, 105.9, n), rng.uniform(9.8, 10.1, n)), crs=4326)
    path = tmp_path / "big.fgb"
    big.to_file(path, driver="FlatGeobuf", engine="pyogrio")
    if validation == "quick":
        from spp.store import columnar
        from spp.validate import CITY_BBOX_4326

        cols = columnar.open_clean_candidate(path, pump_spec)
        assert cols is not None and columnar.is_clean(cols, pump_spec, CITY_BBOX_4326)
    before = fingerprint(live, "test_pumps")
    script = (
        "import sys, json\n"
        "from spp.catalog import LayerSpec\n"
        "from spp.store.load import load_layer\n"
        "import time\n"
        "spec = LayerSpec.model_validate(json.loads(sys.argv[3]))\n"
        "# dawdle between COPY chunks so the kill lands mid-COPY on any machine speed\n"
        "load_layer(sys.argv[1], spec, sys.argv[2], progress=lambda done, total: time.sleep(float(sys.argv[4])))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, live, str(path), json.dumps(pump_spec.model_dump(mode="json")),
                             "0.3" if phase == "copy" else "0"])
    killed_during_copy = False
    deadline = time.monotonic() + 120
    pattern = "COPY%%" if phase == "copy" else "CREATE%%INDEX%%"
    with psycopg.connect(live, autocommit=True) as watch:
        while time.monotonic() < deadline and proc.poll() is None:
            row = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'spp load' "
                                f"AND state = 'active' AND query ILIKE '{pattern}'").fetchone()
            if row and row[0]:
                os.kill(proc.pid, signal.SIGKILL)
                killed_during_copy = True
                break
            time.sleep(0.01)
        proc.wait(timeout=30)
        # wait until the server has noticed and rolled the backend back
        for _ in range(200):
            if not watch.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'spp load'").fetchone()[0]:
                break
            time.sleep(0.05)
    assert killed_during_copy, "the load finished before it could be killed; make the file bigger"
    assert proc.returncode == -signal.SIGKILL
    if phase == "copy":
        assert fingerprint(live, "test_pumps") == before
        return
    rows, versions, staged = fingerprint(live, "test_pumps")
    assert (rows, versions) == before[:2]  # the live layer is untouched…
    assert staged[0] == before[2][0] + 1  # …and the killed load's rows are left staged
    load_layer(live, live_spec, tmp_path / "good.gpkg", force=True)
    assert fingerprint(live, "test_pumps")[2] == before[2]  # the next load of the layer cleared them


def test_read_layer_returns_what_was_loaded_with_bbox_filter(live: str, pump_spec: LayerSpec,
                                                             pumps: gpd.GeoDataFrame) -> None:
    from spp.store.query import read_layer

    got = read_layer(live, pump_spec)
    assert list(got.station_id) == list(pumps.station_id)
    assert got.crs.to_epsg() == 4326
    box = (105.55, 9.85, 105.70, 10.10)
    inside = read_layer(live, pump_spec, columns=["station_id"], bbox=box)
    want = pumps.cx[box[0]:box[2], box[1]:box[3]].station_id
    assert sorted(inside.station_id) == sorted(want) and len(want) > 0


def test_read_layer_of_a_layer_never_loaded_says_how_to_load_it(db_url: str, pump_spec: LayerSpec) -> None:
    from spp.errors import LayerNotFoundError
    from spp.store.query import read_layer

    spec = pump_spec.model_copy(update={"name": "test_never_loaded"})
    with pytest.raises(LayerNotFoundError, match="spp load test_never_loaded"):
        read_layer(db_url, spec)


@pytest.mark.parametrize("geometry", ["Polygon", "MultiPolygon", "LineString", "MultiLineString"])
def test_single_and_multi_geometries_load_into_any_line_or_polygon_layer(db_url: str, geometry: str,
                                                                          write: Writer) -> None:
    """A department file mixes Polygon and MultiPolygon (or lines): both load, stored as Multi."""
    from .conftest import PUMP_SPEC

    spec = LayerSpec.model_validate({**PUMP_SPEC, "name": f"test_{geometry.lower()}", "geometry": geometry,
                                     "fields": PUMP_SPEC["fields"][:2]})
    if "Polygon" in geometry:
        one = shapely.box(105.70, 10.00, 105.71, 10.01)
        geoms = [one, shapely.MultiPolygon([one, shapely.box(105.72, 10.0, 105.73, 10.01)])]
    else:
        one = LineString([(105.70, 10.00), (105.71, 10.01)])
        geoms = [one, shapely.MultiLineString([one, LineString([(105.72, 10.0), (105.73, 10.01)])])]
    g = gpd.GeoDataFrame({"station_id": ["a", "b"], "ten": ["Cái Răng", "Ô Môn"]}, geometry=geoms, crs=4326)
    load_layer(db_url, spec, write(g, f"{geometry}.geojson"))
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(f'SELECT ST_GeometryType(geom), ST_NumGeometries(geom), ST_Area(geom) + ST_Length(geom) '
                            f'FROM spp."{spec.name}" ORDER BY station_id').fetchall()
    assert [r[0] for r in rows] == ["ST_Multi" + geometry.removeprefix("Multi")] * 2
    assert [r[1] for r in rows] == [1, 2]
    assert rows[0][2] == pytest.approx(one.area if "Polygon" in geometry else one.length)


def test_api_written_layers_refuse_bulk_loads(db_url: str, catalog: object, pumps: gpd.GeoDataFrame,
                                              write: Writer) -> None:
    spec = catalog.get("field_reports")  # type: ignore[attr-defined]
    assert spec.ingest == "api"
    with pytest.raises(LoadValidationError, match="written through the API"):
        load_layer(db_url, spec, write(pumps, "reports.geojson"))


def test_all_null_optional_columns_load(db_url: str, pump_spec: LayerSpec, pumps: gpd.GeoDataFrame,
                                        write: Writer) -> None:
    """Every optional column empty (text, real, integer, boolean, date) still loads as NULLs."""
    g = pumps[["station_id", "ten", "geometry"]].copy()
    report = load_layer(db_url, pump_spec, write(g, "sparse.geojson"), force=True)
    assert report.rows == 20
    got = _rows(db_url)
    for col in ("capacity_m3s", "pumps", "status", "automated", "commissioned"):
        assert got[col].isna().all(), col
