"""Street furniture and utilities along the roads: water mains, hydrants, street lights,
trees, waste collection points and parking (EPSG:9210 metres)."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely

from spp.sample.city import METRIC_EPSG, City

__all__ = [
    "TREE_SPECIES",
    "fire_hydrants_frame",
    "parking_frame",
    "points_along",
    "road_density_class",
    "street_lights_frame",
    "trees_frame",
    "waste_points_frame",
    "water_mains_frame",
]

logger = logging.getLogger(__name__)

TREE_SPECIES = (
    "Dầu rái", "Sao đen", "Me tây", "Bằng lăng", "Phượng vĩ", "Lim xẹt", "Osaka đỏ",
    "Giáng hương", "Muồng hoàng yến", "Bàng Đài Loan", "Dừa", "Lộc vừng",
)


def _gdf(data: dict[str, object], geoms: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=METRIC_EPSG), crs=METRIC_EPSG)


def road_density_class(city: City, roads: gpd.GeoDataFrame) -> np.ndarray:
    """Density class (0 core … 3 rural) of the commune under each road segment's midpoint."""
    mids = shapely.line_interpolate_point(roads.geometry.values, 0.5, normalized=True)
    owner = city.commune_index(mids)
    return np.where(owner >= 0, city.communes["density_class"].to_numpy()[np.maximum(owner, 0)], 3)


def points_along(lines: np.ndarray, spacing_m: float, *, offset_m: float = 0.0,
                 start_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``spacing_m`` metres along each line (EPSG:9210), ``offset_m`` to its left.

    Returns the points and the index of the line each one belongs to.
    """
    lengths = shapely.length(lines)
    counts = np.floor(lengths / spacing_m).astype(int)
    idx = np.repeat(np.arange(len(lines)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(len(idx)) - first
    dist = (start_m if start_m is not None else spacing_m / 2) + k * spacing_m
    if offset_m:
        lines = shapely.offset_curve(lines, offset_m)
    pts = shapely.line_interpolate_point(lines[idx], np.minimum(dist, shapely.length(lines[idx])))
    return pts, idx


def water_mains_frame(city: City, roads: gpd.GeoDataFrame, *,
                      rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Water-supply mains under urban streets and rural collectors (offset −2 m from the axis)."""
    cls = road_density_class(city, roads)
    rc = roads["road_class"].to_numpy()
    sel = ((cls <= 1) | ((cls == 2) & (rc != "local")) | (rc == "collector")) & (rc != "national")
    sub = roads[sel]
    geoms = shapely.offset_curve(sub.geometry.values, -2.0)
    n = len(sub)
    main = np.isin(sub["road_class"].to_numpy(), ["arterial", "collector"])
    diameter = np.where(main, rng.choice([300, 400, 600, 800], size=n), rng.choice([100, 150, 200], size=n))
    return _gdf({
        "main_id": [f"ONG{i + 1:06d}" for i in range(n)],
        "diameter_mm": diameter,
        "material": np.where(diameter >= 400, "ductile_iron", rng.choice(["hdpe", "upvc"], size=n)),
        "pressure_zone": np.where(cls[sel] <= 1, "Trung tâm", "Ngoại vi"),
        "install_year": rng.integers(1998, 2025, size=n),
        "length_m": np.round(shapely.length(geoms), 1),
    }, geoms)


def fire_hydrants_frame(mains: gpd.GeoDataFrame, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Fire hydrants every ~150 m on mains of ≥ 150 mm in urban areas."""
    sub = mains[(mains["diameter_mm"] >= 150) & (mains["pressure_zone"] == "Trung tâm")]
    big = mains[(mains["diameter_mm"] >= 300)]
    lines = np.concatenate([sub.geometry.values, big.geometry.values])
    lines = shapely.get_parts(shapely.line_merge(shapely.MultiLineString(list(lines))))
    pts, _ = points_along(lines, 150.0, offset_m=-1.5)
    n = len(pts)
    return _gdf({
        "hydrant_id": [f"TN{i + 1:05d}" for i in range(n)],
        "kind": rng.choice(["pillar", "underground"], size=n, p=[0.7, 0.3]),
        "diameter_mm": rng.choice([100, 125], size=n),
        "pressure_bar": np.round(rng.uniform(1.5, 3.5, size=n), 1),
        "status": rng.choice(["working", "working", "working", "working", "faulty"], size=n),
    }, pts)


def street_lights_frame(city: City, roads: gpd.GeoDataFrame, *,
                        rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Street lights: every 35 m in the urban cores, every 45 m on urban main streets and on
    national highways through wards, every 60 m on highways elsewhere."""
    cls = road_density_class(city, roads)
    rc = roads["road_class"].to_numpy()
    groups = [
        ((cls <= 1) & (rc != "national"), 35.0),
        ((cls == 2) & np.isin(rc, ["arterial", "collector"]), 45.0),
        ((cls <= 2) & (rc == "national"), 40.0),
        ((cls == 3) & (rc == "national"), 60.0),
    ]
    pts_all, widths = [], []
    for mask, spacing in groups:
        sub = roads[mask]
        lines = sub.geometry.values
        pts, idx = points_along(lines, spacing)
        ahead = shapely.line_interpolate_point(lines[idx], shapely.line_locate_point(lines[idx], pts) + 1.0)
        a, b = shapely.get_coordinates(pts), shapely.get_coordinates(ahead)
        u = b - a
        u /= np.maximum(np.hypot(u[:, 0], u[:, 1]), 1e-9)[:, None]
        w = sub["width_m"].to_numpy()[idx]
        kerb = np.column_stack([a[:, 0] - u[:, 1] * (w / 2 + 0.5), a[:, 1] + u[:, 0] * (w / 2 + 0.5)])
        pts_all.append(shapely.points(np.round(kerb, 2)))
        widths.append(w)
    pts = np.concatenate(pts_all)
    inside = shapely.contains(city.outline, pts)
    pts = pts[inside]
    width = np.concatenate(widths)[inside]
    n = len(pts)
    led = rng.random(n) < 0.7
    return _gdf({
        "light_id": [f"DCS{i + 1:06d}" for i in range(n)],
        "lamp_type": np.where(led, "led", "high_pressure_sodium"),
        "power_w": np.where(led, rng.choice([60, 100, 150], size=n), rng.choice([150, 250], size=n)),
        "pole_height_m": np.where(width >= 15, 10.0, np.where(width >= 8, 8.0, 6.0)),
        "circuit_id": [f"TU{j:04d}" for j in (np.arange(n) // 40 + 1)],
        "smart": led & (rng.random(n) < 0.3),
        "status": rng.choice(["on", "on", "on", "on", "on", "on", "faulty", "off"], size=n),
        "install_year": rng.integers(2005, 2025, size=n),
    }, pts)


def trees_frame(city: City, roads: gpd.GeoDataFrame, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Street trees: both sides of the core wards' main streets every 15 m, one side of the
    other wards' arterials every 25 m."""
    cls = road_density_class(city, roads)
    rc = roads["road_class"].to_numpy()
    groups = [((cls <= 1) & np.isin(rc, ["arterial", "collector"]), (1.0, -1.0), 15.0),
              ((cls == 2) & (rc == "arterial"), (1.0,), 25.0)]
    pts = []
    for mask, sides, spacing in groups:
        sub = roads[mask]
        for side in sides:
            offs = side * (sub["width_m"].to_numpy() / 2 + 1.0)
            lines = shapely.offset_curve(sub.geometry.values, offs)
            p, _ = points_along(lines, spacing)
            pts.append(p)
    pts_arr = np.concatenate(pts)
    pts_arr = pts_arr[shapely.contains(city.outline, pts_arr)]
    n = len(pts_arr)
    height = np.round(rng.uniform(4.0, 22.0, size=n), 1)
    return _gdf({
        "tree_id": [f"CX{i + 1:06d}" for i in range(n)],
        "species": rng.choice(TREE_SPECIES, size=n),
        "height_m": height,
        "dbh_cm": np.round(height * rng.uniform(1.5, 3.0, size=n), 0).astype(int),
        "crown_diameter_m": np.round(height * rng.uniform(0.3, 0.6, size=n), 1),
        "condition": rng.choice(["good", "good", "good", "fair", "poor", "hazard"], size=n),
        "planted_year": rng.integers(1975, 2025, size=n),
    }, pts_arr)


def waste_points_frame(city: City, buildings: gpd.GeoDataFrame, *,
                       rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Waste collection points, about one per 1,500 residents, at sampled building frontages."""
    n_per = (buildings.groupby("ma_xa")["population"].sum() / 1500).round().astype(int).clip(lower=1)
    rows = []
    for ma_xa in sorted(n_per.index):
        sub = buildings[buildings["ma_xa"] == ma_xa]
        k = min(int(n_per[ma_xa]), len(sub))
        pick = np.sort(rng.choice(len(sub), size=k, replace=False))
        for g in sub.geometry.values[pick]:
            rows.append((ma_xa, shapely.get_point(shapely.get_exterior_ring(g), 0)))
    n = len(rows)
    kind = rng.choice(["bin", "bin", "bin", "collection_point", "transfer_station"], size=n,
                      p=[0.3, 0.3, 0.2, 0.15, 0.05])
    return _gdf({
        "point_id": [f"RAC{i + 1:05d}" for i in range(n)],
        "ma_xa": [r[0] for r in rows],
        "kind": kind,
        "capacity_m3": np.where(kind == "transfer_station", 20.0,
                                np.where(kind == "collection_point", 6.0, 0.66)),
        "sorted_waste": rng.random(n) < 0.25,
        "schedule": rng.choice(["daily", "alternate_days", "twice_weekly"], size=n),
    }, [r[1] for r in rows])


def parking_frame(city: City, roads: gpd.GeoDataFrame, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Car and motorbike parking in the urban wards, about one per 3,000 residents, next to
    streets picked in proportion to their length."""
    cls = road_density_class(city, roads)
    sub = roads[(cls <= 2) & (roads["road_class"] != "national")]
    urban_pop = int(city.communes.loc[city.communes["density_class"] <= 2, "dan_so"].sum())
    lengths = sub.geometry.length.to_numpy()
    pick = np.sort(rng.choice(len(sub), size=urban_pop // 3000, replace=False, p=lengths / lengths.sum()))
    lines = sub.geometry.values[pick]
    offs = sub["width_m"].to_numpy()[pick] / 2 + 10.0
    pts = shapely.line_interpolate_point(shapely.offset_curve(lines, offs), 0.5, normalized=True)
    pts = pts[shapely.contains(city.outline, pts) & ~shapely.intersects(city.water, pts)]
    n = len(pts)
    kind = rng.choice(["on_street", "off_street", "underground"], size=n, p=[0.6, 0.35, 0.05])
    cars = np.where(kind == "on_street", rng.integers(5, 30, size=n), rng.integers(20, 300, size=n))
    return _gdf({
        "parking_id": [f"BX{i + 1:04d}" for i in range(n)],
        "kind": kind,
        "capacity_cars": cars,
        "capacity_motorbikes": cars * rng.integers(3, 10, size=n),
        "fee_vnd_per_hour": rng.choice([0, 5000, 10000, 20000], size=n),
        "operator": rng.choice(["public", "private"], size=n),
    }, pts)
