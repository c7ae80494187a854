"""Fact tokens: figures, units and currencies in a claim must be the passage's own.

An embedding barely moves when 1000 becomes 100 or 元 becomes $, and word overlap cannot see it in an
English sentence about a Chinese passage; yet a wrong figure is the error a founder acts on. So every
figure of a claim is normalised (textkit.numbers: full-width digits, thousands separators, 万 / 亿 /
thousand / million / billion scales, percentages) and must equal a figure of the passages; a figure
written as dollars where the passage has the same figure in 元 (or the reverse) is a changed currency. Small bare numbers (< 10:
"3 types", "two steps") are not checked: they count things the answer itself lists.

The `auto` checker (advisor/support.py) applies it before either route: a claim with a figure the
passages lack scores 0, whatever overlap or similarity says.
"""

from __future__ import annotations

from collections.abc import Sequence

from textkit.numbers import CURRENCIES, Figure, figures, known_figures, unstated

__all__ = ["Figure", "figure_mismatches", "figures"]


def figure_mismatches(claim: str, passages: Sequence[str]) -> list[str]:
    """The claim's figures that the passages do not state (or state in another currency)."""
    known = known_figures(passages)
    return [
        fig.text
        for fig in figures(claim)
        if not (fig.value < 10 and fig.unit not in CURRENCIES) and unstated(fig, known)
    ]
