"""Flood processes for pygeoapi: ``flood-static`` (synchronous) and ``flood-dynamic`` (jobs).

Both model the city held in PostGIS (:mod:`spp.flood.city`), store the run in
``flood_runs`` / ``flood_exposure`` / ``flood_extents`` and answer per-commune exposure as
JSON with the run id. The database comes from the processor definition's ``data``
(``${SPP_PG_*}`` placeholders of the generated configuration), the runs folder and the
DEM from the worker's settings (``SPP_STATE_DIR``, ``SPP_FLOOD_DEM``).

One flood computation runs at a time per worker process: numba's default threading layer
must not be entered from two threads at once, and two city runs would only share the
same two cores anyway.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from typing import Any, ClassVar

from spp.errors import SppError
from spp.ogc.processes.base import SppProcessor, check_known_inputs
from spp.ogc.processes.base import bad_input as _bad

__all__ = ["FloodDynamicProcessor", "FloodStaticProcessor"]

logger = logging.getLogger(__name__)

_RUN_LOCK = threading.Lock()
_DEM_MIN: dict[str, float] = {}
MIN_RESOLUTION_M = 50.0
STATIC_DEFAULT_RESOLUTION_M = 200.0
"""Default cell size of the synchronous static process: the city answers in seconds."""
DYNAMIC_DEFAULT_RESOLUTION_M = 200.0

_LINKS = [{
    "type": "text/html", "rel": "about", "title": "SPP flood model (spp.flood)",
    "href": "https://github.com/", "hreflang": "en",
}]
_OUTPUT = {
    "result": {
        "title": "Run and per-commune exposure",
        "description": "run_id, totals, and one object per commune (flooded km² and share per "
                       "depth class, people, buildings, impassable road km, assets hit)",
        "schema": {"type": "object", "contentMediaType": "application/json"},
    }
}
_RESOLUTION: dict[str, Any] = {
    "title": "Resolution (m)",
    "description": "Model cell size in metres on the EPSG:9210 grid (≥ 50).",
    "schema": {"type": "number", "minimum": MIN_RESOLUTION_M},
    "minOccurs": 0, "maxOccurs": 1,
}

STATIC_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "flood-static",
    "title": {"en": "Static flood fill (r.lake)", "vi": "Ngập tĩnh theo mực nước"},
    "description": {
        "en": "Floods every cell below a river water level (m above Hòn Dấu) connected to the "
              "tidal waterways, stores the run and returns per-commune exposure.",
        "vi": "Ngập mọi ô thấp hơn mực nước sông (m trên mốc Hòn Dấu) thông với sông có thủy "
              "triều, lưu kết quả và trả về mức độ ảnh hưởng theo xã/phường.",
    },
    "jobControlOptions": ["sync-execute", "async-execute"],
    "keywords": ["flood", "ngập", "r.lake", "Cần Thơ"],
    "links": _LINKS,
    "inputs": {
        "level_m": {
            "title": "Water level (m above Hòn Dấu)",
            "description": "River water level in metres above the national datum (not a depth).",
            "schema": {"type": "number"}, "minOccurs": 1, "maxOccurs": 1,
        },
        "connectivity": {
            "title": "Connectivity", "description": "4 or 8 neighbours (default 8, as r.lake).",
            "schema": {"type": "integer", "enum": [4, 8], "default": 8},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "resolution_m": {**_RESOLUTION, "schema": {**_RESOLUTION["schema"],
                                                   "default": STATIC_DEFAULT_RESOLUTION_M}},
    },
    "outputs": _OUTPUT,
    "example": {"inputs": {"level_m": 1.5, "connectivity": 8}},
}

NOWCAST_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "flood-nowcast",
    "title": {"en": "Flood nowcast from the water-level gauges", "vi": "Ngập hiện tại theo trạm đo mực nước"},
    "description": {
        "en": "Floods the city from the latest reading of each online water-level gauge (each "
              "tidal river cell at its nearest gauge's level, m above Hòn Dấu), stores the run "
              "and returns per-commune exposure.",
        "vi": "Tính ngập theo số đo mới nhất của các trạm đo mực nước đang hoạt động (mỗi ô sông "
              "lấy mực nước của trạm gần nhất, m trên mốc Hòn Dấu), lưu kết quả và trả về mức "
              "độ ảnh hưởng theo xã/phường.",
    },
    "jobControlOptions": ["sync-execute", "async-execute"],
    "keywords": ["flood", "ngập", "nowcast", "cảnh báo sớm", "Cần Thơ"],
    "links": _LINKS,
    "inputs": {
        "max_age_h": {
            "title": "Maximum reading age (h)",
            "description": "Use gauges read within this many hours of the newest reading (default 3).",
            "schema": {"type": "number", "exclusiveMinimum": 0, "default": 3},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "include_offline": {
            "title": "Include offline gauges", "description": "Also use gauges marked offline.",
            "schema": {"type": "boolean", "default": False}, "minOccurs": 0, "maxOccurs": 1,
        },
        "connectivity": STATIC_METADATA["inputs"]["connectivity"],
        "resolution_m": STATIC_METADATA["inputs"]["resolution_m"],
    },
    "outputs": _OUTPUT,
    "example": {"inputs": {"max_age_h": 3}},
}

DYNAMIC_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "flood-dynamic",
    "title": {"en": "Dynamic flood scenario", "vi": "Kịch bản ngập động"},
    "description": {
        "en": "Runs a tide + rain + pumps + gates scenario with the local-inertial model "
              "(asynchronous job), stores the run and returns per-commune exposure.",
        "vi": "Chạy kịch bản triều, mưa, trạm bơm, cống bằng mô hình quán tính cục bộ (công "
              "việc bất đồng bộ), lưu kết quả và trả về mức độ ảnh hưởng theo xã/phường.",
    },
    "jobControlOptions": ["async-execute"],
    "keywords": ["flood", "ngập", "scenario", "LISFLOOD-FP", "Cần Thơ"],
    "links": _LINKS,
    "inputs": {
        "scenario": {
            "title": "Scenario",
            "description": "Name of a bundled scenario (spring-tide, spring-tide-storm, "
                           "spring-tide-storm-pumps-off, dike-breach) or a whole scenario "
                           "object with the keys of spp/flood/scenarios/*.yml.",
            "schema": {"oneOf": [{"type": "string"}, {"type": "object"}]},
            "minOccurs": 1, "maxOccurs": 1,
        },
        "duration_h": {
            "title": "Duration (h)", "description": "Simulate only the first hours.",
            "schema": {"type": "number", "exclusiveMinimum": 0},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "resolution_m": {**_RESOLUTION, "schema": {**_RESOLUTION["schema"],
                                                   "default": DYNAMIC_DEFAULT_RESOLUTION_M}},
    },
    "outputs": _OUTPUT,
    "example": {"inputs": {"scenario": "spring-tide-storm", "resolution_m": 200}},
}




def _number(data: dict[str, Any], key: str, *, default: float | None = None,
            minimum: float | None = None, required: bool = False) -> float | None:
    if key not in data or data[key] is None:
        if required:
            raise _bad(f"input '{key}' is required")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"input '{key}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise _bad(f"input '{key}' must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise _bad(f"input '{key}' must be ≥ {minimum:g}, got {value:g}")
    return float(value)


class _FloodProcessor(SppProcessor):
    """Shared plumbing: database URL, settings, catalogue, result JSON."""

    def _context(self) -> tuple[Any, Any, str]:
        from spp.catalog import load_catalog
        from spp.settings import get_settings

        settings = get_settings()
        return settings, load_catalog(settings.layers_dir), self._db_url()

    @staticmethod
    def _result(outcome: Any) -> dict[str, Any]:
        import json

        from spp.flood.publish import exposure_rows

        rows = exposure_rows(outcome.run_id, outcome.exposure)
        communes = []
        for row in rows.drop(columns=["exposure_id", "run_id"]).to_dict(orient="records"):
            row["assets_hit"] = json.loads(row["assets_hit"])
            communes.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                             for k, v in row.items()})
        record = outcome.record
        base = os.environ.get("SPP_OGC_URL", "").rstrip("/")
        keep = ("run_id", "kind", "scenario", "resolution_m", "level_m", "duration_h",
                "flooded_km2", "people_exposed", "buildings_flooded", "mass_balance_error_pct")
        out: dict[str, Any] = {k: record.get(k) for k in keep if record.get(k) is not None}
        out["cogs"] = json.loads(record["cogs"])
        out["communes"] = communes
        if base:
            out["links"] = [
                {"rel": "related", "type": "application/geo+json", "title": f"flood_{name}",
                 "href": f"{base}/collections/flood_{name}/items?run_id={outcome.run_id}"}
                for name in ("runs", "exposure", "extents")
            ]
        return out

    def _run(self, fn: Any) -> tuple[str, dict[str, Any]]:
        try:
            with _RUN_LOCK:
                outcome = fn()
        except SppError as exc:
            if exc.http_status == 400:
                raise _bad(str(exc)) from exc
            raise
        return "application/json", self._result(outcome)


class FloodStaticProcessor(_FloodProcessor):
    """``flood-static``: level fill of the city, stored as a run; exposure per commune."""

    METADATA: ClassVar[dict[str, Any]] = STATIC_METADATA

    def validate(self, data: dict[str, Any]) -> None:
        """Raise :class:`spp.ogc.processes.ProcessInputError` (400) on bad inputs."""
        check_known_inputs(data, STATIC_METADATA)
        level = _number(data, "level_m", required=True)
        _number(data, "resolution_m", minimum=MIN_RESOLUTION_M)
        if data.get("connectivity", 8) not in (4, 8) or isinstance(data.get("connectivity"), bool):
            raise _bad(f"input 'connectivity' must be 4 or 8, got {data.get('connectivity')!r}")
        assert level is not None
        lowest = self._lowest_ground()
        if level <= lowest:
            raise _bad(f"level_m {level:g} m is at or below the lowest ground of the city "
                       f"({lowest:.2f} m above Hòn Dấu): nothing can flood. Levels are metres "
                       "above the datum, not depths.")

    @staticmethod
    def _lowest_ground() -> float:
        from spp.flood.city import default_dem
        from spp.settings import get_settings

        dem = default_dem(get_settings())
        key = f"{dem}:{dem.stat().st_mtime_ns}"
        if key not in _DEM_MIN:
            import numpy as np
            import rasterio

            with rasterio.open(dem) as src:
                data = src.read(1, masked=True)
            _DEM_MIN[key] = float(np.ma.min(data))
        return _DEM_MIN[key]

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, Any]:
        """Run the static fill; return ``("application/json", result)``."""
        from spp.flood.city import run_city_static

        self.validate(data)
        settings, catalog, db_url = self._context()
        return self._run(lambda: run_city_static(
            float(data["level_m"]), db_url=db_url, catalog=catalog, settings=settings,
            resolution_m=_number(data, "resolution_m", default=STATIC_DEFAULT_RESOLUTION_M)
            or STATIC_DEFAULT_RESOLUTION_M,
            connectivity=int(data.get("connectivity", 8))))


class FloodNowcastProcessor(_FloodProcessor):
    """``flood-nowcast``: static fill from the latest gauge readings, stored as a run."""

    METADATA: ClassVar[dict[str, Any]] = NOWCAST_METADATA

    def validate(self, data: dict[str, Any]) -> None:
        """Raise :class:`spp.ogc.processes.ProcessInputError` (400) on bad inputs."""
        check_known_inputs(data, NOWCAST_METADATA)
        age = _number(data, "max_age_h", default=3.0)
        if age is not None and age <= 0:
            raise _bad(f"input 'max_age_h' must be positive, got {age:g}")
        _number(data, "resolution_m", minimum=MIN_RESOLUTION_M)
        if not isinstance(data.get("include_offline", False), bool):
            raise _bad(f"input 'include_offline' must be true or false, got {data.get('include_offline')!r}")
        if data.get("connectivity", 8) not in (4, 8) or isinstance(data.get("connectivity"), bool):
            raise _bad(f"input 'connectivity' must be 4 or 8, got {data.get('connectivity')!r}")

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, Any]:
        """Run the nowcast; return ``("application/json", result)`` with the gauges used."""
        from spp.flood.nowcast import run_city_nowcast

        self.validate(data)
        settings, catalog, db_url = self._context()
        used: dict[str, Any] = {}

        def run() -> Any:
            outcome, gauges = run_city_nowcast(
                db_url=db_url, catalog=catalog, settings=settings,
                resolution_m=_number(data, "resolution_m", default=STATIC_DEFAULT_RESOLUTION_M)
                or STATIC_DEFAULT_RESOLUTION_M,
                connectivity=int(data.get("connectivity", 8)),
                max_age_h=_number(data, "max_age_h", default=3.0) or 3.0,
                include_offline=bool(data.get("include_offline", False)))
            used["gauges"] = {str(r.sensor_id): float(r.level_m) for r in gauges.used.itertuples()}
            used["newest_reading"] = gauges.newest.isoformat()
            used["skipped"] = gauges.skipped
            return outcome

        mime, result = self._run(run)
        result.update(used)
        return mime, result


class FloodDynamicProcessor(_FloodProcessor):
    """``flood-dynamic``: a scenario (bundled name or inline object) as an async job."""

    METADATA: ClassVar[dict[str, Any]] = DYNAMIC_METADATA

    def validate(self, data: dict[str, Any]) -> None:
        """Raise :class:`spp.ogc.processes.ProcessInputError` (400) on bad inputs."""
        self._scenario(data)

    def _scenario(self, data: dict[str, Any]) -> Any:
        from spp.errors import ScenarioError
        from spp.flood.scenario import bundled_scenarios, load_scenario

        check_known_inputs(data, DYNAMIC_METADATA)
        source = data.get("scenario")
        if isinstance(source, str):
            if source not in bundled_scenarios():
                raise _bad(f"unknown scenario {source!r}; bundled scenarios: "
                           f"{', '.join(bundled_scenarios())} (or pass a scenario object)")
        elif not isinstance(source, dict):
            raise _bad("input 'scenario' is required: a bundled scenario name or a scenario object")
        try:
            scenario = load_scenario(source)
        except ScenarioError as exc:
            raise _bad(str(exc)) from exc
        duration = _number(data, "duration_h", minimum=0.0)
        if duration is not None:
            if duration <= 0 or duration > 24 * 30:
                raise _bad(f"input 'duration_h' must be in (0, 720] hours, got {duration:g}")
            scenario = scenario.model_copy(update={"duration_h": duration})
        resolution = _number(data, "resolution_m", default=DYNAMIC_DEFAULT_RESOLUTION_M,
                             minimum=MIN_RESOLUTION_M)
        return scenario, resolution

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, Any]:
        """Run the scenario; return ``("application/json", result)``."""
        from spp.flood.city import run_city_scenario

        scenario, resolution = self._scenario(data)
        settings, catalog, db_url = self._context()
        return self._run(lambda: run_city_scenario(
            scenario, db_url=db_url, catalog=catalog, settings=settings,
            resolution_m=resolution))
