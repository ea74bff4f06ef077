"""Read department files into (Geo)DataFrames: GeoPackage, GeoJSON, (zipped) Shapefile,
FlatGeobuf, and CSV with a WKT column or lon/lat (x/y) columns, in any CRS.

Reading never judges content (that is :mod:`spp.validate`); it only fails when a file
cannot be read at all (missing, unknown format, not UTF-8, several candidate layers).
"""

from __future__ import annotations

import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from spp.crs import parse_crs
from spp.errors import InputFileError, ValidationProblem
from spp.fingerprint import file_sha256

__all__ = ["Source", "read_source", "file_sha256", "FORMATS", "restore_shapefile_names"]

log = logging.getLogger(__name__)

FORMATS = {
    ".gpkg": "GeoPackage",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".fgb": "FlatGeobuf",
    ".shp": "ESRI Shapefile",
    ".zip": "zipped ESRI Shapefile",
    ".csv": "CSV",
}
_WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom")
_XY_COLUMNS = (("lon", "lat"), ("longitude", "latitude"), ("x", "y"))


@dataclass
class Source:
    """A file as read: features, their CRS (``None`` when the file declares none), hash."""

    path: Path
    format: str
    frame: pd.DataFrame
    crs: CRS | None
    sha256: str
    problems: list[ValidationProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _check_utf8(path: Path) -> None:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(
            f"{path.name}: not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}); "
            "re-save the file as UTF-8 (e.g. ogr2ogr -lco ENCODING=UTF-8, or 'Save with encoding' in QGIS)"
        ) from exc


def _read_ogr(target: str, *, name: str, layer: str | None) -> tuple[pd.DataFrame, CRS | None]:
    import pyogrio

    try:
        layers = pyogrio.list_layers(target)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputFileError(f"{name}: cannot open ({exc})") from exc
    chosen = None
    if len(layers) > 1:
        names = [str(row[0]) for row in layers]
        if layer and layer in names:
            chosen = layer
        else:
            raise InputFileError(f"{name}: holds several layers {names}; name the one to load")
    try:
        gdf = pyogrio.read_dataframe(target, layer=chosen, use_arrow=True)
    except Exception as exc:
        raise InputFileError(f"{name}: cannot read ({exc})") from exc
    crs = CRS.from_user_input(gdf.crs) if gdf.crs is not None else None
    return gdf, crs


def _shapefile_in_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            shps = [n for n in zf.namelist() if n.lower().endswith(".shp")]
    except zipfile.BadZipFile as exc:
        raise InputFileError(f"{path.name}: not a valid zip archive") from exc
    if len(shps) != 1:
        raise InputFileError(f"{path.name}: expected one .shp inside the zip, found {len(shps)}: {shps}")
    return f"/vsizip/{path}/{shps[0]}"


def _read_csv(path: Path, crs: CRS | None) -> Source:
    _check_utf8(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputFileError(f"{path.name}: not a readable CSV ({exc})") from exc
    lower = {c.lower(): c for c in frame.columns}
    problems: list[ValidationProblem] = []
    warnings: list[str] = []
    wkt_col = next((lower[c] for c in _WKT_COLUMNS if c in lower), None)
    xy = next(((lower[a], lower[b]) for a, b in _XY_COLUMNS if a in lower and b in lower), None)
    if wkt_col is not None:
        text = frame.pop(wkt_col).to_numpy(dtype=object)
        geoms = np.empty(len(text), dtype=object)
        for i, wkt in enumerate(text):
            if wkt is None or (isinstance(wkt, float) and np.isnan(wkt)):
                geoms[i] = None
                continue
            try:
                geoms[i] = shapely.from_wkt(wkt)
            except shapely.errors.GEOSException as exc:
                geoms[i] = None
                problems.append(ValidationProblem("invalid_geometry", f"unreadable WKT: {exc}", f"row {i}", wkt_col))
        frame["geometry"] = geoms
    elif xy is not None:
        xs = pd.to_numeric(frame.pop(xy[0]), errors="coerce").to_numpy(float)
        ys = pd.to_numeric(frame.pop(xy[1]), errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(xs) & np.isfinite(ys))
        pts = shapely.points(np.where(bad, 0, xs), np.where(bad, 0, ys)).astype(object)
        pts[bad] = None
        frame["geometry"] = pts
        if crs is None and xy[0].lower() in ("lon", "longitude"):
            crs = CRS.from_epsg(4326)
            warnings.append(f"no CRS given for columns {xy}; assumed EPSG:4326 (WGS 84 lon/lat)")
    return Source(path, "CSV", frame, crs, file_sha256(path), problems, warnings)


def read_source(path: Path, *, crs: str | int | None = None, layer: str | None = None,
                sha256: str | None = None) -> Source:
    """Read ``path`` into a frame with a ``geometry`` column (when the file has geometries).

    Parameters
    ----------
    path
        The file; its suffix picks the format (see :data:`FORMATS`).
    crs
        CRS to assume when the file declares none (CSV, Shapefile without .prj), or to
        override a wrong declaration; e.g. ``"EPSG:9210"``.
    layer
        Layer to read from a multi-layer file (GeoPackage).
    sha256
        The file's hash when the caller has already computed it (saves reading it twice).

    Raises
    ------
    InputFileError
        Missing file, unknown format, not UTF-8, unreadable content.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputFileError(
            f"{path.name}: unknown format '{suffix}'; SPP reads {', '.join(sorted(set(FORMATS.values())))}"
        )
    forced = parse_crs(crs, source=path.name) if crs not in (None, "") else None
    if suffix == ".csv":
        src = _read_csv(path, forced)
        if forced is not None:
            src.crs = forced
        return src
    if suffix in (".geojson", ".json"):
        _check_utf8(path)
    target = _shapefile_in_zip(path) if suffix == ".zip" else str(path)
    frame, file_crs = _read_ogr(target, name=path.name, layer=layer)
    warnings = []
    if forced is not None and file_crs is not None and not forced.equals(file_crs):
        warnings.append(f"file declares {file_crs.to_string()}, overridden by --crs {forced.to_string()}")
    return Source(path, FORMATS[suffix], frame, forced or file_crs, sha256 or file_sha256(path), [], warnings)


def restore_shapefile_names(src: Source, field_names: list[str]) -> None:
    """Undo the Shapefile format's 10-character truncation of column names.

    A column such as ``capacity_m`` is renamed to the layer's ``capacity_m3s`` when exactly
    one field of the layer starts with it; a warning records each rename.
    """
    if "Shapefile" not in src.format:
        return
    renames = {}
    for col in src.frame.columns:
        if col in field_names or col == "geometry" or len(col) != 10:
            continue
        matches = [f for f in field_names if f[:10].lower() == col.lower()]
        if len(matches) == 1 and matches[0] not in src.frame.columns:
            renames[col] = matches[0]
    if renames:
        src.frame = src.frame.rename(columns=renames)
        src.warnings.append("Shapefile column names restored: " + ", ".join(f"{a} → {b}" for a, b in renames.items()))
