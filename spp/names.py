"""Commune names matched with or without diacritics.

Vietnamese names arrive in several spellings: NFC or NFD Unicode, with or without
tones ("Ninh Kiều" / "Ninh Kieu"), with or without the type prefix ("Phường", "Xã",
"Thị trấn"). :func:`name_key` reduces all of them to one comparable key and
:func:`match_name` finds a name in a list.

>>> name_key("Phường Ninh Kiều")
'ninh kieu'
>>> name_key("xa Thoi Lai")
'thoi lai'
>>> name_key("Đông Thuận")
'dong thuan'
>>> match_name("Ninh Kieu", ["Phường Cái Khế", "Phường Ninh Kiều"])
'Phường Ninh Kiều'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from spp.errors import CommuneNotFoundError

__all__ = ["is_mojibake", "match_name", "name_key", "normalize_nfc", "strip_diacritics", "strip_type_prefix"]

_PREFIXES = ("thi tran", "phuong", "xa", "tt", "p", "x")
_PREFIX_RE = re.compile(r"^(?:" + "|".join(_PREFIXES) + r")[\s.]+", re.IGNORECASE)


def normalize_nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC form with runs of whitespace collapsed and trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def strip_diacritics(text: str) -> str:
    """Remove tones and vowel marks, and map đ/Đ to d/D.

    >>> strip_diacritics("Thị trấn Phong Điền")
    'Thi tran Phong Dien'
    """
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", kept)


def strip_type_prefix(text: str) -> str:
    """Drop a leading unit type (Phường, Xã, Thị trấn, or P./X./TT.) from a name.

    Works on names with or without diacritics; a name that *is* only a prefix is kept.

    >>> strip_type_prefix("Phường Cái Khế")
    'Cái Khế'
    >>> strip_type_prefix("Xã")
    'Xã'
    """
    text = normalize_nfc(text)
    plain = strip_diacritics(text)
    match = _PREFIX_RE.match(plain)
    if match is None or match.end() >= len(plain):
        return text
    # Diacritic stripping keeps one character per base letter, so offsets line up.
    return text[match.end():].strip()


def name_key(text: str) -> str:
    """Comparable key: NFC, no type prefix, no diacritics, lower case, single spaces."""
    return strip_diacritics(strip_type_prefix(text)).casefold().strip()


def match_name(query: str, names: Iterable[str]) -> str:
    """Return the one name in ``names`` that matches ``query`` by :func:`name_key`.

    An exact NFC match wins; otherwise the keys must match exactly once.

    Raises
    ------
    CommuneNotFoundError
        When nothing matches, or when the query is ambiguous (several names share the key,
        e.g. "Xã Tân Hòa" and "Phường Tân Hòa"); the message lists the candidates.
    """
    candidates = list(names)
    wanted = normalize_nfc(query)
    exact = [n for n in candidates if normalize_nfc(n) == wanted]
    if len(exact) == 1:
        return exact[0]
    key = name_key(query)
    found = [n for n in candidates if name_key(n) == key]
    if len(found) == 1:
        return found[0]
    if not found:
        raise CommuneNotFoundError(f"no commune named {query!r} (compared as {key!r})")
    raise CommuneNotFoundError(
        f"{query!r} is ambiguous; use the full name: " + ", ".join(sorted(found))
    )


def is_mojibake(text: str) -> bool:
    """True when ``text`` looks like UTF-8 bytes decoded as Windows-1252/Latin-1.

    Real Vietnamese almost always holds characters outside cp1252 (ạ, ơ, ư, đ), so it cannot
    round-trip; mojibake ("Cáº§n ThÆ¡") round-trips into different, valid UTF-8.

    >>> is_mojibake("Cần Thơ"), is_mojibake("Cái Răng"), is_mojibake("Ninh Kieu")
    (False, False, False)
    >>> is_mojibake("Cáº§n ThÆ¡"), is_mojibake("CÃ¡i RÄƒng")
    (True, True)
    """
    if text.isascii():
        return False
    for codec in ("cp1252", "latin-1"):
        try:
            repaired = text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        return repaired != text
    return False
