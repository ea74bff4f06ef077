"""The layer catalogue: every layer the city's plans name is there, and bad specs fail
with the file and the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from spp.catalog import Catalog, load_catalog
from spp.errors import CatalogError

REQUIRED_LAYERS = {
    "communes", "communes_pre2025", "districts_pre2025", "land_parcels", "land_use", "planning_zones",
    "construction_permits", "buildings", "roads", "parking", "waterways", "dikes", "drainage_pipes",
    "pump_stations", "sluice_gates", "water_level_sensors", "water_mains", "fire_hydrants", "street_lights",
    "trees", "waste_points", "telecom_sites", "fibre_routes", "fibre_access_points", "power_lines", "substations",
}


def test_catalogue_holds_every_layer_of_the_design(catalog: Catalog) -> None:
    assert REQUIRED_LAYERS <= set(catalog.names)


def test_every_spec_is_bilingual_licensed_and_flags_synthetic_data(catalog: Catalog) -> None:
    for spec in catalog:
        assert spec.title.vi != spec.title.en, spec.name
        assert spec.licence.name and spec.source.attribution, spec.name
        if spec.synthetic:
            text = (spec.description.en + spec.source.attribution + (spec.source.note or "")).lower()
            assert "synthetic" in text, f"{spec.name}: synthetic layers must say so in their metadata"
        for f in spec.fields:
            assert f.description.vi and f.description.en, f"{spec.name}.{f.name}"


def test_parcel_owner_is_restricted(catalog: Catalog) -> None:
    parcels = catalog.get("land_parcels")
    assert any(f.access == "restricted" for f in parcels.fields)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / "layers"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yml").write_text(text, encoding="utf-8")
    return folder


GOOD = Path(__file__).resolve().parents[1] / "layers" / "communes.yml"


@pytest.mark.parametrize("edit,key", [
    (lambda t: t.replace("theme: admin", "theme: adminn"), "key 'theme'"),
    (lambda t: t.replace("primary_key: ma_xa", "primary_key: code"), "primary_key 'code' is not one of the fields"),
    (lambda t: t.replace("    type: real", "    type: float", 1), ".type': Input should be 'text', 'integer', 'real'"),
    (lambda t: t + "colour: red\n", "key 'colour'"),
    (lambda t: t.replace("  en: Communes and wards (since 1 July 2025)\n", ""), "key 'title.en'"),
])
def test_malformed_spec_names_the_file_and_the_key(tmp_path: Path, edit, key: str) -> None:  # type: ignore[no-untyped-def]
    folder = _write(tmp_path, "communes", edit(GOOD.read_text(encoding="utf-8")))
    with pytest.raises(CatalogError) as info:
        load_catalog(folder)
    assert "communes.yml" in str(info.value) and key in str(info.value)


def test_file_name_must_match_layer_name(tmp_path: Path) -> None:
    folder = _write(tmp_path, "xa_phuong", GOOD.read_text(encoding="utf-8"))
    with pytest.raises(CatalogError, match="key 'name' is 'communes' but the file is xa_phuong.yml"):
        load_catalog(folder)


def test_catalog_check_command_fails_on_a_bad_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spp.cli.main import cli
    from spp.settings import get_settings

    folder = _write(tmp_path, "communes", GOOD.read_text(encoding="utf-8").replace("geometry: MultiPolygon",
                                                                                 "geometry: Blob"))
    monkeypatch.setenv("SPP_HOME", str(folder.parent))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["catalog", "check"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "communes.yml" in result.output and "key 'geometry'" in result.output
