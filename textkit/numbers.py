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


# --- numbers written in words, as digits ----------------------------------------------------------
ENGLISH_UNITS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_EN_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_EN_WORD_NUMBER = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_EN_TENS)})(?:[- ](?P<unit>{'|'.join(k for k, v in ENGLISH_UNITS.items() if v < 10)}))?"
    rf"|(?P<small>{'|'.join(ENGLISH_UNITS)}))\b",
    re.IGNORECASE,
)
_ZH_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
# A Chinese numeral below a thousand that is a number, not part of a word: it starts with a digit from
# two up or with 十 (一 starts too many words: 统一, 一些), and 十分 is "very" unless minutes follow.
_ZH_NUMBER = re.compile(
    r"(?:[二两三四五六七八九]|一(?=[十百]))[零一二两三四五六七八九十百]*|十(?!分(?!钟))[一二三四五六七八九]?"
)


def _zh_value(numeral: str) -> int | None:
    total, digit = 0, None
    for ch in numeral:
        if ch in _ZH_DIGITS:
            if digit is not None:
                return None  # 二三 is not a number (a range, "两三个" is kept as written)
            digit = _ZH_DIGITS[ch]
        elif ch == "十":
            total += (digit if digit is not None else 1) * 10
            digit = None
        elif ch == "百":
            total += (digit if digit is not None else 1) * 100
            digit = None
    return total + (digit or 0)


def spelled_as_digits(text: str) -> str:
    """`text` with numbers written in words as digits: "three to nine months" -> "3 to 9 months", "二十人以下"
    -> "20人以下", "七分钟" -> "7分钟". A support checker compares words: "三个OKR目标" shares nothing with
    "three objectives" until both say 3. One (a, an, 一) is left alone: it is an article as often as a count."""

    def english(m: re.Match[str]) -> str:
        if m.group("small"):
            return str(ENGLISH_UNITS[m.group("small").lower()])
        value = _EN_TENS[m.group("tens").lower()]
        return str(value + (ENGLISH_UNITS[m.group("unit").lower()] if m.group("unit") else 0))

    def chinese(m: re.Match[str]) -> str:
        value = _zh_value(m.group(0))
        return m.group(0) if value is None else str(value)

    return _ZH_NUMBER.sub(chinese, _EN_WORD_NUMBER.sub(english, text))
