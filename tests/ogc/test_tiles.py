"""Vector tiles: decoded MVT equals what PostGIS holds for the tile; zooms from the catalogue."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest

from tests.ogc import data as D
from tests.ogc.conftest import db_rows

BUFFERED = "ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096), 4326)"
"""The tile grown by the MVT buffer (64 of 4096 units), in EPSG:4326."""


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(col, row) of WebMercatorQuad tile ``z`` holding the EPSG:4326 point."""
    n = 2**z
    col = int((lon + 180) / 360 * n)
    rad = math.radians(lat)
    row = int((1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n)
    return col, row


def fetch(http, base, layer, z, row, col):
    return http.get(f"{base}/collections/{layer}/tiles/WebMercatorQuad/{z}/{row}/{col}",
                    params={"f": "mvt"}, timeout=60)


@pytest.mark.parametrize("z", [12, 14, 16])
def test_probe_tile_features_and_attributes_equal_the_database(http, base, ogc_db, z):
    col, row = tile_of(105.76, 10.03, z)
    resp = fetch(http, base, D.PROBE, z, row, col)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/vnd.mapbox-vector-tile")
    layer = mapbox_vector_tile.decode(resp.content)[D.PROBE]
    got = {f["properties"]["ma"]: f["properties"] for f in layer["features"]}
    expected = db_rows(ogc_db, f"SELECT ma, ten, loai FROM spp.{D.PROBE} WHERE geom && {BUFFERED} AND "
                       "ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%s, %s, %s), 4096, 64, true) IS NOT NULL",
                       (z, col, row, z, col, row))
    assert len(got) == len(expected) > 0
    for ma, ten, loai in expected:
        assert got[ma]["ten"] == ten and got[ma]["loai"] == loai
        assert "chu_so_huu" not in got[ma]


def test_every_public_layer_tile_count_matches_postgis(http, base, ogc_catalog, ogc_db, public_layers):
    for name in public_layers:
        spec = ogc_catalog.get(name)
        if not spec.has_geometry:
            continue
        z = max(spec.min_zoom, min(12, spec.max_zoom))
        lon, lat = db_rows(ogc_db, f'SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM spp."{name}" '
                                   "WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom) LIMIT 1) t")[0]
        col, row = tile_of(lon, lat, z)
        resp = fetch(http, base, name, z, row, col)
        assert resp.status_code == 200, (name, resp.status_code)
        features = mapbox_vector_tile.decode(resp.content)[name]["features"]
        n = db_rows(ogc_db, f'SELECT count(*) FROM spp."{name}" WHERE ST_AsMVTGeom(ST_Transform(geom, 3857), '
                            f"ST_TileEnvelope(%s, %s, %s), 4096, 64, true) IS NOT NULL AND geom && {BUFFERED}",
                            (z, col, row, z, col, row))[0][0]
        assert len(features) == n, name
        public = {f.name for f in spec.public_fields}
        assert all(set(f["properties"]) <= public for f in features), name


def test_zoom_outside_the_catalogue_range_is_404_and_empty_tile_is_204(http, base, ogc_catalog):
    spec = ogc_catalog.get(D.PROBE)
    col, row = tile_of(105.76, 10.03, spec.max_zoom + 1)
    assert fetch(http, base, D.PROBE, spec.max_zoom + 1, row, col).status_code == 404
    col, row = tile_of(105.76, 10.03, spec.min_zoom - 1)
    assert fetch(http, base, D.PROBE, spec.min_zoom - 1, row, col).status_code == 404
    col, row = tile_of(0.0, 0.0, 14)
    assert fetch(http, base, D.PROBE, 14, row, col).status_code == 204
    assert fetch(http, base, D.PROBE, 14, 99999999, 1).status_code == 404
    assert fetch(http, base, D.PROBE, "x", 1, 1).status_code in (400, 404)


def test_tileset_metadata_lists_webmercatorquad(http, base):
    resp = http.get(f"{base}/collections/{D.PROBE}/tiles", params={"f": "json"}, timeout=30)
    assert resp.status_code == 200
    assert "WebMercatorQuad" in resp.text
