"""Static inundation: cell-by-cell against an independent BFS, known-answer DEMs, errors.

The reference (:func:`tests.flood.conftest.bfs_reference`) is a plain Python queue BFS
written for these tests; tolerance is float32 rounding of ``level − z`` (1e-6 m).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spp.errors import InputFileError, RasterError, ScenarioError
from spp.flood import inundate, inundate_raster
from tests.flood.conftest import bfs_reference, rough_dem, write_dem


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("seed", range(6))
def test_static_depth_matches_independent_bfs_cell_by_cell(seed: int, connectivity: int) -> None:
    z = rough_dem((50, 70), seed)
    level = float(np.quantile(z, 0.45))
    edges = [(r, c) for r in range(50) for c in range(70) if r in (0, 49) or c in (0, 69)]
    expected = bfs_reference(z, level, edges, connectivity)
    got = inundate(z, level, connectivity=connectivity)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert (got > 0).sum() > 0


def test_static_matches_scipy_label_on_larger_grid() -> None:
    from scipy import ndimage

    z = rough_dem((400, 300), 42)
    level = float(np.quantile(z, 0.5))
    below = z < level
    labels, _ = ndimage.label(below, structure=np.ones((3, 3)))
    seed_labels = np.unique(labels[[0, -1], :].ravel().tolist() + labels[:, [0, -1]].ravel().tolist())
    wet = np.isin(labels, seed_labels[seed_labels > 0])
    got = inundate(z, level)
    np.testing.assert_array_equal(got > 0, wet)
    np.testing.assert_allclose(got[wet], (level - z)[wet], atol=1e-6)


def test_bowl_behind_dike_stays_dry_and_connected_channel_fills() -> None:
    z = np.full((40, 40), 2.0, np.float32)
    z[:, 0] = 0.0                      # river along the west edge
    z[10:30, 10:30] = 0.5              # polder ...
    z[9, 9:31] = z[30, 9:31] = 3.0     # ... ringed by a 3 m dike
    z[9:31, 9] = z[9:31, 30] = 3.0
    z[35, 0:38] = 0.3                  # canal from the river inland
    depth = inundate(z, 1.5, seeds=[(0, 0)])
    assert np.all(depth[10:30, 10:30] == 0)            # bowl below level but cut off
    np.testing.assert_allclose(depth[35, 1:38], 1.2, atol=1e-6)  # canal filled to level
    assert np.all(depth[z == 2.0] == 0)


def test_diagonal_gap_leaks_with_8_but_not_4_connectivity() -> None:
    z = np.full((5, 5), 5.0, np.float32)
    z[0, 0] = z[1, 1] = z[2, 2] = 0.0
    assert inundate(z, 1.0, seeds=[(0, 0)], connectivity=8)[2, 2] == pytest.approx(1.0)
    assert inundate(z, 1.0, seeds=[(0, 0)], connectivity=4)[2, 2] == 0.0


def test_flood_extent_never_shrinks_as_level_rises() -> None:
    z = rough_dem((60, 60), 7)
    previous = np.zeros(z.shape, bool)
    for level in np.linspace(0.2, 3.0, 15):
        wet = inundate(z, float(level)) > 0
        assert np.all(wet[previous])
        previous = wet


def test_nodata_is_kept_and_never_flooded() -> None:
    z = rough_dem((30, 30), 3)
    z[10:15, 10:15] = np.nan
    d = inundate(z, 2.0)
    assert np.isnan(d[10:15, 10:15]).all()
    assert np.isfinite(d[~np.isnan(z)]).all()


@pytest.mark.parametrize("z,level,exc,match", [
    (np.full((4, 4), np.nan, np.float32), 1.0, RasterError, "nodata"),
    (np.ones((4, 4), np.float32), 0.5, ScenarioError, "below the lowest ground"),
    (np.ones(4, np.float32), 2.0, RasterError, "2-D"),
])
def test_bad_static_input_raises_clear_error(z: np.ndarray, level: float, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        inundate(z, level)


def test_dem_without_crs_or_geographic_is_rejected(tmp_path: Path) -> None:
    z = rough_dem((20, 20), 0)
    with pytest.raises(RasterError, match="no CRS"):
        inundate_raster(write_dem(tmp_path / "a.tif", z, crs=None), 2.0, tmp_path / "o.tif")
    with pytest.raises(RasterError, match="geographic"):
        inundate_raster(write_dem(tmp_path / "b.tif", z, crs="EPSG:4326", cell_m=0.0002), 2.0,
                        tmp_path / "o.tif")


def test_static_raster_writes_cog_on_dem_grid(tmp_path: Path) -> None:
    import rasterio

    z = rough_dem((64, 48), 5)
    z[0, :3] = np.nan
    dem = write_dem(tmp_path / "dem.tif", z)
    res = inundate_raster(dem, 1.5, tmp_path / "depth.tif")
    with rasterio.open(dem) as a, rasterio.open(res.path) as b:
        assert b.crs == a.crs and b.transform == a.transform and b.dtypes[0] == "float32"
        assert b.nodata == a.nodata
        assert b.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "COG") == "COG" or b.driver == "GTiff"
        out = b.read(1)
    np.testing.assert_allclose(np.where(out == b.nodata, np.nan, out),
                               inundate(z, 1.5), atol=1e-6)
    with pytest.raises(InputFileError, match="overwrite"):
        inundate_raster(dem, 1.5, tmp_path / "depth.tif")


def test_cli_static_with_seed_and_overwrite(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from spp.cli.main import cli
    from tests.flood.conftest import ORIGIN_X, ORIGIN_Y

    dem = write_dem(tmp_path / "dem.tif", rough_dem((40, 40), 2))
    out = tmp_path / "d.tif"
    args = ["flood", "static", "--dem", str(dem), "--level", "1.8", "--out", str(out),
            "--seed", str(ORIGIN_X + 10), str(ORIGIN_Y - 10)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert out.exists()
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1 and "overwrite" in r.output
    r = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert r.exit_code == 0
    r = CliRunner().invoke(cli, ["flood", "static", "--dem", str(dem), "--level", "-5",
                                 "--out", str(tmp_path / "x.tif")])
    assert r.exit_code == 1 and "lowest ground" in r.output
