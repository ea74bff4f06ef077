"""``spp broadband reach`` through click's CliRunner."""

from __future__ import annotations

import geopandas as gpd
from click.testing import CliRunner
from shapely.geometry import LineString, Point, box

from spp.cli.main import cli

X0, Y0 = 580_000.0, 1_110_000.0


def test_reach_writes_buildings_with_distances(tmp_path):
    roads = gpd.GeoDataFrame(geometry=[LineString([(X0, Y0), (X0 + 1000, Y0)])], crs=9210)
    aps = gpd.GeoDataFrame(geometry=[Point(X0, Y0)], crs=9210)
    blds = gpd.GeoDataFrame({"households": [2, 3]},
                            geometry=[Point(X0 + 100, Y0 + 20), Point(X0 + 900, Y0 + 20)],
                            crs=9210)
    communes = gpd.GeoDataFrame({"ma_xa": ["1"], "ten": ["Phường Ninh Kiều"]},
                                geometry=[box(X0 - 10, Y0 - 100, X0 + 1010, Y0 + 100)],
                                crs=9210)
    paths = {}
    for name, gdf in {"r": roads, "a": aps, "b": blds, "c": communes}.items():
        paths[name] = tmp_path / f"{name}.geojson"
        gdf.to_crs(4326).to_file(paths[name], driver="GeoJSON")
    out = tmp_path / "out.geojson"
    result = CliRunner().invoke(cli, [
        "broadband", "reach", "--roads", str(paths["r"]), "--access-points", str(paths["a"]),
        "--buildings", str(paths["b"]), "--communes", str(paths["c"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    got = gpd.read_file(out)
    assert list(got["passable"]) == [True, False]
    # 100 m along the road (densified to 25 m nodes) + a 20 m straight drop.
    assert abs(got["total_distance_m"].iloc[0] - 120.0) < 0.1
    assert "Phường Ninh Kiều" in result.output and "0.4" in result.output
