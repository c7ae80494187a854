"""The one home of table rendering for evals and bench: Markdown tables and aligned console columns.

Every command that prints figures renders them here, so a cell is escaped the same way everywhere (one
line, pipes escaped) and a number is formatted by one rule per kind of figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def cell(value: object, width: int | None = None) -> str:
    """One Markdown table cell: one line, pipes escaped, cut to ``width`` characters when given."""
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table (no trailing blank line)."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def aligned_columns(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Right-aligned console columns under their names; small floats with three decimals."""

    def show(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) and value < 10 else str(value)

    widths = {c: max(len(c), *(len(show(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.rjust(widths[c]) for c in columns)]
    lines += ["  ".join(show(r.get(c, "")).rjust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def figure(value: Any, digits: int = 3, missing: str = "–") -> str:
    """A metric: `digits` decimals below 100, none from 100 on; `missing` for None and NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"
    return str(value)


def fixed(value: float | None, digits: int = 3) -> str:
    """A figure with exactly `digits` decimals whatever its size (columns of one kind line up); "–" if absent."""
    return "–" if value is None else f"{value:.{digits}f}"


def quantity(value: Any, digits: int = 0, unit: str = "") -> str:
    """A measured quantity with thousands separators and a unit; "n/a" when it was not measured."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"
