"""``spp indicators run``: compute the IOC indicators and append a snapshot to
``commune_indicators`` (the versioned loader keeps every earlier version too)."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from spp.settings import get_settings

if TYPE_CHECKING:
    import pandas as pd

    from spp.catalog import Catalog
    from spp.store.load import LoadReport

log = logging.getLogger(__name__)

LAYER = "commune_indicators"
ANALYSIS_LAYERS = {"coverage": "coverage_by_commune", "fibre": "fibre_by_commune", "flood": "flood_exposure",
                   "coverage_runs": "coverage_runs", "flood_runs": "flood_runs"}
POINT_LAYERS = ("street_lights", "pump_stations", "water_level_sensors", "telecom_sites")


def _read_optional(db_url: str, catalog: Catalog, name: str, *, columns: list[str] | None = None
                   ) -> pd.DataFrame | None:
    """A live layer, or ``None`` when it is not in the catalogue or not loaded."""
    from spp.errors import LayerNotFoundError
    from spp.store.query import read_layer

    if name not in catalog:
        return None
    spec = catalog.get(name)
    if columns is not None:
        columns = [c for c in columns if c in {f.name for f in spec.fields}]
    try:
        return read_layer(db_url, spec, columns=columns)
    except LayerNotFoundError:
        log.info("layer %s is not loaded; its indicators stay NULL", name)
        return None


def snapshot_indicators(db_url: str, catalog: Catalog, *, computed_at: datetime | None = None) -> LoadReport:
    """Compute one snapshot and store it as the next version of ``commune_indicators``,
    keeping the earlier snapshots' rows live beside it (query them by ``datetime``).

    Raises
    ------
    LayerNotFoundError
        When the communes layer is not loaded.
    LoadValidationError
        When the computed rows break the layer spec (a bug: the message lists the rows).
    """
    import geopandas as gpd
    import pandas as pd

    from spp.indicators import IndicatorInputs, compute_indicators
    from spp.store.load import load_frame
    from spp.store.query import read_layer
    from spp.validate import validate_frame

    when = computed_at or datetime.now(UTC).replace(microsecond=0)
    communes = read_layer(db_url, catalog.get("communes"), columns=["ma_xa", "ten", "dan_so"])
    points = {name: _read_optional(db_url, catalog, name, columns=["technology", "status"])
              for name in POINT_LAYERS}
    inputs = IndicatorInputs(
        communes=communes,
        **points,
        **{key: _read_optional(db_url, catalog, layer) for key, layer in ANALYSIS_LAYERS.items()},
    )
    snapshot = compute_indicators(inputs, computed_at=when)
    spec = catalog.get(LAYER)
    previous = _read_optional(db_url, catalog, LAYER)
    frames = [snapshot]
    if previous is not None and len(previous):
        keep = previous[previous["computed_at"] != pd.Timestamp(when)]
        frames.insert(0, keep)
    rows = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
    result = validate_frame(rows, spec, source=f"spp indicators run {when.isoformat()}", crs=rows.crs)
    return load_frame(db_url, spec, result.frame, source=f"spp.indicators@{when.isoformat()}",
                      sha256=hashlib.sha256(" ".join(snapshot["snapshot_id"]).encode()).hexdigest(), crs_in="EPSG:4326", warnings=result.warnings,
                      note=f"snapshot {when.isoformat()}: {len(snapshot)} communes")


@click.group()
def indicators() -> None:
    """IOC indicators per commune (layer commune_indicators)."""


@indicators.command("run")
@click.option("--at", "computed_at", default=None, metavar="ISO-DATETIME",
              help="Time stamp of the snapshot (default: now, UTC).")
def run(computed_at: str | None) -> None:
    """Compute the indicators and append a snapshot to commune_indicators."""
    from spp.catalog import load_catalog
    from spp.store.db import url

    settings = get_settings()
    when = None
    if computed_at:
        when = datetime.fromisoformat(computed_at)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    report = snapshot_indicators(url(settings), load_catalog(settings.layers_dir), computed_at=when)
    click.echo(f"{report.layer}: {report.outcome} version {report.version}, {report.rows} rows "
               f"({report.seconds:.1f} s)")
