"""``spp flood``: static level fill, dynamic scenario runs, bundled scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import click

from spp.cli.options import overwrite_opt, progress_enabled


@click.group()
def flood() -> None:
    """Flood inundation (static r.lake-style fill, dynamic local-inertial model)."""


@flood.command("static")
@click.option("--dem", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Single-band projected (metre) DEM GeoTIFF, m above Hòn Dấu.")
@click.option("--level", "level_m", required=True, type=float,
              help="Water level at the boundary, metres above the national datum.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output depth COG (float32 m, 0 = dry).")
@click.option("--seed", nargs=2, type=float, default=None, metavar="X Y",
              help="Boundary point in the DEM's CRS (default: DEM edge cells).")
@click.option("--boundary", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Vector file whose geometries are boundary cells.")
@click.option("--connectivity", type=click.Choice(["4", "8"]), default="8", show_default=True)
@overwrite_opt
def static_cmd(dem: Path, level_m: float, out: Path, seed: tuple[float, float] | None,
               boundary: Path | None, connectivity: str, overwrite: bool) -> None:
    """Flood every cell below LEVEL connected to the boundary; write depth."""
    from spp.flood.static import inundate_raster

    if seed and boundary:
        raise click.UsageError("give --seed or --boundary, not both")
    res = inundate_raster(dem, level_m, out, seed_xy=tuple(seed) if seed else None,
                          boundary=boundary, connectivity=int(connectivity),
                          overwrite=overwrite)
    click.echo(f"{res.path}: {res.flooded_cells} cells flooded ({res.flooded_km2:.3f} km²), "
               f"max depth {res.max_depth_m:.2f} m, {res.total_s:.2f} s")


@flood.command("scenarios")
def scenarios_cmd() -> None:
    """List the bundled Can Tho scenarios."""
    from spp.flood.scenario import bundled_scenarios, load_scenario

    for name in bundled_scenarios():
        s = load_scenario(name)
        click.echo(f"{name}\t{s.title_en} / {s.title_vi}")


def _read(path: Path | None) -> object:
    if path is None:
        return None
    import geopandas as gpd

    from spp.errors import InputFileError

    try:
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several unrelated types
        raise InputFileError(f"{path}: cannot read vector file: {exc}") from exc


@flood.command("run")
@click.argument("scenario")
@click.option("--dem", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rivers", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rivers/canals: lines with width_m, bed_level_m (optional bool boundary).")
@click.option("--dikes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Dikes: lines with crest_level_m.")
@click.option("--pumps", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Pump stations: points with capacity_m3s.")
@click.option("--gates", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sluice gates: points with gate_id (width_m optional).")
@click.option("--landuse", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Land-use polygons with a 'landuse' class column.")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@overwrite_opt
def run_cmd(scenario: str, dem: Path, rivers: Path | None, dikes: Path | None,
            pumps: Path | None, gates: Path | None, landuse: Path | None, out_dir: Path,
            overwrite: bool) -> None:
    """Run SCENARIO (a YAML file or bundled name) and write COGs + mass balance."""
    import numpy as np

    from spp.flood.model import load_scenario, run_scenario
    from spp.terrain import build_terrain, write_raster

    sc = load_scenario(scenario)
    terrain = build_terrain(dem, epsg=sc.epsg, resolution_m=sc.resolution_m,
                            rivers=_read(rivers), dikes=_read(dikes))  # type: ignore[arg-type]
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = None
    progress = None
    if progress_enabled():
        from tqdm import tqdm

        bar = tqdm(total=round(sc.duration_h, 2), unit="h", desc=sc.name)

        def progress(t_s: float, total_s: float) -> None:
            bar.n = round(t_s / 3600.0, 2)
            bar.refresh()

    result = run_scenario(sc, terrain, pumps=_read(pumps), gates=_read(gates),  # type: ignore[arg-type]
                          landuse=_read(landuse), progress=progress)
    if bar is not None:
        bar.close()
    write_raster(out_dir / "max_depth_m.tif", result.max_depth_m, terrain, overwrite=overwrite,
                 overviews=True)
    write_raster(out_dir / "arrival_h.tif", result.arrival_time_s / 3600.0, terrain,
                 overwrite=overwrite)
    for thr, arr in result.duration_s.items():
        write_raster(out_dir / f"duration_h_above_{thr:g}m.tif", arr / 3600.0, terrain,
                     overwrite=overwrite)
    report = {"scenario": sc.name, "steps": result.steps, "wall_s": result.wall_s,
              "cell_updates_per_s": result.cell_updates_per_s,
              "mass_balance_m3": result.mass_balance.as_dict(),
              "flooded_km2": float(np.nansum(result.max_depth_m >= 0.1)
                                   * terrain.cell_size_m**2 / 1e6)}
    (out_dir / "mass_balance.json").write_text(json.dumps(report, indent=2))
    click.echo(f"{sc.name}: {report['flooded_km2']:.2f} km² ≥ 0.1 m, mass error "
               f"{result.mass_balance.error_pct:.4f}%, outputs in {out_dir}")
