"""Deterministic benchmark inputs: ≈1 M street-light points and ≈200 k building polygons
inside Can Tho, written once to .spp/bench/ as GeoPackages."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from spp.catalog import LayerSpec

POINT_SPEC = LayerSpec.model_validate({
    "name": "bench_lights", "title": {"vi": "Đèn (bench)", "en": "Lights (bench)"},
    "description": {"vi": "Dữ liệu đo hiệu năng", "en": "Benchmark data"}, "theme": "lighting",
    "geometry": "Point", "primary_key": "light_id",
    "owner": {"vi": "Sở Xây dựng", "en": "Department of Construction"}, "licence": {"name": "CC0-1.0"},
    "source": {"attribution": "SPP benchmark"}, "synthetic": True,
    "fields": [
        {"name": "light_id", "type": "text", "required": True, "description": {"vi": "Mã", "en": "Id"}},
        {"name": "ten_duong", "type": "text", "description": {"vi": "Tên đường", "en": "Street"}},
        {"name": "power_w", "type": "integer", "min": 0, "max": 1000, "unit": "W",
         "description": {"vi": "Công suất", "en": "Power"}},
        {"name": "lamp_type", "type": "text", "allowed": ["LED", "sodium", "metal_halide"],
         "description": {"vi": "Loại đèn", "en": "Lamp type"}},
        {"name": "height_m", "type": "real", "min": 0, "max": 40, "unit": "m",
         "description": {"vi": "Chiều cao", "en": "Height"}},
    ],
})

POLYGON_SPEC = LayerSpec.model_validate({
    "name": "bench_buildings", "title": {"vi": "Nhà (bench)", "en": "Buildings (bench)"},
    "description": {"vi": "Dữ liệu đo hiệu năng", "en": "Benchmark data"}, "theme": "construction",
    "geometry": "MultiPolygon", "primary_key": "building_id",
    "owner": {"vi": "Sở Xây dựng", "en": "Department of Construction"}, "licence": {"name": "CC0-1.0"},
    "source": {"attribution": "SPP benchmark"}, "synthetic": True,
    "fields": [
        {"name": "building_id", "type": "text", "required": True, "description": {"vi": "Mã", "en": "Id"}},
        {"name": "use", "type": "text", "allowed": ["residential", "commercial", "public", "industrial"],
         "description": {"vi": "Công năng", "en": "Use"}},
        {"name": "floors", "type": "integer", "min": 1, "max": 60, "description": {"vi": "Số tầng", "en": "Floors"}},
        {"name": "population", "type": "integer", "min": 0, "description": {"vi": "Dân số", "en": "People"}},
    ],
})

STREETS = ["Đường 30 Tháng 4", "Đường Nguyễn Văn Cừ", "Đường Trần Hưng Đạo", "Đường Mậu Thân",
           "Đường Cách Mạng Tháng Tám", "Đường Hùng Vương", "Quốc lộ 91B", "Đường Võ Văn Kiệt"]


def points(n: int = 1_000_000, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame(
        {
            "light_id": np.char.add("L", np.arange(n).astype(str)),
            "ten_duong": np.array(STREETS, dtype=object)[rng.integers(0, len(STREETS), n)],
            "power_w": rng.integers(30, 250, n),
            "lamp_type": np.array(["LED", "sodium", "metal_halide"], dtype=object)[rng.integers(0, 3, n)],
            "height_m": rng.uniform(6, 12, n).round(1),
        },
        geometry=gpd.points_from_xy(rng.uniform(105.5, 106.0, n), rng.uniform(9.6, 10.2, n)),
        crs=4326,
    )


def polygons(n: int = 200_000, seed: int = 2) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(105.5, 106.0, n), rng.uniform(9.6, 10.2, n)
    w, h = rng.uniform(6e-5, 2e-4, n), rng.uniform(6e-5, 2e-4, n)
    boxes = shapely.box(cx - w, cy - h, cx + w, cy + h)
    return gpd.GeoDataFrame(
        {
            "building_id": np.char.add("B", np.arange(n).astype(str)),
            "use": np.array(["residential", "commercial", "public", "industrial"], dtype=object)[rng.integers(0, 4, n)],
            "floors": rng.integers(1, 8, n),
            "population": rng.integers(0, 40, n),
        },
        geometry=boxes,
        crs=4326,
    )


def ensure_files(folder: Path, *, large: bool = False) -> dict[str, Path]:
    """Write the benchmark GeoPackages once; return kind → path. ``large`` adds a million
    polygons, to separate the per-row rate from the fixed start-up cost."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"points": folder / "lights_1m.gpkg", "polygons": folder / "buildings_200k.gpkg"}
    if large:
        out["polygons_1m"] = folder / "buildings_1m.gpkg"
    if not out["points"].exists():
        points().to_file(out["points"], driver="GPKG", engine="pyogrio", layer="bench_lights")
    if not out["polygons"].exists():
        polygons().to_file(out["polygons"], driver="GPKG", engine="pyogrio", layer="bench_buildings")
    if large and not out["polygons_1m"].exists():
        polygons(1_000_000, seed=3).to_file(out["polygons_1m"], driver="GPKG", engine="pyogrio",
                                            layer="bench_buildings")
    return out
