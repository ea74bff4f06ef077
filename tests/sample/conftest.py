"""One sample-city build per test session (about a minute); ``catalog`` comes from
the root conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

from spp.sample import build_sample


@pytest.fixture(scope="session")
def sample_city(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sample_city")
    return build_sample(out, seed=2025)
