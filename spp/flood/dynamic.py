"""Dynamic inundation: 2D local-inertial shallow water (LISFLOOD-FP "ACC" scheme).

The momentum equation without convective acceleration is solved explicitly on a
regular grid with the semi-implicit friction term of Bates et al. (2010); θ < 1 adds
the flux diffusion of de Almeida et al. (2012). The time step adapts to the deepest
computed water, Δt = α Δx / √(g h_max): cells whose level is imposed (the tidal boundary)
do not count, only the faces next to them (depth ≤ level − their neighbour's ground).
Per row, only the span of columns that is modelled (not nodata) and wet or within reach
of wet cells is visited; see ``_Spans``. Forcing: a water-level hydrograph (tide) on boundary cells, rainfall (mm/h),
point inflows (m³/s, e.g. a breach), pumps removing up to their capacity from their
drainage area; closed sluice gates and nodata are walls.

References
----------
Bates, P.D., Horritt, M.S., Fewtrell, T.J. (2010). A simple inertial formulation of the
shallow water equations for efficient two-dimensional flood inundation modelling.
Journal of Hydrology 387, 33–45.
de Almeida, G.A.M., Bates, P., Freer, J.E., Souvignet, M. (2012). Improving the
stability of a simple formulation of the shallow water equations for 2-D flood
modeling. Water Resources Research 48, W05528.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spp.errors import RasterError, ScenarioError

__all__ = [
    "DEFAULT_THRESHOLDS_M",
    "DynamicInputs",
    "FloodResult",
    "MassBalance",
    "PointInflow",
    "Pump",
    "TimeSeries",
    "simulate",
]

logger = logging.getLogger(__name__)

G = 9.81
DEFAULT_THRESHOLDS_M = (0.1, 0.3, 0.5, 1.0)
"""Depths (m) for which the time a cell stays above is accumulated."""

Progress = Callable[[float, float], None]
"""``progress(t_s, duration_s)`` called every few hundred steps."""


@dataclass(frozen=True)
class TimeSeries:
    """A time series; held constant before the first and after the last time.

    ``times_s`` seconds from the start of the run (increasing), ``values`` in the unit
    the consumer states (m above datum, mm/h, m³/s). Piecewise-linear by default;
    ``stepwise`` holds ``values[k]`` from ``times_s[k]`` to ``times_s[k+1]`` (rain
    intensities per interval, so totals are exact).
    """

    times_s: np.ndarray
    values: np.ndarray
    stepwise: bool = False

    def __post_init__(self) -> None:
        t = np.asarray(self.times_s, dtype=float).ravel()
        v = np.asarray(self.values, dtype=float).ravel()
        if t.size == 0 or t.size != v.size:
            raise ScenarioError("a time series needs as many times as values (at least one)")
        if np.any(np.diff(t) <= 0):
            raise ScenarioError("time series times must be strictly increasing")
        if not (np.isfinite(t).all() and np.isfinite(v).all()):
            raise ScenarioError("time series must be finite numbers")
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "values", v)

    @classmethod
    def constant(cls, value: float) -> TimeSeries:
        """A series equal to ``value`` at all times."""
        return cls(np.array([0.0]), np.array([float(value)]))

    def at(self, t_s: float) -> float:
        """Value at time ``t_s`` (s)."""
        if self.stepwise:
            k = int(np.searchsorted(self.times_s, t_s, side="right")) - 1
            return float(self.values[min(max(k, 0), self.values.size - 1)])
        return float(np.interp(t_s, self.times_s, self.values))


@dataclass(frozen=True)
class Pump:
    """A pump station draining ``cells`` (bool mask on the model grid) at ≤ capacity."""

    name: str
    capacity_m3s: float
    cells: np.ndarray


@dataclass(frozen=True)
class PointInflow:
    """Water entering on ``cells`` (bool mask), ``discharge_m3s`` split evenly."""

    name: str
    cells: np.ndarray
    discharge_m3s: TimeSeries


@dataclass
class DynamicInputs:
    """Everything :func:`simulate` needs, on one projected grid in metres (e.g. EPSG:9210).

    Attributes
    ----------
    elevation_m : numpy.ndarray
        float32 ground in m above Hòn Dấu; NaN = outside the model (a wall).
    cell_size_m : float
        Square cell edge, metres.
    manning_n : numpy.ndarray or float
        Manning's n (s m⁻¹ᐟ³) per cell or uniform.
    boundary : numpy.ndarray, optional
        bool mask of cells whose water level is imposed by ``boundary_level_m``.
    boundary_level_m : TimeSeries, optional
        River water level, m above Hòn Dấu.
    rain_mm_h : TimeSeries, optional
        Rain intensity (mm/h, ≥ 0) falling uniformly on non-boundary cells.
    pumps, inflows : sequences
        Pump stations and point inflows (breaches).
    walls : numpy.ndarray, optional
        bool mask of cells that block flow (closed sluice gates, buildings).
    initial_depth_m : numpy.ndarray, optional
        Depth at t = 0 (m); default dry except boundary cells.
    """

    elevation_m: np.ndarray
    cell_size_m: float
    manning_n: np.ndarray | float = 0.035
    boundary: np.ndarray | None = None
    boundary_level_m: TimeSeries | None = None
    rain_mm_h: TimeSeries | None = None
    pumps: Sequence[Pump] = ()
    inflows: Sequence[PointInflow] = ()
    walls: np.ndarray | None = None
    initial_depth_m: np.ndarray | None = None


@dataclass(frozen=True)
class MassBalance:
    """Volumes (m³) over a run; ``error_m3`` = Δstorage − (inflows + rain − pumped)."""

    initial_m3: float
    final_m3: float
    boundary_inflow_m3: float
    point_inflow_m3: float
    rain_m3: float
    pumped_m3: float
    clipped_m3: float
    error_m3: float
    error_pct: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict for reports and JSON."""
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass
class FloodResult:
    """Outputs of :func:`simulate` on the input grid (float32, NaN outside the model).

    Attributes
    ----------
    max_depth_m : numpy.ndarray
        Maximum depth reached, m.
    arrival_time_s : numpy.ndarray
        Time (s from start) the depth first exceeded ``arrival_depth_m``; NaN = never.
    duration_s : dict
        Threshold depth (m) → seconds spent above it.
    final_depth_m : numpy.ndarray
        Depth at the end, m.
    mass_balance : MassBalance
    gauges : dict
        Name → ``(times_s, depths_m)`` arrays sampled every ``gauge_interval_s``.
    steps : int
    wall_s : float
        Compute time of the time loop, seconds.
    cell_updates_per_s : float
        Grid cells × steps / ``wall_s`` (all cells of the grid, also the skipped ones).
    cpu_s : float
        CPU time of the process during the time loop, seconds (all threads).
    visited_share : float
        Share of grid cells × steps the kernels visited (the rest was nodata or dry).
    """

    max_depth_m: np.ndarray
    arrival_time_s: np.ndarray
    duration_s: dict[float, np.ndarray]
    final_depth_m: np.ndarray
    mass_balance: MassBalance
    gauges: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    steps: int = 0
    wall_s: float = 0.0
    cell_updates_per_s: float = 0.0
    cpu_s: float = 0.0
    visited_share: float = 1.0


def _mask(a: np.ndarray | None, shape: tuple[int, int], what: str) -> np.ndarray:
    if a is None:
        return np.zeros(shape, dtype=np.bool_)
    m = np.asarray(a)
    if m.shape != shape:
        raise RasterError(f"{what} mask has shape {m.shape}, the grid is {shape}")
    return np.ascontiguousarray(m.astype(np.bool_))


class _Spans:
    """Per-row column spans ``[lo, hi)`` of the cells the kernels visit ("skip dry regions").

    Water moves at most one cell per step (a face carries flow only if one of its cells is
    deeper than ``h_min``), so cells farther than ``every + 1`` cells from every wet cell
    stay dry for the next ``every`` steps. Every ``every`` steps the wet extent of each row
    is taken again, widened by that margin in both directions (and over as many rows), and
    joined with the same widening of the always-active cells (imposed boundary, inflows),
    within the modelled cells of the row. While it rains every modelled cell is visited.
    """

    def __init__(self, modelled: np.ndarray, always: np.ndarray, every: int) -> None:
        self.ny, self.nx = modelled.shape
        self.skip_dry = every > 0
        self.every = max(int(every), 1)
        self.pad = self.every + 1
        self.v_lo, self.v_hi = _row_extent(modelled)
        a_lo, a_hi = _row_extent(always)
        self.a_lo, self.a_hi = self._widen(a_lo, a_hi)
        self.lo, self.hi = self.v_lo.copy(), self.v_hi.copy()
        self.first = np.empty(self.ny, np.int64)
        self.last = np.empty(self.ny, np.int64)
        self.since = 0
        self.full = True
        self.visited = 0
        self.order = _row_order(self.ny)

    def _widen(self, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.ndimage import maximum_filter1d, minimum_filter1d

        size = 2 * self.pad + 1
        lo = minimum_filter1d(first, size, mode="constant", cval=self.nx) - self.pad
        hi = maximum_filter1d(last, size, mode="constant", cval=0) + self.pad
        return lo, hi

    def update(self, h: np.ndarray, h_min: float) -> tuple[np.ndarray, np.ndarray]:
        """New spans from the wet cells of ``h`` (cells outside the current spans are dry)."""
        from spp.flood import kernels

        if not self.skip_dry:
            self.lo, self.hi = self.v_lo.copy(), self.v_hi.copy()
            self.full = False
            return self.lo, self.hi
        kernels.wet_extent(h, self.lo, self.hi, h_min, self.first, self.last, self.order)
        w_lo, w_hi = self._widen(self.first, self.last)
        self.lo = np.ascontiguousarray(np.maximum(np.minimum(w_lo, self.a_lo), self.v_lo))
        self.hi = np.ascontiguousarray(np.minimum(np.maximum(w_hi, self.a_hi), self.v_hi))
        self.since = 0
        self.full = False
        return self.lo, self.hi

    def everywhere(self) -> tuple[np.ndarray, np.ndarray]:
        """All modelled cells (rain); the next step takes the wet extent again."""
        self.lo, self.hi = self.v_lo.copy(), self.v_hi.copy()
        self.full = True
        self.since = self.every
        return self.lo, self.hi

    def due(self) -> bool:
        return self.skip_dry and (self.full or self.since >= self.every)

    def step(self) -> None:
        self.since += 1
        self.visited += int(np.maximum(self.hi - self.lo, 0).sum())


def _row_order(ny: int, block: int = 8) -> np.ndarray:
    """Rows in blocks of ``block``, dealt round-robin to the numba threads: a ``prange``
    over this order gives thread t blocks t, t + T, … instead of one contiguous part of the
    grid (on the city half the wet rows lie in a third of the grid)."""
    import numba

    threads = max(int(numba.get_num_threads()), 1)
    blocks = np.arange(0, ny, block)
    parts = [blocks[t::threads] for t in range(threads)]
    return np.concatenate([np.concatenate([np.arange(b, min(b + block, ny)) for b in part])
                           if part.size else np.zeros(0, np.int64) for part in parts]).astype(np.int64)


def _cfl_step(depth_m: float, dx: float, alpha: float, dt_max_s: float, h_min_m: float) -> float:
    """Δt = α Δx / √(g h) for the deepest computed water ``depth_m`` (``dt_max_s`` if dry)."""
    if depth_m <= h_min_m:
        return dt_max_s
    return min(dt_max_s, alpha * dx / math.sqrt(G * depth_m))


def _row_extent(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last True column per row (``nx, 0`` for rows without any)."""
    nx = mask.shape[1]
    anyr = mask.any(axis=1)
    first = np.where(anyr, mask.argmax(axis=1), nx).astype(np.int64)
    last = np.where(anyr, nx - mask[:, ::-1].argmax(axis=1), 0).astype(np.int64)
    return first, last


def simulate(
    inputs: DynamicInputs,
    duration_s: float,
    *,
    alpha: float = 0.7,
    theta: float = 1.0,
    dt_max_s: float = 30.0,
    h_min_m: float = 1e-3,
    arrival_depth_m: float = 0.1,
    thresholds_m: Sequence[float] = DEFAULT_THRESHOLDS_M,
    gauges: Mapping[str, tuple[int, int]] | None = None,
    gauge_interval_s: float = 60.0,
    stats_every: int = 5,
    span_every: int = 8,
    progress: Progress | None = None,
) -> FloodResult:
    """Run the local-inertial model for ``duration_s`` seconds.

    Parameters
    ----------
    inputs : DynamicInputs
        Grid, roughness and forcing (see there for units and CRS).
    duration_s : float
        Simulated time, seconds.
    alpha : float
        Courant number in Δt = α Δx / √(g h_max); 0.7 as in LISFLOOD-FP.
    theta : float
        1 = Bates et al. (2010); 0.9 ≤ θ < 1 adds de Almeida et al. (2012) diffusion.
        Lower values are refused: at θ = 0.7 the EA Test 2 depressions drained below
        their sills (momentum averaged in from neighbouring faces moved water uphill).
    dt_max_s : float
        Upper bound on the time step (s), used while the domain is (nearly) dry.
    h_min_m : float
        Depth (m) below which a face carries no flow.
    arrival_depth_m : float
        Depth (m) defining the time of first flooding.
    thresholds_m : sequence of float
        Depths (m) for duration-above outputs.
    gauges : mapping, optional
        Name → (row, col) of cells whose depth is recorded.
    gauge_interval_s : float
        Sampling interval of gauges (s).
    stats_every : int
        Steps between updates of max depth, arrival time and durations (each costs a
        pass over the wet rows; with Δt of a few seconds, 5 steps loses nothing visible).
    span_every : int
        Steps between updates of the per-row spans of cells that can be wet (dry parts
        of rows and nodata are skipped; see ``_Spans``). Larger = cheaper updates, wider
        margins. 0 visits every modelled cell every step (nodata is still skipped).
    progress : callable, optional
        ``progress(t_s, duration_s)``.

    Returns
    -------
    FloodResult

    Raises
    ------
    RasterError
        Bad grid or mask shapes, nothing wet-able.
    ScenarioError
        Negative rain or capacity, bad numerical parameters.
    """
    from spp.flood import kernels

    z = np.ascontiguousarray(inputs.elevation_m, dtype=np.float32)
    if z.ndim != 2 or z.size == 0:
        raise RasterError(f"elevation must be a non-empty 2-D array, got shape {z.shape}")
    shape = (int(z.shape[0]), int(z.shape[1]))
    dx = float(inputs.cell_size_m)
    if not dx > 0:
        raise RasterError(f"cell size must be positive metres, got {dx}")
    if not 0 < alpha <= 1 or not 0.9 <= theta <= 1 or duration_s <= 0:
        raise ScenarioError("need 0 < alpha ≤ 1, 0.9 ≤ theta ≤ 1 (lower θ moves water uphill "
                            "at wet/dry fronts) and a positive duration")
    valid = np.isfinite(z)
    if not valid.any():
        raise RasterError("every DEM cell is nodata; nothing to model")
    wall = np.ascontiguousarray(~valid | _mask(inputs.walls, shape, "walls"))
    zc = np.where(valid & ~wall, z, np.float32(1e4)).astype(np.float32)
    boundary = _mask(inputs.boundary, shape, "boundary") & valid
    n = np.broadcast_to(np.asarray(inputs.manning_n, dtype=np.float32), shape)
    if not np.all(np.isfinite(n[valid])) or np.any(n[valid] <= 0):
        raise ScenarioError("Manning's n must be positive on every modelled cell")
    gn2 = np.ascontiguousarray(G * n * n, dtype=np.float32)
    rain = inputs.rain_mm_h
    if rain is not None and np.any(rain.values < 0):
        raise ScenarioError("rain intensity must be ≥ 0 mm/h")
    for p in inputs.pumps:
        if p.capacity_m3s < 0:
            raise ScenarioError(f"pump {p.name}: capacity must be ≥ 0 m³/s")

    h = np.zeros(shape, dtype=np.float32)
    if inputs.initial_depth_m is not None:
        h[:] = np.where(valid & ~wall, np.maximum(inputs.initial_depth_m, 0), 0)
    b_rows, b_cols = (a.astype(np.int64) for a in np.nonzero(boundary))
    b_open = ~wall[b_rows, b_cols]
    if inputs.boundary_level_m is None and b_rows.size:
        raise ScenarioError("boundary cells given without a boundary water level")

    # Pumps as CSR over disjoint flat cell indices.
    owner = np.full(shape, -1, dtype=np.int64)
    for k, p in enumerate(inputs.pumps):
        cells = _mask(p.cells, shape, f"pump {p.name}") & valid & ~wall & ~boundary
        owner[cells & (owner < 0)] = k
    flat = owner.ravel()
    order = np.argsort(flat, kind="stable")
    order = order[flat[order] >= 0]
    counts = np.bincount(flat[order], minlength=len(inputs.pumps))
    p_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    p_cells = order.astype(np.int64)
    p_cap = np.array([p.capacity_m3s for p in inputs.pumps], dtype=np.float64)
    p_removed = np.zeros(len(inputs.pumps), dtype=np.float64)
    inflows = [(np.nonzero(_mask(f.cells, shape, f"inflow {f.name}") & valid & ~wall), f)
               for f in inputs.inflows]

    counted = valid & ~wall & ~boundary
    interior = np.ascontiguousarray(counted)
    since_stats = 0.0
    n_rain_cells = int(counted.sum())
    area = dx * dx
    thresholds = np.asarray(sorted(thresholds_m), dtype=np.float32)
    # np.zeros maps pages lazily; fill them now so first touches are not timed in the loop
    max_depth = np.full(shape, 0.0, dtype=np.float32)
    arrival = np.full(shape, np.nan, dtype=np.float32)
    duration = np.full((thresholds.size, *shape), 0.0, dtype=np.float32)
    qx = np.full((shape[0], shape[1] + 1), 0.0, dtype=np.float32)
    qy = np.full((shape[0] + 1, shape[1]), 0.0, dtype=np.float32)
    qx_b, qy_b = qx.copy(), qy.copy()
    # per flux buffer: the face range of each row written last (x and y)
    written = [np.zeros(shape[0] + 1, dtype=np.int64) for _ in range(8)]
    row_clip = np.zeros(shape[0])
    row_bnd = np.zeros(shape[0])
    row_hmax = np.where(interior, h, 0).max(axis=1).astype(np.float32)
    spans = _Spans(~wall, boundary | np.logical_or.reduce(
        [np.zeros(shape, bool)] + [_mask(f.cells, shape, "inflow") & valid & ~wall
                                   for f in inputs.inflows]), span_every)
    lo, hi = spans.update(h, h_min_m)
    order = spans.order
    # Imposed cells are left out of the time step (their depth does not evolve); a face
    # between an imposed and a computed cell is at most level − (lowest such computed cell).
    b_open_mask = np.zeros(shape, bool)
    b_open_mask[b_rows[b_open], b_cols[b_open]] = True
    z_next_to_bnd = np.inf
    if b_open_mask.any():
        near = np.zeros(shape, bool)
        near[1:] |= b_open_mask[:-1]
        near[:-1] |= b_open_mask[1:]
        near[:, 1:] |= b_open_mask[:, :-1]
        near[:, :-1] |= b_open_mask[:, 1:]
        near &= counted
        if near.any():
            z_next_to_bnd = float(zc[near].min())
    gauge_cells = dict(gauges or {})
    g_times: list[float] = []
    g_vals: dict[str, list[float]] = {k: [] for k in gauge_cells}

    v0 = kernels.stored_volume(h, counted, area)
    tot_bnd = tot_inflow = tot_rain = tot_clip = tot_pumped = 0.0
    t = 0.0
    steps = 0
    next_gauge = 0.0
    cpu_start = time.process_time()
    t_start = time.perf_counter()
    while t < duration_s - 1e-9:
        level = 0.0
        if b_rows.size:
            assert inputs.boundary_level_m is not None
            level = inputs.boundary_level_m.at(t)
            kernels.impose_level(h, zc, b_rows, b_cols, level, b_open)
        if gauge_cells and t >= next_gauge - 1e-9:
            g_times.append(t)
            for name, (r, c) in gauge_cells.items():
                g_vals[name].append(float(h[r, c]))
            next_gauge += gauge_interval_s
        hmax = float(max(row_hmax.max(), level - z_next_to_bnd))
        dt = min(_cfl_step(hmax, dx, alpha, dt_max_s, h_min_m), duration_s - t)
        for (rows, cols), f in inflows:
            if rows.size:
                # the depth after this step's inflow counts: a shorter step adds less
                q = abs(f.discharge_m3s.at(t + 0.5 * dt))
                depth = float(h[rows, cols].max()) + q * dt / (area * rows.size)
                dt = min(dt, _cfl_step(depth, dx, alpha, dt_max_s, h_min_m))
        if inflows:
            for (rows, cols), f in inflows:
                q = f.discharge_m3s.at(t + 0.5 * dt)
                if q != 0 and rows.size:
                    added = kernels.add_point_inflow(h, rows.astype(np.int64), cols.astype(np.int64),
                                                     q * dt / (area * rows.size))
                    tot_inflow += added * area
        rain_m = rain.at(t + 0.5 * dt) / 1000.0 / 3600.0 * dt if rain is not None else 0.0
        if rain_m > 0:
            lo, hi = spans.everywhere()
        elif spans.due():
            lo, hi = spans.update(h, h_min_m)
        kernels.compute_fluxes(h, zc, gn2, qx, qy, qx_b, qy_b, lo, hi, *written[4:],
                               dt, dx, theta, h_min_m, order)
        qx, qy, qx_b, qy_b = qx_b, qy_b, qx, qy
        written = written[4:] + written[:4]
        kernels.update_depths(h, qx, qy, interior, lo, hi, row_hmax, row_clip, row_bnd,
                              dt, dx, rain_m, order)
        tot_rain += float(np.float32(rain_m)) * area * n_rain_cells
        tot_bnd += float(row_bnd.sum())
        tot_clip += float(row_clip.sum())
        if p_cap.size:
            kernels.pump_out(h, p_ptr, p_cells, p_cap * dt, area, p_removed)
            tot_pumped += float(p_removed.sum())
        t += dt
        steps += 1
        spans.step()
        since_stats += dt
        if steps % stats_every == 0 or t >= duration_s - 1e-9:
            kernels.update_stats(h, lo, hi, max_depth, arrival, duration, thresholds, t,
                                 since_stats, arrival_depth_m, order)
            since_stats = 0.0
        if progress is not None and steps % 200 == 0:
            progress(t, duration_s)
    wall_s = time.perf_counter() - t_start
    cpu_s = time.process_time() - cpu_start
    if gauge_cells:
        g_times.append(t)
        for name, (r, c) in gauge_cells.items():
            g_vals[name].append(float(h[r, c]))
    if progress is not None:
        progress(t, duration_s)

    v1 = kernels.stored_volume(h, counted, area)
    err = (v1 - v0) - (tot_bnd + tot_inflow + tot_rain - tot_pumped)
    scale = max(abs(v1), abs(v0), tot_inflow + tot_rain + abs(tot_bnd), 1e-12)
    mb = MassBalance(v0, v1, tot_bnd, tot_inflow, tot_rain, tot_pumped, tot_clip, err,
                     100.0 * abs(err) / scale)
    nan_out = ~valid
    for a in (max_depth, arrival, h):
        a[nan_out] = np.nan
    for a in duration:
        a[nan_out] = np.nan
    rate = z.size * steps / wall_s if wall_s > 0 else 0.0
    logger.info("dynamic run: %d steps, %.1f s wall, %.0f M cell-updates/s, mass error %.4f%%",
                steps, wall_s, rate / 1e6, mb.error_pct)
    return FloodResult(
        max_depth_m=max_depth,
        arrival_time_s=arrival,
        duration_s={float(th): duration[k] for k, th in enumerate(sorted(thresholds_m))},
        final_depth_m=h,
        mass_balance=mb,
        gauges={k: (np.asarray(g_times), np.asarray(v)) for k, v in g_vals.items()},
        steps=steps,
        wall_s=wall_s,
        cell_updates_per_s=rate,
        cpu_s=cpu_s,
        visited_share=spans.visited / (z.size * steps) if steps else 0.0,
    )
