"""Fibre reach along roads: distances vs scipy's Dijkstra, disconnected graphs, plans."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, Point, box

from spp.broadband import (
    build_road_graph,
    fibre_reach,
    household_shares,
    plan_extensions,
)
from spp.errors import AnalysisError

X0, Y0 = 580_000.0, 1_110_000.0  # EPSG:9210 metres


@pytest.fixture
def jittered_grid():
    """A 6×6 jittered street grid (EPSG:9210 coordinates) and its edge list."""
    rng = np.random.default_rng(5)
    n = 6
    pts = np.array([(X0 + i * 120 + rng.uniform(-25, 25), Y0 + j * 120 + rng.uniform(-25, 25))
                    for j in range(n) for i in range(n)])
    edges = []
    for j in range(n):
        for i in range(n):
            k = j * n + i
            if i + 1 < n and rng.random() > 0.15:
                edges.append((k, k + 1))
            if j + 1 < n and rng.random() > 0.15:
                edges.append((k, k + n))
    return pts, edges


def test_distances_match_scipy_dijkstra(jittered_grid):
    pts, edges = jittered_grid
    roads = gpd.GeoDataFrame(geometry=[LineString([pts[a], pts[b]]) for a, b in edges],
                             crs=9210).to_crs(4326)
    graph = build_road_graph(roads, epsg=9210, densify_m=None)
    rng = np.random.default_rng(9)
    ap_xy = pts[[0, 21]] + [[3.0, -4.0], [0.0, 6.0]]
    b_xy = pts[rng.integers(0, len(pts), 60)] + rng.uniform(-40, 40, (60, 2))
    aps = gpd.GeoDataFrame(geometry=[Point(p) for p in ap_xy], crs=9210)
    blds = gpd.GeoDataFrame({"households": np.ones(60)},
                            geometry=[Point(p) for p in b_xy], crs=9210)
    got = fibre_reach(graph, aps, blds, drop_limit_m=300.0)

    # Independent reference: adjacency from the original coordinates.
    used = sorted({v for e in edges for v in e})
    length = [float(np.hypot(*(pts[a] - pts[b]))) for a, b in edges]
    a_idx = [a for a, _ in edges] + [b for _, b in edges]
    b_idx = [b for _, b in edges] + [a for a, _ in edges]
    m = coo_matrix((length * 2, (a_idx, b_idx)), shape=(len(pts), len(pts))).tocsr()
    nearest = lambda xy: min(used, key=lambda v: np.hypot(*(pts[v] - xy)))
    ap_nodes = [nearest(p) for p in ap_xy]
    d = dijkstra(m, indices=ap_nodes)
    for k, xy in enumerate(b_xy):
        v = nearest(xy)
        conn = np.hypot(*(pts[v] - xy))
        ref = min(d[s, v] + np.hypot(*(pts[ap_nodes[s]] - ap_xy[s])) for s in range(2))
        # Snap-rounding to the 1 cm grid moves vertices by < 1 cm.
        assert got["total_distance_m"].iloc[k] == pytest.approx(ref + conn, abs=0.05)
        assert got["passable"].iloc[k] == (ref + conn <= 300.0)
    assert 0 < got["passable"].mean() < 1


def test_crossing_roads_are_noded_and_near_misses_snapped():
    lines = [LineString([(X0, Y0), (X0 + 200, Y0 + 200)]),  # an X crossing at (100, 100)
             LineString([(X0, Y0 + 200), (X0 + 200, Y0)]),
             LineString([(X0 + 1000, Y0), (X0 + 1200, Y0)]),  # a T whose stem stops short
             LineString([(X0 + 1100, Y0 - 150), (X0 + 1100, Y0 - 0.6)])]
    graph = build_road_graph(gpd.GeoDataFrame(geometry=lines, crs=9210), densify_m=None)
    # Every vertex is a node: the stem keeps its old end (degree 2) and gains 0.6 m.
    assert graph.number_of_nodes() == 10
    assert graph.number_of_edges() == 8
    assert sorted(d for _, d in graph.degree()) == [1] * 7 + [2, 3, 4]
    total = sum(d["length_m"] for *_, d in graph.edges(data=True))
    assert total == pytest.approx(2 * 200 * 2**0.5 + 200 + 150, abs=0.05)


def test_disconnected_graph_warns_and_never_counts_unreachable_buildings(caplog):
    lines = [LineString([(X0, Y0), (X0 + 100, Y0)]),
             LineString([(X0 + 5000, Y0), (X0 + 5100, Y0)])]
    graph = build_road_graph(gpd.GeoDataFrame(geometry=lines, crs=9210))
    aps = gpd.GeoDataFrame(geometry=[Point(X0, Y0)], crs=9210)
    blds = gpd.GeoDataFrame(geometry=[Point(X0 + 50, Y0 + 10), Point(X0 + 5050, Y0 + 10)],
                            crs=9210)
    with caplog.at_level(logging.WARNING):
        got = fibre_reach(graph, aps, blds)
    assert "components" in caplog.text
    assert list(got["passable"]) == [True, False]
    assert got["reason"].iloc[1] == "no fibre on this road component"
    assert np.isinf(got["total_distance_m"].iloc[1])
    with pytest.raises(AnalysisError):
        fibre_reach(graph, aps, blds, on_disconnected="raise")


def _town():
    n, s = 12, 100.0
    lines = ([LineString([(X0, Y0 + i * s), (X0 + (n - 1) * s, Y0 + i * s)]) for i in range(n)]
             + [LineString([(X0 + i * s, Y0), (X0 + i * s, Y0 + (n - 1) * s)]) for i in range(n)])
    roads = gpd.GeoDataFrame(geometry=lines, crs=9210).to_crs(4326)
    rng = np.random.default_rng(1)
    size = (n - 1) * s
    blds = gpd.GeoDataFrame(
        {"households": rng.integers(1, 5, 1500)},
        geometry=gpd.points_from_xy(rng.uniform(X0, X0 + size, 1500),
                                    rng.uniform(Y0, Y0 + size, 1500)), crs=9210)
    aps = gpd.GeoDataFrame(geometry=[Point(X0 + 2, Y0 + 1)], crs=9210)
    communes = gpd.GeoDataFrame(
        {"ma_xa": ["1", "2"], "ten": ["Xã Tây", "Phường Đông"]},
        geometry=[box(X0 - 1, Y0 - 1, X0 + size / 2, Y0 + size + 1),
                  box(X0 + size / 2, Y0 - 1, X0 + size + 1, Y0 + size + 1)], crs=9210)
    return roads, blds, aps, communes


def test_household_shares_match_a_manual_count():
    roads, blds, aps, communes = _town()
    graph = build_road_graph(roads)
    reach = fibre_reach(graph, aps, blds)
    shares = household_shares(reach, communes, target_share=0.9)
    west = reach.geometry.x < X0 + 550
    ref = (reach["households"] * reach["passable"])[west].sum() / reach["households"][west].sum()
    assert shares.loc[0, "share"] == pytest.approx(ref)
    assert shares["households"].sum() == reach["households"].sum()
    assert not shares["meets_target"].any()


def test_extension_plan_lifts_every_commune_over_target_along_roads():
    roads, blds, aps, communes = _town()
    graph = build_road_graph(roads)
    plan = plan_extensions(graph, aps, blds, communes=communes, target_share=0.9,
                           cost_vnd_per_km=100e6)
    assert plan.stopped_because == "target reached"
    assert (plan.shares_after["share"] >= 0.9).all()
    assert plan.km == pytest.approx(plan.segments["km"].sum())
    assert plan.cost_vnd == pytest.approx(plan.km * 100e6)
    lines = plan.segments.geometry.dropna()
    road_union = roads.to_crs(9210).union_all().buffer(0.01)
    assert lines.within(road_union).all()
    assert (lines.length / 1000).to_numpy() == pytest.approx(
        plan.segments.loc[lines.index, "km"].to_numpy(), rel=1e-6)
    assert (plan.segments["households_gained"] > 0).all()
    # The fibre plan's own distances agree with a fresh reach run with new fibre as APs.
    new_aps = gpd.GeoDataFrame(
        geometry=[Point(c) for g in lines for c in g.coords] + list(aps.geometry), crs=9210)
    check = fibre_reach(graph, new_aps, blds)
    assert check["passable"].sum() == plan.reach_after["passable"].sum()


def test_no_extension_when_the_target_is_already_met():
    roads, blds, aps, communes = _town()
    graph = build_road_graph(roads)
    plan = plan_extensions(graph, aps, blds, communes=communes, target_share=0.01)
    # At 1 % the single access point may already serve both communes or need little fibre.
    assert plan.km <= 2.0
    assert (plan.shares_after["share"] >= 0.01).all()
