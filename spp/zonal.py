"""Per-commune (zonal) measures on GeoDataFrames: areas, lengths, counts.

All metric work happens in EPSG:9210 (VN-2000 / TM-3 105°45′, metres) unless ``epsg`` says
otherwise; results are in km² / km, never in degrees.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from spp.crs import METRIC_EPSG, require_projected, transformer
from spp.errors import CRSError

__all__ = ["area_km2", "length_km", "count_within"]


def _metric(gdf: gpd.GeoDataFrame, epsg: int) -> gpd.GeoSeries:
    if gdf.crs is None:
        raise CRSError("GeoDataFrame has no CRS; set one before measuring")
    from pyproj import CRS

    require_projected(CRS.from_epsg(epsg), source=f"EPSG:{epsg}")
    src = gdf.crs.to_epsg()
    if src == epsg:
        return gdf.geometry
    if src is not None:
        import shapely

        tr = transformer(src, epsg)
        geoms = shapely.transform(gdf.geometry.values, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        return gpd.GeoSeries(geoms, index=gdf.index, crs=epsg)
    return gdf.geometry.to_crs(epsg)


def area_km2(gdf: gpd.GeoDataFrame, *, epsg: int = METRIC_EPSG) -> pd.Series:
    """Area of each feature in km², measured on the EPSG:``epsg`` plane (default 9210).

    >>> import geopandas as gpd, shapely
    >>> square = gpd.GeoDataFrame(geometry=[shapely.box(580_000, 1_100_000, 581_000, 1_101_000)], crs=9210)
    >>> float(area_km2(square).iloc[0])
    1.0
    """
    return _metric(gdf, epsg).area / 1e6


def length_km(gdf: gpd.GeoDataFrame, *, epsg: int = METRIC_EPSG) -> pd.Series:
    """Length of each (multi)line in km on the EPSG:``epsg`` plane."""
    return _metric(gdf, epsg).length / 1e3


def count_within(points: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *, zone_id: str) -> pd.Series:
    """Number of ``points`` inside each zone, indexed by ``zones[zone_id]`` (0 where none)."""
    if points.crs != zones.crs:
        raise CRSError(f"points are in {points.crs}, zones in {zones.crs}; reproject one of them")
    joined = gpd.sjoin(points[["geometry"]], zones[[zone_id, "geometry"]], predicate="within", how="inner")
    counts = joined.groupby(zone_id).size()
    return counts.reindex(zones[zone_id], fill_value=0).astype(int)
