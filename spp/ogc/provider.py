"""pygeoapi feature provider for SPP's PostGIS layers.

Differences from pygeoapi 0.21's ``PostgreSQL`` provider, and why:

* the GeoJSON of a page is built by PostGIS (``json_build_object`` + ``ST_AsGeoJSON``), so
  workers do not turn WKB into shapely objects and back (the reason pygeoapi was slower
  than tipg); CRS transforms run in PostGIS with *integer* SRIDs (EPSG:3857, EPSG:9210 …);
* no ``count(*)`` per page: ``numberMatched`` is given when it is free (the last page) or
  asked for (``resulttype=hits``); ``next`` links come from full pages;
* columns come from the configuration (generated from the catalogue), not from reflecting
  the table, so a layer reloaded under the same name (atomic table swap) is served at once,
  the provider is cheap to build per request and restricted fields cannot leak;
* one pooled engine per database with ``pool_pre_ping`` and a statement timeout, so a
  restarted PostGIS is reconnected transparently and runaway queries are cancelled;
* database errors become 4xx/503 with a safe message; nothing reaches the client as 500.

All geometries are stored in EPSG:4326 (lon/lat axis order in the database); output in
EPSG:4326 with the ``crs`` parameter follows the EPSG axis order (lat, lon), as OGC API -
Features Part 2 requires.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
from collections.abc import Sequence
from typing import Any

import pyproj
import sqlalchemy as sa
from geoalchemy2 import Geometry
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)
from pygeoapi.util import get_crs_from_uri
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Engine

from spp.ogc.filters import FilterError, to_where

__all__ = ["ServiceUnavailableError", "SppFeatureProvider", "column_types", "get_engine"]

log = logging.getLogger(__name__)

STATEMENT_TIMEOUT_MS = 30_000
_SQL_TYPES: dict[tuple[str, str | None], Any] = {
    ("string", None): sa.Text(),
    ("integer", None): sa.BigInteger(),
    ("number", None): sa.Float(),
    ("boolean", None): sa.Boolean(),
    ("string", "date"): sa.Date(),
    ("string", "date-time"): sa.DateTime(timezone=True),
}


class ServiceUnavailableError(ProviderConnectionError):  # type: ignore[misc]
    """PostGIS is unreachable or the query ran out of time (HTTP 503)."""

    http_status_code = 503
    ogc_exception_code = "ServiceUnavailable"
    default_msg = "the database is not available right now; retry in a moment"


@functools.cache
def get_engine(host: str, port: int, dbname: str, user: str, password: str) -> Engine:
    """One pooled engine per database and process; stale connections are replaced."""
    url = URL.create("postgresql+psycopg2", username=user, password=password or None,
                     host=host, port=int(port), database=dbname)
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=4,
        max_overflow=4,
        pool_recycle=3600,
        connect_args={
            "application_name": "spp-ogc",
            "client_encoding": "utf8",
            "connect_timeout": 5,
            # no parallel query: under concurrent web load it adds latency, and the planner
            # otherwise picks parallel seq scans for tile queries with costly ST_AsMVTGeom
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c max_parallel_workers_per_gather=0",
        },
    )


def engine_for(data: dict[str, Any]) -> Engine:
    """The engine for a provider definition's ``data`` mapping."""
    try:
        return get_engine(str(data["host"]), int(data.get("port") or 5432), str(data["dbname"]),
                          str(data["user"]), str(data.get("password") or ""))
    except (KeyError, ValueError) as exc:
        raise ProviderConnectionError(user_msg="the collection's database is misconfigured") from exc


def column_types(fields: dict[str, dict[str, str]]) -> dict[str, Any]:
    """SQLAlchemy types of the configured fields (JSON Schema type + format)."""
    return {name: _SQL_TYPES.get((f.get("type", "string"), f.get("format")), sa.Text())
            for name, f in fields.items()}


@functools.cache
def _axis_flip(epsg: int) -> bool:
    """True when the CRS's first axis is northing/latitude (EPSG:4326), i.e. output must be
    written (y, x) while PostGIS keeps (x, y)."""
    axes = pyproj.CRS.from_epsg(epsg).axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


def _target_epsg(crs_transform_spec: Any) -> int | None:
    """EPSG code to output in; ``None`` for the storage CRS (CRS84)."""
    if crs_transform_spec is None:
        return None
    crs = get_crs_from_uri(crs_transform_spec.target_crs_uri)
    epsg = crs.to_epsg()
    if epsg is None:
        return None  # CRS84 and friends: lon/lat in EPSG:4326 = storage
    return int(epsg)


class SppFeatureProvider(BaseProvider):  # type: ignore[misc]
    """Features of one layer table ``spp."<table>"`` (see the module docstring)."""

    def __init__(self, provider_def: dict[str, Any]):
        super().__init__(provider_def)
        self.table = str(provider_def["table"])
        self.id_field = str(provider_def["id_field"])
        self.geom = provider_def.get("geom_field")
        self.storage_crs = provider_def.get("storage_crs", "http://www.opengis.net/def/crs/OGC/1.3/CRS84")
        schema = (provider_def["data"].get("search_path") or ["spp"])[0]
        configured = dict(provider_def.get("fields") or {})
        if self.id_field not in configured:
            configured = {self.id_field: {"type": "string"}, **configured}
        self._field_defs = {k: v for k, v in configured.items() if not self.properties or k in self.properties or k == self.id_field}
        self._fields = {k: {"type": v.get("type", "string"), **({"format": v["format"]} if v.get("format") else {})}
                        for k, v in self._field_defs.items()}
        self._types = column_types(self._field_defs)
        cols = [sa.column(name, type_) for name, type_ in self._types.items()]
        if self.geom:
            cols.append(sa.column(self.geom, Geometry("GEOMETRY", srid=4326)))
        self._table = sa.table(self.table, *cols, schema=schema)
        self._engine = engine_for(provider_def["data"])

    # -- pygeoapi contract ---------------------------------------------------------------

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Published fields (restricted ones are never configured on the public endpoint)."""
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: Sequence[float] = (), datetime_: str | None = None,
              properties: Sequence[tuple[str, str]] = (), sortby: Sequence[dict[str, str]] = (),
              select_properties: Sequence[str] = (), skip_geometry: bool = False,
              q: str | None = None, filterq: Any = None, crs_transform_spec: Any = None,
              **kwargs: Any) -> dict[str, Any]:
        """A GeoJSON FeatureCollection page (see pygeoapi's ``BaseProvider.query``)."""
        where = self._where(bbox=bbox, datetime_=datetime_, properties=properties, filterq=filterq)
        t = self._table
        if resulttype == "hits":
            count_stmt = sa.select(sa.func.count()).select_from(t).where(*where)
            matched = int(self._run(lambda c: c.execute(count_stmt).scalar_one()))
            return {"type": "FeatureCollection", "features": [], "numberMatched": matched,
                    "numberReturned": 0}
        keys = [(s["property"], s.get("order") == "-") for s in sortby if s.get("property") in self._types]
        keys.append((self.id_field, False))

        def order(src: Any) -> list[Any]:
            return [(sa.desc if desc else sa.asc)(src.c[name]) for name, desc in keys]

        # page first, JSON after: PostgreSQL evaluates the select list of every row skipped
        # by OFFSET, so building GeoJSON in the same SELECT costs O(offset)
        page = (sa.select(t).where(*where).order_by(*order(t)).limit(int(limit)).offset(int(offset))
                .subquery("page"))
        feature = self._feature_json(page, select_properties, skip_geometry, crs_transform_spec)
        stmt = sa.select(sa.cast(feature, sa.Text)).select_from(page).order_by(*order(page))
        rows = self._run(lambda c: c.execute(stmt).scalars().all())
        features = json.loads("[" + ",".join(rows) + "]")
        result: dict[str, Any] = {"type": "FeatureCollection", "features": features,
                                  "numberReturned": len(features)}
        if len(features) < limit and (features or offset == 0):
            result["numberMatched"] = offset + len(features)
        return result

    def get(self, identifier: Any, crs_transform_spec: Any = None, **kwargs: Any) -> dict[str, Any]:
        """One feature by primary key, with ``prev``/``next`` ids for links."""
        t = self._table
        pk = t.c[self.id_field]
        try:
            key = self._coerce(self.id_field, str(identifier))
        except ValueError:
            raise ProviderItemNotFoundError(user_msg=f"no item with id {str(identifier)[:80]!r}") from None
        feature = self._feature_json(t, (), False, crs_transform_spec)
        prev_q = sa.select(pk).where(pk < key).order_by(pk.desc()).limit(1).scalar_subquery()
        next_q = sa.select(pk).where(pk > key).order_by(pk.asc()).limit(1).scalar_subquery()
        stmt = sa.select(sa.cast(feature, sa.Text), prev_q, next_q).select_from(t).where(pk == key)
        row = self._run(lambda c: c.execute(stmt).first())
        if row is None:
            raise ProviderItemNotFoundError(user_msg=f"no item with id {str(identifier)[:80]!r}")
        out: dict[str, Any] = json.loads(row[0])
        out["prev"] = row[1] if row[1] is not None else out["id"]
        out["next"] = row[2] if row[2] is not None else out["id"]
        return out

    # -- SQL building ----------------------------------------------------------------------

    def _feature_json(self, t: Any, select_properties: Sequence[str], skip_geometry: bool,
                      crs_transform_spec: Any) -> Any:
        """``json_build_object`` of one GeoJSON Feature from the columns of ``t``."""
        # the id is repeated in the properties (as tipg does) so that QGIS and GDAL show it
        names = [n for n in self._types if not select_properties or n in select_properties]
        props = _json_object([(n, t.c[n]) for n in names])
        geometry: Any = sa.null()
        if self.geom and not skip_geometry:
            g: Any = t.c[self.geom]
            epsg = _target_epsg(crs_transform_spec)
            digits = 7
            if epsg is not None and epsg != 4326:
                g = sa.func.ST_Transform(g, sa.literal_column(str(int(epsg))))
                digits = 3 if not pyproj.CRS.from_epsg(epsg).is_geographic else 7
            if epsg is not None and _axis_flip(epsg):
                g = sa.func.ST_FlipCoordinates(g)
            # options 0: no "crs" member (VN-2000 SRIDs carry no authority in spatial_ref_sys)
            geometry = sa.cast(sa.func.ST_AsGeoJSON(g, digits, sa.literal_column("0")), sa.JSON)
        return sa.func.json_build_object(
            sa.literal_column("'type'"), sa.literal_column("'Feature'"),
            sa.literal_column("'id'"), t.c[self.id_field],
            sa.literal_column("'geometry'"), geometry,
            sa.literal_column("'properties'"), props,
        )

    def _where(self, *, bbox: Sequence[float], datetime_: str | None,
               properties: Sequence[tuple[str, str]], filterq: Any) -> list[Any]:
        t = self._table
        where: list[Any] = []
        if bbox:
            if not self.geom:
                raise ProviderInvalidQueryError(user_msg="bbox: this collection has no geometry")
            try:
                minx, miny, maxx, maxy = (float(v) for v in bbox[:4])
            except (TypeError, ValueError):
                raise ProviderInvalidQueryError(user_msg="bbox must be 4 numbers") from None
            if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
                raise ProviderInvalidQueryError(user_msg="bbox values must be finite numbers")
            envelope = sa.func.ST_MakeEnvelope(minx, miny, maxx, maxy, sa.literal_column("4326"))
            where.append(sa.func.ST_Intersects(t.c[self.geom], envelope))
        for name, value in properties:
            if name not in self._types:
                continue
            try:
                where.append(t.c[name] == self._coerce(name, value))
            except ValueError:
                raise ProviderInvalidQueryError(
                    user_msg=f"{name}: {str(value)[:60]!r} is not a valid {self._fields[name]['type']}") from None
        if datetime_ not in (None, "../.."):
            where.append(self._datetime_filter(str(datetime_)))
        if filterq is not None:
            columns = {n: t.c[n] for n in self._types}
            if self.geom:
                columns[self.geom] = t.c[self.geom]
            try:
                where.append(to_where(filterq, columns))
            except FilterError as exc:
                raise ProviderInvalidQueryError(user_msg=str(exc)) from None
        return where

    def _datetime_filter(self, value: str) -> Any:
        if not self.time_field or self.time_field not in self._types:
            raise ProviderInvalidQueryError(user_msg="datetime: this collection has no time field")
        col = self._table.c[self.time_field]

        def parse(text: str) -> Any:
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                raise ProviderInvalidQueryError(user_msg=f"datetime: {text[:40]!r} is not ISO 8601") from None

        if "/" in value:
            begin, _, end = value.partition("/")
            parts = []
            if begin not in ("", ".."):
                parts.append(col >= parse(begin))
            if end not in ("", ".."):
                parts.append(col <= parse(end))
            return sa.and_(sa.true(), *parts)
        return col == parse(value)

    def _coerce(self, name: str, value: str) -> Any:
        """A query-string value as the field's Python type; ``ValueError`` when impossible."""
        kind = self._fields[name]
        if kind["type"] == "integer":
            number = int(value)
            if abs(number) >= 2**63:
                raise ValueError(value)
            return number
        if kind["type"] == "number":
            number_f = float(value)
            if not math.isfinite(number_f):
                raise ValueError(value)
            return number_f
        if kind["type"] == "boolean":
            lowered = value.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return lowered in ("true", "1")
        if kind.get("format") == "date":
            return dt.date.fromisoformat(value)
        if kind.get("format") == "date-time":
            return dt.datetime.fromisoformat(value)
        if "\x00" in value:
            raise ValueError("NUL character")
        return value

    def _run(self, work: Any) -> Any:
        """Run ``work(connection)``; map database failures to pygeoapi errors (never a 500)."""
        try:
            with self._engine.connect() as conn:
                return work(conn)
        except sa.exc.DBAPIError as exc:
            raise _map_db_error(exc, self.table) from exc
        except sa.exc.SQLAlchemyError as exc:
            log.error("query on %s failed: %s", self.table, exc)
            raise ProviderInvalidQueryError(user_msg="the query could not be run") from exc

    def __repr__(self) -> str:
        return f"<SppFeatureProvider> spp.{self.table}"


def _json_object(pairs: list[tuple[str, Any]]) -> Any:
    """``json_build_object`` of (name, column) pairs; jsonb concatenation beyond 50 pairs
    (PostgreSQL functions take at most 100 arguments). Names are catalogue field names
    (lower_snake ASCII), safe to inline."""
    chunks = [pairs[i:i + 50] for i in range(0, len(pairs), 50)] or [[]]
    objects = []
    for chunk in chunks:
        args: list[Any] = []
        for name, col in chunk:
            args += [sa.literal_column(f"'{name}'"), col]
        objects.append(sa.func.json_build_object(*args))
    if len(objects) == 1:
        return objects[0]
    merged: Any = sa.cast(objects[0], JSONB)
    for obj in objects[1:]:
        merged = merged.op("||")(sa.cast(obj, JSONB))
    return merged


def _map_db_error(exc: sa.exc.DBAPIError, table: str) -> Any:
    """The pygeoapi error (an ``Exception``) that a failed database call becomes."""
    code = getattr(exc.orig, "pgcode", None) or ""
    first = (str(getattr(exc.orig, "pgerror", "") or exc.orig).strip().splitlines() or [""])[0]
    if exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError) and code != "57014":
        log.warning("database unavailable for %s: %s", table, first)
        return ServiceUnavailableError()
    if code == "57014":
        log.warning("statement timeout on %s", table)
        return ServiceUnavailableError(user_msg="the query took too long; narrow it with bbox, limit or a filter")
    if code == "42P01":
        log.warning("table spp.%s is missing", table)
        return ProviderItemNotFoundError(user_msg="this collection has no data loaded yet")
    log.info("query on %s rejected by PostGIS (%s): %s", table, code, first)
    message = first.removeprefix("ERROR:").strip()[:200]
    return ProviderInvalidQueryError(user_msg=f"the query could not be run on this collection: {message}")
