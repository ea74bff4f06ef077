"""Rivers and canals of the sample city, derived from the real city outline (EPSG:9210).

The north-eastern edge of the outline follows the Hậu River (Bassac): its centreline is the
NE envelope of the outline (the provincial border runs mid-river), smoothed. The Trần Đề arm
is the border between the Cù Lao Dung islands and the mainland. The Cần Thơ river and the main
canals follow hand-digitised waypoints (approximate real courses); a grid of secondary canals
fills the rural communes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer

__all__ = [
    "GRID_ANGLE_RAD",
    "Waterway",
    "hau_centreline",
    "main_waterways",
    "secondary_canals",
    "tran_de_arm",
]

logger = logging.getLogger(__name__)

GRID_ANGLE_RAD = float(np.deg2rad(-43.0))
"""Direction of the Hậu River (and of the delta's road/canal grid), radians from east."""


@dataclass(frozen=True)
class Waterway:
    """One river reach or canal (geometry in EPSG:9210 metres).

    ``width_m`` is the water-surface width, ``bed_level_m`` the bed in metres above the Hòn Dấu
    datum (negative below it).
    """

    name: str
    kind: str
    rank: str
    line: shapely.LineString
    width_m: float
    bed_level_m: float


def _smooth(coords: np.ndarray, window: int) -> np.ndarray:
    if len(coords) <= window:
        return coords
    kernel = np.ones(window) / window
    pad = window // 2
    padded = np.pad(coords, ((pad, pad), (0, 0)), mode="edge")
    out = np.column_stack([np.convolve(padded[:, k], kernel, mode="valid") for k in (0, 1)])
    return out[: len(coords)]


def hau_centreline(outline_m: shapely.Geometry, *, step_m: float = 500.0) -> shapely.LineString:
    """Centreline of the Hậu River along the city's NE edge, oriented downstream (NW→SE).

    Parameters
    ----------
    outline_m : shapely geometry
        City outline in EPSG:9210 (metres).
    step_m : float
        Along-river sampling step in metres.

    Returns
    -------
    shapely.LineString
        Smoothed NE envelope of the outline in EPSG:9210.
    """
    ring = shapely.segmentize(shapely.get_exterior_ring(max(shapely.get_parts(outline_m),
                                                            key=lambda p: p.area)), 100.0)
    xy = shapely.get_coordinates(ring)
    d = np.array([np.cos(GRID_ANGLE_RAD), np.sin(GRID_ANGLE_RAD)])  # downstream (SE)
    n = np.array([-d[1], d[0]])  # NE normal
    s, t = xy @ d, xy @ n
    bins = np.floor((s - s.min()) / step_m).astype(int)
    pts = []
    for b in range(bins.max() + 1):
        sel = np.nonzero(bins == b)[0]
        if len(sel):
            k = sel[np.argmax(t[sel])]
            pts.append(xy[k])
    arr = np.array(pts)
    # the river is the border from the northern tip (An Giang) to the eastern tip (the sea)
    arr = arr[int(np.argmax(arr[:, 1])) : int(np.argmax(arr[:, 0])) + 1]
    arr = _smooth(arr, 7)
    return shapely.LineString(arr)


def tran_de_arm(island_m: shapely.Geometry, mainland_m: shapely.Geometry) -> shapely.LineString:
    """The Trần Đề arm: shared border of the Cù Lao Dung islands and the mainland (EPSG:9210)."""
    shared = shapely.intersection(shapely.boundary(island_m), shapely.buffer(mainland_m, 150.0))
    merged = shapely.line_merge(shapely.union_all(shapely.get_parts(shared)))
    longest = max(shapely.get_parts(merged), key=lambda g: g.length)
    coords = _smooth(shapely.get_coordinates(shapely.segmentize(longest, 200.0)), 9)
    line = shapely.LineString(coords)
    start = shapely.Point(coords[0])
    end = shapely.Point(coords[-1])
    # orient downstream: the upstream end is the northern one
    return line if start.y > end.y else shapely.reverse(line)


# name, kind, rank, width m, bed level m (Hòn Dấu), waypoints lon/lat (approximate real courses)
_MAIN: list[tuple[str, str, str, float, float, list[tuple[float, float]]]] = [
    ("Sông Cần Thơ", "river", "primary", 280.0, -7.0,
     [(105.792, 10.037), (105.772, 10.014), (105.748, 10.003), (105.705, 9.998),
      (105.665, 10.001), (105.610, 10.018), (105.560, 10.045)]),
    ("Kênh Xà No", "canal", "primary", 60.0, -4.0,
     [(105.760, 10.001), (105.700, 9.945), (105.640, 9.890), (105.580, 9.840),
      (105.520, 9.805), (105.470, 9.785)]),
    ("Sông Ô Môn", "river", "primary", 120.0, -5.0,
     [(105.628, 10.128), (105.600, 10.095), (105.565, 10.065), (105.520, 10.030)]),
    ("Sông Bình Thủy", "river", "primary", 80.0, -4.5,
     [(105.752, 10.082), (105.730, 10.065), (105.705, 10.050), (105.680, 10.030)]),
    ("Rạch Cái Khế", "creek", "secondary", 40.0, -3.0,
     [(105.786, 10.050), (105.772, 10.046), (105.758, 10.040)]),
    ("Kênh Thốt Nốt", "canal", "primary", 50.0, -4.0,
     [(105.540, 10.268), (105.480, 10.225), (105.410, 10.175), (105.340, 10.125)]),
    ("Sông Cái Côn", "river", "primary", 150.0, -5.5,
     [(105.905, 9.935), (105.870, 9.880), (105.845, 9.840), (105.822, 9.812)]),
    ("Kênh Quản Lộ – Phụng Hiệp", "canal", "primary", 50.0, -4.0,
     [(105.822, 9.812), (105.760, 9.735), (105.690, 9.655), (105.625, 9.585),
      (105.585, 9.545), (105.535, 9.470)]),
    ("Kênh Nàng Mau", "canal", "primary", 40.0, -3.5,
     [(105.470, 9.785), (105.500, 9.740), (105.540, 9.700), (105.575, 9.675)]),
    ("Kênh Maspero", "canal", "primary", 50.0, -4.0,
     [(105.930, 9.565), (105.972, 9.603), (106.030, 9.640), (106.090, 9.668), (106.125, 9.690)]),
    ("Kênh Mỹ Thanh", "canal", "primary", 60.0, -4.0,
     [(105.972, 9.603), (106.000, 9.520), (106.050, 9.440), (106.100, 9.390)]),
]


def main_waterways(hau_m: shapely.LineString, outline_m: shapely.Geometry) -> list[Waterway]:
    """The Cần Thơ river and the main canals in EPSG:9210, clipped to the outline.

    Canals whose first waypoint lies within 6 km of the Hậu centreline are extended to it so
    that they branch from the river.
    """
    fwd = Transformer.from_crs(4326, 9210, always_xy=True)
    out: list[Waterway] = []
    for name, kind, rank, width, bed, pts in _MAIN:
        x, y = fwd.transform([p[0] for p in pts], [p[1] for p in pts])
        coords = list(zip(x, y, strict=True))
        first = shapely.Point(coords[0])
        if hau_m.distance(first) < 6000.0:
            snap = hau_m.interpolate(hau_m.project(first))
            coords.insert(0, (snap.x, snap.y))
        line = shapely.segmentize(shapely.LineString(coords), 250.0)
        clipped = shapely.intersection(line, outline_m)
        parts = [p for p in shapely.get_parts(clipped) if p.geom_type == "LineString"]
        if not parts:
            logger.warning("waterway %s lies outside the outline; skipped", name)
            continue
        out.append(Waterway(name, kind, rank, max(parts, key=lambda g: g.length), width, bed))
    return out


def secondary_canals(
    rural_m: shapely.Geometry, *, spacing_m: float = 3000.0, rng: np.random.Generator
) -> list[Waterway]:
    """A grid of secondary canals (kênh cấp 2) across rural land, perpendicular to the river.

    Parameters
    ----------
    rural_m : shapely geometry
        Rural land (EPSG:9210) where canals are dug.
    spacing_m : float
        Distance between parallel canals in metres.
    rng : numpy.random.Generator
        Source of widths and bed levels.
    """
    minx, miny, maxx, maxy = rural_m.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half = max(maxx - minx, maxy - miny)
    d = np.array([np.cos(GRID_ANGLE_RAD), np.sin(GRID_ANGLE_RAD)])
    n = np.array([-d[1], d[0]])
    lines = []
    for k in np.arange(-half, half, spacing_m):
        c = np.array([cx, cy]) + d * (k + spacing_m / 2)
        lines.append(shapely.LineString([c - n * half, c + n * half]))
    prepared = rural_m
    shapely.prepare(prepared)
    clipped = shapely.intersection(np.array(lines, dtype=object), prepared)
    out: list[Waterway] = []
    number = 0
    for geom in clipped:
        for part in shapely.get_parts(geom):
            if part.geom_type != "LineString" or part.length < 1500.0:
                continue
            number += 1
            width = float(np.round(rng.uniform(10.0, 25.0), 1))
            bed = float(np.round(rng.uniform(-3.2, -2.0), 2))
            out.append(Waterway(f"Kênh cấp 2 số {number}", "canal", "secondary", part, width, bed))
    return out
