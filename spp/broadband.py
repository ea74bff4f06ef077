"""Fibre broadband reach along roads, per-commune household shares and extension plans.

Distances are metres in a projected CRS (EPSG:9210, VN-2000 / TM-3 105°45′, by default);
inputs in any CRS (roads usually EPSG:4326) are reprojected. Conventions:

* The road graph is noded at every vertex (densified to ≤ 25 m by default) and at every
  intersection of the lines (snap-rounded on a 1 cm grid), so crossing roads connect — bridges and flyovers included; endpoints
  closer than ``snap_m`` merge. Edge weight ``length_m``.
* A building connects straight to its nearest road *node* (``connection_m``); an access
  point likewise (``access_snap_m``). A building is *passable* when
  ``access_snap_m + road_distance_m + connection_m ≤ drop_limit_m`` (300 m by default),
  the road distance running from the nearest access point (multi-source Dijkstra).
* A road graph in several pieces is never silently trusted: buildings on a piece with no
  access point get ``reason = "no fibre on this road component"`` and an infinite distance,
  and a warning names the counts (``on_disconnected="raise"`` raises
  :class:`~spp.errors.AnalysisError` instead).
* Households per building come from ``households_field``; when the field is missing every
  building counts as one household (logged).

References
----------
Mehlhorn (1988), a faster approximation for the Steiner problem in graphs (shortest-path
heuristic, which :func:`plan_extensions` follows greedily by households per km).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from spp.crs import METRIC_EPSG, require_projected
from spp.errors import AnalysisError, CRSError, ScenarioError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = [
    "DEFAULT_COST_VND_PER_KM",
    "DEFAULT_DROP_LIMIT_M",
    "ExtensionPlan",
    "build_road_graph",
    "fibre_reach",
    "household_shares",
    "plan_extensions",
    "snap_to_nodes",
]

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
DEFAULT_DROP_LIMIT_M = 300.0
DEFAULT_COST_VND_PER_KM = 150_000_000.0
"""Placeholder cost of aerial fibre along roads (VND/km); set the operator's own figure."""
_SOURCE = "__fibre__"
_EPS_M = 1e-6


def _metric(gdf: gpd.GeoDataFrame, epsg: int, what: str) -> gpd.GeoDataFrame:
    from pyproj import CRS

    if gdf.crs is None:
        raise CRSError(f"{what} have no CRS; set one (e.g. EPSG:4326) first")
    require_projected(CRS.from_epsg(epsg), source=f"EPSG:{epsg}")
    return gdf.to_crs(epsg=epsg)


def _snap_dangles(lines: list[object], dangle_m: float) -> list[object]:
    """Extend each line end that stops within ``dangle_m`` of another line onto it."""
    import shapely
    import shapely.ops
    from shapely.geometry import LineString, Point

    if dangle_m <= 0:
        return lines
    tree = shapely.STRtree(lines)
    out = []
    for i, line in enumerate(lines):
        coords = list(line.coords)  # type: ignore[attr-defined]
        for end in (0, -1):
            pt = Point(coords[end])
            near = [j for j in tree.query(pt, predicate="dwithin", distance=dangle_m)
                    if j != i]
            if not near:
                continue
            target = min(near, key=lambda j: lines[j].distance(pt))  # type: ignore[attr-defined]
            d = lines[target].distance(pt)  # type: ignore[attr-defined]
            if 0 < d <= dangle_m:
                q = shapely.ops.nearest_points(lines[target], pt)[0]
                if end == 0:
                    coords.insert(0, (q.x, q.y))
                else:
                    coords.append((q.x, q.y))
        out.append(LineString(coords))
    return out


def build_road_graph(
    roads: gpd.GeoDataFrame, *, epsg: int = METRIC_EPSG, snap_m: float = 0.01,
    dangle_m: float = 2.0,
    densify_m: float | None = 25.0,
) -> nx.Graph:
    """Undirected road graph in EPSG:``epsg`` metres.

    Parameters
    ----------
    roads : GeoDataFrame
        (Multi)LineStrings in any CRS (EPSG:4326 in the store).
    epsg : int
        Projected CRS for lengths (default 9210).
    snap_m : float
        Coordinates are snap-rounded to this grid, so vertices closer than about this
        share a node and near-misses become intersections, metres.
    dangle_m : float
        A line end within this distance of another line is extended onto it (digitising
        gaps at T-junctions), metres; 0 disables.
    densify_m : float or None
        Extra vertices so no edge is longer than this, metres; buildings then connect to a
        point at most ``densify_m / 2`` from their nearest road point. ``None``: keep the
        input vertices only.

    Returns
    -------
    networkx.Graph
        Nodes are integers with ``x``, ``y`` (metres); edges carry ``length_m``;
        ``graph.graph["epsg"]`` is ``epsg``.

    Raises
    ------
    AnalysisError
        No line geometry.
    """
    import shapely
    import shapely.ops

    metric = _metric(roads, epsg, "roads")
    geoms = [g for g in metric.geometry if g is not None and not g.is_empty]
    lines = [part for g in geoms for part in getattr(g, "geoms", [g])
             if part.geom_type == "LineString"]
    if not lines:
        raise AnalysisError("roads contain no LineString geometry")
    lines = _snap_dangles(lines, dangle_m)
    # Snap-rounding overlay on a snap_m grid nodes every intersection robustly, including
    # T-junctions whose end vertex misses the other line by less than half a cell.
    noded = shapely.union_all(lines, grid_size=snap_m)
    if noded.geom_type == "LineString":
        noded = shapely.MultiLineString([noded])
    if densify_m:
        noded = shapely.segmentize(noded, densify_m)
    if noded.geom_type == "LineString":
        noded = shapely.MultiLineString([noded])
    graph = nx.Graph(epsg=epsg)
    keys: dict[tuple[int, int], int] = {}

    def node_of(x: float, y: float) -> int:
        key = (round(x / snap_m), round(y / snap_m))
        node = keys.get(key)
        if node is None:
            node = len(keys)
            keys[key] = node
            graph.add_node(node, x=x, y=y)
        return node

    for part in noded.geoms:
        coords = np.asarray(part.coords)
        ids = [node_of(float(x), float(y)) for x, y in coords[:, :2]]
        seg = np.hypot(*np.diff(coords[:, :2], axis=0).T)
        for a, b, length in zip(ids[:-1], ids[1:], seg):
            if a == b:
                continue
            if not graph.has_edge(a, b) or graph[a][b]["length_m"] > length:
                graph.add_edge(a, b, length_m=float(length))
    parts = nx.number_connected_components(graph)
    log.info("road graph: %d nodes, %d edges, %d component(s)", graph.number_of_nodes(),
             graph.number_of_edges(), parts)
    return graph


def _node_xy(graph: nx.Graph) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    nodes = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes], dtype=float)
    return nodes, xy.reshape(-1, 2)


def snap_to_nodes(
    graph: nx.Graph, points: gpd.GeoDataFrame
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Nearest road node of each point (centroid for polygons) and the straight distance, m."""
    from scipy.spatial import cKDTree

    metric = _metric(points, int(graph.graph["epsg"]), "points")
    if graph.number_of_nodes() == 0:
        raise AnalysisError("road graph is empty")
    nodes, xy = _node_xy(graph)
    pts = metric.geometry.representative_point()
    dist, idx = cKDTree(xy).query(np.column_stack([pts.x, pts.y]))
    return nodes[idx], np.asarray(dist, dtype=float)


def _households(buildings: gpd.GeoDataFrame, field: str) -> NDArray[np.float64]:
    if field in buildings.columns:
        return buildings[field].fillna(0).to_numpy(dtype=float)
    log.warning("buildings have no %r field; counting one household per building", field)
    return np.ones(len(buildings))


def fibre_reach(
    graph: nx.Graph,
    access_points: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    drop_limit_m: float = DEFAULT_DROP_LIMIT_M,
    households_field: str = "households",
    on_disconnected: Literal["warn", "raise"] = "warn",
) -> gpd.GeoDataFrame:
    """Distance along roads from every building to the nearest fibre access point.

    Parameters
    ----------
    graph : networkx.Graph
        From :func:`build_road_graph`.
    access_points, buildings : GeoDataFrame
        Any CRS; buildings may be points or polygons.
    drop_limit_m : float
        Longest drop (road distance + connections) that still counts as passable, metres.
    on_disconnected : {"warn", "raise"}
        What to do when some buildings sit on road components without an access point.

    Returns
    -------
    GeoDataFrame
        ``buildings`` (own CRS and columns) plus ``road_node``, ``connection_m``,
        ``road_distance_m`` (incl. the access point's own snap), ``total_distance_m``
        (inf when unreachable), ``households``, ``passable`` and ``reason``
        (``""``, ``"too far"``, ``"no fibre on this road component"``).

    Raises
    ------
    AnalysisError
        No access point, or a disconnected graph with ``on_disconnected="raise"``.
    """
    if len(access_points) == 0:
        raise AnalysisError("no fibre access points given")
    ap_nodes, ap_snap = snap_to_nodes(graph, access_points)
    b_nodes, b_conn = snap_to_nodes(graph, buildings)
    graph.add_node(_SOURCE)
    try:
        for node, snap in zip(ap_nodes, ap_snap):
            w = max(float(snap), _EPS_M)
            if not graph.has_edge(_SOURCE, node) or graph[_SOURCE][node]["length_m"] > w:
                graph.add_edge(_SOURCE, int(node), length_m=w)
        dist = nx.single_source_dijkstra_path_length(graph, _SOURCE, weight="length_m")
    finally:
        graph.remove_node(_SOURCE)
    road = np.array([dist.get(int(n), math.inf) for n in b_nodes], dtype=float)
    total = road + b_conn
    unreachable = ~np.isfinite(road)
    out = buildings.copy()
    out["road_node"] = b_nodes
    out["connection_m"] = b_conn
    out["road_distance_m"] = road
    out["total_distance_m"] = total
    out["households"] = _households(buildings, households_field)
    out["passable"] = total <= drop_limit_m
    out["reason"] = np.where(unreachable, "no fibre on this road component",
                             np.where(total > drop_limit_m, "too far", ""))
    if unreachable.any():
        parts = nx.number_connected_components(graph)
        message = (f"road graph has {parts} components; {int(unreachable.sum())} of "
                   f"{len(out)} buildings are on components without a fibre access point "
                   "and are counted as not passable")
        if on_disconnected == "raise":
            raise AnalysisError(message)
        log.warning("%s", message)
    return out


def _commune_index(buildings: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> NDArray[np.int64]:
    import geopandas as gpd

    if communes.crs is None or buildings.crs is None:
        raise CRSError("buildings and communes need a CRS")
    pts = gpd.GeoDataFrame(geometry=buildings.geometry.representative_point().to_numpy(),
                           crs=buildings.crs).to_crs(communes.crs)
    joined = gpd.sjoin(pts, communes[[communes.geometry.name]].reset_index(drop=True),
                       predicate="within", how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["index_right"].fillna(-1).to_numpy(dtype=np.int64)


def household_shares(
    reach: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    target_share: float = 0.9,
    id_field: str = "ma_xa",
    name_field: str = "ten",
) -> pd.DataFrame:
    """Share of households passable per commune vs the target (>90 % by default).

    Returns one row per commune: ``id``, ``name``, ``buildings``, ``households``,
    ``passable_households``, ``share`` (NaN with no households), ``meets_target`` and
    ``households_short`` (households still needed to reach the target).
    """
    import pandas as pd

    idx = _commune_index(reach, communes)
    n = len(communes)
    ok = idx >= 0
    hh = reach["households"].to_numpy(dtype=float)
    passable = reach["passable"].to_numpy(dtype=bool)
    total = np.bincount(idx[ok], weights=hh[ok], minlength=n)
    good = np.bincount(idx[ok], weights=(hh * passable)[ok], minlength=n)
    count = np.bincount(idx[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, good / total, np.nan)
    return pd.DataFrame({
        "id": communes[id_field].to_numpy() if id_field in communes else np.arange(n),
        "name": communes[name_field].to_numpy() if name_field in communes else None,
        "buildings": count,
        "households": total,
        "passable_households": good,
        "share": share,
        "meets_target": np.where(total > 0, share >= target_share, True),
        "households_short": np.maximum(np.ceil(target_share * total - good - 1e-9), 0),
    })


@dataclass
class ExtensionPlan:
    """New fibre along roads: one row per extension, in order, plus before/after shares."""

    segments: gpd.GeoDataFrame
    shares_before: pd.DataFrame
    shares_after: pd.DataFrame
    reach_after: gpd.GeoDataFrame
    km: float
    cost_vnd: float
    stopped_because: str


def plan_extensions(
    graph: nx.Graph,
    access_points: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    communes: gpd.GeoDataFrame,
    target_share: float = 0.9,
    drop_limit_m: float = DEFAULT_DROP_LIMIT_M,
    cost_vnd_per_km: float = DEFAULT_COST_VND_PER_KM,
    max_km: float | None = None,
    households_field: str = "households",
    progress: Progress | None = None,
) -> ExtensionPlan:
    """Cheapest-first fibre extensions along roads until each commune meets the target.

    Greedy shortest-path Steiner heuristic: every round, for each road node holding
    unserved households of a commune still under target, the fibre needed is the road
    distance from the network minus the slack the drop leaves (``drop_limit_m -
    connection_m``); the node with most households per km wins, fibre is laid along the
    shortest path up to where the node becomes passable, and every node on new fibre
    acts as an access point from then on.

    Returns
    -------
    ExtensionPlan
        ``segments`` (LineStrings in EPSG:``graph.graph["epsg"]``: ``order``, ``km``,
        ``cost_vnd``, ``households_gained``, ``commune``), shares before/after, totals and
        why it stopped ("target reached", "no reachable unserved households", "max_km").
    """
    import geopandas as gpd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    from shapely.geometry import LineString

    if not 0.0 < target_share <= 1.0:
        raise ScenarioError(f"target_share must be in (0, 1], got {target_share}")
    reach = fibre_reach(graph, access_points, buildings, drop_limit_m=drop_limit_m,
                        households_field=households_field)
    before = household_shares(reach, communes, target_share=target_share)
    nodes, xy = _node_xy(graph)
    pos = {int(n): i for i, n in enumerate(nodes)}
    n = len(nodes)
    src = n  # virtual source
    rows, cols, weights = [], [], []
    for a, b, data in graph.edges(data=True):
        rows += [pos[a], pos[b]]
        cols += [pos[b], pos[a]]
        weights += [data["length_m"], data["length_m"]]
    r_arr = np.asarray(rows, dtype=np.int64)
    c_arr = np.asarray(cols, dtype=np.int64)
    w_arr = np.asarray(weights, dtype=np.float64)
    ap_nodes, ap_snap = snap_to_nodes(graph, access_points)
    start = np.full(n, np.inf)
    np.minimum.at(start, [pos[int(v)] for v in ap_nodes], np.maximum(ap_snap, _EPS_M))
    b_idx = np.array([pos[int(v)] for v in reach["road_node"]], dtype=np.int64)
    conn = reach["connection_m"].to_numpy(dtype=float)
    hh = reach["households"].to_numpy(dtype=float)
    commune = _commune_index(reach, communes)
    total_hh = np.bincount(commune[commune >= 0], weights=hh[commune >= 0],
                           minlength=len(communes))
    laid: list[dict[str, object]] = []
    km_total = 0.0
    reason = "target reached"
    while True:
        seeds = np.nonzero(np.isfinite(start))[0]
        matrix = coo_matrix(
            (np.concatenate([w_arr, start[seeds]]),
             (np.concatenate([r_arr, np.full(seeds.size, src)]),
              np.concatenate([c_arr, seeds]))), shape=(n + 1, n + 1)).tocsr()
        dist, pred = dijkstra(matrix, indices=src, return_predecessors=True)
        served = dist[b_idx] + conn <= drop_limit_m
        good = np.bincount(commune[commune >= 0], weights=(hh * served)[commune >= 0],
                           minlength=len(communes))
        under = good < target_share * total_hh - 1e-9
        if laid:
            gained = float((hh * served).sum()) - float(laid[-1].pop("_before"))  # type: ignore[arg-type]
            laid[-1]["households_gained"] = gained
            if gained <= 0:
                reason = "no progress"
                log.error("fibre plan made no progress at extension %d; stopping", len(laid))
                break
        if not under.any():
            break
        if max_km is not None and km_total >= max_km:
            reason = "max_km"
            break
        want = (~served & (commune >= 0) & np.isfinite(dist[b_idx])
                & (conn <= drop_limit_m - 1e-3))
        want &= under[np.maximum(commune, 0)]
        if not want.any():
            reason = "no reachable unserved households"
            break
        slack = drop_limit_m - conn[want]
        t_nodes = b_idx[want]
        uniq, inv = np.unique(t_nodes, return_inverse=True)
        gain = np.bincount(inv, weights=hh[want])
        r_t = np.full(uniq.size, np.inf)
        np.minimum.at(r_t, inv, slack)
        cost_km = np.maximum(dist[uniq] - r_t, _EPS_M) / 1000.0
        best = int(np.argmax(gain / cost_km))
        t = int(uniq[best])
        p = t
        while (pred[p] != src and pred[p] >= 0
               and dist[t] - dist[pred[p]] <= r_t[best] - 2 * _EPS_M):
            p = int(pred[p])
        chain = [p]
        while pred[chain[-1]] != src and pred[chain[-1]] >= 0:
            chain.append(int(pred[chain[-1]]))
        length = float(sum(graph[int(nodes[a])][int(nodes[b])]["length_m"]
                           for a, b in zip(chain[:-1], chain[1:])))
        for v in chain:
            start[v] = min(start[v], _EPS_M)
        km = length / 1000.0
        km_total += km
        cid = int(commune[want][inv == best][0])
        laid.append({
            "order": len(laid) + 1, "km": km, "cost_vnd": km * cost_vnd_per_km,
            "commune": communes.iloc[cid]["ten"] if "ten" in communes else cid,
            "_before": float((hh * served).sum()),
            "geometry": LineString(xy[chain[::-1]]) if len(chain) > 1 else None,
        })
        if progress is not None:
            progress(len(laid), 0)
    epsg = int(graph.graph["epsg"])
    segments = gpd.GeoDataFrame(laid, geometry="geometry", crs=epsg) if laid else \
        gpd.GeoDataFrame({"order": [], "km": [], "cost_vnd": [], "commune": [],
                          "households_gained": []}, geometry=[], crs=epsg)
    reach_after = reach.copy()
    reach_after["road_distance_m"] = dist[b_idx]
    reach_after["total_distance_m"] = dist[b_idx] + conn
    reach_after["passable"] = reach_after["total_distance_m"] <= drop_limit_m
    after = household_shares(reach_after, communes, target_share=target_share)
    log.info("fibre plan: %d extensions, %.2f km, stopped: %s", len(laid), km_total, reason)
    return ExtensionPlan(segments, before, after, reach_after, km_total,
                         km_total * cost_vnd_per_km, reason)
