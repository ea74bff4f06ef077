"""Synthetic Mekong Delta terrain: a DEM of the sample city in EPSG:9210.

Elevations are metres above the Hòn Dấu datum (VN national height datum). The ground is a
flat deltaic plain (0.3–2.5 m): natural levees along the Hậu River and the main canals,
low back-swamps inland (Hậu Giang ~0.4–0.9 m), raised urban cores (Ninh Kiều ~1.5–2.2 m),
sandy beach ridges (giồng) parallel to the Sóc Trăng coast. River and canal beds are burned
in at their ``bed_level_m``; the sea in front of the coast is shallow (−0.5 to −3.5 m).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import shapely
from rasterio.features import rasterize
from rasterio.io import MemoryFile
from rasterio.transform import Affine, from_origin
from scipy import ndimage

from spp.sample.city import METRIC_EPSG, City
from spp.sample.rivers import GRID_ANGLE_RAD

__all__ = ["DEM_MARGIN_M", "NODATA", "synthesise_dem", "write_cog"]

logger = logging.getLogger(__name__)

NODATA = -9999.0
DEM_MARGIN_M = 2000.0
"""The DEM covers the city outline plus this margin (metres); nodata beyond."""
_COARSE_M = 240.0
_URBAN_RAISE_M = (0.8, 0.6, 0.25, 0.0)


def _grid(city: City, resolution_m: float) -> tuple[Affine, int, int]:
    minx, miny, maxx, maxy = shapely.buffer(city.outline, DEM_MARGIN_M).bounds
    minx = np.floor(minx / resolution_m) * resolution_m
    maxy = np.ceil(maxy / resolution_m) * resolution_m
    width = int(np.ceil((maxx - minx) / resolution_m))
    height = int(np.ceil((maxy - miny) / resolution_m))
    return from_origin(minx, maxy, resolution_m, resolution_m), width, height


def _ground(city: City, transform: Affine, width: int, height: int, factor: int,
            rng: np.random.Generator) -> np.ndarray:
    """Ground elevation on a coarse grid (``factor`` × the output cell), m above Hòn Dấu."""
    cw, ch = int(np.ceil(width / factor)), int(np.ceil(height / factor))
    ct = transform @ Affine.scale(factor)
    cell = ct.a
    shape = (ch, cw)
    hau = rasterize([city.hau_water], out_shape=shape, transform=ct, fill=0, default_value=1,
                    dtype="uint8")
    d_hau = ndimage.distance_transform_edt(hau == 0) * cell
    primary = [shapely.buffer(w.line, max(w.width_m / 2, 1.0)) for w in city.waterways
               if w.rank == "primary" and not w.name.startswith("Sông Hậu")]
    canal = rasterize(primary, out_shape=shape, transform=ct, fill=0, default_value=1,
                      dtype="uint8", all_touched=True)
    d_canal = ndimage.distance_transform_edt(canal == 0) * cell
    coast = rasterize([shapely.buffer(city.coast, 1.0)], out_shape=shape, transform=ct, fill=0,
                      default_value=1, dtype="uint8", all_touched=True)
    d_coast = ndimage.distance_transform_edt(coast == 0) * cell if coast.any() else np.full(shape, 1e6)
    shapes = [(g, _URBAN_RAISE_M[int(k)]) for g, k in
              zip(city.communes.geometry, city.communes["density_class"], strict=True)]
    urban = rasterize(shapes, out_shape=shape, transform=ct, fill=0.0, dtype="float32")
    urban = ndimage.gaussian_filter(urban, sigma=600.0 / cell)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=4.0)
    noise /= max(float(noise.std()), 1e-9)
    fine = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=1.0)
    fine /= max(float(fine.std()), 1e-9)
    # along-river coordinate: backswamps are lowest far from the river in the west (Hậu Giang)
    cols, rows = np.meshgrid(np.arange(cw) + 0.5, np.arange(ch) + 0.5)
    x, y = ct @ (cols, rows)
    ground = (0.55 + 0.12 * noise + 0.05 * fine
              + 0.7 * np.exp(-d_hau / 2000.0)
              + 0.35 * np.exp(-d_canal / 500.0)
              + urban)
    # giồng: sandy ridges parallel to the Sóc Trăng coast, 4–22 km inland
    ridge = np.zeros(shape)
    along = x * np.cos(GRID_ANGLE_RAD) + y * np.sin(GRID_ANGLE_RAD)
    wobble = 600.0 * np.sin(along / 7000.0)
    for dist_m, amp in ((4_000.0, 1.1), (11_000.0, 1.3), (19_000.0, 0.9)):
        ridge += amp * np.exp(-(((d_coast + wobble) - dist_m) / 450.0) ** 2)
    ridge *= (d_coast < 24_000.0) & (x > 505_000.0)
    ground += ridge
    # tidal flats near the sea are low
    ground -= 0.35 * np.exp(-d_coast / 1500.0)
    return np.clip(ground, 0.3, 2.5)


def synthesise_dem(city: City, *, resolution_m: float = 30.0,
                   rng: np.random.Generator) -> tuple[np.ndarray, Affine]:
    """Build the DEM array.

    Parameters
    ----------
    city : City
        Shared geography (EPSG:9210).
    resolution_m : float
        Cell size in metres.
    rng : numpy.random.Generator
        Seeded generator for the micro-relief.

    Returns
    -------
    (numpy.ndarray, Affine)
        float32 elevations in metres above the Hòn Dấu datum on an EPSG:9210 grid (north up),
        :data:`NODATA` beyond the outline + 2 km, and the grid's affine transform.
    """
    transform, width, height = _grid(city, resolution_m)
    factor = max(1, round(_COARSE_M / resolution_m))
    coarse = _ground(city, transform, width, height, factor, rng)
    dem = ndimage.zoom(coarse, factor, order=1, mode="nearest", grid_mode=True)[:height, :width]
    if dem.shape != (height, width):
        dem = np.pad(dem, ((0, height - dem.shape[0]), (0, width - dem.shape[1])), mode="edge")
    shape = (height, width)
    # sea: beyond the coast, deepening offshore
    sea_poly = shapely.difference(shapely.buffer(city.coast, DEM_MARGIN_M + 1000.0), city.outline)
    sea = rasterize([sea_poly], out_shape=shape, transform=transform, fill=0, default_value=1,
                    dtype="uint8").astype(bool)
    if sea.any():
        d_sea = ndimage.distance_transform_edt(sea) * resolution_m
        dem = np.where(sea, -0.5 - 0.0015 * d_sea, dem)
    # Hậu River: bank slopes down to a bed that deepens downstream (−8 → −15 m)
    river = rasterize([city.hau_water], out_shape=shape, transform=transform, fill=0,
                      default_value=1, dtype="uint8").astype(bool)
    d_in = ndimage.distance_transform_edt(river) * resolution_m
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    x, y = transform @ (cols, rows)
    x0, y0 = city.hau.coords[0]
    along = ((x - x0) * np.cos(GRID_ANGLE_RAD) + (y - y0) * np.sin(GRID_ANGLE_RAD)) / city.hau.length
    bed = -8.0 - 7.0 * np.clip(along, 0.0, 1.0)
    dem = np.where(river, np.minimum(dem, bed * np.minimum(1.0, d_in / 200.0)), dem)
    # rivers and canals: burn the bed, shallowest first so the deepest wins where they cross
    burn = sorted((w for w in city.waterways if not w.name.startswith("Sông Hậu")),
                  key=lambda w: -w.bed_level_m)
    shapes = [(shapely.buffer(w.line, max(w.width_m / 2, resolution_m * 0.75)), w.bed_level_m)
              for w in burn]
    beds = rasterize(shapes, out_shape=shape, transform=transform, fill=np.nan, dtype="float32")
    dem = np.where(np.isnan(beds), dem, np.minimum(dem, beds))
    inside = rasterize([shapely.buffer(city.outline, DEM_MARGIN_M)], out_shape=shape,
                       transform=transform, fill=0, default_value=1, dtype="uint8").astype(bool)
    dem = np.where(inside, np.round(dem, 2), NODATA).astype(np.float32)
    logger.info("DEM %d × %d cells at %.0f m", width, height, resolution_m)
    return dem, transform


def write_cog(path: Path, dem: np.ndarray, transform: Affine) -> Path:
    """Write ``dem`` as a DEFLATE-compressed float32 Cloud-Optimized GeoTIFF in EPSG:9210.

    No timestamps are written, so equal arrays give equal bytes.
    """
    profile = {
        "driver": "GTiff", "width": dem.shape[1], "height": dem.shape[0], "count": 1,
        "dtype": "float32", "crs": f"EPSG:{METRIC_EPSG}", "transform": transform,
        "nodata": NODATA,
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as tmp:
            tmp.write(dem, 1)
            tmp.update_tags(1, units="m", vertical_datum="Hòn Dấu (VN national height datum)")
            tmp.set_band_description(1, "ground elevation (m above Hòn Dấu)")
        with mem.open() as src:
            rasterio.shutil.copy(
                src, str(path), driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES",
                BLOCKSIZE="512", OVERVIEWS="AUTO", RESAMPLING="AVERAGE", NUM_THREADS="1",
            )
    logger.info("wrote %s", path.name)
    return path
