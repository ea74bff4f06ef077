#!/usr/bin/env python
"""Validated load (SPP) vs ogr2ogr -f PostgreSQL in COPY mode, same files, same database.

Three ways of loading each file, alternating run by run so drift in machine speed hits all:

* **SPP CLI**: ``spp load LAYER FILE --force`` as a whole process (interpreter start, imports,
  read, validation, COPY, indexes, exit) — what a user at the shell pays;
* **SPP in-process**: ``spp.store.load.load_layer`` called again and again in one warm
  interpreter — what ``spp load --all``, the API and notebooks pay per file;
* **ogr2ogr**: ``ogr2ogr -f PostgreSQL`` with COPY, GiST index, no validation (whole process).

Prints a Markdown table: median seconds (min–max), rows/s and the ratios of rows/s
(> 1 means SPP is faster), and the fixed start-up cost of each program (``--version``).
Inputs (≈1 M points, ≈200 k polygons and with --large 1 M polygons, GeoPackage in EPSG:4326)
are generated once into .spp/bench/. Usage: .venv/bin/python benchmarks/load.py [--runs 5] [--large]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SPP = str(Path(sys.executable).with_name("spp"))


def _worker(url: str) -> None:
    """In-process mode: read "LAYER PATH" lines, answer each with the load's seconds."""
    import _bench_data as b

    from spp.store.load import load_layer

    specs = {s.name: s for s in (b.POINT_SPEC, b.POLYGON_SPEC)}
    for line in sys.stdin:
        name, path = line.split()
        t0 = time.perf_counter()
        report = load_layer(url, specs[name], Path(path), force=True)
        print(json.dumps({"s": time.perf_counter() - t0, "validation": report.validation}), flush=True)


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def _spec_home(folder: Path) -> Path:
    """A catalogue folder holding only the two benchmark layers, for the CLI."""
    import _bench_data as b
    import yaml

    layers = folder / "layers"
    layers.mkdir(parents=True, exist_ok=True)
    for spec in (b.POINT_SPEC, b.POLYGON_SPEC):
        text = yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=True), allow_unicode=True, sort_keys=False)
        (layers / f"{spec.name}.yml").write_text(text, encoding="utf-8")
    return folder


def _stats(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--large", action="store_true", help="also a million polygons (≈230 MB, slower)")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker)
        return

    import _bench_data as b

    from spp.settings import get_settings
    from spp.store.cluster import cluster_up, database_url, drop_database, ensure_database

    settings = get_settings()
    if not settings.database_url:
        cluster_up(settings)
    drop_database(settings, "spp_bench")  # every load keeps its predecessor in spp_hist: start empty
    ensure_database(settings, "spp_bench")
    url = database_url(settings, dbname="spp_bench")
    files = b.ensure_files(settings.state / "bench", large=args.large)
    home = _spec_home(settings.state / "bench" / "home")
    env = {**os.environ, "SPP_HOME": str(home), "SPP_STATE_DIR": str(home / ".spp"), "SPP_DATABASE_URL": url}
    layer = {"points": b.POINT_SPEC.name, "polygons": b.POLYGON_SPEC.name, "polygons_1m": b.POLYGON_SPEC.name}
    rows = {"points": 1_000_000, "polygons": 200_000, "polygons_1m": 1_000_000}
    startup = {"spp": [_timed([SPP, "--version"], env) for _ in range(5)],
               "ogr2ogr": [_timed(["ogr2ogr", "--version"]) for _ in range(5)]}
    worker = subprocess.Popen([sys.executable, __file__, "--worker", url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdin is not None and worker.stdout is not None

    def in_process(kind: str) -> tuple[float, str]:
        worker.stdin.write(f"{layer[kind]} {files[kind]}\n")  # type: ignore[union-attr]
        worker.stdin.flush()  # type: ignore[union-attr]
        answer = json.loads(worker.stdout.readline())  # type: ignore[union-attr]
        return float(answer["s"]), str(answer["validation"])

    results = []
    for kind, path in files.items():
        cli_cmd = [SPP, "-q", "load", layer[kind], str(path), "--force"]
        ogr_cmd = ["ogr2ogr", "-f", "PostgreSQL", f"PG:{url}", str(path), "-nln", f"ogr_{kind}", "-overwrite",
                   "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST", "--config", "PG_USE_COPY", "YES"]
        _timed(cli_cmd, env)  # warm-up: page cache, first versions
        _timed(ogr_cmd)
        _, validation = in_process(kind)
        cli_t, ogr_t, inp_t = [], [], []
        for _ in range(args.runs):
            cli_t.append(_timed(cli_cmd, env))
            ogr_t.append(_timed(ogr_cmd))
            inp_t.append(in_process(kind)[0])
        results.append((kind, path.name, rows[kind], cli_t, inp_t, ogr_t, validation))
    worker.stdin.close()
    worker.wait()

    lines = [
        f"Validated load vs ogr2ogr (COPY), median (min–max) of {args.runs} alternating runs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}",
        "",
        "| input | rows | SPP CLI s | SPP in-process s | ogr2ogr s | SPP CLI rows/s | ogr2ogr rows/s "
        "| ratio CLI/ogr2ogr | ratio in-process/ogr2ogr |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, name, n, cli_t, inp_t, ogr_t, validation in results:
        c, i, o = (statistics.median(x) for x in (cli_t, inp_t, ogr_t))
        shape = "points" if kind == "points" else "polygons"
        lines.append(f"| {name} ({shape}, {validation} validation) | {n:,} | {_stats(cli_t)} | {_stats(inp_t)} | "
                     f"{_stats(ogr_t)} | {n / c:,.0f} | {n / o:,.0f} | {o / c:.2f}× | {o / i:.2f}× |")
    lines += ["", f"Start-up and exit of each program alone (`--version`, median of 5): "
              f"spp {statistics.median(startup['spp']):.2f} s, ogr2ogr {statistics.median(startup['ogr2ogr']):.2f} s."]
    table = "\n".join(lines)
    print(table)
    out = HERE / "results" / "load.md"
    out.parent.mkdir(exist_ok=True)
    previous = out.read_text(encoding="utf-8") if out.exists() else ""
    marker = "\n## Earlier runs\n"
    history = previous.split(marker, 1)[1] if marker in previous else ""
    out.write_text(table + "\n" + marker + history, encoding="utf-8")


if __name__ == "__main__":
    main()
