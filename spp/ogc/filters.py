"""CQL2 filtering (OGC API - Features Part 3) on top of pygeoapi 0.21.

pygeoapi 0.21 parses every ``filter=`` text as ECQL and answers ``filter-lang=cql2-text``
with 400. SPP accepts standard CQL2 text (``S_INTERSECTS``, ``DATE('…')`` …), CQL2 JSON in
the query string, and keeps ECQL working:

* :class:`FilterLangMiddleware` (WSGI, ours) reads ``filter-lang``, remembers it for this
  request in a context variable and hands pygeoapi a value it accepts;
* :func:`parse_filter_text` replaces the name ``parse_ecql_text`` that pygeoapi's items
  handler calls (:func:`install`, a run-time rebinding in our process, no file is patched)
  and parses with the remembered language;
* :func:`to_where` turns the parsed tree into a parameterised SQLAlchemy expression on the
  layer's own columns, after :func:`check_attributes` refused unknown (or restricted) ones.

Languages: ``cql2-text`` (strict CQL2), ``cql-text`` (ECQL, CQL2 as fallback), ``cql2-json``
and ``cql-json`` (CQL2 JSON); no ``filter-lang``: CQL2 text, ECQL as fallback.
"""

from __future__ import annotations

import contextvars
import logging
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pygeofilter import ast

__all__ = [
    "FILTER_LANGS",
    "FilterError",
    "FilterLangMiddleware",
    "check_attributes",
    "install",
    "parse_filter_text",
    "to_where",
]

log = logging.getLogger(__name__)

FILTER_LANGS = ("cql2-text", "cql2-json", "cql-text", "cql-json")
MARKER = "spp-filter-lang"
"""Query parameter that carries ``filter-lang`` past pygeoapi (and into its paging links)."""
_LANG: contextvars.ContextVar[str | None] = contextvars.ContextVar("spp_filter_lang", default=None)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FilterError(ValueError):
    """A filter expression could not be parsed or uses unknown properties (HTTP 400)."""


def _parse_cql2_text(text: str) -> ast.Node:
    from pygeofilter.parsers.cql2_text import parse

    return parse(text)


def _parse_ecql(text: str) -> ast.Node:
    from pygeofilter.parsers.ecql import parse

    return parse(text)


def _parse_cql2_json(text: str) -> ast.Node:
    from pygeofilter.parsers.cql2_json import parse

    return parse(text)


def parse_filter_text(text: str) -> ast.Node:
    """Parse a ``filter=`` value in the language of the current request.

    Raises
    ------
    FilterError
        With the parser's complaint shortened to one line.
    """
    lang = _LANG.get()
    if lang in ("cql2-json", "cql-json"):
        order = [_parse_cql2_json]
    elif lang == "cql2-text":
        order = [_parse_cql2_text]
    elif lang == "cql-text":
        order = [_parse_ecql, _parse_cql2_text]
    else:
        order = [_parse_cql2_text, _parse_ecql]
    first: Exception | None = None
    for parser in order:
        try:
            node = parser(text)
        except Exception as exc:  # noqa: BLE001 -- lark and json raise many types; all mean "bad filter"
            first = first or exc
            continue
        if not isinstance(node, ast.Node):
            first = first or ValueError("the filter is not a predicate")
            continue
        return node
    message = str(first).strip().splitlines()[0] if first else "unparsable"
    log.info("bad filter (%s): %r: %s", lang or "auto", text[:200], message)
    raise FilterError(f"bad {lang or 'CQL2 text'} filter: {message[:200]}")


def install() -> None:
    """Make pygeoapi's items handler parse filters with :func:`parse_filter_text`."""
    from pygeoapi.api import itemtypes

    itemtypes.parse_ecql_text = parse_filter_text


def _attributes(node: Any) -> Iterable[str]:
    if isinstance(node, ast.Attribute):
        yield node.name
    if isinstance(node, ast.Node):
        for sub in node.get_sub_nodes():
            yield from _attributes(sub)
    elif isinstance(node, list | tuple):
        for sub in node:
            yield from _attributes(sub)


def check_attributes(node: ast.Node, allowed: Iterable[str]) -> None:
    """Refuse filters on properties the collection does not publish."""
    known = set(allowed)
    unknown = sorted({name for name in _attributes(node) if name not in known})
    if unknown:
        raise FilterError(
            f"unknown propert{'y' if len(unknown) == 1 else 'ies'} in filter: {', '.join(unknown)}; "
            "see /queryables"
        )


def to_where(node: ast.Node, columns: Mapping[str, Any]) -> Any:
    """A SQLAlchemy boolean expression for ``node`` (values become bound parameters)."""
    from pygeofilter.backends.sqlalchemy.evaluate import to_filter

    check_attributes(node, columns)
    _storage_srid(node)
    try:
        return to_filter(node, dict(columns), undefined_as_null=False)
    except (KeyError, NotImplementedError, TypeError, ValueError, AttributeError) as exc:
        raise FilterError(f"unsupported filter expression ({type(exc).__name__}: {exc})"[:240]) from exc


def _storage_srid(node: Any) -> None:
    """Label geometry literals as EPSG:4326 (lon/lat). pygeoapi has already transformed
    them from ``filter-crs`` to the storage CRS (CRS84) but leaves a CRS URI that the
    SQLAlchemy backend would paste into the EWKT as SRID."""
    from pygeofilter import values

    if isinstance(node, values.Geometry):
        node.geometry["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}}
        return
    if isinstance(node, values.Envelope):
        return
    if isinstance(node, ast.Node):
        for sub in node.get_sub_nodes():
            _storage_srid(sub)
    elif isinstance(node, list | tuple):
        for sub in node:
            _storage_srid(sub)


class FilterLangMiddleware:
    """Remember ``filter-lang`` for the request and hide CQL2 names from pygeoapi 0.21.

    ``filter-lang=cql2-text`` becomes ``spp-filter-lang=cql2-text`` in the query string
    (pygeoapi copies unknown parameters into its next/prev links, so paging keeps the
    language; the links are renamed back in the response body). Unknown languages get 400.
    """

    def __init__(self, app: WsgiApp):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if "filter-lang" not in query:
            _LANG.set(None)
            return self.app(environ, start_response)
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        lang = None
        kept = []
        for key, value in pairs:
            if key in ("filter-lang", MARKER):
                lang = value
            else:
                kept.append((key, value))
        if lang not in FILTER_LANGS:
            from spp.ogc import error_body

            body = error_body(400, f"filter-lang must be one of {', '.join(FILTER_LANGS)}")
            start_response("400 Bad Request", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(body)))])
            return [body]
        assert lang is not None
        _LANG.set(lang)
        if lang != "cql-text":
            kept.append((MARKER, lang))
        else:
            kept.append(("filter-lang", lang))
        environ = dict(environ, QUERY_STRING=urllib.parse.urlencode(kept, quote_via=urllib.parse.quote))
        if lang == "cql-text":
            return self.app(environ, start_response)
        return _rename_marker(self.app, environ, start_response)


def _rename_marker(app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Run ``app`` and write ``filter-lang=`` back into the links of its (buffered) body."""
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    chunks = app(environ, capture)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    body = body.replace(MARKER.encode() + b"=", b"filter-lang=")
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(captured["status"], headers)
    return [body]
