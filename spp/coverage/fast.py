"""Fused best-server engine behind :func:`~spp.coverage.model.best_server` (private).

The straightforward computation (:func:`~spp.coverage.model.sector_rsrp_window`: a
viewshed window per mast, then path loss, antenna gain and RSRP as numpy arrays, merged
into the best-server rasters) is the reference; this module gives the same rasters to float
tolerance, faster, because

* one numba kernel (batches of masts, column bands of the grid in parallel) does line of
  sight, path loss, gain and the best-server update cell by cell, with no window-sized
  temporaries;
* the line of sight of a cell is traced only when its outcome can matter: when some sector
  of the mast could beat the server already there in the LOS or the NLOS case and the two
  cases differ. Best server is a maximum with ties to the earlier sector (its *rank* in
  the reference's processing order), so the masts can be visited in any order; the cells
  near each mast go first (distance bands :data:`RINGS_M`), so far cells mostly meet a
  strong server already;
* a traced ray skips the runs of samples that a max pyramid of the surface shows cannot
  reach it, and walks from the target back to the observer (blockers sit near the target);
  the samples it does test are the reference's, so the LOS decision is the same.

Grids are projected, in metres (EPSG:9210 for the city).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
from numpy.typing import NDArray

from spp.coverage import kernels
from spp.coverage.antenna import BEAMWIDTH_DEG
from spp.coverage.los import EARTH_RADIUS_M, Grid, observer_cell
from spp.coverage.pathloss import MODEL_RANGES, _rma_pl1, pathloss_db
from spp.errors import RasterError, ScenarioError

if TYPE_CHECKING:
    from spp.coverage.model import CoverageSettings, Sector

__all__ = ["PYRAMID_LEVELS", "RINGS_M", "MastTable", "Pyramid", "SectorArrays",
           "prepare_masts", "surface_pyramid", "update_best"]

PYRAMID_LEVELS = 9
"""Levels of the surface's max pyramid (tiles of 2**L cells, L < PYRAMID_LEVELS)."""
RINGS_M = (1_000.0, 2_500.0, math.inf)
"""Distance bands (metres) visited in turn over all masts: near cells first."""
BAND_COLUMNS = 64
"""Width of the column bands processed in parallel (cells)."""
MODEL_CODES = {"fspl": kernels.MODEL_FSPL, "uma": kernels.MODEL_UMA,
               "umi": kernels.MODEL_UMI, "rma": kernels.MODEL_RMA}


@dataclass
class Pyramid:
    """Max pyramid of a surface: level L (1 ≤ L < levels) holds the maximum of each
    2**L × 2**L tile (grid-aligned), NaN ignored, rounded up to float32 so it never
    under-states the surface; flat in ``values``, level L from ``offsets[L]`` with
    ``widths[L]`` tiles a row."""

    values: NDArray[np.float32]
    offsets: NDArray[np.int64]
    widths: NDArray[np.int64]


def surface_pyramid(surface: NDArray[np.float64], levels: int = PYRAMID_LEVELS) -> Pyramid:
    """The :class:`Pyramid` of ``surface`` (metres)."""
    base = surface.astype(np.float32)
    low = base < surface
    base[low] = np.nextafter(base[low], np.float32(np.inf))
    base[np.isnan(base)] = -np.inf
    parts = [np.empty(0, dtype=np.float32)]
    offsets, widths = [0, 0], [0]
    src = base
    for _ in range(1, levels):
        out = np.empty(((src.shape[0] + 1) // 2, (src.shape[1] + 1) // 2), dtype=np.float32)
        kernels.max_pool(src, out)
        parts.append(out.ravel())
        offsets.append(offsets[-1] + out.size)
        widths.append(out.shape[1])
        src = out
    return Pyramid(np.concatenate(parts), np.array(offsets[:-1], dtype=np.int64),
                   np.array(widths, dtype=np.int64))


def _params(scenario: str, band_mhz: float, h_bs_m: float, h_ut_m: float,
            building_height_m: float, street_width_m: float) -> NDArray[np.float64]:
    """Per-model constants of :func:`kernels._pathloss_pair`, computed as
    :mod:`spp.coverage.pathloss` computes them."""
    from spp.coverage.pathloss import SPEED_OF_LIGHT_M_S, _breakpoint_eff_m

    p = np.zeros(kernels.N_PARAMS)
    p[kernels.P_HSQ] = (h_bs_m - h_ut_m) ** 2
    fc = band_mhz / 1000.0
    if scenario == "fspl":
        p[kernels.P_A] = float(20.0 * np.log10(np.float64(band_mhz)))
        return p
    rng = MODEL_RANGES[scenario]
    p[kernels.P_LOS_MAX] = rng.d_2d_los_m[1]
    p[kernels.P_NLOS_MAX] = rng.d_2d_nlos_m[1]
    p[kernels.P_RADIUS_CHECK] = 1.0
    p[kernels.P_A] = 20.0 * math.log10(fc)
    if scenario in ("uma", "umi"):
        d_bp = _breakpoint_eff_m(band_mhz, h_bs_m, h_ut_m)
        p[kernels.P_D_BP] = d_bp
        factor = 9.0 if scenario == "uma" else 9.5
        p[kernels.P_B] = factor * math.log10(d_bp**2 + (h_bs_m - h_ut_m) ** 2)
        p[kernels.P_C] = (0.6 if scenario == "uma" else 0.3) * (h_ut_m - 1.5)
        p[kernels.P_A2] = 21.3 * math.log10(fc)
        return p
    h, w = building_height_m, street_width_m
    d_bp = 2.0 * math.pi * h_bs_m * h_ut_m * band_mhz * 1e6 / SPEED_OF_LIGHT_M_S
    p[kernels.P_D_BP] = d_bp
    p[kernels.P_FC] = fc
    p[kernels.P_M1] = min(0.03 * h**1.72, 10.0)
    p[kernels.P_M2] = min(0.044 * h**1.72, 14.77)
    p[kernels.P_M3] = 0.002 * math.log10(h)
    p[kernels.P_PL1_BP] = float(_rma_pl1(np.asarray(d_bp, dtype=np.float64), fc, h))
    p[kernels.P_S0] = (161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
                       - (24.37 - 3.7 * (h / h_bs_m) ** 2) * math.log10(h_bs_m))
    p[kernels.P_BB] = 43.42 - 3.1 * math.log10(h_bs_m)
    p[kernels.P_E] = 3.2 * math.log10(11.75 * h_ut_m) ** 2 - 4.97
    return p


@dataclass
class SectorArrays:
    """Per-sector inputs of :func:`kernels.best_server_masts` (dB, degrees)."""

    eirp_dbm: NDArray[np.float64]
    omni: NDArray[np.bool_]
    boresight_deg: NDArray[np.float64]
    downtilt_deg: NDArray[np.float64]
    h_beamwidth_deg: NDArray[np.float64]
    v_beamwidth_deg: NDArray[np.float64]
    offset_db: NDArray[np.float64]
    """10 log10(12 N_RB): from carrier EIRP to RSRP."""
    group: NDArray[np.int64]
    rank: NDArray[np.int64]
    index: NDArray[np.int64]


@dataclass
class MastTable:
    """Masts, their sector groups (same model, band, height) and sectors as flat arrays,
    in the layout :func:`kernels.best_server_masts` reads."""

    window: NDArray[np.int64]
    observer: NDArray[np.int64]
    z_obs: NDArray[np.float64]
    los_radius: NDArray[np.float64]
    first_sub: NDArray[np.int64]
    model: NDArray[np.int64]
    params: NDArray[np.float64]
    first_sector: NDArray[np.int64]
    sectors: SectorArrays

    def __len__(self) -> int:
        return int(self.window.shape[0])


def prepare_masts(
    ground: NDArray[np.float64], grid: Grid, masts: Sequence[Sequence[tuple[int, Sector]]],
    settings: CoverageSettings, *, group: NDArray[np.int64], rank: NDArray[np.int64],
) -> MastTable:
    """Flatten masts (lists of ``(sector index, Sector)`` sharing x, y and height).

    ``group`` and ``rank`` give each sector index its result group and tie-break rank.
    Each (model, band, height) is checked once against the model's validity range, with the
    reference's ``out_of_range`` behaviour.

    Raises
    ------
    ScenarioError
        Unknown technology (no N_RB) or inputs outside the model's range.
    RasterError
        A mast outside the grid or on a nodata cell.
    """
    from spp.coverage.model import _radius_for

    checked: dict[tuple[str, float, float], NDArray[np.float64]] = {}
    h_ut = settings.target_height_m
    window, observer, z_obs, radii, first_sub = [], [], [], [], [0]
    models, params, first_sector, members_flat = [], [], [0], []
    for members in masts:
        first = members[0][1]
        row, col = observer_cell(grid, first.x, first.y)
        z_ground = ground[row, col]
        if not math.isfinite(z_ground):
            raise RasterError(f"site ({first.x:.1f}, {first.y:.1f}) stands on a nodata DEM cell")
        radius = max(_radius_for(s, settings) for _, s in members)
        pad_r = math.ceil(radius / grid.cell_y_m)
        pad_c = math.ceil(radius / grid.cell_x_m)
        window.append((max(0, row - pad_r), min(grid.shape[0], row + pad_r + 1),
                       max(0, col - pad_c), min(grid.shape[1], col + pad_c + 1)))
        observer.append((row, col))
        z_obs.append(float(z_ground + first.height_m))
        radii.append(radius)
        keyed: dict[tuple[str, float, float], list[tuple[int, Sector]]] = {}
        for i, s in members:
            keyed.setdefault((s.scenario, s.band_mhz, s.height_m), []).append((i, s))
        for key, items in keyed.items():
            if key not in checked:
                scenario, band, h_bs = key
                # the reference's range checks (raise or warn), on one LOS and one NLOS cell
                pathloss_db(scenario, np.array([10.0, 10.0]), band, h_bs_m=h_bs, h_ut_m=h_ut,
                            los=np.array([True, False]),
                            building_height_m=settings.building_height_m,
                            street_width_m=settings.street_width_m,
                            out_of_range=settings.out_of_range)  # type: ignore[arg-type]
                checked[key] = _params(scenario, band, h_bs, h_ut, settings.building_height_m,
                                       settings.street_width_m)
            models.append(MODEL_CODES[key[0]])
            params.append(checked[key])
            members_flat.extend(items)
            first_sector.append(len(members_flat))
        first_sub.append(len(models))
    offsets = []
    for _, s in members_flat:
        n_rb = settings.n_rb.get(s.technology)
        if n_rb is None:
            raise ScenarioError(f"no N_RB for technology {s.technology!r}")
        offsets.append(10.0 * math.log10(12 * n_rb))
    index = np.array([i for i, _ in members_flat], dtype=np.int64)
    sec = [s for _, s in members_flat]
    sectors = SectorArrays(
        np.array([s.eirp_dbm for s in sec], dtype=np.float64),
        np.array([s.azimuth_deg is None for s in sec], dtype=np.bool_),
        np.array([s.azimuth_deg or 0.0 for s in sec], dtype=np.float64),
        np.array([s.downtilt_deg for s in sec], dtype=np.float64),
        np.array([s.beamwidth_deg for s in sec], dtype=np.float64),
        np.full(len(sec), BEAMWIDTH_DEG),
        np.array(offsets, dtype=np.float64),
        np.ascontiguousarray(group[index], dtype=np.int64),
        np.ascontiguousarray(rank[index], dtype=np.int64),
        index,
    )
    return MastTable(
        np.array(window, dtype=np.int64).reshape(-1, 4),
        np.array(observer, dtype=np.int64).reshape(-1, 2),
        np.array(z_obs, dtype=np.float64), np.array(radii, dtype=np.float64),
        np.array(first_sub, dtype=np.int64), np.array(models, dtype=np.int64),
        np.array(params, dtype=np.float64).reshape(-1, kernels.N_PARAMS),
        np.array(first_sector, dtype=np.int64), sectors)


def update_best(
    ground: NDArray[np.float64], surface: NDArray[np.float64], pyramid: Pyramid,
    grid: Grid, table: MastTable, settings: CoverageSettings, *, best: NDArray[np.float32],
    server: NDArray[np.int32], best_origin: tuple[int, int], rank_of: NDArray[np.int64],
    masts: tuple[int, int] | None = None, ring_m: tuple[float, float] = (-1.0, math.inf),
) -> None:
    """Fold masts ``masts`` (default all) into ``best``/``server`` (``(groups, rows, cols)``,
    indexed from grid cell ``best_origin``) for the cells whose distance is in ``ring_m``."""
    lo, hi = masts if masts is not None else (0, len(table))
    tr = grid.transform
    k = settings.refraction_k
    use_los = bool(settings.use_los)
    curvature = 0.0 if (k is None or not use_los) else 1.0 / (2.0 * k * EARTH_RADIUS_M)
    sec = table.sectors
    edges = np.unique(np.r_[np.arange(best_origin[1], best_origin[1] + best.shape[2],
                                      BAND_COLUMNS), best_origin[1] + best.shape[2]])
    with numba.parallel_chunksize(1):
        kernels.best_server_masts(
            ground, surface, pyramid.values, pyramid.offsets, pyramid.widths, lo, hi, table.window, table.observer, table.z_obs,
            table.los_radius, table.first_sub, table.model, table.params, table.first_sector,
            sec.eirp_dbm, sec.omni, sec.boresight_deg, sec.downtilt_deg, sec.h_beamwidth_deg,
            sec.v_beamwidth_deg, sec.offset_db, sec.group, sec.rank, sec.index, rank_of, edges.astype(np.int64), float(ring_m[0]),
            float(ring_m[1]), float(settings.target_height_m), grid.cell_x_m, grid.cell_y_m,
            float(tr.c), float(tr.a), float(tr.f), float(tr.e), float(settings.radius_m),
            curvature, float(settings.step_cells), use_los, best, server,
            best_origin[0], best_origin[1],
        )
