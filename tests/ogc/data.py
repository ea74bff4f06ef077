"""Test data for the OGC API tests: probe layers that exercise access control, paging,
time and CRS handling whatever the catalogue holds, plus a fallback loader of the real
communes for when the sample city is not available."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml

from spp.catalog import Catalog, LayerSpec, load_catalog
from spp.store.load import load_frame

PROBE = "zz_ogc_probe"
SECRET = "zz_ogc_secret"
PROBE_ROWS = 3000
SECRET_OWNER = "Nguyễn Văn Bí Mật"

_COMMON = {
    "owner": {"vi": "Kiểm thử", "en": "Tests"},
    "licence": {"name": "MIT", "url": "https://opensource.org/license/mit"},
    "source": {"attribution": "SPP tests", "url": "https://example.org/spp-tests"},
    "synthetic": True,
}

PROBE_SPEC = {
    "name": PROBE, **_COMMON,
    "title": {"vi": "Điểm kiểm thử Cần Thơ", "en": "Test probe points"},
    "description": {"vi": "Lớp kiểm thử có trường hạn chế", "en": "Test layer with a restricted field"},
    "theme": "analysis", "geometry": "Point", "primary_key": "ma",
    "keywords": ["kiểm thử", "test"], "time_field": "ngay", "min_zoom": 10, "max_zoom": 16,
    "fields": [
        {"name": "ma", "type": "integer", "required": True, "description": {"vi": "Mã", "en": "Id"}},
        {"name": "ten", "type": "text", "description": {"vi": "Tên", "en": "Name"}},
        {"name": "loai", "type": "text", "allowed": ["a", "b", "c"], "description": {"vi": "Loại", "en": "Kind"}},
        {"name": "gia_tri", "type": "real", "unit": "m", "description": {"vi": "Giá trị", "en": "Value"}},
        {"name": "hoat_dong", "type": "boolean", "description": {"vi": "Hoạt động", "en": "Active"}},
        {"name": "ngay", "type": "datetime", "description": {"vi": "Ngày", "en": "When"}},
        {"name": "chu_so_huu", "type": "text", "access": "restricted",
         "description": {"vi": "Chủ sở hữu", "en": "Owner (restricted)"}},
    ],
}
SECRET_SPEC = {
    "name": SECRET, **_COMMON, "access": "restricted",
    "title": {"vi": "Lớp bí mật", "en": "Secret layer"},
    "description": {"vi": "Lớp hạn chế", "en": "Restricted layer"},
    "theme": "analysis", "geometry": "Polygon", "primary_key": "ma",
    "fields": [
        {"name": "ma", "type": "text", "required": True, "description": {"vi": "Mã", "en": "Id"}},
        {"name": "ghi_chu", "type": "text", "description": {"vi": "Ghi chú", "en": "Note"}},
    ],
}


def write_test_home(root: Path, repo: Path) -> Path:
    """A checkout-like folder: the real ``layers/*.yml`` plus the two probe specs."""
    home = root / "home"
    layers = home / "layers"
    layers.mkdir(parents=True, exist_ok=True)
    for spec in (repo / "layers").glob("*.yml"):
        shutil.copy(spec, layers / spec.name)
    for spec in (PROBE_SPEC, SECRET_SPEC):
        (layers / f"{spec['name']}.yml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return home


def probe_frame(spec: LayerSpec, rows: int = PROBE_ROWS, seed: int = 7) -> gpd.GeoDataFrame:
    """Points around Ninh Kiều with Vietnamese names, a restricted owner and timestamps."""
    rng = np.random.default_rng(seed)
    lon = 105.70 + rng.random(rows) * 0.12
    lat = 9.98 + rng.random(rows) * 0.10
    when = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 365 * 24, rows), unit="h")
    frame = gpd.GeoDataFrame({
        "ma": np.arange(1, rows + 1),
        "ten": [f"Điểm số {i} — Phường Ninh Kiều" for i in range(1, rows + 1)],
        "loai": rng.choice(["a", "b", "c"], rows),
        "gia_tri": np.round(rng.random(rows) * 100, 3),
        "hoat_dong": rng.random(rows) > 0.5,
        "ngay": when,
        "chu_so_huu": [SECRET_OWNER] * rows,
    }, geometry=shapely.points(lon, lat), crs=4326)
    return frame


def secret_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"ma": ["s1", "s2"], "ghi_chu": ["bí mật 1", "bí mật 2"]},
                            geometry=[shapely.MultiPolygon([shapely.box(105.75, 10.0, 105.76, 10.01)]),
                                      shapely.MultiPolygon([shapely.box(105.77, 10.02, 105.78, 10.03)])], crs=4326)


def communes_frame(spec: LayerSpec, path: Path) -> gpd.GeoDataFrame:
    """The real communes, repaired with ``make_valid(method='structure')``."""
    frame = gpd.read_file(path)
    frame["geometry"] = shapely.make_valid(frame.geometry.values, method="structure")
    frame["geometry"] = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon(
        [p for p in getattr(g, "geoms", [g]) if p.geom_type == "Polygon"]) for g in frame.geometry]
    frame["dan_so"] = pd.to_numeric(frame.get("dan_so_raw"), errors="coerce").astype("Int64")
    for f in spec.fields:
        if f.name not in frame:
            frame[f.name] = None
    return frame[[f.name for f in spec.fields] + ["geometry"]]


def load_probes(db_url: str, catalog: Catalog) -> None:
    """Load the two probe layers into ``db_url``."""
    for name, frame in ((PROBE, probe_frame(catalog.get(PROBE))), (SECRET, secret_frame())):
        load_frame(db_url, catalog.get(name), frame, source=f"{name}.test", sha256=name, crs_in="EPSG:4326")


def load_communes(db_url: str, catalog: Catalog, path: Path) -> None:
    spec = catalog.get("communes")
    load_frame(db_url, spec, communes_frame(spec, path), source=path.name, sha256="communes-test",
               crs_in="EPSG:4326")


def test_catalog(home: Path) -> Catalog:
    return load_catalog(home / "layers")
