"""Radio coverage (4G/5G): path loss, antenna pattern, line of sight, best-server RSRP,
per-commune coverage shares, gap polygons and greedy site plans.

Pure functions on numpy arrays and GeoDataFrames; grids are projected in metres
(EPSG:9210, VN-2000 / TM-3 105°45′, for Can Tho). See :mod:`spp.coverage.model`.
:mod:`spp.coverage.run` wraps them for the store: layers in, results published as
versioned layers (:mod:`spp.coverage.publish`), as ``spp coverage run`` and the
``coverage-gaps`` process do.
"""

from spp.coverage.model import (
    CoverageResult,
    CoverageSettings,
    Sector,
    best_server,
    compute_rsrp,
    sectors_from_sites,
)

__all__ = [
    "CoverageResult",
    "CoverageSettings",
    "Sector",
    "best_server",
    "compute_rsrp",
    "sectors_from_sites",
]
