"""Facts about the city that every module shares and that need no heavy import."""

from __future__ import annotations

__all__ = ["CITY_BBOX_4326"]

CITY_BBOX_4326 = (105.17, 9.19, 106.37, 10.38)
"""Merged Can Tho (2025) extent with a ~5 km margin, (minx, miny, maxx, maxy) in EPSG:4326."""
