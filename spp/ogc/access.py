"""API keys for the restricted OGC API endpoint.

Keys come from ``SPP_API_KEYS`` (comma-separated, environment only) and/or
``SPP_API_KEYS_FILE`` (one key per line, ``#`` comments; the file must live outside the
repository so that keys are never committed). A caller sends a key as ``X-API-Key: <key>``,
``Authorization: Bearer <key>`` or HTTP Basic with the key as password (what QGIS 3.22's
authentication manager can send). Keys are compared with :func:`hmac.compare_digest`.
Without a key the answer is 401, with a wrong one 403; neither leaks anything else.
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from spp.errors import ConfigError
from spp.ogc import error_body
from spp.settings import Settings

__all__ = ["ApiKeyMiddleware", "key_from_environ", "load_api_keys"]

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
MIN_KEY_LENGTH = 16


def load_api_keys(settings: Settings) -> list[str]:
    """The configured API keys (possibly none).

    Raises
    ------
    ConfigError
        When the keys file is inside the repository, unreadable, or a key is shorter than
        16 characters.
    """
    keys = [k.strip() for k in (settings.api_keys or "").split(",") if k.strip()]
    path = settings.api_keys_file
    if path is not None:
        path = Path(path).expanduser().resolve()
        home = settings.home.resolve()
        if path == home or home in path.parents:
            raise ConfigError(f"SPP_API_KEYS_FILE {path} is inside the repository; keep keys outside it")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read SPP_API_KEYS_FILE {path}: {exc}") from exc
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    short = [k for k in keys if len(k) < MIN_KEY_LENGTH]
    if short:
        raise ConfigError(f"{len(short)} API key(s) shorter than {MIN_KEY_LENGTH} characters; use longer keys")
    return keys


def key_from_environ(environ: dict[str, Any]) -> str | None:
    """The API key a request carries, or ``None``."""
    key = environ.get("HTTP_X_API_KEY")
    if key:
        return str(key).strip()
    auth = str(environ.get("HTTP_AUTHORIZATION", "")).strip()
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return None


class ApiKeyMiddleware:
    """Let a request through only with a valid API key (401 without, 403 with a wrong one)."""

    def __init__(self, app: WsgiApp, keys: list[str]):
        self.app = app
        self._keys = [k.encode("utf-8") for k in keys]

    def _valid(self, key: str) -> bool:
        candidate = key.encode("utf-8", "surrogatepass")
        ok = False
        for known in self._keys:  # compare with every key: timing does not tell which matched
            ok |= hmac.compare_digest(candidate, known)
        return ok

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        key = key_from_environ(environ)
        if key is None:
            return _deny(start_response, 401, "an API key is required (header X-API-Key or "
                                               "Authorization: Bearer <key>)")
        if not self._keys or not self._valid(key):
            log.warning("rejected API key from %s for %s", environ.get("REMOTE_ADDR"), environ.get("PATH_INFO"))
            return _deny(start_response, 403, "the API key is not valid")
        return self.app(environ, start_response)


def _deny(start_response: Callable[..., Any], status: int, message: str) -> list[bytes]:
    body = error_body(status, message)
    headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body))),
               ("Cache-Control", "no-store")]
    if status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="SPP restricted", Basic realm="SPP restricted"'))
    start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", headers)
    return [body]
