"""OGC API – Processes: the analyses pygeoapi serves, and the job manager that runs them.

:data:`PROCESSES` is the registry :mod:`spp.ogc.config` turns into pygeoapi ``process``
resources; :data:`MANAGER` names the job manager (TinyDB, as pygeoapi's own, plus input
validation before a job is accepted, so that bad inputs get a 400 even with
``Prefer: respond-async``, and asynchronous execution of processes that only offer it).

Importing this package is cheap (no pygeoapi, no numba); the manager class is built on
first access (module ``__getattr__``), when pygeoapi loads it by its dotted path.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MANAGER", "PROCESSES", "ProcessInputError", "SppJobManager"]

PROCESSES: dict[str, str] = {
    "flood-static": "spp.ogc.processes.flood.FloodStaticProcessor",
    "flood-nowcast": "spp.ogc.processes.flood.FloodNowcastProcessor",
    "flood-dynamic": "spp.ogc.processes.flood.FloodDynamicProcessor",
    "coverage-gaps": "spp.ogc.processes.coverage.CoverageGapsProcessor",
    "fibre-reach": "spp.ogc.processes.coverage.FibreReachProcessor",
    "flood-telecom": "spp.ogc.processes.compound.FloodTelecomProcessor",
}
"""Process id → dotted path of its ``pygeoapi.process.base.BaseProcessor`` subclass."""

MANAGER = "spp.ogc.processes.SppJobManager"
"""Dotted path of the job manager class for ``server.manager.name``."""

_BUILT: dict[str, Any] = {}


def _build() -> dict[str, Any]:
    if _BUILT:
        return _BUILT
    from http import HTTPStatus
    from pathlib import Path

    from pygeoapi.process.base import ProcessorExecuteError
    from pygeoapi.process.manager.tinydb_ import TinyDBManager
    from pygeoapi.util import RequestedProcessExecutionMode

    class ProcessInputError(ProcessorExecuteError):  # type: ignore[misc]
        """Invalid process input: HTTP 400 with a message the caller can act on."""

        http_status_code = HTTPStatus.BAD_REQUEST
        ogc_exception_code = "InvalidParameterValue"

    class SppJobManager(TinyDBManager):  # type: ignore[misc]
        """pygeoapi's TinyDB job manager that validates inputs before accepting a job.

        A processor may define ``validate(inputs) -> None`` raising
        :class:`ProcessInputError`; processes whose ``jobControlOptions`` lack
        ``sync-execute`` always run asynchronously.
        """

        def __init__(self, manager_def: dict[str, Any]):
            super().__init__(manager_def)
            for path in (self.connection, self.output_dir):
                if path:
                    Path(str(path)).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            if self.output_dir is not None:
                self.output_dir.mkdir(parents=True, exist_ok=True)

        def execute_process(self, process_id: str, data_dict: dict[str, Any],
                            execution_mode: Any = None, *args: Any, **kwargs: Any) -> Any:
            processor = self.get_processor(process_id)
            check = getattr(processor, "validate", None)
            if check is not None:
                check(data_dict)
            options = processor.metadata.get("jobControlOptions", [])
            if "sync-execute" not in options:
                execution_mode = RequestedProcessExecutionMode.respond_async
            return super().execute_process(process_id, data_dict, execution_mode, *args, **kwargs)

    _BUILT.update(ProcessInputError=ProcessInputError, SppJobManager=SppJobManager)
    return _BUILT


def __getattr__(name: str) -> Any:
    if name in ("ProcessInputError", "SppJobManager"):
        return _build()[name]
    raise AttributeError(f"module 'spp.ogc.processes' has no attribute {name!r}")
