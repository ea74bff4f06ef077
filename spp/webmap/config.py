"""The web map's configuration (``/map/config.json``), derived from the layer catalogue.

The browser gets, per layer that is loaded and served: bilingual titles, theme, geometry
kind, zoom range, the catalogue's style hints turned into MapLibre paint properties, a
legend, the public fields with their titles and units, and whether the layer is a base
layer (communes, roads, waterways: the map has no internet basemap), an analysis overlay
(theme ``analysis``) or restricted (shown only with an API key). Analysis layers that keep
several runs are filtered to their latest run.
"""

from __future__ import annotations

from typing import Any

from spp.catalog import Catalog, LayerSpec
from spp.validate import CITY_BBOX_4326

__all__ = ["BASE_LAYERS", "LABEL_FONTS", "LABEL_MIN_ZOOM", "RUN_FIELDS", "THEME_TITLES", "build_map_config", "layer_entry"]

BASE_LAYERS = ("communes", "waterways", "roads")
"""Layers drawn at start: together they are the (offline) basemap."""

RUN_FIELDS = ("run_id",)
"""Fields that tell runs apart in analysis layers; the map shows the latest (largest) one."""

THEME_TITLES: dict[str, dict[str, str]] = {
    "analysis": {"vi": "Phân tích (ngập, phủ sóng, chỉ số)", "en": "Analysis (flood, coverage, indicators)"},
    "admin": {"vi": "Hành chính", "en": "Administrative"},
    "land": {"vi": "Đất đai", "en": "Land"},
    "planning": {"vi": "Quy hoạch", "en": "Planning"},
    "construction": {"vi": "Xây dựng", "en": "Construction"},
    "transport": {"vi": "Giao thông", "en": "Transport"},
    "drainage": {"vi": "Thoát nước", "en": "Drainage"},
    "water": {"vi": "Sông nước, cấp nước", "en": "Water"},
    "lighting": {"vi": "Chiếu sáng", "en": "Lighting"},
    "trees": {"vi": "Cây xanh", "en": "Trees"},
    "fire": {"vi": "Phòng cháy", "en": "Fire"},
    "waste": {"vi": "Rác thải", "en": "Waste"},
    "telecom": {"vi": "Viễn thông", "en": "Telecom"},
    "power": {"vi": "Điện lực", "en": "Power"},
    "population": {"vi": "Dân cư", "en": "Population"},
}

LABEL_MIN_ZOOM: dict[str, int] = {"communes": 10, "waterways": 12, "roads": 14}
"""Zoom from which a layer's names are drawn; other layers label from zoom 15 (or later)."""

LABEL_FONTS = ("Noto Sans Regular", "DejaVu Sans", "sans-serif")
"""Font stack for labels. The map sets no ``glyphs`` URL, so MapLibre (≥ 5.11) draws the
labels with the browser's own fonts (TinySDF): no glyph server, no internet. Vietnamese
names are NFC, so every letter is one precomposed code point that these fonts cover."""

# sequential blues for depth classes, greens/oranges for other class fields
_DEPTH_PALETTE = ("#c6dbef", "#6baed6", "#2171b5", "#08306b", "#081d58")
_CLASS_PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def _kind(spec: LayerSpec) -> str:
    if spec.geometry.endswith("Polygon"):
        return "fill"
    if spec.geometry.endswith("LineString"):
        return "line"
    return "circle"


def _class_field(spec: LayerSpec) -> tuple[str, list[str | int], tuple[str, ...]] | None:
    """A field with a closed list of values to colour an analysis layer by (depth first)."""
    if spec.theme != "analysis":
        return None
    candidates = [f for f in spec.fields if f.allowed and f.access == "public" and f.name != spec.primary_key]
    if not candidates:
        return None
    depth = [f for f in candidates if "depth" in f.name or "class" in f.name]
    f = (depth or candidates)[0]
    palette = _DEPTH_PALETTE if "depth" in f.name else _CLASS_PALETTE
    return f.name, list(f.allowed or []), palette


def _label(spec: LayerSpec) -> dict[str, Any] | None:
    """Which public field names the layer's features on the map, from which zoom, in which fonts."""
    field = spec.style.label_field
    if not field or field not in {f.name for f in spec.public_fields}:
        return None
    zoom = LABEL_MIN_ZOOM.get(spec.name, max(spec.min_zoom, 15))
    label: dict[str, Any] = {"field": field, "min_zoom": zoom, "fonts": list(LABEL_FONTS),
                             "placement": "line" if _kind(spec) == "line" else "point"}
    if spec.name == "communes":  # one point per commune instead of one label per tile piece
        label["points"] = "communes/labels.geojson"
    return label


def layer_entry(spec: LayerSpec, *, latest_run: Any = None) -> dict[str, Any]:
    """The browser-side description of one layer (see the module docstring)."""
    style = spec.style
    color = style.color
    fill = style.fill or style.color
    entry: dict[str, Any] = {
        "name": spec.name,
        "title": {"vi": spec.title.vi, "en": spec.title.en},
        "theme": spec.theme,
        "kind": _kind(spec),
        "access": spec.access,
        "min_zoom": spec.min_zoom,
        "max_zoom": spec.max_zoom,
        "primary_key": spec.primary_key,
        "label_field": style.label_field,
        "base": spec.name in BASE_LAYERS,
        "overlay": spec.theme == "analysis",
        "synthetic": spec.synthetic,
        "attribution": spec.source.attribution,
        "has_restricted_fields": bool(spec.restricted_fields),
        "fields": [{"name": f.name, "title": {"vi": f.description.vi, "en": f.description.en}, "unit": f.unit}
                   for f in spec.public_fields],
        "filter": None,
        "label": _label(spec),
        "legend": [{"label": {"vi": spec.title.vi, "en": spec.title.en}, "color": fill if _kind(spec) == "fill"
                    else color}],
    }
    color_expr: Any = color
    fill_expr: Any = fill
    classes = _class_field(spec)
    if classes is not None:
        field, values, palette = classes
        pairs: list[Any] = []
        legend = []
        for i, value in enumerate(values):
            c = palette[min(i, len(palette) - 1)]
            pairs += [value, c]
            legend.append({"label": {"vi": str(value), "en": str(value)}, "color": c})
        color_expr = fill_expr = ["match", ["get", field], *pairs, fill]
        entry["legend"] = legend
        entry["class_field"] = field
    if entry["kind"] == "fill":
        entry["paint"] = {
            "fill": {"fill-color": fill_expr, "fill-opacity": style.fill_opacity},
            "line": {"line-color": color, "line-width": style.width},
        }
    elif entry["kind"] == "line":
        # thinner at city scale, the catalogue's width from zoom 14
        width = ["interpolate", ["linear"], ["zoom"], 8, round(style.width * 0.3, 2), 14, style.width]
        entry["paint"] = {"line": {"line-color": color_expr, "line-width": width}}
    else:
        entry["paint"] = {"circle": {"circle-color": color_expr, "circle-radius": style.radius,
                                     "circle-stroke-color": "#ffffff", "circle-stroke-width": 0.5}}
    if latest_run is not None:
        field, value = latest_run
        if field == "snapshot_id":  # commune_indicators: ids end with "@<time of the snapshot>"
            entry["filter"] = ["in", f"@{value}", ["get", field]]
        else:
            entry["filter"] = ["==", ["get", field], value]
        entry["latest_run"] = {"field": field, "value": value}
    return entry


def build_map_config(catalog: Catalog, *, available: set[str], ogc_root: str,
                     latest_runs: dict[str, tuple[str, Any]] | None = None,
                     indicators: bool = False) -> dict[str, Any]:
    """The whole ``config.json``.

    Parameters
    ----------
    catalog
        The layer catalogue.
    available
        Layers that are loaded and served (others are left out, so overlays appear as soon
        as their analysis has written them).
    ogc_root
        Path of the OGC API root relative to the server (``""`` when the map is at ``/map``).
    latest_runs
        Layer → (field, value) of its latest run, used as a filter.
    indicators
        Whether a ``commune_indicators`` snapshot exists (enables the CSV download link).
    """
    latest_runs = latest_runs or {}
    layers = [layer_entry(s, latest_run=latest_runs.get(s.name))
              for s in catalog if s.has_geometry and s.name in available]
    themes = [t for t in THEME_TITLES if any(entry["theme"] == t for entry in layers)]
    return {
        "ogc_root": ogc_root,
        "bbox": list(CITY_BBOX_4326),
        "themes": [{"id": t, "title": THEME_TITLES[t]} for t in themes],
        "layers": layers,
        "indicators": indicators,
        "targets": {"coverage_5g_pct": 100.0, "fibre_households_pct": 90.0},
    }
