"""Deterministic sample city of Can Tho: real administrative data plus synthetic layers.

``build_sample(out_dir)`` writes one file per catalogue layer (GeoJSON, EPSG:4326) and a DEM
(``dem.tif``, EPSG:9210). The same seed gives the same bytes.
"""

from spp.sample.build import DEM_FILE, LAYER_FILES, build_sample

__all__ = ["DEM_FILE", "LAYER_FILES", "build_sample"]
