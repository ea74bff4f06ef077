"""Build the deterministic sample city: every catalogue layer's sample file plus ``dem.tif``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from spp.sample import hydraulics, land, networks, utilities
from spp.sample.admin import AdminData, load_admin
from spp.sample.buildings import build_buildings
from spp.sample.city import METRIC_EPSG, City, build_city
from spp.sample.io import write_csv, write_geojson
from spp.sample.roads import build_roads
from spp.sample.terrain import synthesise_dem, write_cog

__all__ = ["DEM_FILE", "LAYER_FILES", "build_sample"]

logger = logging.getLogger(__name__)

DEM_FILE = "dem.tif"
LAYER_FILES: dict[str, tuple[str, str]] = {
    # layer: (sample file, geometry type) — must match layers/<layer>.yml
    "communes": ("communes.geojson", "MultiPolygon"),
    "communes_pre2025": ("communes_pre2025.geojson", "MultiPolygon"),
    "districts_pre2025": ("districts_pre2025.geojson", "MultiPolygon"),
    "city_boundary": ("city_boundary.geojson", "MultiPolygon"),
    "commune_crosswalk": ("commune_crosswalk.csv", "none"),
    "land_use": ("land_use.geojson", "MultiPolygon"),
    "land_parcels": ("land_parcels.geojson", "Polygon"),
    "planning_zones": ("planning_zones.geojson", "MultiPolygon"),
    "construction_permits": ("construction_permits.geojson", "Point"),
    "buildings": ("buildings.geojson", "Polygon"),
    "roads": ("roads.geojson", "LineString"),
    "parking": ("parking.geojson", "Point"),
    "waterways": ("waterways.geojson", "LineString"),
    "dikes": ("dikes.geojson", "LineString"),
    "drainage_pipes": ("drainage_pipes.geojson", "LineString"),
    "pump_stations": ("pump_stations.geojson", "Point"),
    "sluice_gates": ("sluice_gates.geojson", "Point"),
    "water_level_sensors": ("water_level_sensors.geojson", "Point"),
    "water_mains": ("water_mains.geojson", "LineString"),
    "fire_hydrants": ("fire_hydrants.geojson", "Point"),
    "street_lights": ("street_lights.geojson", "Point"),
    "trees": ("trees.geojson", "Point"),
    "waste_points": ("waste_points.geojson", "Point"),
    "telecom_sites": ("telecom_sites.geojson", "Point"),
    "fibre_routes": ("fibre_routes.geojson", "LineString"),
    "fibre_access_points": ("fibre_access_points.geojson", "Point"),
    "power_lines": ("power_lines.geojson", "LineString"),
    "substations": ("substations.geojson", "Point"),
}
# one independent random stream per layer, so adding a layer never shifts the others
_STREAM = {name: i + 1 for i, name in enumerate(LAYER_FILES)} | {"canals": 101, "dem": 102}


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM[name]])


def _single(geoms: np.ndarray, geometry_type: str) -> np.ndarray:
    """Longest/largest part of each geometry when the layer type is single-part."""
    if geometry_type not in ("LineString", "Polygon"):
        return geoms
    measure = shapely.length if geometry_type == "LineString" else shapely.area
    out: list[shapely.Geometry | None] = []
    for g in geoms:
        if g is None or g.is_empty:
            out.append(None)
            continue
        parts = [p for p in shapely.get_parts(g) if p.geom_type == geometry_type]
        out.append(max(parts, key=lambda p: float(measure(p))) if parts else None)
    return np.array(out, dtype=object)


def _admin_frames(admin: AdminData, city: City) -> dict[str, gpd.GeoDataFrame]:
    c = admin.communes
    communes = gpd.GeoDataFrame({
        "ma_xa": c["ma_xa"], "ten": c["ten"], "ten_en": c["ten_en"], "loai": c["loai"],
        "truoc_sap_nhap": c["truoc_sap_nhap"], "tru_so_hc": c["tru_so_hc"],
        "dien_tich_km2": c["dien_tich_km2"].astype(float), "dan_so": c["dan_so"].astype(int),
        "dan_so_2019": c["dan_so_2019"].astype(int),
    }, geometry=c.geometry.values, crs=4326)
    old = admin.old_communes
    owner = gpd.sjoin(gpd.GeoDataFrame(geometry=old.geometry.representative_point(), crs=4326),
                      c[["ma_xa", "geometry"]], how="left", predicate="within")["ma_xa"]
    owner = owner.groupby(level=0).first()
    communes_old = gpd.GeoDataFrame({
        "commune_id": old["commune_id"].astype(str), "ten": old["commune_vn"],
        "huyen": old["district_vn"], "tinh": old["province_vn"], "ten_ascii": old["commune"],
        "dan_so_2009": old["dan_so_2009"].astype(int), "dan_so_2019": old["dan_so_2019"],
        "ma_xa_2025": owner.reindex(old.index),
    }, geometry=old.geometry.values, crs=4326)
    d = admin.districts.sort_values("ma_huyen").reset_index(drop=True)
    districts = gpd.GeoDataFrame({
        "ma_huyen": d["ma_huyen"].astype(str), "ten_huyen": d["ten_huyen"],
        "tinh_cu": d["tinh_cu"], "ma_tinh_cu": d["ma_tinh_cu"].astype(str),
    }, geometry=d.geometry.values, crs=4326)
    attrs = admin.outline_attrs
    boundary = gpd.GeoDataFrame({
        "ma_tinh": ["92"], "ten": [attrs["ten"]], "ghi_chu": [attrs["ghi_chu"]],
        "truoc_sap_nhap": [attrs["truoc_sap_nhap"]],
        "dien_tich_km2": [float(attrs["dien_tich_km2_raw"].replace(".", "").replace(",", "."))],
        "dan_so": [int(attrs["dan_so_raw"].replace(".", ""))],
    }, geometry=[admin.outline], crs=4326)
    return {"communes": communes, "communes_pre2025": communes_old,
            "districts_pre2025": districts, "city_boundary": boundary}


def _crosswalk(admin: AdminData) -> pd.DataFrame:
    x = admin.crosswalk.sort_values(["ma_xa_cu", "ma_xa_moi"]).reset_index(drop=True)
    return pd.DataFrame({
        "mapping_id": x["ma_xa_cu"] + "-" + x["ma_xa_moi"],
        "ma_tinh_cu": x["ma_tinh_cu"], "tinh_cu": x["tinh_cu"], "ma_xa_cu": x["ma_xa_cu"],
        "ten_xa_cu": x["ten_xa_cu"], "ma_xa_moi": x["ma_xa_moi"], "ten_xa_moi": x["ten_xa_moi"],
        "so_don_vi_moi": x["so_don_vi_moi"].astype(int),
    })


def _write(out_dir: Path, name: str, frame: gpd.GeoDataFrame) -> Path:
    file_name, geometry_type = LAYER_FILES[name]
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geoms = _single(frame.geometry.values, geometry_type)
    keep = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    rows = frame.loc[keep, columns].itertuples(index=False, name=None)
    path = out_dir / file_name
    write_geojson(path, name=name, columns=columns, rows=list(rows), geoms=geoms[keep],
                  geometry_type=geometry_type)
    return path


def build_sample(out_dir: Path, *, seed: int = 2025, dem_resolution_m: float = 30.0,
                 progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Write the sample city into ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Output folder (created if missing); existing sample files are replaced.
    seed : int
        Seed of every random stream; the same seed gives byte-identical files.
    dem_resolution_m : float
        Cell size of ``dem.tif`` in metres (EPSG:9210).
    progress : callable, optional
        Called with a short message after each step.

    Returns
    -------
    dict of str to Path
        Layer name → written file (GeoJSON in EPSG:4326, the crosswalk as CSV), plus
        ``"dem"`` → ``dem.tif`` (float32 COG, EPSG:9210, metres above Hòn Dấu).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def step(message: str) -> None:
        logger.info("%s (%.1f s)", message, time.perf_counter() - started)
        if progress is not None:
            progress(message)

    admin = load_admin()
    city = build_city(admin, rng=_rng(seed, "canals"))
    step("real data and river system ready")
    out: dict[str, Path] = {}
    for name, frame in _admin_frames(admin, city).items():
        out[name] = _write(out_dir, name, frame)
    cross = _crosswalk(admin)
    out["commune_crosswalk"] = out_dir / LAYER_FILES["commune_crosswalk"][0]
    write_csv(out["commune_crosswalk"], columns=list(cross.columns),
              rows=list(cross.itertuples(index=False, name=None)))
    step("administrative layers written")

    roads = build_roads(city, admin.national_roads, rng=_rng(seed, "roads")).frame
    roads.insert(0, "road_id", [f"DUONG{i + 1:06d}" for i in range(len(roads))])
    roads["length_m"] = np.round(roads.geometry.length, 1)
    roads["origin"] = np.where(roads["road_class"] == "national", "real", "synthetic")
    out["roads"] = _write(out_dir, "roads", roads)
    step(f"roads: {len(roads)} segments")
    buildings = build_buildings(city, roads, rng=_rng(seed, "buildings"))
    out["buildings"] = _write(out_dir, "buildings", buildings)
    step(f"buildings: {len(buildings)} features")

    frames: dict[str, gpd.GeoDataFrame] = {
        "waterways": hydraulics.waterways_frame(city),
        "dikes": hydraulics.dikes_frame(city, rng=_rng(seed, "dikes")),
        "drainage_pipes": hydraulics.drainage_pipes_frame(city, roads, rng=_rng(seed, "drainage_pipes")),
        "pump_stations": hydraulics.pump_stations_frame(city, rng=_rng(seed, "pump_stations")),
        "sluice_gates": hydraulics.sluice_gates_frame(city, rng=_rng(seed, "sluice_gates")),
        "water_level_sensors": hydraulics.water_level_sensors_frame(
            city, rng=_rng(seed, "water_level_sensors")),
    }
    mains = utilities.water_mains_frame(city, roads, rng=_rng(seed, "water_mains"))
    frames |= {
        "water_mains": mains,
        "fire_hydrants": utilities.fire_hydrants_frame(mains, rng=_rng(seed, "fire_hydrants")),
        "street_lights": utilities.street_lights_frame(city, roads, rng=_rng(seed, "street_lights")),
        "trees": utilities.trees_frame(city, roads, rng=_rng(seed, "trees")),
        "waste_points": utilities.waste_points_frame(city, buildings, rng=_rng(seed, "waste_points")),
        "parking": utilities.parking_frame(city, roads, rng=_rng(seed, "parking")),
    }
    step("water, drainage and street assets generated")
    fibre = networks.fibre_routes_frame(city, roads, rng=_rng(seed, "fibre_routes"))
    subs = networks.substations_frame(city, rng=_rng(seed, "substations"))
    frames |= {
        "telecom_sites": networks.telecom_sites_frame(city, rng=_rng(seed, "telecom_sites")),
        "fibre_routes": fibre,
        "fibre_access_points": networks.fibre_access_points_frame(
            fibre, rng=_rng(seed, "fibre_access_points")),
        "substations": subs,
        "power_lines": networks.power_lines_frame(city, subs, roads, rng=_rng(seed, "power_lines")),
        "land_use": land.land_use_frame(city, rng=_rng(seed, "land_use")),
        "land_parcels": land.land_parcels_frame(city, roads, rng=_rng(seed, "land_parcels")),
        "planning_zones": land.planning_zones_frame(city, rng=_rng(seed, "planning_zones")),
        "construction_permits": land.construction_permits_frame(
            city, buildings, rng=_rng(seed, "construction_permits")),
    }
    step("telecom, power and land layers generated")
    for name in sorted(frames):
        out[name] = _write(out_dir, name, frames[name])
    step("vector layers written")
    dem, transform = synthesise_dem(city, resolution_m=dem_resolution_m, rng=_rng(seed, "dem"))
    out["dem"] = write_cog(out_dir / DEM_FILE, dem, transform)
    step(f"DEM written ({dem.shape[1]} × {dem.shape[0]} cells, EPSG:{METRIC_EPSG})")
    return dict(sorted(out.items()))
