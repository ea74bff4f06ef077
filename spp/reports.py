"""Citizen field reports: validation, table DDL and the flood hit rate (pure functions).

Design
------
``field_reports`` is operational data, not a department's layer: citizens' apps append one
report at a time through OGC API - Features Part 4 (``POST /collections/field_reports/items``
on the API-key endpoint, :mod:`spp.ogc.reports`), and a data steward moderates them with
``spp reports review`` (:mod:`spp.cli.reports`). So it is **not** a versioned bulk layer:

* its spec ``layers/field_reports.yml`` is an ordinary catalogue entry (so the OGC
  configuration, the docs table and the map are derived from it as for any layer), but
  the live table ``spp.field_reports`` is created from that spec by :func:`table_ddl` on
  first use (``CREATE TABLE IF NOT EXISTS``), with database constraints that repeat the
  validation (categories, statuses, text size, Point in EPSG:4326). It has no
  ``spp_meta.versions`` entry and no history; **never load it with ``spp load``**, which
  would replace the table and its moderation state by a file;
* the server sets ``report_id`` (a UUID), ``received_at`` and ``status = 'pending'``;
  ``reviewed_by``/``reviewed_at`` are restricted fields (never on the public endpoint);
* the public collection shows ``status = 'approved'`` rows only: its providers wrap the
  table in a filtered subquery (features) or add the condition to the tile SQL, so a
  pending or rejected report is invisible there by item id, by query, in CSV and in tiles.

Everything here is pure: parsing a posted GeoJSON Feature into a :class:`NewReport` (or a
:class:`ReportError` listing every problem), the DDL text, and the per-commune share of
approved flooded-street reports that fall inside a flood run's extents.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from spp.errors import SppError
from spp.validate import CITY_BBOX_4326

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from spp.catalog import LayerSpec

__all__ = [
    "LAYER",
    "MAX_BODY_BYTES",
    "MAX_DESCRIPTION_CHARS",
    "SERVER_FIELDS",
    "NewReport",
    "ReportError",
    "flood_hit_rates",
    "parse_report",
    "table_ddl",
]

LAYER = "field_reports"
MAX_DESCRIPTION_CHARS = 2000
"""Longest description, in Unicode characters after NFC normalisation."""
MAX_BODY_BYTES = 65_536
"""Largest request body accepted for one report (HTTP 413 beyond)."""
SERVER_FIELDS = ("report_id", "received_at", "status", "reviewed_by", "reviewed_at")
"""Fields only the server or a data steward sets; a client sending them gets a 400."""
CLIENT_FIELDS = ("category", "description", "observed_at")
MAX_CLOCK_SKEW = timedelta(minutes=10)
MAX_AGE = timedelta(days=365)
VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")
"""Time zone assumed for an ``observed_at`` without an offset (Indochina Time, UTC+7)."""
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


class ReportError(SppError, ValueError):
    """A posted field report is invalid; ``problems`` lists every problem (HTTP 400)."""

    http_status = 400
    ogc_code = "InvalidParameterValue"

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("field report rejected: " + "; ".join(self.problems))


@dataclass(frozen=True)
class NewReport:
    """A validated report as a citizen sent it (server-set fields are added on insert).

    ``lon``/``lat`` are degrees in EPSG:4326 (CRS84 axis order); ``observed_at`` is
    timezone-aware; ``description`` is NFC text or ``None``."""

    category: str
    description: str | None
    observed_at: datetime
    lon: float
    lat: float


def _decode(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if isinstance(body, bytes):
        if len(body) > MAX_BODY_BYTES:
            raise ReportError([f"the request body is over {MAX_BODY_BYTES} bytes"])
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ReportError(["the request body is not UTF-8"]) from None
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        raise ReportError(["the request body is not valid JSON (send one GeoJSON Feature)"]) from None
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        raise ReportError(["send one GeoJSON Feature ({'type': 'Feature', 'geometry': …, 'properties': …})"])
    return doc


def _point(geometry: Any, bbox: tuple[float, float, float, float], problems: list[str]) -> tuple[float, float]:
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        problems.append(f"geometry: must be a GeoJSON Point, got {str(kind)[:40]!r}")
        return math.nan, math.nan
    coords = geometry.get("coordinates")
    if (not isinstance(coords, list) or len(coords) not in (2, 3)
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
            or not all(math.isfinite(float(c)) for c in coords)):
        problems.append("geometry: a Point needs [longitude, latitude] as two finite numbers (CRS84)")
        return math.nan, math.nan
    lon, lat = float(coords[0]), float(coords[1])
    minx, miny, maxx, maxy = bbox
    if not (minx <= lon <= maxx and miny <= lat <= maxy):
        problems.append(f"geometry: ({lon:.5f}, {lat:.5f}) is outside Can Tho city "
                        f"(longitude {minx}..{maxx}, latitude {miny}..{maxy}, CRS84)")
    return lon, lat


def _text(value: Any, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append("properties.description: must be a string")
        return None
    text = unicodedata.normalize("NFC", value).strip()
    bad = sorted({f"U+{ord(c):04X}" for c in text
                  if unicodedata.category(c) in ("Cc", "Cs") and c not in _ALLOWED_CONTROLS})
    if bad:
        problems.append(f"properties.description: control characters are not allowed ({', '.join(bad[:5])})")
    if len(text) > MAX_DESCRIPTION_CHARS:
        problems.append(f"properties.description: {len(text)} characters, at most {MAX_DESCRIPTION_CHARS}")
    return text or None


def _when(value: Any, now: datetime, problems: list[str]) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        problems.append("properties.observed_at: must be an ISO 8601 date-time string")
        return now
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"properties.observed_at: {value[:40]!r} is not an ISO 8601 date-time")
        return now
    if when.tzinfo is None:
        when = when.replace(tzinfo=VIETNAM_TIME)
    if when > now + MAX_CLOCK_SKEW:
        problems.append("properties.observed_at: is in the future")
    elif when < now - MAX_AGE:
        problems.append(f"properties.observed_at: is more than {MAX_AGE.days} days ago")
    return when


def parse_report(body: bytes | str | Mapping[str, Any], *, categories: Sequence[str],
                 now: datetime | None = None,
                 bbox: tuple[float, float, float, float] = CITY_BBOX_4326) -> NewReport:
    """Validate one posted GeoJSON Feature and return the report it holds.

    Parameters
    ----------
    body
        The request body (UTF-8 JSON) or an already decoded mapping.
    categories
        The allowed categories (``layers/field_reports.yml``, field ``category``).
    now
        The server's time (timezone-aware; default: now, UTC).
    bbox
        ``(minx, miny, maxx, maxy)`` in EPSG:4326 the point must fall in (the city's
        extent; the server also checks the city outline in PostGIS).

    Returns
    -------
    NewReport
        Description NFC-normalised and stripped; ``observed_at`` defaults to ``now`` and
        is read as UTC+7 when it has no offset.

    Raises
    ------
    ReportError
        Listing every problem: not a Feature, not a Point, outside the city, unknown or
        missing category, description over :data:`MAX_DESCRIPTION_CHARS` or with control
        characters, bad or future ``observed_at``, server-set or unknown properties.

    Examples
    --------
    >>> feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [105.78, 10.03]},
    ...            "properties": {"category": "flooded_street", "description": "Ngập sâu 30 cm"}}
    >>> r = parse_report(feature, categories=["flooded_street"], now=datetime(2026, 1, 1, tzinfo=UTC))
    >>> r.category, r.lon, r.lat, r.observed_at.isoformat()
    ('flooded_street', 105.78, 10.03, '2026-01-01T00:00:00+00:00')
    >>> parse_report({**feature, "properties": {"category": "ufo"}}, categories=["flooded_street"])
    Traceback (most recent call last):
    ...
    spp.reports.ReportError: field report rejected: properties.category: 'ufo' is not one of flooded_street
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    doc = _decode(body)
    problems: list[str] = []
    lon, lat = _point(doc.get("geometry"), bbox, problems)
    props = doc.get("properties")
    if not isinstance(props, dict):
        problems.append("properties: must be an object with at least 'category'")
        props = {}
    server = sorted(k for k in props if k in SERVER_FIELDS)
    if server:
        problems.append(f"properties: {', '.join(server)} are set by the server, do not send them")
    unknown = sorted(str(k)[:40] for k in props if k not in SERVER_FIELDS and k not in CLIENT_FIELDS)
    if unknown:
        problems.append(f"properties: unknown field(s) {', '.join(unknown[:10])}; "
                        f"send only {', '.join(CLIENT_FIELDS)}")
    category = props.get("category")
    if category is None:
        problems.append(f"properties.category: required, one of {', '.join(categories)}")
    elif not isinstance(category, str) or category not in categories:
        problems.append(f"properties.category: {str(category)[:40]!r} is not one of {', '.join(categories)}")
    description = _text(props.get("description"), problems)
    observed_at = _when(props.get("observed_at"), now, problems)
    if problems:
        raise ReportError(problems)
    assert isinstance(category, str)
    return NewReport(category, description, observed_at, lon, lat)


def _literal(value: str | int) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def table_ddl(spec: LayerSpec, *, schema: str = "spp") -> list[str]:
    """SQL statements that create the live table of ``spec`` if missing (idempotent).

    Columns and types come from the spec (as for every layer); required fields are
    ``NOT NULL``, ``allowed`` lists become ``CHECK … IN``, the description is capped at
    :data:`MAX_DESCRIPTION_CHARS`, ``status`` defaults to ``'pending'``, ``received_at`` to
    ``now()``, and a report is reviewed exactly when it is not pending. The geometry is
    ``geometry(Point, 4326)`` with a GiST index.

    >>> from pathlib import Path
    >>> from spp.catalog import load_spec
    >>> ddl = table_ddl(load_spec(Path(__file__).parent.parent / "layers" / "field_reports.yml"))
    >>> print(ddl[0].splitlines()[1].strip())
    "report_id" text NOT NULL PRIMARY KEY,
    """
    from spp.store.schema import PG_TYPES

    table = f'"{schema}"."{spec.name}"'
    defaults = {"status": "'pending'", "received_at": "now()"}
    cols = []
    for f in spec.fields:
        col = f'"{f.name}" {PG_TYPES[f.type]}'
        if f.name in defaults:
            col += f" DEFAULT {defaults[f.name]}"
        if f.required:
            col += " NOT NULL"
        if f.name == spec.primary_key:
            col += " PRIMARY KEY"
        if f.allowed:
            col += f' CHECK ("{f.name}" IN ({", ".join(_literal(v) for v in f.allowed)}))'
        if f.name == "description":
            col += f' CHECK (char_length("{f.name}") <= {MAX_DESCRIPTION_CHARS})'
        cols.append(col)
    cols.append(f"geom geometry({spec.geometry}, 4326) NOT NULL")
    names = {f.name for f in spec.fields}
    if {"status", "reviewed_at"} <= names:
        cols.append("CHECK ((status = 'pending') = (reviewed_at IS NULL))")
    body = ",\n    ".join(cols)
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (\n    {body}\n)",
        f'CREATE INDEX IF NOT EXISTS "{spec.name}_geom_gist" ON {table} USING gist (geom)',
        *([f'CREATE INDEX IF NOT EXISTS "{spec.name}_status" ON {table} (status)'] if "status" in names else []),
    ]


def flood_hit_rates(reports: gpd.GeoDataFrame, extents: gpd.GeoDataFrame, communes: gpd.GeoDataFrame, *,
                    commune_id: str = "ma_xa", commune_name: str = "ten",
                    min_depth_m: float = 0.0) -> pd.DataFrame:
    """Per commune, the share of approved ``flooded_street`` reports inside a flood run's extents.

    Parameters
    ----------
    reports
        Field reports (Points) with ``category`` and ``status``; only approved
        ``flooded_street`` ones count.
    extents
        The flood extents of **one** run (``flood_extents`` rows: (Multi)Polygons, optional
        ``depth_min_m`` in metres, the class lower bound).
    communes
        Commune (Multi)Polygons with ``commune_id`` and ``commune_name`` columns.
    min_depth_m
        Count only extents whose depth class starts at or above this depth (metres); 0
        counts every flooded polygon (the model writes depths ≥ 0.1 m).

    All three frames must share one CRS (raises ``ValueError`` otherwise); the tests are
    topological (point in polygon, boundary included), so any CRS gives the same answer.

    Returns
    -------
    pandas.DataFrame
        One row per commune holding at least one counted report, sorted by commune id:
        ``commune_id``, ``commune_name``, ``reports`` (count), ``hits`` (reports inside an
        extent) and ``hit_share`` (hits / reports, 0–1). Reports outside every commune are
        left out.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> communes = gpd.GeoDataFrame({"ma_xa": ["A"], "ten": ["Xã A"]}, geometry=[shapely.box(0, 0, 10, 10)])
    >>> extents = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 5, 10)])
    >>> reports = gpd.GeoDataFrame({"category": ["flooded_street"] * 2, "status": ["approved"] * 2},
    ...                            geometry=[shapely.Point(1, 1), shapely.Point(8, 1)])
    >>> row = flood_hit_rates(reports, extents, communes).iloc[0]
    >>> int(row.reports), int(row.hits), float(row.hit_share)
    (2, 1, 0.5)
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    crs = {str(f.crs) for f in (reports, extents, communes)}
    if len(crs) > 1:
        raise ValueError(f"reports, extents and communes must share one CRS, got {sorted(crs)}")
    columns = ["commune_id", "commune_name", "reports", "hits", "hit_share"]
    counted = reports[(reports["category"] == "flooded_street") & (reports["status"] == "approved")]
    counted = counted[counted.geometry.notna() & ~counted.geometry.is_empty]
    if counted.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(columns, ["object", "object", "int64", "int64", "float64"], strict=True)})
    flooded = extents
    if min_depth_m > 0 and "depth_min_m" in extents:
        flooded = extents[extents["depth_min_m"].fillna(0) >= min_depth_m]
    points = gpd.GeoDataFrame({"_row": np.arange(len(counted))}, geometry=counted.geometry.values,
                              crs=counted.crs)
    hit = np.zeros(len(points), dtype=bool)
    if len(flooded):
        inside = gpd.sjoin(points, flooded[[flooded.geometry.name]], predicate="intersects", how="inner")
        hit[np.unique(inside["_row"].to_numpy())] = True
    points["hit"] = hit
    zones = communes[[commune_id, commune_name, communes.geometry.name]].rename(
        columns={commune_id: "commune_id", commune_name: "commune_name"})
    joined = gpd.sjoin(points, zones, predicate="intersects", how="inner")
    joined = joined.drop_duplicates("_row")  # a point on a shared border counts once
    out = (joined.groupby(["commune_id", "commune_name"], sort=True)
           .agg(reports=("_row", "size"), hits=("hit", "sum")).reset_index())
    out["reports"] = out["reports"].astype("int64")
    out["hits"] = out["hits"].astype("int64")
    out["hit_share"] = out["hits"] / out["reports"]
    return out[columns]
