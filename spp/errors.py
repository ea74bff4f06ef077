"""One exception hierarchy for SPP.

Every class inherits :class:`SppError` and a builtin, carries an HTTP status and an
OGC exception code (mapped once in :mod:`spp.ogc`), and a message a planner can act on:
what is wrong, where (file, layer, feature, field) and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "SppError",
    "ConfigError",
    "CatalogError",
    "LayerNotFoundError",
    "VersionNotFoundError",
    "DatabaseError",
    "ClusterError",
    "InputFileError",
    "CRSError",
    "CRSMismatchError",
    "ValidationProblem",
    "LoadValidationError",
    "RasterError",
    "ScenarioError",
    "AnalysisError",
    "CommuneNotFoundError",
]


class SppError(Exception):
    """Root of every error SPP raises on purpose."""

    http_status: int = 500
    ogc_code: str = "NoApplicableCode"


class ConfigError(SppError, ValueError):
    """A setting (environment variable, YAML file, CLI flag) is missing or invalid."""

    http_status = 500


class CatalogError(SppError, ValueError):
    """A layer spec in ``layers/*.yml`` is malformed; the message names the file and key."""

    http_status = 500


class LayerNotFoundError(SppError, LookupError):
    """The named layer is not in the catalogue (or not loaded)."""

    http_status = 404
    ogc_code = "NotFound"


class VersionNotFoundError(SppError, LookupError):
    """The requested version of a layer does not exist."""

    http_status = 404
    ogc_code = "NotFound"


class DatabaseError(SppError, RuntimeError):
    """PostGIS could not be reached or refused an operation."""

    http_status = 503


class ClusterError(DatabaseError):
    """The private PostGIS cluster could not be created, started or stopped."""


class InputFileError(SppError, OSError):
    """An input file is missing, unreadable, of an unknown format or not UTF-8."""

    http_status = 400
    ogc_code = "InvalidParameterValue"


class CRSError(SppError, ValueError):
    """A coordinate reference system is missing, unknown or unsuitable."""

    http_status = 400
    ogc_code = "InvalidParameterValue"


class CRSMismatchError(CRSError):
    """Two inputs that must share a CRS do not."""


@dataclass(frozen=True)
class ValidationProblem:
    """One problem found while validating a file against its layer spec.

    ``feature`` is the feature id (the primary key when present, else the 0-based row
    number), ``field`` the attribute concerned (``"geometry"`` for the geometry), or
    ``None`` when the problem concerns the whole file.
    """

    code: str
    message: str
    feature: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.feature is not None:
            where.append(f"feature {self.feature}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = f"[{self.code}] " + (", ".join(where) + ": " if where else "")
        return prefix + self.message


class LoadValidationError(SppError, ValueError):
    """A file failed validation; nothing was written. ``problems`` lists every problem found."""

    http_status = 400
    ogc_code = "InvalidParameterValue"

    def __init__(self, layer: str, source: str, problems: Sequence[ValidationProblem]):
        self.layer = layer
        self.source = source
        self.problems = list(problems)
        codes = sorted({p.code for p in self.problems})
        head = (
            f"{source}: {len(self.problems)} problem(s) for layer '{layer}' "
            f"({', '.join(codes)}); nothing was loaded, the live layer is unchanged."
        )
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(f"{head}\n{shown}{tail}")

    def codes(self) -> set[str]:
        """The distinct problem codes, e.g. ``{"invalid_geometry", "duplicate_key"}``."""
        return {p.code for p in self.problems}


class RasterError(SppError, ValueError):
    """A raster (DEM, depth grid) is unusable: no CRS, geographic CRS, all nodata …"""

    http_status = 400
    ogc_code = "InvalidParameterValue"


class ScenarioError(SppError, ValueError):
    """A scenario file or process input is invalid (unknown key, negative rain …)."""

    http_status = 400
    ogc_code = "InvalidParameterValue"


class AnalysisError(SppError, RuntimeError):
    """An analysis could not produce a trustworthy result (e.g. disconnected road graph)."""

    http_status = 422


class CommuneNotFoundError(SppError, LookupError):
    """No commune matches the given name or code (with or without diacritics)."""

    http_status = 404
    ogc_code = "NotFound"
