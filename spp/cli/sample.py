"""``spp sample``: build the deterministic sample city."""

from __future__ import annotations

from pathlib import Path

import click

from spp.cli.options import overwrite_opt, progress_enabled


@click.group()
def sample() -> None:
    """Deterministic sample city of Can Tho (real boundaries + synthetic layers)."""


@sample.command("build")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: the settings' sample_dir, .spp/sample).")
@click.option("--seed", type=int, default=2025, show_default=True, help="Random seed.")
@click.option("--dem-resolution-m", type=float, default=30.0, show_default=True,
              help="DEM cell size in metres (EPSG:9210).")
@overwrite_opt
def build(out_dir: Path | None, seed: int, dem_resolution_m: float, overwrite: bool) -> None:
    """Write every catalogue layer's sample file and dem.tif into the output folder.

    The build is deterministic: the same seed and resolution give byte-identical files.
    """
    import time

    from spp.sample import build_sample
    from spp.settings import get_settings

    target = out_dir if out_dir is not None else get_settings().sample_dir
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise click.UsageError(f"{target} is not empty; pass --overwrite to replace the sample")
    show = progress_enabled()

    def progress(message: str) -> None:
        if show:
            click.echo(f"  {message}", err=True)

    started = time.perf_counter()
    written = build_sample(target, seed=seed, dem_resolution_m=dem_resolution_m, progress=progress)
    total_mb = sum(p.stat().st_size for p in written.values()) / 1e6
    click.echo(
        f"sample city: {len(written)} files, {total_mb:.1f} MB in {target} "
        f"({time.perf_counter() - started:.0f} s, seed {seed})"
    )
