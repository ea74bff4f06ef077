"""Terrain for flood modelling: the model grid, dikes and canals burned into a DEM.

The model grid is a north-up raster in a projected CRS in metres — EPSG:9210
(VN-2000 / TM-3 105°45′, Can Tho's plane) by default, or EPSG:32648 (UTM 48N) — at a
user resolution (typically 20–30 m). Elevations are metres above the national height
datum (Hòn Dấu); nodata is carried as NaN in float32 arrays.

Dikes (lines with ``crest_level_m``) are burned in at crest level (a cell never gets
lower), rivers and canals (lines with ``width_m`` and ``bed_level_m``) at bed level (a
cell never gets higher). River cells can be flagged as the boundary where the river
water level (tide) is imposed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spp.crs import METRIC_EPSG, require_projected
from spp.errors import CRSError, InputFileError, RasterError

if TYPE_CHECKING:
    import geopandas as gpd
    from affine import Affine
    from pyproj import CRS

__all__ = [
    "DEFAULT_BOUNDARY_MIN_WIDTH_M",
    "Terrain",
    "build_terrain",
    "burn_dikes",
    "burn_rivers",
    "cells_of",
    "read_dem",
    "write_raster",
]

logger = logging.getLogger(__name__)

DEFAULT_BOUNDARY_MIN_WIDTH_M = 100.0
"""Rivers at least this wide (m) are the tidal boundary when no explicit flag is given
(the Hậu river is ≈ 1.5 km wide at Can Tho, inner canals < 60 m)."""


@dataclass(frozen=True)
class Terrain:
    """A DEM on the model grid.

    Attributes
    ----------
    elevation_m : numpy.ndarray
        float32 ``(rows, cols)`` ground elevation in metres above the Hòn Dấu datum, NaN
        where unknown (nodata).
    transform : affine.Affine
        Pixel-to-CRS transform (north-up, square cells in metres).
    crs : pyproj.CRS
        Projected CRS in metres (EPSG:9210 or UTM 48N for Can Tho).
    boundary : numpy.ndarray
        bool ``(rows, cols)``: river cells where the boundary water level is imposed.
    nodata : float
        Nodata value to use when writing rasters on this grid.
    """

    elevation_m: np.ndarray
    transform: Affine
    crs: CRS
    boundary: np.ndarray
    nodata: float = -9999.0

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape ``(rows, cols)``."""
        return (int(self.elevation_m.shape[0]), int(self.elevation_m.shape[1]))

    @property
    def cell_size_m(self) -> float:
        """Cell edge length in metres."""
        return float(abs(self.transform.a))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the grid in its CRS (metres)."""
        ny, nx = self.shape
        x0, y0 = self.transform.c, self.transform.f
        x1 = x0 + nx * self.transform.a
        y1 = y0 + ny * self.transform.e
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def rowcol(self, x: float, y: float) -> tuple[int, int]:
        """Row and column of the cell containing ``(x, y)`` (grid CRS, metres).

        Raises
        ------
        RasterError
            When the point is outside the grid.
        """
        col, row = ~self.transform * (x, y)
        r, c = int(np.floor(row)), int(np.floor(col))
        ny, nx = self.shape
        if not (0 <= r < ny and 0 <= c < nx):
            raise RasterError(f"point ({x:.1f}, {y:.1f}) is outside the grid {self.bounds}")
        return r, c


def _check_dem(elevation: np.ndarray, crs: Any, source: str) -> CRS:
    if crs is None:
        raise RasterError(
            f"{source} has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:9210) before "
            "flood modelling"
        )
    from pyproj import CRS as _CRS

    try:
        pcrs = require_projected(_CRS.from_user_input(crs), source=source)
    except CRSError as exc:
        raise RasterError(str(exc)) from exc
    if not np.isfinite(elevation).any():
        raise RasterError(f"{source}: every cell is nodata; nothing to model")
    return pcrs


def read_dem(path: str | Path, *, band: int = 1) -> Terrain:
    """Read a single-band projected DEM GeoTIFF as a :class:`Terrain` (no resampling).

    Parameters
    ----------
    path : str or Path
        GeoTIFF (any GDAL raster) with a projected CRS in metres; values are metres
        above the national datum.
    band : int
        Band to read (1-based).

    Returns
    -------
    Terrain
        float32 elevations with nodata as NaN, no boundary cells flagged.

    Raises
    ------
    InputFileError
        File missing or unreadable.
    RasterError
        No CRS, geographic or non-metre CRS, non-square or rotated cells, all nodata.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    try:
        with rasterio.open(path) as src:
            data = src.read(band, masked=True).astype(np.float32)
            transform, crs, nodata = src.transform, src.crs, src.nodata
    except RasterioIOError as exc:
        raise InputFileError(f"{path}: cannot read raster: {exc}") from exc
    elevation = np.ascontiguousarray(data.filled(np.nan), dtype=np.float32)
    elevation[~np.isfinite(elevation)] = np.nan
    pcrs = _check_dem(elevation, crs.to_wkt() if crs else None, str(path))
    if transform.b != 0 or transform.d != 0 or abs(abs(transform.a) - abs(transform.e)) > 1e-6 * abs(
        transform.a
    ):
        raise RasterError(f"{path}: cells must be square and north-up (transform {transform})")
    return Terrain(
        elevation_m=elevation,
        transform=transform,
        crs=pcrs,
        boundary=np.zeros(elevation.shape, dtype=bool),
        nodata=float(nodata) if nodata is not None else -9999.0,
    )


def build_terrain(
    dem: str | Path | Terrain,
    *,
    epsg: int = METRIC_EPSG,
    resolution_m: float | None = None,
    dikes: gpd.GeoDataFrame | None = None,
    rivers: gpd.GeoDataFrame | None = None,
    boundary_min_width_m: float = DEFAULT_BOUNDARY_MIN_WIDTH_M,
) -> Terrain:
    """Build the model grid from a DEM, then burn rivers/canals and dikes into it.

    Parameters
    ----------
    dem : str, Path or Terrain
        Source DEM (metres above Hòn Dấu, any projected CRS).
    epsg : int
        Model CRS, projected in metres (default 9210, VN-2000 / TM-3 105°45′).
    resolution_m : float, optional
        Cell size in metres; default keeps the DEM's cell size. Averaged (coarser) or
        bilinear (finer) resampling.
    dikes : GeoDataFrame, optional
        Lines with ``crest_level_m`` (m above Hòn Dấu); any CRS, reprojected.
    rivers : GeoDataFrame, optional
        Lines with ``width_m`` and ``bed_level_m``; an optional bool column ``boundary``
        marks tidal boundary reaches, otherwise reaches at least ``boundary_min_width_m``
        wide are boundary.
    boundary_min_width_m : float
        See ``rivers``.

    Returns
    -------
    Terrain
        On the EPSG:``epsg`` grid, rivers burned at bed level, then dikes at crest level.

    Raises
    ------
    RasterError, CRSError
        Unusable DEM or vector layer without CRS.
    """
    from pyproj import CRS as _CRS

    terrain = dem if isinstance(dem, Terrain) else read_dem(dem)
    target = require_projected(_CRS.from_epsg(epsg), source=f"EPSG:{epsg}")
    res = float(resolution_m) if resolution_m else terrain.cell_size_m
    if res <= 0:
        raise RasterError(f"resolution must be positive, got {resolution_m}")
    if not target.equals(terrain.crs) or abs(res - terrain.cell_size_m) > 1e-9:
        terrain = _warp(terrain, target, res)
    if rivers is not None and len(rivers):
        terrain = burn_rivers(terrain, rivers, boundary_min_width_m=boundary_min_width_m)
    if dikes is not None and len(dikes):
        terrain = burn_dikes(terrain, dikes)
    return terrain


def _warp(terrain: Terrain, target: CRS, res: float) -> Terrain:
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    ny, nx = terrain.shape
    src_crs = RioCRS.from_wkt(terrain.crs.to_wkt())
    dst_crs = RioCRS.from_wkt(target.to_wkt())
    left, bottom, right, top = terrain.bounds
    transform, width, height = calculate_default_transform(
        src_crs, dst_crs, nx, ny, left=left, bottom=bottom, right=right, top=top, resolution=res
    )
    out = np.full((height, width), np.nan, dtype=np.float32)
    method = Resampling.average if res > terrain.cell_size_m else Resampling.bilinear
    reproject(
        terrain.elevation_m, out, src_transform=terrain.transform, src_crs=src_crs,
        src_nodata=np.nan, dst_transform=transform, dst_crs=dst_crs, dst_nodata=np.nan,
        resampling=method,
    )
    logger.info("warped DEM %sx%s -> %sx%s at %.1f m", nx, ny, width, height, res)
    return Terrain(out, transform, target, np.zeros(out.shape, dtype=bool), terrain.nodata)


def _in_grid_crs(gdf: gpd.GeoDataFrame, terrain: Terrain, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise CRSError(f"{what} layer has no CRS; set one (e.g. EPSG:4326) before burning")
    return gdf.to_crs(terrain.crs)


def _require_columns(gdf: gpd.GeoDataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in gdf.columns]
    if missing:
        raise RasterError(f"{what} layer lacks column(s) {missing}; needed to burn it")


def burn_dikes(terrain: Terrain, dikes: gpd.GeoDataFrame) -> Terrain:
    """Raise cells touched by dike lines to ``crest_level_m`` (never lower a cell).

    Lines are rasterized with ``all_touched`` so a dike forms an edge-connected chain of
    cells that water cannot pass diagonally. Where dikes overlap the highest crest wins.
    """
    from rasterio.features import rasterize

    _require_columns(dikes, ("crest_level_m",), "dike")
    d = _in_grid_crs(dikes, terrain, "dike").sort_values("crest_level_m")
    shapes = [(g, float(v)) for g, v in zip(d.geometry, d["crest_level_m"]) if g is not None]
    if not shapes:
        return terrain
    crest = rasterize(shapes, out_shape=terrain.shape, transform=terrain.transform,
                      fill=np.nan, all_touched=True, dtype="float32")
    z = terrain.elevation_m.copy()
    hit = np.isfinite(crest) & np.isfinite(z)
    z[hit] = np.maximum(z[hit], crest[hit])
    logger.info("burned %d dike(s) into %d cells", len(shapes), int(hit.sum()))
    return replace(terrain, elevation_m=z)


def burn_rivers(
    terrain: Terrain,
    rivers: gpd.GeoDataFrame,
    *,
    boundary_min_width_m: float = DEFAULT_BOUNDARY_MIN_WIDTH_M,
) -> Terrain:
    """Lower cells under river/canal polygons (line buffered by ``width_m``/2) to bed level.

    Channels narrower than a cell still get one edge-connected chain of cells. Boundary
    reaches (column ``boundary`` or width ≥ ``boundary_min_width_m``) flag their cells in
    :attr:`Terrain.boundary`.
    """
    from rasterio.features import rasterize

    _require_columns(rivers, ("width_m", "bed_level_m"), "river")
    r = _in_grid_crs(rivers, terrain, "river").sort_values("bed_level_m", ascending=False)
    half = np.maximum(r["width_m"].to_numpy(float) / 2.0, terrain.cell_size_m / 2.0)
    polys = r.geometry.buffer(half, cap_style="flat")
    shapes = [(g, float(v)) for g, v in zip(polys, r["bed_level_m"]) if g is not None]
    bed = rasterize(shapes, out_shape=terrain.shape, transform=terrain.transform,
                    fill=np.nan, all_touched=False, dtype="float32")
    lines = rasterize([(g, float(v)) for g, v in zip(r.geometry, r["bed_level_m"])],
                      out_shape=terrain.shape, transform=terrain.transform, fill=np.nan,
                      all_touched=True, dtype="float32")
    bed = np.where(np.isfinite(bed), bed, lines).astype(np.float32)
    z = terrain.elevation_m.copy()
    hit = np.isfinite(bed)
    z[hit] = np.where(np.isfinite(z[hit]), np.minimum(z[hit], bed[hit]), bed[hit])
    if "boundary" in r.columns:
        is_bnd = r["boundary"].fillna(False).astype(bool).to_numpy()
    else:
        is_bnd = r["width_m"].to_numpy(float) >= boundary_min_width_m
    boundary = terrain.boundary.copy()
    if is_bnd.any():
        boundary |= cells_of(r[is_bnd].set_geometry(polys[is_bnd]), terrain)
    logger.info("burned %d channel(s), %d cells, %d boundary cells",
                len(shapes), int(hit.sum()), int(boundary.sum()))
    return replace(terrain, elevation_m=z, boundary=boundary)


def cells_of(gdf: gpd.GeoDataFrame, terrain: Terrain, *, all_touched: bool = True) -> np.ndarray:
    """bool mask of grid cells covered by the geometries of ``gdf`` (any CRS, reprojected)."""
    from rasterio.features import rasterize

    g = _in_grid_crs(gdf, terrain, "boundary")
    geoms = [geom for geom in g.geometry if geom is not None and not geom.is_empty]
    if not geoms:
        return np.zeros(terrain.shape, dtype=bool)
    mask = rasterize([(geom, 1) for geom in geoms], out_shape=terrain.shape,
                     transform=terrain.transform, fill=0, all_touched=all_touched, dtype="uint8")
    return np.asarray(mask, dtype=bool)


def write_raster(
    path: str | Path,
    array: np.ndarray,
    terrain: Terrain,
    *,
    nodata: float | None = None,
    overwrite: bool = False,
    overviews: bool = False,
) -> Path:
    """Write a float32 array on ``terrain``'s grid as a Cloud-Optimized GeoTIFF.

    NaN cells are written as ``nodata`` (default ``terrain.nodata``). Compression is
    ZSTD level 1 with a float predictor: fast to write, ~4× smaller than raw. Overviews
    (for web maps) are built only on request: they cost ~3× the write time.

    Raises
    ------
    InputFileError
        When ``path`` exists and ``overwrite`` is false, or cannot be written.
    """
    import rasterio
    from rasterio.crs import CRS as RioCRS
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if path.exists() and not overwrite:
        raise InputFileError(f"{path} exists; pass --overwrite to replace it")
    nd = terrain.nodata if nodata is None else nodata
    out = np.where(np.isnan(array), np.float32(nd), array).astype(np.float32)
    ny, nx = out.shape
    profile = {
        "driver": "COG", "width": nx, "height": ny, "count": 1, "dtype": "float32",
        "crs": RioCRS.from_wkt(terrain.crs.to_wkt()), "transform": terrain.transform, "nodata": nd,
        "compress": "ZSTD", "level": 1, "predictor": 3, "blocksize": 512, "num_threads": "ALL_CPUS",
        "overviews": "AUTO" if overviews and max(nx, ny) > 512 else "NONE",
    }
    try:
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(out, 1)
    except RasterioIOError as exc:
        raise InputFileError(f"{path}: cannot write raster: {exc}") from exc
    return path
