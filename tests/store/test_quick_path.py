"""The loader's quick path (spp.store.columnar): clean files go straight from Arrow to COPY.

What a user relies on: a clean file is stored byte for byte as the full validation would
store it, and anything the validator would reject, repair or reproject never slips through
the quick path."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

from spp.catalog import LayerSpec
from spp.errors import LoadValidationError
from spp.store import columnar
from spp.store.load import load_frame, load_layer
from spp.store.sources import read_source
from spp.validate import CITY_BBOX_4326, validate_frame

from .conftest import NAMES, PUMP_SPEC, fingerprint

Writer = Callable[[gpd.GeoDataFrame, str], Path]


@pytest.fixture()
def write(tmp_path: Path) -> Writer:
    """Write through Arrow, so dates and instants keep their types (as QGIS exports do)."""

    def _write(gdf: gpd.GeoDataFrame, name: str) -> Path:
        path = tmp_path / name
        if path.suffix == ".csv":
            df = gdf.drop(columns="geometry")
            df["wkt"] = shapely.to_wkt(gdf.geometry.values, rounding_precision=-1)
            df.to_csv(path, index=False)
        else:
            driver = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".fgb": "FlatGeobuf"}[path.suffix]
            gdf.to_file(path, driver=driver, engine="pyogrio", use_arrow=True)
        return path

    return _write

QUICK_FIELDS = [
    {"name": "site_id", "type": "text", "required": True, "description": {"vi": "Mã", "en": "Id"}},
    {"name": "ten", "type": "text", "description": {"vi": "Tên", "en": "Name"}},
    {"name": "kind", "type": "text", "allowed": ["a", "b"], "description": {"vi": "Loại", "en": "Kind"}},
    {"name": "floors", "type": "integer", "min": 1, "max": 60, "description": {"vi": "Số tầng", "en": "Floors"}},
    {"name": "height_m", "type": "real", "min": 0, "max": 300, "unit": "m",
     "description": {"vi": "Cao", "en": "Height"}},
    {"name": "lit", "type": "boolean", "description": {"vi": "Sáng", "en": "Lit"}},
    {"name": "opened", "type": "date", "description": {"vi": "Ngày", "en": "Opened"}},
    {"name": "checked_at", "type": "datetime", "description": {"vi": "Lúc", "en": "Checked"}},
]


def _spec(name: str, geometry: str) -> LayerSpec:
    return LayerSpec.model_validate({**PUMP_SPEC, "name": name, "geometry": geometry, "primary_key": "site_id",
                                     "fields": QUICK_FIELDS})


def _features(geometry: str, n: int = 60) -> gpd.GeoDataFrame:
    """``n`` clean features of every attribute type, some values NULL, inside Can Tho."""
    rng = np.random.default_rng(11)
    x, y = rng.uniform(105.55, 105.85, n), rng.uniform(9.85, 10.10, n)
    if "Point" in geometry:
        geoms = shapely.points(x, y)
    elif "Line" in geometry:
        geoms = shapely.linestrings(np.stack([np.stack([x, y], 1), np.stack([x + 0.001, y + 0.002], 1)], 1))
    else:
        boxes = shapely.box(x, y, x + 0.001, y + 0.001)
        # a file mixing Polygon and MultiPolygon, as department exports do
        geoms = np.array([shapely.MultiPolygon([b]) if i % 3 == 0 else b for i, b in enumerate(boxes)], dtype=object)
    frame = gpd.GeoDataFrame(
        {
            "site_id": [f"S{i:04d}" for i in range(n)],
            "ten": [NAMES[i % len(NAMES)] if i % 7 else None for i in range(n)],
            "kind": [("a", "b")[i % 2] for i in range(n)],
            "floors": pd.array([int(v) if i % 5 else None for i, v in enumerate(rng.integers(1, 30, n))], dtype="Int64"),
            "height_m": rng.uniform(0, 120, n).round(2),
            "lit": [bool(i % 2) for i in range(n)],
            "opened": [dt.date(2000 + i % 25, 1 + i % 12, 1 + i % 28) for i in range(n)],
            "checked_at": pd.to_datetime([f"2025-0{1 + i % 9}-1{i % 10}T0{i % 10}:30:00Z" for i in range(n)], utc=True),
        },
        geometry=list(geoms),
        crs="EPSG:4326",
    )
    frame["opened"] = pd.to_datetime(frame["opened"]).dt.date
    return frame


def _content(db_url: str, layer: str) -> str:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT content_sha256 FROM spp_meta.versions WHERE layer = %s AND valid_to IS NULL",
                           (layer,)).fetchone()
    assert row is not None
    return str(row[0])


def _table(db_url: str, layer: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(f'SELECT site_id, ten, kind, floors, height_m, lit, opened, checked_at, '
                            f'ST_AsEWKB(geom) FROM spp."{layer}" ORDER BY site_id').fetchall()


@pytest.mark.parametrize("geometry", ["Point", "MultiPolygon", "LineString"])
@pytest.mark.parametrize("suffix", [".gpkg", ".fgb", ".geojson"])
def test_quick_path_stores_exactly_what_the_full_validation_stores(db_url: str, write: Writer, geometry: str,
                                                                  suffix: str) -> None:
    spec = _spec(f"test_quick_{geometry.lower()}", geometry)
    path = write(_features(geometry), f"clean{suffix}")
    quick = load_layer(db_url, spec, path, force=True)
    assert quick.outcome == "loaded" and quick.rows == 60
    if suffix == ".fgb":  # FlatGeobuf has no date type: dates arrive as timestamps, converted the full way
        assert quick.validation == "full"
        return
    assert quick.validation == "quick"
    quick_rows, quick_hash = _table(db_url, spec.name), _content(db_url, spec.name)

    # the same file through the full validator, as every file went before the quick path
    src = read_source(path)
    full = validate_frame(src.frame, spec, source=path.name, crs=src.crs)
    assert full.warnings == []  # the file needed no repair, so the quick path was allowed to take it
    load_frame(db_url, spec, full.frame, source=path.name, sha256="x", crs_in="EPSG:4326", force=True)
    assert _table(db_url, spec.name) == quick_rows
    assert _content(db_url, spec.name) == quick_hash
    # and it reads back as written: NULLs, Vietnamese names, dates, instants, coordinates
    written = _features(geometry)
    got = {r[0]: r for r in quick_rows}
    for i in (0, 5, 7, 13):
        row = got[f"S{i:04d}"]
        expect_ten, expect_floors = (None if pd.isna(v) else v for v in (written.ten[i], written.floors[i]))
        assert row[1] == expect_ten and row[3] == expect_floors
        assert row[6] == written.opened[i]
        assert row[7] == written.checked_at[i].to_pydatetime()
        assert shapely.from_wkb(row[8]).equals(shapely.force_2d(written.geometry[i]))


def test_reloading_a_clean_file_is_unchanged_on_the_quick_path(db_url: str, write: Writer) -> None:
    spec = _spec("test_quick_again", "Point")
    path = write(_features("Point"), "again.gpkg")
    first = load_layer(db_url, spec, path, force=True)
    # same rows from a different file (GeoJSON): the content hash, not the file hash, says unchanged
    again = load_layer(db_url, spec, write(_features("Point"), "resaved.geojson"))
    assert first.validation == "quick" and again.outcome == "unchanged" and again.version == first.version


def _mutations() -> dict[str, tuple[Callable[[gpd.GeoDataFrame], None], str | None]]:
    """A change to a clean file, and the problem code the full validator then reports
    (``None``: it repairs the value with a warning instead)."""

    def setval(col: str, i: int, v: object) -> Callable[[gpd.GeoDataFrame], None]:
        def f(g: gpd.GeoDataFrame) -> None:
            if col == "geometry":
                geoms = list(g.geometry)
                geoms[i] = v
                g["geometry"] = gpd.GeoSeries(geoms, crs=4326)
            else:
                g.loc[i, col] = v
        return f

    bowtie = shapely.Polygon([(105.70, 10.0), (105.71, 10.01), (105.71, 10.0), (105.70, 10.01)])
    return {
        "blank text": (setval("ten", 3, "   "), None),
        "decomposed (NFD) text": (setval("ten", 3, unicodedata.normalize("NFD", "Phường Ninh Kiều")), None),
        "mojibake": (setval("ten", 3, "Cần Thơ".encode().decode("latin-1")), "mojibake"),
        "value outside the domain": (setval("kind", 4, "c"), "not_allowed"),
        "integer out of range": (setval("floors", 4, 99), "out_of_range"),
        "real out of range": (setval("height_m", 4, -1.0), "out_of_range"),
        "duplicate key": (setval("site_id", 4, "S0001"), "duplicate_key"),
        "empty key": (setval("site_id", 4, None), "missing_value"),
        "self-intersecting polygon": (setval("geometry", 2, bowtie), "invalid_geometry"),
        "outside the city": (setval("geometry", 2, shapely.box(105.8, 21.0, 105.81, 21.01)), "outside_extent"),
        "point in a polygon layer": (setval("geometry", 2, shapely.Point(105.7, 10.0)), "wrong_geometry_type"),
    }


MUTATIONS = _mutations()


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_what_the_validator_would_reject_or_repair_never_takes_the_quick_path(
        db_url: str, write: Writer, case: str) -> None:
    mutate, code = MUTATIONS[case]
    spec = _spec("test_quick_bad", "MultiPolygon")
    clean = write(_features("MultiPolygon"), "clean.gpkg")
    assert load_layer(db_url, spec, clean, force=True).validation == "quick"
    g = _features("MultiPolygon")
    mutate(g)
    path = write(g, "changed.gpkg")
    cols = columnar.open_clean_candidate(path, spec)
    assert cols is None or not columnar.is_clean(cols, spec, CITY_BBOX_4326)
    before = fingerprint(db_url, spec.name)
    if code is None:  # repaired by the full validator
        report = load_layer(db_url, spec, path)
        assert report.validation == "full" and report.outcome == "loaded"
    else:
        with pytest.raises(LoadValidationError) as info:
            load_layer(db_url, spec, path)
        assert code in info.value.codes()
        assert fingerprint(db_url, spec.name) == before


def test_repairs_are_stored_as_the_validator_makes_them(db_url: str, write: Writer) -> None:
    """Text normalised to NFC, blank text and NaN stored as NULL — through the full path."""
    spec = _spec("test_quick_repair", "Point")
    g = _features("Point")
    g.loc[1, "ten"] = unicodedata.normalize("NFD", "Phường Cái Răng")
    g.loc[2, "ten"] = "  "
    g.loc[3, "height_m"] = float("nan")
    report = load_layer(db_url, spec, write(g, "repair.gpkg"), force=True)
    assert report.validation == "full"
    got = {r[0]: r for r in _table(db_url, spec.name)}
    assert got["S0001"][1] == "Phường Cái Răng" and unicodedata.is_normalized("NFC", got["S0001"][1])
    assert got["S0002"][1] is None and got["S0003"][4] is None


@pytest.mark.parametrize("case", ["VN-2000 coordinates", "extra column", "float column for an integer field",
                                  "3-D geometry", "CSV"])
def test_files_needing_conversion_are_read_the_full_way(db_url: str, write: Writer, tmp_path: Path,
                                                         case: str) -> None:
    spec = _spec("test_quick_convert", "Point")
    g = _features("Point")
    name = "convert.gpkg"
    if case == "VN-2000 coordinates":  # with the official 7-parameter shift SPP reads them back with
        from spp.crs import transformer

        tr = transformer(4326, 9210)
        g = gpd.GeoDataFrame(g.drop(columns="geometry"), crs=9210, geometry=shapely.transform(
            g.geometry.values, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))))
    elif case == "extra column":
        g["note"] = "x"
    elif case == "float column for an integer field":
        g["floors"] = g["floors"].astype(float)
    elif case == "3-D geometry":
        g["geometry"] = shapely.force_3d(g.geometry.values, 1.5)
    else:
        name = "convert.csv"
    path = write(g, name)
    cols = columnar.open_clean_candidate(path, spec)
    assert cols is None or not columnar.is_clean(cols, spec, CITY_BBOX_4326)
    if case == "extra column":
        with pytest.raises(LoadValidationError, match="column 'note'"):
            load_layer(db_url, spec, path)
        return
    report = load_layer(db_url, spec, path, crs="EPSG:4326" if name.endswith(".csv") else None, force=True)
    assert report.validation == "full" and report.rows == 60
    with psycopg.connect(db_url) as conn:
        xy = conn.execute(f'SELECT ST_X(geom), ST_Y(geom), ST_NDims(geom) FROM spp."{spec.name}" '
                          "WHERE site_id = 'S0010'").fetchone()
    src = _features("Point").geometry[10]
    assert xy is not None and xy[2] == 2
    assert abs(xy[0] - src.x) < 1e-7 and abs(xy[1] - src.y) < 1e-7  # VN-2000 round trip well under 1 cm


def test_point_coordinates_are_read_from_wkb_without_geos() -> None:
    """The quick path checks points straight from their WKB bytes: same numbers as GEOS."""
    import pyarrow as pa

    from spp.store import pgbinary

    pts = shapely.points(np.random.default_rng(3).uniform(105, 106, (1000, 2)))
    wkb = pa.array(shapely.to_wkb(pts, byte_order=1), type=pa.binary())
    np.testing.assert_array_equal(pgbinary.point_wkb_xy(wkb), shapely.get_coordinates(pts))
    np.testing.assert_array_equal(pgbinary.point_wkb_xy(wkb.slice(10, 5)), shapely.get_coordinates(pts[10:15]))
    order, _ = pgbinary.wkb_headers(pa.array(shapely.to_wkb([shapely.box(0, 0, 1, 1), pts[0]], byte_order=0)))
    assert list(order) == [0, 0]  # big-endian: not taken by the quick path
    assert pgbinary.point_wkb_xy(pa.array(shapely.to_wkb(shapely.force_3d(pts[:3], 1.0)))) is None


def test_nan_and_big_endian_values_are_left_to_the_full_validator() -> None:
    """Values a file format can carry but GeoPackage writers rarely do: NaN in a real column
    (the validator stores NULL), big-endian WKB (re-encoded), an empty point (rejected)."""
    import pyarrow as pa

    spec = LayerSpec.model_validate({**PUMP_SPEC, "name": "t", "geometry": "Point", "primary_key": "site_id",
                                     "fields": [QUICK_FIELDS[0], QUICK_FIELDS[4]]})
    pts = shapely.points([[105.7, 10.0], [105.8, 10.1]])

    def cols(height: list[float], wkb: list[bytes]) -> columnar.Columns:
        table = pa.table({"site_id": ["a", "b"], "height_m": pa.array(height, pa.float64())})
        return columnar.Columns(table, pa.array(wkb, pa.binary()), 2)

    little = list(shapely.to_wkb(pts, byte_order=1))
    assert columnar.is_clean(cols([1.0, 2.0], little), spec, CITY_BBOX_4326)
    assert not columnar.is_clean(cols([1.0, float("nan")], little), spec, CITY_BBOX_4326)
    assert not columnar.is_clean(cols([1.0, 2.0], list(shapely.to_wkb(pts, byte_order=0))), spec, CITY_BBOX_4326)
    empty = shapely.to_wkb(shapely.Point(), byte_order=1)  # POINT EMPTY is written with NaN coordinates
    assert not columnar.is_clean(cols([1.0, 2.0], [little[0], empty]), spec, CITY_BBOX_4326)


def test_blank_means_what_the_validator_means_by_blank() -> None:
    """The quick path's list of white-space characters is exactly Python's str.isspace(), so
    no text the validator would store as NULL (e.g. a lone U+3000 ideographic space) passes."""
    import sys

    import pyarrow as pa

    assert set(columnar._SPACES) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}
    texts = pa.array(["Phường An Khánh", " x ", "\u3000", "\x1c", "", "\u200b"])
    blank = [columnar._texts_clean(texts.slice(i, 1)) for i in range(len(texts))]
    assert blank == [not t.isspace() and t != "" for t in texts.to_pylist()]


_FRESH_PROCESS = r"""
import json, sys
from spp.catalog import LayerSpec
from spp.store.load import load_layer

url, spec_json, clean, vn2000 = sys.argv[1:5]
spec = LayerSpec.model_validate(json.loads(spec_json))
quick = load_layer(url, spec, clean, force=True)
heavy = sorted(m for m in ("pandas", "geopandas", "pyproj") if m in sys.modules)
import pyogrio._compat as c
flags = {k: getattr(c, k) for k in dir(c) if k.isupper()}
full = load_layer(url, spec, vn2000, force=True)  # pyogrio.read_dataframe, in the same process
print(json.dumps({"quick": quick.validation, "heavy": heavy, "flags": flags, "full": full.validation,
                  "rows": full.rows, "pandas_is_real": hasattr(sys.modules["pandas"], "DataFrame")}))
"""

_PLAIN_IMPORT = r"""
import json, pyogrio._compat as c
print(json.dumps({k: getattr(c, k) for k in dir(c) if k.isupper()}))
"""


def test_a_clean_load_skips_pandas_and_pyogrio_still_reads_dataframes_afterwards(db_url: str, write: Writer) -> None:
    """A fresh `spp load` of a clean file imports neither pandas, geopandas nor pyproj (≈0.35 s
    of start-up); pyogrio sees the same versions as a plain import, and a file that needs the
    full path later in the same process still loads through geopandas."""
    import json
    import subprocess
    import sys

    spec_dict = {**PUMP_SPEC, "name": "test_quick_imports", "geometry": "MultiPolygon",
                 "primary_key": "site_id", "fields": QUICK_FIELDS}
    clean = write(_features("MultiPolygon"), "clean.gpkg")
    vn2000 = write(_features("MultiPolygon").to_crs("EPSG:9210"), "vn2000.gpkg")
    run = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, db_url, json.dumps(spec_dict), str(clean), str(vn2000)],
                         capture_output=True, text=True, check=True)
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["quick"] == "quick" and got["heavy"] == []
    assert got["full"] == "full" and got["rows"] == 60 and got["pandas_is_real"]
    plain = subprocess.run([sys.executable, "-c", _PLAIN_IMPORT], capture_output=True, text=True, check=True)
    assert got["flags"] == json.loads(plain.stdout)
    assert got["flags"]["HAS_GEOPANDAS"] and got["flags"]["HAS_PYPROJ"]
