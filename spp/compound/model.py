"""Compound flood → telecom scenario: which sites a flood takes off air, the 5G coverage
left, the people who lose service and which site to harden first (pure functions).

Rules
-----
* A site or substation is **flooded** when the maximum flood depth in the cell holding it
  is greater than its ``critical_equipment_height_m`` (metres above ground; empty =
  :data:`DEFAULT_EQUIPMENT_HEIGHT_M`, 0.5 m). Points outside the depth grid or on nodata
  are dry.
* The telecom layer does not say which substation feeds a site, so a site depends on the
  **nearest substation within** ``radius_m`` (:data:`SUBSTATION_RADIUS_M`, 15 km: the
  reach of a 110 kV substation's 22 kV feeders in the delta), straight-line distance in the
  grid CRS. A site with no substation that near has no substation dependency; a radius of
  0 switches the dependency off.
* A site is **down** when it is flooded or its substation is flooded (``cause``:
  ``flooded``, ``substation`` or ``both``).
* 5G coverage during the flood is the best-server coverage
  (:func:`spp.coverage.model.best_server`) of the 5G sectors still on air; a cell is
  covered when the best RSRP is ≥ the threshold, i.e. when *any* sector reaches it. So
  coverage in normal times is the flood coverage plus the cells each down site reaches,
  and **hardening** one down site (raised equipment and backup power: it stays on air)
  regains exactly the people in cells that site reaches and that nothing else covers
  during the flood. That marginal gain is computed per site from its own RSRP window,
  exact and without a second full run.

Grids are projected in metres (EPSG:9210, VN-2000 / TM-3 105°45′ for Can Tho); layers may
come in any CRS and are reprojected to the grid's; depths are metres.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from spp.errors import CRSError, RasterError, ScenarioError

if TYPE_CHECKING:
    import geopandas as gpd
    from affine import Affine

    from spp.coverage.los import Grid
    from spp.coverage.model import CoverageSettings, Sector

__all__ = [
    "DEFAULT_EQUIPMENT_HEIGHT_M",
    "EQUIPMENT_FIELD",
    "SUBSTATION_RADIUS_M",
    "OutageCoverage",
    "commune_outage",
    "depth_at_points",
    "flag_flooded",
    "link_substations",
    "outage_coverage",
    "radio_sites",
    "rank_hardening",
    "sites_down",
]

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]

DEFAULT_EQUIPMENT_HEIGHT_M = 0.5
"""Critical equipment height (m above ground) of a site or substation that gives none."""
SUBSTATION_RADIUS_M = 15_000.0
"""A site depends on the nearest substation within this distance (metres)."""
EQUIPMENT_FIELD = "critical_equipment_height_m"
"""Catalogue field of ``telecom_sites`` and ``substations`` holding that height."""


def depth_at_points(
    depth_m: NDArray[np.floating], transform: Affine, x: NDArray[np.floating],
    y: NDArray[np.floating],
) -> NDArray[np.float64]:
    """Depth (m) of the cell holding each point; NaN outside the grid or on nodata.

    ``x``, ``y`` are in the grid's projected CRS (metres).

    >>> from affine import Affine
    >>> d = np.array([[0.2, 1.0], [np.nan, 0.0]])
    >>> depth_at_points(d, Affine(10, 0, 0, 0, -10, 20), np.array([15.0, 5.0, 50.0]),
    ...                 np.array([15.0, 5.0, 5.0]))
    array([ 1., nan, nan])
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    cols_f, rows_f = ~transform @ (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    rows = np.floor(np.asarray(rows_f)).astype(np.int64)
    cols = np.floor(np.asarray(cols_f)).astype(np.int64)
    ok = (rows >= 0) & (rows < depth.shape[0]) & (cols >= 0) & (cols < depth.shape[1])
    out = np.full(rows.shape, np.nan, dtype=np.float64)
    out[ok] = depth[rows[ok], cols[ok]]
    return out


def radio_sites(
    sites: gpd.GeoDataFrame,
    *,
    grid: Grid | None = None,
    ground: NDArray[np.floating] | None = None,
) -> gpd.GeoDataFrame:
    """On-air ``telecom_sites`` rows with the field names of
    :func:`spp.coverage.model.sectors_from_sites` (antenna height ``height_m`` from
    ``equipment_height_m``, the structure height as ``structure_height_m``, ``azimuths``).

    With ``grid`` and ``ground`` (metres, NaN nodata) only sites on a valid cell are kept,
    as a coverage run needs.
    """
    frame = sites
    if "status" in frame:
        frame = frame[frame["status"].fillna("on_air") == "on_air"]
    frame = frame.rename(columns={"height_m": "structure_height_m"})
    frame = frame.rename(columns={"equipment_height_m": "height_m", "azimuths_deg": "azimuths"})
    if grid is None or ground is None:
        return frame
    metric = _metric(frame, grid.crs, "sites")
    cols_f, rows_f = ~grid.transform @ (metric.geometry.x.to_numpy(), metric.geometry.y.to_numpy())
    rows, cols = np.floor(rows_f).astype(int), np.floor(cols_f).astype(int)
    ok = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
    ok[ok] = np.isfinite(np.asarray(ground)[rows[ok], cols[ok]])
    if (~ok).any():
        log.info("%d site(s) outside the grid or on nodata left out", int((~ok).sum()))
    return frame[ok]


def _metric(frame: gpd.GeoDataFrame, crs: Any, what: str) -> gpd.GeoDataFrame:
    if frame.crs is None:
        raise CRSError(f"{what} have no CRS; set one (e.g. EPSG:4326) first")
    return frame.to_crs(crs)


def flag_flooded(
    assets: gpd.GeoDataFrame,
    depth_m: NDArray[np.floating],
    *,
    transform: Affine,
    crs: Any,
    default_height_m: float = DEFAULT_EQUIPMENT_HEIGHT_M,
) -> pd.DataFrame:
    """Depth and flooded flag of point assets (sites, substations).

    Parameters
    ----------
    assets : GeoDataFrame
        Points in any CRS; optional :data:`EQUIPMENT_FIELD` (m above ground).
    depth_m : ndarray
        Maximum flood depth, metres (NaN nodata), on the grid of ``transform``.
    transform, crs
        The depth grid's transform and projected CRS (EPSG:9210).
    default_height_m : float
        Height used where the asset gives none.

    Returns
    -------
    DataFrame
        Same index: ``depth_m`` (0 where dry or outside the grid),
        ``critical_equipment_height_m`` (default filled) and ``flooded``
        (depth > height).

    Raises
    ------
    CRSError
        ``assets`` have no CRS.
    """
    if not default_height_m >= 0:
        raise ScenarioError(f"default_height_m must be ≥ 0 m, got {default_height_m!r}")
    metric = _metric(assets, crs, "assets")
    pts = metric.geometry.representative_point()
    depth = depth_at_points(depth_m, transform, pts.x.to_numpy(), pts.y.to_numpy())
    depth = np.where(np.isfinite(depth), np.maximum(depth, 0.0), 0.0)
    if EQUIPMENT_FIELD in assets:
        height = pd.to_numeric(assets[EQUIPMENT_FIELD], errors="coerce").to_numpy(float)
        height = np.where(np.isfinite(height), height, default_height_m)
    else:
        height = np.full(len(assets), float(default_height_m))
    return pd.DataFrame({"depth_m": depth, EQUIPMENT_FIELD: height, "flooded": depth > height},
                        index=assets.index)


def link_substations(
    sites: gpd.GeoDataFrame,
    substations: gpd.GeoDataFrame,
    *,
    crs: Any,
    radius_m: float = SUBSTATION_RADIUS_M,
    id_field: str = "substation_id",
) -> pd.Series:
    """The substation feeding each site: the nearest one within ``radius_m`` metres.

    Distances are straight lines in ``crs`` (projected, metres). Returns a Series on the
    sites' index holding the substation's ``id_field``, or ``None`` when none is that near
    (or ``radius_m`` is 0).

    Raises
    ------
    CRSError
        A frame has no CRS.
    """
    from scipy.spatial import cKDTree

    out = pd.Series([None] * len(sites), index=sites.index, dtype=object)
    if radius_m <= 0 or len(sites) == 0 or len(substations) == 0:
        return out
    s = _metric(sites, crs, "sites").geometry.representative_point()
    b = _metric(substations, crs, "substations").geometry.representative_point()
    dist, idx = cKDTree(np.column_stack([b.x, b.y])).query(np.column_stack([s.x, s.y]))
    ids = substations[id_field].astype(str).to_numpy()
    near = dist <= radius_m
    out[near] = ids[idx[near]]
    return out


def sites_down(
    sites: gpd.GeoDataFrame,
    substations: gpd.GeoDataFrame,
    depth_m: NDArray[np.floating],
    *,
    transform: Affine,
    crs: Any,
    radius_m: float = SUBSTATION_RADIUS_M,
    default_height_m: float = DEFAULT_EQUIPMENT_HEIGHT_M,
) -> gpd.GeoDataFrame:
    """Every site with its flood state; ``down`` marks those the flood takes off air.

    Parameters
    ----------
    sites : GeoDataFrame
        Telecom sites (points, any CRS), optional :data:`EQUIPMENT_FIELD`.
    substations : GeoDataFrame
        Substations (points, any CRS) with ``substation_id``, optional
        :data:`EQUIPMENT_FIELD`.
    depth_m, transform, crs
        Maximum flood depth (m) and its grid (projected, metres).
    radius_m : float
        Feeding radius of a substation, metres (see :func:`link_substations`).
    default_height_m : float
        Critical equipment height where none is given, metres.

    Returns
    -------
    GeoDataFrame
        ``sites`` plus ``depth_m``, ``critical_equipment_height_m`` (filled),
        ``site_flooded``, ``substation_id``, ``substation_depth_m``,
        ``substation_flooded``, ``down`` and ``cause`` (``flooded``, ``substation``,
        ``both`` or None).
    """
    state = flag_flooded(sites, depth_m, transform=transform, crs=crs,
                         default_height_m=default_height_m)
    out = sites.copy()
    out["depth_m"] = state["depth_m"]
    out[EQUIPMENT_FIELD] = state[EQUIPMENT_FIELD]
    out["site_flooded"] = state["flooded"]
    feed = link_substations(sites, substations, crs=crs, radius_m=radius_m)
    out["substation_id"] = feed
    if len(substations):
        sub = flag_flooded(substations, depth_m, transform=transform, crs=crs,
                           default_height_m=default_height_m)
        sub.index = substations["substation_id"].astype(str).to_numpy()
        out["substation_depth_m"] = feed.map(sub["depth_m"]).astype(float)
        out["substation_flooded"] = feed.map(sub["flooded"]).fillna(False).astype(bool)
    else:
        out["substation_depth_m"] = np.nan
        out["substation_flooded"] = False
    a, b = out["site_flooded"].to_numpy(bool), out["substation_flooded"].to_numpy(bool)
    out["down"] = a | b
    cause = np.full(len(out), None, dtype=object)
    cause[a] = "flooded"
    cause[b] = "substation"
    cause[a & b] = "both"
    out["cause"] = cause
    return out


@dataclass
class OutageCoverage:
    """Coverage in normal times and during the flood on one grid, and hardening gains.

    ``gains`` maps each down site's id to the people (sum of ``population`` cells) who
    regain coverage if that site alone stays on air; ``gain_cells`` the number of cells;
    ``group_gains`` the people regained if every site of a group comes back together
    (e.g. the sites cut off only by one substation: what keeping it dry is worth).
    """

    covered_normal: NDArray[np.bool_]
    covered_flood: NDArray[np.bool_]
    rsrp_flood_dbm: NDArray[np.float32]
    gains: dict[str, float] = field(default_factory=dict)
    gain_cells: dict[str, int] = field(default_factory=dict)
    group_gains: dict[str, float] = field(default_factory=dict)


def outage_coverage(
    ground: NDArray[np.floating],
    grid: Grid,
    *,
    sectors_up: Sequence[Sector],
    sectors_down: Sequence[Sector],
    threshold_dbm: float,
    population: NDArray[np.floating],
    surface: NDArray[np.floating] | None = None,
    settings: CoverageSettings | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    progress: Progress | None = None,
) -> OutageCoverage:
    """Coverage with every sector (normal) and with ``sectors_up`` only (flood).

    Parameters
    ----------
    ground : ndarray
        Ground elevation, metres, on ``grid`` (projected, metres; NaN nodata).
    grid : Grid
    sectors_up, sectors_down : sequence of Sector
        Sectors still on air and taken off air (x, y in ``grid.crs``).
    threshold_dbm : float
        RSRP at or above this is covered, dBm.
    population : ndarray
        People per cell on ``grid``; cells outside the study area should hold 0.
    surface : ndarray, optional
        Ground + building heights, metres, for line of sight.
    settings : CoverageSettings, optional
    groups : mapping of str to sequence of str, optional
        Named groups of down site ids whose joint gain is wanted (one full-grid mask
        each, so keep them few).
    progress : callable, optional
        ``progress(done, total)`` over masts (up masts, then down sites).

    Returns
    -------
    OutageCoverage
        ``covered_flood`` is the best-server coverage of ``sectors_up``;
        ``covered_normal`` adds the cells any down sector covers; ``gains`` per down
        ``site_id`` (sectors grouped by site, masts by position and height).

    Raises
    ------
    ScenarioError, RasterError
        As :func:`spp.coverage.model.best_server`.
    """
    from spp.coverage.model import CoverageSettings, best_server, sector_rsrp_window

    settings = settings or CoverageSettings()
    pop = np.asarray(population, dtype=np.float64)
    if pop.shape != grid.shape:
        raise RasterError(f"population grid {pop.shape} does not match the grid {grid.shape}")
    g64 = np.asarray(ground, dtype=np.float64)
    s64 = g64 if surface is None else np.asarray(surface, dtype=np.float64)
    masts_up = len({(s.x, s.y, s.height_m) for s in sectors_up})
    by_site: dict[str, dict[tuple[float, float, float], list[Sector]]] = {}
    for s in sectors_down:
        by_site.setdefault(s.site_id, {}).setdefault((s.x, s.y, s.height_m), []).append(s)
    total = masts_up + len(by_site)
    if sectors_up:
        up = best_server(g64, grid, list(sectors_up), surface=s64, settings=settings,
                         progress=(lambda d, n: progress(d, total)) if progress else None)[()]
        rsrp = up.rsrp_dbm
    else:
        rsrp = np.full(grid.shape, np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        flood = np.asarray(rsrp >= threshold_dbm)
    normal = flood.copy()
    gains: dict[str, float] = {}
    gain_cells: dict[str, int] = {}
    groups = dict(groups or {})
    group_reach = {name: np.zeros(grid.shape, dtype=bool) for name in groups}
    member_of: dict[str, list[str]] = {}
    for name, ids in groups.items():
        for site_id in ids:
            member_of.setdefault(str(site_id), []).append(name)
    for done, (site_id, masts) in enumerate(by_site.items(), start=masts_up + 1):
        reach = np.zeros(grid.shape, dtype=bool)
        for sectors in masts.values():
            windows, (r0, c0) = sector_rsrp_window(g64, grid, sectors=sectors, surface=s64,
                                                   settings=settings)
            for win in windows:
                sl = (slice(r0, r0 + win.shape[0]), slice(c0, c0 + win.shape[1]))
                with np.errstate(invalid="ignore"):
                    reach[sl] |= win >= threshold_dbm
        regained = reach & ~flood
        gains[site_id] = float(pop[regained].sum())
        gain_cells[site_id] = int(regained.sum())
        normal |= reach
        for name in member_of.get(site_id, []):
            group_reach[name] |= reach
        if progress is not None:
            progress(done, total)
    log.info("outage coverage: %d sectors up on %d masts, %d sites down", len(sectors_up),
             masts_up, len(by_site))
    group_gains = {name: float(pop[mask & ~flood].sum()) for name, mask in group_reach.items()}
    return OutageCoverage(normal, flood, rsrp, gains, gain_cells, group_gains)


def commune_outage(
    communes: gpd.GeoDataFrame,
    outage: OutageCoverage,
    grid: Grid,
    *,
    population: NDArray[np.floating],
    down_5g: gpd.GeoDataFrame | None = None,
    id_field: str = "ma_xa",
    name_field: str = "ten",
) -> pd.DataFrame:
    """Per commune: 5G coverage normal vs flood, people losing service, 5G sites down.

    A cell belongs to the commune holding its centre; a site to the commune holding its
    cell. Returns one row per commune: ``ma_xa``, ``commune``, ``area_km2``,
    ``population``, ``share_area_normal``/``_flood``, ``covered_population_normal``/
    ``_flood``, ``share_population_normal``/``_flood`` (0–1, NaN for an empty
    denominator), ``people_losing_service`` (people in cells covered normally but not
    during the flood) and ``sites_down``.
    """
    from spp.coverage.gaps import commune_labels, coverage_shares

    labels = commune_labels(communes, grid)
    normal = coverage_shares(communes, outage.covered_normal, grid, population=population,
                             id_field=id_field, name_field=name_field, labels=labels)
    flood = coverage_shares(communes, outage.covered_flood, grid, population=population,
                            id_field=id_field, name_field=name_field, labels=labels)
    n = len(communes)
    lost_mask = outage.covered_normal & ~outage.covered_flood
    pop = np.asarray(population, dtype=np.float64).ravel()
    lost = np.bincount(labels.ravel(), weights=pop * lost_mask.ravel(), minlength=n + 1)[1:]
    down = np.zeros(n, dtype=np.int64)
    if down_5g is not None and len(down_5g):
        pts = _metric(down_5g, grid.crs, "sites").geometry
        cols_f, rows_f = ~grid.transform @ (pts.x.to_numpy(), pts.y.to_numpy())
        rows, cols = np.floor(rows_f).astype(int), np.floor(cols_f).astype(int)
        ok = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
        lab = labels[rows[ok], cols[ok]]
        down = np.bincount(lab, minlength=n + 1)[1:].astype(np.int64)
    return pd.DataFrame({
        "ma_xa": normal["id"].astype(str).to_numpy(), "commune": normal["name"].to_numpy(),
        "area_km2": normal["area_km2"].to_numpy(), "population": normal["population"].to_numpy(),
        "share_area_normal": normal["share_area"].to_numpy(),
        "share_area_flood": flood["share_area"].to_numpy(),
        "covered_population_normal": normal["covered_population"].to_numpy(),
        "covered_population_flood": flood["covered_population"].to_numpy(),
        "share_population_normal": normal["share_population"].to_numpy(),
        "share_population_flood": flood["share_population"].to_numpy(),
        "people_losing_service": lost, "sites_down": down,
    })


def rank_hardening(down: gpd.GeoDataFrame, gains: dict[str, float]) -> gpd.GeoDataFrame:
    """Down sites with ``people_regained`` and ``harden_rank`` (1 = harden first).

    Sites in ``gains`` (the 5G sites) are ranked by people regained, most first, ties by
    ``site_id``; other sites get 0 people and no rank. Sorted by rank, unranked last.

    >>> import geopandas as gpd
    >>> f = gpd.GeoDataFrame({"site_id": ["a", "b", "c"]}, geometry=gpd.points_from_xy(
    ...     [0, 1, 2], [0, 0, 0]), crs=9210)
    >>> rank_hardening(f, {"a": 5.0, "b": 9.0})[["site_id", "harden_rank"]].values.tolist()
    [['b', 1], ['a', 2], ['c', <NA>]]
    """
    out = down.copy()
    ids = out["site_id"].astype(str)
    out["people_regained"] = ids.map(gains).fillna(0.0).astype(float)
    ranked = ids.isin(list(gains))
    order = out[ranked].assign(_id=ids[ranked]).sort_values(
        ["people_regained", "_id"], ascending=[False, True], kind="stable").index
    rank = pd.Series(pd.NA, index=out.index, dtype="Int64")
    rank.loc[order] = np.arange(1, len(order) + 1)
    out["harden_rank"] = rank
    out = out.assign(_unranked=rank.isna(), _r=rank.fillna(0)).sort_values(
        ["_unranked", "_r"], kind="stable").drop(columns=["_unranked", "_r"])
    return out.reset_index(drop=True)
