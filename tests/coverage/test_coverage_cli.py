"""``spp coverage`` commands through click's CliRunner."""

from __future__ import annotations

import math

import numpy as np
import rasterio
from click.testing import CliRunner

from spp.cli.main import cli


def test_pathloss_prints_free_space_loss():
    result = CliRunner().invoke(cli, ["coverage", "pathloss", "--model", "fspl",
                                      "--freq-mhz", "3500", "--distance-m", "1000",
                                      "--h-bs-m", "1.5", "--h-ut-m", "1.5"])
    assert result.exit_code == 0, result.output
    assert float(result.output) == round(60 + 20 * math.log10(3500) - 27.55, 2)


def test_pathloss_out_of_range_fails_with_one_line():
    result = CliRunner().invoke(cli, ["coverage", "pathloss", "--model", "uma", "--nlos",
                                      "--freq-mhz", "3500", "--distance-m", "9000"])
    assert result.exit_code == 1
    assert "outside" in result.output


def test_los_writes_uint8_on_the_dem_grid(tmp_path, make_dem, grid_of):
    n = 81
    grid = grid_of(n)
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=n, height=n, count=1,
                       dtype="float32", crs=grid.crs.to_wkt(), transform=grid.transform) as d:
        d.write(make_dem(n).astype(np.float32), 1)
    x, y = grid.transform @ (40.5, 40.5)
    out = tmp_path / "los.tif"
    args = ["coverage", "los", "--dem", str(dem), "--site", str(x), str(y), "--height-m", "25",
            "--target-height-m", "1.5", "--radius-m", "1000", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert src.transform == grid.transform and src.crs.to_epsg() == 9210
        data = src.read(1)
    assert data[40, 40] == 1 and data[0, 0] == 255
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert CliRunner().invoke(cli, [*args, "--overwrite"]).exit_code == 0
