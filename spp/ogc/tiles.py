"""Mapbox Vector Tiles straight from PostGIS (``ST_AsMVT``), WebMercatorQuad only.

pygeoapi 0.21's ``MVT-postgresql`` provider calls ``ST_Transform(geom, 'EPSG:3857')`` with
the SRID as *text*; on PostGIS 3.3 that looks up PROJ for every row (≈ 10 ms/row, a
500-row tile takes 5 s). :class:`SppMVTProvider` keeps its metadata methods but builds the
tile with the integer SRID 3857, selects rows with the GiST index (``geom && envelope`` in
EPSG:4326, computed in Python), ships only the configured (public) fields, and honours the catalogue's
``min_zoom``/``max_zoom``: tiles outside them are 404.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import sqlalchemy as sa
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import ProviderInvalidQueryError
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError

from spp.ogc.provider import _map_db_error, engine_for

__all__ = ["SppMVTProvider", "lonlat_bounds", "tile_sql"]

log = logging.getLogger(__name__)

EXTENT = 4096
BUFFER = 64


def tile_sql(schema: str, table: str, columns: list[str], geom: str = "geom") -> str:
    """The tile query; parameters ``z``, ``x``, ``y``, ``layer`` and the tile's EPSG:4326
    bounds with the buffer (``west``, ``south``, ``east``, ``north``, see :func:`lonlat_bounds`).
    ``columns`` are catalogue field names (lower_snake ASCII), quoted as identifiers.

    The bounds come from Python because a Web-Mercator tile is exactly a lon/lat rectangle:
    no ``ST_Transform`` of the envelope at plan time. Rows whose clipped geometry is NULL are
    dropped by ``ST_AsMVT`` itself (a ``WHERE mvtgeom IS NOT NULL`` would make PostgreSQL
    compute ``ST_AsMVTGeom`` twice per row)."""
    cols = "".join(f', t."{c}"' for c in columns)
    return (
        "WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS e) "
        "SELECT ST_AsMVT(m, %(layer)s, " + str(EXTENT) + ", 'mvtgeom') FROM ("
        f"SELECT ST_AsMVTGeom(ST_Transform(t.\"{geom}\", 3857), b.e, "
        f"{EXTENT}, {BUFFER}, true) AS mvtgeom{cols} FROM \"{schema}\".\"{table}\" t, b "
        f"WHERE t.\"{geom}\" && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"
        ") m"
    )


def lonlat_bounds(z: int, x: int, y: int, buffer: float = BUFFER / EXTENT) -> dict[str, float]:
    """EPSG:4326 bounds of WebMercatorQuad tile ``z/x/y`` grown by ``buffer`` tile widths."""
    n = 2.0**z

    def lon(col: float) -> float:
        return col / n * 360.0 - 180.0

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return {"west": max(-180.0, lon(x - buffer)), "east": min(180.0, lon(x + 1 + buffer)),
            "north": lat(max(0.0, y - buffer)), "south": lat(min(n, y + 1 + buffer))}


class SppMVTProvider(MVTPostgreSQLProvider):  # type: ignore[misc]
    """Vector tiles of one layer table (see the module docstring)."""

    def __init__(self, provider_def: dict[str, Any]):
        # no table reflection (MVTPostgreSQLProvider's parent does it): fields come from
        # the generated configuration, and a reloaded table is served without a restart
        BaseMVTProvider.__init__(self, provider_def)
        self.table = str(provider_def["table"])
        self.id_field = provider_def.get("id_field")
        self.geom = provider_def.get("geom_field", "geom")
        self.properties = list(provider_def.get("properties") or [])
        self.storage_crs = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        self.schema = (provider_def["data"].get("search_path") or ["spp"])[0]
        zoom = (self.options or {}).get("zoom", {})
        self.min_zoom = int(zoom.get("min", 0))
        self.max_zoom = int(zoom.get("max", 22))
        self._engine = engine_for(provider_def["data"])
        self._sql = tile_sql(self.schema, self.table, self.properties, self.geom)
        self._fields = {name: name for name in self.properties}

    def get_fields(self) -> dict[str, Any]:
        return self._fields

    def get_layer(self) -> str:
        return self.table

    def get_tiling_schemes(self) -> list[Any]:
        return [TileMatrixSetEnum.WEBMERCATORQUAD.value]

    def get_tiles(self, layer: str = "default", tileset: str | None = None, z: Any = None,
                  y: Any = None, x: Any = None, format_: str | None = None) -> bytes | None:
        """The MVT bytes of tile ``z/y/x`` (``None`` when empty: pygeoapi answers 204)."""
        if tileset != TileMatrixSetEnum.WEBMERCATORQUAD.value.tileMatrixSet:
            raise ProviderTileNotFoundError("only WebMercatorQuad is offered")
        try:
            zi, yi, xi = int(str(z)), int(str(y)), int(str(x))
        except ValueError:
            raise ProviderInvalidQueryError(user_msg="tile matrix, row and column must be integers") from None
        if not (self.min_zoom <= zi <= self.max_zoom):
            raise ProviderTileNotFoundError(f"zoom {zi} outside {self.min_zoom}..{self.max_zoom}")
        if not (0 <= xi < 2**zi and 0 <= yi < 2**zi):
            raise ProviderTileNotFoundError(f"tile {zi}/{yi}/{xi} outside the tile matrix")
        params: dict[str, Any] = {"z": zi, "x": xi, "y": yi, "layer": layer or self.table,
                                  **lonlat_bounds(zi, xi, yi)}
        try:
            with self._engine.connect() as conn:
                raw = conn.exec_driver_sql(self._sql, params).scalar()
        except sa.exc.DBAPIError as exc:
            raise _map_db_error(exc, self.table) from exc
        data = bytes(raw) if raw is not None else b""
        return data or None

    def __repr__(self) -> str:
        return f"<SppMVTProvider> spp.{self.table}"
