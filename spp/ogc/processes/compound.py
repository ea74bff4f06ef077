"""The compound flood → telecom process for pygeoapi: ``flood-telecom`` (asynchronous job).

Takes a flood run (the latest stored run of a scenario, a run id, or a new run of a
bundled scenario or ``static-<level>m``), knocks out the telecom sites flooded above their
critical equipment height or fed by a flooded substation, recomputes 5G coverage
(:func:`spp.compound.run.run_flood_telecom`), stores ``flood_telecom_by_commune`` and
``flood_telecom_sites`` and answers per-commune coverage during the flood vs normal, the
people losing service and the sites to harden first. Bad inputs (unknown scenario or
commune, values out of range) are refused with HTTP 400 before any job starts.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from spp.ogc.processes.base import bad_input as _bad
from spp.ogc.processes.base import check_known_inputs
from spp.ogc.processes.coverage import _number, _Processor, _records

__all__ = ["FloodTelecomProcessor"]

logger = logging.getLogger(__name__)

FLOOD_TELECOM_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "flood-telecom",
    "title": {"en": "Flood → telecom: 5G during a flood", "vi": "Ngập – viễn thông: sóng 5G khi ngập"},
    "description": {
        "en": "Telecom sites flooded above their critical equipment height, or fed by a flooded "
              "substation (nearest within the radius), go off air; 5G coverage is recomputed "
              "without them. Stores and returns per commune the coverage during the flood vs "
              "normal and the people losing service, and the sites to harden first (people "
              "regained if that site alone stays on air). Asynchronous job.",
        "vi": "Trạm BTS bị ngập quá độ cao thiết bị, hoặc do trạm biến áp cấp điện (gần nhất trong "
              "bán kính) bị ngập, ngừng phát; tính lại vùng phủ 5G không có các trạm đó. Lưu và trả "
              "về theo xã/phường tỷ lệ phủ sóng khi ngập so với bình thường, số người mất sóng và "
              "các trạm cần gia cố trước (số người có lại sóng nếu chỉ gia cố trạm đó).",
    },
    "jobControlOptions": ["async-execute"],
    "keywords": ["flood", "5G", "telecom", "resilience", "ngập", "phủ sóng", "Cần Thơ"],
    "links": [{"type": "text/html", "rel": "about", "title": "SPP compound scenarios",
               "href": "https://github.com/", "hreflang": "en"}],
    "inputs": {
        "scenario": {
            "title": "Flood scenario",
            "description": "A bundled flood scenario (spring-tide, spring-tide-storm, "
                           "spring-tide-storm-pumps-off, dike-breach), the scenario of a stored "
                           "run (static-1.5m) or a flood run id. Its latest stored run is used; "
                           "with none stored the scenario is run first.",
            "schema": {"type": "string"}, "minOccurs": 1, "maxOccurs": 1,
        },
        "commune": {
            "title": "Commune",
            "description": "Commune or ward name, with or without diacritics, or its 5-digit "
                           "code. Omit for the whole city.",
            "schema": {"type": "string"}, "minOccurs": 0, "maxOccurs": 1,
        },
        "resolution_m": {
            "title": "Resolution (m)", "description": "Coverage grid cell size, m (EPSG:9210).",
            "schema": {"type": "number", "minimum": 10, "maximum": 500, "default": 50},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "threshold_dbm": {
            "title": "Threshold (dBm)", "description": "5G RSRP at or above this is covered.",
            "schema": {"type": "number", "minimum": -140, "maximum": -40, "default": -110},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "substation_radius_m": {
            "title": "Substation radius (m)",
            "description": "A site depends on the nearest substation within this distance "
                           "(0: no substation dependency).",
            "schema": {"type": "number", "minimum": 0, "maximum": 100000, "default": 15000},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "default_height_m": {
            "title": "Default equipment height (m)",
            "description": "Critical equipment height where a site or substation gives none.",
            "schema": {"type": "number", "minimum": 0, "maximum": 30, "default": 0.5},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "flood_resolution_m": {
            "title": "Flood resolution (m)",
            "description": "Cell size of the flood run when none is stored and it must run.",
            "schema": {"type": "number", "minimum": 50, "maximum": 1000, "default": 200},
            "minOccurs": 0, "maxOccurs": 1,
        },
        "max_sites": {
            "title": "Sites returned", "description": "Down sites listed, by hardening rank "
                                                      "(all are stored).",
            "schema": {"type": "integer", "minimum": 0, "maximum": 5000, "default": 20},
            "minOccurs": 0, "maxOccurs": 1,
        },
    },
    "outputs": {"result": {"title": "Per-commune outage and hardening ranks",
                           "schema": {"type": "object", "contentMediaType": "application/json"}}},
    "example": {"inputs": {"scenario": "spring-tide-storm", "commune": "Phu Loi",
                           "resolution_m": 100}},
}


class FloodTelecomProcessor(_Processor):
    """``flood-telecom``: sites down, 5G during the flood vs normal, hardening ranks."""

    METADATA: ClassVar[dict[str, Any]] = FLOOD_TELECOM_METADATA

    def _inputs(self, data: dict[str, Any]) -> dict[str, Any]:
        check_known_inputs(data, FLOOD_TELECOM_METADATA)
        scenario = data.get("scenario")
        if not isinstance(scenario, str) or not scenario.strip():
            raise _bad("input 'scenario' is required: a flood scenario name or a flood run id")
        self._check_scenario(scenario)
        sites = data.get("max_sites", 20)
        if isinstance(sites, bool) or not isinstance(sites, int) or not 0 <= sites <= 5000:
            raise _bad(f"input 'max_sites' must be an integer within [0, 5000], got {sites!r}")
        return {
            "scenario": scenario.strip(),
            "commune": self._check_commune(data),
            "resolution_m": _number(data, "resolution_m", default=50.0, low=10, high=500),
            "threshold_dbm": _number(data, "threshold_dbm", default=-110.0, low=-140, high=-40),
            "substation_radius_m": _number(data, "substation_radius_m", default=15_000.0,
                                           low=0, high=100_000),
            "default_height_m": _number(data, "default_height_m", default=0.5, low=0, high=30),
            "flood_resolution_m": _number(data, "flood_resolution_m", default=200.0, low=50,
                                          high=1000),
            "max_sites": sites,
        }

    def _check_scenario(self, scenario: str) -> None:
        import re

        from spp.catalog import load_catalog
        from spp.compound.run import known_flood_scenarios
        from spp.flood.publish import read_runs
        from spp.settings import get_settings

        name = scenario.strip()
        catalog = load_catalog(get_settings().layers_dir)
        known = known_flood_scenarios(self._db_url(), catalog)
        if name in known or re.fullmatch(r"static-(-?\d+(?:\.\d+)?)m", name):
            return
        if name in set(read_runs(self._db_url(), catalog)["run_id"]):
            return
        raise _bad(f"unknown flood scenario {scenario!r}; known scenarios: {', '.join(known)}, "
                   "a stored flood run id, or static-<level>m (e.g. static-1.5m)")

    def execute(self, data: dict[str, Any], outputs: Any = None) -> tuple[str, Any]:
        """Run the compound scenario; return ``("application/json", result)``."""
        from spp.compound.run import run_flood_telecom
        from spp.settings import get_settings

        args = self._inputs(data)
        max_sites = args.pop("max_sites")
        scenario = args.pop("scenario")
        run = self._run(lambda: run_flood_telecom(get_settings(), self._db_url(), scenario,
                                                  **args))
        t = run.communes
        pop = float(t["population"].sum())
        sites = run.sites.drop(columns=run.sites.geometry.name)
        keep = [c for c in ("site_id", "operator", "technology", "ma_xa", "depth_m",
                            "critical_equipment_height_m", "substation_id",
                            "substation_depth_m", "cause", "people_regained", "harden_rank")
                if c in sites]
        sites = sites[keep].head(max_sites)
        sites = sites.astype(object).where(sites.notna(), None)
        result: dict[str, Any] = {
            "run_id": run.run_id, "flood_run_id": run.flood_run_id, "scenario": run.scenario,
            "flood_ran": run.flood_ran, "area": run.area, "resolution_m": run.resolution_m,
            "threshold_dbm": run.threshold_dbm, "substation_radius_m": run.substation_radius_m,
            "seconds": round(run.seconds, 2), "sites_on_air": run.sites_on_air,
            "sites_down": len(run.sites),
            "sites_down_5g": int((run.sites["technology"] == "5G").sum()),
            "substations_flooded": run.substations_down, "population": pop,
            "share_population_normal": (float(t["covered_population_normal"].sum()) / pop
                                        if pop else None),
            "share_population_flood": (float(t["covered_population_flood"].sum()) / pop
                                       if pop else None),
            "people_losing_service": run.people_losing_service,
            "communes": _records(t), "sites": _records(sites),
            "substations": _records(run.substations) if run.substations is not None else [],
        }
        links = self._links(("flood_telecom_by_commune", "flood_telecom_sites"), run.run_id)
        if links:
            result["links"] = links
        return "application/json", result
