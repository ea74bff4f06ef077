"""VN-2000 ↔ WGS 84: SPP (pyproj and PostGIS) against an independent Helmert computation."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from pyproj import CRS, Transformer

from spp.crs import METRIC_EPSG, parse_crs, require_projected, transformer
from spp.errors import CRSError

# Decision 05/2007/QĐ-BTNMT: VN-2000 → WGS 84, coordinate-frame rotation convention.
TX, TY, TZ = -191.90441429, -39.30318279, -111.45032835  # metres
RX, RY, RZ = -0.00928836, 0.01975479, -0.00427372  # arc-seconds
DS_PPM = 0.252906278
A, F = 6378137.0, 1 / 298.257223563  # VN-2000 uses the WGS 84 ellipsoid
E2 = F * (2 - F)

# Points across Can Tho (EPSG:9210 easting, northing in metres).
POINTS_9210 = np.array([
    [587_500.0, 1_107_500.0],  # Ninh Kiều
    [560_000.0, 1_120_000.0],  # Thốt Nốt
    [548_000.0, 1_080_000.0],  # Vị Thanh
    [605_000.0, 1_065_000.0],  # Sóc Trăng
    [640_000.0, 1_045_000.0],  # Trần Đề
])


def _geodetic_to_ecef(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lon, lat = np.radians(lon), np.radians(lat)
    n = A / np.sqrt(1 - E2 * np.sin(lat) ** 2)
    return np.stack([n * np.cos(lat) * np.cos(lon), n * np.cos(lat) * np.sin(lon), n * (1 - E2) * np.sin(lat)])


def _ecef_to_geodetic(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y, z = xyz
    lon = np.arctan2(y, x)
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1 - E2))
    for _ in range(10):  # Bowring-style fixed point, converges to < 1e-12 rad
        n = A / np.sqrt(1 - E2 * np.sin(lat) ** 2)
        h = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1 - E2 * n / (n + h)))
    return np.degrees(lon), np.degrees(lat)


def _helmert_vn2000_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sec = np.pi / (180 * 3600)
    rx, ry, rz = RX * sec, RY * sec, RZ * sec
    rot = np.array([[1, rz, -ry], [-rz, 1, rx], [ry, -rx, 1]])  # coordinate-frame convention
    xyz = _geodetic_to_ecef(lon, lat)
    out = np.array([[TX], [TY], [TZ]]) + (1 + DS_PPM * 1e-6) * rot @ xyz
    return _ecef_to_geodetic(out)


def _vn2000_geographic(e: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse TM-3 105°45′ on the VN-2000 datum itself (no datum shift involved)."""
    tm = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=105.75 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m")
    geo = CRS.from_proj4("+proj=longlat +ellps=WGS84")
    return Transformer.from_crs(tm, geo, always_xy=True).transform(e, n)


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    from pyproj import Geod

    return np.asarray(Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)[2])


def test_spp_transform_matches_published_helmert_within_a_centimetre() -> None:
    e, n = POINTS_9210[:, 0], POINTS_9210[:, 1]
    lon_vn, lat_vn = _vn2000_geographic(e, n)
    want_lon, want_lat = _helmert_vn2000_to_wgs84(np.asarray(lon_vn), np.asarray(lat_vn))
    got_lon, got_lat = transformer(METRIC_EPSG, 4326).transform(e, n)
    err = _metres(got_lon, got_lat, want_lon, want_lat)
    assert err.max() < 0.01, err
    # and the shift itself is real (VN-2000 is ~100+ m... no: a few hundred metres away in ECEF)
    assert _metres(np.asarray(lon_vn), np.asarray(lat_vn), want_lon, want_lat).min() > 1.0


def test_postgis_transform_matches_published_helmert(db_url: str) -> None:
    e, n = POINTS_9210[:, 0], POINTS_9210[:, 1]
    want_lon, want_lat = _helmert_vn2000_to_wgs84(*map(np.asarray, _vn2000_geographic(e, n)))
    with psycopg.connect(db_url) as conn:
        rows = [conn.execute(
            "SELECT ST_X(g), ST_Y(g) FROM ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 9210), 4326) g",
            (float(x), float(y))).fetchone() for x, y in POINTS_9210]
    got = np.array(rows)
    assert _metres(got[:, 0], got[:, 1], want_lon, want_lat).max() < 0.01


def test_round_trip_wgs84_vn2000_wgs84_is_lossless() -> None:
    lon = np.array([105.78, 105.45, 106.0, 105.97])
    lat = np.array([10.03, 9.78, 9.60, 9.40])
    x, y = transformer(4326, METRIC_EPSG).transform(lon, lat)
    lon2, lat2 = transformer(METRIC_EPSG, 4326).transform(x, y)
    assert _metres(lon, lat, lon2, lat2).max() < 1e-3


@pytest.mark.parametrize("epsg", [9210, 3405, 32648])
def test_metric_crs_are_accepted(epsg: int) -> None:
    assert require_projected(CRS.from_epsg(epsg), source="x").is_projected


@pytest.mark.parametrize("value", [4326, 4756])
def test_geographic_crs_is_rejected_for_metric_work(value: int) -> None:
    with pytest.raises(CRSError, match="geographic CRS"):
        require_projected(CRS.from_epsg(value), source="dem.tif")


def test_unknown_crs_names_the_source() -> None:
    with pytest.raises(CRSError, match="roads.csv: unknown CRS"):
        parse_crs("EPSG:999999", source="roads.csv")
