"""Commune names with or without diacritics and type prefix."""

from __future__ import annotations

import unicodedata

import pytest

from spp.errors import CommuneNotFoundError
from spp.names import match_name, name_key

NAMES = ["Phường Ninh Kiều", "Phường Cái Khế", "Xã Thới Lai", "Xã Tân Hòa", "Phường Tân Hòa",
         "Thị trấn Phong Điền"]


@pytest.mark.parametrize("query,expected", [
    ("Ninh Kieu", "Phường Ninh Kiều"),
    ("ninh kiều", "Phường Ninh Kiều"),
    ("P. Cai Khe", "Phường Cái Khế"),
    (unicodedata.normalize("NFD", "Xã Thới Lai"), "Xã Thới Lai"),
    ("thi tran phong dien", "Thị trấn Phong Điền"),
    ("Phong Dien", "Thị trấn Phong Điền"),
    ("Phường Tân Hòa", "Phường Tân Hòa"),
])
def test_match_name_finds_commune(query, expected):
    assert match_name(query, NAMES) == expected


def test_ambiguous_and_missing_names_raise():
    with pytest.raises(CommuneNotFoundError, match="ambiguous"):
        match_name("Tan Hoa", NAMES)
    with pytest.raises(CommuneNotFoundError, match="no commune"):
        match_name("Hà Nội", NAMES)


def test_name_key_maps_d_with_stroke():
    assert name_key("Đ") == "d"
