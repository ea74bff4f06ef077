"""``spp map export`` and :mod:`spp.mapping`: layers inline, names intact, restricted data out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
from click.testing import CliRunner
from shapely.geometry import Point, box

from spp.catalog import Catalog
from spp.errors import LayerNotFoundError
from spp.mapping import build_map, public_frame, render_html

_ADD = re.compile(r"geo_json_[0-9a-f]+_add\(")


def geojson_blocks(html: str) -> list[dict]:
    """Every GeoJSON FeatureCollection folium embedded in the page, decoded."""
    decoder = json.JSONDecoder()
    blocks = []
    for match in _ADD.finditer(html):
        data, _ = decoder.raw_decode(html, match.end())
        if isinstance(data, dict) and data.get("type") == "FeatureCollection":
            blocks.append(data)
    return blocks


@pytest.fixture
def export(sample_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Run ``spp map export`` against the test database; returns (result, html path)."""
    import spp.store.db
    from spp.cli.main import cli

    monkeypatch.setattr(spp.store.db, "url", lambda settings, **kw: sample_db)

    def run(*args: str) -> tuple[object, Path]:
        out = tmp_path / "map.html"
        result = CliRunner().invoke(cli, ["map", "export", *args, "--out", str(out), "--overwrite"])
        return result, out

    return run


def _count(db_url: str, sql: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_export_holds_every_feature_of_every_requested_layer(export, sample_db: str) -> None:
    result, out = export("--layers", "communes,pump_stations")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    blocks = geojson_blocks(html)
    sizes = sorted(len(b["features"]) for b in blocks)
    assert sizes == sorted([_count(sample_db, "SELECT count(*) FROM spp.communes"),
                            _count(sample_db, "SELECT count(*) FROM spp.pump_stations")])
    # vi / en titles in the layer control (folium writes JSON strings, \\u-escaped)
    title = "Xã, phường (từ 01/7/2025) / Communes and wards (since 1 July 2025)"
    assert title in html or json.dumps(title) in html
    assert "tile.openstreetmap.org" not in html  # offline by default


def test_commune_export_keeps_vietnamese_names_and_only_nearby_features(export,
                                                                       sample_db: str) -> None:
    result, out = export("--layers", "communes,pump_stations", "--commune", "ninh kieu",
                         "--basemap", "osm")
    assert result.exit_code == 0, result.output
    assert "Phường Ninh Kiều" in result.output
    html = out.read_text(encoding="utf-8")
    blocks = geojson_blocks(html)
    names = {f["properties"].get("ten") for b in blocks for f in b["features"]}
    assert "Phường Ninh Kiều" in names and "Phường Cái Khế" in names  # neighbours for context
    total = _count(sample_db, "SELECT count(*) FROM spp.communes")
    communes = [b for b in blocks if any("ma_xa" in f["properties"] and "ten" in f["properties"]
                                         for f in b["features"])]
    assert communes and all(len(b["features"]) < total for b in communes)
    assert "tile.openstreetmap.org" in html


def test_restricted_fields_never_reach_the_html(export, sample_db: str) -> None:
    owners = [r[0] for r in psycopg.connect(sample_db).execute(
        "SELECT owner_name FROM spp.land_parcels WHERE owner_name IS NOT NULL LIMIT 20")]
    assert owners
    result, out = export("--layers", "land_parcels", "--commune", "Ninh Kiều")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    blocks = geojson_blocks(html)
    assert blocks and all("owner_name" not in f["properties"] for b in blocks for f in b["features"])
    assert "owner_name" not in html
    decoded = json.dumps(blocks, ensure_ascii=False)
    assert not any(o in decoded or o in html for o in owners)


def test_unknown_layer_or_commune_exits_1_with_one_line(export) -> None:
    result, _ = export("--layers", "communes,no_such_layer")
    assert result.exit_code == 1 and "no layer 'no_such_layer'" in result.output
    result, _ = export("--layers", "communes", "--commune", "Atlantis")
    assert result.exit_code == 1 and "Atlantis" in result.output


def test_restricted_layer_is_refused(catalog: Catalog) -> None:
    spec = catalog.get("pump_stations").model_copy(update={"access": "restricted"})
    frame = gpd.GeoDataFrame({"station_id": ["a"]}, geometry=[Point(105.78, 10.03)], crs=4326)
    with pytest.raises(LayerNotFoundError, match="restricted"):
        build_map([(spec, frame)])


def test_public_frame_drops_restricted_and_undescribed_columns(catalog: Catalog) -> None:
    spec = catalog.get("land_parcels")
    fields = {f.name: "x" for f in spec.public_fields}
    frame = gpd.GeoDataFrame({**{k: [v] for k, v in fields.items()}, "owner_name": ["Nguyễn Văn A"],
                              "secret": [1]}, geometry=[box(105.78, 10.03, 105.79, 10.04)],
                             crs=4326)
    out = public_frame(spec, frame.to_crs(9210))
    assert "owner_name" not in out and "secret" not in out
    assert set(fields) <= set(out.columns) and out.crs.to_epsg() == 4326
    html = render_html(build_map([(spec, frame)]))
    assert "Nguy" not in html and "owner_name" not in html
