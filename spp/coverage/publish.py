"""Publish analysis results as versioned layers (coverage and fibre runs share this).

Result layers keep one row per run (a ``run_id`` field): a new run reads the live rows,
drops runs beyond ``keep_runs`` (oldest first, run ids sort by time) and the rows of a
re-run with the same id, appends its own rows, validates the whole table against the
layer's spec and stores it as the next version through :func:`spp.store.load.load_frame`
(atomic; the previous version stays in the layer's history). Bulky layers (gap polygons,
plans) pass ``latest_per_area=True``: a run replaces the previous run of the same area
(the city, or one commune) instead of piling up.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

import pandas as pd
from pyproj import CRS

from spp.catalog import Catalog
from spp.errors import AnalysisError, LayerNotFoundError
from spp.store.load import LoadReport, load_frame
from spp.store.query import read_layer
from spp.validate import validate_frame

__all__ = ["KEEP_RUNS", "append_run_rows", "new_run_id", "run_area_key"]

log = logging.getLogger(__name__)
KEEP_RUNS = 50
"""Runs kept in each result layer (older ones stay in the layer's version history)."""


def new_run_id(kind: str, area: str | None, *, when: datetime | None = None) -> str:
    """Run id ``<kind>-YYYYmmddTHHMMSSffffffZ-<area key>``; sorts by time within a kind.

    >>> new_run_id("cov", "Phường Ninh Kiều", when=datetime(2026, 1, 2, tzinfo=timezone.utc))
    'cov-20260102T000000000000Z-ninh-kieu'
    """
    from spp.names import name_key

    when = when or datetime.now(UTC)
    key = "city" if not area else "-".join(name_key(area).split()) or "area"
    return f"{kind}-{when:%Y%m%dT%H%M%S%fZ}-{key}"


def run_area_key(run_id: str) -> str:
    """The area part of a run id (``city`` or a commune key).

    >>> run_area_key("cov-20260102T000000000000Z-ninh-kieu")
    'ninh-kieu'
    """
    parts = run_id.split("-", 2)
    return parts[2] if len(parts) == 3 else run_id


def append_run_rows(
    db_url: str,
    catalog: Catalog,
    layer: str,
    rows: pd.DataFrame,
    *,
    run_id: str,
    keep_runs: int = KEEP_RUNS,
    latest_per_area: bool = False,
    note: str | None = None,
) -> LoadReport | None:
    """Append one run's ``rows`` (a GeoDataFrame in any CRS, or a DataFrame) to ``layer``.

    Rows of older runs are kept up to ``keep_runs`` runs; with ``latest_per_area`` the
    rows of earlier runs of the same kind and area are dropped first. Returns ``None``
    (nothing stored) when the layer would hold no row at all.

    Raises
    ------
    LoadValidationError
        When a row breaks the layer's spec (nothing is stored).
    DatabaseError
        When PostGIS refuses the load (nothing is stored).
    """
    import geopandas as gpd

    spec = catalog.get(layer)
    names = [f.name for f in spec.fields]
    new = rows.copy()
    if spec.has_geometry:
        new = gpd.GeoDataFrame(new, geometry=new.geometry.name, crs=rows.crs).to_crs(4326)
        if new.geometry.name != "geometry":
            new = new.rename_geometry("geometry")
    for name in names:
        if name not in new.columns:
            new[name] = None
    new = new[names + (["geometry"] if spec.has_geometry else [])]
    try:
        old = read_layer(db_url, spec)
    except LayerNotFoundError:
        old = None
    if old is not None and len(old):
        if spec.has_geometry:
            old = old.rename_geometry("geometry") if old.geometry.name != "geometry" else old
        old = old[old["run_id"] != run_id]
        if latest_per_area:
            prefix = run_id.split("-", 1)[0] + "-"
            same = old["run_id"].map(lambda r: r.startswith(prefix)
                                     and run_area_key(r) == run_area_key(run_id))
            old = old[~same.astype(bool)]
        kept = sorted(set(old["run_id"]))[-(keep_runs - 1):] if keep_runs > 1 else []
        old = old[old["run_id"].isin(kept)]
        frame = pd.concat([old, new], ignore_index=True)
        if spec.has_geometry:
            frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
    else:
        frame = new.reset_index(drop=True)
    if len(frame) == 0:
        log.info("%s: no rows to store for %s", layer, run_id)
        return None
    checked = validate_frame(frame, spec, source=run_id, crs=CRS.from_epsg(4326))
    stored = checked.frame
    stored = checked.frame
    empty = [f.name for f in spec.fields if f.type == "text" and stored[f.name].isna().all()]
    if empty:
        # spp.store.pgbinary writes into the array pandas 3 hands out, which is read-only
        # for an all-NULL column; fail here with a clear message instead of deep in COPY.
        raise AnalysisError(f"{layer}: text field(s) {empty} are empty in every row")
    sha = hashlib.sha256(f"{layer}|{run_id}|{len(frame)}".encode()).hexdigest()
    report = load_frame(db_url, spec, stored, source=run_id, sha256=sha,
                        crs_in="EPSG:4326", warnings=checked.warnings, note=note)
    log.info("%s: version %d, %d rows (%d from %s)", layer, report.version, len(frame),
             len(new), run_id)
    return report
