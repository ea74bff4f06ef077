"""The project's private PostGIS cluster (``spp db up|down|status|url``).

``initdb``/``pg_ctl`` run as an unprivileged OS user (``postgres`` when SPP runs as root,
since initdb refuses root), into ``<state>/pg/data`` (git-ignored), listening on 127.0.0.1
and a unix socket in ``<state>/pg/run``, on a free port chosen once and remembered. When
``SPP_DATABASE_URL`` is set the cluster is never touched and that server is used instead.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from spp.errors import ClusterError
from spp.settings import Settings

__all__ = ["ClusterStatus", "cluster_up", "cluster_down", "cluster_status", "database_url", "pg_bindir"]

log = logging.getLogger(__name__)
SUPERUSER = "spp"


@dataclass(frozen=True)
class ClusterStatus:
    """State of the private cluster."""

    data_dir: Path
    initialised: bool
    running: bool
    port: int | None
    url: str | None


def pg_bindir() -> Path:
    """Folder with ``initdb``/``pg_ctl`` (newest PostgreSQL under /usr/lib/postgresql)."""
    pg_config = shutil.which("pg_config")
    candidates: list[Path] = []
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted(
            (p for p in root.iterdir() if p.name.split(".")[0].isdigit()),
            key=lambda p: int(p.name.split(".")[0]),
            reverse=True,
        )
        candidates += [p / "bin" for p in versions]
    for cand in candidates:
        if (cand / "initdb").exists() and (cand / "pg_ctl").exists():
            return cand
    raise ClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with "
        "'apt-get install postgresql-15-postgis-3' or set SPP_DATABASE_URL to an existing server"
    )


def _paths(settings: Settings) -> dict[str, Path]:
    base = settings.state / "pg"
    return {
        "base": base,
        "data": base / "data",
        "run": base / "run",
        "log": base / "log" / "postgres.log",
        "port": base / "port",
        "password": base / "password",
    }


def _os_user() -> str | None:
    """The OS user to run the server as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ClusterError(
            "running as root but there is no 'postgres' OS user to run the cluster; install "
            "the postgresql package (it creates the user) or run SPP as an ordinary user"
        ) from exc
    return "postgres"


def _run(cmd: list[str], *, user: str | None, what: str) -> subprocess.CompletedProcess[str]:
    full = ["runuser", "-u", user, "--", *cmd] if user else cmd
    log.debug("running %s", full)
    proc = subprocess.run(full, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chown(path: Path, user: str | None) -> None:
    if user is None:
        return
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def _port(settings: Settings) -> int | None:
    if settings.db_port:
        return settings.db_port
    p = _paths(settings)["port"]
    return int(p.read_text().strip()) if p.exists() else None


def _is_running(settings: Settings) -> bool:
    paths = _paths(settings)
    pid_file = paths["data"] / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def database_url(settings: Settings, *, dbname: str | None = None) -> str:
    """The libpq URL of SPP's database: ``SPP_DATABASE_URL`` or the private cluster's."""
    if settings.database_url:
        if dbname is None:
            return settings.database_url
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(settings.database_url)
        params["dbname"] = dbname
        return make_conninfo(**params)
    paths = _paths(settings)
    port = _port(settings)
    if port is None or not paths["password"].exists():
        raise ClusterError("the private PostGIS cluster is not initialised; run 'spp db up' first")
    password = paths["password"].read_text().strip()
    return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/{dbname or settings.db_name}"


def cluster_status(settings: Settings) -> ClusterStatus:
    """Describe the private cluster (nothing is started)."""
    paths = _paths(settings)
    initialised = (paths["data"] / "PG_VERSION").exists()
    running = initialised and _is_running(settings)
    port = _port(settings)
    url = None
    if initialised:
        try:
            url = database_url(settings)
        except ClusterError:
            url = None
    return ClusterStatus(paths["data"], initialised, running, port, url)


def _init(settings: Settings, user: str | None) -> None:
    paths = _paths(settings)
    for key in ("base", "run"):
        paths[key].mkdir(parents=True, exist_ok=True)
    paths["log"].parent.mkdir(parents=True, exist_ok=True)
    paths["data"].mkdir(parents=True, exist_ok=True)
    for key in ("base", "run", "data"):
        _chown(paths[key], user)
    _chown(paths["log"].parent, user)
    os.chmod(paths["data"], 0o700)
    password = secrets.token_urlsafe(24)
    paths["password"].write_text(password + "\n")
    os.chmod(paths["password"], 0o600)
    pwfile = paths["base"] / ".pwfile"
    pwfile.write_text(password + "\n")
    _chown(pwfile, user)
    os.chmod(pwfile, 0o600)
    try:
        _run(
            [
                str(pg_bindir() / "initdb"),
                "-D", str(paths["data"]),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E", "UTF8",
                "--locale=C.UTF-8",
            ],
            user=user,
            what="initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    port = settings.db_port or _free_port()
    paths["port"].write_text(f"{port}\n")
    log.info("initialised private cluster in %s (port %s)", paths["data"], port)


def cluster_up(settings: Settings) -> ClusterStatus:
    """Create (first time) and start the private cluster, then ensure the SPP database.

    Idempotent: an initialised, running cluster is left as it is.
    """
    if settings.database_url:
        raise ClusterError("SPP_DATABASE_URL is set: SPP uses that server and runs no cluster of its own")
    user = _os_user()
    paths = _paths(settings)
    if not (paths["data"] / "PG_VERSION").exists():
        if paths["data"].exists() and any(paths["data"].iterdir()):
            raise ClusterError(f"{paths['data']} exists but is not a PostgreSQL data folder; move it away")
        _init(settings, user)
    if not _is_running(settings):
        port = _port(settings)
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} "
            f"-c unix_socket_directories={paths['run']} "
            "-c shared_buffers=256MB -c max_connections=100 -c fsync=on"
        )
        _run(
            [str(pg_bindir() / "pg_ctl"), "-D", str(paths["data"]), "-l", str(paths["log"]),
             "-o", opts, "-w", "-t", "60", "start"],
            user=user,
            what=f"pg_ctl start (log: {paths['log']})",
        )
    _wait_ready(settings)
    ensure_database(settings, settings.db_name)
    return cluster_status(settings)


def _wait_ready(settings: Settings, timeout_s: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(database_url(settings, dbname="postgres"), connect_timeout=3):
                return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.2)
    raise ClusterError(f"the private cluster did not accept connections within {timeout_s:.0f} s: {last}")


def ensure_database(settings: Settings, dbname: str) -> None:
    """Create ``dbname`` with PostGIS if missing (needs CREATEDB on an external server)."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(database_url(settings, dbname="postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(dbname)))
        with psycopg.connect(database_url(settings, dbname=dbname), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            from spp.crs import register_srids

            try:
                added = register_srids(conn)
            except psycopg.errors.InsufficientPrivilege:
                log.warning("cannot add VN-2000 SRIDs to spatial_ref_sys (needs superuser); "
                            "EPSG:9210 requests will fail on this server")
            else:
                if added:
                    log.info("registered SRIDs %s in %s", added, dbname)
    except psycopg.Error as exc:
        raise ClusterError(f"cannot prepare database {dbname!r}: {exc}") from exc


def drop_database(settings: Settings, dbname: str) -> None:
    """Drop ``dbname`` (used for the test database); refuses SPP's main database."""
    import psycopg
    from psycopg import sql

    if dbname == settings.db_name:
        raise ClusterError(f"refusing to drop the main database {dbname!r}")
    with psycopg.connect(database_url(settings, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def cluster_down(settings: Settings) -> ClusterStatus:
    """Stop the private cluster (fast shutdown); data is kept."""
    if settings.database_url:
        raise ClusterError("SPP_DATABASE_URL is set: there is no private cluster to stop")
    paths = _paths(settings)
    if _is_running(settings):
        _run([str(pg_bindir() / "pg_ctl"), "-D", str(paths["data"]), "-m", "fast", "-w", "stop"],
             user=_os_user(), what="pg_ctl stop")
    return cluster_status(settings)
