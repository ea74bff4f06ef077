"""Coordinate reference systems used in Can Tho, VN-2000 above all.

Storage CRS is EPSG:4326 (lon/lat, WGS 84). Metric work (areas, lengths, buffers, rasters)
uses EPSG:9210, VN-2000 / TM-3 zone 105°45′ — Can Tho's official plane — unless a function
says otherwise. VN-2000 differs from WGS 84 by the 7-parameter Helmert shift published with
Decision 05/2007/QĐ-BTNMT; PROJ carries it as ``+towgs84``, and :func:`register_srids` puts
the same definitions into PostGIS, whose ``spatial_ref_sys`` (3.3) lacks EPSG:9210.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError

from spp.errors import CRSError

if TYPE_CHECKING:
    import geopandas as gpd
    import psycopg

__all__ = [
    "METRIC_EPSG",
    "STORAGE_EPSG",
    "SUPPORTED_EPSG",
    "VN2000_EPSG",
    "epsg_of",
    "parse_crs",
    "register_srids",
    "require_projected",
    "to_metric",
    "transformer",
]

STORAGE_EPSG = 4326
"""Every layer is stored in EPSG:4326 (WGS 84 lon/lat)."""
METRIC_EPSG = 9210
"""VN-2000 / TM-3 105°45′ (metres), the default plane for metric work in Can Tho."""
VN2000_EPSG = (4756, 3405, 3406, *range(9205, 9219))
"""VN-2000 geographic (4756), UTM 48N/49N (3405/3406) and the TM-3 provincial zones."""
SUPPORTED_EPSG = (4326, 3857, 32648, *VN2000_EPSG)
"""CRSs registered in PostGIS by :func:`register_srids` and offered by the OGC API."""


def parse_crs(value: object, *, source: str = "input") -> CRS:
    """Parse ``"EPSG:9210"``, ``9210``, a WKT or a pyproj CRS into a :class:`pyproj.CRS`.

    Raises
    ------
    CRSError
        When the value is empty or unknown to PROJ; the message names ``source``.
    """
    if value is None or value == "":
        raise CRSError(f"{source}: no CRS given; pass one such as EPSG:9210 (VN-2000 / TM-3 105°45′)")
    try:
        if isinstance(value, int):
            return CRS.from_epsg(value)
        return CRS.from_user_input(value)
    except PyprojCRSError as exc:
        raise CRSError(f"{source}: unknown CRS {value!r}: {exc}") from exc


def epsg_of(crs: CRS, *, source: str = "input") -> int:
    """The EPSG code of ``crs``; raise when it has none (e.g. a custom WKT without authority)."""
    code = crs.to_epsg(min_confidence=70)
    if code is None:
        raise CRSError(f"{source}: CRS has no EPSG code ({crs.name}); reproject it to a known CRS")
    return int(code)


def require_projected(crs: CRS | None, *, source: str = "input") -> CRS:
    """Return ``crs`` when it is projected in metres; raise :class:`CRSError` otherwise."""
    if crs is None:
        raise CRSError(f"{source} has no CRS; assign one (e.g. EPSG:9210) before metric work")
    if not crs.is_projected:
        raise CRSError(
            f"{source} is in a geographic CRS ({crs.name}); metric work needs a projected CRS "
            f"such as EPSG:{METRIC_EPSG} (VN-2000 / TM-3 105°45′) or EPSG:32648 (UTM 48N)"
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter"):
        raise CRSError(f"{source}: CRS {crs.name} is in {unit!r}, not metres")
    return crs


def to_metric(gdf: gpd.GeoDataFrame, epsg: int = METRIC_EPSG) -> gpd.GeoDataFrame:
    """Reproject ``gdf`` to a metric CRS (default EPSG:9210); raise when it has no CRS."""
    if gdf.crs is None:
        raise CRSError("GeoDataFrame has no CRS; set one before reprojecting")
    return gdf.to_crs(epsg=epsg)


@functools.lru_cache(maxsize=64)
def transformer(src_epsg: int, dst_epsg: int) -> Transformer:
    """A cached lon/lat-ordered (``always_xy``) transformer between two EPSG codes.

    Between VN-2000 and WGS 84 it uses the official shift of Decision 05/2007/QĐ-BTNMT
    (EPSG:6960, "VN-2000 to WGS 84 (2)"); PROJ's own default is the older EPSG:6959 set,
    which differs by about 0.8 m in Can Tho.
    """
    from pyproj.transformer import TransformerGroup

    group = TransformerGroup(f"EPSG:{src_epsg}", f"EPSG:{dst_epsg}", always_xy=True)
    for candidate in group.transformers:
        if "VN-2000 to WGS 84 (2)" in candidate.description:
            return candidate
    return Transformer.from_crs(f"EPSG:{src_epsg}", f"EPSG:{dst_epsg}", always_xy=True)


def is_vn2000(epsg: int) -> bool:
    """True for CRSs on the VN-2000 datum (geographic 4756, UTM 3405/3406, TM-3 9205–9218)."""
    crs = CRS.from_epsg(epsg)
    return crs.datum is not None and crs.datum.name == "Vietnam 2000"


VN2000_TOWGS84 = (
    -191.90441429, -39.30318279, -111.45032835, 0.00928836, -0.01975479, 0.00427372, 0.252906278
)
"""VN-2000 → WGS 84 shift (dx, dy, dz m; rx, ry, rz arc-seconds; ds ppm), PROJ's position-vector
convention. Decision 05/2007/QĐ-BTNMT publishes the same rotations in the coordinate-frame
convention, i.e. with opposite signs (EPSG transformation 6960)."""


def _proj4_with_towgs84(epsg: int) -> str:
    # pyproj's to_proj4() drops +towgs84 (it lives in the transformation, not the CRS);
    # PostGIS needs it in proj4text, so put the published shift back for VN-2000 CRSs.
    import warnings

    crs = CRS.from_epsg(epsg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        text = str(crs.to_proj4())
    if crs.datum is not None and crs.datum.name == "Vietnam 2000" and "+towgs84" not in text:
        params = ",".join(repr(v) for v in VN2000_TOWGS84)
        anchor = " +units" if " +units" in text else " +no_defs"
        text = text.replace(anchor, f" +towgs84={params}{anchor}", 1)
    return text


def _wkt1_with_towgs84(epsg: int) -> str:
    """WKT1_GDAL of a VN-2000 CRS, keeping its names, with the official TOWGS84 node."""
    import re

    wkt = CRS.from_epsg(epsg).to_wkt("WKT1_GDAL")
    towgs84 = "TOWGS84[" + ",".join(repr(v) for v in VN2000_TOWGS84) + "]"
    # DATUM["Vietnam_2000",SPHEROID[...,AUTHORITY[...]],<here>AUTHORITY["EPSG","6756"]]
    return re.sub(r'(DATUM\["[^"]+",SPHEROID\[[^\]]*AUTHORITY\[[^\]]*\]\])', r"\1," + towgs84, wkt, count=1)


def register_srids(conn: psycopg.Connection, epsgs: tuple[int, ...] = SUPPORTED_EPSG) -> list[int]:
    """Make PostGIS's ``spatial_ref_sys`` hold ``epsgs`` with the official VN-2000 shift.

    Missing codes (PostGIS 3.3 lacks EPSG:9210) are inserted. VN-2000 codes get a WKT and
    a PROJ string that carry ``TOWGS84`` (Decision 05/2007) and no authority, because PostGIS
    would otherwise ask PROJ for "EPSG:xxxx" and PROJ picks the older EPSG:6959 shift
    (≈0.8 m away). Returns the codes inserted or updated.
    """
    changed: list[int] = []
    with conn.cursor() as cur:
        cur.execute("SELECT srid, auth_name FROM spatial_ref_sys WHERE srid = ANY(%s)", (list(epsgs),))
        have: dict[int, str | None] = dict(cur.fetchall())
        for code in epsgs:
            vn = is_vn2000(code)
            if code in have and not vn:
                continue
            proj4 = _proj4_with_towgs84(code)
            wkt = _wkt1_with_towgs84(code) if vn else CRS.from_epsg(code).to_wkt("WKT1_GDAL")
            auth = (None, None) if vn else ("EPSG", code)
            cur.execute(
                "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (srid) DO UPDATE SET auth_name = EXCLUDED.auth_name, "
                "auth_srid = EXCLUDED.auth_srid, srtext = EXCLUDED.srtext, proj4text = EXCLUDED.proj4text",
                (code, auth[0], auth[1], wkt, proj4),
            )
            changed.append(code)
    return changed
