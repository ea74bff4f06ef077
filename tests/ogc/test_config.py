"""ogc_config.yml is generated from the catalogue, committed, and never drifts."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from spp.catalog import Catalog
from spp.cli.main import cli
from spp.ogc.config import CONFIG_FILE, build_config, check_config, render_config
from tests.ogc import data as D


def test_committed_ogc_config_matches_the_catalogue(settings, catalog: Catalog):
    check_config(catalog, settings.home / CONFIG_FILE)


def test_cli_check_passes_on_the_committed_file():
    result = CliRunner().invoke(cli, ["ogc", "config", "--check"])
    assert result.exit_code == 0, result.output


def test_check_fails_with_a_diff_when_the_file_drifts(tmp_path, catalog):
    from spp.errors import ConfigError

    path = tmp_path / CONFIG_FILE
    path.write_text(render_config(catalog).replace("max_items: 10000", "max_items: 5"), encoding="utf-8")
    try:
        check_config(catalog, path)
    except ConfigError as exc:
        assert "spp ogc config" in str(exc) and "max_items" in str(exc)
    else:
        raise AssertionError("drift not detected")


def test_public_config_has_no_restricted_layer_field_or_password(ogc_catalog):
    text = render_config(ogc_catalog)
    assert D.SECRET not in text and "chu_so_huu" not in text
    cfg = yaml.safe_load(text.split("\n", 3)[3])
    for res in cfg["resources"].values():
        if res["type"] != "collection":
            assert res["processor"]["data"]["password"] == "${SPP_PG_PASSWORD}"
            continue
        for provider in res["providers"]:
            assert provider["data"]["password"] == "${SPP_PG_PASSWORD}"
            assert provider["data"]["host"] == "${SPP_PG_HOST}"
    restricted = build_config(ogc_catalog, access="restricted")
    assert D.SECRET in restricted["resources"]
    assert "chu_so_huu" in restricted["resources"][D.PROBE]["providers"][0]["properties"]


def test_every_public_layer_gets_features_and_tiles_with_catalogue_zooms(catalog):
    cfg = build_config(catalog)
    collections = {k for k, r in cfg["resources"].items() if r["type"] == "collection"}
    assert collections == {s.name for s in catalog.public()}
    for spec in catalog.public():
        providers = {p["type"]: p for p in cfg["resources"][spec.name]["providers"]}
        assert providers["feature"]["id_field"] == spec.primary_key
        if spec.has_geometry:
            assert providers["tile"]["options"]["zoom"] == {"min": spec.min_zoom, "max": spec.max_zoom}
        else:
            assert "tile" not in providers
