"""Byte-stable writers for the sample city (GeoJSON, CSV).

Every file is written by hand (no GDAL timestamps, fixed key order, fixed coordinate
precision) so that two builds with the same seed give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

__all__ = ["COORD_DECIMALS", "conform", "to_python", "write_csv", "write_geojson"]

logger = logging.getLogger(__name__)

COORD_DECIMALS = 7
"""Decimal places of lon/lat in written GeoJSON (1e-7° ≈ 1 cm)."""
_GRID_DEG = 10.0 ** -COORD_DECIMALS


def to_python(value: Any) -> Any:
    """Convert a numpy/pandas scalar to a JSON-ready Python value (NaN → ``None``, text → NFC)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if math.isnan(f) else f
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def conform(geoms: np.ndarray, geometry_type: str) -> np.ndarray:
    """Snap geometries to the 1e-7° output grid (keeping them valid) and match ``geometry_type``.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely geometries
        Geometries in EPSG:4326 (lon/lat degrees).
    geometry_type : str
        The layer's geometry type from its spec (``Point``, ``MultiPolygon``...).

    Returns
    -------
    numpy.ndarray
        Valid geometries on the 1e-7° grid; single polygons promoted to multi when the spec
        asks for a multi type.
    """
    out = shapely.set_precision(np.asarray(geoms, dtype=object), _GRID_DEG)
    if geometry_type == "MultiPolygon":
        out = np.array(
            [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in out],
            dtype=object,
        )
    elif geometry_type == "MultiLineString":
        out = np.array(
            [g if g.geom_type == "MultiLineString" else shapely.MultiLineString([g]) for g in out],
            dtype=object,
        )
    return out


def _round_coords(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], float):
            return [round(c, COORD_DECIMALS) for c in obj]
        return [_round_coords(o) for o in obj]
    return obj


def write_geojson(
    path: Path,
    *,
    name: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    geoms: np.ndarray,
    geometry_type: str,
) -> int:
    """Write a GeoJSON FeatureCollection (RFC 7946, EPSG:4326) with a stable byte layout.

    Parameters
    ----------
    path : Path
        Output file.
    name : str
        Layer name stored in the collection's ``name`` member.
    columns : sequence of str
        Property names, in the spec's field order.
    rows : sequence of sequences
        One row of property values per feature, aligned with ``columns``.
    geoms : numpy.ndarray
        Geometries in EPSG:4326 (lon/lat degrees), one per row.
    geometry_type : str
        Geometry type of the layer spec.

    Returns
    -------
    int
        Number of features written.
    """
    if len(rows) != len(geoms):
        raise ValueError(f"{name}: {len(rows)} rows but {len(geoms)} geometries")
    geoms = conform(geoms, geometry_type)
    buf = io.StringIO()
    buf.write(f'{{"type":"FeatureCollection","name":{json.dumps(name)},"features":[\n')
    for i, (row, geom) in enumerate(zip(rows, geoms, strict=True)):
        props = {c: to_python(v) for c, v in zip(columns, row, strict=True)}
        gj = mapping(geom)
        feature = {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": gj["type"], "coordinates": _round_coords(gj["coordinates"])},
        }
        if i:
            buf.write(",\n")
        buf.write(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    buf.write("\n]}\n")
    path.write_text(buf.getvalue(), encoding="utf-8", newline="\n")
    logger.info("wrote %s: %d features", path.name, len(rows))
    return len(rows)


def write_csv(path: Path, *, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Write a UTF-8 CSV table (no geometry) with ``\\n`` line ends; return the row count."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if (v := to_python(x)) is None else v for x in row])
    path.write_text(buf.getvalue(), encoding="utf-8", newline="\n")
    logger.info("wrote %s: %d rows", path.name, len(rows))
    return len(rows)
