"""The map's JSON/CSV endpoints on the live test server: catalogue-driven config, commune
search with and without diacritics, the indicator CSV (UTF-8, ETag/Last-Modified → 304) and
the restricted proxy."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import requests

from spp.catalog import Catalog
from tests.ogc import data as D


def test_map_without_slash_redirects_and_the_page_loads_the_vendored_maplibre(
        base: str, map_url: str, http: requests.Session) -> None:
    r = http.get(base + "/map", allow_redirects=False)
    assert r.status_code in (301, 308) and r.headers["Location"].endswith("/map/")
    page = http.get(map_url)
    assert page.status_code == 200 and "static/vendor/maplibre-gl/maplibre-gl.js" in page.text
    for name in ("maplibre-gl.js", "maplibre-gl.css", "LICENSE.txt"):
        assert http.get(map_url + "static/vendor/maplibre-gl/" + name).status_code == 200
    assert "MapLibre" in http.get(map_url + "static/vendor/maplibre-gl/LICENSE.txt").text


def test_config_follows_the_catalogue_and_hides_restricted_fields(
        map_url: str, http: requests.Session, ogc_catalog: Catalog) -> None:
    cfg = http.get(map_url + "config.json").json()
    layers = {entry["name"]: entry for entry in cfg["layers"]}
    communes = layers["communes"]
    assert communes["base"] and not communes["overlay"]
    spec = ogc_catalog.get("communes")
    assert communes["title"] == {"vi": spec.title.vi, "en": spec.title.en}
    assert communes["paint"]["fill"]["fill-color"] == spec.style.fill
    assert communes["min_zoom"] == spec.min_zoom
    assert communes["label"]["field"] == spec.style.label_field == "ten"
    assert communes["label"]["placement"] == "point" and layers["roads"]["label"]["placement"] == "line"
    probe = layers[D.PROBE]
    assert "chu_so_huu" not in {f["name"] for f in probe["fields"]}
    assert probe["has_restricted_fields"] is True
    assert layers[D.SECRET]["access"] == "restricted"
    assert layers["commune_indicators"]["overlay"] is True
    assert layers["commune_indicators"]["filter"] == ["in", "@20260301T080000Z", ["get", "snapshot_id"]]
    themes = [t["id"] for t in cfg["themes"]]
    assert themes[0] == "analysis" and "admin" in themes
    assert cfg["indicators"] is True and cfg["restricted"] is True


def test_search_finds_a_commune_with_or_without_diacritics(map_url: str, http: requests.Session) -> None:
    for query in ("Ninh Kieu", "ninh kiều", "Phường Ninh Kiều", "P. Ninh Kieu", "NINH KIEU"):
        results = http.get(map_url + "search", params={"q": query}).json()["results"]
        assert results and results[0]["ten"] == "Phường Ninh Kiều", query
    assert http.get(map_url + "search", params={"q": "Không Có Xã Này"}).json()["results"] == []
    code = http.get(map_url + "search", params={"q": "Ninh Kieu"}).json()["results"][0]["ma_xa"]
    card = http.get(map_url + f"communes/{code}.json").json()
    assert card["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert card["indicators"]["ma_xa"] == code and card["indicators"]["population"] == card["dan_so"]
    assert http.get(map_url + "communes/00000.json").status_code == 404


def test_commune_labels_are_one_point_inside_each_commune(map_url: str, http: requests.Session) -> None:
    from shapely.geometry import Point, shape

    r = http.get(map_url + "communes/labels.geojson")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/geo+json")
    features = r.json()["features"]
    codes = [f["properties"]["ma_xa"] for f in features]
    assert features and len(codes) == len(set(codes))
    for f in features:
        card = http.get(map_url + f"communes/{f['properties']['ma_xa']}.json").json()
        assert f["properties"]["ten"] == card["ten"]
        assert shape(card["geometry"]).contains(Point(f["geometry"]["coordinates"])), card["ten"]


def test_flood_comparison_is_b_minus_a_per_commune(map_url: str, http: requests.Session, ogc_db: str,
                                                   flood_pair: tuple[str, str]) -> None:
    import psycopg

    run_a, run_b = flood_pair
    runs = http.get(map_url + "flood/runs.json").json()["runs"]
    ids = [r["run_id"] for r in runs]
    assert ids.index(run_b) < ids.index(run_a)  # newest first
    body = http.get(map_url + "flood/compare.geojson", params={"a": run_a, "b": run_b}).json()
    got = {f["properties"]["ma_xa"]: f["properties"] for f in body["features"]}
    with psycopg.connect(ogc_db) as conn:
        rows = conn.execute(
            "SELECT c.ma_xa, coalesce(b.people_exposed, 0) - coalesce(a.people_exposed, 0),"
            " coalesce(b.flooded_km2, 0) - coalesce(a.flooded_km2, 0) FROM spp.communes c"
            " LEFT JOIN spp.flood_exposure a ON a.ma_xa = c.ma_xa AND a.run_id = %s"
            " LEFT JOIN spp.flood_exposure b ON b.ma_xa = c.ma_xa AND b.run_id = %s", (run_a, run_b)).fetchall()
    assert len(got) == len(rows)
    for ma_xa, people, km2 in rows:
        assert got[ma_xa]["people_exposed_diff"] == people
        assert abs(got[ma_xa]["flooded_km2_diff"] - km2) < 1e-5
    assert sum(p["people_exposed_diff"] for p in got.values()) > 0  # 1.8 m floods more than 1.3 m
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in body["features"])
    bad = http.get(map_url + "flood/compare.geojson", params={"a": run_a, "b": "no-such-run"})
    assert bad.status_code == 404 and run_a in bad.json()["description"]
    assert http.get(map_url + "flood/compare.geojson", params={"a": run_a}).status_code == 400


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_indicator_csv_is_utf8_and_polls_cheaply(map_url: str, http: requests.Session,
                                                 indicators_db: str, ogc_catalog: Catalog) -> None:
    r = http.get(map_url + "indicators.csv")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = _csv(r.content.decode("utf-8"))
    assert any(row["ten"] == "Phường Ninh Kiều" for row in rows)
    assert len({row["computed_at"] for row in rows}) == 1
    assert http.get(map_url + "indicators.csv", params={"excel": "1"}).content.startswith(b"\xef\xbb\xbf")
    etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    assert http.get(map_url + "indicators.csv", headers={"If-None-Match": etag}).status_code == 304
    assert http.get(map_url + "indicators.csv", headers={"If-Modified-Since": modified}).status_code == 304
    js = http.get(map_url + "indicators.json", headers={"If-None-Match": etag})
    assert js.status_code == 200  # another representation, another ETag
    assert js.json()["rows"][0]["ma_xa"]

    from spp.cli.indicators import snapshot_indicators

    later = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)
    snapshot_indicators(indicators_db, ogc_catalog, computed_at=later)
    fresh = http.get(map_url + "indicators.csv", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert {row["computed_at"] for row in _csv(fresh.content.decode("utf-8"))} == {"2026-03-02T08:00:00+00:00"}


def test_restricted_proxy_needs_a_valid_key(map_url: str, http: requests.Session, api_key: str) -> None:
    url = map_url + "restricted/collections"
    assert http.get(url, params={"f": "json"}).status_code == 401
    assert http.get(url, params={"f": "json"}, headers={"X-API-Key": "x" * 20}).status_code == 403
    ok = http.get(url, params={"f": "json"}, headers={"X-API-Key": api_key})
    assert ok.status_code == 200 and D.SECRET in {c["id"] for c in ok.json()["collections"]}
    item = http.get(map_url + f"restricted/collections/{D.PROBE}/items/1", params={"f": "json"},
                    headers={"X-API-Key": api_key}).json()
    assert item["properties"]["chu_so_huu"] == D.SECRET_OWNER
