"""Benchmark SPP radio coverage and fibre reach; prints markdown, saves results/coverage.md.

1. One site, 10 km radius, one synthetic terrain: SPP line of sight vs SPLAT! 1.4.2
   (``splat -c``, line-of-sight coverage, SRTM-3 tile written from the same terrain)
   and vs ``gdal_viewshed``, wall time and ratio; agreement with gdal_viewshed.
2. Whole-city style best-server RSRP on a synthetic 40 × 35 km grid at 50 m with
   1×, 4×, 16× sites.
3. Fibre reach (graph build + multi-source Dijkstra) vs building count.
4. The real sample city from the store (``spp load --all`` first): ``spp coverage run`` for
   the whole city at 50 m (and 30 m), best-server RSRP with 1×, 4×, 16× the sample's sites
   (jittered copies, 100 m cells), and ``spp broadband run`` for all buildings.

Run: ``python benchmarks/coverage.py`` (installs ``splat`` with apt-get when missing);
``python benchmarks/coverage.py --sample`` runs part 4 only and replaces its section of the
results file; ``python benchmarks/coverage.py --before-after REV`` times the whole-city runs
(50 m and 30 m, no store) of git revision ``REV`` (checked out in a temporary worktree) and
of this checkout, one after the other in fresh processes, and replaces that section.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is named coverage.py: numba probes ``import coverage`` (coverage.py) and would
# find this script through sys.path[0], so drop the script's folder from the path.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "coverage.md"
LON0, LAT0 = 105.5, 10.5  # site at the centre of SRTM tile N10E105 (synthetic terrain)


def terrain(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Synthetic ground in metres: low delta with 30 hills up to 80 m (deterministic)."""
    rng = np.random.default_rng(42)
    z = np.full(np.shape(lon), 2.0)
    for _ in range(30):
        clon, clat = LON0 + rng.uniform(-0.1, 0.1), LAT0 + rng.uniform(-0.1, 0.1)
        s = rng.uniform(0.004, 0.015)
        z = z + rng.uniform(10, 80) * np.exp(-((lon - clon) ** 2 + (lat - clat) ** 2) / (2 * s * s))
    return z


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def ensure_splat() -> str | None:
    if shutil.which("splat") is None:
        subprocess.run(["apt-get", "install", "-y", "splat"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return shutil.which("splat")


def utm_dem(cell_m: float, half_m: float = 11_000.0):
    """Terrain on an EPSG:32648 (UTM 48N) grid centred on the site."""
    from affine import Affine
    from pyproj import CRS, Transformer

    from spp.coverage.los import Grid

    to_utm = Transformer.from_crs(4326, 32648, always_xy=True)
    to_geo = Transformer.from_crs(32648, 4326, always_xy=True)
    x0, y0 = to_utm.transform(LON0, LAT0)
    n = int(2 * half_m / cell_m) + 1
    # cell (n//2, n//2) has its top-left corner on the site (gdal rounds, SPP floors).
    tr = Affine(cell_m, 0, x0 - (n // 2) * cell_m, 0, -cell_m, y0 + (n // 2) * cell_m)
    grid = Grid(tr, (n, n), CRS.from_epsg(32648))
    xs, ys = grid.cell_centres()
    lon, lat = to_geo.transform(xs, ys)
    return terrain(lon, lat).astype(np.float32).astype(np.float64), grid, (x0 + 0.01, y0 - 0.01)


def bench_los(rows: list[str]) -> None:
    import rasterio

    from spp.coverage.los import OUTSIDE, viewshed

    work = Path(tempfile.mkdtemp(prefix="spp-bench-"))
    rows += ["## One site, 10 km radius (mast 30 m, receiver 1.5 m, k = 4/3)", "",
             "| tool | grid | cells in radius | wall time s | SPP speed-up | agreement with SPP |",
             "|---|---|---|---|---|---|"]
    splat = ensure_splat()
    splat_s = None
    if splat and shutil.which("srtm2sdf"):
        # SRTM-3 tile: 1201 × 1201 int16 big-endian, north row first.
        lat = 11.0 - np.arange(1201) / 1200.0
        lon = 105.0 + np.arange(1201) / 1200.0
        glon, glat = np.meshgrid(lon, lat)
        hgt = work / "N10E105.hgt"
        np.round(terrain(glon, glat)).astype(">i2").tofile(hgt)
        subprocess.run(["srtm2sdf", hgt.name], cwd=work, check=True, capture_output=True)
        # .qth: name, latitude, longitude (west positive: east longitudes negative), height.
        (work / "site.qth").write_text(f"site\n{LAT0:.6f}\n{-LON0:.6f}\n30 meters\n")
        cmd = [splat, "-t", "site.qth", "-c", "1.5", "-metric", "-R", "10", "-olditm",
               "-ngs", "-d", str(work), "-o", "los.ppm"]
        splat_s, _ = timed(lambda: subprocess.run(cmd, cwd=work, check=True,
                                                  capture_output=True), repeat=1)
        rows.append(f"| SPLAT! 1.4.2 `-c` | SRTM-3 (≈ 90 m) | ≈ {int(math.pi * 10_000**2 / 92.5**2)}"
                    f" | {splat_s:.2f} | – | – |")
    for cell in (90.0, 30.0):
        ground, grid, (x, y) = utm_dem(cell)
        viewshed(ground, grid, x=x, y=y, height_m=30.0, radius_m=10_000.0)  # JIT warm-up
        ours_s, ours = timed(lambda: viewshed(ground, grid, x=x, y=y, height_m=30.0,
                                              target_height_m=1.5, radius_m=10_000.0))
        inside = ours != OUTSIDE
        dem = work / f"dem{int(cell)}.tif"
        with rasterio.open(dem, "w", driver="GTiff", width=grid.shape[1],
                           height=grid.shape[0], count=1, dtype="float32",
                           crs=grid.crs.to_wkt(), transform=grid.transform) as dst:
            dst.write(ground.astype(np.float32), 1)
        out = work / f"vs{int(cell)}.tif"
        gcmd = ["gdal_viewshed", "-q", "-ox", repr(x), "-oy", repr(y), "-oz", "30", "-tz", "1.5",
                "-md", "10000", "-cc", "0.75", "-vv", "1", "-iv", "0", "-ov", "255", str(dem),
                str(out)]
        gdal_s, _ = timed(lambda: subprocess.run(gcmd, check=True))
        with rasterio.open(out) as src:
            part = src.read(1)
            c0 = round((src.transform.c - grid.transform.c) / cell)
            r0 = round((src.transform.f - grid.transform.f) / -cell)
        ref = np.full(grid.shape, OUTSIDE, np.uint8)
        ref[r0:r0 + part.shape[0], c0:c0 + part.shape[1]] = part
        both = inside & (ref != OUTSIDE)
        agree = float((ours[both] == ref[both]).mean())
        label = f"UTM 48N {int(cell)} m"
        ratio = f"{splat_s / ours_s:.0f}× vs SPLAT!" if splat_s else "–"
        rows.append(f"| SPP `viewshed` (numba, 2 cores) | {label} | {int(inside.sum())} | "
                    f"{ours_s:.3f} | {ratio} | – |")
        rows.append(f"| gdal_viewshed 3.6 `-cc 0.75` | {label} | {int(inside.sum())} | "
                    f"{gdal_s:.3f} | {gdal_s / ours_s:.1f}× | {agree:.4f} |")
        if cell < 90.0:
            fast_s, fast = timed(lambda: viewshed(ground, grid, x=x, y=y, height_m=30.0,
                                                  target_height_m=1.5, radius_m=10_000.0,
                                                  step_cells=3.0))
            same = float((fast[both] == ref[both]).mean())
            ratio = f"{splat_s / fast_s:.1f}× vs SPLAT!" if splat_s else "–"
            rows.append(f"| SPP `viewshed`, `step_cells=3` (≈ SPLAT!'s 90 m sampling) | "
                        f"{label} | {int(inside.sum())} | {fast_s:.3f} | {ratio} | "
                        f"{same:.4f} vs gdal |")
    rows += ["", "SPLAT! runs its own line-of-sight tracer on its 3 arc-second grid "
             "(its time includes reading the SDF tile and writing a PPM map); SPP and "
             "gdal_viewshed share one GeoTIFF. gdal_viewshed times include process start "
             "and file I/O.", ""]
    shutil.rmtree(work, ignore_errors=True)


def bench_city(rows: list[str]) -> None:
    from affine import Affine
    from pyproj import CRS

    from spp.coverage.los import Grid
    from spp.coverage.model import CoverageSettings, Sector, compute_rsrp

    cell = 50.0
    ny, nx = 700, 800  # 35 × 40 km ≈ 1,400 km²
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:ny, 0:nx]
    ground = 1.0 + 2.0 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    surface = ground + np.where(rng.random((ny, nx)) < 0.2, rng.uniform(3, 25, (ny, nx)), 0)
    grid = Grid(Affine(cell, 0, 560_000, 0, -cell, 1_130_000), (ny, nx), CRS.from_epsg(9210))
    rows += ["## Whole-city style best-server RSRP (synthetic 40 × 35 km, 50 m cells, "
             "buildings in the surface, UMa 3.5 GHz, 3 sectors per site)", "",
             "| sites | sectors | wall time s | s per site | cells covered (≥ −110 dBm) |",
             "|---|---|---|---|---|"]
    base = 12
    for mult in (1, 4, 16):
        k = base * mult
        sx = rng.uniform(2_000, nx * cell - 2_000, k) + 560_000
        sy = 1_130_000 - rng.uniform(2_000, ny * cell - 2_000, k)
        sectors = [Sector(f"s{i}", float(x), float(y), 30.0, 60.0, 3500.0, az, 6.0, 65.0,
                          "uma", "A", "5G")
                   for i, (x, y) in enumerate(zip(sx, sy)) for az in (0.0, 120.0, 240.0)]
        settings = CoverageSettings(radius_m=5_000.0)
        if mult == 1:
            compute_rsrp(ground, grid, sectors[:3], surface=surface, settings=settings)
        t = time.perf_counter()
        res = compute_rsrp(ground, grid, sectors, surface=surface, settings=settings)
        wall = time.perf_counter() - t
        rows.append(f"| {k} | {len(sectors)} | {wall:.2f} | {wall / k:.3f} | "
                    f"{int(res.covered(-110.0).sum())} |")
    rows.append("")


def bench_fibre(rows: list[str]) -> None:
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    from spp.broadband import build_road_graph, fibre_reach

    x0, y0, n, s = 580_000.0, 1_110_000.0, 81, 100.0  # 8 × 8 km street grid
    lines = ([LineString([(x0, y0 + i * s), (x0 + (n - 1) * s, y0 + i * s)]) for i in range(n)]
             + [LineString([(x0 + i * s, y0), (x0 + i * s, y0 + (n - 1) * s)])
                for i in range(n)])
    roads = gpd.GeoDataFrame(geometry=lines, crs=9210).to_crs(4326)
    t = time.perf_counter()
    graph = build_road_graph(roads)
    build_s = time.perf_counter() - t
    rng = np.random.default_rng(1)
    aps = gpd.GeoDataFrame(geometry=[Point(x0 + rng.uniform(0, 8000), y0 + rng.uniform(0, 8000))
                                     for _ in range(40)], crs=9210)
    rows += [f"## Fibre reach (8 × 8 km street grid, {graph.number_of_nodes()} nodes, "
             f"{graph.number_of_edges()} edges, graph build {build_s:.2f} s, 40 access points)",
             "", "| buildings | reach wall time s | passable share |", "|---|---|---|"]
    for count in (10_000, 100_000, 300_000):
        blds = gpd.GeoDataFrame({"households": np.ones(count)},
                                geometry=gpd.points_from_xy(rng.uniform(x0, x0 + 8000, count),
                                                            rng.uniform(y0, y0 + 8000, count)),
                                crs=9210)
        t = time.perf_counter()
        reach = fibre_reach(graph, aps, blds)
        rows.append(f"| {count} | {time.perf_counter() - t:.2f} | "
                    f"{reach['passable'].mean():.3f} |")
    rows.append("")


SAMPLE_HEADING = "## Sample city from the store"


def bench_sample(rows: list[str]) -> None:
    """Part 4: real sample city layers in the SPP database (not stored back, except the
    timed ``store`` runs, which publish like the CLI)."""
    import resource

    import geopandas as gpd

    from spp.broadband import run_broadband
    from spp.catalog import load_catalog
    from spp.coverage.model import CoverageSettings, best_server, sectors_from_sites
    from spp.coverage.run import _inside, _sites_frame, _surface, read_area_dem, run_coverage
    from spp.settings import get_settings
    from spp.store.db import url
    from spp.store.query import read_layer

    settings = get_settings()
    db = url(settings)

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    load = os.getloadavg()[0]
    rows += [SAMPLE_HEADING, "",
             f"129,719 buildings, 1,339 sites (1,065 on air), 103 communes, DEM 30 m EPSG:9210. "
             f"Load average at start {load:.1f} on {os.cpu_count()} cores (other work on the "
             "machine inflates wall time; CPU time is this process's).", "",
             "| run | grid | wall s | CPU s | stages (s) |", "|---|---|---|---|---|"]
    for res_m, store in ((50.0, True), (30.0, False)):
        c0, t = cpu(), time.perf_counter()
        run = run_coverage(settings, db, resolution_m=res_m, store=store)
        wall = time.perf_counter() - t
        stages = ", ".join(f"{k} {v:.1f}" for k, v in run.timings_s.items())
        rows.append(f"| `spp coverage run` whole city{' + store' if store else ''} | "
                    f"{res_m:g} m | {wall:.1f} | {cpu() - c0:.1f} | {stages} |")
    c0, t = cpu(), time.perf_counter()
    fibre = run_broadband(settings, db, store=True)
    rows.append(f"| `spp broadband run` all buildings + store | road graph | "
                f"{time.perf_counter() - t:.1f} | {cpu() - c0:.1f} | "
                + ", ".join(f"{k} {v:.1f}" for k, v in fibre.timings_s.items()) + " |")
    c0, t = cpu(), time.perf_counter()
    plan = run_broadband(settings, db, commune="Ninh Kieu", plan=True, store=False)
    rows.append(f"| `spp broadband run --plan`, one ward (Ninh Kiều) | road graph | "
                f"{time.perf_counter() - t:.1f} | {cpu() - c0:.1f} | {plan.km:.1f} km, "
                f"{len(plan.segments) if plan.segments is not None else 0} extensions |")
    rows += ["", "Site growth on the real sample (100 m cells, terrain + buildings, copies of "
             "the on-air sites jittered by up to 500 m):", "",
             "| sites | sectors | wall s | s per site | cells ≥ −110 dBm |",
             "|---|---|---|---|---|"]
    catalog = load_catalog(settings.layers_dir)
    communes = read_layer(db, catalog.get("communes"), columns=["ma_xa"])
    ground, grid = read_area_dem(settings.sample_dir / "dem.tif",
                                 tuple(communes.to_crs(9210).total_bounds), resolution_m=100.0)
    buildings = read_layer(db, catalog.get("buildings"), columns=["building_id", "height_m"])
    surface = _surface(ground, grid, buildings)
    sites = _inside(grid, ground, _sites_frame(read_layer(db, catalog.get("telecom_sites"))))
    metric = sites.to_crs(grid.crs)
    rng = np.random.default_rng(7)
    for mult in (1, 4, 16):
        copies = []
        for k in range(mult):
            moved = metric.copy()
            if k:
                dx, dy = rng.uniform(-500, 500, (2, len(moved)))
                moved["geometry"] = gpd.points_from_xy(moved.geometry.x + dx,
                                                       moved.geometry.y + dy, crs=grid.crs)
                moved["site_id"] = moved["site_id"] + f"-{k}"
            copies.append(moved)
        grown = _inside(grid, ground, gpd.GeoDataFrame(pd_concat(copies), crs=grid.crs))
        sectors = sectors_from_sites(grown, crs=grid.crs)
        t = time.perf_counter()
        out = best_server(ground, grid, sectors, surface=surface,
                          settings=CoverageSettings(radius_m=5_000.0))
        wall = time.perf_counter() - t
        covered = 0
        best = None
        for res in out.values():
            best = res.rsrp_dbm if best is None else np.fmax(best, res.rsrp_dbm)
        with np.errstate(invalid="ignore"):
            covered = int((best >= -110.0).sum()) if best is not None else 0
        rows.append(f"| {len(grown)} | {len(sectors)} | {wall:.1f} | "
                    f"{wall / max(len(grown), 1):.3f} | {covered} |")
    rows.append("")


BEFORE_AFTER_HEADING = "## Before/after, same run"
_CHILD = """
import json, os, resource, sys, time
import numpy as np
from affine import Affine
from pyproj import CRS
from spp.coverage.los import Grid
from spp.coverage.model import CoverageSettings, Sector, best_server
from spp.coverage.run import run_coverage
from spp.settings import get_settings
from spp.store.db import url

grid = Grid(Affine(30.0, 0, 580_000, 0, -30.0, 1_115_000), (41, 41), CRS.from_epsg(9210))
x, y = grid.transform @ (20.5, 20.5)
best_server(np.zeros((41, 41)), grid, [Sector("w", x, y, 30.0, 60.0, 3500.0, 0.0)],
            settings=CoverageSettings(radius_m=500.0))  # JIT warm-up, not timed
settings = get_settings()
usage = lambda: resource.getrusage(resource.RUSAGE_SELF)
u0, t0, load = usage(), time.perf_counter(), os.getloadavg()[0]
plan = sys.argv[2] == "plan"
run = run_coverage(settings, url(settings), resolution_m=float(sys.argv[1]), store=False,
                   plan=plan)
u1 = usage()
print(json.dumps({"wall": time.perf_counter() - t0, "load": load,
                  "cpu": u1.ru_utime + u1.ru_stime - u0.ru_utime - u0.ru_stime,
                  "stages": run.timings_s,
                  "planned": None if run.planned is None else len(run.planned)}))
"""


def bench_before_after(rows: list[str], rev: str, *, plan: bool = False) -> None:
    """Whole-city ``run_coverage`` (no store) of ``rev`` and of this checkout, each in a
    fresh process (``python -P`` with the checkout first on ``PYTHONPATH``)."""
    import json

    repo = Path(__file__).resolve().parent.parent
    work = Path(tempfile.mkdtemp(prefix="spp-before-"))
    tree = work / "tree"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), rev],
                   check=True, capture_output=True)
    short = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", rev], check=True,
                           capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()
    rows += [BEFORE_AFTER_HEADING, "",
             (f"Whole sample city, `run_coverage(store=False)`, before = `{short}`, after = "
              f"`{head}` (+ working tree), each in a fresh process after a JIT warm-up, run "
              "back to back. The machine is shared: the load average (1 min) at the start "
              "of each run is given; CPU time is the process's own (both numba threads)."),
             "", "| code | grid | load | wall s | CPU s | stages (s) |",
             "|---|---|---|---|---|---|"]
    runs = [(res, what) for res in (50.0, 30.0) for what in ("before", "after")]
    if plan:
        runs += [(50.0, "before"), (50.0, "after")]
    try:
        for i, (res, what) in enumerate(runs):
            with_plan = plan and i >= 4
            src = tree if what == "before" else repo
            # the old code reads this checkout's catalogue, database and state (SPP_HOME)
            env = {**os.environ, "PYTHONPATH": str(src), "SPP_HOME": str(repo)}
            out = subprocess.run([sys.executable, "-P", "-c", _CHILD, str(res),
                                  "plan" if with_plan else "none"], cwd=repo, env=env,
                                 check=True, capture_output=True, text=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            stages = ", ".join(f"{k} {v:.1f}" for k, v in got["stages"].items())
            if with_plan:
                stages += f" ({got['planned']} sites planned)"
            label = f"{what} (`{short if what == 'before' else head}`)"
            rows.append(f"| {label}{' + plan' if with_plan else ''} | {res:g} m | "
                        f"{got['load']:.1f} | {got['wall']:.1f} | {got['cpu']:.1f} | "
                        f"{stages} |")
            print(rows[-1], flush=True)
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                       check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    rows.append("")


def _replace_section(heading: str, section: str) -> None:
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if heading in old:
        before, rest = old.split(heading, 1)
        after = rest.split("\n## ", 1)
        tail = ("\n## " + after[1]) if len(after) > 1 else ""
        text = before.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n" + tail
    else:
        text = old.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    RESULTS.write_text(text.lstrip("\n"), encoding="utf-8")


def pd_concat(frames: list[object]) -> object:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def main() -> int:
    import platform

    if "--before-after" in sys.argv:
        rows = []
        rev = sys.argv[sys.argv.index("--before-after") + 1]
        bench_before_after(rows, rev, plan="--plan" in sys.argv)
        _replace_section(BEFORE_AFTER_HEADING, "\n".join(rows))
        print("\n".join(rows))
        return 0
    if "--sample" in sys.argv:
        rows: list[str] = []
        bench_sample(rows)
        section = "\n".join(rows)
        old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
        head = old.split(SAMPLE_HEADING)[0].rstrip("\n")
        RESULTS.write_text((head + "\n\n" if head else "") + section + "\n", encoding="utf-8")
        print(section)
        return 0
    rows = ["# Coverage and fibre benchmarks", "",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; best of 3 for SPP and gdal_viewshed, "
            "1 run for SPLAT!.", ""]
    bench_los(rows)
    bench_city(rows)
    bench_fibre(rows)
    bench_sample(rows)
    text = "\n".join(rows) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
