"""Citizen field reports: OGC API - Features Part 4 create on the API-key endpoint, moderation
with ``spp reports review``, approved-only public collection, and the flood hit rate."""

from __future__ import annotations

import json
import os
import unicodedata
import uuid
from collections.abc import Iterator

import geopandas as gpd
import psycopg
import pytest
import requests
import shapely
from click.testing import CliRunner

from spp.reports import MAX_DESCRIPTION_CHARS, flood_hit_rates
from tests.ogc.conftest import db_rows

ITEMS = "/collections/field_reports/items"
NINH_KIEU = [105.7835, 10.0341]  # Bến Ninh Kiều, inside the city
GEOJSON = "application/geo+json"


def feature(**props: object) -> dict[str, object]:
    properties = {"category": "flooded_street", "description": "Ngập 20 cm trên đường Hai Bà Trưng", **props}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": NINH_KIEU},
            "properties": {k: v for k, v in properties.items() if v is not None}}


def post(http: requests.Session, url: str, body: object, key: str | None, *,
         content_type: str = GEOJSON) -> requests.Response:
    headers = {"Content-Type": content_type}
    if key is not None:
        headers["X-API-Key"] = key
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return http.post(url + ITEMS, data=data, headers=headers, timeout=30)


def count(db: str) -> int:
    rows = db_rows(db, "SELECT count(*) FROM spp.field_reports")
    return int(rows[0][0])  # type: ignore[call-overload]


@pytest.fixture()
def create(http: requests.Session, restricted_base: str, api_key: str):  # type: ignore[no-untyped-def]
    """POST a report with the key; return its id (asserting 201 + Location)."""
    def _create(body: object) -> str:
        resp = post(http, restricted_base, body, api_key)
        assert resp.status_code == 201, resp.text
        location = resp.headers["Location"]
        assert location.startswith(f"{restricted_base}{ITEMS}/")
        return location.rsplit("/", 1)[1]
    return _create


@pytest.fixture()
def cli_db(ogc_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import spp.store.db

    monkeypatch.setattr(spp.store.db, "url", lambda settings, **kw: ogc_db)
    return ogc_db


def review(report_id: str, *args: str) -> object:
    from spp.cli.main import cli

    return CliRunner().invoke(cli, ["reports", "review", report_id, *args])


def public_get(http: requests.Session, base: str, report_id: str) -> requests.Response:
    return http.get(f"{base}{ITEMS}/{report_id}", params={"f": "json"}, timeout=30)


def test_create_with_a_key_answers_201_with_location_and_stores_a_pending_report(
        http, restricted_base, api_key, create, ogc_db):
    report_id = create(feature(observed_at="2026-01-01T07:30:00+07:00"))
    assert uuid.UUID(report_id)
    resp = http.get(f"{restricted_base}{ITEMS}/{report_id}", params={"f": "json"},
                    headers={"X-API-Key": api_key}, timeout=30)
    assert resp.status_code == 200
    body = resp.json()
    assert body["geometry"]["coordinates"] == NINH_KIEU
    props = body["properties"]
    assert props["status"] == "pending" and props["category"] == "flooded_street"
    assert props["reviewed_by"] is None and props["received_at"]
    assert db_rows(ogc_db, "SELECT observed_at = '2026-01-01T00:30:00Z' FROM spp.field_reports "
                           "WHERE report_id = %s", (report_id,)) == [(True,)]


def test_a_charset_parameter_on_the_media_type_is_accepted(http, restricted_base, api_key):
    resp = post(http, restricted_base, feature(), api_key, content_type="application/geo+json; charset=utf-8")
    assert resp.status_code == 201, resp.text


def test_without_a_key_401_with_a_wrong_key_403_and_nothing_stored(http, restricted_base, api_key, create,
                                                                    ogc_db):
    create(feature())  # the table exists
    before = count(ogc_db)
    assert post(http, restricted_base, feature(), None).status_code == 401
    assert post(http, restricted_base, feature(), "wrong-key-0123456789").status_code == 403
    assert post(http, restricted_base, feature(), api_key[:-1]).status_code == 403
    assert count(ogc_db) == before


def test_the_public_endpoint_refuses_to_create(http, base, ogc_db, create):
    create(feature())
    before = count(ogc_db)
    resp = post(http, base, feature(), None)
    assert resp.status_code in (400, 405)
    assert count(ogc_db) == before


LINE = {"type": "LineString", "coordinates": [NINH_KIEU, [105.79, 10.04]]}


@pytest.mark.parametrize(("body", "message"), [
    ({**feature(), "geometry": {"type": "Point", "coordinates": [105.8542, 21.0285]}}, "outside Can Tho"),
    ({**feature(), "geometry": LINE}, "must be a GeoJSON Point"),
    ({**feature(), "geometry": {"type": "Point", "coordinates": ["105.78", 10.03]}}, "finite numbers"),
    (feature(category="ufo_sighting"), "is not one of"),
    (feature(category=None), "category: required"),
    (feature(description="x" * (MAX_DESCRIPTION_CHARS + 1)), f"at most {MAX_DESCRIPTION_CHARS}"),
    (feature(description="nul\x00byte"), "control characters"),
    (feature(status="approved"), "set by the server"),
    (feature(reviewed_by="me"), "set by the server"),
    (feature(phone="0901234567"), "unknown field"),
    (feature(observed_at="yesterday"), "ISO 8601"),
    (feature(observed_at="2999-01-01T00:00:00Z"), "future"),
    ({"type": "FeatureCollection", "features": []}, "one GeoJSON Feature"),
    (b"{not json", "not valid JSON"),
    ("Cần Thơ".encode("utf-16"), "not UTF-8"),
], ids=["outside-city", "not-a-point", "string-coordinate", "unknown-category", "no-category", "oversize-text",
        "nul", "status", "reviewer", "unknown-field", "bad-time", "future", "collection", "not-json", "utf16"])
def test_invalid_reports_answer_400_with_a_clear_message_and_store_nothing(
        http, restricted_base, api_key, create, ogc_db, body, message):
    create(feature())
    before = count(ogc_db)
    resp = post(http, restricted_base, body, api_key)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["description"], resp.text
    assert "Traceback" not in resp.text
    assert count(ogc_db) == before


def test_a_point_inside_the_bbox_but_outside_the_city_outline_is_refused(http, restricted_base, api_key,
                                                                        create, ogc_db):
    create(feature())
    outside = [105.19, 10.36]  # An Giang, inside the city's bbox
    outline = "city_boundary" if db_rows(ogc_db, "SELECT to_regclass('spp.city_boundary')")[0][0] else "communes"
    assert db_rows(ogc_db, f"SELECT bool_or(ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))) "
                           f"FROM spp.{outline}", tuple(outside)) == [(False,)]
    before = count(ogc_db)
    resp = post(http, restricted_base, {**feature(), "geometry": {"type": "Point", "coordinates": outside}},
                api_key)
    assert resp.status_code == 400 and "outside Can Tho city" in resp.json()["description"]
    assert count(ogc_db) == before


def test_an_oversize_body_is_refused_before_it_is_read(http, restricted_base, api_key):
    resp = post(http, restricted_base, b"{" + b" " * 70_000 + b"}", api_key)
    assert resp.status_code == 413


def test_pending_and_rejected_reports_are_not_public_approved_ones_are_without_reviewer_fields(
        http, base, create, cli_db):
    pending, approved, rejected = (create(feature(description=f"báo cáo {i}")) for i in range(3))
    for report_id in (pending, approved, rejected):
        assert public_get(http, base, report_id).status_code == 404
    result = review(approved, "--approve", "--by", "Trần Thị Kiểm Duyệt")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert review(rejected, "--reject").exit_code == 0  # type: ignore[attr-defined]

    resp = public_get(http, base, approved)
    assert resp.status_code == 200
    props = resp.json()["properties"]
    assert props["status"] == "approved" and props["description"] == "báo cáo 1"
    assert "reviewed_by" not in props and "reviewed_at" not in props
    assert "Kiểm Duyệt".encode() not in resp.content
    for report_id in (pending, rejected):
        assert public_get(http, base, report_id).status_code == 404
    listed = http.get(base + ITEMS, params={"f": "json", "limit": 10_000}, timeout=30).json()
    ids = {f["id"] for f in listed["features"]}
    assert approved in ids and pending not in ids and rejected not in ids
    assert {f["properties"]["status"] for f in listed["features"]} == {"approved"}
    hits = http.get(base + ITEMS, params={"f": "json", "filter": "status = 'pending'"}, timeout=30)
    assert hits.status_code == 200 and hits.json()["features"] == []
    csv = http.get(base + ITEMS, params={"f": "csv", "limit": 10_000}, timeout=30)
    assert pending.encode() not in csv.content and b"reviewed_by" not in csv.content
    queryables = http.get(f"{base}/collections/field_reports/queryables", params={"f": "json"}, timeout=30)
    assert "reviewed_by" not in queryables.text


def test_review_needs_overwrite_to_change_a_decision_and_a_known_id(create, cli_db):
    report_id = create(feature())
    assert review(report_id, "--approve", "--by", "a").exit_code == 0  # type: ignore[attr-defined]
    again = review(report_id, "--reject", "--by", "b")
    assert again.exit_code == 1 and "already approved" in again.output  # type: ignore[attr-defined]
    assert review(report_id, "--reject", "--by", "b", "--overwrite").exit_code == 0  # type: ignore[attr-defined]
    assert db_rows(cli_db, "SELECT status, reviewed_by FROM spp.field_reports WHERE report_id = %s",
                   (report_id,)) == [("rejected", "b")]
    unknown = review(str(uuid.uuid4()), "--approve")
    assert unknown.exit_code == 1 and "no field report" in unknown.output  # type: ignore[attr-defined]


def test_reports_list_shows_pending_ones(create, cli_db):
    from spp.cli.main import cli

    report_id = create(feature(description="Đèn đường hỏng", category="broken_street_light"))
    result = CliRunner().invoke(cli, ["reports", "list", "--status", "pending", "--limit", "10000"])
    assert result.exit_code == 0 and report_id in result.output and "Đèn đường hỏng" in result.output
    geojson = CliRunner().invoke(cli, ["reports", "list", "--status", "pending", "--format", "geojson"])
    assert json.loads(geojson.output)["type"] == "FeatureCollection"


def test_sql_in_the_text_is_stored_verbatim_and_harmless(http, restricted_base, api_key, create, ogc_db):
    nasty = "x'); DROP TABLE spp.field_reports; -- \" \\ %s %(x)s ${SPP_PG_PASSWORD} <script>alert(1)</script>"
    report_id = create(feature(description=nasty))
    assert db_rows(ogc_db, "SELECT description FROM spp.field_reports WHERE report_id = %s",
                   (report_id,)) == [(nasty,)]
    resp = http.get(f"{restricted_base}{ITEMS}/{report_id}", params={"f": "json"},
                    headers={"X-API-Key": api_key}, timeout=30)
    assert resp.json()["properties"]["description"] == nasty
    assert count(ogc_db) >= 1


def test_vietnamese_text_is_stored_intact_and_nfc(http, restricted_base, api_key, create, ogc_db):
    text = "Nước ngập tới đầu gối ở hẻm 51, phường Ninh Kiều — cống bị nghẹt rác 🌧"
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    report_id = create(feature(description=decomposed))
    assert db_rows(ogc_db, "SELECT description FROM spp.field_reports WHERE report_id = %s",
                   (report_id,)) == [(text,)]
    resp = http.get(f"{restricted_base}{ITEMS}/{report_id}", params={"f": "json"},
                    headers={"X-API-Key": api_key}, timeout=30)
    assert resp.json()["properties"]["description"] == text


# -- flood hit rate ----------------------------------------------------------------------------


def _hand_case() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Two communes side by side; a shallow flood over A's west half, a deep one over B's east part."""
    communes = gpd.GeoDataFrame({"ma_xa": ["A", "B", "C"], "ten": ["Xã A", "Phường B", "Xã C"]},
                                geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10),
                                          shapely.box(20, 0, 30, 10)], crs=4326)
    extents = gpd.GeoDataFrame({"depth_min_m": [0.1, 0.5]},
                               geometry=[shapely.box(0, 0, 5, 10), shapely.box(15, 0, 20, 10)], crs=4326)
    rows = [  # (x, y, category, status)
        (1, 1, "flooded_street", "approved"),    # A hit (shallow)
        (5, 5, "flooded_street", "approved"),    # A hit: on the extent's edge counts
        (8, 8, "flooded_street", "approved"),    # A miss
        (1, 5, "flooded_street", "pending"),     # not counted: pending
        (2, 2, "flooded_street", "rejected"),    # not counted: rejected
        (1, 6, "broken_street_light", "approved"),  # not counted: other category
        (16, 1, "flooded_street", "approved"),   # B hit (deep)
        (12, 1, "flooded_street", "approved"),   # B miss
        (50, 50, "flooded_street", "approved"),  # outside every commune: left out
    ]
    reports = gpd.GeoDataFrame({"category": [r[2] for r in rows], "status": [r[3] for r in rows]},
                               geometry=[shapely.Point(r[0], r[1]) for r in rows], crs=4326)
    return reports, extents, communes


def test_flood_hit_rate_per_commune_matches_the_hand_computed_case():
    reports, extents, communes = _hand_case()
    out = flood_hit_rates(reports, extents, communes)
    assert out.to_dict("records") == [
        {"commune_id": "A", "commune_name": "Xã A", "reports": 3, "hits": 2, "hit_share": pytest.approx(2 / 3)},
        {"commune_id": "B", "commune_name": "Phường B", "reports": 2, "hits": 1, "hit_share": 0.5},
    ]
    deep = flood_hit_rates(reports, extents, communes, min_depth_m=0.3)
    assert deep[["commune_id", "hits"]].values.tolist() == [["A", 0], ["B", 1]]
    none = flood_hit_rates(reports, extents.iloc[:0], communes)
    assert none["hits"].tolist() == [0, 0]
    empty = flood_hit_rates(reports[reports["status"] == "pending"], extents, communes)
    assert empty.empty and list(empty.columns) == ["commune_id", "commune_name", "reports", "hits", "hit_share"]
    with pytest.raises(ValueError, match="one CRS"):
        flood_hit_rates(reports.to_crs(9210), extents, communes)


@pytest.fixture()
def scratch_db(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of its own (flood_extents must be absent, then hold one hand-made run)."""
    import spp.store.db
    from spp.store.cluster import database_url, drop_database, ensure_database

    name = f"spp_test_{os.getpid()}_reports"
    drop_database(settings, name)
    ensure_database(settings, name)
    url = database_url(settings, dbname=name)
    monkeypatch.setattr(spp.store.db, "url", lambda s, **kw: url)
    yield url
    drop_database(settings, name)


def test_flood_hits_command_says_when_no_run_is_stored_and_compares_with_the_latest_run(
        scratch_db, catalog):
    from spp.cli.main import cli
    from spp.store.load import load_frame
    from tests.ogc import data as D
    from tests.ogc.conftest import COMMUNES_FILE

    D.load_communes(scratch_db, catalog, COMMUNES_FILE)
    runner = CliRunner()
    missing = runner.invoke(cli, ["reports", "flood-hits"])
    assert missing.exit_code == 1 and "flood_extents is not loaded" in missing.output

    with psycopg.connect(scratch_db) as conn:
        ma_xa, x, y = conn.execute("SELECT ma_xa, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                                   "FROM spp.communes ORDER BY ma_xa LIMIT 1").fetchone()
    square = shapely.MultiPolygon([shapely.box(x - 0.001, y - 0.001, x + 0.001, y + 0.001)])
    spec = catalog.get("flood_extents")
    extents = gpd.GeoDataFrame({"extent_id": ["old/0.1-0.3m", "new/0.1-0.3m"], "run_id": ["a-old", "b-new"],
                                "depth_class": ["0.1-0.3m"] * 2, "depth_min_m": [0.1, 0.1],
                                "depth_max_m": [0.3, 0.3], "area_km2": [0.05, 0.05]},
                               geometry=[shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]), square], crs=4326)
    extents = extents[[f.name for f in spec.fields] + ["geometry"]]
    load_frame(scratch_db, spec, extents, source="test", sha256="flood-hits-test", crs_in="EPSG:4326")
    assert runner.invoke(cli, ["reports", "list"]).exit_code == 0  # creates the table
    with psycopg.connect(scratch_db) as conn:
        for i, (px, py) in enumerate([(x, y), (x + 0.0005, y), (x + 0.0015, y)]):
            conn.execute("INSERT INTO spp.field_reports (report_id, category, observed_at, status, reviewed_by, "
                         "reviewed_at, geom) VALUES (%s, 'flooded_street', now(), 'approved', 't', now(), "
                         "ST_SetSRID(ST_MakePoint(%s, %s), 4326))", (f"r{i}", px, py))
    result = runner.invoke(cli, ["reports", "flood-hits"])
    assert result.exit_code == 0, result.output
    assert "flood run b-new: 2 of 3" in result.output and ma_xa in result.output
    old = runner.invoke(cli, ["reports", "flood-hits", "--run", "a-old"])
    assert "0 of 3" in old.output
