"""Compound scenarios: one hazard's result fed into another network's analysis.

:mod:`spp.compound.model` holds the pure flood → telecom functions (sites flooded above
their critical equipment height or cut off by a flooded substation, 5G coverage without
them, people losing service, hardening gains); :mod:`spp.compound.run` wraps them for the
store (``spp scenario flood-telecom``, the ``flood-telecom`` OGC process).
"""

from spp.compound.model import (
    DEFAULT_EQUIPMENT_HEIGHT_M,
    SUBSTATION_RADIUS_M,
    OutageCoverage,
    commune_outage,
    depth_at_points,
    flag_flooded,
    link_substations,
    outage_coverage,
    radio_sites,
    rank_hardening,
    sites_down,
)

__all__ = [
    "DEFAULT_EQUIPMENT_HEIGHT_M",
    "SUBSTATION_RADIUS_M",
    "OutageCoverage",
    "commune_outage",
    "depth_at_points",
    "flag_flooded",
    "link_substations",
    "outage_coverage",
    "radio_sites",
    "rank_hardening",
    "sites_down",
]
