"""Start and stop the OGC API server: gunicorn running :mod:`spp.ogc.wsgi` in the background.

Two gunicorn servers, on 127.0.0.1 by default:

* public, on ``SPP_SERVE_PORT`` (5000): public layers and fields, ``ogc_config.yml``;
* restricted, on the next port (or ``SPP_OGC_RESTRICTED_PORT``): every layer and field,
  API key required; started only when API keys are configured (``SPP_API_KEYS`` or
  ``SPP_API_KEYS_FILE``).

State lives in ``<state>/ogc/``: generated configuration and OpenAPI documents, pid files,
gunicorn control sockets (gunicorn ≥ 23 would otherwise write one under the home folder),
logs and ``server.json`` (what runs, with which configuration). :func:`start_server` is
idempotent: the same configuration already running is reused.

Environment: ``SPP_OGC_WORKERS`` (default 2), ``SPP_OGC_RESTRICTED_PORT``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from spp.errors import ConfigError, SppError
from spp.settings import Settings

__all__ = ["ServerInfo", "run_foreground", "server_env", "start_server", "stop_server"]

log = logging.getLogger(__name__)


class ServerError(SppError, RuntimeError):
    """The OGC API server could not be started."""

    http_status = 503


@dataclass(frozen=True)
class ServerInfo:
    """A running OGC API server."""

    url: str
    pid: int
    restricted_url: str | None = None
    restricted_pid: int | None = None


def _run_dir(settings: Settings, run_dir: Path | None) -> Path:
    path = (run_dir or settings.state / "ogc").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _db_url(settings: Settings, db_url: str | None) -> str:
    if db_url:
        return db_url
    from spp.store.cluster import cluster_up, database_url

    if not settings.database_url:
        cluster_up(settings)
    return database_url(settings)


def _public_config(settings: Settings, run: Path) -> Path:
    """The committed ``ogc_config.yml`` when current, else a fresh one in the state folder."""
    from spp.catalog import load_catalog
    from spp.ogc.config import CONFIG_FILE, check_config, write_config

    catalog = load_catalog(settings.layers_dir)
    committed = settings.home / CONFIG_FILE
    try:
        check_config(catalog, committed)
        return committed
    except ConfigError:
        log.warning("%s is out of date with layers/; serving a freshly generated copy "
                    "(run 'spp ogc config' and commit it)", CONFIG_FILE)
        return write_config(catalog, run / "public.yml", access="public")


def server_env(settings: Settings, *, access: str, config: Path, run: Path, url: str,
               db_url: str) -> dict[str, str]:
    """Environment of one gunicorn server (configuration, OpenAPI path, database)."""
    from spp.ogc.config import connection_env

    env = dict(os.environ)
    env.update(connection_env(db_url))
    env.update({
        "PYGEOAPI_CONFIG": str(config),
        "PYGEOAPI_OPENAPI": str(run / f"{access}-openapi.json"),
        "SPP_OGC_ACCESS": access,
        "SPP_OGC_URL": url,
        "SPP_HOME": str(settings.home),
        "SPP_STATE_DIR": str(settings.state),
    })
    # the workers read API keys through their own Settings: hand over what this one holds
    if settings.api_keys:
        env["SPP_API_KEYS"] = settings.api_keys
    if settings.api_keys_file:
        env["SPP_API_KEYS_FILE"] = str(settings.api_keys_file)
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _healthy(url: str, timeout_s: float = 2.0) -> bool:
    """True when an HTTP server answers the landing page (the restricted one with 401)."""
    try:
        with urllib.request.urlopen(f"{url}/?f=json", timeout=timeout_s) as resp:
            return int(resp.status) == 200
    except urllib.error.HTTPError as exc:
        return exc.code in (401, 403)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _gunicorn(settings: Settings, *, access: str, port: int, workers: int, env: dict[str, str],
              run: Path, foreground: bool = False) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers),
        "--bind", f"{settings.host}:{port}",
        "--pid", str(run / f"{access}.pid"),
        "--control-socket", str(run / f"{access}.ctl"),
        "--timeout", "60",
        "--graceful-timeout", "10",
        "--preload",
        "--access-logfile", "-" if foreground else str(run / f"{access}-access.log"),
        "--error-logfile", "-" if foreground else str(run / f"{access}.log"),
        "--log-level", "warning",
        "spp.ogc.wsgi:create_app()",
    ]


def _spawn(cmd: list[str], env: dict[str, str], run: Path, access: str, url: str,
           timeout_s: float = 60.0) -> int:
    log_path = run / f"{access}.log"
    with open(log_path, "ab") as log_fh:
        proc = subprocess.Popen(cmd, env=env, stdout=log_fh, stderr=log_fh, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(run))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            raise ServerError(f"the {access} OGC API server exited at start (log {log_path}):\n" + "\n".join(tail))
        if _healthy(url, 1.0):
            return proc.pid
        time.sleep(0.2)
    _terminate(proc.pid)
    raise ServerError(f"the {access} OGC API server did not answer on {url} within {timeout_s:.0f} s "
                      f"(log {log_path})")


def _terminate(pid: int, timeout_s: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
            if waited == pid:
                return
        except ChildProcessError:
            pass
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:16]


def start_server(settings: Settings, *, workers: int | None = None, port: int | None = None,
                 restricted_port: int | None = None, db_url: str | None = None,
                 run_dir: Path | None = None) -> ServerInfo:
    """Start (or reuse) the background OGC API server(s) and return their URLs.

    Parameters
    ----------
    settings
        SPP settings (host, port, state folder, API keys, database).
    workers
        gunicorn workers per server (default ``SPP_OGC_WORKERS`` or 2).
    port, restricted_port
        Override the public port (``settings.serve_port``) and the restricted one
        (default public + 1, or ``SPP_OGC_RESTRICTED_PORT``).
    db_url
        libpq URL of the database to serve (default: SPP's database).
    run_dir
        State folder for configuration, pid files and logs (default ``<state>/ogc``).

    Raises
    ------
    ServerError
        When gunicorn exits or does not answer; the message shows the log's tail.
    """
    from spp.catalog import load_catalog
    from spp.ogc.access import load_api_keys
    from spp.ogc.config import write_config

    run = _run_dir(settings, run_dir)
    workers = workers or int(os.environ.get("SPP_OGC_WORKERS", "2"))
    port = port or settings.serve_port
    restricted_port = restricted_port or int(os.environ.get("SPP_OGC_RESTRICTED_PORT", port + 1))
    url = f"http://{settings.host}:{port}"
    restricted_url = f"http://{settings.host}:{restricted_port}"
    target = _db_url(settings, db_url)
    public_cfg = _public_config(settings, run)
    keys = load_api_keys(settings)
    restricted_cfg = write_config(load_catalog(settings.layers_dir), run / "restricted.yml",
                                  access="restricted") if keys else None
    fingerprint = _fingerprint(url, restricted_url if keys else None, workers, target,
                               public_cfg.read_text(encoding="utf-8"),
                               restricted_cfg.read_text(encoding="utf-8") if restricted_cfg else None,
                               hashlib.sha256(",".join(keys).encode()).hexdigest())
    state_file = run / "server.json"
    if state_file.exists():
        state = json.loads(state_file.read_text(encoding="utf-8"))
        pids = [p for p in (state.get("pid"), state.get("restricted_pid")) if p]
        if state.get("fingerprint") == fingerprint and all(_alive(p) for p in pids) and _healthy(url):
            log.info("OGC API already running at %s (pid %s)", url, state["pid"])
            return ServerInfo(state["url"], state["pid"], state.get("restricted_url"), state.get("restricted_pid"))
        stop_server(settings, run_dir=run)
    if _healthy(url):
        raise ServerError(f"port {port} is taken by another server; choose another with --port or SPP_SERVE_PORT")
    env = server_env(settings, access="public", config=public_cfg, run=run, url=url, db_url=target)
    pid = _spawn(_gunicorn(settings, access="public", port=port, workers=workers, env=env, run=run),
                 env, run, "public", url)
    info = ServerInfo(url, pid)
    if restricted_cfg is not None:
        env_r = server_env(settings, access="restricted", config=restricted_cfg, run=run, url=restricted_url,
                           db_url=target)
        try:
            pid_r = _spawn(_gunicorn(settings, access="restricted", port=restricted_port, workers=workers,
                                     env=env_r, run=run), env_r, run, "restricted", restricted_url)
        except ServerError:
            _terminate(pid)
            raise
        info = ServerInfo(url, pid, restricted_url, pid_r)
    state_file.write_text(json.dumps({**asdict(info), "fingerprint": fingerprint}, indent=2), encoding="utf-8")
    log.info("OGC API at %s (pid %s)", url, pid)
    return info


def stop_server(settings: Settings, *, run_dir: Path | None = None) -> bool:
    """Stop the background server(s); ``True`` when something was running."""
    run = _run_dir(settings, run_dir)
    stopped = False
    pids: list[int] = []
    state_file = run / "server.json"
    if state_file.exists():
        state = json.loads(state_file.read_text(encoding="utf-8"))
        pids += [p for p in (state.get("pid"), state.get("restricted_pid")) if p]
    for access in ("public", "restricted"):
        pid_file = run / f"{access}.pid"
        if pid_file.exists():
            try:
                pids.append(int(pid_file.read_text().strip()))
            except ValueError:
                pass
    for pid in dict.fromkeys(pids):
        if _alive(pid):
            _terminate(pid)
            stopped = True
    state_file.unlink(missing_ok=True)
    return stopped


def run_foreground(settings: Settings, *, workers: int | None = None) -> None:
    """Run the public server in the foreground (logs to the terminal; Ctrl-C stops)."""
    run = _run_dir(settings, None)
    url = f"http://{settings.host}:{settings.serve_port}"
    env = server_env(settings, access="public", config=_public_config(settings, run), run=run, url=url,
                     db_url=_db_url(settings, None))
    cmd = _gunicorn(settings, access="public", port=settings.serve_port,
                    workers=workers or int(os.environ.get("SPP_OGC_WORKERS", "2")), env=env, run=run,
                    foreground=True)
    os.execve(sys.executable, cmd, env)
