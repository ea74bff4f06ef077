"""Water infrastructure of the sample city: waterways, dikes, drains, pumps, gates, sensors.

All geometries in EPSG:9210 metres; levels in metres above the Hòn Dấu datum.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import geopandas as gpd
import numpy as np
import shapely

from spp.sample.city import METRIC_EPSG, City

__all__ = [
    "POLDER_SIZE_M",
    "READING_TIME",
    "dikes_frame",
    "drainage_pipes_frame",
    "polder_rings",
    "pump_stations_frame",
    "sluice_gates_frame",
    "water_level_sensors_frame",
    "waterways_frame",
]

logger = logging.getLogger(__name__)

READING_TIME = datetime(2025, 10, 15, 7, 0, tzinfo=timezone(timedelta(hours=7)))
"""Time of the sensors' latest reading (local time, UTC+7), fixed for reproducibility."""


POLDER_SIZE_M = 6000.0
"""Target edge length of a rural polder (metres): rural land between the rivers and primary
canals is cut into blocks of about this size, each enclosed by its own ring dike."""

_POLDER_SETBACK_M = 250.0
"""Ring dikes run this far (metres) behind the water's edge of the rivers and primary canals;
the strip in front of them (houses, orchards on the natural levee) lies outside the dikes."""

_POLDER_MIN_AREA_M2 = 2.0e6
"""Smaller leftovers of rural land (m²) get no ring dike."""


def _gdf(data: dict[str, object], geoms: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=METRIC_EPSG), crs=METRIC_EPSG)


def waterways_frame(city: City) -> gpd.GeoDataFrame:
    """Rivers and canals: ``waterway_id``, ``name``, ``kind``, ``rank``, ``width_m``,
    ``bed_level_m`` (m above Hòn Dấu), ``length_m``, ``tidal``."""
    ws = city.waterways
    return _gdf({
        "waterway_id": [f"SONG{i + 1:04d}" for i in range(len(ws))],
        "name": [w.name for w in ws],
        "kind": [w.kind for w in ws],
        "rank": [w.rank for w in ws],
        "width_m": [w.width_m for w in ws],
        "bed_level_m": [w.bed_level_m for w in ws],
        "length_m": [round(w.line.length, 1) for w in ws],
        "tidal": [w.rank == "primary" for w in ws],
    }, [w.line for w in ws])


def polder_rings(city: City) -> list[shapely.LineString]:
    """Closed ring dikes (đê bao) of the rural polders, in EPSG:9210.

    Rural communes and the outer urban wards (density classes 2–3: mostly rice and orchards;
    the dense cores rely on their river embankments), less a :data:`_POLDER_SETBACK_M` strip along the rivers and primary canals,
    are cut into blocks of about :data:`POLDER_SIZE_M` by lines parallel and perpendicular to the
    secondary canal grid; the lines parallel to the canals run midway between two of them, so a
    canal is crossed by a ring (where its sluice gate sits) but never runs along one. Each block
    of at least :data:`_POLDER_MIN_AREA_M2` gets its exterior ring, shrunk by 20 m so that it
    lies inside the commune. A secondary canal inside a polder is thus cut off from the rivers by
    the ring (dikes are burned after channels and never lower a cell). No randomness: the rings
    follow from the geography alone.
    """
    from spp.sample.rivers import GRID_ANGLE_RAD

    rural = city.communes[city.communes["density_class"] >= 2].geometry.union_all()
    land = shapely.intersection(rural, city.outline)
    land = shapely.difference(land, shapely.buffer(city.primary_water, _POLDER_SETBACK_M))
    d = np.array([np.cos(GRID_ANGLE_RAD), np.sin(GRID_ANGLE_RAD)])  # along the river
    n = np.array([-d[1], d[0]])  # along the secondary canals
    secondary = [w.line for w in city.waterways if w.rank == "secondary"]
    # canals sit at phase + k·spacing along d; cut midway between two of them
    spacing = 3000.0
    phase = float(np.median([np.dot(np.asarray(g.interpolate(0.5, normalized=True).coords[0]), d)
                             % spacing for g in secondary])) if secondary else 0.0
    minx, miny, maxx, maxy = land.bounds
    corners = np.array([[minx, miny], [minx, maxy], [maxx, miny], [maxx, maxy]])
    s_lo, s_hi = float((corners @ d).min()), float((corners @ d).max())
    t_lo, t_hi = float((corners @ n).min()), float((corners @ n).max())
    step = spacing * round(POLDER_SIZE_M / spacing)
    s_cuts = np.arange(np.floor((s_lo - phase) / step) * step + phase + spacing / 2, s_hi, step)
    t_cuts = np.arange(np.floor(t_lo / POLDER_SIZE_M) * POLDER_SIZE_M, t_hi, POLDER_SIZE_M)
    cells = []
    for s0 in np.concatenate([[s_lo - step], s_cuts]):
        s1 = min([c for c in s_cuts if c > s0], default=s_hi + step)
        for t0 in np.concatenate([[t_lo - POLDER_SIZE_M], t_cuts]):
            t1 = min([c for c in t_cuts if c > t0], default=t_hi + POLDER_SIZE_M)
            cells.append(shapely.Polygon([d * s0 + n * t0, d * s1 + n * t0,
                                          d * s1 + n * t1, d * s0 + n * t1]))
    rings: list[shapely.LineString] = []
    blocks = shapely.intersection(np.array(cells, dtype=object), land)
    for block in blocks:
        for part in shapely.get_parts(shapely.buffer(block, -20.0, join_style="mitre")):
            if part.geom_type == "Polygon" and part.area >= _POLDER_MIN_AREA_M2:
                ring = shapely.LineString(part.exterior.coords)
                rings.append(shapely.set_precision(ring, 0.01))
    return rings


def dikes_frame(city: City, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """River embankments (kè) along the urban Hậu and Cần Thơ river banks, rural river dikes,
    the sea dike of the Sóc Trăng coast and the closed ring dikes of the rural polders
    (:func:`polder_rings`); ``crest_level_m`` above Hòn Dấu."""
    lines, names, kinds, crest, material = [], [], [], [], []
    urban = city.communes[city.communes["urban"]].geometry.union_all()
    for w in city.waterways:
        if w.rank != "primary":
            continue
        hau = w.name.startswith("Sông Hậu")
        # Hậu reaches lie 120 m inside the city, its bank 250 m: the dike runs 30 m behind the bank
        offset = 160.0 if hau else w.width_m / 2 + 15.0
        for side in ((-1.0,) if hau else (-1.0, 1.0)):
            dike = shapely.offset_curve(w.line, side * offset)
            dike = shapely.intersection(dike, city.outline)
            for part in shapely.get_parts(dike):
                if part.geom_type != "LineString" or part.length < 300:
                    continue
                in_town = shapely.intersects(part, urban)
                if not in_town and rng.random() < 0.5:
                    continue
                lines.append(part)
                names.append(f"{'Kè' if in_town else 'Đê'} {w.name}")
                kinds.append("embankment" if in_town else "river_dike")
                crest.append(round(float(rng.uniform(2.3, 2.8) if in_town else rng.uniform(1.9, 2.4)), 2))
                material.append("concrete" if in_town else "earth")
    for part in shapely.get_parts(shapely.line_merge(city.coast)):
        if part.geom_type != "LineString" or part.length < 1000:
            continue
        for side in (150.0, -150.0):  # the sea dike runs 150 m inland of the coastline
            cand = shapely.offset_curve(part, side)
            if city.outline.contains(cand.interpolate(0.5, normalized=True)):
                break
        for seg in shapely.get_parts(shapely.intersection(cand, city.outline)):
            if seg.geom_type == "LineString" and seg.length > 500:
                lines.append(seg)
                names.append("Đê biển Sóc Trăng")
                kinds.append("sea_dike")
                crest.append(round(float(rng.uniform(3.5, 4.5)), 2))
                material.append("earth_concrete_face")
    # drawn last so that the dikes above keep their random draws
    for k, ring in enumerate(polder_rings(city)):
        lines.append(ring)
        names.append(f"Đê bao ô {k + 1}")
        kinds.append("ring_dike")
        crest.append(round(float(rng.uniform(2.5, 3.5)), 2))
        material.append("earth")
    return _gdf({
        "dike_id": [f"DE{i + 1:04d}" for i in range(len(lines))],
        "name": names,
        "kind": kinds,
        "crest_level_m": crest,
        "crest_width_m": [6.0 if k == "sea_dike" else 4.0 for k in kinds],
        "material": material,
        "length_m": [round(g.length, 1) for g in lines],
    }, lines)


def drainage_pipes_frame(city: City, roads: gpd.GeoDataFrame, *,
                         rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Storm/combined sewers under urban streets (offset 2 m from the road axis).

    Invert levels in m above Hòn Dấu fall along the pipe at 0.1–0.3 %.
    """
    mids = shapely.line_interpolate_point(roads.geometry.values, 0.5, normalized=True)
    owner = city.commune_index(mids)
    cls = np.where(owner >= 0, city.communes["density_class"].to_numpy()[owner], 3)
    sel = (cls <= 1) | ((cls == 2) & np.isin(roads["road_class"].to_numpy(), ["arterial", "collector"]))
    sub = roads[sel & (roads["road_class"] != "national")]
    geoms = shapely.offset_curve(sub.geometry.values, 2.0)
    n = len(sub)
    main = np.isin(sub["road_class"].to_numpy(), ["arterial", "collector"])
    diameter = np.where(main, rng.choice([800, 1000, 1200, 1500], size=n),
                        rng.choice([400, 500, 600], size=n))
    length = shapely.length(geoms)
    up = np.round(rng.uniform(-0.6, 0.2, size=n), 2)
    down = np.round(up - length * rng.uniform(0.001, 0.003, size=n), 2)
    return _gdf({
        "pipe_id": [f"CONG{i + 1:06d}" for i in range(n)],
        "kind": np.where(cls[sel & (roads["road_class"] != "national")] == 0, "combined", "storm"),
        "diameter_mm": diameter,
        "material": np.where(diameter >= 800, "reinforced_concrete", "hdpe"),
        "invert_up_m": up,
        "invert_down_m": down,
        "length_m": np.round(length, 1),
        "install_year": rng.integers(1995, 2025, size=n),
    }, geoms)


def _bank_points(city: City, lines: list[shapely.LineString], n: int,
                 rng: np.random.Generator, offset_m: float) -> np.ndarray:
    pts = []
    for i in range(n):
        line = lines[i % len(lines)]
        p = line.interpolate(rng.uniform(0.05, 0.95), normalized=True)
        pts.append(shapely.Point(p.x + rng.uniform(-offset_m, offset_m),
                                 p.y + rng.uniform(-offset_m, offset_m)))
    return np.array(pts, dtype=object)


def pump_stations_frame(city: City, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Drainage pump stations: 1–4 per urban ward on its nearest river or canal, a few rural
    irrigation/drainage stations; ``capacity_m3s`` 0.5–20 m³/s."""
    rows = []
    lines = [w.line for w in city.waterways]
    tree = shapely.STRtree(lines)
    for r in range(len(city.communes)):
        c = city.communes.iloc[r]
        cls = int(c["density_class"])
        count = (4, 3, 2, 0)[cls] if c["urban"] else int(rng.random() < 0.35)
        if count == 0:
            continue
        geom = c.geometry
        for k in range(count):
            p = geom.representative_point() if k == 0 else shapely.Point(
                geom.centroid.x + rng.uniform(-1500, 1500), geom.centroid.y + rng.uniform(-1500, 1500))
            near = lines[int(tree.nearest(p))]
            q = near.interpolate(near.project(p))
            # set back from the water onto the land side
            v = np.array([p.x - q.x, p.y - q.y])
            v = v / max(np.hypot(*v), 1e-6)
            site = shapely.Point(q.x + v[0] * 40.0, q.y + v[1] * 40.0)
            if not geom.contains(site):
                site = geom.representative_point()
            cap = float(rng.uniform(4, 20) if cls <= 1 else rng.uniform(0.5, 6))
            rows.append((c["ma_xa"], c["ten"], site, round(cap, 1), cls))
    n = len(rows)
    return _gdf({
        "station_id": [f"TB{i + 1:03d}" for i in range(n)],
        "name": [f"Trạm bơm {r[1].split(' ', 1)[1]} {i + 1}" for i, r in enumerate(rows)],
        "ma_xa": [r[0] for r in rows],
        "capacity_m3s": [r[3] for r in rows],
        "pumps": [int(max(1, round(r[3] / 2.5))) for r in rows],
        "drainage_area_ha": [round(r[3] * float(rng.uniform(60, 120)), 0) for r in rows],
        "purpose": ["urban_drainage" if r[4] <= 2 else "irrigation_drainage" for r in rows],
        "status": rng.choice(["operating", "operating", "operating", "maintenance"], size=n),
        "commissioned_year": rng.integers(2005, 2025, size=n),
    }, [r[2] for r in rows])


def sluice_gates_frame(city: City, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Sluice gates (cống) where canals meet the Hậu River or a primary river, and where a polder
    ring dike (:func:`polder_rings`) crosses a secondary canal; ``state`` open or closed,
    ``sill_level_m`` above Hòn Dấu."""
    primary = [w for w in city.waterways if w.rank == "primary"]
    rivers = shapely.union_all([shapely.buffer(w.line, w.width_m / 2) for w in primary]
                               + [city.hau_water])
    edge = shapely.boundary(rivers)
    gates, names, widths = [], [], []
    for w in city.waterways:
        if w.name.startswith("Sông Hậu"):
            continue
        hits = shapely.intersection(w.line, edge)
        for p in shapely.get_parts(hits):
            if p.geom_type == "Point" and city.outline.contains(p):
                gates.append(p)
                names.append(f"Cống {w.name.replace('Kênh ', '').replace('Sông ', '').replace('Rạch ', '')}")
                widths.append(round(min(w.width_m * 0.6, 30.0), 1))
    n = len(gates)
    state = list(rng.choice(["open", "open", "closed"], size=n))
    sill = list(np.round(rng.uniform(-3.0, -1.5, size=n), 2))
    operation = list(rng.choice(["manual", "motorised", "automatic"], size=n))
    # polder gates where a ring dike crosses a secondary canal, drawn after the river gates
    rings = shapely.MultiLineString(polder_rings(city))
    for w in city.waterways:
        if w.rank != "secondary":
            continue
        for p in shapely.get_parts(shapely.intersection(w.line, rings)):
            if p.geom_type == "Point":
                gates.append(p)
                names.append(f"Cống bao {w.name.replace('Kênh ', '')}")
                widths.append(round(min(w.width_m * 0.6, 30.0), 1))
    extra = len(gates) - n
    state += list(rng.choice(["open", "closed", "closed"], size=extra))
    sill += list(np.round(rng.uniform(-2.5, -1.5, size=extra), 2))
    operation += list(rng.choice(["manual", "manual", "motorised"], size=extra))
    return _gdf({
        "gate_id": [f"CONGDAP{i + 1:03d}" for i in range(len(gates))],
        "name": names,
        "state": state,
        "sill_level_m": sill,
        "width_m": widths,
        "operation": operation,
    }, gates)


def water_level_sensors_frame(city: City, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Water-level gauges on the rivers and primary canals with their latest reading
    (``level_m`` above Hòn Dấu at ``reading_time``)."""
    primary = [w for w in city.waterways if w.rank == "primary"]
    pts, names, wids = [], [], []
    for w in primary:
        k = max(1, int(w.line.length // 15_000))
        for j in range(k):
            pts.append(w.line.interpolate((j + 0.5) / k, normalized=True))
            names.append(f"Trạm đo mực nước {w.name} {j + 1}")
            wids.append(w.name)
    n = len(pts)
    level = np.round(rng.uniform(1.2, 1.9, size=n), 2)
    return _gdf({
        "sensor_id": [f"MN{i + 1:03d}" for i in range(n)],
        "name": names,
        "waterway": wids,
        "level_m": level,
        "reading_time": [(READING_TIME - timedelta(minutes=int(m))).isoformat()
                         for m in rng.integers(0, 15, size=n)],
        "alarm_1_m": 1.7, "alarm_2_m": 1.9, "alarm_3_m": 2.1,
        "status": rng.choice(["online", "online", "online", "offline"], size=n),
    }, pts)
