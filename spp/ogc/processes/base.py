"""Plumbing shared by SPP's OGC API processes: the database connection a processor is
configured with (the same ``${SPP_PG_*}`` placeholders as the feature providers)."""

from __future__ import annotations

from typing import Any, ClassVar

from pygeoapi.process.base import BaseProcessor

__all__ = ["SppProcessor", "bad_input"]


class SppProcessor(BaseProcessor):  # type: ignore[misc]
    """A pygeoapi processor with ``METADATA`` as a class attribute and a database URL."""

    METADATA: ClassVar[dict[str, Any]] = {}

    def __init__(self, processor_def: dict[str, Any]):
        super().__init__(processor_def, self.METADATA)
        self.connection = dict(processor_def.get("data") or {})

    def _db_url(self) -> str:
        """libpq URL from the processor's connection settings, else SPP's own database."""
        from psycopg.conninfo import make_conninfo

        params = {k: str(v) for k, v in self.connection.items()
                  if k in ("host", "port", "dbname", "user", "password") and v not in (None, "")}
        if not params:
            from spp.settings import get_settings
            from spp.store.db import url

            return url(get_settings())
        return make_conninfo(**params)


def check_known_inputs(data: dict[str, Any], metadata: dict[str, Any]) -> None:
    """Refuse inputs the process description does not list (400, naming both sets)."""
    allowed = set(metadata["inputs"])
    extra = sorted(set(data) - allowed)
    if extra:
        raise bad_input(f"unknown input(s) {extra}; this process takes {sorted(allowed)}")


def bad_input(message: str) -> Exception:
    """A 400 ``InvalidParameterValue`` carrying ``message`` for the caller."""
    from spp.ogc.processes import ProcessInputError

    return ProcessInputError(user_msg=message)  # type: ignore[no-any-return]
