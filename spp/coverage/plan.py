"""Greedy site plan: new sites that cover the most uncovered people first.

Maximum coverage is submodular, so the greedy choice (lazy evaluation, "CELF") is within
1 − 1/e of the optimum for any budget. By construction the first site is the best single
site, and the plan for budget k is a prefix of the plan for k + 1, so people covered never
fall when the budget rises. People only count in communes still below the target share;
the plan stops when every commune reaches the target, the budget is spent or no candidate
adds anyone.

Grids are projected in metres (EPSG:9210 for Can Tho); candidates may come in any CRS.

References
----------
Nemhauser, Wolsey & Fisher (1978), greedy maximum coverage; Leskovec et al. (2007), CELF.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from spp.coverage.los import Grid
from spp.coverage.model import CoverageSettings, Sector
from spp.errors import CRSError, ScenarioError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "PlanResult",
    "SiteTemplate",
    "candidate_footprints",
    "gather_candidates",
    "greedy_max_coverage",
    "plan_sites",
]

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SiteTemplate:
    """Radio configuration of a new site (per-sector EIRP in dBm, heights in metres)."""

    height_m: float = 30.0
    eirp_dbm: float = 60.0
    band_mhz: float = 3500.0
    azimuths_deg: tuple[float, ...] = (0.0, 120.0, 240.0)
    downtilt_deg: float = 6.0
    beamwidth_deg: float = 65.0
    scenario: str = "uma"
    technology: str = "5G"
    operator: str = "new"


DEFAULT_HEIGHTS_M: dict[str, float] = {
    "street_light": 12.0, "power_pole": 18.0, "public_building": 25.0, "upgrade_4g": 30.0,
}
"""Antenna height by candidate kind when the candidate has no ``height_m``."""


@dataclass
class PlanResult:
    """Chosen sites (GeoDataFrame in the grid CRS), final coverage and commune shares."""

    sites: gpd.GeoDataFrame
    covered: NDArray[np.bool_]
    shares_before: pd.DataFrame | None = None
    shares_after: pd.DataFrame | None = None
    people_gained: float = 0.0
    stopped_because: str = ""
    gains: list[float] = field(default_factory=list)


def gather_candidates(
    layers: Mapping[str, gpd.GeoDataFrame], *, crs: object,
    heights_m: Mapping[str, float] | None = None,
) -> gpd.GeoDataFrame:
    """One point GeoDataFrame of candidates in ``crs`` with ``kind``, ``source_id``, ``height_m``.

    ``layers`` maps a kind (``street_light``, ``power_pole``, ``public_building``,
    ``upgrade_4g``) to a layer; polygons become their representative point.
    """
    import geopandas as gpd
    import pandas as pd

    heights = {**DEFAULT_HEIGHTS_M, **(heights_m or {})}
    frames = []
    for kind, layer in layers.items():
        if layer.crs is None:
            raise CRSError(f"candidate layer {kind!r} has no CRS")
        metric = layer.to_crs(crs)
        if "height_m" in metric:
            h = metric["height_m"].fillna(heights.get(kind, 25.0)).to_numpy(dtype=float)
        else:
            h = np.full(len(metric), heights.get(kind, 25.0))
        frames.append(gpd.GeoDataFrame({
            "kind": kind,
            "source_id": [str(v) for v in metric.index],
            "height_m": h,
        }, geometry=metric.geometry.representative_point().to_numpy(), crs=crs))
    if not frames:
        return gpd.GeoDataFrame({"kind": [], "source_id": [], "height_m": []}, geometry=[],
                                crs=crs)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)


def candidate_footprints(
    ground: NDArray[np.floating],
    grid: Grid,
    candidates: gpd.GeoDataFrame,
    *,
    template: SiteTemplate | None = None,
    surface: NDArray[np.floating] | None = None,
    settings: CoverageSettings | None = None,
    progress: Progress | None = None,
) -> list[NDArray[np.int64]]:
    """Flat indices of the cells each candidate would cover (RSRP ≥ the threshold).

    The same cells as thresholding the best of the candidate's
    :func:`~spp.coverage.model.sector_rsrp_window` windows, from the fused kernel, which
    traces a cell's line of sight only where the LOS case could reach the threshold and the
    NLOS case could not.
    """
    from spp.coverage.fast import prepare_masts, surface_pyramid, update_best

    template = template or SiteTemplate()
    settings = settings or CoverageSettings()
    threshold = settings.threshold_for(template.technology)
    g64 = np.asarray(ground, dtype=np.float64)
    s64 = g64 if surface is None else np.asarray(surface, dtype=np.float64)
    pts = candidates.to_crs(grid.crs)
    heights = (pts["height_m"].to_numpy(dtype=float) if "height_m" in pts
               else np.full(len(pts), template.height_m))
    masts = []
    for i, (geom, h) in enumerate(zip(pts.geometry, heights)):
        masts.append([(len(template.azimuths_deg) * i + k, Sector(
            f"cand-{i}", float(geom.x), float(geom.y), float(h), template.eirp_dbm,
            template.band_mhz, az, template.downtilt_deg, template.beamwidth_deg,
            template.scenario, template.operator, template.technology))
            for k, az in enumerate(template.azimuths_deg)])
    n_sectors = len(template.azimuths_deg) * len(masts)
    rank = np.r_[np.arange(n_sectors), -1].astype(np.int64)
    table = prepare_masts(g64, grid, masts, settings,
                          group=np.zeros(n_sectors, dtype=np.int64), rank=rank)
    pyramid = surface_pyramid(s64 if settings.use_los else g64[:1, :1])
    # start every cell just below the threshold: only sectors reaching it replace that
    below = np.float32(threshold)
    if float(below) >= threshold:
        below = np.nextafter(below, np.float32(-np.inf))
    out: list[NDArray[np.int64]] = []
    for i in range(len(masts)):
        r0, r1, c0, c1 = (int(v) for v in table.window[i])
        best = np.full((1, r1 - r0, c1 - c0), below, dtype=np.float32)
        server = np.full(best.shape, -1, dtype=np.int32)
        update_best(g64, s64, pyramid, grid, table, settings, best=best, server=server,
                    best_origin=(r0, c0), rank_of=rank, masts=(i, i + 1))
        rr, cc = np.nonzero(server[0] >= 0)
        out.append(((rr + r0) * grid.shape[1] + (cc + c0)).astype(np.int64))
        if progress is not None:
            progress(i + 1, len(pts))
    return out


def greedy_max_coverage(
    footprints: list[NDArray[np.int64]],
    weights: NDArray[np.floating],
    *,
    covered: NDArray[np.bool_] | None = None,
    group: NDArray[np.integer] | None = None,
    group_target: Mapping[int, float] | None = None,
    max_sites: int | None = None,
) -> tuple[list[int], list[float], str]:
    """Lazy greedy maximum coverage over flat cells.

    Parameters
    ----------
    footprints : list of int arrays
        Cells covered by each candidate (flat indices).
    weights : ndarray
        People per cell (flat or grid shaped).
    covered : ndarray of bool, optional
        Cells already covered.
    group, group_target : optional
        Commune label per cell and, per label, the people still needed to reach the target;
        a label's cells stop counting once its need is met.
    max_sites : int, optional
        Budget (number of sites).

    Returns
    -------
    (chosen indices, people gained per choice, reason it stopped)
    """
    w = np.asarray(weights, dtype=np.float64).ravel().copy()
    done = (np.zeros(w.size, dtype=bool) if covered is None
            else np.asarray(covered, dtype=bool).ravel().copy())
    w[done] = 0.0
    labels = None if group is None else np.asarray(group).ravel()
    need = dict(group_target or {})
    if labels is not None:
        for lab in np.unique(labels):
            if need.get(int(lab), 0.0) <= 0.0:
                w[labels == lab] = 0.0
    heap = [(-float(w[f].sum()), i, 0) for i, f in enumerate(footprints)]
    heapq.heapify(heap)
    chosen: list[int] = []
    gains: list[float] = []
    round_no = 0
    budget = len(footprints) if max_sites is None else max_sites
    while len(chosen) < budget:
        if labels is not None and all(v <= 1e-9 for v in need.values()):
            return chosen, gains, "target reached"
        if not heap:
            return chosen, gains, "candidates exhausted"
        neg, i, stamp = heapq.heappop(heap)
        if stamp != round_no:
            heapq.heappush(heap, (-float(w[footprints[i]].sum()), i, round_no))
            continue
        gain = -neg
        if gain <= 0.0:
            return chosen, gains, "no candidate adds people"
        cells = footprints[i]
        chosen.append(i)
        gains.append(gain)
        if labels is not None:
            new = cells[w[cells] > 0]
            per_label = np.bincount(labels[new], weights=w[new])
            for lab in np.nonzero(per_label)[0]:
                need[int(lab)] = need.get(int(lab), 0.0) - float(per_label[lab])
                if need[int(lab)] <= 1e-9:
                    w[labels == lab] = 0.0
        w[cells] = 0.0
        round_no += 1
    return chosen, gains, "budget spent"


def plan_sites(
    ground: NDArray[np.floating],
    grid: Grid,
    *,
    candidates: gpd.GeoDataFrame,
    population: NDArray[np.floating],
    covered: NDArray[np.bool_],
    communes: gpd.GeoDataFrame | None = None,
    target_share: float = 1.0,
    max_sites: int | None = None,
    template: SiteTemplate | None = None,
    surface: NDArray[np.floating] | None = None,
    settings: CoverageSettings | None = None,
    progress: Progress | None = None,
) -> PlanResult:
    """Choose new sites from ``candidates`` until each commune covers ``target_share`` of its people.

    Parameters
    ----------
    ground : ndarray
        Ground elevation in metres on ``grid`` (projected, metres).
    grid : Grid
    candidates : GeoDataFrame
        Points (any CRS), e.g. from :func:`gather_candidates`; optional ``height_m``.
    population : ndarray
        People per cell on ``grid``.
    covered : ndarray of bool
        Cells covered today (same technology as ``template``).
    communes : GeoDataFrame, optional
        Without it the whole grid is one area with the target.
    target_share : float
        Population share each commune must reach (0–1; 1.0 = the city's 100 % goal).
    max_sites : int, optional
        Budget in sites.

    Returns
    -------
    PlanResult
        ``sites``: order, kind, source_id, height_m, people_gained, commune, geometry (grid CRS).
    """
    import geopandas as gpd

    from spp.coverage.gaps import commune_labels, coverage_shares

    if not 0.0 < target_share <= 1.0:
        raise ScenarioError(f"target_share must be in (0, 1], got {target_share}")
    pop = np.asarray(population, dtype=np.float64)
    cov = np.asarray(covered, dtype=bool)
    if communes is not None:
        labels = commune_labels(communes, grid)
    else:
        labels = np.ones(grid.shape, dtype=np.int32)
    total = np.bincount(labels.ravel(), weights=pop.ravel())
    have = np.bincount(labels.ravel(), weights=(pop * cov).ravel(), minlength=total.size)
    need = {int(lab): float(target_share * total[lab] - have[lab]) for lab in range(1, total.size)}
    footprints = candidate_footprints(ground, grid, candidates, template=template,
                                      surface=surface, settings=settings, progress=progress)
    chosen, gains, reason = greedy_max_coverage(
        footprints, pop, covered=cov, group=labels, group_target=need, max_sites=max_sites)
    final = cov.ravel().copy()
    for i in chosen:
        final[footprints[i]] = True
    final = final.reshape(grid.shape)
    pts = candidates.to_crs(grid.crs).iloc[chosen].copy()
    names = (list(communes["ten"]) if communes is not None and "ten" in communes else None)
    site_commune = []
    for geom in pts.geometry:
        col_f, row_f = ~grid.transform @ (geom.x, geom.y)
        lab = labels[int(row_f), int(col_f)] if (0 <= row_f < grid.shape[0]
                                                 and 0 <= col_f < grid.shape[1]) else 0
        site_commune.append(names[lab - 1] if names and lab > 0 else None)
    pts.insert(0, "order", np.arange(1, len(chosen) + 1))
    pts["people_gained"] = gains
    pts["commune"] = site_commune
    sites = gpd.GeoDataFrame(pts.reset_index(drop=True), crs=grid.crs)
    result = PlanResult(sites=sites, covered=final, people_gained=float(sum(gains)),
                        stopped_because=reason, gains=gains)
    if communes is not None:
        result.shares_before = coverage_shares(communes, cov, grid, population=pop)
        result.shares_after = coverage_shares(communes, final, grid, population=pop)
    log.info("site plan: %d sites, %.0f people gained, stopped: %s", len(chosen),
             result.people_gained, reason)
    return result
