"""Plain-text tables for the CLI and the README (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from spp.catalog import Catalog

__all__ = ["text_table", "catalogue_markdown", "replace_between_markers", "between_markers"]


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A fixed-width table; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(isinstance(r[i], int | float) for r in rows) and rows for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        return "  ".join(v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]
    return "\n".join(line.rstrip() for line in lines)


def catalogue_markdown(catalog: Catalog) -> str:
    """The catalogue as a Markdown table: name, vi/en title, theme, geometry, access, real/synthetic."""
    lines = [
        "| layer | tên (vi) | title (en) | theme | geometry | access | data |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in catalog:
        restricted = ", ".join(f.name for f in s.restricted_fields)
        access = s.access + (f" (restricted: {restricted})" if restricted else "")
        lines.append(
            f"| `{s.name}` | {s.title.vi} | {s.title.en} | {s.theme} | {s.geometry} | {access} | "
            f"{'synthetic' if s.synthetic else 'real'} |"
        )
    return "\n".join(lines)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def between_markers(text: str, name: str) -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->`` (stripped)."""
    start, end = _markers(name)
    if start not in text or end not in text:
        raise ValueError(f"markers for {name!r} not found")
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def replace_between_markers(text: str, name: str, body: str) -> str:
    """``text`` with the block between the ``name`` markers replaced by ``body``."""
    start, end = _markers(name)
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"
