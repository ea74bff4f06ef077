"""Mapbox Vector Tiles straight from PostGIS (``ST_AsMVT``), WebMercatorQuad only.

pygeoapi 0.21's ``MVT-postgresql`` provider calls ``ST_Transform(geom, 'EPSG:3857')`` with
the SRID as *text*; on PostGIS 3.3 that looks up PROJ for every row (≈ 10 ms/row, a
500-row tile takes 5 s). :class:`SppMVTProvider` keeps its metadata methods but builds the
tile with the integer SRID 3857, selects rows with the GiST index (``geom && envelope`` in
EPSG:4326), ships only the configured (public) fields, and honours the catalogue's
``min_zoom``/``max_zoom``: tiles outside them are 404.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import ProviderInvalidQueryError
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider
from pygeoapi.provider.tile import ProviderTileNotFoundError

from spp.ogc.provider import _map_db_error, engine_for

__all__ = ["SppMVTProvider", "tile_sql"]

log = logging.getLogger(__name__)

EXTENT = 4096
BUFFER = 64


def tile_sql(schema: str, table: str, columns: list[str], geom: str = "geom") -> str:
    """The tile query; parameters ``z``, ``x``, ``y`` and ``layer``. ``columns`` are
    catalogue field names (lower_snake ASCII), quoted as identifiers."""
    cols = "".join(f', t."{c}"' for c in columns)
    return (
        "WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS e3857), "
        "b4 AS (SELECT e3857, ST_Transform(e3857, 4326) AS e4326 FROM b) "
        "SELECT ST_AsMVT(m, %(layer)s, " + str(EXTENT) + ", 'mvtgeom') FROM ("
        f"SELECT ST_AsMVTGeom(ST_Transform(t.\"{geom}\", 3857), b4.e3857, {EXTENT}, {BUFFER}, true) AS mvtgeom"
        f"{cols} FROM \"{schema}\".\"{table}\" t, b4 WHERE t.\"{geom}\" && b4.e4326"
        ") m WHERE m.mvtgeom IS NOT NULL"
    )


class SppMVTProvider(MVTPostgreSQLProvider):
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
        params = {"z": zi, "x": xi, "y": yi, "layer": layer or self.table}
        try:
            with self._engine.connect() as conn:
                raw = conn.exec_driver_sql(self._sql, params).scalar()
        except sa.exc.DBAPIError as exc:
            raise _map_db_error(exc, self.table) from exc
        data = bytes(raw) if raw is not None else b""
        return data or None

    def __repr__(self) -> str:
        return f"<SppMVTProvider> spp.{self.table}"
