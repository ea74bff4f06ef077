"""Flood scenarios: small YAML files validated by pydantic.

Levels are metres above the Hòn Dấu datum (the Cần Thơ gauge reports on it), rain in
mm/h (constant over each interval), times in hours from the start of the run,
positions of breaches in lon/lat (EPSG:4326). Unknown keys are rejected.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spp.errors import ScenarioError

__all__ = [
    "Breach",
    "Hydrograph",
    "Manning",
    "Rain",
    "Scenario",
    "bundled_scenarios",
    "load_scenario",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hydrograph(_Strict):
    """River water level (m above Hòn Dấu) at ``times_h``, linear in between."""

    times_h: list[float] = Field(min_length=1)
    level_m: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_length(self) -> Hydrograph:
        if len(self.times_h) != len(self.level_m):
            raise ValueError("times_h and level_m must have the same length")
        if any(b <= a for a, b in zip(self.times_h, self.times_h[1:])):
            raise ValueError("times_h must be strictly increasing")
        return self


class Rain(_Strict):
    """Rain intensity ``mm_per_h[k]`` (≥ 0) from ``times_h[k]`` to ``times_h[k+1]``."""

    times_h: list[float] = Field(min_length=1)
    mm_per_h: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Rain:
        if len(self.times_h) != len(self.mm_per_h):
            raise ValueError("times_h and mm_per_h must have the same length")
        if any(v < 0 for v in self.mm_per_h):
            raise ValueError("rain intensity must be ≥ 0 mm/h (negative rain is not evaporation)")
        if any(b <= a for a, b in zip(self.times_h, self.times_h[1:])):
            raise ValueError("times_h must be strictly increasing")
        return self

    def total_mm(self) -> float:
        """Rain depth over the listed intervals (the last value is the closing one), mm."""
        return sum(v * (b - a) for a, b, v in zip(self.times_h, self.times_h[1:], self.mm_per_h))


class Manning(_Strict):
    """Manning's n (s m⁻¹ᐟ³): ``default`` and per land-use class."""

    default: float = Field(0.035, gt=0, le=1)
    by_landuse: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _positive(self) -> Manning:
        bad = {k: v for k, v in self.by_landuse.items() if not 0 < v <= 1}
        if bad:
            raise ValueError(f"Manning's n must be in (0, 1]: {bad}")
        return self


class Breach(_Strict):
    """A dike breach: crest lowered to ``invert_level_m`` over ``width_m`` at lon/lat."""

    name: str
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    width_m: float = Field(gt=0)
    invert_level_m: float


class Scenario(_Strict):
    """One flood scenario (see ``spp/flood/scenarios/*.yml``)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title_vi: str
    title_en: str
    description: str = ""
    duration_h: float = Field(gt=0, le=24 * 30)
    resolution_m: float = Field(50.0, gt=0)
    epsg: int = 9210
    tide: Hydrograph
    rain: Rain | None = None
    manning: Manning = Field(default_factory=lambda: Manning(default=0.035))
    pumps: Literal["on", "off"] = "on"
    pump_capacity_factor: float = Field(1.0, ge=0)
    pump_drainage_radius_m: float = Field(1500.0, gt=0)
    gates: Literal["open", "closed"] = "closed"
    gate_overrides: dict[str, Literal["open", "closed"]] = Field(default_factory=dict)
    breaches: list[Breach] = Field(default_factory=list)
    hot_start: bool = True
    """Start with channels filled to the first tide level where connected to the river
    (a static fill); ``false`` starts dry except the boundary cells."""
    thresholds_m: list[float] = Field(default_factory=lambda: [0.1, 0.3, 0.5, 1.0])
    tidal_river_depth_m: float | None = Field(None, gt=0)
    """Water connected to the tidal boundary and deeper than this (m) even at the lowest
    tide is part of the tidal river: its level is imposed like the boundary's, and it no
    longer sets the time step. ``null``: only the burned tidal reaches are imposed."""


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def load_scenario(source: str | Path | dict[str, object]) -> Scenario:
    """Load and validate a scenario from a YAML file, a bundled name, or a dict.

    Parameters
    ----------
    source : str, Path or dict
        Path to a ``.yml`` file, the name of a bundled scenario (``spring-tide``), or an
        already-parsed mapping (e.g. an OGC Process input).

    Raises
    ------
    ScenarioError
        File missing, not YAML, unknown keys, negative rain, bad values — the message
        lists every problem with its key path.
    """
    where = "scenario"
    if isinstance(source, dict):
        data: object = source
    else:
        path = Path(source)
        if not path.exists() and str(source) in bundled_scenarios():
            path = bundled_scenarios()[str(source)]
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ScenarioError(f"{path}: no such scenario file") from exc
        except yaml.YAMLError as exc:
            raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: a scenario must be a mapping of keys to values")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{where}: {_describe(exc)}") from exc


def bundled_scenarios() -> dict[str, Path]:
    """Name → path of the scenarios shipped in ``spp/flood/scenarios``."""
    folder = Path(str(resources.files("spp.flood") / "scenarios"))
    return {p.stem: p for p in sorted(folder.glob("*.yml"))}
