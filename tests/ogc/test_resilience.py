"""The server survives a PostGIS restart without being restarted itself."""

from __future__ import annotations

import pytest

from tests.ogc import data as D


@pytest.mark.slow
def test_requests_succeed_again_after_postgis_restarts(http, base, settings):
    from spp.store.cluster import cluster_down, cluster_up

    if settings.database_url:
        pytest.skip("SPP_DATABASE_URL points at an external server; this test restarts the private cluster")
    url = f"{base}/collections/{D.PROBE}/items"
    for _ in range(4):  # warm every worker's pool
        assert http.get(url, params={"f": "json", "limit": 2}, timeout=30).status_code == 200
    cluster_down(settings)
    try:
        down = http.get(url, params={"f": "json", "limit": 2}, timeout=30)
        assert down.status_code == 503 and "Traceback" not in down.text
    finally:
        cluster_up(settings)  # waits until the cluster accepts connections
    statuses = [http.get(url, params={"f": "json", "limit": 2}, timeout=30).status_code for _ in range(8)]
    assert statuses == [200] * 8
    tile = http.get(f"{base}/collections/{D.PROBE}/tiles/WebMercatorQuad/14/7735/13005",
                    params={"f": "mvt"}, timeout=30)
    assert tile.status_code == 200
