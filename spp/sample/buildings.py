"""Synthetic buildings placed along the roads, carrying the 2025 population estimate.

Each feature is a building or a row of attached houses (dãy nhà liền kề) with 1–40
households; the population of the buildings of a commune sums exactly to the commune's 2025
estimate.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely

from spp.sample.admin import allocate_capped, allocate_integers
from spp.sample.city import METRIC_EPSG, City

__all__ = ["PERSONS_PER_HOUSEHOLD", "build_buildings"]

logger = logging.getLogger(__name__)

PERSONS_PER_HOUSEHOLD = 3.6
"""Mean household size in the Mekong Delta (2019 census ≈ 3.5–3.7)."""
_MEAN_HH = (18.0, 13.0, 10.0, 8.5)  # households per building feature, by density class
_MAX_HH = (40, 40, 30, 16)
_FLOORS = ((3, 8), (2, 5), (1, 3), (1, 2))
_OTHER_USES = ("commercial", "public", "education", "health", "industrial", "religious")


def _rectangles(cx: np.ndarray, cy: np.ndarray, ux: np.ndarray, uy: np.ndarray,
                frontage: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Rectangles centred on (cx, cy), long side ``depth`` across the road direction (ux, uy)."""
    vx, vy = -uy, ux
    hf, hd = frontage / 2, depth / 2
    corners = np.stack([
        np.column_stack([cx - ux * hf - vx * hd, cy - uy * hf - vy * hd]),
        np.column_stack([cx + ux * hf - vx * hd, cy + uy * hf - vy * hd]),
        np.column_stack([cx + ux * hf + vx * hd, cy + uy * hf + vy * hd]),
        np.column_stack([cx - ux * hf + vx * hd, cy - uy * hf + vy * hd]),
    ], axis=1)
    corners = np.concatenate([corners, corners[:, :1]], axis=1)
    return shapely.polygons(np.round(corners, 2))


def _place(city: City, row: int, segs: gpd.GeoDataFrame, n: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Place up to ``n`` candidate footprints along ``segs``; return polygons and households."""
    cls = int(city.communes["density_class"].iat[row])
    lengths = segs.geometry.length.to_numpy()
    m = int(n * 1.8) + 10
    pick = rng.choice(len(segs), size=m, p=lengths / lengths.sum())
    t = rng.uniform(0.08, 0.92, size=m)
    geoms = segs.geometry.values[pick]
    p0 = shapely.line_interpolate_point(geoms, t, normalized=True)
    p1 = shapely.line_interpolate_point(geoms, np.minimum(t + 0.02, 1.0), normalized=True)
    a, b = shapely.get_coordinates(p0), shapely.get_coordinates(p1)
    u = b - a
    u /= np.maximum(np.hypot(u[:, 0], u[:, 1]), 1e-9)[:, None]
    hh = np.clip(np.round(rng.gamma(2.0, _MEAN_HH[cls] / 2.0, size=m)), 1, _MAX_HH[cls])
    lo, hi = _FLOORS[cls]
    floors = rng.integers(lo, hi + 1, size=m).astype(float)
    floors = np.where(hh > 25, rng.integers(8, 16, size=m), floors)
    area = np.maximum(hh * 90.0 / floors * rng.uniform(0.8, 1.2, size=m), 40.0)
    depth = np.clip(np.sqrt(area) * 1.4, 8.0, 35.0)
    frontage = area / depth
    side = rng.choice([-1.0, 1.0], size=m)
    setback = segs["width_m"].to_numpy()[pick] / 2 + 3.0 + depth / 2
    cx = a[:, 0] - u[:, 1] * side * setback
    cy = a[:, 1] + u[:, 0] * side * setback
    polys = _rectangles(cx, cy, u[:, 0], u[:, 1], frontage, depth)
    commune = city.communes.geometry.iat[row]
    shapely.prepare(commune)
    shapely.prepare(city.water)
    ok = shapely.contains_properly(commune, polys) & ~shapely.intersects(city.water, polys)
    # drop candidates that overlap an earlier kept one (greedy, in draw order)
    idx = np.nonzero(ok)[0]
    tree = shapely.STRtree(polys[idx])
    a_i, b_i = tree.query(polys[idx], predicate="intersects")
    clash = np.zeros(len(idx), dtype=bool)
    for i, j in zip(a_i, b_i, strict=True):
        if j < i and not clash[j]:
            clash[i] = True
    idx = idx[~clash][:n]
    return polys[idx], np.column_stack([hh[idx], floors[idx]])


def build_buildings(city: City, roads: gpd.GeoDataFrame, *,
                    rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Generate buildings (EPSG:9210) whose population sums to each commune's ``dan_so``.

    Parameters
    ----------
    city : City
        Shared geography with ``dan_so`` (persons) per commune.
    roads : GeoDataFrame
        Noded road segments in EPSG:9210 (with ``width_m``).
    rng : numpy.random.Generator
        Seeded generator.

    Returns
    -------
    GeoDataFrame
        Columns ``building_id``, ``ma_xa``, ``use``, ``floors``, ``height_m``, ``households``,
        ``population`` (persons), ``footprint_m2``; geometry polygons in EPSG:9210.
    """
    mids = shapely.line_interpolate_point(roads.geometry.values, 0.5, normalized=True)
    owner = city.commune_index(mids)
    frames = []
    for row in range(len(city.communes)):
        c = city.communes.iloc[row]
        segs = roads[(owner == row) & (roads["road_class"] != "national")]
        if segs.empty:
            segs = roads[owner == row]
        pop = int(c["dan_so"])
        cls = int(c["density_class"])
        n_res = max(1, round(pop / PERSONS_PER_HOUSEHOLD / _MEAN_HH[cls]))
        n_other = max(1, n_res // 20)
        polys, attrs = _place(city, row, segs, n_res + n_other, rng)
        n_res = min(n_res, len(polys))
        hh_target = round(pop / PERSONS_PER_HOUSEHOLD)
        hh = attrs[:n_res, 0]
        households = 1 + allocate_capped(np.maximum(hh - 1, 0) + 1e-3, max(hh_target - n_res, 0),
                                         _MAX_HH[cls] - 1)
        population = allocate_integers(households.astype(float), pop)
        uses = np.array(["residential"] * len(polys), dtype=object)
        uses[: n_res][rng.random(n_res) < (0.25 if cls < 2 else 0.05)] = "mixed"
        others = len(polys) - n_res
        uses[n_res:] = rng.choice(_OTHER_USES, size=others)
        floors = attrs[:, 1].astype(int)
        frames.append(gpd.GeoDataFrame({
            "ma_xa": c["ma_xa"],
            "use": uses,
            "floors": floors,
            "height_m": np.round(floors * 3.4 + 0.6, 1),
            "households": np.concatenate([households, np.zeros(others, dtype=np.int64)]),
            "population": np.concatenate([population, np.zeros(others, dtype=np.int64)]),
            "footprint_m2": np.round(shapely.area(polys), 1),
        }, geometry=polys, crs=METRIC_EPSG))
    out = gpd.GeoDataFrame(
        gpd.pd.concat(frames, ignore_index=True), geometry="geometry", crs=METRIC_EPSG
    )
    out.insert(0, "building_id", [f"NHA{i + 1:06d}" for i in range(len(out))])
    logger.info("buildings: %d features, %d persons", len(out), int(out["population"].sum()))
    return out
