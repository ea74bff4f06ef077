"""Land use, cadastral parcels, planning zones and construction permits (EPSG:9210 metres).

Land-use codes follow the Vietnamese land classification (Luật Đất đai 2024; codes of
Thông tư 08/2024/TT-BTNMT): LUC rice, CLN perennial crops, NTS aquaculture, ODT/ONT urban and
rural residential, SKC/SKK industry, TMD commerce, DGT transport, SON rivers and canals...
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import shapely

from spp.sample.city import METRIC_EPSG, City
from spp.sample.rivers import GRID_ANGLE_RAD

__all__ = [
    "LAND_USE_CODES",
    "construction_permits_frame",
    "land_parcels_frame",
    "land_use_frame",
    "planning_zones_frame",
]

logger = logging.getLogger(__name__)

LAND_USE_CODES = {
    "LUC": "Đất chuyên trồng lúa", "BHK": "Đất bằng trồng cây hằng năm khác",
    "CLN": "Đất trồng cây lâu năm", "RPH": "Đất rừng phòng hộ", "NTS": "Đất nuôi trồng thủy sản",
    "ONT": "Đất ở tại nông thôn", "ODT": "Đất ở tại đô thị", "TMD": "Đất thương mại, dịch vụ",
    "SKC": "Đất cơ sở sản xuất phi nông nghiệp", "SKK": "Đất khu công nghiệp",
    "DGD": "Đất xây dựng cơ sở giáo dục và đào tạo", "DYT": "Đất xây dựng cơ sở y tế",
    "TSC": "Đất xây dựng trụ sở cơ quan", "DGT": "Đất giao thông", "DTL": "Đất thủy lợi",
    "DKV": "Đất khu vui chơi, giải trí công cộng", "NTD": "Đất nghĩa trang, nhà tang lễ",
    "TON": "Đất cơ sở tôn giáo", "SON": "Đất có mặt nước chuyên dùng (sông, ngòi, kênh, rạch)",
}
_URBAN_MIX = {"ODT": 0.55, "TMD": 0.1, "SKC": 0.06, "SKK": 0.03, "DGD": 0.05, "DYT": 0.02,
              "TSC": 0.02, "DKV": 0.04, "CLN": 0.08, "TON": 0.02, "NTD": 0.03}
_RURAL_MIX = {"LUC": 0.58, "CLN": 0.15, "BHK": 0.06, "ONT": 0.12, "NTS": 0.04, "DTL": 0.02,
              "NTD": 0.01, "DGD": 0.01, "TON": 0.01}
_COASTAL_MIX = {"NTS": 0.45, "BHK": 0.2, "LUC": 0.15, "ONT": 0.1, "RPH": 0.1}
_COASTAL = ("Phường Vĩnh Châu", "Phường Khánh Hòa", "Phường Vĩnh Phước", "Xã Vĩnh Hải",
            "Xã Lai Hòa", "Xã Trần Đề", "Xã Lịch Hội Thượng", "Xã Cù Lao Dung", "Xã An Thạnh",
            "Xã Liêu Tú", "Xã Tài Văn")


def _gdf(data: dict[str, object], geoms: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, crs=METRIC_EPSG), crs=METRIC_EPSG)


def _rotated_cells(poly: shapely.Geometry, width_m: float, height_m: float) -> np.ndarray:
    """Rectangles (``width_m`` along the river direction × ``height_m``) covering ``poly``,
    on a grid aligned with the Hậu River and anchored at a fixed origin."""
    c, s = np.cos(GRID_ANGLE_RAD), np.sin(GRID_ANGLE_RAD)
    ox, oy = 500_000.0, 1_080_000.0
    xy = shapely.get_coordinates(shapely.envelope(poly).exterior)
    u = (xy[:, 0] - ox) * c + (xy[:, 1] - oy) * s
    v = -(xy[:, 0] - ox) * s + (xy[:, 1] - oy) * c
    us = np.arange(np.floor(u.min() / width_m), np.ceil(u.max() / width_m)) * width_m
    vs = np.arange(np.floor(v.min() / height_m), np.ceil(v.max() / height_m)) * height_m
    grid_u, grid_v = np.meshgrid(us, vs)
    uu, vv = grid_u.ravel(), grid_v.ravel()
    corners_u = np.stack([uu, uu + width_m, uu + width_m, uu, uu], axis=1)
    corners_v = np.stack([vv, vv, vv + height_m, vv + height_m, vv], axis=1)
    x = ox + corners_u * c - corners_v * s
    y = oy + corners_u * s + corners_v * c
    return shapely.polygons(np.round(np.stack([x, y], axis=2), 2))


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    out = []
    for g in geoms:
        parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 1.0]
        out.append(shapely.MultiPolygon(parts) if parts else None)
    return np.array(out, dtype=object)


def land_use_frame(city: City, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Land-use polygons: 400 m cells in wards, 1 km cells in communes, plus water (SON)."""
    rows: list[tuple[str, str, shapely.Geometry]] = []
    for r in range(len(city.communes)):
        c = city.communes.iloc[r]
        land = shapely.difference(c.geometry, city.water)
        urban = int(c["density_class"]) <= 2
        mix = _URBAN_MIX if urban else (_COASTAL_MIX if c["ten"] in _COASTAL else _RURAL_MIX)
        size = 400.0 if urban else 1000.0
        cells = _rotated_cells(land, size, size)
        cells = cells[shapely.intersects(land, cells)]
        parts = _polygonal(shapely.intersection(cells, land))
        codes = rng.choice(list(mix), size=len(parts), p=np.array(list(mix.values())) / sum(mix.values()))
        for code, geom in zip(codes, parts, strict=True):
            if geom is not None:
                rows.append((c["ma_xa"], str(code), geom))
        water = _polygonal(np.array([shapely.intersection(c.geometry, city.water)], dtype=object))[0]
        if water is not None:
            rows.append((c["ma_xa"], "SON", water))
    n = len(rows)
    return _gdf({
        "land_use_id": [f"SDD{i + 1:06d}" for i in range(n)],
        "ma_xa": [r[0] for r in rows],
        "code": [r[1] for r in rows],
        "label": [LAND_USE_CODES[r[1]] for r in rows],
        "area_m2": [round(r[2].area, 1) for r in rows],
        "plan_year": 2030,
    }, [r[2] for r in rows])


_SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Hoàng", "Võ", "Phan", "Trương", "Bùi",
             "Đặng", "Đỗ", "Ngô", "Hồ", "Dương", "Lý", "Thạch", "Lâm", "Danh", "Sơn")
_MIDDLE = ("Văn", "Thị", "Minh", "Thanh", "Ngọc", "Hoàng", "Hữu", "Kim", "Quốc", "Thị Mỹ")
_GIVEN = ("An", "Bình", "Châu", "Dũng", "Hà", "Hải", "Hạnh", "Hiếu", "Hòa", "Hùng", "Khánh",
          "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Nhung", "Phúc", "Phương", "Quân", "Sang",
          "Tâm", "Thảo", "Thắng", "Trang", "Trinh", "Tuấn", "Vân", "Yến")


def land_parcels_frame(city: City, roads: gpd.GeoDataFrame, *,
                       rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Cadastral parcels (thửa đất) of the dense urban wards (density classes 0–1), 30 × 60 m
    lots between the streets; owner names are synthetic and restricted."""
    rows = []
    road_buf = shapely.buffer(roads.geometry.values, roads["width_m"].to_numpy() / 2 + 1.0)
    tree = shapely.STRtree(road_buf)
    for r in range(len(city.communes)):
        c = city.communes.iloc[r]
        if int(c["density_class"]) > 1:
            continue
        land = shapely.difference(c.geometry, city.water)
        shapely.prepare(land)
        cells = _rotated_cells(land, 30.0, 60.0)
        cells = cells[shapely.contains(land, cells)]
        hit = np.zeros(len(cells), dtype=bool)
        hit[np.unique(tree.query(cells, predicate="intersects")[0])] = True
        cells = cells[~hit]
        for k, g in enumerate(cells):
            rows.append((c["ma_xa"], k // 400 + 1, k % 400 + 1, g))
    n = len(rows)
    org = rng.random(n) < 0.08
    names = [
        f"{_SURNAMES[a]} {_MIDDLE[b]} {_GIVEN[g]}"
        for a, b, g in zip(rng.integers(0, len(_SURNAMES), n), rng.integers(0, len(_MIDDLE), n),
                           rng.integers(0, len(_GIVEN), n), strict=True)
    ]
    codes = rng.choice(["ODT", "ODT", "ODT", "ODT", "TMD", "DGD", "SKC", "CLN"], size=n)
    return _gdf({
        "parcel_id": [f"{r[0]}-{r[1]:03d}-{r[2]:04d}" for r in rows],
        "ma_xa": [r[0] for r in rows],
        "map_sheet": [r[1] for r in rows],
        "parcel_no": [r[2] for r in rows],
        "land_use_code": codes,
        "area_m2": [round(r[3].area, 1) for r in rows],
        "owner_name": np.where(org, "Công ty TNHH (tổ chức)", names),
        "owner_type": np.where(org, "organisation", "household"),
        "certificate_issued": rng.random(n) < 0.85,
    }, [r[3] for r in rows])


_FUNCTIONS = ("residential", "mixed_use", "commercial", "industrial", "green_space",
              "institutional", "logistics", "tourism")


def planning_zones_frame(city: City, *, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Zoning plan units (quy hoạch phân khu, 1/2000): the wards cut into ~3 km zones."""
    rows = []
    for r in range(len(city.communes)):
        c = city.communes.iloc[r]
        if not c["urban"]:
            continue
        land = shapely.difference(c.geometry, city.hau_water)
        cells = _rotated_cells(land, 3000.0, 3000.0)
        parts = _polygonal(shapely.intersection(cells[shapely.intersects(land, cells)], land))
        k = 0
        for g in parts:
            if g is None or g.area < 200_000:
                continue
            k += 1
            rows.append((c["ma_xa"], c["ten"], k, g, int(c["density_class"])))
    n = len(rows)
    fn = np.array([rng.choice(_FUNCTIONS, p=[0.35, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05]) for _ in rows])
    approved = [date(2020, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 5 * 365, size=n)]
    area_ha = np.array([r[3].area / 1e4 for r in rows])
    density = np.array([(300, 200, 80, 40)[r[4]] for r in rows], dtype=float)
    return _gdf({
        "zone_id": [f"PK-{r[0]}-{r[2]:02d}" for r in rows],
        "name": [f"Phân khu {r[2]} – {r[1]}" for r in rows],
        "ma_xa": [r[0] for r in rows],
        "function": fn,
        "decision_no": [f"{int(x)}/QĐ-UBND" for x in rng.integers(100, 4000, size=n)],
        "approved_date": [d.isoformat() for d in approved],
        "far_max": np.round(np.where(fn == "green_space", 0.3, rng.uniform(1.5, 6.0, size=n)), 1),
        "height_max_m": np.where(fn == "green_space", 12.0, rng.choice([24.0, 45.0, 80.0, 120.0], size=n)),
        "target_population": np.where(np.isin(fn, ["residential", "mixed_use"]),
                                      np.round(area_ha * density, -2), 0).astype(int),
        "area_ha": np.round(area_ha, 2),
    }, [r[3] for r in rows])


def construction_permits_frame(city: City, buildings: gpd.GeoDataFrame, *,
                               rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Building permits (giấy phép xây dựng) 2023–2025 at sampled buildings of the wards."""
    urban = set(city.communes.loc[city.communes["urban"], "ma_xa"])
    cand = buildings[buildings["ma_xa"].isin(urban)]
    n = min(4000, len(cand))
    pick = np.sort(rng.choice(len(cand), size=n, replace=False))
    sub = cand.iloc[pick]
    issued = [date(2023, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 1000, size=n)]
    kind = rng.choice(["new_build", "renovation", "repair", "demolition"], size=n, p=[0.6, 0.25, 0.1, 0.05])
    floors = np.where(kind == "new_build", rng.integers(1, 8, size=n), sub["floors"].to_numpy())
    return _gdf({
        "permit_no": [f"{i + 1}/GPXD-{d.year}" for i, d in enumerate(issued)],
        "ma_xa": sub["ma_xa"].to_numpy(),
        "building_id": sub["building_id"].to_numpy(),
        "issued_date": [d.isoformat() for d in issued],
        "kind": kind,
        "floors": floors,
        "gfa_m2": np.round(sub["footprint_m2"].to_numpy() * floors, 1),
        "status": rng.choice(["issued", "under_construction", "completed", "expired"], size=n),
        "applicant_type": rng.choice(["household", "organisation"], size=n, p=[0.85, 0.15]),
    }, shapely.centroid(sub.geometry.values))
