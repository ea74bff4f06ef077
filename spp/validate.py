"""Validate a table of features against its layer spec, reporting *every* problem.

Pure functions on (Geo)DataFrames: nothing touches the database. :func:`validate_frame`
returns the cleaned frame (typed columns, NFC text, single geometries promoted to Multi,
reprojected to EPSG:4326) and warnings, or raises :class:`LoadValidationError` listing each
problem with its feature id, field and what to do.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from spp.catalog import FieldSpec, LayerSpec
from spp.city import CITY_BBOX_4326
from spp.errors import LoadValidationError, ValidationProblem
from spp.names import is_mojibake

__all__ = ["CITY_BBOX_4326", "ValidationResult", "validate_frame", "is_mojibake"]

log = logging.getLogger(__name__)

_MAX_PER_CODE = 1000  # problems kept per code; the count of the rest is still reported


@dataclass
class ValidationResult:
    """A frame ready to store (EPSG:4326, typed), with non-blocking warnings."""

    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


class _Problems:
    def __init__(self) -> None:
        self.items: list[ValidationProblem] = []
        self._counts: dict[str, int] = {}

    def add(self, code: str, message: str, feature: str | None = None, field: str | None = None) -> None:
        n = self._counts.get(code, 0)
        self._counts[code] = n + 1
        if n < _MAX_PER_CODE:
            self.items.append(ValidationProblem(code, message, feature, field))

    def finish(self) -> list[ValidationProblem]:
        for code, n in self._counts.items():
            if n > _MAX_PER_CODE:
                self.items.append(
                    ValidationProblem(code, f"{n - _MAX_PER_CODE} more features with this problem")
                )
        return self.items


class _FeatureIds:
    """Feature ids for messages, computed only for the rows that have a problem: the primary
    key when present and set, else ``row N`` (0-based)."""

    def __init__(self, frame: pd.DataFrame, spec: LayerSpec):
        self._pk = frame[spec.primary_key].to_numpy(dtype=object) if spec.primary_key in frame.columns else None
        self._name = spec.primary_key

    def __call__(self, i: int) -> str:
        if self._pk is not None:
            v = self._pk[i]
            if v is not None and not (not isinstance(v, str) and pd.isna(v)):
                return f"{self._name}={v}"
        return f"row {i}"


def _coerce(series: pd.Series, fs: FieldSpec) -> tuple[pd.Series, pd.Series]:
    """Return (typed series, mask of values that could not be converted)."""
    notna = series.notna()
    if fs.type == "text":
        if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
            values = series.astype(object).to_numpy(copy=True)
            blank = (series.isna() | series.str.strip().eq("").fillna(False)).to_numpy(dtype=bool)
            values[blank] = None
        else:
            values = np.empty(len(series), dtype=object)
            for i, v in enumerate(series.to_numpy(dtype=object)):
                if v is None or (not isinstance(v, str) and pd.isna(v)):
                    values[i] = None
                    continue
                text = v if isinstance(v, str) else str(v)
                values[i] = text if text.strip() else None
        return pd.Series(values, index=series.index, dtype=object), pd.Series(False, index=series.index)
    if fs.type in ("integer", "real"):
        if series.dtype == bool:
            return series.astype(float), pd.Series(False, index=series.index)
        num = pd.to_numeric(series, errors="coerce")
        bad = notna & num.isna()
        if fs.type == "integer":
            frac = notna & ~bad & (np.floor(num.fillna(0)) != num.fillna(0))
            bad = bad | frac
            out = num.where(~bad).astype("Int64") if not bad.all() else pd.Series(pd.NA, index=series.index, dtype="Int64")
            return out, bad
        return num.astype(float), bad
    if fs.type == "boolean":
        mapping = {True: True, False: False, 1: True, 0: False, "true": True, "false": False,
                   "1": True, "0": False, "yes": True, "no": False, "có": True, "không": False}

        def conv(v: object) -> object:
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return None
            key = v.strip().lower() if isinstance(v, str) else v
            return mapping.get(key, "__bad__")  # type: ignore[call-overload]

        out = series.map(conv)
        bad = out.map(lambda v: isinstance(v, str))
        return out.where(~bad, None).astype(object), bad
    # date / datetime
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=fs.type == "datetime")
    bad = notna & parsed.isna()
    if fs.type == "date":
        return parsed.dt.date.where(parsed.notna(), None).astype(object), bad
    return parsed, bad


def validate_frame(
    frame: pd.DataFrame,
    spec: LayerSpec,
    *,
    source: str,
    crs: CRS | None,
    extent: tuple[float, float, float, float] = CITY_BBOX_4326,
) -> ValidationResult:
    """Check ``frame`` (a GeoDataFrame with a ``geometry`` column, or a DataFrame for a
    layer without geometry) against ``spec``; collect every problem before failing.

    Parameters
    ----------
    frame
        The features as read from ``source``; geometries in ``crs``.
    spec
        The layer spec the features must satisfy.
    source
        File name used in messages.
    crs
        CRS of the geometries as read; ``None`` when the file declared none.
    extent
        (minx, miny, maxx, maxy) in EPSG:4326 that every feature's bounds must lie within.

    Raises
    ------
    LoadValidationError
        With all problems (codes: ``missing_field``, ``unknown_field``, ``wrong_type``,
        ``missing_value``, ``not_allowed``, ``out_of_range``, ``duplicate_key``,
        ``mojibake``, ``no_crs``, ``missing_geometry``, ``empty_geometry``,
        ``wrong_geometry_type``, ``invalid_geometry``, ``outside_extent``, ``empty_file``).
    """
    problems = _Problems()
    warnings: list[str] = []
    if len(frame) == 0:
        problems.add("empty_file", "the file holds no features; load at least one")
        raise LoadValidationError(spec.name, source, problems.finish())
    frame = frame.reset_index(drop=True)
    fid = _FeatureIds(frame, spec)
    geom_col = "geometry" if "geometry" in frame.columns else None
    attrs = [c for c in frame.columns if c != geom_col]
    known = {f.name for f in spec.fields}
    for col in attrs:
        if col not in known:
            problems.add("unknown_field", f"column '{col}' is not in layer '{spec.name}'; "
                         f"rename it to one of {sorted(known)} or drop it", field=col)
    out = pd.DataFrame(index=frame.index)
    for fs in spec.fields:
        if fs.name not in frame.columns:
            if fs.required:
                problems.add("missing_field", f"required column '{fs.name}' ({fs.type}) is missing", field=fs.name)
            else:
                warnings.append(f"optional column '{fs.name}' is absent; stored as NULL")
            out[fs.name] = None
            continue
        typed, bad = _coerce(frame[fs.name], fs)
        for i in np.flatnonzero(bad.to_numpy()):
            problems.add("wrong_type", f"value {frame[fs.name].iloc[i]!r} is not a valid {fs.type}",
                         fid(int(i)), fs.name)
        if fs.type == "text":
            typed, nfc_fixed, moj = _check_text(typed)
            for i in np.flatnonzero(moj):
                problems.add("mojibake", f"text {typed.iloc[i]!r} looks like UTF-8 read as Windows-1252; "
                             "re-export the file as UTF-8", fid(int(i)), fs.name)
            if nfc_fixed:
                warnings.append(f"column '{fs.name}': {nfc_fixed} value(s) normalised to Unicode NFC")
        missing = typed.isna().to_numpy() & ~bad.to_numpy()
        if fs.required or fs.name == spec.primary_key:
            for i in np.flatnonzero(missing):
                problems.add("missing_value", "required value is empty", fid(int(i)), fs.name)
        if fs.allowed is not None:
            allowed = set(fs.allowed) | {str(a) for a in fs.allowed}
            mask = typed.notna() & ~typed.map(lambda v: v in allowed or str(v) in allowed).astype(bool)
            for i in np.flatnonzero(mask.to_numpy()):
                problems.add("not_allowed", f"value {typed.iloc[i]!r} is not one of {list(fs.allowed)}",
                             fid(int(i)), fs.name)
        if fs.min is not None or fs.max is not None:
            num = pd.to_numeric(typed, errors="coerce").astype(float)
            lo = -np.inf if fs.min is None else fs.min
            hi = np.inf if fs.max is None else fs.max
            mask = num.notna() & ((num < lo) | (num > hi))
            unit = f" {fs.unit}" if fs.unit else ""
            for i in np.flatnonzero(mask.to_numpy()):
                problems.add("out_of_range", f"value {num.iloc[i]:g}{unit} is outside [{lo:g}, {hi:g}]{unit}",
                             fid(int(i)), fs.name)
        out[fs.name] = typed
    pk = out[spec.primary_key]
    dup = pk.notna() & pk.duplicated(keep=False)
    for i in np.flatnonzero(dup.to_numpy()):
        problems.add("duplicate_key", f"key {pk.iloc[i]!r} appears more than once", fid(int(i)), spec.primary_key)

    if spec.has_geometry:
        geoms = _check_geometry(frame, spec, fid, crs, extent, problems, source)
        out["geometry"] = geoms
    elif geom_col is not None and frame[geom_col].notna().any():
        problems.add("unknown_field", f"layer '{spec.name}' has no geometry but the file has one", field="geometry")

    found = problems.finish()
    if found:
        raise LoadValidationError(spec.name, source, found)
    return ValidationResult(out, warnings)


def _check_text(series: pd.Series) -> tuple[pd.Series, int, np.ndarray]:
    values = series.to_numpy(dtype=object)
    uniques = {v for v in values if v is not None}
    nfc = {v: unicodedata.normalize("NFC", v) for v in uniques if not v.isascii()}
    changed = {k: v for k, v in nfc.items() if k != v}
    moj_vals = {v for v in nfc.values() if is_mojibake(v)}
    fixed = 0
    if changed:
        mapped = series.map(lambda v: changed.get(v, v) if v is not None else None)
        fixed = int((mapped != series).sum())
        series = mapped
    moj = series.map(lambda v: v in moj_vals).to_numpy(dtype=bool) if moj_vals else np.zeros(len(series), bool)
    return series, fixed, moj


def _check_geometry(
    frame: pd.DataFrame,
    spec: LayerSpec,
    fid: _FeatureIds,
    crs: CRS | None,
    extent: tuple[float, float, float, float],
    problems: _Problems,
    source: str,
) -> np.ndarray:
    if "geometry" not in frame.columns:
        problems.add("missing_field", "the file has no geometry; layer "
                     f"'{spec.name}' needs {spec.geometry} geometries", field="geometry")
        return np.full(len(frame), None, dtype=object)
    geoms = np.asarray(frame["geometry"].array if hasattr(frame["geometry"], "array") else frame["geometry"],
                       dtype=object)
    geoms = np.array([g if isinstance(g, shapely.Geometry) else None for g in geoms], dtype=object)
    if crs is None:
        problems.add("no_crs", f"{source} declares no CRS; add a .prj / CRS, or pass --crs EPSG:xxxx "
                     "(VN-2000 / TM-3 105°45′ is EPSG:9210)", field="geometry")
    missing = shapely.is_missing(geoms)
    for i in np.flatnonzero(missing):
        problems.add("missing_geometry", "feature has no geometry", fid(int(i)), "geometry")
    present = ~missing
    empty = present & shapely.is_empty(np.where(present, geoms, shapely.Point()))
    for i in np.flatnonzero(empty):
        problems.add("empty_geometry", "geometry is empty", fid(int(i)), "geometry")
    ok = present & ~empty
    type_ids = shapely.get_type_id(geoms)
    base = spec.geometry.removeprefix("Multi")
    allowed = {
        "Point": {0} | ({4} if spec.is_multi else set()),
        "LineString": {1, 5},
        "Polygon": {3, 6},
    }[base]
    wrong = ok & ~np.isin(type_ids, list(allowed))
    for i in np.flatnonzero(wrong):
        problems.add("wrong_geometry_type", f"geometry is a {geoms[i].geom_type}, layer '{spec.name}' "
                     f"takes {spec.geometry}", fid(int(i)), "geometry")
    ok &= ~wrong
    valid = np.ones(len(geoms), dtype=bool)
    valid[ok] = shapely.is_valid(geoms[ok])
    for i in np.flatnonzero(~valid):
        reason = shapely.is_valid_reason(geoms[i])
        problems.add("invalid_geometry", f"invalid geometry: {reason}; repair it (e.g. ST_MakeValid or "
                     "QGIS 'Fix geometries')", fid(int(i)), "geometry")
    ok &= valid
    if crs is not None and ok.any():
        from spp.crs import transformer

        src = crs.to_epsg(min_confidence=70)
        if src is not None and src != 4326:
            tr = transformer(src, 4326)
            geoms[ok] = shapely.transform(geoms[ok], lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        elif src is None:
            from pyproj import Transformer

            tr2 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
            geoms[ok] = shapely.transform(geoms[ok], lambda xy: np.column_stack(tr2.transform(xy[:, 0], xy[:, 1])))
        bounds = shapely.bounds(geoms[ok])
        minx, miny, maxx, maxy = extent
        outside_local = (
            ~np.isfinite(bounds).all(axis=1)
            | (bounds[:, 0] < minx) | (bounds[:, 1] < miny) | (bounds[:, 2] > maxx) | (bounds[:, 3] > maxy)
        )
        idx = np.flatnonzero(ok)[outside_local]
        for i in idx:
            b = shapely.bounds(geoms[i])
            problems.add("outside_extent", f"feature bounds ({b[0]:.5f}, {b[1]:.5f}, {b[2]:.5f}, {b[3]:.5f}) in "
                         f"EPSG:4326 fall outside Can Tho {extent}; check the CRS of the file", fid(int(i)), "geometry")
    return geoms
