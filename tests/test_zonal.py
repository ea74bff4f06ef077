"""Areas in km²: SPP's planar EPSG:9210 areas and PostGIS's geography areas against an
independent geodesic computation (pyproj.Geod on the WGS 84 ellipsoid)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Geod

from spp.zonal import area_km2, count_within, length_km

COMMUNES = Path(__file__).resolve().parents[1] / "spp" / "sample" / "data" / "cantho_2025_communes.geojson"


@pytest.fixture(scope="module")
def communes() -> gpd.GeoDataFrame:
    g = gpd.read_file(COMMUNES)
    g["geometry"] = [shapely.make_valid(x, method="structure") for x in g.geometry]
    return g


def _geodesic_km2(geoms: gpd.GeoSeries) -> np.ndarray:
    geod = Geod(ellps="WGS84")
    return np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in geoms])


def test_commune_areas_match_geodesic_areas(communes: gpd.GeoDataFrame) -> None:
    ours = area_km2(communes).to_numpy()
    truth = _geodesic_km2(communes.geometry)
    # TM-3 scale factor 0.9999 on the central meridian, ≈1.00006 at the city's east edge
    np.testing.assert_allclose(ours, truth, rtol=3e-4)


def test_city_area_is_the_published_6360_km2(communes: gpd.GeoDataFrame) -> None:
    total = float(area_km2(communes).sum())
    assert total == pytest.approx(6360.83, rel=0.01)
    # and the published per-commune areas agree for the bulk of communes
    published = communes["dien_tich_km2"].to_numpy()
    rel = np.abs(area_km2(communes).to_numpy() - published) / published
    assert np.median(rel) < 0.02


def test_postgis_geography_areas_match_geodesic(db_url: str, communes: gpd.GeoDataFrame) -> None:
    sample = communes.iloc[::10]
    with psycopg.connect(db_url) as conn:
        got = [conn.execute("SELECT ST_Area(ST_GeomFromWKB(%s, 4326)::geography) / 1e6", (g.wkb,)).fetchone()[0]
               for g in sample.geometry]
    np.testing.assert_allclose(got, _geodesic_km2(sample.geometry), rtol=1e-5)


def test_lengths_and_counts() -> None:
    line = gpd.GeoDataFrame(geometry=[shapely.LineString([(580_000, 1_100_000), (583_000, 1_104_000)])], crs=9210)
    assert float(length_km(line).iloc[0]) == pytest.approx(5.0)
    zones = gpd.GeoDataFrame({"ma_xa": ["a", "b"]}, geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)],
                             crs=9210)
    pts = gpd.GeoDataFrame(geometry=shapely.points([(1, 1), (2, 2), (15, 5)]), crs=9210)
    assert count_within(pts, zones, zone_id="ma_xa").to_dict() == {"a": 2, "b": 1}
