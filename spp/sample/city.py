"""The sample city's shared geography in EPSG:9210 (VN-2000 / TM-3 105°45′, metres).

One :class:`City` is built from the real administrative data and handed to every layer
generator: communes with population density, the river system, water and land masks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from spp.sample.admin import AdminData
from spp.sample.rivers import (
    Waterway,
    hau_centreline,
    main_waterways,
    secondary_canals,
    tran_de_arm,
)

__all__ = ["City", "build_city", "METRIC_EPSG", "SPACING_M", "to_lonlat"]

logger = logging.getLogger(__name__)

METRIC_EPSG = 9210
SPACING_M = (150.0, 300.0, 600.0, 1200.0)
"""Local-road grid spacing per density class (0 = densest urban core ... 3 = rural), metres."""
_ISLANDS = ("Xã Cù Lao Dung", "Xã An Thạnh")


@dataclass(frozen=True)
class City:
    """Geography shared by the generators; all geometries in EPSG:9210 metres.

    Attributes
    ----------
    communes : GeoDataFrame
        2025 communes (EPSG:9210) with ``dan_so`` (persons), ``density`` (persons/km²),
        ``urban`` (bool) and ``density_class`` (index into :data:`SPACING_M`).
    outline : shapely geometry
        City outline.
    hau : shapely.LineString
        Hậu River centreline (the city border, mid-river), oriented downstream.
    waterways : list of Waterway
        Every river reach and canal (lines inside the outline).
    water : shapely geometry
        Water surface of the rivers and canals (union of their buffers, not clipped).
    land : shapely geometry
        Outline minus the water surface.
    coast : shapely geometry
        Sea coast of the outline (SE edge), for sea dikes and the DEM's sea.
    """

    communes: gpd.GeoDataFrame
    outline: shapely.Geometry
    hau: shapely.LineString
    waterways: list[Waterway]
    water: shapely.Geometry
    land: shapely.Geometry
    coast: shapely.Geometry

    def commune_index(self, points: np.ndarray) -> np.ndarray:
        """Row index into :attr:`communes` of the commune holding each point (−1 outside)."""
        tree = shapely.STRtree(self.communes.geometry.values)
        pairs = tree.query(points, predicate="within")
        out = np.full(len(points), -1, dtype=np.int64)
        out[pairs[0][::-1]] = pairs[1][::-1]
        return out


def to_lonlat(geoms: np.ndarray) -> np.ndarray:
    """Project EPSG:9210 geometries to EPSG:4326 lon/lat."""
    return gpd.GeoSeries(geoms, crs=METRIC_EPSG).to_crs(4326).values


def _hau_reaches(hau: shapely.LineString, outline: shapely.Geometry) -> list[Waterway]:
    """Split the Hậu River into ~10 km reaches drawn a quarter-width inside the city."""
    length = hau.length
    n = max(1, int(round(length / 10_000.0)))
    out = []
    for i in range(n):
        frac = (i + 0.5) / n
        width = 1500.0 + 1300.0 * frac
        bed = -8.0 - 7.0 * frac
        reach = shapely.ops.substring(hau, i * length / n, (i + 1) * length / n)
        inner = shapely.offset_curve(reach, -width / 4.0)
        clipped = shapely.intersection(inner, outline)
        parts = [p for p in shapely.get_parts(clipped) if p.geom_type == "LineString"]
        if parts:
            line = max(parts, key=lambda g: g.length)
            out.append(Waterway(f"Sông Hậu (đoạn {i + 1})", "river", "primary", line,
                                round(width, 0), round(bed, 2)))
    return out


def _coast(outline: shapely.Geometry, hau: shapely.LineString) -> shapely.Geometry:
    """Part of the outline's boundary facing the sea: SE of the river mouth, away from the river."""
    ring = shapely.boundary(outline)
    end = shapely.Point(hau.coords[-1])
    # the sea coast runs south-west from the river mouth; keep boundary within a band there
    d = np.array([np.cos(-np.pi / 4 - np.pi / 2 + 0.2), np.sin(-np.pi / 4 - np.pi / 2 + 0.2)])
    far = shapely.Point(end.x + d[0] * 60_000, end.y + d[1] * 60_000)
    corridor = shapely.buffer(shapely.LineString([end, far]), 9_000.0, cap_style="flat")
    coast = shapely.intersection(ring, corridor)
    return shapely.difference(coast, shapely.buffer(hau, 2_500.0))


def build_city(admin: AdminData, *, rng: np.random.Generator) -> City:
    """Build the metric geography of the sample city from the real data.

    Parameters
    ----------
    admin : AdminData
        Real layers in EPSG:4326.
    rng : numpy.random.Generator
        Seeded generator for the secondary canals.
    """
    communes = admin.communes.to_crs(METRIC_EPSG).reset_index(drop=True)
    area_km2 = communes.geometry.area / 1e6
    communes["density"] = communes["dan_so"] / area_km2
    communes["urban"] = communes["loai"] == "phường"
    cls = np.full(len(communes), 3)
    dens = communes["density"].to_numpy()
    urban = communes["urban"].to_numpy()
    cls[urban & (dens > 1500)] = 2
    cls[urban & (dens > 4000)] = 1
    cls[urban & (dens > 10000)] = 0
    communes["density_class"] = cls
    outline = gpd.GeoSeries([admin.outline], crs=4326).to_crs(METRIC_EPSG).iloc[0]
    outline = shapely.make_valid(outline)
    hau = hau_centreline(outline)
    islands = communes[communes["ten"].isin(_ISLANDS)].geometry.union_all()
    mainland = communes[~communes["ten"].isin(_ISLANDS)].geometry.union_all()
    waterways = _hau_reaches(hau, outline)
    tran_de = tran_de_arm(islands, mainland)
    tran_de_in = shapely.intersection(shapely.offset_curve(tran_de, 0.0), outline)
    parts = [p for p in shapely.get_parts(tran_de_in) if p.geom_type == "LineString"]
    if parts:
        waterways.append(Waterway("Sông Hậu (nhánh Trần Đề)", "river", "primary",
                                  max(parts, key=lambda g: g.length), 1200.0, -9.0))
    waterways += main_waterways(hau, outline)
    big = [shapely.buffer(hau, 1500.0 / 2 + 300.0), shapely.buffer(tran_de, 600.0)]
    water_main = shapely.union_all(
        big + [shapely.buffer(w.line, w.width_m / 2) for w in waterways[len(big):]]
    )
    rural = communes[communes["density_class"] == 3].geometry.union_all()
    rural_land = shapely.difference(rural, shapely.buffer(water_main, 500.0))
    waterways += secondary_canals(rural_land, rng=rng)
    water = shapely.union_all(
        [water_main] + [shapely.buffer(w.line, w.width_m / 2)
                        for w in waterways if w.rank == "secondary"]
    )
    land = shapely.difference(outline, water)
    coast = _coast(outline, hau)
    logger.info("city: %d waterways, land %.0f km²", len(waterways), land.area / 1e6)
    return City(communes, outline, hau, waterways, water, land, coast)
