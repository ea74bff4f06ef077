"""The WSGI applications gunicorn runs: ``spp.ogc.wsgi:create_app()``.

One process serves one pygeoapi configuration (pygeoapi keeps its configuration in
module globals), chosen by the environment that :mod:`spp.ogc.serve` sets:

``PYGEOAPI_CONFIG``
    the generated configuration (public: ``ogc_config.yml``; restricted: in the state folder);
``PYGEOAPI_OPENAPI``
    where to write the OpenAPI document, generated here from that configuration;
``SPP_OGC_ACCESS``
    ``public`` (default) or ``restricted`` (API key required, see :mod:`spp.ogc.access`);
``SPP_OGC_URL``, ``SPP_PG_*``
    substituted into the configuration by pygeoapi.

Layers of middleware, outside in: API keys (restricted only) → mounts (``/map`` …) →
request guard (sizes, never a traceback) → ``filter-lang`` (CQL2) → pygeoapi's Flask app.

Mounting more applications on the same server (the web map): add an entry to
:data:`MOUNTS` (path prefix → ``"module:factory"``); entries whose module is not installed
are skipped, so ``/map`` appears as soon as ``spp.webmap.wsgi`` exists.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from spp.ogc import error_body

__all__ = ["MOUNTS", "GuardMiddleware", "MountMiddleware", "create_app", "write_openapi"]

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MOUNTS: dict[str, str] = {"/map": "spp.webmap.wsgi:create_app"}
"""Path prefix → ``"module:factory"`` of a WSGI app mounted beside the OGC API; the factory
takes no arguments. Skipped when the module is not importable."""

MAX_QUERY_BYTES = 16_384


def write_openapi(config_path: Path, openapi_path: Path) -> dict[str, Any]:
    """Generate the OpenAPI document of a configuration (environment already set)."""
    from pygeoapi.openapi import get_oas
    from pygeoapi.util import yaml_load

    with config_path.open(encoding="utf-8") as fh:
        cfg = yaml_load(fh)
    oas = get_oas(cfg, fail_on_invalid_collection=True)
    text = json.dumps(oas, ensure_ascii=False, default=str)
    openapi_path.parent.mkdir(parents=True, exist_ok=True)
    openapi_path.write_text(text, encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


class GuardMiddleware:
    """Refuse oversize query strings, label HTML as UTF-8, and turn any escaped exception
    into a plain 500 (JSON, no traceback); pygeoapi's own errors pass through unchanged."""

    def __init__(self, app: WsgiApp):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if len(query) > MAX_QUERY_BYTES:
            return _reply(start_response, 414, "URI Too Long", f"query string over {MAX_QUERY_BYTES} bytes")
        if "%00" in query or "\x00" in query:
            return _reply(start_response, 400, "Bad Request", "NUL characters are not allowed in the query")

        def utf8_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # pygeoapi sends "text/html" without a charset; clients then guess Latin-1
            fixed = [(k, v + "; charset=utf-8") if k.lower() == "content-type" and v == "text/html" else (k, v)
                     for k, v in headers]
            return start_response(status, fixed, exc_info) if exc_info else start_response(status, fixed)

        try:
            return self.app(environ, utf8_start_response)
        except Exception:
            log.exception("unhandled error for %s?%s", environ.get("PATH_INFO"), query[:200])
            return _reply(start_response, 500, "Internal Server Error", "internal error (logged)")


class MountMiddleware:
    """Dispatch path prefixes to other WSGI apps (``/map`` → the web map)."""

    def __init__(self, app: WsgiApp, mounts: dict[str, WsgiApp]):
        self.app = app
        self.mounts = dict(sorted(mounts.items(), key=lambda kv: -len(kv[0])))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, sub in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                environ = dict(environ, SCRIPT_NAME=environ.get("SCRIPT_NAME", "") + prefix,
                               PATH_INFO=path[len(prefix):])
                return sub(environ, start_response)
        return self.app(environ, start_response)


def _reply(start_response: Callable[..., Any], status: int, reason: str, message: str) -> list[bytes]:
    body = error_body(status, message)
    start_response(f"{status} {reason}", [("Content-Type", "application/json; charset=utf-8"),
                                          ("Content-Length", str(len(body)))])
    return [body]


def _load_mounts() -> dict[str, WsgiApp]:
    import importlib
    import importlib.util

    loaded: dict[str, WsgiApp] = {}
    for prefix, target in MOUNTS.items():
        module_name, _, attr = target.partition(":")
        try:
            if importlib.util.find_spec(module_name) is None:
                continue
        except ModuleNotFoundError:
            continue
        factory = getattr(importlib.import_module(module_name), attr)
        loaded[prefix] = factory()
        log.info("mounted %s at %s", target, prefix)
    return loaded


def create_app() -> WsgiApp:
    """Build the WSGI application for this process (see the module docstring)."""
    from spp.errors import ConfigError
    from spp.ogc.filters import FilterLangMiddleware, install

    access = os.environ.get("SPP_OGC_ACCESS", "public")
    config = os.environ.get("PYGEOAPI_CONFIG")
    openapi = os.environ.get("PYGEOAPI_OPENAPI")
    if not config or not openapi:
        raise ConfigError("PYGEOAPI_CONFIG and PYGEOAPI_OPENAPI must be set (use 'spp serve')")
    write_openapi(Path(config), Path(openapi))
    install()
    from pygeoapi.flask_app import APP  # reads PYGEOAPI_CONFIG / PYGEOAPI_OPENAPI at import

    app: WsgiApp = FilterLangMiddleware(APP.wsgi_app)
    app = GuardMiddleware(app)
    app = MountMiddleware(app, _load_mounts())
    if access == "restricted":
        from spp.ogc.access import ApiKeyMiddleware, load_api_keys
        from spp.settings import get_settings

        keys = load_api_keys(get_settings())
        if not keys:
            log.warning("restricted endpoint without API keys: every request will be refused")
        from spp.ogc.reports import GeoJsonPostMiddleware

        app = ApiKeyMiddleware(GeoJsonPostMiddleware(app), keys)
    return app
