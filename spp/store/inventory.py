"""What is loaded: one row per catalogue layer with its live version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from spp.catalog import Catalog
from spp.store.load import live_version

__all__ = ["LayerRow", "inventory"]


@dataclass(frozen=True)
class LayerRow:
    name: str
    title_en: str
    features: int | None
    crs_in: str | None
    synthetic: bool
    version: int | None
    loaded_at: datetime | None


def inventory(conn: psycopg.Connection, catalog: Catalog) -> list[LayerRow]:
    """Every catalogue layer with its live version (``None`` fields when never loaded)."""
    rows = []
    for spec in catalog:
        live = live_version(conn, spec.name)
        rows.append(LayerRow(
            spec.name, spec.title.en,
            live.row_count if live else None, live.crs_in if live else None,
            spec.synthetic, live.version if live else None, live.loaded_at if live else None,
        ))
    return rows
