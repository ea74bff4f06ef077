"""The fused best-server engine against the straightforward reference computation.

The reference is the definition, written out: per mast, the viewshed window and the numpy
RSRP of every sector (:func:`sector_rsrp_window`), merged mast by mast into the best
server (a sector replaces the current one only when strictly stronger). The fast path must
give the same rasters (float tolerance) and the same servers, ties included.
"""

from __future__ import annotations

import numpy as np
import pytest

from spp.coverage.model import (
    CoverageResult,
    CoverageSettings,
    Sector,
    _masts,
    best_server,
    sector_rsrp_window,
)


def reference_best_server(ground, grid, sectors, *, surface=None, settings, group_by=()):
    g64 = np.asarray(ground, dtype=np.float64)
    s64 = g64 if surface is None else np.asarray(surface, dtype=np.float64)
    results: dict[tuple[str, ...], CoverageResult] = {}
    for indices in _masts(sectors).values():
        windows, (r0, c0) = sector_rsrp_window(
            g64, grid, sectors=[sectors[i] for i in indices], surface=s64, settings=settings)
        for idx, win in zip(indices, windows):
            key = tuple(str(getattr(sectors[idx], name)) for name in group_by)
            if key not in results:
                results[key] = CoverageResult(np.full(grid.shape, np.nan, dtype=np.float32),
                                              np.full(grid.shape, -1, dtype=np.int32), grid,
                                              list(sectors))
            res = results[key]
            sl = (slice(r0, r0 + win.shape[0]), slice(c0, c0 + win.shape[1]))
            current = res.rsrp_dbm[sl]
            better = np.isfinite(win) & ~(current >= win)
            current[better] = win[better]
            res.server[sl][better] = idx
    return results


def _mast(grid, col, row, *, azimuths=(0.0, 120.0, 240.0), **kw):
    x, y = grid.transform @ (col, row)
    base = {"site_id": f"s{col}-{row}", "x": x, "y": y, "height_m": 30.0, "eirp_dbm": 60.0,
            "band_mhz": 3500.0, "downtilt_deg": 5.0, "scenario": "uma", "operator": "A",
            "technology": "5G"}
    base.update(kw)
    return [Sector(azimuth_deg=az, **base) for az in azimuths]


@pytest.fixture
def town(grid_of, make_dem):
    """Hills, blocks of buildings with NaN holes, and masts of every model and kind."""
    n = 161
    grid = grid_of(n)
    ground = make_dem(n, seed=7, hills=15)
    rng = np.random.default_rng(11)
    surface = ground + np.where(rng.random((n, n)) < 0.25, rng.uniform(3, 40, (n, n)), 0.0)
    ground[:6, :40] = np.nan  # nodata: no signal, never an obstacle
    surface[:6, :40] = np.nan
    sectors = (
        _mast(grid, 40.5, 40.5)
        + _mast(grid, 120.5, 40.5, operator="B", downtilt_deg=2.0, beamwidth_deg=90.0)
        + _mast(grid, 80.5, 120.5, scenario="umi", height_m=12.0, eirp_dbm=50.0)
        + _mast(grid, 30.5, 130.5, scenario="rma", band_mhz=1800.0, technology="4G",
                height_m=35.0, azimuths=(30.0, 150.0, 270.0))
        + _mast(grid, 130.5, 120.5, scenario="fspl", azimuths=(None,), eirp_dbm=40.0)
        + _mast(grid, 80.5, 80.5, eirp_dbm=55.0, height_m=25.0)
    )
    return ground, surface, grid, sectors


@pytest.mark.parametrize("use_los", [True, False])
@pytest.mark.parametrize("group_by", [(), ("operator", "technology")])
def test_fast_best_server_matches_the_reference(town, use_los, group_by):
    ground, surface, grid, sectors = town
    settings = CoverageSettings(radius_m=2_500.0, use_los=use_los)
    fast = best_server(ground, grid, sectors, surface=surface, settings=settings,
                       group_by=group_by)
    ref = reference_best_server(ground, grid, sectors, surface=surface, settings=settings,
                                group_by=group_by)
    assert list(fast) == list(ref)
    for key, want in ref.items():
        got = fast[key]
        assert np.array_equal(np.isnan(got.rsrp_dbm), np.isnan(want.rsrp_dbm))
        np.testing.assert_allclose(got.rsrp_dbm, want.rsrp_dbm, rtol=0, atol=1e-4)
        assert np.array_equal(got.server, want.server)
    if not group_by:
        servers = ref[()].server
        assert (servers >= 0).sum() > 0.5 * servers.size


def test_ties_go_to_the_earlier_sector_as_in_the_reference(grid_of):
    n = 161
    grid = grid_of(n)
    ground = np.zeros((n, n))
    # twins either side of column 80 on flat ground: equal RSRP on that column
    later, earlier = (_mast(grid, 70.5, 80.5, azimuths=(90.0, 270.0)),
                      _mast(grid, 90.5, 80.5, azimuths=(270.0, 90.0)))
    sectors = earlier + later
    settings = CoverageSettings(radius_m=2_500.0)
    one = best_server(ground, grid, earlier, settings=settings)[()].rsrp_dbm
    two = best_server(ground, grid, later, settings=settings)[()].rsrp_dbm
    assert np.all(one[:, 80] == two[:, 80])
    fast = best_server(ground, grid, sectors, settings=settings)[()]
    ref = reference_best_server(ground, grid, sectors, settings=settings)[()]
    assert np.array_equal(fast.server, ref.server)
    assert np.all(fast.server[:, 80] < len(earlier))


def test_fast_best_server_sees_what_the_viewshed_sees(town):
    """Cells where only the LOS path loss could give the result are LOS in the viewshed."""
    from spp.coverage.los import viewshed

    ground, surface, grid, sectors = town
    mast = sectors[:3]
    settings = CoverageSettings(radius_m=2_500.0)
    res = best_server(ground, grid, mast, surface=surface, settings=settings)[()]
    nlos = best_server(ground, grid, mast, surface=surface,
                       settings=CoverageSettings(radius_m=2_500.0, use_los=False))[()]
    vis = viewshed(ground, grid, x=mast[0].x, y=mast[0].y, height_m=30.0, radius_m=5_000.0,
                   surface=surface)
    stronger = np.isfinite(res.rsrp_dbm) & (res.rsrp_dbm > nlos.rsrp_dbm + 1e-3)
    assert stronger.any()
    assert np.all(vis[stronger] == 1)


@pytest.mark.parametrize("threshold", [-110.0, -97.3])
def test_candidate_footprints_match_thresholded_reference_windows(town, threshold):
    import geopandas as gpd
    from shapely.geometry import Point

    from spp.coverage.plan import SiteTemplate, candidate_footprints

    ground, surface, grid, _ = town
    template = SiteTemplate(height_m=20.0, eirp_dbm=55.0)
    settings = CoverageSettings(radius_m=2_500.0,
                                threshold_dbm={"5G": threshold, "4G": threshold})
    xy = [grid.transform @ (c, r) for c, r in ((20.5, 20.5), (80.2, 90.7), (150.5, 10.5))]
    cands = gpd.GeoDataFrame({"height_m": [12.0, 25.0, 30.0]},
                             geometry=[Point(x, y) for x, y in xy], crs=grid.crs)
    feet = candidate_footprints(ground, grid, cands, template=template, surface=surface,
                                settings=settings)
    for (x, y), h, got in zip(xy, cands["height_m"], feet):
        sectors = [Sector("c", x, y, h, template.eirp_dbm, template.band_mhz, az,
                          template.downtilt_deg, template.beamwidth_deg, template.scenario)
                   for az in template.azimuths_deg]
        windows, (r0, c0) = sector_rsrp_window(ground, grid, sectors=sectors, surface=surface,
                                               settings=settings)
        best = np.fmax.reduce(np.stack(windows), axis=0)
        with np.errstate(invalid="ignore"):
            rr, cc = np.nonzero(best >= threshold)
        want = (rr + r0) * grid.shape[1] + (cc + c0)
        assert len(want) > 0
        assert np.array_equal(np.sort(got), np.sort(want))
