"""Flood inundation for Can Tho: static (``r.lake``-like) and dynamic (local-inertial).

Public API lives in :mod:`spp.flood.model`; this package re-exports it lazily so that
``import spp.flood`` does not pull numba in.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DynamicInputs",
    "FloodResult",
    "MassBalance",
    "PointInflow",
    "Pump",
    "Scenario",
    "StaticResult",
    "TimeSeries",
    "assess_exposure",
    "bundled_scenarios",
    "inundate",
    "inundate_raster",
    "load_scenario",
    "prepare_inputs",
    "run_scenario",
    "simulate",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from spp.flood import model

        return getattr(model, name)
    raise AttributeError(f"module 'spp.flood' has no attribute {name!r}")
