"""Connections to SPP's PostGIS (private cluster or ``SPP_DATABASE_URL``)."""

from __future__ import annotations

import psycopg

from spp.errors import DatabaseError
from spp.settings import Settings
from spp.store.cluster import database_url

__all__ = ["connect", "url"]


def url(settings: Settings, *, dbname: str | None = None) -> str:
    """libpq URL of SPP's database (or of ``dbname`` on the same server)."""
    return database_url(settings, dbname=dbname)


def connect(settings: Settings | str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a connection; ``settings`` may also be a libpq URL.

    Raises
    ------
    DatabaseError
        When the server cannot be reached; the message says how to start it.
    """
    target = settings if isinstance(settings, str) else url(settings)
    try:
        return psycopg.connect(target, autocommit=autocommit, application_name="spp")
    except psycopg.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to PostGIS ({exc}); start the private cluster with 'spp db up' "
            "or check SPP_DATABASE_URL"
        ) from exc
