"""DDL derived from the catalogue: schemas, metadata tables, one table per layer version.

Layout in the database:

* ``spp.<layer>`` — the live version of each layer (what the OGC API serves);
* ``spp_hist.<layer>__v<N>`` — every superseded version, kept queryable;
* ``spp_hist.<layer>__history`` — a view over all versions with ``spp_version``,
  ``valid_from`` and ``valid_to``;
* ``spp_meta.versions`` / ``spp_meta.load_log`` — who loaded what, when, from which file.

Geometries are ``geometry(<type>, 4326)`` with a GiST index; identifiers are always quoted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from psycopg import sql

from spp.catalog import FieldSpec, LayerSpec

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "HISTORY_SCHEMA",
    "LIVE_SCHEMA",
    "META_SCHEMA",
    "PG_TYPES",
    "STAGE_SCHEMA",
    "attach_primary_key",
    "create_version_table",
    "ensure_meta",
    "gist_index_sql",
    "history_view",
    "key_index_sql",
    "rebuild_history_view",
    "stage_tables",
    "version_table",
]

LIVE_SCHEMA = "spp"
HISTORY_SCHEMA = "spp_hist"
STAGE_SCHEMA = "spp_stage"
META_SCHEMA = "spp_meta"

PG_TYPES = {
    "text": "text",
    "integer": "bigint",
    "real": "double precision",
    "boolean": "boolean",
    "date": "date",
    "datetime": "timestamptz",
}

META_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {LIVE_SCHEMA};
CREATE SCHEMA IF NOT EXISTS {HISTORY_SCHEMA};
CREATE SCHEMA IF NOT EXISTS {STAGE_SCHEMA};
CREATE SCHEMA IF NOT EXISTS {META_SCHEMA};
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.versions (
    layer          text        NOT NULL,
    version        integer     NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    valid_from     timestamptz NOT NULL,
    valid_to       timestamptz,
    source         text        NOT NULL,
    source_sha256  text        NOT NULL,
    spec_sha256    text        NOT NULL,
    content_sha256 text,
    row_count      bigint      NOT NULL,
    crs_in         text,
    warnings       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    loaded_by      text        NOT NULL,
    note           text,
    PRIMARY KEY (layer, version)
);
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.load_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    layer     text NOT NULL,
    source    text NOT NULL,
    sha256    text,
    outcome   text NOT NULL CHECK (outcome IN ('loaded', 'unchanged', 'rejected', 'failed', 'rollback')),
    version   integer,
    message   text,
    problems  jsonb
);
"""


def ensure_meta(conn: psycopg.Connection) -> None:
    """Create SPP's schemas and metadata tables if missing (idempotent)."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('spp.ensure_meta'))")
        cur.execute(META_DDL)


def version_table(layer: str, version: int) -> str:
    """Table name of a stored (staged or superseded) version: ``<layer>__v<N>``."""
    return f"{layer}__v{version}"


def history_view(layer: str) -> str:
    """Name of the view that unions every version of ``layer``."""
    return f"{layer}__history"


def _column(field: FieldSpec) -> sql.Composable:
    return sql.SQL("{} {}").format(sql.Identifier(field.name), sql.SQL(PG_TYPES[field.type]))


def geometry_type(spec: LayerSpec) -> str:
    """PostGIS typmod for the layer; single types are stored as their Multi type so that a
    file mixing Polygon and MultiPolygon loads without loss."""
    base = spec.geometry.removeprefix("Multi")
    return base if base == "Point" and not spec.is_multi else f"Multi{base}"


def create_version_table(
    conn: psycopg.Connection, spec: LayerSpec, *, schema: str, table: str, version: int
) -> None:
    """Create an empty table for ``spec`` (no indexes; see :func:`index_version_table`).
    The key column is NOT NULL from the start, so that a primary key can later be attached
    to a ready-made unique index without scanning the table (:func:`attach_primary_key`)."""
    cols = [_column(f) if f.name != spec.primary_key else sql.SQL("{} NOT NULL").format(_column(f))
            for f in spec.fields]
    if spec.has_geometry:
        cols.append(sql.SQL("geom geometry({}, 4326)").format(sql.SQL(geometry_type(spec))))
    stmt = sql.SQL("CREATE TABLE {}.{} ({})").format(
        sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(cols)
    )
    conn.execute(stmt)


def index_version_table(
    conn: psycopg.Connection, spec: LayerSpec, *, schema: str, table: str, version: int
) -> None:
    """Add the primary key and the GiST index, with version-specific names so that the
    table can later move to the history schema beside its predecessors.

    Column statistics are left to autovacuum (see below)."""
    stem = version_table(spec.name, version)
    conn.execute(
        sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            sql.Identifier(schema), sql.Identifier(table),
            sql.Identifier(f"{stem}_pkey"), sql.Identifier(spec.primary_key),
        )
    )
    if spec.has_geometry:
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {}.{} USING gist (geom)").format(
                sql.Identifier(f"{stem}_geom_gist"), sql.Identifier(schema), sql.Identifier(table)
            )
        )
    # No ANALYZE here (it took ~0.16 s of a 200 k-polygon load, inside the swap transaction):
    # CREATE INDEX already sets pg_class.reltuples/relpages, so the planner knows the table's
    # size at once, and autovacuum gathers column statistics within a minute — as after ogr2ogr.


def key_index_sql(spec: LayerSpec, *, schema: str, table: str, version: int) -> sql.Composed:
    """``CREATE UNIQUE INDEX`` on the key, named as the primary key it becomes
    (:func:`attach_primary_key`); it can be built on its own connection beside the GiST."""
    stem = version_table(spec.name, version)
    return sql.SQL("CREATE UNIQUE INDEX {} ON {}.{} ({})").format(
        sql.Identifier(f"{stem}_pkey"), sql.Identifier(schema), sql.Identifier(table),
        sql.Identifier(spec.primary_key))


def gist_index_sql(spec: LayerSpec, *, schema: str, table: str, version: int) -> sql.Composed | None:
    """``CREATE INDEX … USING gist (geom)``, or ``None`` for a layer without geometry."""
    if not spec.has_geometry:
        return None
    return sql.SQL("CREATE INDEX {} ON {}.{} USING gist (geom)").format(
        sql.Identifier(f"{version_table(spec.name, version)}_geom_gist"), sql.Identifier(schema),
        sql.Identifier(table))


def attach_primary_key(conn: psycopg.Connection, spec: LayerSpec, *, schema: str, table: str,
                       version: int) -> None:
    """Turn the unique key index of :func:`key_index_sql` into the primary key (no scan)."""
    name = sql.Identifier(f"{version_table(spec.name, version)}_pkey")
    conn.execute(sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}").format(
        sql.Identifier(schema), sql.Identifier(table), name, name))


def stage_tables(conn: psycopg.Connection, layer: str) -> list[str]:
    """Tables of ``layer`` in the staging schema (``<layer>__v<N>``)."""
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename ~ %s",
                        (STAGE_SCHEMA, "^" + re.escape(layer) + r"__v[0-9]+$")).fetchall()
    return [str(r[0]) for r in rows]


def _columns_of(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table),
    ).fetchall()
    return [r[0] for r in rows]


def rebuild_history_view(conn: psycopg.Connection, spec: LayerSpec) -> None:
    """(Re)create ``spp_hist.<layer>__history``: every version's rows with ``spp_version``,
    ``valid_from`` and ``valid_to``; columns of older versions missing from the current spec
    come out as NULL."""
    versions = conn.execute(
        f"SELECT version, valid_to IS NULL FROM {META_SCHEMA}.versions WHERE layer = %s ORDER BY version",
        (spec.name,),
    ).fetchall()
    wanted = [f.name for f in spec.fields] + (["geom"] if spec.has_geometry else [])
    types = {f.name: PG_TYPES[f.type] for f in spec.fields}
    types["geom"] = "geometry"
    selects = []
    for version, live in versions:
        schema, table = (
            (LIVE_SCHEMA, spec.name) if live else (HISTORY_SCHEMA, version_table(spec.name, version))
        )
        have = set(_columns_of(conn, schema, table))
        if not have:
            continue
        cols = [
            sql.Identifier(c) if c in have else sql.SQL("NULL::{} AS {}").format(sql.SQL(types[c]), sql.Identifier(c))
            for c in wanted
        ]
        selects.append(
            sql.SQL(
                "SELECT {v} AS spp_version, m.valid_from, m.valid_to, {cols} FROM {s}.{t} "
                "CROSS JOIN (SELECT valid_from, valid_to FROM {meta}.versions "
                "WHERE layer = {layer} AND version = {v}) m"
            ).format(
                v=sql.Literal(version), cols=sql.SQL(", ").join(cols), s=sql.Identifier(schema),
                t=sql.Identifier(table), meta=sql.Identifier(META_SCHEMA), layer=sql.Literal(spec.name),
            )
        )
    view = sql.Identifier(HISTORY_SCHEMA, history_view(spec.name))
    conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(view))
    if selects:
        conn.execute(sql.SQL("CREATE VIEW {} AS {}").format(view, sql.SQL(" UNION ALL ").join(selects)))
