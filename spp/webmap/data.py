"""Database reads behind the web map: what is loaded, latest runs, commune search and cards,
the latest indicator snapshot and its version (for ETag / Last-Modified).

Every query is small (≈ 100 communes, one snapshot); results that change only with a load
are cached per process for :data:`CACHE_S` seconds.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from spp.names import name_key, normalize_nfc

__all__ = ["CACHE_S", "IndicatorVersion", "MapData"]

log = logging.getLogger(__name__)

CACHE_S = 30.0
INDICATORS = "commune_indicators"
T = TypeVar("T")


@dataclass(frozen=True)
class IndicatorVersion:
    """The live version of ``commune_indicators`` (what a client's ETag refers to)."""

    version: int
    loaded_at: datetime
    content_sha256: str
    latest: datetime | None


class MapData:
    """Read-only queries of the map against one database URL."""

    def __init__(self, db_url: str):
        self.db_url = db_url
        self._cache: dict[str, tuple[float, Any]] = {}

    def _cached(self, key: str, compute: Callable[[], T]) -> T:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < CACHE_S:
            return hit[1]  # type: ignore[no-any-return]
        value = compute()
        self._cache[key] = (now, value)
        return value

    def _rows(self, query: sql.Composable | str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url, application_name="spp webmap", connect_timeout=5) as conn:
            return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]

    def loaded_tables(self) -> set[str]:
        """Names of the live layer tables."""
        return self._cached("tables", lambda: {r[0] for r in self._rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'spp'")})

    def latest_value(self, table: str, column: str) -> Any:
        """``max(column)`` of a live layer (its latest run), ``None`` when empty."""
        def compute() -> Any:
            rows = self._rows(sql.SQL("SELECT max({}) FROM {}").format(
                sql.Identifier(column), sql.Identifier("spp", table)))
            return rows[0][0] if rows else None
        return self._cached(f"max:{table}.{column}", compute)

    # --- communes -------------------------------------------------------------------------
    def communes(self) -> list[dict[str, Any]]:
        """Every commune: code, names, population, bbox (EPSG:4326) and search key."""
        def compute() -> list[dict[str, Any]]:
            rows = self._rows(
                "SELECT ma_xa, ten, ten_en, loai, dan_so, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT *, ST_Envelope(geom) AS e FROM spp.communes) c ORDER BY ten")
            return [{"ma_xa": r[0], "ten": r[1], "ten_en": r[2], "loai": r[3], "dan_so": r[4],
                     "bbox": [r[5], r[6], r[7], r[8]], "key": name_key(r[1] or "")} for r in rows]
        return self._cached("communes", compute)

    def search(self, query: str, *, limit: int = 10) -> list[dict[str, Any]]:
        """Communes whose name matches ``query`` with or without diacritics or type prefix
        (:func:`spp.names.name_key`): exact key matches first, then prefix, then substring."""
        text = normalize_nfc(query)
        if not text:
            return []
        key = name_key(text)
        plain = text.casefold()
        ranked: list[tuple[int, str, dict[str, Any]]] = []
        for c in self.communes():
            full = normalize_nfc(c["ten"] or "").casefold()
            if full == plain or c["ma_xa"] == text:
                rank = 0
            elif c["key"] == key:
                rank = 1
            elif c["key"].startswith(key):
                rank = 2
            elif key and key in c["key"]:
                rank = 3
            else:
                continue
            ranked.append((rank, c["ten"] or "", c))
        ranked.sort(key=lambda t: (t[0], t[1]))
        return [{k: v for k, v in c.items() if k != "key"} for _, _, c in ranked[:limit]]

    def commune_labels(self) -> dict[str, Any]:
        """One label point per commune (GeoJSON, EPSG:4326): the centre of the polygon's largest
        inscribed circle, so a label sits inside even a crescent-shaped ward, once per commune
        rather than once per vector tile the polygon crosses."""
        def compute() -> dict[str, Any]:
            rows = self._rows(
                "SELECT ma_xa, ten, ten_en, ST_AsGeoJSON((ST_MaximumInscribedCircle(geom)).center, 6) "
                "FROM spp.communes ORDER BY ma_xa")
            return {"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": json.loads(r[3]),
                 "properties": {"ma_xa": r[0], "ten": r[1], "ten_en": r[2]}} for r in rows]}
        return self._cached("commune_labels", compute)

    def commune(self, ma_xa: str) -> dict[str, Any] | None:
        """One commune with its outline (GeoJSON, simplified to ~5 m) and its indicator card."""
        rows = self._rows(
            "SELECT ma_xa, ten, ten_en, loai, dan_so, dien_tich_km2, "
            "ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.00005), 6), "
            "ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM spp.communes WHERE ma_xa = %s",
            (ma_xa,))
        if not rows:
            return None
        r = rows[0]
        return {"ma_xa": r[0], "ten": r[1], "ten_en": r[2], "loai": r[3], "dan_so": r[4],
                "dien_tich_km2": r[5], "geometry": json.loads(r[6]), "bbox": [r[7], r[8], r[9], r[10]],
                "indicators": self.indicator_row(ma_xa)}

    # --- flood runs -----------------------------------------------------------------------
    def flood_runs(self) -> list[dict[str, Any]]:
        """Stored flood runs, newest first: id, scenario, title, kind, start, km², people."""
        if not self._rows("SELECT to_regclass('spp.flood_runs') IS NOT NULL")[0][0]:
            return []
        rows = self._rows(
            "SELECT run_id, scenario, title, kind, started_at, resolution_m, flooded_km2, people_exposed "
            "FROM spp.flood_runs ORDER BY started_at DESC, run_id DESC")
        return [{"run_id": r[0], "scenario": r[1], "title": r[2], "kind": r[3],
                 "started_at": r[4].isoformat() if r[4] else None, "resolution_m": r[5],
                 "flooded_km2": r[6], "people_exposed": r[7]} for r in rows]

    def flood_comparison(self, catalog: Any, run_a: str, run_b: str) -> dict[str, Any]:
        """Per-commune differences B − A of two runs (:func:`spp.flood.publish.compare_exposure`)
        as GeoJSON on the commune outlines (simplified to ~5 m, EPSG:4326).

        Raises
        ------
        LayerNotFoundError
            An unknown run id (the message lists the stored runs).
        """
        from spp.flood.publish import compare_exposure, read_run_exposure

        diff = compare_exposure(read_run_exposure(self.db_url, catalog, run_a),
                                read_run_exposure(self.db_url, catalog, run_b))
        outlines = dict(self._cached("outlines", lambda: [
            (r[0], json.loads(r[1])) for r in self._rows(
                "SELECT ma_xa, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.00005), 6) FROM spp.communes")]))
        features = []
        for row in diff.to_dict(orient="records"):
            geom = outlines.get(row["ma_xa"])
            if geom is None:
                continue
            props = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
            features.append({"type": "Feature", "geometry": geom, "properties": props})
        return {"type": "FeatureCollection", "run_a": run_a, "run_b": run_b, "features": features}

    # --- indicators -----------------------------------------------------------------------
    def indicator_version(self) -> IndicatorVersion | None:
        """The live version of the indicators layer (one cheap query), ``None`` before any run."""
        if INDICATORS not in self.loaded_tables():
            self._cache.pop("tables", None)  # a first snapshot may just have been written
            if INDICATORS not in self.loaded_tables():
                return None
        rows = self._rows(
            "SELECT v.version, v.valid_from, v.content_sha256, (SELECT max(computed_at) FROM spp.commune_indicators) "
            "FROM spp_meta.versions v WHERE v.layer = %s AND v.valid_to IS NULL "
            "ORDER BY v.version DESC LIMIT 1", (INDICATORS,))
        if not rows:
            return None
        r = rows[0]
        return IndicatorVersion(int(r[0]), r[1], str(r[2] or ""), r[3])

    def latest_indicators(self, fields: list[str]) -> list[dict[str, Any]]:
        """Rows of the latest snapshot (``fields`` only, no geometry), by commune name."""
        query = sql.SQL(
            "SELECT {} FROM spp.commune_indicators WHERE computed_at = "
            "(SELECT max(computed_at) FROM spp.commune_indicators) ORDER BY ten, ma_xa"
        ).format(sql.SQL(", ").join(sql.Identifier(f) for f in fields))
        with psycopg.connect(self.db_url, application_name="spp webmap", connect_timeout=5) as conn:
            cur = conn.execute(query)
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def indicator_row(self, ma_xa: str) -> dict[str, Any] | None:
        """The latest indicator row of one commune, ``None`` before any snapshot."""
        if self.indicator_version() is None:
            return None
        with psycopg.connect(self.db_url, application_name="spp webmap", connect_timeout=5) as conn:
            cur = conn.execute(
                "SELECT * FROM spp.commune_indicators WHERE ma_xa = %s ORDER BY computed_at DESC LIMIT 1",
                (ma_xa,))
            row = cur.fetchone()
            names = [d.name for d in cur.description or []]
        if row is None:
            return None
        out = {k: v for k, v in zip(names, row) if k not in ("geom", "spp_row")}
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
        return out
