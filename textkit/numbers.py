"""Figures in text as values: "１，０００元", "1.5万亿美元", "$2.5 million" and "30%" read as numbers with units.

Normalised: full-width digits and punctuation (NFKC), thousands separators, Chinese scales (万 亿 万亿 百万
千), English ones (thousand, million, billion, trillion and k / m / bn / b after a figure), the currency
(a sign before or a word after: usd or cny) and percentages. A Chinese amount written with no digit before
its scale ("万亿美元级别") is a figure too. Citation markers ([2], 【2】), section numbers (5.3.2) and list
numbers ("1. ") are not figures and are taken out first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

SCALES = {
    "万亿": 1e12,
    "亿": 1e8,
    "百万": 1e6,
    "万": 1e4,
    "千": 1e3,
    "thousand": 1e3,
    "million": 1e6,
    "billion": 1e9,
    "trillion": 1e12,
    "k": 1e3,
    "m": 1e6,
    "bn": 1e9,
    "b": 1e9,
}
USD = "usd"
CNY = "cny"
PERCENT = "%"
CURRENCIES = (USD, CNY)
_USD_MARKS = {"$", "US$", "USD", "美元", "DOLLAR", "DOLLARS", "US DOLLAR", "US DOLLARS"}
_CNY_MARKS = {"¥", "RMB", "CNY", "元", "人民币", "块", "YUAN"}  # "￥" is "¥" after NFKC
_PERCENT_MARKS = {"%", "PERCENT"}  # "％" is "%" after NFKC

_FIGURE = re.compile(
    r"(?P<sign>US\$|\$|¥|€|£|RMB|CNY|USD)?\s*"
    # not inside a name or a longer number (A100, GPT-3.5's "5"); a full stop after it ends the sentence
    r"(?<![A-Za-z0-9.])(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![0-9]|\.\d)\s*"
    r"(?P<scale>万亿|百万|万|亿|千|thousand|million|billion|trillion|bn\b|k\b|m\b|b\b)?\s*"
    r"(?P<unit>美元|元|人民币|块|%|percent|US dollars?|dollars?|yuan|RMB|CNY|USD)?",
    re.IGNORECASE,
)
_BARE_SCALE = re.compile(r"(?<![0-9.万亿千百])(?P<scale>万亿|亿|万)(?P<unit>美元|元|人民币)")
_NOT_FIGURES = re.compile(
    r"\[\d{1,3}\]|【\d{1,3}】"  # citation markers
    r"|\b\d+(?:\.\d+){2,}\b"  # section numbers
    r"|^\s*\d{1,2}[.)、]\s",  # list numbers
    re.MULTILINE,
)


@dataclass(frozen=True)
class Figure:
    value: float  # scale applied
    unit: str  # USD, CNY, PERCENT or ""
    text: str  # as written (after NFKC)


def _unit(*marks: str) -> str:
    found = {m.strip().upper() for m in marks if m}
    if found & _USD_MARKS:
        return USD
    if found & _CNY_MARKS:
        return CNY
    return PERCENT if found & _PERCENT_MARKS else ""


def figures(text: str) -> list[Figure]:
    """Every figure of a text, in order of the patterns (digit figures, then bare-scale amounts)."""
    text = _NOT_FIGURES.sub(" ", unicodedata.normalize("NFKC", text))
    out = []
    for m in _FIGURE.finditer(text):
        scale = SCALES.get((m.group("scale") or "").lower(), 1.0)
        value = round(float(m.group("digits").replace(",", "")) * scale, 6)
        out.append(Figure(value, _unit(m.group("sign"), m.group("unit")), m.group(0).strip()))
    for m in _BARE_SCALE.finditer(text):
        out.append(Figure(SCALES[m.group("scale")], _unit(m.group("unit")), m.group(0)))
    return out


def known_figures(texts: Iterable[str]) -> dict[float, set[str]]:
    """value -> the units it is stated with, over all the texts."""
    known: dict[float, set[str]] = {}
    for text in texts:
        for fig in figures(text):
            known.setdefault(fig.value, set()).add(fig.unit)
    return known


def unstated(fig: Figure, known: dict[float, set[str]]) -> str | None:
    """Why the sources do not state this figure ("not in the passages" / "currency changed"), or None.

    A currency counts as changed only where the sources state the value with the other currency: a value
    the sources give with no currency at all may be written with either.
    """
    units = known.get(fig.value)
    if units is None:
        return "not in the passages"
    if fig.unit in CURRENCIES and fig.unit not in units and set(CURRENCIES) & units:
        return "currency changed"
    return None
