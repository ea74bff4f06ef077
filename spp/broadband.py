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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
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
    "FibreRun",
    "build_road_graph",
    "fibre_reach",
    "household_shares",
    "plan_extensions",
    "run_broadband",
    "snap_to_nodes",
]

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
DEFAULT_DROP_LIMIT_M = 300.0
DEFAULT_COST_VND_PER_KM = 150_000_000.0
"""Placeholder cost of aerial fibre along roads (VND/km); set the operator's own figure."""
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
            d = lines[target].distance(pt)
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
    coords, part = shapely.get_coordinates(np.asarray(noded.geoms), return_index=True)
    keys = np.round(coords / snap_m).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    # number nodes by first appearance along the lines; x, y of that first vertex
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    ids = rank[inverse]
    xy = coords[first[order]]
    same = part[:-1] == part[1:]
    a, b = ids[:-1][same], ids[1:][same]
    seg = np.hypot(*np.diff(coords, axis=0)[same].T)
    keep = a != b
    a, b, seg = a[keep], b[keep], seg[keep]
    by_length = np.argsort(-seg, kind="stable")  # the shortest of parallel edges is added last
    graph = nx.Graph(epsg=epsg)
    graph.add_nodes_from((i, {"x": float(x), "y": float(y)})
                         for i, (x, y) in enumerate(xy.tolist()))
    graph.add_edges_from((int(u), int(v), {"length_m": float(w)})
                         for u, v, w in zip(a[by_length].tolist(), b[by_length].tolist(),
                                            seg[by_length].tolist()))
    graph.graph["_xy"] = (graph.number_of_nodes(), np.arange(len(xy), dtype=np.int64), xy)
    parts = nx.number_connected_components(graph)
    log.info("road graph: %d nodes, %d edges, %d component(s)", graph.number_of_nodes(),
             graph.number_of_edges(), parts)
    return graph


def _node_xy(graph: nx.Graph) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    cached = graph.graph.get("_xy")
    if cached is not None and cached[0] == graph.number_of_nodes():
        return cached[1], cached[2]
    nodes = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in nodes], dtype=float)
    graph.graph["_xy"] = (len(nodes), nodes, xy.reshape(-1, 2))
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


def _edge_arrays(graph: nx.Graph) -> tuple[NDArray[np.int64], dict[int, int], object]:
    """Node ids, id → position, and the symmetric CSR matrix of ``length_m`` (cached on the
    graph until its size changes)."""
    from scipy.sparse import coo_matrix

    key = graph.number_of_nodes()  # O(1); number_of_edges() walks every node
    cached = graph.graph.get("_csr")
    if cached is not None and cached[0] == key:
        return cached[1], cached[2], cached[3]
    nodes = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    pos = {int(n): i for i, n in enumerate(nodes)}
    m = graph.number_of_edges()
    rows = np.empty(m, dtype=np.int64)
    cols = np.empty(m, dtype=np.int64)
    weights = np.empty(m, dtype=np.float64)
    for k, (a, b, length) in enumerate(graph.edges(data="length_m")):
        rows[k], cols[k], weights[k] = pos[a], pos[b], length
    n = len(nodes)
    matrix = coo_matrix((np.concatenate([weights, weights]),
                         (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
                        shape=(n, n)).tocsr()
    graph.graph["_csr"] = (key, nodes, pos, matrix)
    return nodes, pos, matrix


def _positions(graph: nx.Graph, node_ids: NDArray[np.int64]) -> NDArray[np.int64]:
    _, pos, _ = _edge_arrays(graph)
    return np.fromiter((pos[int(v)] for v in node_ids), dtype=np.int64, count=len(node_ids))


def _multi_source_lengths(
    graph: nx.Graph, sources: NDArray[np.int64], start_m: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Shortest road distance (m) from the nearest source to every node (by position), a
    source ``s`` starting at ``start_m[s]`` (scipy Dijkstra with a virtual source)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    _, _, matrix = _edge_arrays(graph)
    n = matrix.shape[0]  # type: ignore[attr-defined]
    src = _positions(graph, sources)
    start = np.full(n, np.inf)
    np.minimum.at(start, src, start_m)
    seeds = np.nonzero(np.isfinite(start))[0]
    edges = matrix.tocoo()  # type: ignore[attr-defined]
    full = coo_matrix(
        (np.concatenate([start[seeds], edges.data]),
         (np.concatenate([np.zeros(seeds.size, dtype=np.int64), edges.row + 1]),
          np.concatenate([seeds + 1, edges.col + 1]))), shape=(n + 1, n + 1)).tocsr()
    return np.asarray(dijkstra(full, directed=True, indices=0)[1:], dtype=np.float64)


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
    dist = _multi_source_lengths(graph, ap_nodes, np.maximum(ap_snap, _EPS_M))
    road = dist[_positions(graph, b_nodes)]
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


@dataclass
class FibreRun:
    """What a stored fibre run computed: per-commune shares and, with a plan, the segments."""

    run_id: str
    area: str
    shares: pd.DataFrame
    segments: gpd.GeoDataFrame | None
    km: float
    cost_vnd: float
    stopped_because: str | None
    seconds: float
    versions: dict[str, int]
    timings_s: dict[str, float]


def _plan_by_commune(
    graph: nx.Graph,
    access_points: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    target_share: float,
    drop_limit_m: float,
    cost_vnd_per_km: float,
    max_km: float | None,
    margin_m: float = 2_000.0,
    progress: Progress | None = None,
) -> tuple[gpd.GeoDataFrame, NDArray[np.float64], str]:
    """:func:`plan_extensions` one commune at a time (a commune is the unit of work).

    Each commune plans on the roads and access points within ``margin_m`` of its bounds
    (EPSG:``graph.graph["epsg"]`` metres), for its own buildings; fibre laid for one commune
    is not credited to its neighbours. Returns the segments (``order`` renumbered city-wide),
    the share after the plan per commune (NaN without households) and why each commune
    stopped, summarised.
    """
    import geopandas as gpd
    import pandas as pd

    epsg = int(graph.graph["epsg"])
    nodes, xy = _node_xy(graph)
    metric = communes.to_crs(epsg)
    where = _commune_index(buildings, communes)
    ap_xy = access_points.to_crs(epsg).geometry.representative_point()
    parts: list[gpd.GeoDataFrame] = []
    after = np.full(len(communes), np.nan)
    reasons: dict[str, int] = {}
    for i in range(len(communes)):
        mine = buildings[where == i]
        if len(mine) == 0:
            continue
        x0, y0, x1, y1 = metric.geometry.iloc[i].bounds
        inside = ((xy[:, 0] >= x0 - margin_m) & (xy[:, 0] <= x1 + margin_m)
                  & (xy[:, 1] >= y0 - margin_m) & (xy[:, 1] <= y1 + margin_m))
        aps_here = access_points[((ap_xy.x >= x0 - margin_m) & (ap_xy.x <= x1 + margin_m)
                                  & (ap_xy.y >= y0 - margin_m) & (ap_xy.y <= y1 + margin_m)
                                  ).to_numpy()]
        if not inside.any() or len(aps_here) == 0:
            reasons["no roads or access points nearby"] = reasons.get(
                "no roads or access points nearby", 0) + 1
            continue
        sub = nx.Graph(graph.subgraph(nodes[inside].tolist()))
        sub.graph = {"epsg": epsg}
        result = plan_extensions(sub, aps_here, mine, communes=communes.iloc[[i]],
                                 target_share=target_share, drop_limit_m=drop_limit_m,
                                 cost_vnd_per_km=cost_vnd_per_km, max_km=max_km)
        after[i] = float(result.shares_after["share"].iloc[0])
        reasons[result.stopped_because] = reasons.get(result.stopped_because, 0) + 1
        if len(result.segments):
            parts.append(result.segments)
        if progress is not None:
            progress(i + 1, len(communes))
    if parts:
        segments = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry",
                                    crs=epsg)
        segments["order"] = np.arange(1, len(segments) + 1)
    else:
        segments = gpd.GeoDataFrame({"order": [], "km": [], "cost_vnd": [], "commune": [],
                                     "households_gained": []}, geometry=[], crs=epsg)
    summary = "; ".join(f"{k}: {v} commune(s)" for k, v in sorted(reasons.items()))
    return segments, after, summary


def run_broadband(
    settings: object,
    db_url: str,
    *,
    commune: str | None = None,
    drop_limit_m: float = DEFAULT_DROP_LIMIT_M,
    target_share: float = 0.9,
    plan: bool = False,
    cost_vnd_per_km: float = DEFAULT_COST_VND_PER_KM,
    max_km: float | None = None,
    store: bool = True,
    progress: Progress | None = None,
) -> FibreRun:
    """Fibre reach of the city or one commune from the stored layers; results as layers.

    Reads ``roads`` (graph in EPSG:9210 metres), ``fibre_access_points``, ``buildings``
    (``households``) and ``communes``; for one commune (name with or without diacritics,
    or code) the layers within 3 km of it. Publishes ``fibre_by_commune`` and, with
    ``plan``, ``planned_fibre`` (see :mod:`spp.coverage.publish`).

    Parameters
    ----------
    settings : Settings
        Gives the catalogue folder.
    drop_limit_m : float
        Longest drop along roads, metres (within (0, 5000]).
    target_share : float
        Household share each commune must reach (0–1; 0.9 = the >90 % goal).
    cost_vnd_per_km : float
        Cost of new fibre along roads, VND per km (≥ 0).
    max_km : float, optional
        Plan budget in km of new fibre, per commune (communes plan one at a time).

    Raises
    ------
    ScenarioError
        A parameter outside its range.
    CommuneNotFoundError
        ``commune`` matches none or several communes.
    """
    import time
    from datetime import datetime

    import pandas as pd

    from spp.catalog import load_catalog
    from spp.coverage.publish import append_run_rows, new_run_id
    from spp.coverage.run import select_communes
    from spp.store.query import read_layer

    if not (isinstance(drop_limit_m, (int, float)) and 0 < drop_limit_m <= 5_000):
        raise ScenarioError(f"drop_limit_m must be within (0, 5000] m, got {drop_limit_m!r}")
    if not (isinstance(target_share, (int, float)) and 0 < target_share <= 1):
        raise ScenarioError(f"target_share must be within (0, 1], got {target_share!r}")
    if not (isinstance(cost_vnd_per_km, (int, float)) and 0 <= cost_vnd_per_km < 1e13):
        raise ScenarioError(f"cost_vnd_per_km must be ≥ 0, got {cost_vnd_per_km!r}")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    catalog = load_catalog(settings.layers_dir)  # type: ignore[attr-defined]
    communes = read_layer(db_url, catalog.get("communes"), columns=["ma_xa", "ten"])
    chosen = select_communes(communes, commune).reset_index(drop=True)
    area = str(chosen["ten"].iloc[0]) if commune is not None else "Thành phố Cần Thơ"
    run_id = new_run_id("fibre", area if commune is not None else None)
    bbox = None
    if commune is not None:
        b = chosen.to_crs(METRIC_EPSG).total_bounds
        import geopandas as gpd

        box = gpd.GeoSeries.from_xy([b[0] - 3000, b[2] + 3000], [b[1] - 3000, b[3] + 3000],
                                    crs=METRIC_EPSG).to_crs(4326).total_bounds
        bbox = tuple(float(v) for v in box)
    roads = read_layer(db_url, catalog.get("roads"), columns=[catalog.get("roads").primary_key],
                       bbox=bbox)  # type: ignore[arg-type]
    aps = read_layer(db_url, catalog.get("fibre_access_points"), columns=["ap_id"], bbox=bbox)  # type: ignore[arg-type]
    buildings = read_layer(db_url, catalog.get("buildings"), columns=["building_id", "households"],
                           bbox=tuple(chosen.total_bounds))
    timings["read"] = round(time.perf_counter() - t0, 3)
    t = time.perf_counter()
    graph = build_road_graph(roads)
    timings["graph"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    reach = fibre_reach(graph, aps, buildings, drop_limit_m=drop_limit_m)
    shares = household_shares(reach, chosen, target_share=target_share)
    segments, after, km, cost, stopped = None, None, 0.0, 0.0, None
    if plan:
        segments, after, stopped = _plan_by_commune(
            graph, aps, buildings, chosen, target_share=target_share, drop_limit_m=drop_limit_m,
            cost_vnd_per_km=cost_vnd_per_km, max_km=max_km, progress=progress)
        km = float(segments["km"].sum()) if len(segments) else 0.0
        cost = km * cost_vnd_per_km
    timings["reach_plan"] = round(time.perf_counter() - t, 3)
    run_at = datetime.now(UTC)
    rows = pd.DataFrame({
        "row_id": run_id + ":" + shares["id"].astype(str), "run_id": run_id, "run_at": run_at,
        "ma_xa": shares["id"].astype(str), "commune": shares["name"],
        "drop_limit_m": float(drop_limit_m), "target_share": float(target_share),
        "buildings": shares["buildings"], "households": shares["households"],
        "passable_households": shares["passable_households"], "share_households": shares["share"],
        "meets_target": shares["meets_target"].astype(bool),
        "households_short": shares["households_short"],
    })
    if segments is not None:
        per = segments.groupby("commune")[["km", "cost_vnd"]].sum() if len(segments) else None
        rows["share_households_after_plan"] = after
        rows["planned_km"] = (shares["name"].map(per["km"]).fillna(0.0).to_numpy()
                              if per is not None else 0.0)
        rows["planned_cost_vnd"] = (shares["name"].map(per["cost_vnd"]).fillna(0.0).to_numpy()
                                    if per is not None else 0.0)
    versions: dict[str, int] = {}
    if store:
        t = time.perf_counter()
        note = f"fibre run {run_id} ({area}), drop limit {drop_limit_m:g} m"
        report = append_run_rows(db_url, catalog, "fibre_by_commune", rows, run_id=run_id,
                                 note=note)
        if report is not None:
            versions["fibre_by_commune"] = report.version
        if segments is not None and len(segments):
            code = dict(zip(chosen["ten"], chosen["ma_xa"]))
            seg = segments[segments.geometry.notna()].rename(columns={"order": "plan_order"})
            seg = seg.assign(run_id=run_id, ma_xa=seg["commune"].map(code),
                             segment_id=run_id + ":" + seg["plan_order"].astype(str))
            report = append_run_rows(db_url, catalog, "planned_fibre", seg, run_id=run_id,
                                     latest_per_area=True, note=note)
            if report is not None:
                versions["planned_fibre"] = report.version
        timings["store"] = round(time.perf_counter() - t, 3)
    seconds = time.perf_counter() - t0
    log.info("fibre run %s: %.1f s (%s)", run_id, seconds, timings)
    return FibreRun(run_id, area, shares, segments, km, cost, stopped, seconds, versions, timings)
