"""Point names in the playbook's own terms: the bold name of a point is rendered from the list item it names.

Readers counted altered terms in 21 of 185 answers of the 2026-12-04 run, most of them in the bold name of a
point, where the answer copies a list item of a passage ("- **计算资源需求**：…") and the 1.5B model changes
a character (价值导向定价 → 值得导向定价, 线上推广 → 线下推广 are the kind the repeat penalty caused) or
translates word by word ("Calculate resources demand", "Risk investment" for 风险投资). The grammar shapes
the answer into points and code renders them, so code can also make the name exact:

* Chinese: a name one or two characters away from exactly one item name of the passages (same length,
  difflib ratio >= 0.75, or the same characters in another order) is that item's name.
* English: a name whose content words all translate words of exactly one item name (through the CC-CEDICT
  senses the support bridge uses), and that names most of the item's words, is written as the item's
  glossary rendering (prompts/glossary.en.txt), when the glossary has one.

Anything less certain is left as the model wrote it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from difflib import SequenceMatcher
from itertools import pairwise

from advisor.answer_format import Point
from advisor.focus import item_names, term_words
from advisor.prompting import glossary_english
from advisor.support_bridge import dictionary, english_stems
from textkit import has_han, is_han

MIN_ZH_RATIO = 0.75
# Shorter names are too close to ordinary words for a two-character edit to mean the item.
MIN_ZH_TERM = 6
# Share of the English name's words that translate the item's words, and of the item's words named.
MIN_EN_COVERAGE = 0.6


def canonical_names(points: Sequence[Point], passages: Sequence[str], language: str) -> list[Point]:
    """The points with each name that clearly means one list item of the passages written as that item."""
    names = item_names(passages)
    if not names:
        return list(points)
    fix = _zh_name if language == "zh" else _en_name
    out = []
    for point in points:
        better = fix(point.name, names)
        out.append(dataclasses.replace(point, name=better) if better and better != point.name else point)
    return out


def sourced_names(points: Sequence[Point], passages: Sequence[str], question: str) -> list[Point]:
    """The points, each Chinese name that shares no two characters in a row with the Chinese passages or
    the question taken off (the point is shown as its explanation alone). `passages`: the texts the
    points cite, in their numbering ([1] is passages[0]).

    Told to name a listed item by the passage's own words, the model, over a passage that lists nothing
    ("早期招聘最有效的渠道是创始人的人脉和员工内推…"), invented names in bold: "端点", "中点", "起点"
    (added-document answers, 2026-12-06). A name from the sources repeats their words; one that repeats
    none of them is the model's, and bold is where a founder looks for the playbook's terms. A point citing
    an English document names its item in translation ("分析工具" for "analytics tools"): it is left alone.
    """
    said = "\n".join([*(p for p in passages if has_han(p)), question])
    out = []
    for point in points:
        cited = passages[point.source - 1] if 0 < point.source <= len(passages) else ""
        han = [ch if is_han(ch) else " " for ch in point.name]
        pairs = {a + b for a, b in pairwise(han) if a != " " and b != " "}
        unsourced = has_han(cited) and bool(pairs) and not any(pair in said for pair in pairs)
        out.append(dataclasses.replace(point, name="") if unsourced else point)
    return out


def canonical_terms(text: str, passages: Sequence[str], language: str) -> str:
    """A Chinese answer with the passages' item names that it altered (值量导向定价) put back.

    A span is taken for an item only when it has the item's length (6+ characters), differs from it in at
    most two places, and occurs nowhere in the passages: 竞争导向定价 is also two characters from
    价值导向定价, but the passages say it, so it stays.
    """
    if language != "zh":
        return text
    said = "\n".join(passages)
    for item in item_names(passages):
        n = len(item)
        if n < MIN_ZH_TERM or item in text:
            continue
        for start in range(len(text) - n + 1):
            span = text[start : start + n]
            differences = sum(a != b for a, b in zip(span, item, strict=True))
            anchored = span[0] == item[0] or span[-1] == item[-1]  # one end of the term is intact
            words_only = all(map(is_han, span))  # never across punctuation or markup
            if differences <= 2 and anchored and words_only and span not in said:
                text = text[:start] + item + text[start + n :]
    return text


def _zh_name(name: str, items: Sequence[str]) -> str | None:
    if name in items:
        return None
    close = [
        item
        for item in items
        if len(item) == len(name)
        and (SequenceMatcher(None, name, item).ratio() >= MIN_ZH_RATIO or sorted(item) == sorted(name))
    ]
    return close[0] if len(close) == 1 else None


def _en_name(name: str, items: Sequence[str]) -> str | None:
    stems = set(english_stems(name))
    if not stems:
        return None
    matches = []
    for item in items:
        english = glossary_english(item)
        if not english:
            continue
        words = term_words(item)
        senses = [dictionary().get(w, frozenset()) for w in words]
        said = set().union(*senses) if senses else set()
        name_covered = len(stems & said) / len(stems)
        item_named = sum(bool(s & stems) for s in senses) / len(senses) if senses else 0.0
        if name_covered >= MIN_EN_COVERAGE and item_named >= MIN_EN_COVERAGE:
            matches.append(english)
    if len(matches) != 1:
        return None
    english = matches[0]
    return english[:1].upper() + english[1:]
