"""``spp reports``: moderate citizen field reports and compare flood reports with the model.

* ``spp reports list [--status pending] [--format table|geojson]``
* ``spp reports review REPORT_ID --approve|--reject [--by NAME] [--overwrite]``
* ``spp reports flood-hits [--run RUN_ID] [--min-depth M]``

Reports arrive through the OGC API (:mod:`spp.ogc.reports`); only approved ones reach the
public endpoint. See :mod:`spp.reports` for the design.
"""

from __future__ import annotations

import getpass
import json
import logging
from typing import TYPE_CHECKING

import click

from spp.cli.options import overwrite_opt
from spp.errors import LayerNotFoundError, SppError
from spp.settings import get_settings

if TYPE_CHECKING:
    import psycopg

    from spp.catalog import Catalog

log = logging.getLogger(__name__)

STATUSES = ("pending", "approved", "rejected")


class ReviewError(SppError, ValueError):
    """A report cannot be reviewed as asked (unknown id, already reviewed)."""

    http_status = 409


def _db() -> tuple[str, Catalog]:
    from spp.catalog import load_catalog
    from spp.store import db

    settings = get_settings()
    return db.url(settings), load_catalog(settings.layers_dir)


def _connect(url: str) -> psycopg.Connection:
    """A connection with ``spp.field_reports`` created from its spec if missing."""
    from spp.catalog import load_spec
    from spp.reports import LAYER, table_ddl
    from spp.store import db
    from spp.store.schema import ensure_meta

    conn = db.connect(url)
    ensure_meta(conn)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('spp.field_reports'))")
    for statement in table_ddl(load_spec(get_settings().layers_dir / f"{LAYER}.yml")):
        conn.execute(statement.encode())
    conn.commit()
    return conn


@click.group("reports")
def reports() -> None:
    """Citizen field reports: list, review (approve/reject), compare with flood runs."""


@reports.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only reports in this state.")
@click.option("--format", "fmt", type=click.Choice(["table", "geojson"]), default="table",
              help="A table for people, or a GeoJSON FeatureCollection (EPSG:4326).")
@click.option("--limit", type=click.IntRange(1), default=200, show_default=True)
def list_reports(status: str | None, fmt: str, limit: int) -> None:
    """List reports, newest first."""
    url, _ = _db()
    with _connect(url) as conn:
        rows = conn.execute(
            "SELECT report_id, category, status, received_at, observed_at, reviewed_by, reviewed_at, "
            "ST_X(geom), ST_Y(geom), description FROM spp.field_reports "
            "WHERE %(status)s::text IS NULL OR status = %(status)s "
            "ORDER BY received_at DESC, report_id LIMIT %(limit)s", {"status": status, "limit": limit}).fetchall()
    if fmt == "geojson":
        keys = ["report_id", "category", "status", "received_at", "observed_at", "reviewed_by", "reviewed_at"]
        features = [{"type": "Feature", "id": r[0], "geometry": {"type": "Point", "coordinates": [r[7], r[8]]},
                     "properties": {**{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                       for k, v in zip(keys, r[:7], strict=True)}, "description": r[9]}}
                    for r in rows]
        click.echo(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"no {status or ''} reports".replace("  ", " "), err=True)
        return
    for r in rows:
        text = (r[9] or "").replace("\n", " ")
        text = text if len(text) <= 60 else text[:59] + "…"
        reviewed = f" by {r[5]}" if r[5] else ""
        click.echo(f"{r[0]}  {r[3]:%Y-%m-%d %H:%M}Z  {r[2]:<8}{reviewed}  {r[1]:<20} "
                   f"({r[7]:.5f}, {r[8]:.5f})  {text}")


@reports.command("review")
@click.argument("report_id")
@click.option("--approve", "decision", flag_value="approved", help="Publish the report.")
@click.option("--reject", "decision", flag_value="rejected", help="Keep it off the public endpoint.")
@click.option("--by", "reviewer", default=None, help="Reviewer's name (default: the OS user).")
@overwrite_opt
def review(report_id: str, decision: str | None, reviewer: str | None, overwrite: bool) -> None:
    """Approve or reject a pending report (--overwrite to change an earlier decision)."""
    if decision is None:
        raise click.UsageError("say --approve or --reject")
    reviewer = (reviewer or getpass.getuser()).strip()
    if not reviewer:
        raise click.UsageError("--by must not be empty")
    url, _ = _db()
    with _connect(url) as conn:
        row = conn.execute("SELECT status, reviewed_by FROM spp.field_reports WHERE report_id = %s FOR UPDATE",
                           (report_id,)).fetchone()
        if row is None:
            raise ReviewError(f"no field report {report_id!r}; see 'spp reports list --status pending'")
        if row[0] != "pending" and not overwrite:
            raise ReviewError(f"report {report_id} is already {row[0]} (by {row[1]}); "
                              "use --overwrite to change the decision")
        conn.execute("UPDATE spp.field_reports SET status = %s, reviewed_by = %s, reviewed_at = now() "
                     "WHERE report_id = %s", (decision, reviewer, report_id))
        conn.commit()
    log.info("report %s %s by %s", report_id, decision, reviewer)
    click.echo(f"{report_id}: {decision} by {reviewer}")


def latest_flood_run(conn: psycopg.Connection) -> str:
    """The id of the latest flood run that has stored extents.

    Latest by ``flood_runs.finished_at`` when that layer is loaded, else the greatest
    ``run_id`` in ``flood_extents``.

    Raises
    ------
    LayerNotFoundError
        When ``flood_extents`` is not loaded or holds no run.
    """
    have = conn.execute("SELECT to_regclass('spp.flood_extents') IS NOT NULL, "
                        "to_regclass('spp.flood_runs') IS NOT NULL").fetchone()
    assert have is not None
    if not have[0]:
        raise LayerNotFoundError("no flood run is stored (layer flood_extents is not loaded); "
                                 "run a flood scenario first with 'spp flood run'")
    if have[1]:
        row = conn.execute("SELECT e.run_id FROM (SELECT DISTINCT run_id FROM spp.flood_extents) e "
                           "LEFT JOIN spp.flood_runs r USING (run_id) "
                           "ORDER BY r.finished_at DESC NULLS LAST, e.run_id DESC LIMIT 1").fetchone()
    else:
        row = conn.execute("SELECT max(run_id) FROM spp.flood_extents").fetchone()
    if row is None or row[0] is None:
        raise LayerNotFoundError("flood_extents holds no run; run a flood scenario with 'spp flood run'")
    return str(row[0])


@reports.command("flood-hits")
@click.option("--run", "run_id", default=None, help="Flood run to compare with (default: the latest).")
@click.option("--min-depth", "min_depth_m", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Count only depth classes starting at or above this depth, in metres.")
def flood_hits(run_id: str | None, min_depth_m: float) -> None:
    """Per commune, the share of approved flooded_street reports inside the run's flood extents."""
    from psycopg import sql

    from spp.reports import LAYER, flood_hit_rates
    from spp.store.query import read_layer

    url, catalog = _db()
    with _connect(url) as conn:
        run_id = run_id or latest_flood_run(conn)
    for name in ("communes", "flood_extents"):
        if name not in catalog:
            raise LayerNotFoundError(f"layer {name!r} is not in the catalogue (layers/{name}.yml)")
    reports_gdf = read_layer(url, catalog.get(LAYER), columns=["report_id", "category", "status"],
                             where=sql.SQL("status = 'approved' AND category = 'flooded_street'"))
    extents = read_layer(url, catalog.get("flood_extents"), columns=["run_id", "depth_min_m"],
                         where=sql.SQL("run_id = {}").format(sql.Literal(run_id)))
    if len(extents) == 0:
        raise LayerNotFoundError(f"flood run {run_id!r} has no stored extents")
    communes = read_layer(url, catalog.get("communes"), columns=["ma_xa", "ten"])
    table = flood_hit_rates(reports_gdf, extents, communes, min_depth_m=min_depth_m)
    click.echo(f"flood run {run_id}: {int(table['hits'].sum())} of {int(table['reports'].sum())} approved "
               f"flooded_street reports inside its extents (depth ≥ {max(min_depth_m, 0.1):g} m)")
    for row in table.itertuples(index=False):
        click.echo(f"{row.commune_id}  {row.commune_name:<28} {row.hits:>4}/{row.reports:<4} "
                   f"{row.hit_share:6.1%}")
