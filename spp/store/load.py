"""Atomic, versioned loads of a file into a layer, history and rollback.

A load validates everything (:mod:`spp.validate`, or for a file that needs no change the
quick checks of :mod:`spp.store.columnar`, run while the rows stream in), stages the rows
in ``spp_stage``, indexes them, and swaps the new table in for the live one in ONE short
transaction; the old live table moves to the history schema. A failed, rejected or killed
load leaves the live layer exactly as it was: nothing reaches ``spp`` before that commit,
and a staged table left by a killed load is dropped by the next load of the layer.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from spp.catalog import LayerSpec
from spp.city import CITY_BBOX_4326
from spp.errors import DatabaseError, LoadValidationError, ValidationProblem, VersionNotFoundError
from spp.fingerprint import file_sha256
from spp.store import pgbinary
from spp.store import schema as S

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LoadReport",
    "VersionInfo",
    "layer_history",
    "live_version",
    "load_frame",
    "load_layer",
    "rollback_layer",
    "spec_sha256",
]

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
_CHUNK = 100_000


@dataclass
class LoadReport:
    """What a load did. ``outcome`` is ``loaded`` or ``unchanged``; ``validation`` is
    ``quick`` when the file needed no change and took the quick path
    (:mod:`spp.store.columnar`), ``full`` when :mod:`spp.validate` checked and prepared it."""

    layer: str
    outcome: str
    version: int
    rows: int
    source: str
    sha256: str
    crs_in: str | None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    validation: str = "full"


@dataclass(frozen=True)
class VersionInfo:
    """One stored version of a layer (from ``spp_meta.versions``)."""

    layer: str
    version: int
    loaded_at: datetime
    valid_from: datetime
    valid_to: datetime | None
    source: str
    source_sha256: str
    row_count: int
    crs_in: str | None
    warnings: list[str]
    loaded_by: str
    note: str | None

    @property
    def live(self) -> bool:
        return self.valid_to is None


def spec_sha256(spec: LayerSpec) -> str:
    """Hash of the fields and geometry type: a changed schema forces a reload."""
    payload = json.dumps(
        {"geometry": spec.geometry, "pk": spec.primary_key,
         "fields": [f.model_dump(mode="json") for f in spec.fields]},
        sort_keys=True, ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{os.uname().nodename} (spp load)"


def live_version(conn: psycopg.Connection, layer: str) -> VersionInfo | None:
    """The live version of ``layer``, or ``None`` when it was never loaded."""
    rows = _versions(conn, layer, live_only=True)
    return rows[0] if rows else None


def _versions(conn: psycopg.Connection, layer: str, *, live_only: bool = False) -> list[VersionInfo]:
    S.ensure_meta(conn)
    q = (
        "SELECT layer, version, loaded_at, valid_from, valid_to, source, source_sha256, row_count, "
        "crs_in, warnings, loaded_by, note FROM spp_meta.versions WHERE layer = %s"
        + (" AND valid_to IS NULL" if live_only else "")
        + " ORDER BY version"
    )
    return [VersionInfo(*row) for row in conn.execute(q, (layer,)).fetchall()]


def layer_history(conn: psycopg.Connection, layer: str) -> list[VersionInfo]:
    """Every version of ``layer``, oldest first."""
    return _versions(conn, layer)


def _log(conn_url: str, layer: str, source: str, sha: str | None, outcome: str,
         version: int | None, message: str, problems: list[dict[str, object]] | None = None) -> None:
    """Write the load log in its own transaction, so rejected/failed loads are recorded too."""
    try:
        with psycopg.connect(conn_url, autocommit=True) as c:
            S.ensure_meta(c)
            c.execute(
                "INSERT INTO spp_meta.load_log (layer, source, sha256, outcome, version, message, problems) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (layer, source, sha, outcome, version, message[:10_000],
                 json.dumps(problems, ensure_ascii=False) if problems is not None else None),
            )
    except psycopg.Error:
        log.warning("could not write the load log for %s", layer, exc_info=True)


def _columns(frame: pd.DataFrame, spec: LayerSpec, start: int, stop: int) -> list[object]:
    """Rows ``start:stop`` of a validated frame as binary COPY fields (geometry as EWKB)."""
    part = frame.iloc[start:stop]
    cols = [pgbinary.field_bytes(part[f.name].to_numpy(dtype=object), S.PG_TYPES[f.type]) for f in spec.fields]
    if spec.has_geometry:
        geoms = np.asarray(part["geometry"].to_numpy(), dtype=object)
        ewkb = pgbinary.geometry_ewkb(geoms, srid=4326, multi=S.geometry_type(spec).startswith("Multi"))
        cols.append(pgbinary.field_bytes(ewkb, "bytes"))
    return cols


def _frame_chunks(frame: pd.DataFrame, spec: LayerSpec) -> Iterator[tuple[pa.Buffer, int]]:
    for start in range(0, len(frame), _CHUNK):
        part = _columns(frame, spec, start, start + _CHUNK)
        yield pgbinary.encode_rows(part), min(_CHUNK, len(frame) - start)  # type: ignore[arg-type]


def _copy(conn: psycopg.Connection, chunks: Iterable[tuple[pa.Buffer, int]], spec: LayerSpec, *, schema: str,
          table: str, rows: int, progress: Progress | None) -> str:
    """Binary COPY of the encoded ``chunks``; return the SHA-256 of exactly what was sent (the
    content hash that recognises an unchanged load). A writer thread sends chunk k while
    this one lays out chunk k+1, and the server parses as it receives, so both cores work."""
    names = [f.name for f in spec.fields] + (["geom"] if spec.has_geometry else [])
    stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN WITH (FORMAT binary)").format(
        sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in names)
    )
    h = hashlib.sha256(",".join(names).encode())
    done = 0
    with conn.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
        copy.write(pgbinary.HEADER)
        for data, n in chunks:
            h.update(data)
            copy.write(data)
            done += n
            if progress:
                progress(done, rows)
        copy.write(pgbinary.TRAILER)
    return h.hexdigest()


def load_frame(
    conn_url: str,
    spec: LayerSpec,
    frame: pd.DataFrame,
    *,
    source: str,
    sha256: str,
    crs_in: str | None,
    warnings: list[str] | None = None,
    note: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Store an already validated frame (EPSG:4326) as the next version of ``spec``, atomically.

    Used by :func:`load_layer` and by analyses that publish their results as layers. When
    the rows equal the live version's (same content hash and spec), nothing is written and
    the outcome is ``unchanged`` unless ``force``.
    """
    report = _store(conn_url, spec, _frame_chunks(frame, spec), rows=len(frame), source=source, sha256=sha256,
                    crs_in=crs_in, warnings=warnings, note=note, force=force, progress=progress)
    assert report is not None  # no acceptance check: always stored or unchanged
    return report


def _store(
    conn_url: str,
    spec: LayerSpec,
    chunks: Iterable[tuple[pa.Buffer, int]],
    *,
    rows: int,
    source: str,
    sha256: str,
    crs_in: str | None,
    warnings: list[str] | None,
    note: str | None,
    force: bool,
    progress: Progress | None,
    check: Callable[[], Future[bool]] | None = None,
) -> LoadReport | None:
    """Stage ``chunks`` (binary COPY bodies of ``rows`` rows) as the next version, index it and
    swap it in for the live table.

    The rows are staged in ``spp_stage`` and committed there (no reader looks at that
    schema), so that the key index and the GiST index can be built at the same time on two
    connections; the swap is one short transaction. Until it commits the live layer is
    untouched: a failure drops the staged table, and a staged table left by a killed load is
    dropped by the next load of the layer (the layer's advisory lock is held throughout).
    ``check``, when given, is started with the COPY (so that it runs while the server parses
    and indexes the rows) and its answer awaited before the swap; ``False`` drops the staged
    rows and returns ``None``, as does a row the server refuses on a checked load."""
    t0 = time.perf_counter()
    unchanged: VersionInfo | None = None
    staged: str | None = None
    version = 0
    try:
        with psycopg.connect(conn_url, application_name="spp load", autocommit=True) as conn:
            S.ensure_meta(conn)
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"spp.load.{spec.name}",))
            conn.execute("SET maintenance_work_mem = '256MB'")
            try:
                for orphan in S.stage_tables(conn, spec.name):  # left by a killed load
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(S.STAGE_SCHEMA, orphan)))
                with conn.transaction() as tx:
                    prev = live_version(conn, spec.name)
                    last = conn.execute("SELECT coalesce(max(version), 0) FROM spp_meta.versions WHERE layer = %s",
                                        (spec.name,)).fetchone()
                    version = int(last[0]) + 1 if last else 1
                    stage = S.version_table(spec.name, version)
                    S.create_version_table(conn, spec, schema=S.STAGE_SCHEMA, table=stage, version=version)
                    verdict = check() if check is not None else None
                    content = _copy(conn, chunks, spec, schema=S.STAGE_SCHEMA, table=stage, rows=rows,
                                    progress=progress)
                    if prev is not None and not force:
                        same = conn.execute(
                            "SELECT content_sha256 = %s AND spec_sha256 = %s FROM spp_meta.versions "
                            "WHERE layer = %s AND version = %s",
                            (content, spec_sha256(spec), spec.name, prev.version)).fetchone()
                        if same and same[0]:
                            unchanged = prev
                            raise psycopg.Rollback(tx)
                    staged = stage
                if unchanged is None:
                    assert staged is not None
                    _build_indexes(conn, conn_url, spec, table=staged, version=version)
                    if verdict is not None and not verdict.result():
                        return None  # the staged table is dropped below
                    with conn.transaction():
                        S.attach_primary_key(conn, spec, schema=S.STAGE_SCHEMA, table=staged, version=version)
                        _swap_in(conn, spec, stage=staged, prev=prev)
                        conn.execute(
                            "INSERT INTO spp_meta.versions (layer, version, valid_from, source, source_sha256, "
                            "spec_sha256, content_sha256, row_count, crs_in, warnings, loaded_by, note) "
                            "VALUES (%s, %s, now(), %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                            (spec.name, version, source, sha256, spec_sha256(spec), content, rows, crs_in,
                             json.dumps(warnings or [], ensure_ascii=False), _who(), note),
                        )
                        if prev is not None:
                            conn.execute("UPDATE spp_meta.versions SET valid_to = now() "
                                         "WHERE layer = %s AND version = %s", (spec.name, prev.version))
                        S.rebuild_history_view(conn, spec)
                    staged = None
            finally:
                if staged is not None and not conn.broken:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(S.STAGE_SCHEMA, staged)))
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"spp.load.{spec.name}",))
    except psycopg.Error as exc:
        if check is not None and not isinstance(exc, psycopg.OperationalError):
            # the server refused a row of a checked (quick-path) load — a duplicate key, a
            # geometry of the wrong type…: nothing was kept, and the full validator will name it
            log.info("the quick path stopped at %s; validating %s fully", exc, source)
            return None
        _log(conn_url, spec.name, source, sha256, "failed", None, str(exc))
        raise DatabaseError(f"loading {source} into '{spec.name}' failed, nothing was changed: {exc}") from exc
    if unchanged is not None:
        _log(conn_url, spec.name, source, sha256, "unchanged", unchanged.version, "same content as the live version")
        return LoadReport(spec.name, "unchanged", unchanged.version, unchanged.row_count, source, sha256,
                          unchanged.crs_in, list(warnings or []), time.perf_counter() - t0)
    _log(conn_url, spec.name, source, sha256, "loaded", version, f"{rows} rows")
    return LoadReport(spec.name, "loaded", version, rows, source, sha256, crs_in,
                      list(warnings or []), time.perf_counter() - t0)


def _build_indexes(conn: psycopg.Connection, conn_url: str, spec: LayerSpec, *, table: str, version: int) -> None:
    """The key's unique index on a second connection while ``conn`` builds the GiST, so the
    server uses both cores (CREATE INDEX takes a SHARE lock; two do not conflict)."""
    key_sql = S.key_index_sql(spec, schema=S.STAGE_SCHEMA, table=table, version=version)
    gist_sql = S.gist_index_sql(spec, schema=S.STAGE_SCHEMA, table=table, version=version)
    if gist_sql is None:
        conn.execute(key_sql)
        return

    def key_index() -> None:
        with psycopg.connect(conn_url, application_name="spp load", autocommit=True) as other:
            other.execute("SET maintenance_work_mem = '256MB'")
            other.execute(key_sql)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spp-key-index") as pool:
        key = pool.submit(key_index)
        try:
            conn.execute(gist_sql)
        finally:
            key.result()


def _swap_in(conn: psycopg.Connection, spec: LayerSpec, *, stage: str, prev: VersionInfo | None) -> None:
    live = sql.Identifier(S.LIVE_SCHEMA, spec.name)
    exists = conn.execute("SELECT to_regclass(%s)", (f'{S.LIVE_SCHEMA}."{spec.name}"',)).fetchone()
    if exists and exists[0] is not None:
        old_version = prev.version if prev is not None else 0
        # the history view depends on the live table: drop it before moving tables around
        conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(S.HISTORY_SCHEMA, S.history_view(spec.name))))
        conn.execute(sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(live, sql.Identifier(S.HISTORY_SCHEMA)))
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            sql.Identifier(S.HISTORY_SCHEMA, spec.name), sql.Identifier(S.version_table(spec.name, old_version))))
    conn.execute(sql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
        sql.Identifier(S.STAGE_SCHEMA, stage), sql.Identifier(S.LIVE_SCHEMA)))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
        sql.Identifier(S.LIVE_SCHEMA, stage), sql.Identifier(spec.name)))


def load_layer(
    conn_url: str,
    spec: LayerSpec,
    path: Path,
    *,
    crs: str | int | None = None,
    note: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Validate ``path`` against ``spec`` and make it the layer's new live version.

    Parameters
    ----------
    conn_url
        libpq URL of the SPP database.
    spec
        The layer's catalogue entry.
    path
        GeoPackage, GeoJSON, zipped Shapefile, FlatGeobuf or CSV (WKT or lon/lat columns).
    crs
        CRS to assume for files that declare none (e.g. ``"EPSG:9210"`` for VN-2000 TM-3).
    force
        Load even when the file is identical to the live version.

    Returns
    -------
    LoadReport
        ``outcome='unchanged'`` when the same file (and spec) is already live.

    Raises
    ------
    InputFileError, LoadValidationError, DatabaseError
        Nothing is written in any of these cases.
    """
    t0 = time.perf_counter()
    path = Path(path)
    if spec.ingest != "load":
        raise LoadValidationError(spec.name, path.name, [ValidationProblem(
            "not_loadable", f"layer '{spec.name}' is written through the API ({spec.ingest}); a bulk load "
            "would replace its rows and their moderation state — add features through the API instead")])
    from spp.store import columnar

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="spp-load") as pool:
        hashing = pool.submit(file_sha256, path) if path.is_file() else None
        quick = columnar.open_clean_candidate(path, spec, crs=crs, layer=spec.name)  # read while hashing
        sha = hashing.result() if hashing else ""
        if sha and not force:
            with psycopg.connect(conn_url) as conn:
                live = live_version(conn, spec.name)
                row = None
                if live is not None:
                    row = conn.execute("SELECT spec_sha256 FROM spp_meta.versions WHERE layer = %s AND version = %s",
                                       (spec.name, live.version)).fetchone()
            if live is not None and live.source_sha256 == sha and row is not None and row[0] == spec_sha256(spec):
                _log(conn_url, spec.name, path.name, sha, "unchanged", live.version, "identical to the live version")
                return LoadReport(spec.name, "unchanged", live.version, live.row_count, path.name, sha,
                                  live.crs_in, [], time.perf_counter() - t0)
        if quick is not None:
            # Quick path: stage the rows straight from Arrow while another thread proves that
            # the validator would store them unchanged; if not, roll back and validate fully.
            report = _store(conn_url, spec, columnar.copy_chunks(quick, spec), rows=quick.rows, source=path.name,
                            sha256=sha, crs_in="EPSG:4326", warnings=[], note=note, force=force,
                            progress=progress,
                            check=lambda: pool.submit(columnar.is_clean, quick, spec, CITY_BBOX_4326))
            if report is not None:
                report.seconds = time.perf_counter() - t0
                report.validation = "quick"
                return report
            log.info("%s needs the full validation (a value to reject, repair or reproject)", path.name)
            del quick
    # the full path needs pandas, geopandas and pyproj; a clean file's load never imports them
    from spp.store.sources import read_source, restore_shapefile_names
    from spp.validate import validate_frame

    src = read_source(path, crs=crs, layer=spec.name, sha256=sha or None)
    restore_shapefile_names(src, [f.name for f in spec.fields])
    crs_in = src.crs.to_string() if src.crs is not None else None
    try:
        result = validate_frame(src.frame, spec, source=path.name, crs=src.crs)
        if src.problems:
            raise LoadValidationError(spec.name, path.name, src.problems)
    except LoadValidationError as exc:
        problems = list(src.problems) + [p for p in exc.problems if p not in src.problems]
        err = LoadValidationError(spec.name, path.name, problems)
        _log(conn_url, spec.name, path.name, sha, "rejected", None, str(err),
             [p.__dict__ for p in problems[:1000]])
        raise err from None
    report = load_frame(conn_url, spec, result.frame, source=path.name, sha256=sha, crs_in=crs_in,
                        warnings=src.warnings + result.warnings, note=note, force=force, progress=progress)
    report.seconds = time.perf_counter() - t0
    return report


def rollback_layer(conn_url: str, spec: LayerSpec, version: int | None = None) -> LoadReport:
    """Make an earlier version live again (as a new version, so history stays linear).

    ``version`` defaults to the one before the live version.
    """
    with psycopg.connect(conn_url) as conn:
        versions = _versions(conn, spec.name)
    live = next((v for v in versions if v.live), None)
    if live is None:
        raise VersionNotFoundError(f"layer '{spec.name}' has never been loaded; nothing to roll back")
    if version is None:
        earlier = [v for v in versions if v.version < live.version]
        if not earlier:
            raise VersionNotFoundError(f"layer '{spec.name}' has only version {live.version}; nothing to roll back to")
        version = earlier[-1].version
    target = next((v for v in versions if v.version == version), None)
    if target is None:
        raise VersionNotFoundError(
            f"layer '{spec.name}' has no version {version}; versions: {[v.version for v in versions]}")
    if target.live:
        raise VersionNotFoundError(f"version {version} of '{spec.name}' is already live")
    t0 = time.perf_counter()
    cols = [f.name for f in spec.fields] + (["geom"] if spec.has_geometry else [])
    try:
        with psycopg.connect(conn_url, application_name="spp rollback") as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"spp.load.{spec.name}",))
                have = {r[0] for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                    (S.HISTORY_SCHEMA, S.version_table(spec.name, version))).fetchall()}
                missing = [c for c in cols if c not in have]
                if missing:
                    raise VersionNotFoundError(
                        f"version {version} of '{spec.name}' lacks column(s) {missing} of the current spec; "
                        "it cannot be restored under this catalogue")
                new = max(v.version for v in versions) + 1
                stage = S.version_table(spec.name, new)
                S.create_version_table(conn, spec, schema=S.STAGE_SCHEMA, table=stage, version=new)
                ident = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
                conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                    sql.Identifier(S.STAGE_SCHEMA, stage), ident, ident,
                    sql.Identifier(S.HISTORY_SCHEMA, S.version_table(spec.name, version))))
                S.index_version_table(conn, spec, schema=S.STAGE_SCHEMA, table=stage, version=new)
                _swap_in(conn, spec, stage=stage, prev=live)
                conn.execute(
                    "INSERT INTO spp_meta.versions (layer, version, valid_from, source, source_sha256, spec_sha256, "
                    "content_sha256, row_count, crs_in, warnings, loaded_by, note) "
                    "SELECT %s, %s, now(), %s, %s, %s, content_sha256, %s, %s, %s, %s, %s "
                    "FROM spp_meta.versions WHERE layer = %s AND version = %s",
                    (spec.name, new, target.source, target.source_sha256, spec_sha256(spec), target.row_count,
                     target.crs_in, json.dumps(target.warnings), _who(), f"rollback to version {version}",
                     spec.name, version),
                )
                conn.execute("UPDATE spp_meta.versions SET valid_to = now() "
                             "WHERE layer = %s AND version = %s", (spec.name, live.version))
                S.rebuild_history_view(conn, spec)
    except psycopg.Error as exc:
        raise DatabaseError(f"rollback of '{spec.name}' failed, nothing was changed: {exc}") from exc
    _log(conn_url, spec.name, target.source, target.source_sha256, "rollback", new, f"restored version {version}")
    return LoadReport(spec.name, "loaded", new, target.row_count, target.source, target.source_sha256,
                      target.crs_in, [f"restored version {version}"], time.perf_counter() - t0)
