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

import re
from collections.abc import Sequence

from textkit.numbers import CURRENCIES, ENGLISH_UNITS, Figure, figures, known_figures, unstated

__all__ = [
    "NOT_NAMES",
    "Figure",
    "duration_mismatches",
    "entity_mismatches",
    "fact_mismatches",
    "figure_mismatches",
    "figures",
]


def figure_mismatches(claim: str, passages: Sequence[str]) -> list[str]:
    """The claim's figures that the passages do not state (or state in another currency)."""
    known = known_figures(passages)
    return [
        fig.text
        for fig in figures(claim)
        if not (fig.value < 10 and fig.unit not in CURRENCIES) and unstated(fig, known)
    ]


# A small number with a duration is a figure a founder acts on ("within 6 months", "3 years"), not a count of
# the answer's own list items: held to the passages too, digits or Chinese numerals ("三个月").
_DURATION = re.compile(
    r"(?<![\d.])(?P<n>\d{1,2})\s*(?P<unit>months?|years?|weeks?|days?|hours?|个月|年|周|星期|天|小时)",
    re.IGNORECASE,
)
_CHINESE_DIGITS = {
    1: "一",
    2: "二两",
    3: "三",
    4: "四",
    5: "五",
    6: "六",
    7: "七",
    8: "八",
    9: "九",
    10: "十",
}


# An English document writes small numbers in words: "a sales cycle of three to nine months" states the
# 9 of a Chinese answer's "3到9个月".
_ENGLISH_DIGITS = {1: "one|a|an", **{value: word for word, value in ENGLISH_UNITS.items()}}
# A duration's unit in either language, by what it measures: "3到9周" is not "three to nine months".
_UNIT_KINDS = {
    "month": r"months?|个月|月",
    "year": r"years?|年",
    "week": r"weeks?|周|星期",
    "day": r"days?|天|日",
    "hour": r"hours?|小时",
}
# How far after its number a passage may write the unit: "three to nine months", "3至6个月".
_UNIT_REACH = 16


def _unit_kind(unit: str) -> str:
    return next(kind for kind, forms in _UNIT_KINDS.items() if re.fullmatch(forms, unit, re.IGNORECASE))


def duration_mismatches(claim: str, passages: Sequence[str]) -> list[str]:
    """The claim's small durations ("6 months") that the passages never write with the same number (as 6, 六
    or six) and the same unit (months, 个月) right after it."""
    text = "\n".join(passages)
    out = []
    for m in _DURATION.finditer(claim):
        n = int(m.group("n"))
        forms = [rf"(?<!\d){n}(?!\d)", *_CHINESE_DIGITS.get(n, "")]
        if words := _ENGLISH_DIGITS.get(n):
            forms.append(rf"\b(?:{words})\b")
        unit = re.compile(_UNIT_KINDS[_unit_kind(m.group("unit"))], re.IGNORECASE)
        stated = any(
            unit.search(text, found.end(), found.end() + _UNIT_REACH)
            for form in forms
            for found in re.finditer(form, text, re.IGNORECASE)
        )
        if not stated:
            out.append(m.group(0))
    return out


# A name as a founder would look it up: CamelCase, capitals, a digit or a ".ai" (OpenAI, COCO, GPT-3, GTP.ai,
# TensorFlow). A Chinese passage keeps such names in Latin script, so an English claim must use the same
# one; a name no passage has is an entity swapped or invented. Common acronyms are not names.
_W = "A-Za-z0-9_"  # ASCII word characters: Python's \w also matches 汉字 ("GPT的全称是Generative" is no name)
_NAME = re.compile(
    rf"(?<![{_W}.])(?:[A-Z][a-z]+[A-Z][{_W}]*|[A-Z]{{2,}}[{_W}\-]*|[{_W}]+\.ai|[A-Z][a-zA-Z]*-?\d[{_W}.]*)(?![{_W}])"
)
NOT_NAMES = frozenset({
    "AI", "API", "APIs", "IT", "CEO", "CTO", "CFO", "COO", "HR", "PR", "UI", "UX", "KPI", "KPIs", "OKR", "OKRs",
    "MVP", "IPO", "VC", "VCs", "PE", "ROI", "B2B", "B2C", "B2G", "SaaS", "PaaS", "IaaS", "GPU", "GPUs", "CPU",
    "CPUs", "NLP", "CV", "ML", "DL", "LLM", "LLMs", "AIGC", "AGI", "GDP", "USD", "RMB", "CNY", "US", "EU", "UK",
    "PDF", "APP", "SDK", "CRM", "ERP", "SEO", "SEM", "IoT", "AR", "VR", "FAQ", "TOB", "TOC", "ToB", "ToC", "OK",
})  # fmt: skip


_ABBREVIATION = re.compile(r"[(（][A-Z]{2,}s?[)）]")


def entity_mismatches(claim: str, passages: Sequence[str]) -> list[str]:
    """The claim's names (see _NAME) that no passage writes (case and hyphens ignored)."""
    folded = re.sub(r"[\s\-]", "", "\n".join(passages)).lower()
    return [
        m.group(0)
        for m in _NAME.finditer(claim)
        if m.group(0) not in NOT_NAMES
        and not _ABBREVIATION.match(claim, m.start() - 1)  # "(USPs)" after its own words spelled out
        and re.sub(r"[\s\-]", "", m.group(0)).lower() not in folded
    ]


def fact_mismatches(claim: str, passages: Sequence[str]) -> list[str]:
    """Every figure, duration and name of the claim that the passages do not state."""
    return [
        *figure_mismatches(claim, passages),
        *duration_mismatches(claim, passages),
        *entity_mismatches(claim, passages),
    ]
