"""A map from ``spp.mapping`` (what ``spp map export`` writes) opens from a file with no
network: Leaflet is inline, features and the raster legend draw, nothing is fetched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Point, box

from spp.catalog import Catalog
from spp.mapping import add_raster, build_map, save_map

pytestmark = pytest.mark.slow


def test_exported_map_draws_offline_from_a_file(browser: Any, catalog: Catalog, tmp_path: Path) -> None:
    communes = gpd.GeoDataFrame({"ma_xa": ["31001", "31002"], "ten": ["Phường Ninh Kiều", "Xã Mỹ Khánh"]},
                                geometry=[box(105.76, 10.01, 105.79, 10.04), box(105.70, 10.00, 105.74, 10.03)],
                                crs=4326)
    pumps = gpd.GeoDataFrame({"name": ["Trạm bơm Cái Khế"]}, geometry=[Point(105.78, 10.035)], crs=4326)
    m = build_map([(catalog.get("communes"), communes), (catalog.get("pump_stations"), pumps)],
                  layer_control=False)
    depth = np.linspace(0.0, 2.0, 40 * 40).reshape(40, 40)
    add_raster(m, depth, transform=Affine(50.0, 0, 578000.0, 0, -50.0, 1110000.0), crs="EPSG:32648",
               name="Độ sâu ngập (m)", vmin=0.0, vmax=2.0)
    out = save_map(m, tmp_path / "map.html")
    html = out.read_text(encoding="utf-8")
    assert 'src="http' not in html and 'rel="stylesheet" href="http' not in html

    browser.get("about:blank")
    browser.get_log("browser")
    browser.get(out.as_uri())
    assert browser.execute_script("return typeof L === 'object' && L.version") == "1.9.4"
    names = browser.execute_script(
        "const m = window[Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))]; const out = [];"
        "m.eachLayer(l => { if (l.feature && l._map) out.push(l.feature.properties.ten || l.feature.properties.name); });"
        "return out.sort()")
    assert names == sorted(["Phường Ninh Kiều", "Xã Mỹ Khánh", "Trạm bơm Cái Khế"])
    assert browser.execute_script("return document.querySelectorAll('canvas.leaflet-zoom-animated').length") >= 1
    assert browser.execute_script("return document.querySelectorAll('.leaflet-image-layer').length") == 1
    legend = browser.execute_script("return document.querySelector('.spp-legend').innerText")
    assert "Độ sâu ngập (m)" in legend and "2" in legend
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => /^https?:/.test(n))")
    assert fetched == []
    assert [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
