"""Fact tokens: figures, units and currencies in a claim must be the passage's own.

An embedding barely moves when 1000 becomes 100 or 元 becomes $, and word overlap cannot see it in an
English sentence about a Chinese passage; yet a wrong figure is the error a founder acts on. So every
figure of a claim is normalised (full-width digits, thousands separators, 万 / 亿 / thousand / million /
billion scales, percentages) and must equal a figure of the passages; a figure written as dollars where
the passage has the same figure in 元 (or the reverse) is a changed currency. Small bare numbers (< 10:
"3 types", "two steps") are not checked: they count things the answer itself lists.

The `auto` checker (advisor/support.py) applies it before either route: a claim with a figure the
passages lack scores 0, whatever overlap or similarity says.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_SCALE = {
    "万亿": 1e12,
    "亿": 1e8,
    "万": 1e4,
    "千": 1e3,
    "百万": 1e6,
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
    "trillion": 1e12,
}
_FIGURE = re.compile(
    r"(?P<sign>US\$|\$|¥|￥|RMB|CNY|USD)?\s*"
    r"(?<![A-Za-z0-9.])(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![0-9.])\s*"
    r"(?P<scale>万亿|百万|万|亿|千|thousand|million|billion|trillion)?\s*"
    r"(?P<unit>美元|元|人民币|%|percent|US dollars?|dollars?|yuan|RMB|CNY|USD)?",
    re.IGNORECASE,
)
# A Chinese amount written with no digit before its scale: "万亿美元级别" is a trillion dollars.
_BARE_SCALE = re.compile(r"(?<![0-9.万亿千百])(?P<scale>万亿|亿|万)(?P<unit>美元|元|人民币)")
_MARKER = re.compile(r"\[\d{1,3}\]")
_SECTION = re.compile(r"\b\d+(?:\.\d+){2,}\b")
_USD = {"$", "US$", "USD", "美元", "DOLLAR", "DOLLARS", "US DOLLAR", "US DOLLARS"}
_CNY = {"¥", "￥", "RMB", "CNY", "元", "人民币", "YUAN"}


@dataclass(frozen=True)
class Figure:
    value: float
    currency: str  # "usd", "cny" or ""
    text: str


def figures(text: str) -> list[Figure]:
    """Every figure of a text, with its scale applied and its currency, markers and section numbers out."""
    text = unicodedata.normalize("NFKC", _SECTION.sub(" ", _MARKER.sub(" ", text)))
    out = []
    for m in _FIGURE.finditer(text):
        scale = _SCALE.get((m.group("scale") or "").lower(), 1.0)
        value = round(float(m.group("digits").replace(",", "")) * scale, 6)
        marks = {(m.group("sign") or "").upper(), (m.group("unit") or "").upper()}
        currency = "usd" if marks & _USD else ("cny" if marks & _CNY else "")
        out.append(Figure(value, currency, m.group(0).strip()))
    for m in _BARE_SCALE.finditer(text):
        currency = "usd" if m.group("unit") == "美元" else "cny"
        out.append(Figure(_SCALE[m.group("scale")], currency, m.group(0)))
    return out


def figure_mismatches(claim: str, passages: Sequence[str]) -> list[str]:
    """The claim's figures that the passages do not state (or state in another currency)."""
    known: dict[float, set[str]] = {}
    for fig in figures("\n".join(passages)):
        known.setdefault(fig.value, set()).add(fig.currency)
    wrong = []
    for fig in figures(claim):
        if fig.value < 10 and not fig.currency:
            continue
        currencies = known.get(fig.value)
        if currencies is None or (
            fig.currency and fig.currency not in currencies and ({"usd", "cny"} & currencies)
        ):
            wrong.append(fig.text)
    return wrong
