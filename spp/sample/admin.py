"""Real administrative data of Can Tho and the 2025 population estimate per commune.

Reads the vendored files in ``spp/sample/data`` (EPSG:4326), repairs the three invalid 2025
commune polygons, joins the 2019 census to the old→new crosswalk by normalised name and scales
the result to the official 2025 total of 4,199,824 persons.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = [
    "DATA_DIR",
    "OFFICIAL_POPULATION_2025",
    "AdminData",
    "allocate_capped",
    "allocate_integers",
    "load_admin",
    "normalise_name",
    "polygons_only",
]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
OFFICIAL_POPULATION_2025 = 4_199_824
"""Population of the merged city as published with the 2025 merger (persons)."""

_PREFIXES = ("thị trấn", "thành phố", "thị xã", "phường", "huyện", "quận", "xã", "tỉnh")
_TONE_FIX = {
    "oà": "òa", "oá": "óa", "oả": "ỏa", "oã": "õa", "oạ": "ọa",
    "oè": "òe", "oé": "óe", "oẻ": "ỏe", "oẽ": "õe", "oẹ": "ọe",
    "uỳ": "ùy", "uý": "úy", "uỷ": "ủy", "uỹ": "ũy", "uỵ": "ụy",
}
_CITY_CODE = {"CầnThơ": "92", "HậuGiang": "93", "SócTrăng": "94"}
_PROVINCE_CODE = {"Cần Thơ": "92", "Hậu Giang": "93", "Sóc Trăng": "94"}


def normalise_name(name: str) -> str:
    """Key for joining Vietnamese unit names across sources.

    Lower-case NFC, type prefix (``Phường``, ``Xã``, ``Thị trấn``...) removed, old/new tone-mark
    placement unified (``Thuỷ``/``Thủy``, ``Hoà``/``Hòa``) and spaces dropped.

    >>> normalise_name("Phường Bình Thuỷ") == normalise_name("BìnhThủy")
    True
    """
    text = unicodedata.normalize("NFC", str(name)).strip().lower()
    for prefix in _PREFIXES:
        if text.startswith(prefix + " "):
            text = text[len(prefix) + 1 :]
            break
    for old, new in _TONE_FIX.items():
        text = text.replace(old, new)
    text = re.sub(r"\s+", "", text)
    return text.lstrip("0") or text


def polygons_only(geom: shapely.Geometry) -> shapely.Geometry:
    """``make_valid`` then keep only the polygonal parts (as a MultiPolygon)."""
    fixed = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polys)


def allocate_integers(weights: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder, stable).

    >>> allocate_integers(np.array([1.0, 1.0, 1.0]), 10).tolist()
    [4, 3, 3]
    """
    w = np.asarray(weights, dtype=float)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=np.int64)
    exact = w / w.sum() * total
    base = np.floor(exact).astype(np.int64)
    rest = int(total - base.sum())
    order = np.lexsort((np.arange(len(w)), -(exact - base)))
    base[order[:rest]] += 1
    return base


def allocate_capped(weights: np.ndarray, total: int, cap: int) -> np.ndarray:
    """:func:`allocate_integers` with no share above ``cap`` (excess goes to the others).

    >>> allocate_capped(np.array([10.0, 1.0, 1.0]), 12, 5).tolist()
    [5, 4, 3]
    """
    w = np.asarray(weights, dtype=float)
    out = np.zeros(len(w), dtype=np.int64)
    free = np.ones(len(w), dtype=bool)
    remaining = int(total)
    while remaining > 0 and free.any():
        share = allocate_integers(np.where(free, w, 0.0) + free * 1e-9, remaining)
        over = free & (out + share > cap)
        if not over.any():
            return out + share
        remaining -= int((cap - out[over]).sum())
        out[over] = cap
        free &= ~over
    return out


@dataclass(frozen=True)
class AdminData:
    """Real administrative layers, all in EPSG:4326, plus derived population figures.

    Attributes
    ----------
    communes : GeoDataFrame
        103 communes (2025) with repaired geometry and columns ``dan_so`` (2025 estimate,
        persons) and ``dan_so_2019`` (census 2019 aggregated through the crosswalk, persons).
    outline : shapely.Geometry
        City outline (EPSG:4326).
    districts : GeoDataFrame
        28 pre-2025 districts.
    old_communes : GeoDataFrame
        268 pre-2025 communes with ``dan_so_2009`` and ``dan_so_2019`` (may be missing).
    crosswalk : DataFrame
        Old→new commune table.
    national_roads : GeoDataFrame
        Real national highways clipped to the city.
    """

    communes: gpd.GeoDataFrame
    outline: shapely.Geometry
    outline_attrs: dict[str, str]
    districts: gpd.GeoDataFrame
    old_communes: gpd.GeoDataFrame
    crosswalk: pd.DataFrame
    national_roads: gpd.GeoDataFrame


def _census_2019() -> pd.DataFrame:
    census = pd.read_csv(DATA_DIR / "population_2019census_wards_cantho_soctrang_haugiang.csv")
    census["ma_tinh"] = census["city"].map(_CITY_CODE)
    census["key"] = census["ward"].map(normalise_name)
    census["dkey"] = census["district"].map(normalise_name)
    census["tkey"] = census["ward_title"].fillna("").map(_unit_type)
    return census


def _unit_type(name: str) -> str:
    """Unit type of a name or title (``phường``, ``xã``, ``thịtrấn``), spaces dropped."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFC", str(name)).lower())
    for kind in ("thịtrấn", "phường", "xã"):
        if text.startswith(kind):
            return kind
    return ""


def _unique_lookup(frame: pd.DataFrame, keys: list[str]) -> dict[tuple[str, ...], int]:
    counts = frame.groupby(keys).size()
    sums = frame.groupby(keys)["total"].sum()
    return {k: int(sums[k]) for k in counts.index if counts[k] == 1}


def _population_2025(
    communes: gpd.GeoDataFrame, crosswalk: pd.DataFrame, old: gpd.GeoDataFrame
) -> tuple[pd.Series, pd.Series]:
    """2019 census per 2025 commune via the crosswalk, and the scaled 2025 estimate."""
    census = _census_2019()
    by_type = _unique_lookup(census, ["ma_tinh", "tkey", "key"])
    by_name = _unique_lookup(census, ["ma_tinh", "key"])
    used: set[int] = set()
    pop19 = pd.Series(0.0, index=communes["ma_xa"].values)
    unmatched = 0
    for row in crosswalk.sort_values(["ma_xa_cu", "ma_xa_moi"]).itertuples():
        prov, kind, key = str(row.ma_tinh_cu), _unit_type(row.ten_xa_cu), normalise_name(row.ten_xa_cu)
        if (prov, kind, key) in by_type:
            total = by_type[(prov, kind, key)]
            match = census[(census["ma_tinh"] == prov) & (census["key"] == key) & (census["tkey"] == kind)]
        elif (prov, key) in by_name:
            total = by_name[(prov, key)]
            match = census[(census["ma_tinh"] == prov) & (census["key"] == key)]
        else:
            unmatched += 1
            continue
        used.update(match.index.tolist())
        pop19[str(row.ma_xa_moi)] += total / int(row.so_don_vi_moi)
    # census units merged before 2025 (not in the crosswalk): place them with the 2009 polygons
    rest = census.drop(index=sorted(used))
    old_keys = old.assign(
        ma_tinh=old["province_vn"].map(_PROVINCE_CODE),
        key=old["commune_vn"].map(normalise_name),
        dkey=old["district_vn"].map(normalise_name),
    )
    points = old_keys.geometry.representative_point()
    owner = gpd.sjoin(
        gpd.GeoDataFrame(geometry=points, crs=4326), communes[["ma_xa", "geometry"]],
        how="left", predicate="within",
    )["ma_xa"]
    old_keys["ma_xa_moi"] = owner.groupby(level=0).first()
    placed = 0
    for r in rest.itertuples():
        hit = old_keys[(old_keys["ma_tinh"] == r.ma_tinh) & (old_keys["key"] == r.key)]
        if len(hit) > 1:
            hit = hit[hit["dkey"] == r.dkey]
        if len(hit) == 1 and isinstance(hit["ma_xa_moi"].iloc[0], str):
            pop19[hit["ma_xa_moi"].iloc[0]] += float(r.total)
            placed += 1
    logger.info(
        "2019 census: %d crosswalk rows without a census match, %d of %d leftover census units "
        "placed via 2009 polygons", unmatched, placed, len(rest),
    )
    est = allocate_integers(pop19.to_numpy(), OFFICIAL_POPULATION_2025)
    return pop19.round().astype(np.int64), pd.Series(est, index=pop19.index)


def _old_communes_2019(old: gpd.GeoDataFrame) -> pd.Series:
    census = _census_2019()
    with_district = _unique_lookup(census, ["ma_tinh", "dkey", "key"])
    by_name = _unique_lookup(census, ["ma_tinh", "key"])
    values: list[float] = []
    for r in old.itertuples():
        prov = _PROVINCE_CODE.get(r.province_vn, "")
        k3 = (prov, normalise_name(r.district_vn), normalise_name(r.commune_vn))
        k2 = (prov, normalise_name(r.commune_vn))
        values.append(with_district.get(k3, by_name.get(k2, np.nan)))
    return pd.Series(values, index=old.index, dtype="Int64")


def load_admin(data_dir: Path = DATA_DIR) -> AdminData:
    """Read the vendored real data (EPSG:4326) and derive the population columns."""
    communes = gpd.read_file(data_dir / "cantho_2025_communes.geojson")
    invalid = int((~communes.geometry.is_valid).sum())
    communes["geometry"] = [polygons_only(g) for g in communes.geometry]
    logger.info("repaired %d invalid commune polygons with make_valid", invalid)
    communes = communes.sort_values("ma_xa").reset_index(drop=True)
    boundary = gpd.read_file(data_dir / "cantho_2025_city_boundary.geojson")
    outline = polygons_only(boundary.geometry.iloc[0])
    attrs = {k: str(v) for k, v in boundary.drop(columns="geometry").iloc[0].items()}
    districts = gpd.read_file(data_dir / "pre2025_districts_cantho_soctrang_haugiang.geojson")
    old = gpd.read_file(data_dir / "pre2025_communes_2009census_lowres.geojson")
    old = old.sort_values("commune_id").reset_index(drop=True)
    crosswalk = pd.read_csv(
        data_dir / "crosswalk_old_to_2025_communes.csv",
        dtype={"ma_tinh_cu": str, "ma_xa_cu": str, "ma_xa_moi": str},
    )
    pop19, est = _population_2025(communes, crosswalk, old)
    communes["dan_so_2019"] = communes["ma_xa"].map(pop19)
    communes["dan_so"] = communes["ma_xa"].map(est)
    old["dan_so_2019"] = _old_communes_2019(old)
    roads = gpd.read_file(data_dir / "main_roads_national_layer_clipped.geojson")
    return AdminData(communes, outline, attrs, districts, old, crosswalk, roads)
