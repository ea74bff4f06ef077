"""Best-server RSRP and coverage rasters from telecom sites (public API of spp.coverage).

Per sector: line of sight from terrain (+ optional building surface) with Earth curvature,
path loss by 3GPP TR 38.901 (UMa / UMi-Street Canyon / RMa, LOS or NLOS per cell) or free
space, and the TR 38.901 sector pattern. Per cell:

    RSRP [dBm] = EIRP [dBm] - PL [dB] + A(θ, φ) [dB] - 10 log10(12 · N_RB)

``EIRP`` is the sector's boresight EIRP over the whole carrier (antenna gain included, so
the relative pattern A ≤ 0 dB is added, not G_E,max); dividing by the 12·N_RB subcarriers
gives the power of one resource element (RSRP). N_RB defaults to 273 for 5G (100 MHz at
30 kHz SCS) and 100 for 4G (20 MHz). A cell is *covered* where RSRP ≥ the technology's
threshold (default −110 dBm for 4G and 5G).

Conventions: horizontal distances under 10 m (the site's own cell) are evaluated at 10 m;
cells farther than the model's validity range (UMa/UMi 5 km; RMa 10 km LOS, 5 km NLOS)
get no signal from that sector, which is logged — never extrapolated. Grids are projected,
in metres (EPSG:9210 by default for the city).

References
----------
3GPP TR 38.901 V17.0.0 (2022-03), Table 7.4.1-1 (path loss), Table 7.3-1 (antenna);
3GPP TS 36.214 / TS 38.215 (RSRP definition, power per resource element).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from spp.coverage.antenna import parse_azimuths, sector_gain_db
from spp.coverage.los import OUTSIDE, Grid, viewshed_window
from spp.coverage.pathloss import MODEL_RANGES, MODELS, pathloss_db
from spp.errors import CRSError, ScenarioError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "CoverageResult",
    "CoverageSettings",
    "Sector",
    "best_server",
    "compute_rsrp",
    "sector_rsrp_window",
    "sectors_from_sites",
    "with_power_offset",
]

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Sector:
    """One sector of a site; x, y in the grid's projected CRS (metres)."""

    site_id: str
    x: float
    y: float
    height_m: float
    eirp_dbm: float
    band_mhz: float
    azimuth_deg: float | None = None
    """Boresight, degrees clockwise from grid north; ``None`` = omnidirectional."""
    downtilt_deg: float = 0.0
    beamwidth_deg: float = 65.0
    scenario: str = "uma"
    """``uma``, ``umi``, ``rma`` or ``fspl``."""
    operator: str = ""
    technology: str = "5G"


@dataclass(frozen=True)
class CoverageSettings:
    """Knobs of a coverage run (units in the names)."""

    target_height_m: float = 1.5
    radius_m: float = 10_000.0
    """Upper bound of the per-sector radius; the model's validity range may cut it shorter."""
    refraction_k: float | None = 4.0 / 3.0
    threshold_dbm: dict[str, float] = field(default_factory=lambda: {"5G": -110.0, "4G": -110.0})
    n_rb: dict[str, int] = field(default_factory=lambda: {"5G": 273, "4G": 100})
    building_height_m: float = 5.0
    street_width_m: float = 20.0
    use_los: bool = True
    """False: every cell NLOS (a pessimistic, terrain-free run)."""
    out_of_range: str = "raise"
    step_cells: float = 1.0

    def threshold_for(self, technology: str) -> float:
        """Coverage threshold in dBm for a technology ("5G", "4G")."""
        try:
            return self.threshold_dbm[technology]
        except KeyError as exc:
            raise ScenarioError(f"no RSRP threshold for technology {technology!r}") from exc


@dataclass
class CoverageResult:
    """Best-server RSRP (dBm, float32, NaN = no signal) and server index (-1 = none)."""

    rsrp_dbm: NDArray[np.float32]
    server: NDArray[np.int32]
    grid: Grid
    sectors: list[Sector]

    def covered(self, threshold_dbm: float) -> NDArray[np.bool_]:
        """Cells with RSRP ≥ ``threshold_dbm``."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.rsrp_dbm >= threshold_dbm)


def sectors_from_sites(sites: gpd.GeoDataFrame, *, crs: object) -> list[Sector]:
    """Sectors from a telecom-sites GeoDataFrame (Points), reprojected to ``crs``.

    Fields: ``site_id``, ``operator``, ``technology`` (4G/5G), ``band_mhz``, ``height_m``,
    ``eirp_dbm`` (per sector), ``azimuths`` (text "0,120,240"; empty = omni),
    ``downtilt_deg``, ``beamwidth_deg``, ``scenario`` (UMa/UMi/RMa, case-insensitive).

    Raises
    ------
    CRSError
        The sites have no CRS.
    ScenarioError
        A required field is missing or a scenario is unknown.
    """
    if sites.crs is None:
        raise CRSError("telecom sites have no CRS")
    required = ("site_id", "band_mhz", "height_m", "eirp_dbm")
    missing = [c for c in required if c not in sites.columns]
    if missing:
        raise ScenarioError(f"telecom sites lack field(s) {missing}")
    metric = sites.to_crs(crs)
    out: list[Sector] = []
    for row in metric.itertuples(index=False):
        geom = row.geometry
        scenario = str(getattr(row, "scenario", "uma") or "uma").lower().replace("-", "")
        scenario = "umi" if scenario.startswith("umi") else scenario
        if scenario not in MODELS:
            raise ScenarioError(f"site {row.site_id}: unknown scenario {scenario!r}")
        for az in parse_azimuths(getattr(row, "azimuths", None)):
            out.append(Sector(
                site_id=str(row.site_id), x=float(geom.x), y=float(geom.y),
                height_m=float(row.height_m), eirp_dbm=float(row.eirp_dbm),
                band_mhz=float(row.band_mhz), azimuth_deg=az,
                downtilt_deg=float(getattr(row, "downtilt_deg", 0.0) or 0.0),
                beamwidth_deg=float(getattr(row, "beamwidth_deg", 65.0) or 65.0),
                scenario=scenario, operator=str(getattr(row, "operator", "") or ""),
                technology=str(getattr(row, "technology", "5G") or "5G"),
            ))
    return out


def _radius_for(sector: Sector, settings: CoverageSettings) -> float:
    if sector.scenario == "fspl":
        return settings.radius_m
    rng = MODEL_RANGES[sector.scenario]
    return min(settings.radius_m, max(rng.d_2d_los_m[1], rng.d_2d_nlos_m[1]))


def sector_rsrp_window(
    ground: NDArray[np.float64],
    grid: Grid,
    *,
    sectors: Sequence[Sector],
    surface: NDArray[np.float64],
    settings: CoverageSettings,
) -> tuple[list[NDArray[np.float32]], tuple[int, int]]:
    """RSRP windows (dBm, NaN = no signal) of sectors sharing one mast (same x, y, height).

    One viewshed serves every sector of the mast. Returns the windows, one per sector, and
    the window's (row, col) offset in ``grid``.
    """
    first = sectors[0]
    radius = max(_radius_for(s, settings) for s in sectors)
    if settings.use_los:
        los, (r0, c0) = viewshed_window(
            ground, grid, x=first.x, y=first.y, height_m=first.height_m,
            target_height_m=settings.target_height_m, radius_m=radius, surface=surface,
            refraction_k=settings.refraction_k, step_cells=settings.step_cells,
        )
    else:
        full, (r0, c0) = viewshed_window(
            ground, grid, x=first.x, y=first.y, height_m=first.height_m,
            target_height_m=settings.target_height_m, radius_m=radius, surface=ground,
            refraction_k=None, step_cells=1e9,
        )
        los = np.where(full == OUTSIDE, OUTSIDE, 0).astype(np.uint8)
    rows, cols = np.indices(los.shape, dtype=np.float64)
    tr = grid.transform
    cx = tr.c + (cols + c0 + 0.5) * tr.a
    cy = tr.f + (rows + r0 + 0.5) * tr.e
    from spp.coverage.los import observer_cell

    orow, ocol = observer_cell(grid, first.x, first.y)
    sx = tr.c + (ocol + 0.5) * tr.a
    sy = tr.f + (orow + 0.5) * tr.e
    dx, dy = cx - sx, cy - sy
    d2d = np.maximum(np.hypot(dx, dy), 10.0)
    z_bs = ground[orow, ocol] + first.height_m
    z_ut = ground[r0:r0 + los.shape[0], c0:c0 + los.shape[1]] + settings.target_height_m
    azimuth = np.degrees(np.arctan2(dx, dy)) % 360.0
    with np.errstate(invalid="ignore"):
        zenith = 90.0 + np.degrees(np.arctan2(z_bs - z_ut, d2d))
    inside = los != OUTSIDE
    is_los = los == 1
    windows: list[NDArray[np.float32]] = []
    in_radius = np.hypot(dx, dy) <= settings.radius_m
    # sectors of one mast usually share scenario, band and height: one path loss for all
    shared: dict[tuple[str, float, float], tuple[NDArray[np.bool_], NDArray[np.float64]]] = {}
    for sector in sectors:
        rsrp = np.full(los.shape, np.nan, dtype=np.float32)
        key = (sector.scenario, sector.band_mhz, sector.height_m)
        if key in shared:
            valid, pl = shared[key]
        else:
            if sector.scenario == "fspl":
                valid = inside
            else:
                rng = MODEL_RANGES[sector.scenario]
                valid = inside & np.where(
                    is_los, d2d <= rng.d_2d_los_m[1], d2d <= rng.d_2d_nlos_m[1])
                valid &= in_radius
            pl = np.empty(0)
            if valid.any():
                pl = pathloss_db(
                    sector.scenario, d2d[valid], sector.band_mhz, h_bs_m=sector.height_m,
                    h_ut_m=settings.target_height_m, los=is_los[valid],
                    building_height_m=settings.building_height_m,
                    street_width_m=settings.street_width_m,
                    out_of_range=settings.out_of_range,  # type: ignore[arg-type]
                )
            shared[key] = (valid, pl)
        if not valid.any():
            windows.append(rsrp)
            continue
        if sector.azimuth_deg is None:
            gain = np.zeros_like(pl)
        else:
            gain = sector_gain_db(
                azimuth[valid], zenith[valid], boresight_deg=sector.azimuth_deg,
                downtilt_deg=sector.downtilt_deg, h_beamwidth_deg=sector.beamwidth_deg,
            )
        n_rb = settings.n_rb.get(sector.technology)
        if n_rb is None:
            raise ScenarioError(f"no N_RB for technology {sector.technology!r}")
        rsrp[valid] = sector.eirp_dbm - pl + gain - 10.0 * math.log10(12 * n_rb)
        windows.append(rsrp)
    return windows, (r0, c0)


def _masts(sectors: Sequence[Sector]) -> dict[tuple[float, float, float], list[int]]:
    masts: dict[tuple[float, float, float], list[int]] = {}
    for i, s in enumerate(sectors):
        masts.setdefault((s.x, s.y, s.height_m), []).append(i)
    return masts


def best_server(
    ground: NDArray[np.floating],
    grid: Grid,
    sectors: Sequence[Sector],
    *,
    surface: NDArray[np.floating] | None = None,
    settings: CoverageSettings | None = None,
    group_by: Sequence[str] = (),
    progress: Progress | None = None,
) -> dict[tuple[str, ...], CoverageResult]:
    """Best-server RSRP per group of sectors (e.g. ``group_by=("operator", "technology")``).

    Parameters
    ----------
    ground : ndarray
        Ground elevation, metres, on ``grid`` (projected, metres; NaN nodata).
    grid : Grid
        Raster grid (e.g. 30–50 m cells in EPSG:9210).
    sectors : sequence of Sector
        Sectors with x, y in ``grid.crs``.
    surface : ndarray, optional
        Ground + building/tree heights, metres, for line of sight.
    settings : CoverageSettings, optional
    group_by : sequence of str
        Sector attributes to group by; ``()`` gives one group keyed ``()``.
    progress : callable, optional
        Called as ``progress(done, total)`` as the masts are worked through.

    Returns
    -------
    dict
        Group key (tuple of attribute values) → :class:`CoverageResult`. ``server`` indexes
        the ``sectors`` sequence given here.

    Raises
    ------
    ScenarioError
        Unknown scenario/technology, or a site outside the model's validity range
        (frequency, heights) with ``settings.out_of_range == "raise"``.
    RasterError
        Grid/array shapes differ, a site outside the grid or on nodata.
    """
    from spp.coverage.fast import RINGS_M, prepare_masts, surface_pyramid, update_best

    settings = settings or CoverageSettings()
    g64 = np.asarray(ground, dtype=np.float64)
    s64 = g64 if surface is None else np.asarray(surface, dtype=np.float64)
    masts = _masts(sectors)
    # rank = position in the reference's order (mast by mast): ties go to the lower rank
    order = [i for indices in masts.values() for i in indices]
    rank = np.empty(len(sectors) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1
    keys: dict[tuple[str, ...], int] = {}
    group = np.empty(len(sectors), dtype=np.int64)
    for i in order:
        group[i] = keys.setdefault(tuple(str(getattr(sectors[i], n)) for n in group_by),
                                   len(keys))
    table = prepare_masts(g64, grid, [[(i, sectors[i]) for i in idx] for idx in masts.values()],
                          settings, group=group, rank=rank)
    best = np.full((len(keys), *grid.shape), np.nan, dtype=np.float32)
    server = np.full((len(keys), *grid.shape), -1, dtype=np.int32)
    pyramid = surface_pyramid(s64 if settings.use_los else g64[:1, :1])
    rings = list(zip((-1.0, *RINGS_M[:-1]), RINGS_M))
    batch = max(1, -(-len(table) // 20))
    steps = [(ring, lo, min(lo + batch, len(table))) for ring in rings
             for lo in range(0, len(table), batch)]
    for step_no, (ring, lo, hi) in enumerate(steps, start=1):
        update_best(g64, s64, pyramid, grid, table, settings, best=best, server=server,
                    best_origin=(0, 0), rank_of=rank, masts=(lo, hi), ring_m=ring)
        if progress is not None:
            progress(round(step_no * len(table) / len(steps)), len(table))
    results = {key: CoverageResult(best[g], server[g], grid, list(sectors))
               for key, g in keys.items()}
    log.info("best server: %d sectors on %d masts, %d groups", len(sectors), len(masts),
             len(results))
    return results


def compute_rsrp(
    ground: NDArray[np.floating],
    grid: Grid,
    sectors: Sequence[Sector],
    *,
    surface: NDArray[np.floating] | None = None,
    settings: CoverageSettings | None = None,
    progress: Progress | None = None,
) -> CoverageResult:
    """Best-server RSRP over all ``sectors`` (see :func:`best_server`); empty → all NaN."""
    settings = settings or CoverageSettings()
    if not sectors:
        return CoverageResult(np.full(grid.shape, np.nan, dtype=np.float32),
                              np.full(grid.shape, -1, dtype=np.int32), grid, [])
    out = best_server(ground, grid, sectors, surface=surface, settings=settings,
                      progress=progress)
    return out[()]


def with_power_offset(sectors: Sequence[Sector], offset_db: float) -> list[Sector]:
    """Copies of ``sectors`` with EIRP raised by ``offset_db`` (what-if runs)."""
    return [replace(s, eirp_dbm=s.eirp_dbm + offset_db) for s in sectors]
