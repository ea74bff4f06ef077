"""Coverage and fibre processes for pygeoapi: ``coverage-gaps`` and ``fibre-reach``.

Both run on the layers held in PostGIS (:func:`spp.coverage.run.run_coverage`,
:func:`spp.broadband.run_broadband`), store the run as layers (``coverage_runs``,
``coverage_by_commune``, ``coverage_gaps``, ``coverage_h3``, ``planned_sites``; ``fibre_by_commune``,
``planned_fibre``) and answer per-commune shares as JSON with the run id. One commune
answers synchronously in seconds; the whole city (no ``commune``) is meant for an
asynchronous job (``Prefer: respond-async``). Bad inputs (unknown commune, a threshold
outside [-140, -40] dBm, …) are refused with HTTP 400 before any job starts.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, ClassVar

from spp.errors import SppError
from spp.ogc.processes.base import SppProcessor, check_known_inputs
from spp.ogc.processes.base import bad_input as _bad

__all__ = ["CoverageGapsProcessor", "FibreReachProcessor"]

logger = logging.getLogger(__name__)

_LINKS = [{"type": "text/html", "rel": "about", "title": "SPP coverage and fibre analyses",
           "href": "https://github.com/", "hreflang": "en"}]
_COMMUNE: dict[str, Any] = {
    "title": "Commune",
    "description": "Commune or ward name, with or without diacritics and type prefix "
                   "(\"Ninh Kieu\" finds \"Phường Ninh Kiều\"), or its 5-digit code. Omit for "
                   "the whole city (use an asynchronous job).",
    "schema": {"type": "string"}, "minOccurs": 0, "maxOccurs": 1,
}
_PLAN: dict[str, Any] = {
    "title": "Plan", "description": "Also plan new infrastructure to reach the target.",
    "schema": {"type": "boolean", "default": False}, "minOccurs": 0, "maxOccurs": 1,
}
_OUTPUT = {"result": {"title": "Run and per-commune shares",
                      "schema": {"type": "object", "contentMediaType": "application/json"}}}

COVERAGE_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "coverage-gaps",
    "title": {"en": "5G coverage gaps", "vi": "Vùng lõm sóng 5G"},
    "description": {
        "en": "Best-server RSRP (3GPP TR 38.901) from the telecom sites over terrain and "
              "buildings; stores the run and returns per-commune shares of area, population "
              "and buildings covered and the gaps ranked by people.",
        "vi": "RSRP trạm phục vụ tốt nhất (3GPP TR 38.901) từ các trạm BTS trên địa hình và "
              "công trình; lưu kết quả, trả về tỷ lệ diện tích, dân số, công trình có sóng theo "
              "xã/phường và các vùng lõm sóng xếp theo số dân.",
    },
    "jobControlOptions": ["sync-execute", "async-execute"],
    "keywords": ["5G", "coverage", "phủ sóng", "RSRP", "Cần Thơ"],
    "links": _LINKS,
    "inputs": {
        "commune": _COMMUNE,
        "resolution_m": {
            "title": "Resolution (m)", "description": "Grid cell size, m (EPSG:9210), 10–500.",
            "schema": {"type": "number", "minimum": 10, "maximum": 500, "default": 50},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "threshold_dbm": {
            "title": "Threshold (dBm)", "description": "RSRP at or above this is covered.",
            "schema": {"type": "number", "minimum": -140, "maximum": -40, "default": -110},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "plan": _PLAN,
        "max_gaps": {
            "title": "Gaps returned", "description": "Largest gaps listed in the answer "
                                                     "(all are stored).",
            "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 20},
            "minOccurs": 0, "maxOccurs": 1,
        },
    },
    "outputs": _OUTPUT,
    "example": {"inputs": {"commune": "Ninh Kieu", "resolution_m": 100}},
}

FIBRE_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "fibre-reach",
    "title": {"en": "Fibre reach of households", "vi": "Khả năng kéo cáp quang tới hộ"},
    "description": {
        "en": "Households within the drop limit of a fibre access point along roads, per "
              "commune against the >90% target; optionally the cheapest extensions.",
        "vi": "Số hộ trong cự ly kéo cáp (theo đường) tới điểm truy nhập quang, theo xã/phường "
              "so với mục tiêu trên 90%; tùy chọn các tuyến mở rộng rẻ nhất.",
    },
    "jobControlOptions": ["sync-execute", "async-execute"],
    "keywords": ["fibre", "broadband", "cáp quang", "FTTH", "Cần Thơ"],
    "links": _LINKS,
    "inputs": {
        "commune": _COMMUNE,
        "drop_limit_m": {
            "title": "Drop limit (m)", "description": "Longest drop along roads, m.",
            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 5000,
                       "default": 300},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "target_share": {
            "title": "Target share", "description": "Household share to reach (0–1].",
            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.9},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "plan": _PLAN,
        "cost_vnd_per_km": {
            "title": "Cost (VND/km)", "description": "Cost of new fibre along roads.",
            "schema": {"type": "number", "minimum": 0}, "minOccurs": 0, "maxOccurs": 1,
        },
    },
    "outputs": _OUTPUT,
    "example": {"inputs": {"commune": "Ninh Kieu", "drop_limit_m": 300}},
}




def _number(data: dict[str, Any], key: str, *, default: float | None, low: float, high: float,
            low_open: bool = False) -> float | None:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(f"input '{key}' must be a finite number, got {value!r}")
    if value < low or (low_open and value <= low) or value > high:
        bracket = "(" if low_open else "["
        raise _bad(f"input '{key}' must be within {bracket}{low:g}, {high:g}], got {value:g}")
    return float(value)


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise _bad(f"input '{key}' must be true or false, got {value!r}")
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


class _Processor(SppProcessor):
    """Shared plumbing: database URL, commune check, errors → 400, one run at a time."""

    def _inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def validate(self, data: dict[str, Any]) -> None:
        """Raise :class:`spp.ogc.processes.ProcessInputError` (400) on bad inputs."""
        self._inputs(data)

    def _check_commune(self, data: dict[str, Any]) -> str | None:
        commune = data.get("commune")
        if commune is None:
            return None
        if not isinstance(commune, str) or not commune.strip():
            raise _bad(f"input 'commune' must be a commune name or code, got {commune!r}")
        from spp.catalog import load_catalog
        from spp.coverage.run import select_communes
        from spp.settings import get_settings
        from spp.store.query import read_layer

        spec = load_catalog(get_settings().layers_dir).get("communes")
        communes = read_layer(self._db_url(), spec, columns=["ma_xa", "ten"])
        try:
            select_communes(communes, commune)
        except SppError as exc:
            raise _bad(str(exc)) from exc
        return commune

    def _run(self, fn: Any) -> Any:
        # numba's default threading layer must not be entered from two threads at once:
        # share the flood processes' lock when they are installed.
        try:
            from spp.ogc.processes.flood import _RUN_LOCK as lock
        except ImportError:  # pragma: no cover - flood processes absent
            import threading

            lock = threading.Lock()
        try:
            with lock:
                return fn()
        except SppError as exc:
            if exc.http_status in (400, 404):
                raise _bad(str(exc)) from exc
            raise

    @staticmethod
    def _links(layers: tuple[str, ...], run_id: str) -> list[dict[str, str]]:
        base = os.environ.get("SPP_OGC_URL", "").rstrip("/")
        if not base:
            return []
        return [{"rel": "related", "type": "application/geo+json", "title": name,
                 "href": f"{base}/collections/{name}/items?run_id={run_id}"} for name in layers]


class CoverageGapsProcessor(_Processor):
    """``coverage-gaps``: best-server RSRP, shares per commune and gaps, stored as a run."""

    METADATA: ClassVar[dict[str, Any]] = COVERAGE_METADATA

    def _inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        check_known_inputs(data, COVERAGE_METADATA)
        out: dict[str, Any] = {
            "threshold_dbm": _number(data, "threshold_dbm", default=-110.0, low=-140, high=-40),
            "resolution_m": _number(data, "resolution_m", default=50.0, low=10, high=500),
            "plan": _flag(data, "plan"),
        }
        gaps = data.get("max_gaps", 20)
        if isinstance(gaps, bool) or not isinstance(gaps, int) or not 0 <= gaps <= 1000:
            raise _bad(f"input 'max_gaps' must be an integer within [0, 1000], got {gaps!r}")
        out["max_gaps"] = gaps
        out["commune"] = self._check_commune(data)
        return out

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, Any]:
        """Run the coverage; return ``("application/json", result)``."""
        from spp.coverage.run import run_coverage
        from spp.settings import get_settings

        args = self._inputs(data)
        max_gaps = args.pop("max_gaps")
        run = self._run(lambda: run_coverage(get_settings(), self._db_url(), **args))
        shares = run.shares.rename(columns={"id": "ma_xa", "name": "commune"})
        gaps = run.gaps.drop(columns=run.gaps.geometry.name).head(max_gaps)
        overall = shares[shares["operator"] == "all"]
        pop = float(overall["population"].sum())
        result: dict[str, Any] = {
            "run_id": run.run_id, "area": run.area, "resolution_m": run.resolution_m,
            "threshold_dbm": run.threshold_dbm, "sites": run.sites, "sectors": run.sectors,
            "seconds": round(run.seconds, 2), "raster": f"{run.run_id}/{run.raster.name}",
            "population": pop,
            "share_population_5g": (float(overall["covered_population"].sum()) / pop
                                    if pop else None),
            "gap_count": len(run.gaps), "communes": _records(shares), "gaps": _records(gaps),
        }
        if run.planned is not None:
            result["planned_sites"] = len(run.planned)
            result["plan_stopped"] = run.plan_stopped
        links = self._links(("coverage_runs", "coverage_by_commune", "coverage_gaps",
                             "coverage_h3", "planned_sites"), run.run_id)
        if links:
            result["links"] = links
        return "application/json", result


class FibreReachProcessor(_Processor):
    """``fibre-reach``: households passable per commune (and extensions), stored as a run."""

    METADATA: ClassVar[dict[str, Any]] = FIBRE_METADATA

    def _inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        from spp.broadband import DEFAULT_COST_VND_PER_KM

        check_known_inputs(data, FIBRE_METADATA)
        return {
            "drop_limit_m": _number(data, "drop_limit_m", default=300.0, low=0, high=5000,
                                    low_open=True),
            "target_share": _number(data, "target_share", default=0.9, low=0, high=1,
                                    low_open=True),
            "cost_vnd_per_km": _number(data, "cost_vnd_per_km", default=DEFAULT_COST_VND_PER_KM,
                                       low=0, high=1e13),
            "plan": _flag(data, "plan"),
            "commune": self._check_commune(data),
        }

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, Any]:
        """Run the fibre reach; return ``("application/json", result)``."""
        from spp.broadband import run_broadband
        from spp.settings import get_settings

        args = self._inputs(data)
        run = self._run(lambda: run_broadband(get_settings(), self._db_url(), **args))
        shares = run.shares.rename(columns={"id": "ma_xa", "name": "commune",
                                            "share": "share_households"})
        hh = float(shares["households"].sum())
        result: dict[str, Any] = {
            "run_id": run.run_id, "area": run.area, "seconds": round(run.seconds, 2),
            "drop_limit_m": args["drop_limit_m"], "target_share": args["target_share"],
            "households": hh,
            "share_households": float(shares["passable_households"].sum()) / hh if hh else None,
            "communes": _records(shares),
        }
        if run.segments is not None:
            result.update(planned_segments=len(run.segments), planned_km=run.km,
                          planned_cost_vnd=run.cost_vnd, plan_stopped=run.stopped_because)
        links = self._links(("fibre_by_commune", "planned_fibre"), run.run_id)
        if links:
            result["links"] = links
        return "application/json", result
