"""Shareable folium maps of catalogue layers and analysis results (pure: frames → folium.Map).

Layers are styled from their catalogue spec (``style``: color, fill, fill_opacity, width,
radius, label_field) and named "vi title / en title" in the layer control. Only public
layers and public fields ever reach a map: :func:`public_frame` refuses a restricted layer
and drops restricted fields, whatever columns the frame carries. GeoJSON is embedded in
the HTML, and so are Leaflet (vendored under ``spp/webmap/static/vendor/leaflet``) and the
legends: an exported map opens without a network. Basemap tiles are optional.

Geometries go to EPSG:4326 (lon/lat) for the map; rasters on projected grids (metres,
EPSG:9210) are warped to EPSG:4326 before being overlaid.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from spp.errors import InputFileError, LayerNotFoundError, RasterError

if TYPE_CHECKING:
    import folium
    import geopandas as gpd
    from affine import Affine

    from spp.catalog import LayerSpec

__all__ = [
    "BASEMAPS",
    "add_frame",
    "add_layer",
    "add_raster",
    "build_map",
    "layer_title",
    "public_frame",
    "render_html",
    "save_map",
]

log = logging.getLogger(__name__)

BASEMAPS: dict[str, str] = {"osm": "OpenStreetMap"}
"""Names accepted for ``basemap`` → folium tile provider (``None``: no tiles, fully offline)."""

LEAFLET_DIR = Path(__file__).resolve().parent / "webmap" / "static" / "vendor" / "leaflet"
"""Vendored Leaflet (npm ``leaflet@1.9.4``) that :func:`render_html` inlines instead of the CDN."""

# Resources folium links by default that SPP's maps never use (Bootstrap, jQuery, awesome
# markers and their fonts): dropped from the page rather than fetched from a CDN.
_UNUSED_ASSETS = ("jquery", "bootstrap", "awesome-markers", "fontawesome", "glyphicons",
                  "awesome.rotate")
_SCRIPT_RE = re.compile(r'<script src="(https?://[^"]+)"></script>')
_CSS_RE = re.compile(r'<link rel="stylesheet" href="(https?://[^"]+)"/>')

_POINTS = ("Point", "MultiPoint")
_LINES = ("LineString", "MultiLineString")


def layer_title(spec: LayerSpec) -> str:
    """The name shown in the layer control: Vietnamese title, then English."""
    return f"{spec.title.vi} / {spec.title.en}"


def public_frame(spec: LayerSpec, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` reduced to the layer's public fields (in spec order) plus geometry, in EPSG:4326.

    Columns that are not public fields of ``spec`` — restricted fields, or anything the
    catalogue does not describe — are dropped. Dates become ISO strings.

    Raises
    ------
    LayerNotFoundError
        The layer is restricted (restricted layers are never exported), or has no geometry.
    CRSError
        ``frame`` has no CRS.
    """
    from spp.errors import CRSError

    if spec.access != "public":
        raise LayerNotFoundError(f"layer '{spec.name}' is restricted and is never exported")
    if not spec.has_geometry:
        raise LayerNotFoundError(f"layer '{spec.name}' has no geometry to map")
    if frame.crs is None:
        raise CRSError(f"layer '{spec.name}' has no CRS")
    keep = [f.name for f in spec.public_fields if f.name in frame.columns]
    out = frame[keep + [frame.geometry.name]].to_crs(4326)
    for f in spec.public_fields:
        if f.name in out and f.type in ("date", "datetime"):
            out[f.name] = out[f.name].map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    return out


def _geojson_text(frame: gpd.GeoDataFrame) -> str:
    """GeoJSON text with nulls (not NaN), no bbox; non-ASCII kept as-is."""
    data = json.loads(frame.to_json(na="null", drop_id=True))
    return json.dumps(data, ensure_ascii=False, allow_nan=False)


def _geom_kind(frame: gpd.GeoDataFrame) -> str:
    types = set(frame.geom_type.dropna())
    if types and types <= set(_POINTS):
        return "point"
    if types and types <= set(_LINES):
        return "line"
    return "polygon"


def _add_geojson(
    target: folium.Map | folium.FeatureGroup,
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    color: str,
    fill: str | None,
    fill_opacity: float,
    width: float,
    radius: float,
    label_field: str | None,
    popup_fields: Sequence[str],
    popup_aliases: Sequence[str] | None = None,
    show: bool = True,
) -> folium.GeoJson:
    import folium

    kind = _geom_kind(frame)
    style = {"color": color, "weight": width, "opacity": 0.9}
    if kind == "line":
        style["fill"] = False
    else:
        style.update(fillColor=fill or color, fillOpacity=fill_opacity)
    marker = None
    if kind == "point":
        marker = folium.CircleMarker(radius=radius, color=color, weight=width,
                                     fill=True, fill_color=fill or color, fill_opacity=0.8)
    tooltip = (folium.GeoJsonTooltip(fields=[label_field], labels=False)
               if label_field and label_field in frame.columns and len(frame) else None)
    fields = [f for f in popup_fields if f in frame.columns]
    popup = None
    if fields and len(frame):
        aliases = list(popup_aliases) if popup_aliases is not None else fields
        popup = folium.GeoJsonPopup(fields=fields, aliases=[aliases[popup_fields.index(f)]
                                                             for f in fields])
    layer = folium.GeoJson(_geojson_text(frame), name=name, show=show,
                           style_function=lambda _feature, _s=style: dict(_s),
                           marker=marker, tooltip=tooltip, popup=popup)
    layer.add_to(target)
    return layer


def add_layer(m: folium.Map, spec: LayerSpec, frame: gpd.GeoDataFrame, *,
              show: bool = True) -> folium.GeoJson:
    """Add a catalogue layer styled from ``spec.style``; popups list its public fields
    labelled with their Vietnamese descriptions (unit in brackets).

    Raises
    ------
    LayerNotFoundError
        A restricted layer (see :func:`public_frame`).
    """
    out = public_frame(spec, frame)
    fields = [f for f in spec.public_fields if f.name in out.columns]
    aliases = [f.description.vi + (f" ({f.unit})" if f.unit else "") for f in fields]
    st = spec.style
    return _add_geojson(m, out, name=layer_title(spec), color=st.color, fill=st.fill,
                        fill_opacity=st.fill_opacity, width=st.width, radius=st.radius,
                        label_field=st.label_field, popup_fields=[f.name for f in fields],
                        popup_aliases=aliases, show=show)


def add_frame(
    m: folium.Map,
    frame: gpd.GeoDataFrame,
    *,
    name: str,
    color: str = "#d7301f",
    fill: str | None = None,
    fill_opacity: float = 0.4,
    width: float = 2.0,
    radius: float = 6.0,
    label_field: str | None = None,
    fields: Sequence[str] | None = None,
    show: bool = True,
) -> folium.GeoJson:
    """Add an analysis result (gap polygons, planned sites, fibre extensions) as a layer.

    ``fields`` (default: every non-geometry column) go to the popup; the frame may be in
    any CRS and is reprojected to EPSG:4326.
    """
    from spp.errors import CRSError

    if frame.crs is None:
        raise CRSError(f"{name}: frame has no CRS")
    cols = [c for c in (fields if fields is not None else frame.columns)
            if c != frame.geometry.name]
    out = frame[cols + [frame.geometry.name]].to_crs(4326)
    return _add_geojson(m, out, name=name, color=color, fill=fill, fill_opacity=fill_opacity,
                        width=width, radius=radius, label_field=label_field,
                        popup_fields=cols, show=show)


def _colour_stops(values: NDArray[np.float64], stops: Sequence[str]) -> NDArray[np.uint8]:
    """RGB for ``values`` in [0, 1], linear between the hex colour ``stops``."""
    rgb = np.array([[int(s[i:i + 2], 16) for i in (1, 3, 5)] for s in stops], dtype=float)
    pos = np.linspace(0.0, 1.0, len(stops))
    v = np.clip(values, 0.0, 1.0)
    return np.stack([np.interp(v, pos, rgb[:, k]) for k in range(3)], axis=-1).astype(np.uint8)


def add_raster(
    m: folium.Map,
    values: NDArray[np.floating],
    *,
    transform: Affine,
    crs: Any,
    name: str,
    vmin: float,
    vmax: float,
    colors: Sequence[str] = ("#c6dbef", "#6baed6", "#2171b5", "#08306b"),
    caption: str | None = None,
    opacity: float = 0.75,
    transparent_below: float | None = None,
    show: bool = True,
) -> folium.raster_layers.ImageOverlay:
    """Overlay a raster (e.g. flood depth in metres, RSRP in dBm) with a legend.

    ``values`` is on a grid given by ``transform`` and ``crs`` (projected, metres, e.g.
    EPSG:9210); it is warped to EPSG:4326 (nearest) and coloured linearly from ``vmin`` to
    ``vmax``. NaN cells, and cells below ``transparent_below`` when given, are transparent.

    Raises
    ------
    RasterError
        ``values`` is not 2-D or ``vmax <= vmin``.
    """
    import folium
    from rasterio.crs import CRS as RioCRS
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise RasterError(f"raster must be 2-D, got shape {arr.shape}")
    if not vmax > vmin:
        raise RasterError(f"vmax ({vmax}) must exceed vmin ({vmin})")
    src_crs = RioCRS.from_user_input(crs)
    h, w = arr.shape
    left, top = transform.c, transform.f
    right, bottom = left + w * transform.a, top + h * transform.e
    dst_t, dw, dh = calculate_default_transform(src_crs, "EPSG:4326", w, h, left, bottom,
                                                right, top)
    out = np.full((dh, dw), np.nan)
    reproject(arr, out, src_transform=transform, src_crs=src_crs, dst_transform=dst_t,
              dst_crs="EPSG:4326", resampling=Resampling.nearest, src_nodata=np.nan,
              dst_nodata=np.nan)
    hidden = ~np.isfinite(out)
    if transparent_below is not None:
        hidden |= np.nan_to_num(out, nan=-np.inf) < transparent_below
    rgba = np.zeros((dh, dw, 4), dtype=np.uint8)
    rgba[..., :3] = _colour_stops((np.nan_to_num(out, nan=vmin) - vmin) / (vmax - vmin), colors)
    rgba[..., 3] = np.where(hidden, 0, round(255 * opacity))
    west, north = dst_t.c, dst_t.f
    east, south = west + dw * dst_t.a, north + dh * dst_t.e
    overlay = folium.raster_layers.ImageOverlay(rgba, bounds=[[south, west], [north, east]],
                                                name=name, show=show, pixelated=True,
                                                mercator_project=True)
    overlay.add_to(m)
    _legend(caption or name, colors, vmin, vmax).add_to(m)
    return overlay


def _legend_html(caption: str, colors: Sequence[str], vmin: float, vmax: float) -> str:
    """A colour-ramp legend as plain HTML (no d3, unlike branca's colormap legend)."""
    from html import escape

    ramp = ", ".join(colors)
    return (f'<div style="font:12px sans-serif;background:rgba(255,255,255,.85);padding:4px 6px;'
            f'border-radius:4px"><div>{escape(caption)}</div>'
            f'<div style="width:160px;height:10px;background:linear-gradient(to right, {escape(ramp)})">'
            f'</div><div style="display:flex;justify-content:space-between">'
            f'<span>{vmin:g}</span><span>{vmax:g}</span></div></div>')


def _legend_class() -> type:
    from branca.element import MacroElement
    from jinja2 import Template

    class Legend(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            (function () {
                var legend = L.control({position: "bottomright"});
                legend.onAdd = function () {
                    var div = L.DomUtil.create("div", "spp-legend");
                    div.innerHTML = {{ this.html|tojson }};
                    return div;
                };
                legend.addTo({{ this._parent.get_name() }});
            })();
            {% endmacro %}
        """)

        def __init__(self, caption: str, colors: Sequence[str], vmin: float, vmax: float):
            super().__init__()  # type: ignore[no-untyped-call]
            self._name = "SppLegend"
            self.html = _legend_html(caption, colors, vmin, vmax)

    return Legend


def _legend(caption: str, colors: Sequence[str], vmin: float, vmax: float) -> Any:
    """The legend as a Leaflet control (a branca MacroElement, built on first use)."""
    return _legend_class()(caption, colors, vmin, vmax)


def build_map(
    layers: Sequence[tuple[LayerSpec, gpd.GeoDataFrame]],
    *,
    focus: gpd.GeoDataFrame | None = None,
    focus_name: str | None = None,
    basemap: str | None = None,
    layer_control: bool = True,
) -> folium.Map:
    """A folium map of catalogue layers, fitted to ``focus`` (e.g. one commune) or to the data.

    Parameters
    ----------
    layers : sequence of (LayerSpec, GeoDataFrame)
        Drawn in order (first at the bottom); any CRS.
    focus : GeoDataFrame, optional
        Area to outline and zoom to (any CRS).
    focus_name : str, optional
        Layer-control name of the outline.
    basemap : {"osm"} or None
        Background tiles; ``None`` (default) keeps the map offline.
    layer_control : bool
        Add the layer control (set False to add more layers first, then call
        ``folium.LayerControl().add_to(m)`` yourself).

    Raises
    ------
    LayerNotFoundError
        A restricted layer is among ``layers``.
    InputFileError
        Unknown ``basemap``.
    """
    import folium

    if basemap is not None and basemap not in BASEMAPS:
        raise InputFileError(f"unknown basemap {basemap!r}; choose one of {sorted(BASEMAPS)}")
    for spec, _frame in layers:  # refuse before drawing anything
        public_frame(spec, _frame.iloc[:0])
    m = folium.Map(tiles=BASEMAPS[basemap] if basemap else None, control_scale=True,
                   prefer_canvas=True)
    for spec, frame in layers:
        add_layer(m, spec, frame)
    boxes = []
    if focus is not None and len(focus):
        outline = focus[[focus.geometry.name]].to_crs(4326)
        folium.GeoJson(_geojson_text(outline), name=focus_name or "Khu vực / Area",
                       style_function=lambda _f: {"color": "#e31a1c", "weight": 3,
                                                  "fill": False}).add_to(m)
        boxes.append(outline.total_bounds)
    else:
        boxes.extend(f.to_crs(4326).total_bounds for _, f in layers if len(f))
    if boxes:
        b = np.array(boxes, dtype=float)
        m.fit_bounds([[float(b[:, 1].min()), float(b[:, 0].min())],
                      [float(b[:, 3].max()), float(b[:, 2].max())]])
    if layer_control:
        folium.LayerControl(collapsed=False).add_to(m)
    return m


def render_html(m: folium.Map) -> str:
    """The map as one self-contained HTML document: GeoJSON, Leaflet's script and stylesheet
    (with its images as data URIs) inline, folium's unused CDN links dropped, so it opens
    offline. A link nothing here knows (a folium plugin added by the caller) is kept and
    logged, since that map then needs the internet."""
    return _inline_assets(str(m.get_root().render()))


def _leaflet_css() -> str:
    css = (LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        png = (LEAFLET_DIR / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri, css)


def _inline_assets(html: str) -> str:
    def script(match: re.Match[str]) -> str:
        url = match.group(1)
        if re.search(r"/leaflet@[\d.]+/dist/leaflet\.js$", url):
            js = (LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8")
            return f"<script>{js}</script>"
        if any(name in url for name in _UNUSED_ASSETS):
            return ""
        log.warning("exported map links %s: it needs the internet to show fully", url)
        return match.group(0)

    def stylesheet(match: re.Match[str]) -> str:
        url = match.group(1)
        if re.search(r"/leaflet@[\d.]+/dist/leaflet\.css$", url):
            return f"<style>{_leaflet_css()}</style>"
        if any(name in url for name in _UNUSED_ASSETS):
            return ""
        log.warning("exported map links %s: it needs the internet to show fully", url)
        return match.group(0)

    return _CSS_RE.sub(stylesheet, _SCRIPT_RE.sub(script, html))


def save_map(m: folium.Map, path: Path, *, overwrite: bool = False) -> Path:
    """Write the map's HTML (UTF-8) to ``path``.

    Raises
    ------
    InputFileError
        ``path`` exists and ``overwrite`` is false, or cannot be written.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputFileError(f"{path} exists; pass --overwrite to replace it")
    try:
        path.write_text(render_html(m), encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"cannot write {path}: {exc}") from exc
    return path
