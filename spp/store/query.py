"""Read live layers (or one stored version) back into GeoDataFrames."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from spp.catalog import LayerSpec
from spp.errors import DatabaseError, LayerNotFoundError
from spp.store import schema as S

__all__ = ["read_layer"]


def read_layer(
    conn_url: str,
    spec: LayerSpec,
    *,
    columns: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    where: sql.Composable | None = None,
    version: int | None = None,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """The live version of a layer (or ``version``) as a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    conn_url
        libpq URL of the SPP database.
    spec
        The layer's catalogue entry.
    columns
        Fields to read (default: all); the geometry always comes along.
    bbox
        (minx, miny, maxx, maxy) in EPSG:4326; only features intersecting it.
    where
        An extra SQL condition composed with :mod:`psycopg.sql` (never a raw string).
    version
        A stored version number instead of the live one.

    Raises
    ------
    LayerNotFoundError
        When the layer (or version) has never been loaded.
    """
    names = list(columns) if columns is not None else [f.name for f in spec.fields]
    unknown = [c for c in names if c not in {f.name for f in spec.fields}]
    if unknown:
        raise LayerNotFoundError(f"layer '{spec.name}' has no field(s) {unknown}")
    if version is None:
        table = sql.Identifier(S.LIVE_SCHEMA, spec.name)
        regclass = f'{S.LIVE_SCHEMA}."{spec.name}"'
    else:
        table = sql.Identifier(S.HISTORY_SCHEMA, S.version_table(spec.name, version))
        regclass = f'{S.HISTORY_SCHEMA}."{S.version_table(spec.name, version)}"'
    select = [sql.Identifier(c) for c in names]
    if spec.has_geometry:
        select.append(sql.SQL("ST_AsBinary(geom) AS geom"))
    conds: list[sql.Composable] = []
    params: list[object] = []
    if bbox is not None and spec.has_geometry:
        conds.append(sql.SQL("geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"))
        params.extend(float(v) for v in bbox)
    if where is not None:
        conds.append(where)
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(select), table)
    if conds:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)
    query += sql.SQL(" ORDER BY {}").format(sql.Identifier(spec.primary_key))
    try:
        with psycopg.connect(conn_url) as conn:
            found = conn.execute("SELECT to_regclass(%s)", (regclass,)).fetchone()
            if not found or found[0] is None:
                what = f"version {version} of " if version is not None else ""
                raise LayerNotFoundError(f"{what}layer '{spec.name}' is not loaded; run 'spp load {spec.name} FILE'"
                                         + (" or 'spp load --all'" if spec.sample else ""))
            with conn.cursor() as cur:
                cur.execute(query, params)
                rows = cur.fetchall()
                cols = [d.name for d in cur.description or []]
    except psycopg.Error as exc:
        raise DatabaseError(f"reading layer '{spec.name}' failed: {exc}") from exc
    frame = pd.DataFrame(rows, columns=cols)
    if not spec.has_geometry:
        return frame
    geoms = shapely.from_wkb(frame.pop("geom").to_numpy(dtype=object)) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
