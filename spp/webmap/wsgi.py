"""The planner's web map, mounted at ``/map`` on the OGC API server (see
:data:`spp.ogc.wsgi.MOUNTS`).

Routes (relative to ``/map``):

``/``                      the page (MapLibre GL JS, vendored under ``static/vendor``)
``/config.json``           layers, themes, styles and legend from the catalogue (:mod:`.config`)
``/search?q=``             communes by name, with or without diacritics (:mod:`spp.names`)
``/communes/<ma_xa>.json`` outline, bbox and the latest indicators of one commune
``/flood/runs.json``        stored flood runs, newest first
``/flood/compare.geojson?a=&b=`` per-commune differences B − A of two runs on the outlines
``/indicators.csv|json``   the latest ``commune_indicators`` snapshot; ``ETag`` and
                           ``Last-Modified`` answer 304 when unchanged (cheap IOC polling)
``/restricted/<path>``     the restricted OGC API endpoint, proxied with the caller's API key
                           (``X-API-Key``), so the page stays same-origin

The database comes from the ``SPP_PG_*`` variables :mod:`spp.ogc.serve` sets (else SPP's own
settings); the restricted endpoint from ``SPP_OGC_RESTRICTED_URL``, the server's
``server.json`` or the public port + 1.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from spp.catalog import Catalog, load_catalog
from spp.settings import Settings, get_settings
from spp.webmap.config import RUN_FIELDS, build_map_config
from spp.webmap.data import INDICATORS, MapData

__all__ = ["STATIC", "create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_PROXY_TIMEOUT_S = 30


def _db_url(settings: Settings) -> str:
    env = os.environ
    if env.get("SPP_PG_HOST") and env.get("SPP_PG_DB"):
        from psycopg.conninfo import make_conninfo

        return make_conninfo(host=env["SPP_PG_HOST"], port=env.get("SPP_PG_PORT", "5432"),
                             dbname=env["SPP_PG_DB"], user=env.get("SPP_PG_USER", ""),
                             password=env.get("SPP_PG_PASSWORD", ""))
    from spp.store.db import url

    return url(settings)


def _served_layers() -> set[str] | None:
    """Collections of the pygeoapi configuration this process serves (``None``: unknown)."""
    path = os.environ.get("PYGEOAPI_CONFIG")
    if not path or not Path(path).is_file():
        return None
    import yaml

    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return set((cfg or {}).get("resources", {}))
    except (OSError, yaml.YAMLError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None


def restricted_url(settings: Settings) -> str | None:
    """Base URL of the restricted OGC API endpoint, or ``None`` when none is known."""
    env = os.environ.get("SPP_OGC_RESTRICTED_URL")
    if env:
        return env.rstrip("/")
    state = settings.state / "ogc" / "server.json"
    try:
        found = json.loads(state.read_text(encoding="utf-8")).get("restricted_url")
        if found:
            return str(found).rstrip("/")
    except (OSError, ValueError):
        pass
    public = os.environ.get("SPP_OGC_URL")
    if public and os.environ.get("SPP_OGC_ACCESS", "public") == "public":
        parts = urllib.parse.urlsplit(public)
        if parts.port:
            port = int(os.environ.get("SPP_OGC_RESTRICTED_PORT", parts.port + 1))
            return f"{parts.scheme}://{parts.hostname}:{port}"
    return None


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def create_app(settings: Settings | None = None, catalog: Catalog | None = None,
               db_url: str | None = None) -> WsgiApp:
    """The map's WSGI application (Flask). Arguments default to the server's environment."""
    from flask import Flask, Response, abort, jsonify, redirect, request, send_from_directory

    settings = settings or get_settings()
    catalog = catalog or load_catalog(settings.layers_dir)
    data = MapData(db_url or _db_url(settings))
    served = _served_layers()
    ind_spec = catalog.get(INDICATORS) if INDICATORS in catalog else None
    app = Flask(__name__, static_folder=None)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    @app.errorhandler(Exception)
    def _error(exc: Exception) -> Any:
        from werkzeug.exceptions import HTTPException

        from spp.errors import SppError

        if isinstance(exc, HTTPException):
            return jsonify(code=exc.name, description=exc.description), exc.code
        if isinstance(exc, SppError):
            return jsonify(code=exc.ogc_code, description=str(exc)), exc.http_status
        log.exception("web map error on %s", request.path)
        return jsonify(code="InternalError", description="internal error (logged)"), 500

    @app.get("/")
    def index() -> Any:
        if not request.script_root.endswith("/") and request.environ.get("PATH_INFO", "") == "":
            return redirect(request.script_root + "/", code=301)
        resp = send_from_directory(STATIC, "index.html")
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/static/<path:name>")
    def static(name: str) -> Any:
        return send_from_directory(STATIC, name, max_age=3600)

    @app.get("/config.json")
    def config() -> Any:
        tables = data.loaded_tables()
        available = {s.name for s in catalog if s.name in tables and (served is None or s.name in served
                                                                        or s.access == "restricted")}
        latest: dict[str, tuple[str, Any]] = {}
        for spec in catalog:
            if spec.theme != "analysis" or spec.name not in available:
                continue
            if spec.name == INDICATORS:
                ver = data.indicator_version()
                if ver is not None and ver.latest is not None:
                    from spp.indicators import snapshot_id

                    latest[spec.name] = ("snapshot_id", snapshot_id("", ver.latest).lstrip("@"))
                continue
            for run_field in RUN_FIELDS:
                if any(f.name == run_field and f.access == "public" for f in spec.fields):
                    value = data.latest_value(spec.name, run_field)
                    if value is not None:
                        latest[spec.name] = (run_field, value if isinstance(value, (int, float)) else str(value))
                    break
        root = request.script_root[: -len("/map")] if request.script_root.endswith("/map") else ""
        body = build_map_config(catalog, available=available, ogc_root=root, latest_runs=latest,
                                indicators=INDICATORS in available)
        body["restricted"] = restricted_url(settings) is not None
        resp = jsonify(body)
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/search")
    def search() -> Any:
        query = request.args.get("q", "")[:100]
        return jsonify(query=query, results=data.search(query))

    @app.get("/flood/runs.json")
    def flood_runs() -> Any:
        resp = jsonify(runs=data.flood_runs())
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/flood/compare.geojson")
    def flood_compare() -> Any:
        run_a, run_b = request.args.get("a", "")[:120], request.args.get("b", "")[:120]
        if not run_a or not run_b:
            abort(400, description="give two flood runs: ?a=RUN_ID&b=RUN_ID (see flood/runs.json)")
        body = data.flood_comparison(catalog, run_a, run_b)
        return Response(json.dumps(body, ensure_ascii=False, default=_json_default),
                        mimetype="application/geo+json")

    @app.get("/communes/labels.geojson")
    def commune_labels() -> Any:
        resp = Response(json.dumps(data.commune_labels(), ensure_ascii=False), mimetype="application/geo+json")
        resp.headers["Cache-Control"] = "max-age=60"
        return resp

    @app.get("/communes/<ma_xa>.json")
    def commune(ma_xa: str) -> Any:
        found = data.commune(ma_xa[:20])
        if found is None:
            abort(404, description=f"no commune with code {ma_xa!r}")
        return Response(json.dumps(found, ensure_ascii=False, default=_json_default),
                        mimetype="application/json")

    def _indicators(fmt: str) -> Any:
        if ind_spec is None:
            abort(404, description="the catalogue has no commune_indicators layer")
        ver = data.indicator_version()
        if ver is None:
            abort(404, description="no indicator snapshot yet; run 'spp indicators run'")
        excel = request.args.get("excel") in ("1", "true")
        etag = hashlib.sha256(f"{ver.version}:{ver.content_sha256}:{fmt}:{excel}".encode()).hexdigest()[:32]
        last_modified = ver.loaded_at.astimezone(UTC).replace(microsecond=0)
        headers = {"ETag": f'"{etag}"', "Last-Modified": format_datetime(last_modified, usegmt=True),
                   "Cache-Control": "no-cache"}
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if inm is not None:
            if etag in {t.strip().removeprefix("W/").strip('"') for t in inm.split(",")} or inm.strip() == "*":
                return Response(status=304, headers=headers)
        elif ims:
            try:
                if last_modified <= parsedate_to_datetime(ims):
                    return Response(status=304, headers=headers)
            except (TypeError, ValueError):
                pass
        fields = [f.name for f in ind_spec.public_fields]
        rows = data.latest_indicators(fields)
        if fmt == "json":
            body = json.dumps({"computed_at": ver.latest, "version": ver.version, "rows": rows},
                              ensure_ascii=False, default=_json_default)
            return Response(body, mimetype="application/json", headers=headers)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(fields)
        for row in rows:
            writer.writerow(["" if row[f] is None else _json_default(row[f]) if isinstance(row[f], (datetime, date))
                             else row[f] for f in fields])
        text = ("\ufeff" if excel else "") + buf.getvalue()  # a BOM lets Excel read UTF-8
        stamp = ver.latest.strftime("%Y%m%dT%H%M%SZ") if ver.latest else "latest"
        headers["Content-Disposition"] = f'attachment; filename="commune_indicators_{stamp}.csv"'
        return Response(text.encode("utf-8"), mimetype="text/csv", headers=headers,
                        content_type="text/csv; charset=utf-8")

    @app.get("/indicators.csv")
    def indicators_csv() -> Any:
        return _indicators("csv")

    @app.get("/indicators.json")
    def indicators_json() -> Any:
        return _indicators("json")

    @app.get("/restricted/", defaults={"rest": ""})
    @app.get("/restricted/<path:rest>")
    def restricted(rest: str) -> Any:
        base = restricted_url(settings)
        if base is None:
            abort(503, description="no restricted endpoint is running (configure SPP_API_KEYS)")
        key = request.headers.get("X-API-Key", "")
        if not key:
            abort(401, description="an API key is required (X-API-Key)")
        target = f"{base}/{rest}"
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
        headers = {"X-API-Key": key, "Accept": request.headers.get("Accept", "*/*")}
        req = urllib.request.Request(target, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=_PROXY_TIMEOUT_S) as upstream:
                status, body, ctype = upstream.status, upstream.read(), upstream.headers.get("Content-Type")
        except urllib.error.HTTPError as exc:
            status, body, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
        except (urllib.error.URLError, OSError) as exc:
            log.warning("restricted endpoint %s unreachable: %s", base, exc)
            abort(502, description="the restricted endpoint does not answer")
        resp = Response(body, status=status, content_type=ctype or "application/octet-stream")
        resp.headers["Cache-Control"] = "private, no-store"
        return resp

    return app
