"""Graph-ready road network: the real national highways plus a synthetic local grid.

The local grid is one city-wide family of streets parallel and perpendicular to the Hậu River
with nested spacings (150/300/600/1200 m, :data:`spp.sample.city.SPACING_M`), so a coarse
rural grid continues the lines of a denser urban one across commune borders. Everything is
noded in EPSG:9210 on a 1 cm grid: segments meet exactly at shared endpoints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from spp.sample.city import METRIC_EPSG, SPACING_M, City
from spp.sample.rivers import GRID_ANGLE_RAD

__all__ = ["ROAD_CLASSES", "RoadNetwork", "build_roads"]

logger = logging.getLogger(__name__)

ROAD_CLASSES = {
    # class: (lanes, width m, surface, max speed km/h)
    "national": (4, 20.0, "asphalt", 80),
    "arterial": (4, 16.0, "asphalt", 60),
    "collector": (2, 9.0, "asphalt", 50),
    "local": (2, 6.0, "concrete", 40),
    "rural": (1, 3.5, "concrete", 30),
}
_STREET_NAMES = (
    "Trần Hưng Đạo", "Nguyễn Trãi", "Lê Lợi", "Hai Bà Trưng", "30 Tháng 4", "3 Tháng 2",
    "Mậu Thân", "Nguyễn Văn Cừ", "Cách Mạng Tháng Tám", "Trần Phú", "Lý Tự Trọng",
    "Hùng Vương", "Phan Đình Phùng", "Nguyễn An Ninh", "Võ Văn Kiệt", "Trần Văn Khéo",
    "Ngô Quyền", "Hòa Bình", "Lê Hồng Phong", "Nguyễn Văn Linh", "Quang Trung",
    "Trần Quang Diệu", "Phạm Ngũ Lão", "Điện Biên Phủ", "Lê Duẩn", "Tôn Đức Thắng",
)


@dataclass(frozen=True)
class RoadNetwork:
    """Noded road segments (EPSG:9210) with their attributes, one row per segment."""

    frame: gpd.GeoDataFrame


def _grid_lines(bounds: tuple[float, float, float, float], spacing_m: float,
                finest_m: float) -> tuple[list[shapely.LineString], list[int]]:
    """Lines of both families at multiples of ``spacing_m``; also each line's index (in units
    of ``finest_m``) so that names and classes are consistent across density classes."""
    minx, miny, maxx, maxy = bounds
    cx, cy = 500_000.0, 1_080_000.0  # fixed origin: every build lays the same grid
    half = max(maxx - minx, maxy - miny) * 1.5
    d = np.array([np.cos(GRID_ANGLE_RAD), np.sin(GRID_ANGLE_RAD)])
    n = np.array([-d[1], d[0]])
    lines: list[shapely.LineString] = []
    index: list[int] = []
    ks = spacing_m * np.arange(np.floor(-half / spacing_m), np.ceil(half / spacing_m) + 1)
    for fam, (along, across) in enumerate(((d, n), (n, d))):
        for k in ks:
            c = np.array([cx, cy]) + across * k
            lines.append(shapely.LineString([c - along * half, c + along * half]))
            index.append(round(k / finest_m) * 2 + fam)
    return lines, index


def _classify(index: int, rural: bool) -> str:
    """Class of a grid line from its position (index in units of the finest spacing, 150 m)."""
    step = index // 2
    if rural:
        return "collector" if step % 64 == 0 else "rural"
    if step % 32 == 0:
        return "arterial"
    if step % 16 == 0:
        return "collector"
    return "local"


def build_roads(city: City, national: gpd.GeoDataFrame, *, rng: np.random.Generator) -> RoadNetwork:
    """Build the noded road network.

    Parameters
    ----------
    city : City
        Shared geography (EPSG:9210).
    national : GeoDataFrame
        Real national highways (any CRS; reprojected to EPSG:9210).
    rng : numpy.random.Generator
        Seeded generator (used to thin the rural grid).

    Returns
    -------
    RoadNetwork
        Segments in EPSG:9210 with ``road_class``, ``name``, ``lanes``, ``width_m``,
        ``surface``, ``max_speed_kmh``.
    """
    land = shapely.difference(city.outline, city.hau_water)
    rivers = shapely.buffer(shapely.difference(city.primary_water, city.hau_water), 10.0)
    shapely.prepare(rivers)
    geoms: list[shapely.Geometry] = []
    props: list[tuple[str, str]] = []
    nat = national.to_crs(METRIC_EPSG)
    for geom, name in zip(nat.geometry, nat["ten"], strict=True):
        clipped = shapely.intersection(geom, city.outline)
        for part in shapely.get_parts(clipped):
            if part.geom_type == "LineString":
                geoms.append(part)
                props.append(("national", str(name)))
    finest = SPACING_M[0]
    for cls, spacing in enumerate(SPACING_M):
        zone = city.communes[city.communes["density_class"] == cls].geometry.union_all()
        zone = shapely.intersection(zone, land)
        if zone.is_empty:
            continue
        shapely.prepare(zone)
        lines, index = _grid_lines(city.outline.bounds, spacing, finest)
        clipped = shapely.intersection(np.array(lines, dtype=object), zone)
        for geom, idx in zip(clipped, index, strict=True):
            if geom.is_empty:
                continue
            road_class = _classify(idx, rural=cls == 3)
            if road_class == "rural" and rng.random() < 0.15:
                continue  # not every rural grid line is a road
            if road_class in ("local", "rural"):
                geom = shapely.difference(geom, rivers)  # only main roads bridge the rivers
            if road_class in ("arterial", "collector") and cls < 3:
                name = f"Đường {_STREET_NAMES[(idx // 2 // 4) % len(_STREET_NAMES)]}"
            elif road_class == "collector":
                name = f"Đường huyện {abs(idx // 2) // 16 % 90 + 901}"
            elif road_class == "rural":
                name = "Đường liên ấp"
            else:
                name = f"Đường số {abs(idx // 2) % 97 + 1}"
            for part in shapely.get_parts(geom):
                if part.geom_type == "LineString" and part.length > 20.0:
                    geoms.append(part)
                    props.append((road_class, name))
    return _node(geoms, props)


def _node(geoms: list[shapely.Geometry], props: list[tuple[str, str]]) -> RoadNetwork:
    """Split every line at every crossing (1 cm grid) and keep connected parts of ≥ 20 segments."""
    rank = {c: i for i, c in enumerate(ROAD_CLASSES)}
    snapped = shapely.set_precision(np.array(geoms, dtype=object), 0.01)
    noded = shapely.get_parts(shapely.node(shapely.MultiLineString(
        [g for g in shapely.get_parts(snapped) if g.geom_type == "LineString"])))
    noded = shapely.set_precision(noded, 0.01)
    noded = noded[shapely.length(noded) > 0.5]
    # attribute each noded segment from the best-ranked source line under its midpoint
    tree = shapely.STRtree(snapped)
    mids = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    seg_idx, src_idx = tree.query(mids, predicate="dwithin", distance=0.05)
    best = np.full(len(noded), -1)
    best_rank = np.full(len(noded), 99)
    for s, g in zip(seg_idx, src_idx, strict=True):
        r = rank[props[g][0]]
        if r < best_rank[s] or (r == best_rank[s] and g < best[s]):
            best_rank[s], best[s] = r, g
    ok = best >= 0
    noded, best = noded[ok], best[ok]
    # connected components on shared endpoints
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(noded, 0)),
                      shapely.get_coordinates(shapely.get_point(noded, -1))])
    keys, inverse = np.unique(np.round(ends, 2), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = len(noded)
    graph = coo_matrix((np.ones(n), (inverse[:n], inverse[n:])), shape=(len(keys), len(keys)))
    _, labels = connected_components(graph, directed=False)
    seg_label = labels[inverse[:n]]
    sizes = np.bincount(seg_label)
    keep = sizes[seg_label] >= 20
    noded, best = noded[keep], best[keep]
    order = np.lexsort((shapely.get_coordinates(mids[ok][keep])[:, 1],
                        shapely.get_coordinates(mids[ok][keep])[:, 0]))
    noded, best = noded[order], best[order]
    cls = [props[b][0] for b in best]
    frame = gpd.GeoDataFrame(
        {
            "road_class": cls,
            "name": [props[b][1] for b in best],
            "lanes": [ROAD_CLASSES[c][0] for c in cls],
            "width_m": [ROAD_CLASSES[c][1] for c in cls],
            "surface": [ROAD_CLASSES[c][2] for c in cls],
            "max_speed_kmh": [ROAD_CLASSES[c][3] for c in cls],
        },
        geometry=noded,
        crs=METRIC_EPSG,
    )
    logger.info("roads: %d segments in %d kept components", len(frame), int((sizes >= 20).sum()))
    return RoadNetwork(frame)
