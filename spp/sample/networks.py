"""Telecom and power networks of the sample city (EPSG:9210 metres).

5G (n78, 3,500 MHz) macro sites sit in the urban wards, densest in the cores; 4G (LTE band 3,
1,800 MHz) covers the rural communes more thinly, and a few remote rural communes have
neither, so coverage analyses find real gaps.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse.csgraph import minimum_spanning_tree

from spp.sample.city import METRIC_EPSG, City
from spp.sample.utilities import points_along, road_density_class

__all__ = [
    "NO_SERVICE_COMMUNES",
    "OPERATORS",
    "fibre_access_points_frame",
    "fibre_routes_frame",
    "power_lines_frame",
    "substations_frame",
    "telecom_sites_frame",
]

logger = logging.getLogger(__name__)

OPERATORS = ("Viettel", "VNPT-VinaPhone", "MobiFone")
NO_SERVICE_COMMUNES = ("Xã Vĩnh Hải", "Xã Thạnh An", "Xã Lâm Tân", "Xã Vĩnh Lợi")
"""Remote rural communes left without any site or fibre in the sample (deliberate gaps)."""
_ISD_M = (450.0, 700.0, 1300.0, 4500.0)
"""Inter-site distance by density class (m): 5G in classes 0–2, 4G in class 3."""


def _gdf(data: dict[str, object], geoms: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=METRIC_EPSG), crs=METRIC_EPSG)


def _hex_points(poly: shapely.Geometry, isd_m: float, rng: np.random.Generator) -> np.ndarray:
    """Jittered hexagonal lattice of points inside ``poly`` (EPSG:9210)."""
    minx, miny, maxx, maxy = poly.bounds
    dy = isd_m * np.sqrt(3) / 2
    ys = np.arange(miny + dy / 2, maxy, dy)
    pts: list[tuple[float, float]] = []
    for j, y in enumerate(ys):
        xs = np.arange(minx + (isd_m / 2 if j % 2 else 0.0) + isd_m / 4, maxx, isd_m)
        pts.extend((x, y) for x in xs)
    if not pts:
        return np.array([poly.representative_point()], dtype=object)
    arr = np.array(pts) + rng.normal(0.0, isd_m * 0.12, size=(len(pts), 2))
    cand = shapely.points(np.round(arr, 1))
    inside = cand[shapely.contains(poly, cand)]
    return inside if len(inside) else np.array([poly.representative_point()], dtype=object)


def telecom_sites_frame(city: City, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Mobile sites (one row per site, three sectors) for the three operators.

    ``band_mhz`` 3500 (5G NR n78) in urban wards, 1800 (LTE band 3) elsewhere; ``height_m``
    is the mast or rooftop structure height above ground, ``equipment_height_m`` the antenna
    centre height above ground, ``eirp_dbm`` the EIRP per sector. ``critical_equipment_height_m``
    is where flooding takes the site down: 6 m for the rooftop micro cells (UMi), 0.5 m for the
    ground cabinets of masts (a typical plinth).
    """
    rows = []
    for r in range(len(city.communes)):
        c = city.communes.iloc[r]
        if c["ten"] in NO_SERVICE_COMMUNES:
            continue
        cls = int(c["density_class"])
        land = shapely.difference(c.geometry, city.water)
        shapely.prepare(land)
        pts = _hex_points(land, _ISD_M[cls], rng)
        for p in pts:
            rows.append((c["ma_xa"], cls, p))
        if cls == 3 and c["dan_so"] > 45_000:  # a 5G site at the commune centre (town)
            rows.append((c["ma_xa"], -1, c.geometry.representative_point()))
    n = len(rows)
    cls_arr = np.array([r[1] for r in rows])
    is5g = cls_arr != 3
    scenario = np.where(cls_arr == 0, "UMi", np.where(cls_arr == 3, "RMa", "UMa"))
    height = np.where(scenario == "UMi", rng.uniform(15, 25, size=n),
                      np.where(is5g, rng.uniform(25, 45, size=n), rng.uniform(30, 60, size=n)))
    height = np.round(height, 0)
    equip = np.round(height - rng.uniform(1.0, 4.0, size=n), 1)
    rot = rng.integers(0, 120, size=n)
    start = date(2019, 1, 1)
    return _gdf({
        "site_id": [f"BTS{i + 1:05d}" for i in range(n)],
        "ma_xa": [r[0] for r in rows],
        "operator": rng.choice(OPERATORS, size=n, p=[0.45, 0.3, 0.25]),
        "technology": np.where(is5g, "5G", "4G"),
        "band_mhz": np.where(is5g, 3500, 1800),
        "height_m": height,
        "equipment_height_m": equip,
        "eirp_dbm": np.round(np.where(is5g, rng.uniform(58, 65, size=n), rng.uniform(55, 61, size=n)), 1),
        "azimuths_deg": [f"{a},{a + 120},{a + 240}" for a in rot],
        "downtilt_deg": np.where(is5g, rng.integers(4, 9, size=n), rng.integers(2, 6, size=n)).astype(float),
        "beamwidth_deg": 65.0,
        "scenario": scenario,
        "status": rng.choice(["on_air", "on_air", "on_air", "on_air", "planned"], size=n),
        "on_air_date": [(start + timedelta(days=int(d))).isoformat()
                        for d in rng.integers(0, 6 * 365, size=n)],
        "critical_equipment_height_m": np.where(scenario == "UMi", 6.0, 0.5),
    }, [r[2] for r in rows])


def fibre_routes_frame(city: City, roads: gpd.GeoDataFrame, *,
                       rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Fibre cables along roads: every urban street, highways, and the rural collectors of
    communes that have fibre (not :data:`NO_SERVICE_COMMUNES`, not every rural road)."""
    cls = road_density_class(city, roads)
    rc = roads["road_class"].to_numpy()
    mids = shapely.line_interpolate_point(roads.geometry.values, 0.5, normalized=True)
    owner = city.commune_index(mids)
    names = city.communes["ten"].to_numpy()[np.maximum(owner, 0)]
    served = ~np.isin(names, NO_SERVICE_COMMUNES)
    sel = served & ((cls <= 1) | ((cls == 2) & (rc != "local")) | (rc == "national")
                    | (rc == "collector") | ((rc == "rural") & (rng.random(len(roads)) < 0.25)))
    sub = roads[sel]
    n = len(sub)
    geoms = shapely.offset_curve(sub.geometry.values, 3.0)
    trunk = np.isin(sub["road_class"].to_numpy(), ["national", "arterial"])
    return _gdf({
        "route_id": [f"CAP{i + 1:06d}" for i in range(n)],
        "operator": rng.choice(OPERATORS, size=n, p=[0.45, 0.35, 0.2]),
        "placement": np.where(cls[sel] <= 1, "underground", "aerial"),
        "fibre_count": np.where(trunk, rng.choice([96, 144], size=n), rng.choice([12, 24, 48], size=n)),
        "length_m": np.round(shapely.length(geoms), 1),
        "install_year": rng.integers(2008, 2025, size=n),
    }, geoms)


def fibre_access_points_frame(fibre: gpd.GeoDataFrame, *,
                              rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Splitters and street cabinets every ~350 m along the non-trunk fibre routes."""
    sub = fibre[fibre["fibre_count"] <= 48]
    pts, idx = points_along(sub.geometry.values, 350.0)
    n = len(pts)
    kind = rng.choice(["splitter", "splitter", "cabinet"], size=n)
    ports = np.where(kind == "cabinet", 64, rng.choice([8, 16], size=n))
    return _gdf({
        "ap_id": [f"ODP{i + 1:06d}" for i in range(n)],
        "operator": sub["operator"].to_numpy()[idx],
        "kind": kind,
        "ports": ports,
        "used_ports": np.floor(ports * rng.uniform(0.2, 0.95, size=n)).astype(int),
    }, pts)


_SUBSTATIONS = (
    # name, ward/commune holding it, primary voltage kV, capacity MVA
    ("Trạm 500 kV Ô Môn", "Phường Thới Long", 500, 1800),
    ("Trạm 220 kV Cần Thơ", "Phường Bình Thủy", 220, 500),
    ("Trạm 220 kV Thốt Nốt", "Phường Thốt Nốt", 220, 375),
    ("Trạm 220 kV Sóc Trăng", "Phường Phú Lợi", 220, 375),
    ("Trạm 220 kV Châu Thành", "Xã Châu Thành", 220, 250),
    ("Trạm 110 kV Ninh Kiều", "Phường Ninh Kiều", 110, 126),
    ("Trạm 110 kV Cái Răng", "Phường Cái Răng", 110, 126),
    ("Trạm 110 kV Vị Thanh", "Phường Vị Thanh", 110, 80),
    ("Trạm 110 kV Ngã Bảy", "Phường Ngã Bảy", 110, 80),
    ("Trạm 110 kV Long Mỹ", "Phường Long Mỹ", 110, 63),
    ("Trạm 110 kV Vĩnh Châu", "Phường Vĩnh Châu", 110, 63),
    ("Trạm 110 kV Ngã Năm", "Phường Ngã Năm", 110, 63),
    ("Trạm 110 kV Phong Điền", "Phường Phong Điền", 110, 63),
    ("Trạm 110 kV Cờ Đỏ", "Xã Cờ Đỏ", 110, 40),
    ("Trạm 110 kV Kế Sách", "Xã Kế Sách", 110, 40),
    ("Trạm 110 kV Mỹ Tú", "Xã Mỹ Tú", 110, 40),
    ("Trạm 110 kV Trần Đề", "Xã Trần Đề", 110, 40),
    ("Trạm 110 kV Thới Lai", "Xã Thới Lai", 110, 40),
)


def substations_frame(city: City, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Transmission and distribution substations (EVN), one point each."""
    rows = []
    by_name = dict(zip(city.communes["ten"], city.communes.geometry, strict=True))
    for name, commune, kv, mva in _SUBSTATIONS:
        geom = by_name.get(commune)
        if geom is None:
            continue
        c = geom.representative_point()
        p = shapely.Point(c.x + rng.uniform(-600, 600), c.y + rng.uniform(-600, 600))
        rows.append((name, kv, mva, p if geom.contains(p) else c))
    n = len(rows)
    return _gdf({
        "substation_id": [f"TBA{i + 1:03d}" for i in range(n)],
        "name": [r[0] for r in rows],
        "voltage_kv": [r[1] for r in rows],
        "capacity_mva": [r[2] for r in rows],
        "operator": ["EVNNPT" if r[1] >= 220 else "EVNSPC" for r in rows],
        # switchgear plinths: higher at the transmission (≥ 220 kV) substations
        "critical_equipment_height_m": [1.0 if r[1] >= 220 else 0.6 for r in rows],
    }, [r[3] for r in rows])


def power_lines_frame(city: City, substations: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *,
                      rng: np.random.Generator) -> gpd.GeoDataFrame:
    """High-voltage lines (minimum spanning tree of the substations, straight spans) and 22 kV
    feeders along the collectors and highways."""
    xy = shapely.get_coordinates(substations.geometry.values)
    kv = substations["voltage_kv"].to_numpy()
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    tree = minimum_spanning_tree(dist).tocoo()
    lines, volts, names = [], [], []
    for i, j in sorted(zip(tree.row.tolist(), tree.col.tolist(), strict=True)):
        seg = shapely.LineString([xy[i], xy[j]])
        if not city.outline.contains(seg):
            continue
        v = int(min(kv[i], kv[j]))
        lines.append(seg)
        volts.append(220 if v >= 220 else 110)
        names.append(f"Đường dây {volts[-1]} kV {substations['name'].iat[i].split(' kV ')[1]}"
                     f" – {substations['name'].iat[j].split(' kV ')[1]}")
    rc = roads["road_class"].to_numpy()
    feeders = roads[np.isin(rc, ["collector", "national"])]
    for g in shapely.offset_curve(feeders.geometry.values, -5.0):
        lines.append(g)
        volts.append(22)
        names.append("Xuất tuyến 22 kV")
    n = len(lines)
    return _gdf({
        "line_id": [f"DZ{i + 1:05d}" for i in range(n)],
        "name": names,
        "voltage_kv": volts,
        "circuits": [2 if v >= 110 else 1 for v in volts],
        "placement": rng.choice(["overhead", "overhead", "overhead", "underground"], size=n),
        "operator": ["EVNNPT" if v >= 220 else "EVNSPC" for v in volts],
    }, lines)
