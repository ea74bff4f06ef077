"""Greedy site plan: never worse than the best single site, monotone in budget."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from spp.coverage.model import CoverageSettings
from spp.coverage.plan import (
    SiteTemplate,
    candidate_footprints,
    gather_candidates,
    greedy_max_coverage,
    plan_sites,
)
from spp.errors import ScenarioError

TEMPLATE = SiteTemplate(height_m=20.0, eirp_dbm=50.0, scenario="umi")
SETTINGS = CoverageSettings(radius_m=1500.0)


@pytest.fixture
def city(grid_of, make_dem):
    n = 120
    grid = grid_of(n)
    ground = make_dem(n, seed=4, hills=12)
    rng = np.random.default_rng(3)
    pop = np.where(rng.random((n, n)) < 0.3, rng.integers(1, 40, (n, n)), 0).astype(float)
    xs, ys = grid.transform @ (rng.uniform(5, n - 5, 25), rng.uniform(5, n - 5, 25))
    lights = gpd.GeoDataFrame(geometry=[Point(x, y) for x, y in zip(xs[:15], ys[:15])],
                              crs=grid.crs)
    poles = gpd.GeoDataFrame({"height_m": [25.0] * 10},
                             geometry=[Point(x, y) for x, y in zip(xs[15:], ys[15:])],
                             crs=grid.crs).to_crs(4326)
    cands = gather_candidates({"street_light": lights, "power_pole": poles}, crs=grid.crs)
    covered = np.zeros((n, n), bool)
    covered[:30, :30] = True
    x0, y1 = grid.transform.c, grid.transform.f
    half = n * 30.0 / 2
    communes = gpd.GeoDataFrame(
        {"ma_xa": ["1", "2"], "ten": ["Xã Tây", "Xã Đông"]},
        geometry=[box(x0, y1 - 2 * half, x0 + half, y1), box(x0 + half, y1 - 2 * half,
                                                             x0 + 2 * half, y1)],
        crs=grid.crs)
    return grid, ground, pop, cands, covered, communes


def test_candidates_keep_kind_and_heights(city):
    _, _, _, cands, _, _ = city
    assert set(cands["kind"]) == {"street_light", "power_pole"}
    assert (cands.loc[cands.kind == "street_light", "height_m"] == 12.0).all()
    assert (cands.loc[cands.kind == "power_pole", "height_m"] == 25.0).all()


def test_plan_beats_best_single_site_and_is_monotone_in_budget(city):
    grid, ground, pop, cands, covered, _ = city
    feet = candidate_footprints(ground, grid, cands, template=TEMPLATE, settings=SETTINGS)
    uncovered = pop * ~covered
    singles = [uncovered.ravel()[np.unique(f)].sum() for f in feet]
    assert max(singles) > 0
    totals = []
    for budget in range(1, 8):
        res = plan_sites(ground, grid, candidates=cands, population=pop, covered=covered,
                         max_sites=budget, template=TEMPLATE, settings=SETTINGS)
        gained = (pop * (res.covered & ~covered)).sum()
        assert gained == pytest.approx(res.people_gained)
        assert len(res.sites) <= budget
        totals.append(gained)
    assert totals[0] == pytest.approx(max(singles))
    assert all(b >= a - 1e-9 for a, b in zip(totals, totals[1:]))
    assert totals[-1] >= max(singles)


def test_plan_stops_when_each_commune_reaches_target(city):
    grid, ground, pop, cands, covered, communes = city
    res = plan_sites(ground, grid, candidates=cands, population=pop, covered=covered,
                     communes=communes, target_share=0.3, template=TEMPLATE,
                     settings=SETTINGS)
    after = res.shares_after
    if res.stopped_because == "target reached":
        assert (after["share_population"] >= 0.3 - 1e-9).all()
    else:
        assert res.stopped_because in {"candidates exhausted", "no candidate adds people"}
    # Dropping the last site would leave some commune under target (no wasted site).
    assert list(res.sites["order"]) == list(range(1, len(res.sites) + 1))
    assert res.sites["people_gained"].is_monotonic_decreasing


def test_greedy_handles_overlaps_exactly():
    weights = np.array([5, 5, 5, 1, 1, 1, 10], float)
    feet = [np.array([0, 1, 2]), np.array([2, 3, 4, 5]), np.array([6]), np.array([0, 1, 6])]
    chosen, gains, reason = greedy_max_coverage(feet, weights, max_sites=2)
    assert chosen == [3, 1]  # 20 people, then 8 of footprint 1 (cell 2 + three 1s)
    assert gains == [20.0, 8.0]
    assert reason == "budget spent"


def test_invalid_target_share_raises(city):
    grid, ground, pop, cands, covered, _ = city
    with pytest.raises(ScenarioError):
        plan_sites(ground, grid, candidates=cands, population=pop, covered=covered,
                   target_share=1.5)


def test_plan_reaches_a_reachable_target(city):
    grid, ground, pop, cands, covered, communes = city
    res = plan_sites(ground, grid, candidates=cands, population=pop, covered=covered,
                     communes=communes, target_share=0.2, template=TEMPLATE,
                     settings=SETTINGS)
    assert res.stopped_because == "target reached"
    assert (res.shares_after["share_population"] >= 0.2 - 1e-9).all()
    assert (res.shares_before["share_population"] < 0.2).any()
