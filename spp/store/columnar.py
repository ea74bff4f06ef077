"""The quick path of a load: a file that :mod:`spp.validate` would store exactly as it is.

Most department files are clean: already in WGS 84, the right column types, valid
geometries. For those, turning Arrow columns into pandas and shapely objects and back into
bytes costs more than PostgreSQL spends storing them. So :func:`spp.store.load.load_layer`
first opens the file here and, when its schema allows (:func:`open_clean_candidate`),
streams the columns straight from Arrow into the binary COPY (:func:`copy_chunks`) while a
second thread checks every value (:func:`is_clean`) and PostgreSQL indexes the staged rows.

:func:`is_clean` accepts a *subset* of what :func:`spp.validate.validate_frame` accepts
unchanged: any value that the validator would reject **or change** (a blank text, a non-NFC
or mojibake text, a NaN, a missing or invalid geometry, a Polygon bound for a Point layer…)
makes it answer ``False``, and the loader rolls the staged rows back and validates the file
the full way, which names every problem. The rows stored are byte-identical either way
(same content hash), which ``tests/store/test_quick_path.py`` checks.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spp.catalog import FieldSpec, LayerSpec
from spp.store import _pyogrio, pgbinary

__all__ = ["Columns", "copy_chunks", "is_clean", "open_clean_candidate"]

log = logging.getLogger(__name__)

CHUNK_ROWS = 32_768
"""Rows per COPY chunk: small enough that the server starts parsing early."""

# Every character Python's str.isspace() accepts (tests/store/test_quick_path.py checks the
# list): a text made only of these is blank and the validator stores it as NULL.
_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"
_SPACE_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in _SPACES)
_BLANK = f"^[{_SPACE_CLASS}]*$"
_WKB_OK = {"Point": {1}, "MultiPoint": {1, 4}, "LineString": {2, 5}, "MultiLineString": {2, 5},
           "Polygon": {3, 6}, "MultiPolygon": {3, 6}}
"""ISO WKB type codes (2-D only) each layer geometry type takes, as in spp.validate (single
lines and polygons are stored as their Multi type, see spp.store.schema.geometry_type)."""
_GEOS_CHUNK = 16_384  # shapely.from_wkb holds the GIL: parse in slices so the COPY keeps moving


@dataclass(frozen=True)
class Columns:
    """A file read as Arrow: attribute columns by name, geometries as ISO WKB (EPSG:4326)."""

    table: pa.Table
    wkb: pa.BinaryArray | None
    rows: int


def _field_type_ok(fs: FieldSpec, t: pa.DataType) -> bool:
    if fs.type == "text":
        return bool(pa.types.is_string(t) or pa.types.is_large_string(t))
    if fs.type == "integer":
        return bool(pa.types.is_integer(t)) and t != pa.uint64()
    if fs.type == "real":
        return bool(pa.types.is_floating(t) or (pa.types.is_integer(t) and t != pa.uint64()))
    if fs.type == "boolean":
        return bool(pa.types.is_boolean(t)) and fs.allowed is None
    if fs.type == "date":
        return bool(pa.types.is_date32(t)) and fs.allowed is None
    if fs.type == "datetime":
        return bool(pa.types.is_timestamp(t)) and fs.allowed is None
    return False


def open_clean_candidate(path: Path, spec: LayerSpec, *, crs: str | int | None = None,
                         layer: str | None = None) -> Columns | None:
    """Read ``path`` as Arrow when its *schema* lets the quick path store it unchanged.

    Returns ``None`` (and reads nothing more) for CSV files, files with several layers, a
    CRS other than EPSG:4326 (declared or forced), columns that differ from the layer's
    fields in name or type, 3-D or big-endian geometries: the full validator handles those.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gpkg", ".fgb", ".geojson", ".json", ".zip", ".shp"):
        return None
    if crs not in (None, "") and str(crs).upper() not in ("EPSG:4326", "4326"):
        return None
    pyogrio = _pyogrio.pyogrio()  # without pandas, geopandas, pyproj: ≈0.35 s of a `spp load`
    from pyogrio.errors import DataLayerError, DataSourceError, FieldError, GeometryError

    target = str(path)
    if suffix == ".zip":
        return None  # Shapefile column names may need restoring; the full path does that
    if suffix in (".geojson", ".json"):
        try:
            path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    try:
        layers = pyogrio.list_layers(target)
        if len(layers) != 1:
            return None
        info = pyogrio.read_info(target)  # milliseconds: decide before reading every feature
        if sorted(info["fields"]) != sorted(f.name for f in spec.fields) or (
                spec.has_geometry and info.get("crs") != "EPSG:4326"):
            return None
        meta, table = pyogrio.read_arrow(target)
    except (DataSourceError, DataLayerError, FieldError, GeometryError, OSError, ValueError):
        return None  # the full path reads the file again and says what is wrong
    geom_name = meta.get("geometry_name") or ("wkb_geometry" if "wkb_geometry" in table.column_names else None)
    wkb = None
    if geom_name is not None and geom_name in table.column_names:
        wkb = table.column(geom_name).combine_chunks()
        table = table.drop_columns([geom_name])
        if not spec.has_geometry:
            return None
        if meta.get("crs") != "EPSG:4326":
            return None
        if wkb.null_count:
            return None
    elif spec.has_geometry:
        return None
    if sorted(table.column_names) != sorted(f.name for f in spec.fields):
        return None
    for fs in spec.fields:
        if not _field_type_ok(fs, table.schema.field(fs.name).type):
            return None
    return Columns(table, wkb, table.num_rows)


def _texts_clean(col: pa.Array) -> bool:
    """No blank value, every non-ASCII value NFC and free of mojibake (the validator would
    set blanks to NULL, normalise or reject the others)."""
    from spp.names import is_mojibake

    if pc.any(pc.match_substring_regex(col, _BLANK)).as_py():
        return False
    if pc.all(pc.string_is_ascii(col)).as_py() is not False:
        return True
    uniques = pc.unique(col)
    for text in uniques.filter(pc.invert(pc.string_is_ascii(uniques))).to_pylist():
        if text is None:
            continue
        if unicodedata.normalize("NFC", text) != text or is_mojibake(text):
            return False
    return True


def _allowed_set(fs: FieldSpec, t: pa.DataType) -> pa.Array | None:
    assert fs.allowed is not None
    if fs.type == "text":
        return pgbinary.from_numpy(sorted({str(a) for a in fs.allowed})).cast(t)
    values = []
    for a in fs.allowed:
        try:
            values.append(float(a))
        except (TypeError, ValueError):
            continue
    if fs.type == "integer":
        ints = [int(v) for v in values if v.is_integer()]
        return pgbinary.from_numpy(np.array(ints, dtype=np.int64)).cast(t, safe=False) if ints else None
    return pgbinary.from_numpy(np.array(values, dtype=np.float64)).cast(t)


def _field_clean(fs: FieldSpec, col: pa.Array, *, key: bool) -> bool:
    if (fs.required or key) and col.null_count:
        return False
    valid = col.drop_null()
    if len(valid) == 0:
        return True
    if fs.type == "text" and not _texts_clean(valid):
        return False
    if fs.type == "real" and pa.types.is_floating(col.type) and pc.any(pc.is_nan(valid)).as_py():
        return False
    if fs.allowed is not None:
        allowed = _allowed_set(fs, valid.type)
        if allowed is None or not pc.all(pc.is_in(valid, value_set=allowed)).as_py():
            return False
    if fs.min is not None or fs.max is not None:
        mm = pc.min_max(valid.cast(pa.float64()))
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        if (fs.min is not None and lo < fs.min) or (fs.max is not None and hi > fs.max):
            return False
    return not (key and len(pc.unique(valid)) != len(valid))  # unique: 10× faster than count_distinct


def _geometries_clean(wkb: pa.BinaryArray, spec: LayerSpec,
                      extent: tuple[float, float, float, float]) -> bool:
    import shapely

    order, codes = pgbinary.wkb_headers(wkb)
    if not (order == 1).all() or not np.isin(codes, list(_WKB_OK[spec.geometry])).all():
        return False
    minx, miny, maxx, maxy = extent
    xy = pgbinary.point_wkb_xy(wkb)
    if xy is not None:  # plain points: no GEOS needed (finite and inside the extent is valid)
        return bool(np.isfinite(xy).all() and (xy[:, 0] >= minx).all() and (xy[:, 0] <= maxx).all()
                    and (xy[:, 1] >= miny).all() and (xy[:, 1] <= maxy).all())
    for start in range(0, len(wkb), _GEOS_CHUNK):  # to_pylist: to_numpy would import pandas
        geoms = shapely.from_wkb(wkb.slice(start, _GEOS_CHUNK).to_pylist())
        if shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
            return False
        if not shapely.is_valid(geoms).all():
            return False
        b = shapely.bounds(geoms)
        if not (np.isfinite(b).all() and (b[:, 0] >= minx).all() and (b[:, 1] >= miny).all()
                and (b[:, 2] <= maxx).all() and (b[:, 3] <= maxy).all()):
            return False
    return True


def is_clean(cols: Columns, spec: LayerSpec, extent: tuple[float, float, float, float]) -> bool:
    """``True`` when :func:`spp.validate.validate_frame` would accept ``cols`` with no
    problem, no warning and no change to any value; ``False`` when it might not.

    ``extent``: (minx, miny, maxx, maxy) in EPSG:4326 every geometry must lie within.
    Never raises: an unexpected error is logged and answered with ``False``.
    """
    try:
        if cols.rows == 0:
            return False
        for fs in spec.fields:
            col = cols.table.column(fs.name).combine_chunks()
            if not _field_clean(fs, col, key=fs.name == spec.primary_key):
                return False
        if spec.has_geometry:
            return cols.wkb is not None and _geometries_clean(cols.wkb, spec, extent)
        return True
    except Exception:  # the full validator will say what is wrong
        log.debug("quick-path check failed; the full validator takes over", exc_info=True)
        return False


def copy_chunks(cols: Columns, spec: LayerSpec, *, srid: int = 4326,
                rows: int = CHUNK_ROWS) -> Iterator[tuple[pa.Buffer, int]]:
    """Binary COPY bodies of ``cols`` in the layer's column order (fields, then ``geom`` as
    EWKB with ``srid``), ``rows`` rows at a time, with the number of rows in each."""
    from spp.store.schema import PG_TYPES, geometry_type

    multi = geometry_type(spec).startswith("Multi") if spec.has_geometry else False
    for start in range(0, cols.rows, rows):
        n = min(rows, cols.rows - start)
        fields = [pgbinary.arrow_field_bytes(cols.table.column(f.name).slice(start, n).combine_chunks(),
                                             PG_TYPES[f.type]) for f in spec.fields]
        if cols.wkb is not None:
            ewkb = pgbinary.ewkb_from_wkb(cols.wkb.slice(start, n), srid=srid, multi=multi)
            fields.append(pgbinary.field_bytes(ewkb, "bytes"))
        yield pgbinary.encode_rows(fields), n
