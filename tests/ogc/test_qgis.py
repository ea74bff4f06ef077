"""QGIS as a client: the brief asks that QGIS read our OGC API without plugins. QGIS 3.22's
``OAPIF`` provider (apt ``python3-qgis qgis-providers``) reads the live public endpoint in a
subprocess of the system Python (``tests/ogc/qgis_client.py``), and what it saw is compared
with PostGIS."""

from __future__ import annotations

import json
import os
import subprocess
import unicodedata
from pathlib import Path

import pytest

from tests.ogc.conftest import db_rows

SYSTEM_PYTHON = "/usr/bin/python3"
APT_COMMAND = "apt-get install -y --no-install-recommends python3-qgis qgis-providers"
CLIENT = Path(__file__).with_name("qgis_client.py")
PAGE_SIZE = 40  # below the 103 communes and the pump stations: QGIS must page through them
# around Ninh Kiều, (minx, miny, maxx, maxy) in CRS84; in the second one a commune's bounding
# box touches the rectangle but its geometry does not, so a bounding-box filter would fail
NINH_KIEU_BBOXES = ((105.76, 10.01, 105.80, 10.05), (105.77, 10.01, 105.81, 10.05))


def _qgis_installed() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True,
                          timeout=60, check=False).returncode == 0


@pytest.fixture(scope="module")
def qgis_installed() -> None:
    if not _qgis_installed():
        pytest.skip(f"QGIS's Python bindings are not installed for {SYSTEM_PYTHON}: {APT_COMMAND}")


def _uri(base: str, collection: str, *, restrict: bool = False) -> str:
    """A data source of the OAPIF provider; ``restrict``: ask the server for the request's
    rectangle (``bbox=``) instead of downloading the whole layer and filtering in QGIS."""
    uri = f"url='{base}' typename='{collection}' pagingEnabled='true' pageSize='{PAGE_SIZE}'"
    return uri + (" restrictToRequestBBOX='1'" if restrict else "")


def _run_qgis(tmp_path: Path, layers: list[dict[str, object]]) -> dict:
    """What ``qgis_client.py`` saw, run headless with every file QGIS writes under ``tmp_path``."""
    profile, runtime = tmp_path / "qgis-profile", tmp_path / "xdg-runtime"
    profile.mkdir()
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime), HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_DATA_HOME=str(tmp_path / "data"), NO_PROXY="127.0.0.1,localhost")
    out = subprocess.run([SYSTEM_PYTHON, "-X", "faulthandler", str(CLIENT)],
                         input=json.dumps({"profile": str(profile), "layers": layers}),
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.mark.slow
def test_qgis_oapif_reads_communes_and_pump_stations_as_postgis_has_them(qgis_installed, base, ogc_db,
                                                                         ogc_settings, tmp_path):
    seen = _run_qgis(tmp_path, [
        {"name": "communes", "uri": _uri(base, "communes"), "key": "ma_xa", "text": "ten",
         "area": True, "bboxes": NINH_KIEU_BBOXES},
        {"name": "communes_in_box", "uri": _uri(base, "communes", restrict=True), "key": "ma_xa",
         "bboxes": NINH_KIEU_BBOXES},
        {"name": "pump_stations", "uri": _uri(base, "pump_stations"), "key": "station_id"},
    ])
    assert seen["qgis"].startswith("3.") and "OAPIF" in seen["providers"], seen
    layers = seen["layers"]
    for name, layer in layers.items():
        assert layer["valid"], (name, layer["error"], seen["log"])
        # QGIS 3.22 takes the CRS84 of OGC API Features as EPSG:4326 with x = longitude (the
        # rectangles and areas below would be wrong if the axes were swapped)
        assert layer["crs"] == "EPSG:4326", name
        # QGIS makes an "id" field of the feature-level id, which is the primary key
        assert layer["ids"] == layer["keys"], name
    communes, pumps = layers["communes"], layers["pump_stations"]

    # every commune, once, with its Vietnamese name intact
    rows = db_rows(ogc_db, "SELECT ma_xa, ten FROM spp.communes")
    assert communes["wkb_type"] == "MultiPolygon"
    assert communes["count"] == len(rows) == len(set(communes["keys"])), seen["log"]
    assert set(communes["keys"]) == {r[0] for r in rows}
    # QGIS 3.22 knows the count only once it has read the layer (it makes no count request)
    assert communes["count_after"] == len(rows)
    assert all(unicodedata.is_normalized("NFC", t) for t in communes["texts"])
    assert set(communes["texts"]) == {r[1] for r in rows}
    assert "Phường Ninh Kiều" in communes["texts"]

    # geodesic area on the WGS84 ellipsoid, QGIS against PostGIS's geography
    area_km2 = db_rows(ogc_db, "SELECT sum(ST_Area(geom::geography)) / 1e6 FROM spp.communes")[0][0]
    assert communes["area_units"] == "square meters"
    assert communes["area_km2"] == pytest.approx(area_km2, rel=0.005)

    # rectangle requests, filtered by QGIS on the downloaded layer and by our server (bbox=):
    # exactly the communes PostGIS says intersect each
    for i, bbox in enumerate(NINH_KIEU_BBOXES):
        in_box = sorted(r[0] for r in db_rows(ogc_db, "SELECT ma_xa FROM spp.communes WHERE "
                                              "ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))", bbox))
        assert 0 < len(in_box) < len(rows)
        assert communes["bbox_keys"][i] == in_box, bbox
        assert layers["communes_in_box"]["bbox_keys"][i] == in_box, bbox
    only_envelope = db_rows(ogc_db, "SELECT count(*) FROM spp.communes WHERE geom && ST_MakeEnvelope("
                                    "%s, %s, %s, %s, 4326)", NINH_KIEU_BBOXES[1])[0][0]
    assert only_envelope > len(communes["bbox_keys"][1])
    access_log = (ogc_settings.state / "ogc" / "public-access.log").read_text(encoding="utf-8")
    assert any("/collections/communes/items?" in line and "bbox=" in line and "QGIS/" in line
               for line in access_log.splitlines())

    # a point layer, paged too
    stations = db_rows(ogc_db, "SELECT station_id::text FROM spp.pump_stations")
    assert pumps["wkb_type"] == "Point"
    assert pumps["count"] == len(stations) > PAGE_SIZE
    assert sorted(pumps["keys"]) == sorted(r[0] for r in stations)
