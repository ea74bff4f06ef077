"""``spp scenario``: compound scenarios that chain analyses (flood → telecom)."""

from __future__ import annotations

from typing import Any

import click


@click.group()
def scenario() -> None:
    """Compound scenarios (a flood's effect on the 5G network)."""


def _stage_bar() -> Any:
    from spp.cli.coverage import _stage_bar as bar

    return bar()


def _share(value: float) -> str:
    import math

    return "" if math.isnan(value) else f"{value:.1%}"


@scenario.command("flood-telecom")
@click.argument("flood_scenario", metavar="SCENARIO")
@click.option("--commune", default=None, metavar="NAME",
              help="One commune (name with or without diacritics, or 5-digit code); "
                   "default the whole city (about a minute at 50 m).")
@click.option("--resolution-m", default=50.0, show_default=True, type=float,
              help="Coverage grid cell size, m (EPSG:9210).")
@click.option("--threshold-dbm", default=-110.0, show_default=True, type=float,
              help="5G RSRP at or above this is covered, dBm.")
@click.option("--substation-radius-m", default=15_000.0, show_default=True, type=float,
              help="A site depends on the nearest substation within this distance (0: none).")
@click.option("--default-height-m", default=0.5, show_default=True, type=float,
              help="Critical equipment height where a site or substation gives none, m.")
@click.option("--flood-resolution-m", default=None, type=float,
              help="Cell size of the flood run when none is stored and it must run (m).")
@click.option("--no-buildings", is_flag=True, help="Terrain only for line of sight.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=0),
              help="Sites to list for hardening.")
@click.option("--all-communes", is_flag=True, help="List communes that lose no one too.")
@click.option("--no-store", is_flag=True, help="Compute and print; store nothing.")
def flood_telecom_cmd(flood_scenario: str, commune: str | None, resolution_m: float,
                      threshold_dbm: float, substation_radius_m: float, default_height_m: float,
                      flood_resolution_m: float | None, no_buildings: bool, top: int,
                      all_communes: bool, no_store: bool) -> None:
    """Take the latest stored run of flood SCENARIO (or run it), knock out the telecom
    sites flooded above their critical equipment height or fed by a flooded substation,
    and report 5G coverage per commune during the flood vs normal, the people losing
    service and the sites to harden first.

    SCENARIO: a bundled scenario (spring-tide-storm …), a stored run's scenario
    (static-1.5m) or run id ('spp flood runs'). Stored in flood_telecom_by_commune and
    flood_telecom_sites.
    """
    from spp.compound.run import run_flood_telecom
    from spp.report import text_table
    from spp.settings import get_settings
    from spp.store.db import url

    settings = get_settings()
    run = run_flood_telecom(
        settings, url(settings), flood_scenario, commune=commune, resolution_m=resolution_m,
        threshold_dbm=threshold_dbm, substation_radius_m=substation_radius_m,
        default_height_m=default_height_m, use_buildings=not no_buildings,
        flood_resolution_m=flood_resolution_m, store=not no_store, progress=_stage_bar())
    t = run.communes
    pop = float(t["population"].sum())
    normal, flood = float(t["covered_population_normal"].sum()), float(t["covered_population_flood"].sum())
    down_5g = int((run.sites["technology"] == "5G").sum())
    causes = run.sites["cause"].value_counts().to_dict()
    click.echo(f"run {run.run_id}: {run.area}, flood run {run.flood_run_id}"
               f"{' (run now)' if run.flood_ran else ''}, {run.resolution_m:g} m cells, "
               f"{run.seconds:.1f} s")
    click.echo(f"sites down: {len(run.sites)} of {run.sites_on_air} on air ({down_5g} 5G); "
               f"flooded {causes.get('flooded', 0)}, substation {causes.get('substation', 0)}, "
               f"both {causes.get('both', 0)}; substations flooded: "
               f"{', '.join(run.substations_down) or 'none'}")
    click.echo(f"5G population coverage: {_share(normal / pop if pop else float('nan'))} normal, "
               f"{_share(flood / pop if pop else float('nan'))} during the flood; "
               f"{run.people_losing_service:,.0f} people lose service")
    shown = t if all_communes else t[t["people_losing_service"] > 0]
    shown = shown.sort_values("people_losing_service", ascending=False, kind="stable")
    if len(shown):
        click.echo("")
        click.echo(text_table(
            ["ma_xa", "commune", "people", "5G pop normal", "5G pop flood", "5G area normal",
             "5G area flood", "people losing", "5G sites down"],
            [[r.ma_xa, str(r.commune), round(r.population), _share(r.share_population_normal),
              _share(r.share_population_flood), _share(r.share_area_normal),
              _share(r.share_area_flood), round(r.people_losing_service), int(r.sites_down)]
             for r in shown.itertuples()]))
    ranked = run.sites[run.sites["harden_rank"].notna()].head(top)
    if top and len(ranked):
        click.echo("")
        click.echo("harden first (people who regain 5G if that site alone stays on air):")
        click.echo(text_table(
            ["rank", "site", "operator", "ma_xa", "depth m", "equipment m", "cause",
             "substation", "people regained"],
            [[int(r.harden_rank), r.site_id, r.operator, r.ma_xa, round(float(r.depth_m), 2),
              round(float(r.critical_equipment_height_m), 2), r.cause, r.substation_id or "",
              round(float(r.people_regained))] for r in ranked.itertuples()]))
    subs = run.substations
    if subs is not None and len(subs):
        click.echo("")
        click.echo("flooded substations (people who regain 5G if that one stayed dry):")
        click.echo(text_table(
            ["substation", "name", "depth m", "sites cut off", "only cause", "people regained"],
            [[r.substation_id, r.name, round(float(r.depth_m), 2), int(r.sites_cut_off),
              int(r.sites_only_cut_off), round(float(r.people_regained))]
             for r in subs.head(top or len(subs)).itertuples()]))
    if run.versions:
        click.echo("stored: " + ", ".join(f"{k} v{v}" for k, v in run.versions.items()))
