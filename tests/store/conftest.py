"""Fixtures for loader tests: a small pump-station layer spec and files in every format."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import pytest
import shapely

from spp.catalog import LayerSpec

PUMP_SPEC = {
    "name": "test_pumps",
    "title": {"vi": "Trạm bơm (thử)", "en": "Pump stations (test)"},
    "description": {"vi": "Dữ liệu thử", "en": "Test data"},
    "theme": "drainage",
    "geometry": "Point",
    "primary_key": "station_id",
    "owner": {"vi": "Sở Xây dựng", "en": "Department of Construction"},
    "licence": {"name": "CC0-1.0"},
    "source": {"attribution": "SPP tests"},
    "synthetic": True,
    "fields": [
        {"name": "station_id", "type": "text", "required": True, "description": {"vi": "Mã", "en": "Id"}},
        {"name": "ten", "type": "text", "required": True, "description": {"vi": "Tên", "en": "Name"}},
        {"name": "capacity_m3s", "type": "real", "unit": "m³/s", "min": 0, "max": 100,
         "description": {"vi": "Công suất", "en": "Capacity"}},
        {"name": "pumps", "type": "integer", "min": 1, "description": {"vi": "Số máy", "en": "Pump count"}},
        {"name": "status", "type": "text", "allowed": ["operating", "maintenance", "planned"],
         "description": {"vi": "Trạng thái", "en": "Status"}},
        {"name": "automated", "type": "boolean", "description": {"vi": "Tự động", "en": "Automated"}},
        {"name": "commissioned", "type": "date", "description": {"vi": "Ngày vận hành", "en": "Commissioned"}},
    ],
}

# Real commune names (NFC) from the 2025 list, with diacritics that break naive pipelines.
NAMES = ["Phường Ninh Kiều", "Phường Cái Răng", "Xã Thới Lai", "Phường Bình Thủy", "Xã Trường Long",
         "Phường Ô Môn", "Xã Phong Điền", "Phường Thốt Nốt", "Xã Cù Lao Dung", "Phường Sóc Trăng"]


@pytest.fixture(scope="session")
def pump_spec() -> LayerSpec:
    return LayerSpec.model_validate(PUMP_SPEC)


@pytest.fixture()
def pumps() -> gpd.GeoDataFrame:
    """20 valid pump stations inside Can Tho (EPSG:4326)."""
    rng = np.random.default_rng(7)
    n = 20
    lon = rng.uniform(105.55, 105.85, n)
    lat = rng.uniform(9.85, 10.10, n)
    return gpd.GeoDataFrame(
        {
            "station_id": [f"TB{i:03d}" for i in range(n)],
            "ten": [f"Trạm bơm {NAMES[i % len(NAMES)]}" for i in range(n)],
            "capacity_m3s": np.round(rng.uniform(0.5, 20, n), 2),
            "pumps": rng.integers(1, 8, n),
            "status": ["operating"] * (n - 2) + ["maintenance", "planned"],
            "automated": [bool(i % 2) for i in range(n)],
            "commissioned": [f"20{10 + i % 14:02d}-0{1 + i % 9}-15" for i in range(n)],
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


@pytest.fixture()
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a GeoDataFrame to ``name`` (format from the suffix) in a temp folder."""

    def _write(gdf: gpd.GeoDataFrame, name: str) -> Path:
        path = tmp_path / name
        suffix = path.suffix.lower()
        if suffix == ".zip":
            import zipfile

            shp_dir = tmp_path / (path.stem + "_shp")
            shp_dir.mkdir()
            gdf.to_file(shp_dir / f"{path.stem}.shp", driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
            with zipfile.ZipFile(path, "w") as zf:
                for f in sorted(shp_dir.iterdir()):
                    zf.write(f, f.name)
        elif suffix == ".csv":
            df = gdf.drop(columns="geometry").copy()
            df["wkt"] = shapely.to_wkt(gdf.geometry.values, rounding_precision=-1)
            df.to_csv(path, index=False, encoding="utf-8")
        else:
            driver = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".fgb": "FlatGeobuf"}[suffix]
            gdf.to_file(path, driver=driver, engine="pyogrio")
        return path

    return _write


def fingerprint(db_url: str, layer: str) -> tuple[object, ...]:
    """Content hash of the live table plus the version list: equal before and after a
    failed load means nothing was changed."""
    with psycopg.connect(db_url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'spp."{layer}"',)).fetchone()
        rows: tuple[object, ...] = ()
        if exists and exists[0]:
            rows = tuple(conn.execute(
                f'SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM spp."{layer}" t'
            ).fetchone() or ())
        versions = conn.execute(
            "SELECT coalesce(array_agg(version ORDER BY version), '{}') FROM spp_meta.versions WHERE layer = %s",
            (layer,)).fetchone()
        stage = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'spp_stage'").fetchone()
    return rows, versions, stage


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
