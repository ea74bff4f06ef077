"""Benchmark spp.flood: static fill vs GRASS r.lake, dynamic cell-updates/s.

Run: ``python benchmarks/flood.py`` (installs ``grass-core`` with apt if ``grass`` is
missing). Prints a markdown table and saves it to ``benchmarks/results/flood.md``.

Static: the same synthetic DEM (smooth random terrain rising 3 m from a west-edge river,
UTM 48N, 10 m), level and seed point (the lowest interior cell) on both sides. A seed
*raster* is not used: r.lake takes seed-raster cells as lake without checking them and
does not grow from seeds on the outer border, so edge-seeded runs differ by design. End to end = GeoTIFF in →
depth GeoTIFF out (SPP: ``inundate_raster`` in this process after a warm-up that loads
numba's cache; GRASS: one ``grass --tmp-location --exec`` running r.in.gdal, r.lake,
r.out.gdal). Kernel = SPP ``inundate`` on the array / GRASS r.lake alone (timed inside
the GRASS session). Agreement = share of cells with |depth difference| ≤ 1e-5 m (GRASS
nulls counted as 0). Dynamic: fully wet domain, ≈ 380 steps (``--dynamic`` runs only this
part and replaces its table in the results), with wall and CPU time and the load average.

City (``python benchmarks/flood.py --city`` runs only this part and replaces its section of
the results): the 24-h ``spring-tide-storm`` scenario on the whole sample city read from
PostGIS (``spp load --all`` first), at the resolutions of :data:`CITY_CASES`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/ holds coverage.py etc.; keep it off sys.path so it cannot shadow packages
# (numba imports the `coverage` package).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))


X0, Y0, CELL = 580_000.0, 1_120_000.0, 10.0


def synthetic_dem(n: int, seed: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    z = gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), 8.0)
    z = (z - z.min()) / (z.max() - z.min()) * 2.0
    # delta-like: ground rises 3 m away from a river along the west edge
    return (z + np.linspace(0.0, 3.0, n, dtype=np.float32)[None, :]).astype(np.float32)


def write_tif(path: Path, z: np.ndarray, nodata: float = -9999.0) -> None:
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
                       dtype="float32", crs="EPSG:32648", nodata=nodata, tiled=True,
                       transform=from_origin(X0, Y0, CELL, CELL)) as dst:
        dst.write(z, 1)


def ensure_grass() -> str:
    exe = shutil.which("grass")
    if exe is None:
        subprocess.run(["apt-get", "install", "-y", "grass-core"], check=True,
                       stdout=subprocess.DEVNULL)
        exe = shutil.which("grass")
    if exe is None:
        raise SystemExit("grass not found after apt-get install grass-core")
    return exe


def run_grass(grass: str, dem: Path, xy: tuple[float, float], level: float,
              out: Path) -> tuple[float, float]:
    script = out.parent / "grass.sh"
    script.write_text(f"""set -e
r.in.gdal input={dem} output=dem -o --q --o
g.region raster=dem
t0=$(date +%s.%N)
r.lake elevation=dem water_level={level} lake=lake coordinates={xy[0]},{xy[1]} --q --o
t1=$(date +%s.%N)
r.out.gdal input=lake output={out} format=GTiff type=Float32 createopt=COMPRESS=ZSTD,TILED=YES --q -c --o
echo "KERNEL $(echo "$t1 - $t0" | bc)"
""")
    t0 = time.perf_counter()
    res = subprocess.run([grass, "--tmp-location", "EPSG:32648", "--exec", "bash", str(script)],
                         capture_output=True, text=True, check=True)
    total = time.perf_counter() - t0
    kernel = float(next(line.split()[1] for line in res.stdout.splitlines()
                        if line.startswith("KERNEL")))
    return total, kernel


def static_rows(grass: str, sizes: list[int]) -> list[str]:
    import rasterio

    from spp.flood.static import inundate, inundate_raster

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        warm = synthetic_dem(64)
        write_tif(d / "warm.tif", warm)
        inundate_raster(d / "warm.tif", 2.0, d / "warm_out.tif", overwrite=True)
        for n in sizes:
            z = synthetic_dem(n)
            level = float(np.quantile(z, 0.5))
            dem, out_g, out_s = d / "dem.tif", d / "g.tif", d / "s.tif"
            write_tif(dem, z)
            r, c = (int(v) for v in np.unravel_index(np.argmin(z[8:-8, 8:-8]), (n - 16, n - 16)))
            r, c = r + 8, c + 8
            xy = (X0 + (c + 0.5) * CELL, Y0 - (r + 0.5) * CELL)
            g_total, g_kernel = run_grass(grass, dem, xy, level, out_g)
            t0 = time.perf_counter()
            inundate_raster(dem, level, out_s, seed_xy=xy, overwrite=True)
            s_total = time.perf_counter() - t0
            t0 = time.perf_counter()
            inundate(z, level, seeds=[(r, c)])
            s_kernel = time.perf_counter() - t0
            with rasterio.open(out_g) as a, rasterio.open(out_s) as b:
                ga = a.read(1, masked=True).filled(0.0)
                sb = b.read(1)
            agree = float(np.mean(np.abs(ga - sb) <= 1e-5)) * 100
            wet = float(np.mean(sb > 0)) * 100
            rows.append(f"| static {n}×{n} ({n * n / 1e6:.1f} M cells, {wet:.0f} % wet) | {agree:.4f} % | "
                        f"{s_total:.2f} | {g_total:.2f} | {g_total / s_total:.1f}× | "
                        f"{s_kernel:.3f} | {g_kernel:.3f} | {g_kernel / s_kernel:.1f}× |")
    return rows


DYNAMIC_SIMULATED_S = 4000.0
"""Simulated time of the synthetic dynamic runs: ≈ 380 steps, enough that one-off costs
(thread wake-up, page faults) do not count and the whole part stays well under a minute."""


def dynamic_rows(sizes: list[int]) -> list[str]:
    """Fully wet synthetic runs: wall rate, CPU time and the 1-min load average around each."""
    from spp.flood.dynamic import DynamicInputs, simulate

    z0 = synthetic_dem(64) * 0.1
    simulate(DynamicInputs(z0, 50.0, initial_depth_m=np.full(z0.shape, 0.5, np.float32)), 60.0)
    rows = []
    for n in sizes:
        z = synthetic_dem(n) * 0.1
        h0 = (np.maximum(1.0 - z, 0) + 0.05 * np.sin(np.arange(n) / 40.0)[None, :]).astype(np.float32)
        load = os.getloadavg()[0]
        r = simulate(DynamicInputs(z, 50.0, manning_n=0.03, initial_depth_m=h0), DYNAMIC_SIMULATED_S)
        rows.append(f"| dynamic {n}×{n} ({n * n / 1e6:.1f} M cells, all wet) | {r.steps} steps | "
                    f"{r.wall_s:.2f} s | {r.cell_updates_per_s / 1e6:.0f} M cell-updates/s | "
                    f"{r.cpu_s:.2f} s | {n * n * r.steps / max(r.cpu_s, 1e-9) / 1e6:.0f} M | "
                    f"{load:.1f} / {os.getloadavg()[0]:.1f} | "
                    f"mass error {r.mass_balance.error_pct:.1e} % |")
    return rows


DYNAMIC_HEADER = [
    ("| case | steps | wall | rate (wall) | CPU (2 threads) | rate per CPU-second | "
     "load 1-min before / after | mass |"),
    "|---|---|---|---|---|---|---|---|",
]


CITY_HEADER = [
    "## City: 24-h spring tide + 100 mm storm on the whole sample city",
    "",
    ("`spring-tide-storm` (tide 24 h, 100 mm rain 15-18 h, pumps on, gates closed) on the sample "
     "city's DEM and its PostGIS layers, EPSG:9210 grid; inputs read once, nothing stored. "
     "The model visits per row only the modelled cells that are wet or within reach of wet ones "
     "(\"cells visited\" = share of grid cells × steps; all cells while it rains), and the Hậu "
     "deeper than 3 m at the lowest tide takes the gauge level (`tidal_river_depth_m`), so the "
     "time step is set by the canals (≈ 5.8 m deep at high tide) instead of the 17 m river. "
     "cell-updates/s counts every grid cell, skipped or not. Rows with fewer simulated hours "
     "would be extrapolated to 24 h at the same cost per simulated hour."),
    "",
    ("| case | grid | simulated | steps | cells visited | model loop s | loop CPU s | "
     "end-to-end s | cell-updates/s | mass error | 24 h (estimate) | target < 300 s |"),
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]


CITY_CASES = [(200.0, 24.0), (100.0, 24.0), (50.0, 24.0)]
"""(resolution m, simulated hours) of the city benchmark. Dry parts of rows are skipped, so
an hour before the storm costs less than one during it: only whole days are representative."""


def city_rows(cases: list[tuple[float, float]]) -> list[str]:
    """``(resolution_m, simulated hours)`` runs of spring-tide-storm on the sample city."""
    from spp.catalog import load_catalog
    from spp.flood.city import read_city_inputs, run_city_scenario
    from spp.flood.scenario import load_scenario
    from spp.settings import get_settings
    from spp.store.db import url

    settings = get_settings()
    catalog = load_catalog(settings.layers_dir)
    db_url = url(settings)
    inputs = read_city_inputs(db_url, catalog, settings)
    base = load_scenario("spring-tide-storm")
    rows = []
    for resolution_m, hours in cases:
        sc = base.model_copy(update={"duration_h": hours})
        t0 = time.perf_counter()
        out = run_city_scenario(sc, db_url=db_url, catalog=catalog, settings=settings,
                                resolution_m=resolution_m, inputs=inputs, publish=False)
        total = time.perf_counter() - t0
        shutil.rmtree(out.out_dir, ignore_errors=True)
        loop_s = float(out.record["wall_s"])
        estimate = total + loop_s * (24.0 / hours - 1.0)
        verdict = "met" if estimate < 300 else "missed"
        rows.append(
            f"| {resolution_m:g} m | {out.record['grid']} | {hours:g} h | {out.record['steps']} | "
            f"{100 * out.record['visited_share']:.0f} % | {loop_s:.0f} | {out.record['cpu_s']:.0f} | "
            f"{total:.0f} | {out.record['rate'] / 1e6:.0f} M | "
            f"{out.record['mass_balance_error_pct']:.1e} % | "
            f"{'measured' if hours >= 24 else f'≈ {estimate:.0f} s'} | {verdict} |")
    return rows


def city_note(load_before: float) -> str:
    """Machine load around the city runs: on a shared machine the rates swing widely."""
    return (f"Load average (1 min) before/after the city runs: {load_before:.1f} / "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; other jobs share the machine, "
            "so compare cell-updates/s between rows before reading the times.")


def main() -> None:
    import numba

    if "--city" in sys.argv:
        load0 = os.getloadavg()[0]
        city = [*CITY_HEADER, *city_rows(CITY_CASES), "", city_note(load0)]
        out = ROOT / "benchmarks" / "results" / "flood.md"
        text = out.read_text(encoding="utf-8")
        text = text.split("\n" + CITY_HEADER[0])[0].rstrip("\n") + "\n\n" + "\n".join(city) + "\n"
        print("\n".join(city))
        out.write_text(text, encoding="utf-8")
        return

    if "--dynamic" in sys.argv:
        out = ROOT / "benchmarks" / "results" / "flood.md"
        text = out.read_text(encoding="utf-8")
        rows = [*DYNAMIC_HEADER, *dynamic_rows([1000, 2000])]
        print("\n".join(rows))
        lines = text.split("\n")
        start = next(k for k, line in enumerate(lines) if line.startswith("| case | steps |"))
        end = next(k for k in range(start, len(lines)) if not lines[k].startswith("|"))
        out.write_text("\n".join(lines[:start] + rows + lines[end:]), encoding="utf-8")
        return

    load0 = os.getloadavg()[0]
    grass = ensure_grass()
    version = subprocess.run([grass, "--version"], capture_output=True, text=True, check=False).stdout
    version = next((v for v in version.splitlines() if v.strip()), "GRASS")
    lines = [
        "# spp.flood benchmark",
        "",
        (f"Machine: {numba.get_num_threads()} numba threads; {version}; same synthetic DEM and "
         "level and seed point on both sides; both write tiled ZSTD GeoTIFF without overviews."),
        "",
        ("| case | identical cells | SPP end-to-end s | GRASS end-to-end s | ratio | "
         "SPP kernel s | GRASS r.lake s | ratio |"),
        "|---|---|---|---|---|---|---|---|",
        *static_rows(grass, [2048, 4096]),
        "",
        *DYNAMIC_HEADER,
        *dynamic_rows([1000, 2000]),
        "",
        *CITY_HEADER,
        *city_rows(CITY_CASES),
        "",
        city_note(load0),
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    out = ROOT / "benchmarks" / "results" / "flood.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)


if __name__ == "__main__":
    main()
