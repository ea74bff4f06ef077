"""A stored fibre run on the sample city in PostGIS: the per-commune household share equals an
independent recomputation with scipy.sparse.csgraph on the road graph of the stored roads,
and the plan stores segments with km and cost."""

from __future__ import annotations

import numpy as np
import pytest

from spp.catalog import Catalog
from spp.settings import Settings

COMMUNE = "Truong Long"  # Xã Trường Long
COST_VND_PER_KM = 100_000_000.0


@pytest.fixture(scope="module")
def run(sample_db: str, settings: Settings):
    from spp.broadband import run_broadband

    return run_broadband(settings, sample_db, commune=COMMUNE, plan=True,
                         cost_vnd_per_km=COST_VND_PER_KM)


def _rows(db_url: str, catalog: Catalog, layer: str, run_id: str):
    from spp.store.query import read_layer

    frame = read_layer(db_url, catalog.get(layer))
    return frame[frame["run_id"] == run_id].reset_index(drop=True)


def _independent_share(db_url: str, catalog: Catalog, ma_xa: str, drop_limit_m: float) -> float:
    """Households passable in a commune: own snapping (KD-tree), own CSR matrix and a
    virtual-source Dijkstra (scipy.sparse.csgraph), own sjoin with the commune polygon."""
    import geopandas as gpd
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    from spp.broadband import build_road_graph
    from spp.store.query import read_layer

    communes = read_layer(db_url, catalog.get("communes"), columns=["ma_xa", "ten"])
    commune = communes[communes["ma_xa"] == ma_xa]
    b = commune.to_crs(9210).total_bounds
    box = tuple(gpd.GeoSeries.from_xy([b[0] - 3000, b[2] + 3000], [b[1] - 3000, b[3] + 3000],
                                      crs=9210).to_crs(4326).total_bounds)
    roads = read_layer(db_url, catalog.get("roads"), columns=["road_id"], bbox=box)
    aps = read_layer(db_url, catalog.get("fibre_access_points"), columns=["ap_id"], bbox=box)
    buildings = read_layer(db_url, catalog.get("buildings"), columns=["building_id", "households"],
                           bbox=tuple(commune.total_bounds))
    graph = build_road_graph(roads)
    ids = list(graph.nodes)
    index = {n: i for i, n in enumerate(ids)}
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in ids])
    edges = [(index[a], index[b], w) for a, b, w in graph.edges(data="length_m")]
    a, b, w = (np.array(v) for v in zip(*edges))
    n = len(ids)
    tree = cKDTree(xy)
    ap_pts = aps.to_crs(9210).geometry
    ap_d, ap_i = tree.query(np.column_stack([ap_pts.x, ap_pts.y]))
    rows = np.concatenate([a + 1, b + 1, np.zeros(len(ap_i), dtype=int)])
    cols = np.concatenate([b + 1, a + 1, ap_i + 1])
    data = np.concatenate([w, w, np.maximum(ap_d, 1e-6)])
    matrix = coo_matrix((data, (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    dist = dijkstra(matrix, directed=True, indices=0)[1:]
    pts = buildings.to_crs(9210).geometry.representative_point()
    conn, node = tree.query(np.column_stack([pts.x, pts.y]))
    passable = dist[node] + conn <= drop_limit_m
    inside = gpd.sjoin(gpd.GeoDataFrame(geometry=pts.to_crs(4326).to_numpy(), crs=4326),
                       commune[["geometry"]], predicate="within", how="left")
    inside = inside[~inside.index.duplicated()]["index_right"].notna().to_numpy()
    households = buildings["households"].fillna(0).to_numpy(dtype=float)
    return float((households * passable)[inside].sum() / households[inside].sum())


@pytest.mark.slow
def test_household_share_equals_an_independent_csgraph_recomputation(
        run, sample_db: str, catalog: Catalog) -> None:
    stored = _rows(sample_db, catalog, "fibre_by_commune", run.run_id)
    assert len(stored) == 1 and stored["ma_xa"].iloc[0] == "31309"
    expected = _independent_share(sample_db, catalog, "31309", 300.0)
    assert stored["share_households"].iloc[0] == pytest.approx(expected, abs=1e-9)
    assert stored["meets_target"].iloc[0] == (expected >= 0.9)
    assert stored["drop_limit_m"].iloc[0] == 300.0 and stored["target_share"].iloc[0] == 0.9


@pytest.mark.slow
def test_plan_stores_segments_with_km_and_cost(run, sample_db: str, catalog: Catalog) -> None:
    segments = _rows(sample_db, catalog, "planned_fibre", run.run_id)
    stored = _rows(sample_db, catalog, "fibre_by_commune", run.run_id).iloc[0]
    # the deterministic sample commune is below target, so the plan has work to do
    assert stored["share_households"] < 0.9
    assert len(segments) > 0 and (segments["km"] > 0).all()
    assert np.allclose(segments["cost_vnd"], segments["km"] * COST_VND_PER_KM)
    assert stored["planned_km"] == pytest.approx(segments["km"].sum(), rel=1e-6)
    assert stored["share_households_after_plan"] >= 0.9 - 1e-9
    # length of each stored line (EPSG:9210) equals its km
    lengths = segments.to_crs(9210).geometry.length.to_numpy() / 1000
    assert np.allclose(lengths, segments["km"], rtol=1e-3)


def test_bad_inputs_are_refused_before_any_work(settings: Settings) -> None:
    from spp.broadband import run_broadband
    from spp.errors import ScenarioError

    for kwargs in ({"drop_limit_m": 0.0}, {"target_share": 1.5}, {"cost_vnd_per_km": -1.0}):
        with pytest.raises(ScenarioError):
            run_broadband(settings, "postgresql://invalid", **kwargs)  # type: ignore[arg-type]
