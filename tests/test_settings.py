"""Settings: defaults < ``SPP_CONFIG_FILE`` < ``SPP_*`` environment, and a bad value is named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spp.errors import ConfigError
from spp.settings import Settings, get_settings


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No SPP_* variable of the test run leaks in; the cached settings are rebuilt after."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"SPP_{name.upper()}", raising=False)
    monkeypatch.delenv("SPP_CONFIG_FILE", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_environment_wins_over_the_file_and_values_are_typed(fresh: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "spp.yml"
    conf.write_text("db_name: from_file\nserve_port: 5100\nhost: 127.0.0.1\n", encoding="utf-8")
    fresh.setenv("SPP_CONFIG_FILE", str(conf))
    fresh.setenv("SPP_SERVE_PORT", "5200")
    fresh.setenv("SPP_STATE_DIR", str(tmp_path / "state"))
    s = get_settings()
    assert s.db_name == "from_file" and s.serve_port == 5200 and s.db_port is None
    assert s.state == (tmp_path / "state").resolve() and s.runs_dir == s.state / "runs"
    assert s.database_url is None and s.log_level == "WARNING"


def test_a_bad_value_names_the_variable(fresh: pytest.MonkeyPatch) -> None:
    fresh.setenv("SPP_DB_PORT", "fifty")
    with pytest.raises(ConfigError, match="SPP_DB_PORT"):
        get_settings()


def test_a_bad_file_value_or_unknown_key_names_the_file(fresh: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "spp.yml"
    fresh.setenv("SPP_CONFIG_FILE", str(conf))
    conf.write_text("serve_port: many\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="SPP_CONFIG_FILE: .*integer"):
        get_settings()
    get_settings.cache_clear()
    conf.write_text("serve_prot: 5100\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) in SPP_CONFIG_FILE: \['serve_prot'\]"):
        get_settings()
