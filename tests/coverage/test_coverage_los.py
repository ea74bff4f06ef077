"""Line of sight: known answers on synthetic terrain, and agreement with gdal_viewshed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from spp.coverage.los import OUTSIDE, viewshed
from spp.errors import RasterError

GDAL_VIEWSHED = shutil.which("gdal_viewshed")


def test_flat_ground_is_all_visible_within_radius(grid_of):
    n = 101
    grid = grid_of(n)
    ground = np.zeros((n, n))
    x0, y0 = grid.transform @ (50.5, 50.5)
    vis = viewshed(ground, grid, x=x0, y=y0, height_m=10.0, radius_m=1000.0, refraction_k=None)
    rows, cols = np.indices((n, n))
    dist = np.hypot(rows - 50, cols - 50) * 30.0
    assert np.all(vis[dist <= 1000.0] == 1)
    assert np.all(vis[dist > 1000.0] == OUTSIDE)


def test_wall_hides_cells_behind_it_but_not_in_front(grid_of):
    n = 101
    grid = grid_of(n)
    ground = np.zeros((n, n))
    surface = ground.copy()
    surface[:, 60] = 50.0  # a 50 m building row east of the site
    x0, y0 = grid.transform @ (50.5, 50.5)
    vis = viewshed(ground, grid, x=x0, y=y0, height_m=20.0, radius_m=1500.0,
                   surface=surface, refraction_k=None)
    assert np.all(vis[50, 51:60] == 1)
    assert np.all(vis[50, 62:] == 0)
    assert np.all(vis[50, :50] == 1)


def test_earth_curvature_hides_far_low_targets(grid_of):
    # 40 km of flat sea at 100 m cells: a 2 m mast sees ~5.8 km (k = 4/3) to a 1.5 m target.
    n = 401
    grid = grid_of(n, cell_m=100.0)
    ground = np.zeros((n, n))
    x0, y0 = grid.transform @ (200.5, 200.5)
    flat = viewshed(ground, grid, x=x0, y=y0, height_m=2.0, radius_m=20_000.0,
                    refraction_k=None)
    curved = viewshed(ground, grid, x=x0, y=y0, height_m=2.0, radius_m=20_000.0,
                      refraction_k=4 / 3)
    assert np.all(flat[200, 201:] == 1)
    # Horizon distance sqrt(2 k R) (sqrt(h1) + sqrt(h2)) ≈ 10.9 km; farther cells hidden.
    assert curved[200, 200 + 100] == 1  # 10 km
    assert np.all(curved[200, 200 + 115:] == 0)  # ≥ 11.5 km


def test_site_outside_grid_raises(grid_of):
    grid = grid_of(11)
    with pytest.raises(RasterError):
        viewshed(np.zeros((11, 11)), grid, x=0.0, y=0.0, height_m=10.0)


def test_input_arrays_are_not_modified(grid_of, make_dem):
    ground = make_dem(61)
    before = ground.copy()
    grid = grid_of(61)
    x0, y0 = grid.transform @ (30.5, 30.5)
    viewshed(ground, grid, x=x0, y=y0, height_m=10.0, radius_m=800.0)
    assert np.array_equal(ground, before)


def _gdal_viewshed(tmp: Path, ground: np.ndarray, grid, *, x: float, y: float, oz: float,
                   tz: float, radius_m: float, cc: float) -> np.ndarray:
    dem = tmp / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=grid.shape[1], height=grid.shape[0],
                       count=1, dtype="float32", crs=grid.crs.to_wkt(),
                       transform=grid.transform) as dst:
        dst.write(ground.astype(np.float32), 1)
    out = tmp / "vs.tif"
    subprocess.run(
        [GDAL_VIEWSHED, "-q", "-ox", repr(x), "-oy", repr(y), "-oz", str(oz), "-tz", str(tz),
         "-md", str(radius_m), "-cc", str(cc), "-vv", "1", "-iv", "0", "-ov", "255",
         str(dem), str(out)],
        check=True,
    )
    full = np.full(grid.shape, OUTSIDE, dtype=np.uint8)
    with rasterio.open(out) as src:
        part = src.read(1)
        c0 = round((src.transform.c - grid.transform.c) / grid.transform.a)
        r0 = round((src.transform.f - grid.transform.f) / grid.transform.e)
    full[r0:r0 + part.shape[0], c0:c0 + part.shape[1]] = part
    return full


@pytest.mark.skipif(GDAL_VIEWSHED is None, reason="gdal_viewshed (gdal-bin) not installed")
@pytest.mark.parametrize(
    "seed,oz,tz,k,cc",
    [(1, 30.0, 1.5, None, 0.0), (2, 30.0, 1.5, 4 / 3, 0.75), (3, 15.0, 10.0, 4 / 3, 0.75)],
)
def test_agrees_with_gdal_viewshed(tmp_path, grid_of, make_dem, seed, oz, tz, k, cc):
    n = 301
    ground = make_dem(n, seed=seed)
    grid = grid_of(n)
    # gdal_viewshed rounds the observer's pixel coordinate, SPP floors it: put the observer
    # just inside a cell's top-left corner so both pick the same cell.
    x, y = grid.transform @ (150.1, 150.1)
    ours = viewshed(ground, grid, x=x, y=y, height_m=oz, target_height_m=tz, radius_m=4000.0,
                    refraction_k=k)
    ref = _gdal_viewshed(tmp_path, ground, grid, x=x, y=y, oz=oz, tz=tz, radius_m=4000.0,
                         cc=cc)
    assert np.array_equal(ours == OUTSIDE, ref == OUTSIDE)
    inside = ours != OUTSIDE
    agreement = float((ours[inside] == ref[inside]).mean())
    hidden = float((ref[inside] == 0).mean())
    assert 0.05 < hidden < 0.95, "terrain must hide a fair share, or the test proves nothing"
    assert agreement >= 0.99, f"only {agreement:.4f} of cells agree with gdal_viewshed"
