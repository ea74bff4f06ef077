"""What QGIS reads from our OGC API: run by the SYSTEM Python (``/usr/bin/python3``, where
apt's ``python3-qgis`` lives), not by the venv; ``tests/ogc/test_qgis.py`` starts it.

Input (stdin, JSON)::

    {"profile": "<dir>", "layers": [{"name": .., "uri": .., "key": .., "text": ..,
                                      "area": bool, "bboxes": [[minx, miny, maxx, maxy], ..]}]}

Output (stdout, JSON): one entry per layer with what QGIS saw (validity, CRS, fields, the
key and text values of every feature, the geodesic area on the WGS84 ellipsoid in km² and
the keys of the features each ``setFilterRect`` request returns), plus the QGIS message log.
QGIS's imports stay inside ``main`` so that the venv's tools can import this module."""

from __future__ import annotations

import json
import sys
from typing import Any


def _read_layer(qgis: Any, spec: dict[str, Any]) -> dict[str, Any]:
    core = qgis.core
    layer = core.QgsVectorLayer(spec["uri"], spec["name"], "OAPIF")
    error = layer.error()
    # QgsError.summary() of 3.22 dereferences the last message: it crashes on an empty error
    out: dict[str, Any] = {"valid": layer.isValid(), "error": "" if error.isEmpty() else error.summary()}
    if not layer.isValid():
        return out
    out.update(crs=layer.crs().authid(), wkb_type=core.QgsWkbTypes.displayString(layer.wkbType()),
               fields=[f.name() for f in layer.fields()], provider_count=layer.featureCount())
    # rectangle requests first, while QGIS's cache is empty, so that QGIS asks the server with
    # bbox=; no ExactIntersect flag: what a plain request (the map canvas, select by rectangle) gets
    out["bbox_keys"] = [
        sorted(str(f[spec["key"]]) for f in layer.getFeatures(
            core.QgsFeatureRequest().setFilterRect(core.QgsRectangle(*bbox))))
        for bbox in spec.get("bboxes", [])]
    area = core.QgsDistanceArea()
    area.setSourceCrs(layer.crs(), core.QgsProject.instance().transformContext())
    area.setEllipsoid("WGS84")
    keys: list[str] = []
    ids: list[str] = []
    texts: list[str] = []
    area_m2 = 0.0
    for feature in layer.getFeatures():
        keys.append(str(feature[spec["key"]]))
        if "id" in out["fields"]:
            ids.append(str(feature["id"]))
        if spec.get("text"):
            texts.append(feature[spec["text"]])
        if spec.get("area"):
            area_m2 += area.measureArea(feature.geometry())
    out.update(count=len(keys), count_after=layer.featureCount(), keys=keys, ids=ids, texts=texts,
               area_units=core.QgsUnitTypes.toString(area.areaUnits()), area_km2=area_m2 / 1e6)
    return out


def main() -> None:
    import qgis.core

    job = json.load(sys.stdin)
    app = qgis.core.QgsApplication([], False, job["profile"])
    app.setPrefixPath("/usr", True)
    app.initQgis()
    log: list[str] = []
    app.messageLog().messageReceived.connect(lambda msg, tag, level: log.append(f"{tag}: {msg}"))
    try:
        result = {"qgis": qgis.core.Qgis.QGIS_VERSION,
                  "providers": sorted(qgis.core.QgsProviderRegistry.instance().providerList()),
                  "layers": {spec["name"]: _read_layer(qgis, spec) for spec in job["layers"]}}
    finally:
        result_log = log[-50:]
        app.exitQgis()
    json.dump({**result, "log": result_log}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
