"""SPP's OGC API (pygeoapi + our providers, gunicorn) vs tipg (uvicorn), same PostGIS table.

    .venv/bin/python benchmarks/ogc.py [--requests 300] [--concurrency 8] [--workers 2]

Both servers read the same database (``spp_bench`` on SPP's PostGIS, filled from the sample
city's communes and buildings), run the same number of workers, and get the same request
list from a bounded thread-pool load generator on 127.0.0.1. tipg 1.6.1 runs from its own
venv (``.spp/tipg-venv``, created by this script when missing). Prints requests/s, p50 and
p95 per row and the SPP/tipg ratio, and writes the table to ``benchmarks/results/ogc.md``.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "ogc.md"
BENCH_DB = "spp_bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_db(settings) -> str:  # type: ignore[no-untyped-def]
    """``spp_bench`` with communes and buildings from the sample city (loaded once)."""
    import shapely

    from spp.catalog import load_catalog
    from spp.errors import DatabaseError, LoadValidationError
    from spp.sample.cache import ensure_sample
    from spp.store.cluster import cluster_up, database_url, ensure_database
    from spp.store.load import load_frame, load_layer
    from spp.store.schema import geometry_type
    from spp.store.sources import read_source

    if not settings.database_url:
        cluster_up(settings)
    ensure_database(settings, BENCH_DB)
    url = database_url(settings, dbname=BENCH_DB)
    catalog = load_catalog(settings.layers_dir)
    files = ensure_sample(settings)
    for name in ("communes", "buildings"):
        spec = catalog.get(name)
        try:
            load_layer(url, spec, files[name])
        except (LoadValidationError, DatabaseError) as exc:  # the sample city may be mid-revision
            print(f"note: {name} sample does not load ({str(exc)[:120]}); loading it unvalidated", file=sys.stderr)
            src = read_source(files[name], layer=name)
            frame = src.frame.to_crs(4326) if src.frame.crs and src.frame.crs.to_epsg() != 4326 else src.frame
            if geometry_type(spec).startswith("Multi"):
                frame = frame.set_geometry(shapely.multipolygons(shapely.get_parts(frame.geometry.values),
                                                                 indices=shapely.get_parts(
                                                                     frame.geometry.values, return_index=True)[1])
                                           if spec.geometry.endswith("Polygon") else frame.geometry)
            load_frame(url, spec, frame, source=files[name].name, sha256="bench", crs_in="EPSG:4326")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE spp.buildings")
    return url


def ensure_tipg_venv() -> Path:
    venv = ROOT / ".spp" / "tipg-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg==1.6.1", "uvicorn"], check=True)
    return python


def wait_up(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def start_tipg(db_url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=db_url, TIPG_DB_SCHEMAS='["spp"]',
               TIPG_DB_EXCLUDE_FUNCTION_SCHEMAS='["public"]', TIPG_MAX_FEATURES_PER_QUERY="10000")
    proc = subprocess.Popen([str(ensure_tipg_venv()), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_up(url + "/collections/spp.buildings")
    return proc, url


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    rad = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n)


def workloads(db_url: str, n: int, seed: int = 1) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """Per row: a list of (path template with {coll}, params); tiles carry their z/x/y."""
    rng = random.Random(seed)
    with psycopg.connect(db_url) as conn:
        total = conn.execute("SELECT count(*) FROM spp.buildings").fetchone()[0]
        ma_xa, = conn.execute("SELECT ma_xa FROM spp.buildings GROUP BY ma_xa ORDER BY count(*) DESC LIMIT 1").fetchone()
        pts = conn.execute("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM spp.buildings "
                           "WHERE ma_xa = %s ORDER BY random() LIMIT %s) t", (ma_xa, n)).fetchall()
        centres = conn.execute("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM spp.buildings "
                               "TABLESAMPLE SYSTEM (5) LIMIT %s) t", (n,)).fetchall()
    max_offset = max(0, min(10_000, total - 100))
    rows: dict[str, list[tuple[str, dict[str, str]]]] = {}
    rows["items: 100-item page of buildings (random offset < 10k)"] = [
        ("items", {"limit": "100", "offset": str(rng.randint(0, max_offset))}) for _ in range(n)]
    rows["bbox inside one commune (≈0.01°, limit 100)"] = [
        ("items", {"limit": "100", "bbox": f"{x - 0.005:.5f},{y - 0.005:.5f},{x + 0.005:.5f},{y + 0.005:.5f}"})
        for x, y in (pts[i % len(pts)] for i in range(n))]
    rows["CQL2 filter (use = 'residential' AND floors >= 3, limit 100)"] = [
        ("items", {"limit": "100", "filter-lang": "cql2-text",
                   "filter": f"use = 'residential' AND floors >= {rng.choice([2, 3, 4])}",
                   "offset": str(rng.randint(0, 200))}) for _ in range(n)]
    for layer, zooms, label in (
        ("buildings", (14, 15), "vector tiles of buildings z14–z15 (catalogue min_zoom 14: SPP answers 404 below)"),
        ("communes", (12, 13, 14, 15), "vector tiles of communes z12–z15"),
    ):
        tiles = []
        for i in range(n):
            z = zooms[i % len(zooms)]
            x, y = centres[i % len(centres)]
            col, row = tile_of(x, y, z)
            tiles.append(("tile", {"layer": layer, "z": str(z), "x": str(col), "y": str(row)}))
        rows[label] = tiles
    return rows


def to_url(server: str, base: str, kind: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    if server == "spp":
        if kind == "tile":
            tile = f"{params['z']}/{params['y']}/{params['x']}"
            return f"{base}/collections/{params['layer']}/tiles/WebMercatorQuad/{tile}", {"f": "mvt"}
        return f"{base}/collections/buildings/items", {"f": "json", **params}
    if kind == "tile":
        tile = f"{params['z']}/{params['x']}/{params['y']}"
        return f"{base}/collections/spp.{params['layer']}/tiles/WebMercatorQuad/{tile}", {}
    return f"{base}/collections/spp.buildings/items", {"f": "geojson", **params}


def run_row(server: str, base: str, work: list[tuple[str, dict[str, str]]], concurrency: int) -> dict[str, float]:
    local = threading.local()

    def one(item: tuple[str, dict[str, str]]) -> tuple[float, int]:
        if not hasattr(local, "s"):
            local.s = requests.Session()
        url, params = to_url(server, base, *item)
        t0 = time.perf_counter()
        resp = local.s.get(url, params=params, timeout=120)
        _ = resp.content
        return time.perf_counter() - t0, resp.status_code

    with ThreadPoolExecutor(concurrency) as pool:  # warm-up
        list(pool.map(one, work[: min(20, len(work))]))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, work))
    wall = time.perf_counter() - t0
    lat = sorted(r[0] for r in results)
    bad = sum(1 for r in results if r[1] >= 400)
    return {"rps": len(results) / wall, "p50": statistics.median(lat) * 1000,
            "p95": lat[int(0.95 * (len(lat) - 1))] * 1000, "errors": bad}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per row and server")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from spp.ogc.serve import start_server, stop_server
    from spp.settings import get_settings

    settings = get_settings()
    db_url = prepare_db(settings)
    bench_settings = settings.model_copy(update={"state_dir": settings.state / "bench", "api_keys": None,
                                                 "api_keys_file": None})
    spp = start_server(bench_settings, workers=args.workers, port=free_port(), db_url=db_url)
    tipg, tipg_url = start_tipg(db_url, args.workers)
    try:
        rows = workloads(db_url, args.requests)
        with psycopg.connect(db_url) as conn:
            n_buildings = conn.execute("SELECT count(*) FROM spp.buildings").fetchone()[0]
        lines = [
            "# OGC API benchmark: SPP (pygeoapi 0.21 + SPP providers, gunicorn) vs tipg 1.6.1 (uvicorn)",
            "",
            (f"Same PostGIS table `spp.buildings` ({n_buildings:,} polygons), {args.workers} workers each, "
             f"concurrency {args.concurrency}, {args.requests} requests per row (after 20 warm-up), "
             f"Python thread-pool load generator on 127.0.0.1, {os.cpu_count()} cores; run "
             "`.venv/bin/python benchmarks/ogc.py`."),
            "",
            "| request | SPP req/s | SPP p50 ms | SPP p95 ms | tipg req/s | tipg p50 ms | tipg p95 ms | ratio SPP/tipg |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label, work in rows.items():
            a = run_row("spp", spp.url, work, args.concurrency)
            b = run_row("tipg", tipg_url, work, args.concurrency)
            errors = f" (errors: SPP {a['errors']:.0f}, tipg {b['errors']:.0f})" if a["errors"] or b["errors"] else ""
            lines.append(f"| {label}{errors} | {a['rps']:.1f} | {a['p50']:.0f} | {a['p95']:.0f} | {b['rps']:.1f} | "
                         f"{b['p50']:.0f} | {b['p95']:.0f} | {a['rps'] / b['rps']:.2f} |")
            print(lines[-1], flush=True)
        text = "\n".join(lines) + "\n"
        print(text)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text, encoding="utf-8")
    finally:
        os.killpg(tipg.pid, 15)
        stop_server(bench_settings)


if __name__ == "__main__":
    main()
