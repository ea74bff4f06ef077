"""The whole sample city through the loader: every layer present, real names intact."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import psycopg

from spp.catalog import Catalog
from spp.store.query import read_layer

VENDORED = Path(__file__).resolve().parents[2] / "spp" / "sample" / "data" / "cantho_2025_communes.geojson"


def test_every_sample_layer_is_live_with_the_file_row_count(sample_db: str, catalog: Catalog,
                                                            sample_files: dict[str, Path]) -> None:
    with psycopg.connect(sample_db) as conn:
        live = dict(conn.execute("SELECT layer, row_count FROM spp_meta.versions WHERE valid_to IS NULL").fetchall())
        for spec in catalog:
            if spec.sample is None:
                continue
            assert spec.name in live, f"{spec.name} not loaded"
            count = conn.execute(f'SELECT count(*) FROM spp."{spec.name}"').fetchone()
            assert count is not None and count[0] == live[spec.name] > 0


def test_real_commune_names_survive_file_to_postgis_to_python(sample_db: str, catalog: Catalog) -> None:
    source = json.loads(VENDORED.read_text(encoding="utf-8"))
    want = {f["properties"]["ma_xa"]: f["properties"]["ten"] for f in source["features"]}
    got = read_layer(sample_db, catalog.get("communes"), columns=["ma_xa", "ten"])
    assert dict(zip(got.ma_xa, got.ten)) == {k: unicodedata.normalize("NFC", v) for k, v in want.items()}
    assert len(got) == 103
    assert {"Phường Ninh Kiều", "Phường Cái Răng", "Xã Cù Lao Dung", "Phường Sóc Trăng"} <= set(got.ten)
