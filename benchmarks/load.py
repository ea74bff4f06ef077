#!/usr/bin/env python
"""Validated load (SPP) vs ogr2ogr -f PostgreSQL in COPY mode, same files, same database.

Prints a Markdown table: rows, median wall seconds over the runs (each a whole process:
interpreter start, read, validate, COPY, indexes), rows/s and the ratio SPP/ogr2ogr of
rows/s (> 1 means SPP is faster). Runs alternate SPP, ogr2ogr, SPP, … so drift in machine
speed hits both. Inputs (≈1 M points, ≈200 k polygons, GeoPackage) are generated once into
.spp/bench/. Usage: .venv/bin/python benchmarks/load.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _spp_once(url: str, kind: str, path: str) -> None:
    import _bench_data as b

    from spp.store.load import load_layer

    spec = b.POINT_SPEC if kind == "points" else b.POLYGON_SPEC
    load_layer(url, spec, Path(path), force=True)


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spp-once", nargs=3, metavar=("URL", "KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.spp_once:
        _spp_once(*args.spp_once)
        return

    import _bench_data as b

    from spp.settings import get_settings
    from spp.store.cluster import cluster_up, database_url, ensure_database

    settings = get_settings()
    if not settings.database_url:
        cluster_up(settings)
    ensure_database(settings, "spp_bench")
    url = database_url(settings, dbname="spp_bench")
    files = b.ensure_files(settings.state / "bench")
    rows = {"points": 1_000_000, "polygons": 200_000}
    results = []
    for kind, path in files.items():
        spp_cmd = [sys.executable, __file__, "--spp-once", url, kind, str(path)]
        ogr_cmd = ["ogr2ogr", "-f", "PostgreSQL", f"PG:{url}", str(path), "-nln", f"ogr_{kind}", "-overwrite",
                   "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST", "--config", "PG_USE_COPY", "YES"]
        spp_t, ogr_t = [], []
        _timed(spp_cmd)  # warm-up: page cache, first version table
        _timed(ogr_cmd)
        for _ in range(args.runs):
            spp_t.append(_timed(spp_cmd))
            ogr_t.append(_timed(ogr_cmd))
        s, o = statistics.median(spp_t), statistics.median(ogr_t)
        results.append((kind, path.name, rows[kind], s, o, min(spp_t), max(spp_t), min(ogr_t), max(ogr_t)))
    lines = [
        f"Validated load vs ogr2ogr (COPY), median of {args.runs} alternating runs, whole processes, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
        "| input | rows | SPP s (min–max) | ogr2ogr s (min–max) | SPP rows/s | ogr2ogr rows/s | ratio SPP/ogr2ogr |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, name, n, s, o, smin, smax, omin, omax in results:
        lines.append(f"| {name} ({kind}) | {n:,} | {s:.2f} ({smin:.2f}–{smax:.2f}) | {o:.2f} ({omin:.2f}–{omax:.2f}) | "
                     f"{n / s:,.0f} | {n / o:,.0f} | {o / s:.2f}× |")
    table = "\n".join(lines)
    print(table)
    out = HERE / "results" / "load.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
