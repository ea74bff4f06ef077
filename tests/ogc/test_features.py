"""OGC API - Features Parts 1-3 on the public endpoint, checked against the database."""

from __future__ import annotations

import json
import urllib.parse

import pytest
import requests

from spp.catalog import Catalog
from spp.ogc.config import CRS_URIS
from tests.ogc import data as D
from tests.ogc.conftest import db_rows

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
PROBE_ITEMS = f"/collections/{D.PROBE}/items"


def get(http: requests.Session, base: str, path: str, **params: object) -> requests.Response:
    return http.get(base + path, params={"f": "json", **params}, timeout=30)


def test_landing_page_and_conformance_declare_features_crs_and_filter(http, base):
    assert get(http, base, "/").status_code == 200
    conf = get(http, base, "/conformance").json()["conformsTo"]
    assert any("ogcapi-features-1" in c for c in conf)
    assert any("ogcapi-features-2" in c for c in conf)


def test_every_public_layer_is_a_collection_with_vi_and_en_titles(http, base, ogc_catalog: Catalog,
                                                                   public_layers):
    cols = {c["id"]: c for c in get(http, base, "/collections").json()["collections"]}
    assert set(public_layers) <= set(cols)
    for spec in ogc_catalog.public():
        col = cols[spec.name]
        assert spec.title.vi in col["title"] and spec.title.en in col["title"]
        assert spec.keywords[0] in col["keywords"] if spec.keywords else True
        rels = {link["rel"] for link in col["links"]}
        if spec.licence.url:
            assert "license" in rels
        if spec.source.url:
            assert "via" in rels
        assert col["extent"]["spatial"]["bbox"]
        if spec.time_field:
            assert "temporal" in col["extent"]
        if spec.has_geometry:
            assert set(CRS_URIS) <= set(col["crs"])


def test_english_titles_first_with_lang_en(http, base, ogc_catalog):
    spec = ogc_catalog.get(D.PROBE)
    col = get(http, base, f"/collections/{D.PROBE}", lang="en").json()
    assert col["title"].startswith(spec.title.en)


def test_items_page_through_with_next_links_without_gaps(http, base, ogc_db):
    url, params = base + PROBE_ITEMS, {"f": "json", "limit": 1000}
    seen: list[int] = []
    while url:
        page = http.get(url, params=params, timeout=30).json()
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        params = {}
    total = db_rows(ogc_db, f"SELECT count(*) FROM spp.{D.PROBE}")[0][0]
    assert len(seen) == total == len(set(seen))


def test_offset_prev_link_and_number_matched_on_last_page(http, base):
    page = get(http, base, PROBE_ITEMS, limit=10, offset=D.PROBE_ROWS - 5).json()
    assert page["numberReturned"] == 5 and page["numberMatched"] == D.PROBE_ROWS
    assert any(link["rel"] == "prev" for link in page["links"])
    assert not any(link["rel"] == "next" for link in page["links"])
    hits = get(http, base, PROBE_ITEMS, resulttype="hits", loai="a").json()
    assert hits["numberMatched"] > 0 and hits["features"] == []


def test_bbox_returns_exactly_the_features_in_the_box(http, base, ogc_db):
    box = (105.72, 10.0, 105.75, 10.03)
    page = get(http, base, PROBE_ITEMS, bbox=",".join(map(str, box)), limit=10000).json()
    expected = db_rows(ogc_db, f"SELECT ma FROM spp.{D.PROBE} WHERE ST_Intersects(geom, "
                       "ST_MakeEnvelope(%s, %s, %s, %s, 4326)) ORDER BY ma", box)
    assert [f["id"] for f in page["features"]] == [r[0] for r in expected]


def test_properties_selection_and_property_filter_and_sortby(http, base, ogc_db):
    page = get(http, base, PROBE_ITEMS, properties="ten,gia_tri", loai="b", sortby="-gia_tri",
               limit=5).json()
    assert all(set(f["properties"]) == {"ten", "gia_tri"} for f in page["features"])
    values = [f["properties"]["gia_tri"] for f in page["features"]]
    top = db_rows(ogc_db, f"SELECT gia_tri FROM spp.{D.PROBE} WHERE loai = 'b' ORDER BY gia_tri DESC, ma LIMIT 5")
    assert values == [r[0] for r in top]


@pytest.mark.parametrize("lang,expr", [
    ("cql2-text", "S_INTERSECTS(geom, POLYGON((105.7 9.98, 105.76 9.98, 105.76 10.02, 105.7 9.98))) AND loai = 'a'"),
    (None, "S_INTERSECTS(geometry, POLYGON((105.7 9.98, 105.76 9.98, 105.76 10.02, 105.7 9.98))) AND loai = 'a'"),
    ("cql-text", "INTERSECTS(geom, POLYGON((105.7 9.98, 105.76 9.98, 105.76 10.02, 105.7 9.98))) AND loai = 'a'"),
    ("cql2-json", json.dumps({"op": "and", "args": [
        {"op": "s_intersects", "args": [{"property": "geom"}, {"type": "Polygon", "coordinates": [
            [[105.7, 9.98], [105.76, 9.98], [105.76, 10.02], [105.7, 9.98]]]}]},
        {"op": "=", "args": [{"property": "loai"}, "a"]}]})),
])
def test_cql2_text_json_and_ecql_filters_agree_with_postgis(http, base, ogc_db, lang, expr):
    params = {"filter": expr, "limit": 10000}
    if lang:
        params["filter-lang"] = lang
    resp = get(http, base, PROBE_ITEMS, **params)
    assert resp.status_code == 200, resp.text
    expected = db_rows(ogc_db, f"SELECT ma FROM spp.{D.PROBE} WHERE loai = 'a' AND ST_Intersects(geom, "
                       "'SRID=4326;POLYGON((105.7 9.98, 105.76 9.98, 105.76 10.02, 105.7 9.98))'::geometry) ORDER BY ma")
    assert [f["id"] for f in resp.json()["features"]] == [r[0] for r in expected]
    assert expected


def test_cql2_filter_survives_paging_links(http, base):
    page = get(http, base, PROBE_ITEMS, **{"filter-lang": "cql2-text", "filter": "gia_tri > 10 AND loai <> 'c'",
                                            "limit": 5}).json()
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(nxt).query)
    assert query["filter-lang"] == ["cql2-text"]
    page2 = http.get(nxt, timeout=30).json()
    assert page2["numberReturned"] == 5
    assert all(f["properties"]["gia_tri"] > 10 and f["properties"]["loai"] != "c" for f in page2["features"])


def test_temporal_filter_and_datetime_parameter(http, base, ogc_db):
    n = db_rows(ogc_db, f"SELECT count(*) FROM spp.{D.PROBE} WHERE ngay >= '2024-12-01T00:00:00Z'")[0][0]
    a = get(http, base, PROBE_ITEMS, datetime="2024-12-01T00:00:00Z/..", limit=10000).json()
    b = get(http, base, PROBE_ITEMS, filter="ngay >= TIMESTAMP('2024-12-01T00:00:00Z')", limit=10000).json()
    assert a["numberReturned"] == b["numberReturned"] == n


def test_queryables_list_public_fields_with_types(http, base):
    q = get(http, base, f"/collections/{D.PROBE}/queryables").json()["properties"]
    assert q["ma"]["type"] == "integer" and q["gia_tri"]["type"] == "number"
    assert q["hoat_dong"]["type"] == "boolean" and q["ngay"]["format"] == "date-time"
    assert "chu_so_huu" not in q


@pytest.mark.parametrize("epsg,flip", [(4326, True), (3857, False), (9210, False)])
def test_crs_output_matches_postgis_and_sets_content_crs(http, base, ogc_db, epsg, flip):
    resp = get(http, base, f"{PROBE_ITEMS}/7", crs=f"{EPSG}{epsg}")
    assert resp.status_code == 200
    assert resp.headers["Content-Crs"] == f"<{EPSG}{epsg}>"
    x, y = resp.json()["geometry"]["coordinates"]
    ex, ey = db_rows(ogc_db, f"SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(geom, %s) g FROM spp.{D.PROBE} "
                     "WHERE ma = 7) t", (epsg,))[0]
    if flip:
        x, y = y, x
    tol = 1e-6 if epsg == 4326 else 0.01
    assert abs(x - ex) < tol and abs(y - ey) < tol


@pytest.mark.parametrize("epsg", [3857, 9210, 4326])
def test_bbox_crs_selects_the_same_features_as_crs84(http, base, ogc_db, epsg):
    box = (105.72, 10.0, 105.75, 10.03)
    ref = {f["id"] for f in get(http, base, PROBE_ITEMS, bbox=",".join(map(str, box)), limit=10000).json()["features"]}
    x0, y0, x1, y1 = db_rows(ogc_db, "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT "
                             "ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4326), %s)::box2d b) t", (*box, epsg))[0]
    if epsg == 4326:
        x0, y0, x1, y1 = y0, x0, y1, x1  # EPSG:4326 bbox is lat,lon
    inner = (x0 + (x1 - x0) * 0.02, y0 + (y1 - y0) * 0.02, x1 - (x1 - x0) * 0.02, y1 - (y1 - y0) * 0.02)
    got = {f["id"] for f in get(http, base, PROBE_ITEMS, bbox=",".join(map(str, inner)),
                                **{"bbox-crs": f"{EPSG}{epsg}"}, limit=10000).json()["features"]}
    assert got and got <= ref and len(got) > 0.8 * len(ref)


def test_single_item_html_and_vietnamese_text_intact(http, base, ogc_db):
    item = get(http, base, f"{PROBE_ITEMS}/42").json()
    name = db_rows(ogc_db, f"SELECT ten FROM spp.{D.PROBE} WHERE ma = 42")[0][0]
    assert item["properties"]["ten"] == name and "Ninh Kiều" in name
    html = http.get(base + f"{PROBE_ITEMS}/42", params={"f": "html"}, timeout=30)
    assert html.status_code == 200 and "Ninh Kiều" in html.text
    html_list = http.get(base + PROBE_ITEMS, params={"f": "html", "limit": 3}, timeout=30)
    assert html_list.status_code == 200 and "Ninh Kiều" in html_list.text
    ascii_q = get(http, base, "/collections/communes/items", ten="Phường Ninh Kiều")
    assert ascii_q.status_code == 200


def test_every_public_layer_serves_items_equal_to_the_database(http, base, ogc_catalog, ogc_db, public_layers):
    for name in public_layers:
        spec = ogc_catalog.get(name)
        page = get(http, base, f"/collections/{name}/items", limit=10000, skipGeometry="true").json()
        total = db_rows(ogc_db, f'SELECT count(*) FROM spp."{name}"')[0][0]
        if total <= 10000:
            assert page["numberReturned"] == total, name
        field = spec.public_fields[-1].name
        rows = dict(db_rows(ogc_db, f'SELECT "{spec.primary_key}"::text, "{field}" FROM spp."{name}" '
                                    f'ORDER BY 1 LIMIT 50'))
        got = {str(f["id"]): f["properties"].get(field) for f in page["features"]}
        for key, value in rows.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value), (name, key)
            elif value is not None and not hasattr(value, "isoformat"):
                assert got[key] == value, (name, key)


def test_start_server_is_idempotent(ogc_settings, ogc_server, ogc_db):
    from spp.ogc.serve import start_server

    again = start_server(ogc_settings, workers=2, port=int(ogc_server.url.rsplit(":", 1)[1]),
                         restricted_port=int(str(ogc_server.restricted_url).rsplit(":", 1)[1]), db_url=ogc_db)
    assert again == ogc_server
