"""3GPP TR 38.901 sector antenna pattern (Table 7.3-1).

The pattern is returned **relative to boresight** (≤ 0 dB). The element gain
G_E,max = 8 dBi (:data:`ELEMENT_GAIN_DBI`) is *not* added by :func:`sector_gain_db`:
SPP's telecom-sites layer stores ``eirp_dbm`` as the boresight EIRP, which already contains
the antenna gain. Add :data:`ELEMENT_GAIN_DBI` yourself when your power is a conducted
transmit power instead.

Angles: azimuth in degrees clockwise from grid north; the vertical angle is the zenith
angle θ (90° = horizon, > 90° below the horizon) as in TR 38.901 §7.3; a positive
downtilt points the beam below the horizon.

References
----------
3GPP TR 38.901 V17.0.0 (2022-03), Table 7.3-1 "Radiation power pattern of a single
antenna element".
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "A_MAX_DB",
    "BEAMWIDTH_DEG",
    "ELEMENT_GAIN_DBI",
    "SLA_V_DB",
    "horizontal_pattern_db",
    "parse_azimuths",
    "sector_gain_db",
    "vertical_pattern_db",
]

ELEMENT_GAIN_DBI = 8.0
"""Maximum directional gain of an antenna element G_E,max (Table 7.3-1), dBi."""
BEAMWIDTH_DEG = 65.0
"""3 dB beamwidth θ_3dB = φ_3dB (Table 7.3-1), degrees."""
SLA_V_DB = 30.0
"""Side-lobe level limit SLA_V (Table 7.3-1), dB."""
A_MAX_DB = 30.0
"""Front-back ratio A_max (Table 7.3-1), dB."""


def _wrap180(deg: NDArray[np.float64]) -> NDArray[np.float64]:
    return (deg + 180.0) % 360.0 - 180.0


def vertical_pattern_db(
    zenith_deg: ArrayLike, downtilt_deg: float = 0.0, *, beamwidth_deg: float = BEAMWIDTH_DEG
) -> NDArray[np.float64]:
    """A_V(θ) = -min(12 ((θ - 90° - tilt) / θ_3dB)², SLA_V) in dB.

    >>> float(vertical_pattern_db(90.0))
    -0.0
    >>> float(vertical_pattern_db(90.0 + 32.5))
    -3.0
    """
    theta = np.asarray(zenith_deg, dtype=np.float64) - 90.0 - downtilt_deg
    return -np.minimum(12.0 * (theta / beamwidth_deg) ** 2, SLA_V_DB)


def horizontal_pattern_db(
    azimuth_deg: ArrayLike, boresight_deg: float = 0.0, *, beamwidth_deg: float = BEAMWIDTH_DEG
) -> NDArray[np.float64]:
    """A_H(φ) = -min(12 (φ / φ_3dB)², A_max) in dB, φ measured from the boresight azimuth.

    >>> float(horizontal_pattern_db(32.5))
    -3.0
    >>> float(horizontal_pattern_db(180.0, 0.0))
    -30.0
    """
    phi = _wrap180(np.asarray(azimuth_deg, dtype=np.float64) - boresight_deg)
    return -np.minimum(12.0 * (phi / beamwidth_deg) ** 2, A_MAX_DB)


def sector_gain_db(
    azimuth_deg: ArrayLike,
    zenith_deg: ArrayLike,
    *,
    boresight_deg: float,
    downtilt_deg: float = 0.0,
    h_beamwidth_deg: float = BEAMWIDTH_DEG,
    v_beamwidth_deg: float = BEAMWIDTH_DEG,
) -> NDArray[np.float64]:
    """Relative sector gain A(θ, φ) = -min(-(A_V + A_H), A_max) in dB (≤ 0, 0 at boresight).

    Parameters
    ----------
    azimuth_deg : array_like
        Direction site → receiver, degrees clockwise from grid north.
    zenith_deg : array_like
        Zenith angle site → receiver, degrees (90° horizontal).
    boresight_deg : float
        Sector azimuth, degrees clockwise from grid north.
    downtilt_deg : float
        Tilt below the horizon, degrees.
    h_beamwidth_deg, v_beamwidth_deg : float
        3 dB beamwidths, degrees (65° in Table 7.3-1).

    Returns
    -------
    ndarray
        Gain relative to boresight in dB; add :data:`ELEMENT_GAIN_DBI` for dBi.

    >>> float(sector_gain_db(180.0, 90.0, boresight_deg=0.0))
    -30.0
    """
    a_v = vertical_pattern_db(zenith_deg, downtilt_deg, beamwidth_deg=v_beamwidth_deg)
    a_h = horizontal_pattern_db(azimuth_deg, boresight_deg, beamwidth_deg=h_beamwidth_deg)
    return -np.minimum(-(a_v + a_h), A_MAX_DB)


def parse_azimuths(text: str | float | None) -> list[float | None]:
    """Parse the sites layer's azimuth text ``"0,120,240"`` into degrees.

    An empty value or ``"omni"`` means one omnidirectional sector (``[None]``).

    >>> parse_azimuths("0, 120,240")
    [0.0, 120.0, 240.0]
    >>> parse_azimuths("")
    [None]
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return [None]
    if isinstance(text, (int, float)):
        return [float(text) % 360.0]
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    if not parts or parts == ["omni"]:
        return [None]
    return [float(p) % 360.0 for p in parts]
