"""The layer catalogue: one YAML spec per layer in ``layers/``, the single source of truth.

DDL, load validation, the pygeoapi configuration, the map legend and the README's layer
table are all derived from these specs. A malformed spec raises :class:`CatalogError`
naming the file and the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spp.errors import CatalogError, LayerNotFoundError

__all__ = [
    "Text",
    "FieldSpec",
    "LayerSpec",
    "Catalog",
    "load_catalog",
    "THEMES",
    "FIELD_TYPES",
    "GEOMETRY_TYPES",
]

THEMES = (
    "admin", "land", "planning", "construction", "transport", "drainage", "water",
    "lighting", "trees", "fire", "waste", "telecom", "power", "population", "analysis",
)
FIELD_TYPES = ("text", "integer", "real", "boolean", "date", "datetime")
GEOMETRY_TYPES = (
    "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "none",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED = {"geom", "id", "spp_row"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A text in Vietnamese (``vi``) and English (``en``)."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)


class FieldSpec(_Strict):
    """One attribute of a layer."""

    name: str
    type: Literal["text", "integer", "real", "boolean", "date", "datetime"]
    description: Text
    unit: str | None = None
    """Unit of measure in plain text (``m``, ``m³/s``, ``dBm``, ``MHz``, ``persons``)."""
    required: bool = False
    allowed: list[str | int] | None = None
    """Closed list of allowed values (a domain); anything else is rejected at load."""
    min: float | None = None
    max: float | None = None
    access: Literal["public", "restricted"] = "public"
    """``restricted`` fields (e.g. a parcel owner's name) never reach the public endpoint."""

    @model_validator(mode="after")
    def _check(self) -> FieldSpec:
        if not _NAME.match(self.name):
            raise ValueError(f"field name {self.name!r} must be lower_snake_case ASCII")
        if self.name in _RESERVED:
            raise ValueError(f"field name {self.name!r} is reserved by SPP")
        if (self.min is not None or self.max is not None) and self.type not in ("integer", "real"):
            raise ValueError(f"field {self.name!r}: min/max only apply to integer/real fields")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"field {self.name!r}: min {self.min} > max {self.max}")
        if self.allowed is not None and not self.allowed:
            raise ValueError(f"field {self.name!r}: allowed must list at least one value")
        return self


class Licence(_Strict):
    name: str
    url: str | None = None


class Source(_Strict):
    attribution: str
    url: str | None = None
    note: str | None = None


class Style(_Strict):
    """Map styling hints (CSS colours, widths in pixels)."""

    color: str = "#3388ff"
    fill: str | None = None
    fill_opacity: float = Field(default=0.4, ge=0, le=1)
    width: float = Field(default=1.5, ge=0)
    radius: float = Field(default=4, ge=0)
    label_field: str | None = None


class LayerSpec(_Strict):
    """Everything SPP knows about one layer."""

    name: str
    title: Text
    description: Text
    theme: Literal[
        "admin", "land", "planning", "construction", "transport", "drainage", "water",
        "lighting", "trees", "fire", "waste", "telecom", "power", "population", "analysis",
    ]
    geometry: Literal[
        "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "none"
    ]
    primary_key: str
    fields: list[FieldSpec] = Field(min_length=1)
    access: Literal["public", "restricted"] = "public"
    owner: Text
    licence: Licence
    source: Source
    synthetic: bool
    update_frequency: Literal[
        "continuous", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular", "per-run"
    ] = "irregular"
    keywords: list[str] = Field(default_factory=list)
    time_field: str | None = None
    """A date/datetime field that gives the layer a temporal extent."""
    min_zoom: int = Field(default=8, ge=0, le=22)
    max_zoom: int = Field(default=18, ge=0, le=22)
    style: Style = Field(default_factory=Style)
    sample: str | None = None
    """File (relative to the sample-city folder) that holds this layer in the sample city."""
    ingest: Literal["load", "api"] = "load"
    """How rows arrive: ``load`` — whole versions through ``spp load`` (and analyses);
    ``api`` — row by row through the API (e.g. citizen field reports), never replaced by a load."""

    @model_validator(mode="after")
    def _check(self) -> LayerSpec:
        if not _NAME.match(self.name):
            raise ValueError(f"layer name {self.name!r} must be lower_snake_case ASCII")
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate field name(s): {dupes}")
        if self.primary_key not in names:
            raise ValueError(f"primary_key {self.primary_key!r} is not one of the fields {names}")
        pk = self.field(self.primary_key)
        if pk.type not in ("text", "integer") or pk.access != "public":
            raise ValueError(f"primary_key {self.primary_key!r} must be a public text/integer field")
        if self.time_field is not None:
            if self.time_field not in names:
                raise ValueError(f"time_field {self.time_field!r} is not one of the fields")
            if self.field(self.time_field).type not in ("date", "datetime"):
                raise ValueError(f"time_field {self.time_field!r} must be a date or datetime")
        if self.min_zoom > self.max_zoom:
            raise ValueError(f"min_zoom {self.min_zoom} > max_zoom {self.max_zoom}")
        if self.style.label_field is not None and self.style.label_field not in names:
            raise ValueError(f"style.label_field {self.style.label_field!r} is not a field")
        return self

    def field(self, name: str) -> FieldSpec:
        """The field called ``name``; raise :class:`KeyError` when absent."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def has_geometry(self) -> bool:
        return self.geometry != "none"

    @property
    def is_multi(self) -> bool:
        return self.geometry.startswith("Multi")

    @property
    def public_fields(self) -> list[FieldSpec]:
        """Fields that may appear on the public endpoint."""
        return [f for f in self.fields if f.access == "public"]

    @property
    def restricted_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.access == "restricted"]


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        parts.append(f"key '{loc}': {err['msg']}")
    return "; ".join(parts)


def load_spec(path: Path) -> LayerSpec:
    """Read and validate one ``layers/<name>.yml``; the file stem must equal ``name``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: not UTF-8 ({exc})") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: must hold a mapping with the keys of a layer spec")
    try:
        spec = LayerSpec.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc)}") from exc
    if spec.name != path.stem:
        raise CatalogError(f"{path}: key 'name' is {spec.name!r} but the file is {path.stem}.yml")
    return spec


class Catalog:
    """All layer specs, by name, in file-name order."""

    def __init__(self, specs: list[LayerSpec]):
        self._specs = {s.name: s for s in specs}

    def __iter__(self) -> Iterator[LayerSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> LayerSpec:
        """The spec called ``name``; raise :class:`LayerNotFoundError` listing the known ones."""
        try:
            return self._specs[name]
        except KeyError:
            raise LayerNotFoundError(
                f"no layer '{name}' in the catalogue; known layers: {', '.join(self._specs)}"
            ) from None

    def public(self) -> list[LayerSpec]:
        """Layers that the public endpoint may serve."""
        return [s for s in self if s.access == "public"]


def load_catalog(layers_dir: Path) -> Catalog:
    """Load every ``*.yml`` in ``layers_dir``; collect all malformed specs into one error."""
    if not layers_dir.is_dir():
        raise CatalogError(f"{layers_dir}: catalogue folder not found")
    specs, errors = [], []
    for path in sorted(layers_dir.glob("*.yml")):
        try:
            specs.append(load_spec(path))
        except CatalogError as exc:
            errors.append(str(exc))
    if errors:
        raise CatalogError("malformed layer spec(s):\n" + "\n".join(errors))
    if not specs:
        raise CatalogError(f"{layers_dir}: no layer specs (*.yml) found")
    return Catalog(specs)
