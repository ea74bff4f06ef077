"""OGC APIs for SPP's layers, served by pygeoapi.

* :mod:`spp.ogc.config` — the pygeoapi configuration, generated from ``layers/*.yml``;
* :mod:`spp.ogc.provider` — the features provider (GeoJSON built in PostGIS, CRS via
  integer SRIDs, no ``count(*)`` per page);
* :mod:`spp.ogc.tiles` — Mapbox Vector Tiles straight from ``ST_AsMVT``;
* :mod:`spp.ogc.filters` — CQL2 text next to pygeoapi's ECQL;
* :mod:`spp.ogc.access` — API keys for the restricted endpoint;
* :mod:`spp.ogc.wsgi` — the WSGI applications gunicorn runs;
* :mod:`spp.ogc.serve` — start/stop the background server.

:class:`spp.errors.SppError` subclasses map to HTTP responses once, in :func:`error_status`.
"""

from __future__ import annotations

import json

from spp.errors import SppError

__all__ = ["OGC_CODES", "error_body", "error_status"]

OGC_CODES = {
    400: "InvalidParameterValue",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    500: "NoApplicableCode",
    503: "ServiceUnavailable",
}


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    """An OGC API exception document (JSON, UTF-8) with a safe, user-facing message."""
    doc = {"code": code or OGC_CODES.get(status, "NoApplicableCode"), "description": message}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def error_status(exc: SppError) -> tuple[int, str]:
    """HTTP status and OGC exception code of an :class:`SppError` (the one mapping)."""
    return exc.http_status, exc.ogc_code
