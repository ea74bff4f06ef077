"""Restricted layers and fields never reach the public endpoint; the restricted one needs a key."""

from __future__ import annotations

import base64

import pytest

from tests.ogc import data as D
from tests.ogc.test_tiles import tile_of


def _public_texts(http, base):
    col, row = tile_of(105.76, 10.03, 14)
    paths = [
        ("/", {"f": "json"}), ("/", {"f": "html"}), ("/collections", {"f": "json"}),
        ("/collections", {"f": "html"}), ("/openapi", {"f": "json"}), ("/openapi", {"f": "html"}),
        (f"/collections/{D.PROBE}", {"f": "json"}), (f"/collections/{D.PROBE}/queryables", {"f": "json"}),
        (f"/collections/{D.PROBE}/items", {"f": "json", "limit": 50}),
        (f"/collections/{D.PROBE}/items", {"f": "html", "limit": 50}),
        (f"/collections/{D.PROBE}/items/1", {"f": "json"}), (f"/collections/{D.PROBE}/items/1", {"f": "html"}),
        (f"/collections/{D.PROBE}/items", {"f": "csv", "limit": 50}),
        (f"/collections/{D.PROBE}/items", {"f": "jsonld", "limit": 5}),
        (f"/collections/{D.PROBE}/tiles/WebMercatorQuad/14/{row}/{col}", {"f": "mvt"}),
    ]
    for path, params in paths:
        resp = http.get(base + path, params=params, timeout=60)
        yield path, params, resp


def test_restricted_layers_and_fields_never_appear_on_the_public_endpoint(http, base, ogc_catalog):
    hidden_layers = [s.name for s in ogc_catalog if s.access == "restricted"]
    hidden_fields = {f.name for s in ogc_catalog for f in s.restricted_fields}
    assert D.SECRET in hidden_layers and "chu_so_huu" in hidden_fields
    for path, params, resp in _public_texts(http, base):
        assert resp.status_code in (200, 204), (path, params, resp.status_code)
        body = resp.content
        for word in [*hidden_layers, *hidden_fields, D.SECRET_OWNER]:
            assert word.encode() not in body, (path, params, word)


@pytest.mark.parametrize("path", [f"/collections/{D.SECRET}", f"/collections/{D.SECRET}/items",
                                  f"/collections/{D.SECRET}/items/s1", f"/collections/{D.SECRET}/queryables",
                                  f"/collections/{D.SECRET}/tiles/WebMercatorQuad/14/7735/13005"])
def test_restricted_layer_is_404_on_the_public_endpoint(http, base, path):
    resp = http.get(base + path, params={"f": "json"}, timeout=30)
    assert resp.status_code == 404
    assert b"bi m\xe1\xba\xadt" not in resp.content and D.SECRET_OWNER.encode() not in resp.content


def test_filtering_or_selecting_a_restricted_field_publicly_is_refused(http, base):
    items = f"{base}/collections/{D.PROBE}/items"
    for params in ({"filter": "chu_so_huu = 'x'"}, {"properties": "chu_so_huu"}, {"sortby": "chu_so_huu"}):
        resp = http.get(items, params={"f": "json", **params}, timeout=30)
        assert resp.status_code == 400, params
        assert D.SECRET_OWNER.encode() not in resp.content
    resp = http.get(items, params={"f": "json", "chu_so_huu": D.SECRET_OWNER, "limit": 1}, timeout=30)
    assert D.SECRET_OWNER.encode() not in resp.content  # unknown parameters are ignored


def test_restricted_endpoint_requires_a_valid_key(http, restricted_base, api_key):
    url = f"{restricted_base}/collections/{D.SECRET}/items"
    none = http.get(url, params={"f": "json"}, timeout=30)
    assert none.status_code == 401 and "WWW-Authenticate" in none.headers
    for bad in ({"X-API-Key": "wrong-key-0123456789"}, {"Authorization": "Bearer nope"},
                {"X-API-Key": api_key[:-1]}, {"Authorization": "Basic !!!"}):
        resp = http.get(url, params={"f": "json"}, headers=bad, timeout=30)
        assert resp.status_code == 403, bad
        assert b"s1" not in resp.content and "bí mật".encode() not in resp.content
    for good in ({"X-API-Key": api_key}, {"Authorization": f"Bearer {api_key}"},
                 {"Authorization": "Basic " + base64.b64encode(f"qgis:{api_key}".encode()).decode()}):
        resp = http.get(url, params={"f": "json"}, headers=good, timeout=30)
        assert resp.status_code == 200, good
        assert {f["id"] for f in resp.json()["features"]} == {"s1", "s2"}


def test_restricted_endpoint_serves_restricted_fields_with_a_key(http, restricted_base, api_key):
    resp = http.get(f"{restricted_base}/collections/{D.PROBE}/items/1", params={"f": "json"},
                    headers={"X-API-Key": api_key}, timeout=30)
    assert resp.status_code == 200
    assert resp.json()["properties"]["chu_so_huu"] == D.SECRET_OWNER
    cols = http.get(f"{restricted_base}/collections", params={"f": "json"}, headers={"X-API-Key": api_key},
                    timeout=30).json()
    assert D.SECRET in {c["id"] for c in cols["collections"]}


def test_api_keys_file_must_live_outside_the_repository(ogc_settings, tmp_path):
    from spp.errors import ConfigError
    from spp.ogc.access import load_api_keys

    inside = ogc_settings.home / "keys.txt"
    inside.write_text("a-long-enough-key-123\n")
    with pytest.raises(ConfigError, match="inside the repository"):
        load_api_keys(ogc_settings.model_copy(update={"api_keys_file": inside, "api_keys": None}))
    outside = tmp_path / "keys.txt"
    outside.write_text("# ioc\na-long-enough-key-123\n")
    assert load_api_keys(ogc_settings.model_copy(update={"api_keys_file": outside, "api_keys": None})) == [
        "a-long-enough-key-123"]
    with pytest.raises(ConfigError, match="shorter"):
        load_api_keys(ogc_settings.model_copy(update={"api_keys": "short", "api_keys_file": None}))
