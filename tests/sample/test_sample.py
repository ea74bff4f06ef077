"""The deterministic sample city: completeness, determinism and plausibility."""

from __future__ import annotations

import csv
import hashlib
import json
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from spp.catalog import Catalog
from spp.cli.main import cli
from spp.sample import DEM_FILE, LAYER_FILES

pytestmark = pytest.mark.slow  # every test needs the ~1 min session build

OFFICIAL_TOTAL = 4_199_824
MARGIN_M = 100.0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(path)


@pytest.fixture(scope="module")
def outline_m(sample_city: dict[str, Path]) -> shapely.Geometry:
    boundary = _read(sample_city["city_boundary"]).to_crs(9210)
    communes = _read(sample_city["communes"]).to_crs(9210)
    # the outline and the communes come from two renderings of the same boundary (≤ 1.4 km apart)
    outline = shapely.buffer(shapely.union_all([boundary.geometry.iloc[0], *communes.geometry]),
                             MARGIN_M)
    shapely.prepare(outline)
    return outline


def test_same_bytes_on_a_second_build_through_the_cli(sample_city: dict[str, Path],
                                                       tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sample", "build", "--out", str(tmp_path), "--seed", "2025"])
    assert result.exit_code == 0, result.output
    assert "sample city:" in result.output
    for name, path in sample_city.items():
        assert _sha256(path) == _sha256(tmp_path / path.name), f"{name} differs between builds"


def test_every_catalogue_layer_with_a_sample_is_built_with_the_spec_columns(
    catalog: Catalog, sample_city: dict[str, Path]
) -> None:
    with_sample = [s for s in catalog if s.sample]
    assert {s.name for s in with_sample} == set(LAYER_FILES)
    for spec in with_sample:
        path = sample_city[spec.name]
        assert path.name == spec.sample
        if spec.has_geometry:
            columns = [c for c in _read(path).columns if c != "geometry"]
        else:
            with path.open(encoding="utf-8") as fh:
                columns = next(csv.reader(fh))
        assert columns == [f.name for f in spec.fields], spec.name


def test_values_respect_the_spec_domains(catalog: Catalog, sample_city: dict[str, Path]) -> None:
    for spec in catalog:
        if not spec.sample or not spec.has_geometry:
            continue
        frame = _read(sample_city[spec.name])
        assert len(frame) > 0, spec.name
        assert frame[spec.primary_key].is_unique, spec.name
        for field in spec.fields:
            values = frame[field.name]
            if field.required:
                assert values.notna().all(), f"{spec.name}.{field.name} has nulls"
            present = values.dropna()
            if field.allowed is not None:
                bad = set(present.astype(type(field.allowed[0]))) - set(field.allowed)
                assert not bad, f"{spec.name}.{field.name}: {sorted(bad)[:5]}"
            if field.min is not None:
                assert (present >= field.min).all(), f"{spec.name}.{field.name} < min"
            if field.max is not None:
                assert (present <= field.max).all(), f"{spec.name}.{field.name} > max"


def test_geometries_are_valid_typed_and_inside_the_city(
    catalog: Catalog, sample_city: dict[str, Path], outline_m: shapely.Geometry
) -> None:
    for spec in catalog:
        if not spec.sample or not spec.has_geometry or spec.name in ("city_boundary",):
            continue
        frame = _read(sample_city[spec.name])
        assert frame.crs.to_epsg() == 4326, spec.name
        assert set(frame.geom_type) == {spec.geometry}, spec.name
        assert frame.geometry.is_valid.all(), f"{spec.name}: invalid geometry"
        metric = frame.to_crs(9210).geometry.values
        inside = shapely.within(metric, outline_m)
        if spec.name in ("communes_pre2025", "districts_pre2025"):
            # other sources' (low-resolution) boundaries: most of each unit inside
            inter = shapely.area(shapely.intersection(metric, outline_m))
            assert (inter / shapely.area(metric) > 0.6).all(), spec.name
            assert inter.sum() / shapely.area(metric).sum() > 0.99, spec.name
        else:
            assert inside.all(), f"{spec.name}: {int((~inside).sum())} features outside"


def test_commune_population_matches_the_official_total(sample_city: dict[str, Path]) -> None:
    communes = _read(sample_city["communes"])
    assert len(communes) == 103
    assert abs(int(communes["dan_so"].sum()) - OFFICIAL_TOTAL) <= 0.01 * OFFICIAL_TOTAL
    assert (communes["dan_so"] > 5_000).all()
    buildings = _read(sample_city["buildings"])
    per_commune = buildings.groupby("ma_xa")["population"].sum()
    expected = communes.set_index("ma_xa")["dan_so"]
    assert (per_commune.reindex(expected.index) == expected).all()
    assert 100_000 <= len(buildings) <= 150_000
    assert buildings["households"].between(0, 40).all()


def test_feature_total_stays_loadable(sample_city: dict[str, Path]) -> None:
    total = sum(len(_read(p)) for n, p in sample_city.items()
                if p.suffix == ".geojson")
    assert total < 500_000


def test_a_5g_coverage_gap_exists(sample_city: dict[str, Path]) -> None:
    sites = _read(sample_city["telecom_sites"]).to_crs(9210)
    assert set(sites["band_mhz"][sites["technology"] == "5G"]) == {3500}
    assert set(sites["band_mhz"][sites["technology"] == "4G"]) == {1800}
    five_g = sites[sites["technology"] == "5G"]
    assert five_g["height_m"].between(15, 45).all()
    assert five_g["eirp_dbm"].between(58, 65).all()
    communes = _read(sample_city["communes"]).to_crs(9210)
    points = communes.geometry.representative_point()
    tree = shapely.STRtree(five_g.geometry.values)
    _, distance = tree.query_nearest(points.values, return_distance=True)
    assert (distance > 5_000).sum() >= 1
    urban = communes["loai"].to_numpy() == "phường"
    assert np.median(distance[urban]) < 1_000  # wards are served


def test_roads_are_noded_at_shared_endpoints(sample_city: dict[str, Path]) -> None:
    roads = _read(sample_city["roads"])
    assert {"national", "local", "rural"} <= set(roads["road_class"])
    lines = roads.geometry.values
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(lines, 0)),
                      shapely.get_coordinates(shapely.get_point(lines, -1))])
    keys, inverse = np.unique(np.round(ends, 7), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n = len(lines)
    graph = coo_matrix((np.ones(n), (inverse[:n], inverse[n:])), shape=(len(keys), len(keys)))
    _count, labels = connected_components(graph, directed=False)
    biggest = np.bincount(labels[inverse[:n]]).max()
    assert biggest / n > 0.9  # one network, islands (Cù Lao Dung) apart
    # no two segments cross except at shared endpoints (checked on the urban core)
    core = roads.cx[105.76:105.80, 10.02:10.05]
    noded = shapely.get_parts(shapely.node(shapely.MultiLineString(list(core.geometry.values))))
    assert len(noded) == len(core)


def test_dem_is_a_plausible_delta_in_vn2000(sample_city: dict[str, Path]) -> None:
    path = sample_city["dem"]
    assert path.name == DEM_FILE
    communes = _read(sample_city["communes"]).to_crs(9210)
    waterways = _read(sample_city["waterways"]).to_crs(9210)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 9210
        assert src.dtypes[0] == "float32"
        assert src.nodata == -9999
        assert src.driver == "GTiff" and src.overviews(1)
        dem = src.read(1)
        transform = src.transform

        def sample(points: np.ndarray) -> np.ndarray:
            xy = shapely.get_coordinates(points)
            return np.array([v[0] for v in src.sample(xy)])

        water = shapely.union_all(shapely.buffer(waterways.geometry.values,
                                                 waterways["width_m"].to_numpy() / 2 + 300))
        rng = np.random.default_rng(0)
        xmin, ymin, xmax, ymax = communes.total_bounds
        pts = shapely.points(rng.uniform(xmin, xmax, 20_000), rng.uniform(ymin, ymax, 20_000))
        land = pts[shapely.within(pts, communes.union_all()) & ~shapely.intersects(pts, water)]
        ground = sample(land)
        assert np.percentile(ground, 5) >= 0.3 - 1e-6, np.percentile(ground, 5)
        assert np.percentile(ground, 95) <= 2.5 + 1e-6, np.percentile(ground, 95)
        assert 0.4 <= np.median(ground) <= 1.2, np.median(ground)
        core = communes[communes["ten"] == "Phường Ninh Kiều"].geometry.iloc[0]
        core_pts = pts[shapely.within(pts, core)]
        core_pts = core_pts[~shapely.intersects(core_pts, water)] if len(core_pts) > 3 else core_pts
        if len(core_pts):
            assert 1.4 <= np.median(sample(core_pts)) <= 2.3, np.median(sample(core_pts))
        mids = shapely.line_interpolate_point(waterways.geometry.values, 0.5, normalized=True)
        bed = sample(mids)
        assert (bed < np.median(ground)).all()
        hau = waterways["name"].str.startswith("Sông Hậu").to_numpy()
        assert (bed[hau] < -1.0).all()
        assert (bed[~hau] <= waterways["bed_level_m"].to_numpy()[~hau] + 0.01).all()
    assert (dem == -9999).any() and transform.a == pytest.approx(30.0)


def test_texts_are_nfc(sample_city: dict[str, Path]) -> None:
    for name, path in sample_city.items():
        if path.suffix not in (".geojson", ".csv"):
            continue
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), name
    names = json.loads(sample_city["communes"].read_text(encoding="utf-8"))
    assert any("Ninh Kiều" in f["properties"]["ten"] for f in names["features"])
