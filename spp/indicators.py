"""IOC indicators per commune (pure functions on GeoDataFrames, no I/O).

One row per 2025 commune (xã/phường): population, area, counts and densities of street
lights, pump stations, water-level sensors and mobile sites, the 5G coverage and
fibre-passable shares of the latest analysis rows, the flood exposure of the latest run of
each scenario, and whether the city's targets are met (100 % 5G coverage, >90 % of households
fibre-passable — "met" at ≥ 90 %, as :func:`spp.broadband.household_shares` decides).

Areas are measured on the VN-2000 / TM-3 105°45′ plane (EPSG:9210) by
:func:`spp.zonal.area_km2`; densities are per km². Shares are percentages (0–100).

The analysis result layers (``coverage_by_commune``, ``fibre_by_commune``,
``flood_exposure``) are written by other modules and may be absent; their columns are found
by name among a few accepted spellings (:data:`COLUMN_CANDIDATES`), so a missing layer or
column gives NULL indicators, never an error.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd

from spp.errors import CRSError
from spp.zonal import area_km2, count_within

__all__ = [
    "COLUMN_CANDIDATES",
    "TARGET_5G_PCT",
    "TARGET_FIBRE_PCT",
    "IndicatorInputs",
    "compute_indicators",
    "coverage_pct",
    "fibre_pct",
    "flood_exposure_by_commune",
    "latest_rows",
    "share_pct",
    "snapshot_id",
    "target_status",
    "with_runs",
]

log = logging.getLogger(__name__)

TARGET_5G_PCT = 100.0
"""City target: every commune fully covered by 5G (population share, %)."""
TARGET_FIBRE_PCT = 90.0
"""City target: more than 90 % of households fibre-passable (%)."""

COLUMN_CANDIDATES: dict[str, tuple[str, ...]] = {
    "commune": ("ma_xa", "commune_id", "commune_code", "commune"),
    "operator": ("operator",),
    "run_time": ("computed_at", "run_at", "finished_at", "started_at", "created_at", "run_time", "valid_from"),
    "run_id": ("run_id", "run", "run_no"),
    "scenario": ("scenario", "scenario_name", "scenario_id"),
    "technology": ("technology", "tech"),
    "coverage_area": ("share_area_pct", "area_pct", "coverage_area_pct", "share_area", "area_share",
                      "covered_area_share"),
    "coverage_population": ("share_population_pct", "population_pct", "coverage_population_pct",
                            "share_population", "population_share", "covered_population_share"),
    "fibre": ("share_households_pct", "households_pct", "passable_pct", "share_pct", "share",
              "share_households", "households_share", "passable_share"),
    "flood_area": ("flooded_area_km2", "flooded_km2", "area_flooded_km2", "flood_area_km2"),
    "flood_share": ("flooded_share_pct", "share_flooded_pct", "flooded_pct", "flooded_share",
                    "share_flooded", "share"),
    "flood_people": ("people", "people_exposed", "population_exposed", "flooded_population", "exposed_people"),
}
"""Accepted column names (first present wins) in the analysis result layers."""


@dataclass(frozen=True)
class IndicatorInputs:
    """The layers the indicators are computed from (EPSG:4326 or any one shared CRS).

    ``communes`` needs ``ma_xa``, ``ten`` and ``dan_so`` (persons); point layers may be
    ``None`` (counts are then NULL); analysis tables (any run, all rows) may be ``None``.
    """

    communes: gpd.GeoDataFrame
    street_lights: gpd.GeoDataFrame | None = None
    pump_stations: gpd.GeoDataFrame | None = None
    water_level_sensors: gpd.GeoDataFrame | None = None
    telecom_sites: gpd.GeoDataFrame | None = None
    coverage: pd.DataFrame | None = None
    fibre: pd.DataFrame | None = None
    flood: pd.DataFrame | None = None
    coverage_runs: pd.DataFrame | None = None
    """One row per coverage run (``run_id`` + a run time); tells which run is the latest."""
    flood_runs: pd.DataFrame | None = None
    """One row per flood run (``run_id``, ``scenario``, a run time)."""


def _pick(frame: pd.DataFrame, role: str) -> str | None:
    for name in COLUMN_CANDIDATES[role]:
        if name in frame.columns:
            return name
    return None


def snapshot_id(ma_xa: str, computed_at: datetime) -> str:
    """Row id of one commune in one snapshot.

    >>> from datetime import datetime, timezone
    >>> snapshot_id("31117", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    '31117@20260102T030405Z'
    """
    return f"{ma_xa}@{computed_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def latest_rows(frame: pd.DataFrame, *, by: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of the latest run (per group of ``by`` columns) of an analysis table.

    The run is told by the first column found among the run-time candidates, else the run
    id candidates (largest = latest); a table with neither is one run.

    >>> t = pd.DataFrame({"run_id": [1, 1, 2, 3], "scenario": ["a", "a", "a", "b"], "x": [0, 1, 2, 3]})
    >>> latest_rows(t)["x"].tolist()
    [3]
    >>> latest_rows(t, by=["scenario"])["x"].tolist()
    [2, 3]
    """
    if frame.empty:
        return frame
    col = _pick(frame, "run_time") or _pick(frame, "run_id")
    if col is None:
        return frame
    if not by:
        return frame[frame[col] == frame[col].max()]
    latest = frame.groupby(list(by), dropna=False)[col].transform("max")
    return frame[frame[col] == latest]


def share_pct(values: pd.Series, column: str) -> pd.Series:
    """A share column as a percentage: columns named ``*pct*``/``*percent*`` are taken as
    percentages, others as fractions (0–1) unless a value exceeds 1.

    >>> share_pct(pd.Series([0.5, 1.0]), "share").tolist()
    [50.0, 100.0]
    >>> share_pct(pd.Series([50.0]), "share_pct").tolist()
    [50.0]
    """
    num = pd.to_numeric(values, errors="coerce").astype(float)
    if "pct" in column or "percent" in column or (num.dropna() > 1.0 + 1e-9).any():
        return num.clip(0.0, 100.0)
    return (num * 100.0).clip(0.0, 100.0)


def with_runs(frame: pd.DataFrame, runs: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` with the run time (and scenario) of its ``run_id`` from a runs table, so that
    :func:`latest_rows` can tell the latest run by time rather than by id.

    >>> rows = pd.DataFrame({"run_id": ["b", "a"], "x": [1, 2]})
    >>> runs = pd.DataFrame({"run_id": ["a", "b"], "run_at": [2, 1]})
    >>> latest_rows(with_runs(rows, runs))["x"].tolist()
    [2]
    """
    run_id = _pick(frame, "run_id")
    if runs is None or runs.empty or run_id is None or "run_id" not in runs.columns:
        return frame
    extra = [c for c in (_pick(runs, "run_time"), _pick(runs, "scenario")) if c and c not in frame.columns]
    if not extra:
        return frame
    info = runs.drop_duplicates("run_id").set_index("run_id")[extra]
    return frame.join(info, on=run_id)


def _by_commune(frame: pd.DataFrame | None, role: str, *, runs: pd.DataFrame | None = None,
                five_g_only: bool = False) -> pd.Series | None:
    """Percentage of ``role`` per commune code from each commune's latest run (runs may
    cover one commune or the city), or ``None`` when unavailable."""
    if frame is None or frame.empty:
        return None
    key = _pick(frame, "commune")
    if key is None:
        log.warning("analysis rows have none of the commune columns %s", COLUMN_CANDIDATES["commune"])
        return None
    rows = with_runs(frame, runs)
    tech = _pick(rows, "technology")
    if five_g_only and tech is not None:
        rows = rows[rows[tech].astype(str).str.upper() == "5G"]
    operator = _pick(rows, "operator")
    if operator is not None and (rows[operator].astype(str) == "all").any():
        rows = rows[rows[operator].astype(str) == "all"]  # every operator together
    rows = latest_rows(rows, by=[key])
    col = _pick(rows, role)
    if col is None or rows.empty:
        return None
    values = share_pct(rows[col], col)
    return values.groupby(rows[key].astype(str)).mean()


def coverage_pct(coverage: pd.DataFrame | None, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """5G coverage per commune of its latest run: ``area_pct`` and ``population_pct`` (%),
    indexed by commune code (other technologies are ignored when a technology column is
    present; the operator ``all`` rows are used when present)."""
    area = _by_commune(coverage, "coverage_area", runs=runs, five_g_only=True)
    pop = _by_commune(coverage, "coverage_population", runs=runs, five_g_only=True)
    out = pd.DataFrame({"area_pct": area if area is not None else pd.Series(dtype=float),
                        "population_pct": pop if pop is not None else pd.Series(dtype=float)})
    return out


def fibre_pct(fibre: pd.DataFrame | None) -> pd.Series:
    """Fibre-passable households per commune of the latest run (%), by commune code."""
    found = _by_commune(fibre, "fibre")
    return found if found is not None else pd.Series(dtype=float)


def flood_exposure_by_commune(flood: pd.DataFrame | None, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Flood exposure of the latest run of each scenario, summarised per commune code.

    Returns columns ``worst_scenario`` (the scenario with the largest flooded share, then
    area), ``worst_area_km2``, ``worst_share_pct``, ``worst_people`` and ``by_scenario`` (JSON
    text ``{"worst_scenario": …, "scenarios": {scenario: {run, area_km2, share_pct, people}}}``);
    empty when no exposure rows are available.
    """
    cols = ["worst_scenario", "worst_area_km2", "worst_share_pct", "worst_people", "by_scenario"]
    if flood is None or flood.empty or _pick(flood, "commune") is None:
        return pd.DataFrame(columns=cols)
    key = str(_pick(flood, "commune"))
    rows = with_runs(flood, runs).copy()
    scen = _pick(rows, "scenario")
    if scen is None:
        scen = "_scenario"
        rows[scen] = "default"
    rows = latest_rows(rows, by=[key, scen])
    area_col, share_col, people_col = (_pick(rows, r) for r in ("flood_area", "flood_share", "flood_people"))
    run_col = _pick(rows, "run_id") or _pick(rows, "run_time")
    rows = rows.assign(
        _area=pd.to_numeric(rows[area_col], errors="coerce") if area_col else np.nan,
        _share=share_pct(rows[share_col], share_col) if share_col else np.nan,
        _people=pd.to_numeric(rows[people_col], errors="coerce") if people_col else np.nan,
        _run=rows[run_col].astype(str) if run_col else None,
    )
    out: dict[str, dict[str, object]] = {}
    for code, group in rows.groupby(rows[key].astype(str)):
        detail = {
            str(r[scen]): {"run": r["_run"], "area_km2": _num(r["_area"]), "share_pct": _num(r["_share"]),
                           "people": _num(r["_people"])}
            for _, r in group.iterrows()
        }
        ranked = group.assign(_s=group["_share"].fillna(-1), _a=group["_area"].fillna(-1))
        worst = ranked.sort_values(["_s", "_a"], ascending=False).iloc[0]
        out[str(code)] = {
            "worst_scenario": str(worst[scen]),
            "worst_area_km2": _num(worst["_area"]),
            "worst_share_pct": _num(worst["_share"]),
            "worst_people": _num(worst["_people"]),
            "by_scenario": json.dumps({"worst_scenario": str(worst[scen]), "scenarios": detail},
                                      ensure_ascii=False, sort_keys=True),
        }
    return pd.DataFrame.from_dict(out, orient="index", columns=cols)


def _num(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def target_status(share: pd.Series, *, target_pct: float) -> tuple[pd.Series, pd.Series]:
    """Whether each share (%) meets ``target_pct`` (≥) and the gap to it (percentage points,
    0 when met); both NULL (``pd.NA``/NaN) where the share is unknown.

    >>> met, gap = target_status(pd.Series([95.0, 80.0, None]), target_pct=90.0)
    >>> met.tolist(), [round(g, 1) if g == g else None for g in gap]
    ([True, False, <NA>], [0.0, 10.0, None])
    """
    share = pd.to_numeric(share, errors="coerce").astype(float)
    known = share.notna()
    met = pd.Series(pd.NA, index=share.index, dtype="boolean")
    met[known] = share[known] >= target_pct - 1e-9
    gap = (target_pct - share).clip(lower=0.0).where(known)
    return met, gap


def _count(points: gpd.GeoDataFrame | None, zones: gpd.GeoDataFrame) -> pd.Series:
    if points is None:
        return pd.Series(pd.NA, index=zones["ma_xa"].to_numpy(), dtype="Int64")
    if len(points) == 0:
        return pd.Series(0, index=zones["ma_xa"].to_numpy(), dtype="Int64")
    if points.crs != zones.crs:
        raise CRSError(f"points are in {points.crs}, communes in {zones.crs}; reproject one of them")
    return count_within(points, zones, zone_id="ma_xa").astype("Int64")


def compute_indicators(inputs: IndicatorInputs, *, computed_at: datetime) -> gpd.GeoDataFrame:
    """One snapshot of the IOC indicators: one row per commune of ``inputs.communes``.

    Parameters
    ----------
    inputs
        Communes (``ma_xa``, ``ten``, ``dan_so`` persons, polygons), point layers and
        analysis tables; all geometries in one CRS (EPSG:4326 as read from the store).
    computed_at
        Time of the snapshot (timezone-aware; stored in UTC).

    Returns
    -------
    GeoDataFrame
        The fields of ``layers/commune_indicators.yml`` plus the commune geometry, in the
        communes' CRS; areas in km² on EPSG:9210, densities per km², shares in %.

    Raises
    ------
    CRSError
        When a point layer's CRS differs from the communes'.
    ValueError
        When ``computed_at`` is naive.
    """
    if computed_at.tzinfo is None:
        raise ValueError("computed_at must be timezone-aware (UTC)")
    communes = inputs.communes.reset_index(drop=True)
    codes = communes["ma_xa"].astype(str)
    area = area_km2(communes).to_numpy(dtype=float)
    out = pd.DataFrame({
        "snapshot_id": [snapshot_id(c, computed_at) for c in codes],
        "ma_xa": codes,
        "ten": communes["ten"].astype(str),
        "computed_at": pd.Timestamp(computed_at).tz_convert("UTC"),
        "population": pd.to_numeric(communes["dan_so"], errors="coerce").astype("Int64"),
        "area_km2": area,
    })

    def density(counts: pd.Series) -> pd.Series:
        return pd.Series(counts.astype("Float64").to_numpy() / np.where(area > 0, area, np.nan)).astype("Float64")

    sites = inputs.telecom_sites
    if sites is not None and "status" in sites.columns:
        sites = sites[sites["status"].astype(str) != "planned"]
    sites_5g = None if sites is None else sites[sites.get("technology", pd.Series("", index=sites.index))
                                                .astype(str).str.upper() == "5G"]
    for name, layer in (("street_lights", inputs.street_lights), ("pump_stations", inputs.pump_stations),
                        ("water_level_sensors", inputs.water_level_sensors), ("telecom_sites", sites),
                        ("telecom_sites_5g", sites_5g)):
        counts = _count(layer, communes).reindex(codes.to_numpy()).reset_index(drop=True)
        out[name] = counts
        out[f"{name}_per_km2"] = density(counts)

    cov = coverage_pct(inputs.coverage, inputs.coverage_runs)
    out["coverage_5g_area_pct"] = codes.map(cov["area_pct"]).astype(float)
    out["coverage_5g_population_pct"] = codes.map(cov["population_pct"]).astype(float)
    out["fibre_households_pct"] = codes.map(fibre_pct(inputs.fibre)).astype(float)
    share_5g = out["coverage_5g_population_pct"].fillna(out["coverage_5g_area_pct"])
    out["target_5g_met"], out["target_5g_gap_pct"] = target_status(share_5g, target_pct=TARGET_5G_PCT)
    out["target_fibre_met"], out["target_fibre_gap_pct"] = target_status(out["fibre_households_pct"],
                                                                         target_pct=TARGET_FIBRE_PCT)
    flood = flood_exposure_by_commune(inputs.flood, inputs.flood_runs)
    for src, dst in (("worst_area_km2", "flood_worst_area_km2"), ("worst_share_pct", "flood_worst_share_pct"),
                     ("worst_people", "flood_worst_people")):
        out[dst] = codes.map(flood[src]).astype(float) if len(flood) else np.nan
    # "{}" rather than NULL: no flood run yet, or none touching this commune
    out["flood_by_scenario"] = (codes.map(flood["by_scenario"]) if len(flood) else pd.Series(None, index=out.index,
                                dtype=object)).fillna("{}")
    for col in out.columns:  # nullable extension dtypes → plain objects with None for NULL
        if isinstance(out[col].dtype, pd.api.extensions.ExtensionDtype) and col != "computed_at":
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return gpd.GeoDataFrame(out, geometry=communes.geometry.to_numpy(), crs=communes.crs)
