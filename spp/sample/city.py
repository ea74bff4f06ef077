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
import shapely.ops

from spp.sample.admin import AdminData
from spp.sample.rivers import (
    Waterway,
    hau_centreline,
    main_waterways,
    secondary_canals,
    tran_de_arm,
)

__all__ = ["METRIC_EPSG", "SPACING_M", "City", "build_city", "to_lonlat"]

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
    hau_water : shapely geometry
        Water surface of the Hậu River and its Trần Đề arm (mostly outside the outline: the
        outline edge is taken as 250 m off the city bank).
    primary_water : shapely geometry
        Water surface of the Hậu River and the primary rivers and canals.
    water : shapely geometry
        Water surface of all rivers and canals (union of their buffers, not clipped).
    land : shapely geometry
        Outline minus the water surface.
    coast : shapely geometry
        Sea coast of the outline (SE edge), for sea dikes and the DEM's sea.
    """

    communes: gpd.GeoDataFrame
    outline: shapely.Geometry
    hau: shapely.LineString
    waterways: list[Waterway]
    hau_water: shapely.Geometry
    primary_water: shapely.Geometry
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
    """Split the Hậu River into ~10 km reaches drawn 120 m inside the city outline."""
    length = hau.length
    n = max(1, round(length / 10_000.0))
    out = []
    for i in range(n):
        frac = (i + 0.5) / n
        width = 1500.0 + 1300.0 * frac
        bed = -8.0 - 7.0 * frac
        reach = shapely.ops.substring(hau, i * length / n, (i + 1) * length / n)
        inner = shapely.offset_curve(reach, -120.0)
        clipped = shapely.intersection(inner, outline)
        parts = [p for p in shapely.get_parts(clipped) if p.geom_type == "LineString"]
        if parts:
            line = max(parts, key=lambda g: g.length)
            out.append(Waterway(f"Sông Hậu (đoạn {i + 1})", "river", "primary", line,
                                round(width, 0), round(bed, 2)))
    return out


def _coast(outline: shapely.Geometry, hau: shapely.LineString) -> shapely.Geometry:
    """Sea coast: boundary south of the river mouth whose outward normal faces S to SE."""
    poly = max(shapely.get_parts(outline), key=lambda g: g.area)
    ring = shapely.segmentize(shapely.LinearRing(poly.exterior.coords), 100.0)
    if not ring.is_ccw:
        ring = shapely.LinearRing(list(ring.coords)[::-1])
    xy = shapely.get_coordinates(ring)[:-1]
    k = 10  # normals over ±1 km
    ahead, behind = np.roll(xy, -k, axis=0), np.roll(xy, k, axis=0)
    direction = ahead - behind
    angle = np.degrees(np.arctan2(-direction[:, 0], direction[:, 1]))  # outward normal of CCW
    mouth_x, mouth_y = hau.coords[-1]
    keep = (angle > -125.0) & (angle < -20.0) & (xy[:, 1] < mouth_y + 1000.0)
    keep &= xy[:, 0] > mouth_x - 55_000.0  # west of that the border is on land (Bạc Liêu)
    segs = [shapely.LineString([xy[i], xy[(i + 1) % len(xy)]])
            for i in np.nonzero(keep & np.roll(keep, -1))[0]]
    coast = shapely.line_merge(shapely.union_all(segs))
    return shapely.difference(coast, shapely.buffer(hau, 1_000.0))


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
    cls[urban] = 2
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
    hau_water = shapely.union_all([_hau_water(hau), shapely.buffer(tran_de, 600.0)])
    water_main = shapely.union_all(
        [hau_water] + [shapely.buffer(w.line, w.width_m / 2) for w in waterways
                       if not w.name.startswith("Sông Hậu")]
    )
    rural = communes[communes["density_class"] == 3].geometry.union_all()
    rural_land = shapely.difference(rural, shapely.buffer(water_main, 500.0))
    waterways += [
        Waterway(w.name, w.kind, w.rank, _extend_to(w.line, water_main, 800.0, city_outline=outline),
                 w.width_m, w.bed_level_m)
        for w in secondary_canals(rural_land, rng=rng)
    ]
    water = shapely.union_all(
        [water_main] + [shapely.buffer(w.line, w.width_m / 2)
                        for w in waterways if w.rank == "secondary"]
    )
    land = shapely.difference(outline, water)
    coast = _coast(outline, hau)
    logger.info("city: %d waterways, land %.0f km²", len(waterways), land.area / 1e6)
    return City(communes, outline, hau, waterways, hau_water, water_main, water, land, coast)


def _extend_to(line: shapely.LineString, water: shapely.Geometry, max_gap_m: float, *,
               city_outline: shapely.Geometry) -> shapely.LineString:
    """Extend both ends of a canal to ``water`` (5 m into it) when closer than ``max_gap_m``."""
    coords = [tuple(c) for c in line.coords]
    for end in (0, -1):
        p = shapely.Point(coords[end])
        gap = water.distance(p)
        if 0.0 < gap < max_gap_m:
            q = shapely.ops.nearest_points(water, p)[0]
            ux, uy = (q.x - p.x) / gap, (q.y - p.y) / gap
            tip = (round(q.x + ux * 5.0, 2), round(q.y + uy * 5.0, 2))
            if city_outline.contains(shapely.Point(tip)):
                coords.insert(0, tip) if end == 0 else coords.append(tip)
    return shapely.LineString(coords)


def _hau_water(hau: shapely.LineString) -> shapely.Geometry:
    """Hậu River surface: 1.5–2.8 km wide (downstream widening), city bank 250 m inside."""
    length = hau.length
    n = 24
    pieces = []
    for i in range(n):
        width = 1500.0 + 1300.0 * (i + 0.5) / n
        reach = shapely.ops.substring(hau, max(0.0, (i - 0.1) * length / n),
                                      min(length, (i + 1.1) * length / n))
        centre = shapely.offset_curve(reach, width / 2 - 250.0)
        pieces.append(shapely.buffer(centre, width / 2))
    return shapely.union_all(pieces)
