"""Path loss: free space and 3GPP TR 38.901 UMa, UMi-Street Canyon and RMa (LOS and NLOS).

All functions are vectorised: scalars or arrays in, same shape out. Distances are in
metres, frequencies in MHz, losses in dB. Inputs outside a model's validity range raise
:class:`~spp.errors.ScenarioError` (``out_of_range="raise"``, the default) or log a warning
(``"warn"``) — they are never silently extrapolated.

Conventions (explicit where TR 38.901 leaves a choice)
-------------------------------------------------------
* ``d_3d = sqrt(d_2d**2 + (h_bs - h_ut)**2)``.
* UMa and UMi use the effective environment height h_E = 1 m for the breakpoint distance
  d'_BP = 4 h'_BS h'_UT f_c / c. For UMa this is exact for h_UT < 13 m (C(d_2D, h_UT) = 0);
  above it TR 38.901 draws h_E at random, which a deterministic planner cannot do.
* Beyond d'_BP the LOS formula PL2 is used (UMa, UMi); NLOS is max(PL_LOS, PL'_NLOS), where
  PL_LOS is evaluated with the same distances, as Table 7.4.1-1 prescribes.
* c = 3.0e8 m/s, as in the table's note 1.
* No shadow fading (the median loss is returned).

References
----------
3GPP TR 38.901 V17.0.0 (2022-03), "Study on channel model for frequencies from 0.5 to
100 GHz", Table 7.4.1-1 (path loss models) and its notes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spp.errors import ScenarioError

__all__ = [
    "MODELS",
    "MODEL_RANGES",
    "SPEED_OF_LIGHT_M_S",
    "ModelRange",
    "check_range",
    "fspl_db",
    "pathloss_db",
    "rma_los_db",
    "rma_nlos_db",
    "uma_los_db",
    "uma_nlos_db",
    "umi_los_db",
    "umi_nlos_db",
]

log = logging.getLogger(__name__)

Model = Literal["fspl", "uma", "umi", "rma"]
OutOfRange = Literal["raise", "warn"]
MODELS: tuple[str, ...] = ("fspl", "uma", "umi", "rma")
SPEED_OF_LIGHT_M_S = 3.0e8
"""Speed of light used by TR 38.901 (note 1 of Table 7.4.1-1)."""


@dataclass(frozen=True)
class ModelRange:
    """Validity range of one TR 38.901 model (Table 7.4.1-1), metres and MHz."""

    freq_mhz: tuple[float, float]
    d_2d_los_m: tuple[float, float]
    d_2d_nlos_m: tuple[float, float]
    h_bs_m: tuple[float, float]
    h_ut_m: tuple[float, float]
    h_bs_nominal_m: float | None = None


MODEL_RANGES: dict[str, ModelRange] = {
    # UMa: h_BS = 25 m nominal; other heights are accepted with a warning.
    "uma": ModelRange((500.0, 100_000.0), (10.0, 5000.0), (10.0, 5000.0), (1.5, 150.0),
                      (1.5, 22.5), 25.0),
    # UMi-Street Canyon: h_BS = 10 m nominal.
    "umi": ModelRange((500.0, 100_000.0), (10.0, 5000.0), (10.0, 5000.0), (1.5, 150.0),
                      (1.5, 22.5), 10.0),
    # RMa: validated up to 7 GHz, up to 30 GHz from one campaign at 24 GHz (note 4).
    "rma": ModelRange((500.0, 30_000.0), (10.0, 10_000.0), (10.0, 5000.0), (10.0, 150.0),
                      (1.0, 10.0)),
}


def _arr(value: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(value, dtype=np.float64)


def _outside(values: NDArray[np.float64], low: float, high: float) -> bool:
    finite = values[np.isfinite(values)]
    return bool(finite.size and (finite.min() < low - 1e-9 or finite.max() > high + 1e-9))


def check_range(
    model: str,
    d_2d_m: ArrayLike,
    freq_mhz: float,
    *,
    h_bs_m: float,
    h_ut_m: float,
    los: bool,
    out_of_range: OutOfRange = "raise",
) -> None:
    """Check inputs against the validity range of ``model`` (Table 7.4.1-1).

    Raises
    ------
    ScenarioError
        When ``out_of_range="raise"`` and any input is outside the range; the message
        names the parameter, its value and the valid interval.
    """
    if model not in MODEL_RANGES:
        raise ScenarioError(f"unknown path-loss model {model!r}; choose one of {MODELS}")
    rng = MODEL_RANGES[model]
    d = _arr(d_2d_m)
    d_range = rng.d_2d_los_m if los else rng.d_2d_nlos_m
    problems = []
    if not rng.freq_mhz[0] <= freq_mhz <= rng.freq_mhz[1]:
        problems.append(f"freq_mhz={freq_mhz:g} outside {rng.freq_mhz}")
    if _outside(d, *d_range):
        problems.append(
            f"d_2d_m in [{np.nanmin(d):g}, {np.nanmax(d):g}] outside {d_range} "
            f"({'LOS' if los else 'NLOS'})"
        )
    if not rng.h_bs_m[0] <= h_bs_m <= rng.h_bs_m[1]:
        problems.append(f"h_bs_m={h_bs_m:g} outside {rng.h_bs_m}")
    if not rng.h_ut_m[0] <= h_ut_m <= rng.h_ut_m[1]:
        problems.append(f"h_ut_m={h_ut_m:g} outside {rng.h_ut_m}")
    if problems:
        message = f"3GPP TR 38.901 {model.upper()}: " + "; ".join(problems)
        if out_of_range == "raise":
            raise ScenarioError(message)
        log.warning("%s (results extrapolated)", message)
    if rng.h_bs_nominal_m is not None and abs(h_bs_m - rng.h_bs_nominal_m) > 1e-9:
        log.info(
            "%s is specified for h_BS = %g m; using h_BS = %g m",
            model.upper(), rng.h_bs_nominal_m, h_bs_m,
        )
    if model == "rma" and freq_mhz > 7000.0:
        log.warning("RMa above 7 GHz rests on a single 24 GHz campaign (TR 38.901 note 4)")


def fspl_db(d_m: ArrayLike, freq_mhz: ArrayLike) -> NDArray[np.float64]:
    """Free-space path loss in dB: ``20 log10(d_m) + 20 log10(f_MHz) - 27.55``.

    Parameters
    ----------
    d_m : array_like
        Distance in metres (> 0).
    freq_mhz : array_like
        Frequency in MHz (> 0).

    >>> round(float(fspl_db(1000.0, 3500.0)), 2)
    103.33
    """
    d = _arr(d_m)
    f = _arr(freq_mhz)
    if np.any(d <= 0) or np.any(f <= 0):
        raise ScenarioError("free-space loss needs distance and frequency > 0")
    return (20.0 * np.log10(d) + 20.0 * np.log10(f) - 27.55)


def _d3d(d_2d: NDArray[np.float64], h_bs: float, h_ut: float) -> NDArray[np.float64]:
    return np.sqrt(d_2d**2 + (h_bs - h_ut) ** 2)


def _breakpoint_eff_m(freq_mhz: float, h_bs: float, h_ut: float, h_e: float = 1.0) -> float:
    return 4.0 * (h_bs - h_e) * (h_ut - h_e) * freq_mhz * 1e6 / SPEED_OF_LIGHT_M_S


def uma_los_db(
    d_2d_m: ArrayLike, freq_mhz: float, *, h_bs_m: float = 25.0, h_ut_m: float = 1.5
) -> NDArray[np.float64]:
    """UMa LOS path loss in dB (TR 38.901 Table 7.4.1-1), no range check.

    >>> round(float(uma_los_db(100.0, 3500.0)), 2)
    83.14
    """
    d_2d = _arr(d_2d_m)
    fc = freq_mhz / 1000.0
    d3 = _d3d(d_2d, h_bs_m, h_ut_m)
    d_bp = _breakpoint_eff_m(freq_mhz, h_bs_m, h_ut_m)
    pl1 = 28.0 + 22.0 * np.log10(d3) + 20.0 * math.log10(fc)
    pl2 = (28.0 + 40.0 * np.log10(d3) + 20.0 * math.log10(fc)
           - 9.0 * math.log10(d_bp**2 + (h_bs_m - h_ut_m) ** 2))
    return (np.where(d_2d <= d_bp, pl1, pl2))


def uma_nlos_db(
    d_2d_m: ArrayLike, freq_mhz: float, *, h_bs_m: float = 25.0, h_ut_m: float = 1.5
) -> NDArray[np.float64]:
    """UMa NLOS path loss in dB: max(PL_UMa-LOS, PL'_UMa-NLOS), no range check."""
    d_2d = _arr(d_2d_m)
    fc = freq_mhz / 1000.0
    d3 = _d3d(d_2d, h_bs_m, h_ut_m)
    pl_nlos = 13.54 + 39.08 * np.log10(d3) + 20.0 * math.log10(fc) - 0.6 * (h_ut_m - 1.5)
    return (np.maximum(uma_los_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m), pl_nlos))


def umi_los_db(
    d_2d_m: ArrayLike, freq_mhz: float, *, h_bs_m: float = 10.0, h_ut_m: float = 1.5
) -> NDArray[np.float64]:
    """UMi-Street Canyon LOS path loss in dB (TR 38.901 Table 7.4.1-1), no range check."""
    d_2d = _arr(d_2d_m)
    fc = freq_mhz / 1000.0
    d3 = _d3d(d_2d, h_bs_m, h_ut_m)
    d_bp = _breakpoint_eff_m(freq_mhz, h_bs_m, h_ut_m)
    pl1 = 32.4 + 21.0 * np.log10(d3) + 20.0 * math.log10(fc)
    pl2 = (32.4 + 40.0 * np.log10(d3) + 20.0 * math.log10(fc)
           - 9.5 * math.log10(d_bp**2 + (h_bs_m - h_ut_m) ** 2))
    return (np.where(d_2d <= d_bp, pl1, pl2))


def umi_nlos_db(
    d_2d_m: ArrayLike, freq_mhz: float, *, h_bs_m: float = 10.0, h_ut_m: float = 1.5
) -> NDArray[np.float64]:
    """UMi-Street Canyon NLOS path loss in dB: max(PL_UMi-LOS, PL'_UMi-NLOS)."""
    d_2d = _arr(d_2d_m)
    fc = freq_mhz / 1000.0
    d3 = _d3d(d_2d, h_bs_m, h_ut_m)
    pl_nlos = 35.3 * np.log10(d3) + 22.4 + 21.3 * math.log10(fc) - 0.3 * (h_ut_m - 1.5)
    return (np.maximum(umi_los_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m), pl_nlos))


def _rma_pl1(d3: NDArray[np.float64], fc_ghz: float, h: float) -> NDArray[np.float64]:
    return (20.0 * np.log10(40.0 * math.pi * d3 * fc_ghz / 3.0)
            + min(0.03 * h**1.72, 10.0) * np.log10(d3)
            - min(0.044 * h**1.72, 14.77)
            + 0.002 * math.log10(h) * d3)


def rma_los_db(
    d_2d_m: ArrayLike,
    freq_mhz: float,
    *,
    h_bs_m: float = 35.0,
    h_ut_m: float = 1.5,
    building_height_m: float = 5.0,
) -> NDArray[np.float64]:
    """RMa LOS path loss in dB (TR 38.901 Table 7.4.1-1), no range check.

    ``building_height_m`` is the average building height h (default 5 m);
    d_BP = 2 pi h_BS h_UT f_c / c with the actual antenna heights.
    """
    d_2d = _arr(d_2d_m)
    fc = freq_mhz / 1000.0
    h = building_height_m
    d3 = _d3d(d_2d, h_bs_m, h_ut_m)
    d_bp = 2.0 * math.pi * h_bs_m * h_ut_m * freq_mhz * 1e6 / SPEED_OF_LIGHT_M_S
    pl1 = _rma_pl1(d3, fc, h)
    pl1_bp = _rma_pl1(np.asarray(d_bp, dtype=np.float64), fc, h)
    pl2 = pl1_bp + 40.0 * np.log10(d3 / d_bp)
    return (np.where(d_2d <= d_bp, pl1, pl2))


def rma_nlos_db(
    d_2d_m: ArrayLike,
    freq_mhz: float,
    *,
    h_bs_m: float = 35.0,
    h_ut_m: float = 1.5,
    building_height_m: float = 5.0,
    street_width_m: float = 20.0,
) -> NDArray[np.float64]:
    """RMa NLOS path loss in dB: max(PL_RMa-LOS, PL'_RMa-NLOS); h = 5 m, W = 20 m default."""
    d_2d = _arr(d_2d_m)
    fc = freq_mhz / 1000.0
    h, w = building_height_m, street_width_m
    d3 = _d3d(d_2d, h_bs_m, h_ut_m)
    pl_nlos = (161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
               - (24.37 - 3.7 * (h / h_bs_m) ** 2) * math.log10(h_bs_m)
               + (43.42 - 3.1 * math.log10(h_bs_m)) * (np.log10(d3) - 3.0)
               + 20.0 * math.log10(fc)
               - (3.2 * math.log10(11.75 * h_ut_m) ** 2 - 4.97))
    los = rma_los_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m, building_height_m=h)
    return (np.maximum(los, pl_nlos))


def pathloss_db(
    model: str,
    d_2d_m: ArrayLike,
    freq_mhz: float,
    *,
    h_bs_m: float,
    h_ut_m: float = 1.5,
    los: bool | NDArray[np.bool_] = True,
    building_height_m: float = 5.0,
    street_width_m: float = 20.0,
    out_of_range: OutOfRange = "raise",
) -> NDArray[np.float64]:
    """Median path loss in dB for ``model`` in ``{"fspl", "uma", "umi", "rma"}``.

    Parameters
    ----------
    model : str
        ``"fspl"`` (free space over the 3-D distance) or a TR 38.901 scenario.
    d_2d_m : array_like
        Horizontal distance base station → user terminal, metres.
    freq_mhz : float
        Carrier frequency, MHz.
    h_bs_m, h_ut_m : float
        Antenna heights above local ground, metres.
    los : bool or bool array
        Line of sight per distance (broadcast against ``d_2d_m``).
    building_height_m, street_width_m : float
        RMa average building height h and street width W, metres (5 and 20 by default);
        RMa checks 5 ≤ h ≤ 50 and 5 ≤ W ≤ 50.
    out_of_range : {"raise", "warn"}
        What to do with inputs outside Table 7.4.1-1's validity ranges.

    Returns
    -------
    ndarray of float64
        Path loss in dB, shape of ``d_2d_m`` broadcast with ``los``.

    Raises
    ------
    ScenarioError
        Unknown model, or inputs out of range with ``out_of_range="raise"``.

    References
    ----------
    3GPP TR 38.901 V17.0.0, Table 7.4.1-1.

    >>> round(float(pathloss_db("umi", 200.0, 3500.0, h_bs_m=10.0, los=False)), 2)
    115.23
    """
    d_2d = _arr(d_2d_m)
    los_arr = np.asarray(los, dtype=bool)
    if model == "fspl":
        d3 = _d3d(d_2d, h_bs_m, h_ut_m)
        return fspl_db(np.broadcast_to(d3, np.broadcast_shapes(d3.shape, los_arr.shape)),
                       freq_mhz)
    if model not in MODEL_RANGES:
        raise ScenarioError(f"unknown path-loss model {model!r}; choose one of {MODELS}")
    d_b, los_b = np.broadcast_arrays(d_2d, los_arr)
    for flag in (True, False):
        selected = d_b[los_b == flag]
        if selected.size:
            check_range(model, selected, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m, los=flag,
                        out_of_range=out_of_range)
    if model == "rma":
        for name, value in (("building_height_m", building_height_m),
                            ("street_width_m", street_width_m)):
            if not 5.0 <= value <= 50.0:
                message = f"3GPP TR 38.901 RMa: {name}={value:g} outside (5, 50)"
                if out_of_range == "raise":
                    raise ScenarioError(message)
                log.warning("%s (results extrapolated)", message)
        pl_los = rma_los_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m,
                            building_height_m=building_height_m)
        pl_nlos = rma_nlos_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m,
                              building_height_m=building_height_m,
                              street_width_m=street_width_m)
    elif model == "uma":
        pl_los = uma_los_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m)
        pl_nlos = uma_nlos_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m)
    else:
        pl_los = umi_los_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m)
        pl_nlos = umi_nlos_db(d_2d, freq_mhz, h_bs_m=h_bs_m, h_ut_m=h_ut_m)
    return (np.where(los_arr, pl_los, pl_nlos))
