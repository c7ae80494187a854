"""A list answer gets the whole list: the items of the answering passage the model left out are added by code;
and a point that copied its passage's lead-in instead of its item gets the item's words.

Readers marked answers incomplete when the model named most of a section's list and stopped (3 of the 4
steps of team building, 6 of the 7 business-model elements — the grammar allows 6 points —, 3 of the 4
lessons of GTP.ai). When an answer is one passage's list (every point cites that passage, after
answer_format.lead_points) and names at least half of its items, the missing items are added in the
passage's own words — the English rendering the model read for an English answer — and all points are put
in the passage's order. The added points are checked by the grounding gate like any other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from advisor.answer_format import Point, end_sentence
from advisor.point_names import MIN_ZH_RATIO
from textkit import has_han
from textkit.spans import fold

# "- **name**：explanation" or "1. **name**: explanation", one item per line.
_ITEM_LINE = re.compile(
    r"^\s*(?:[-*+•]|\d{1,2}[.、)])\s*\*\*(?P<name>[^*\n]+)\*\*\s*[：:]\s*(?P<expl>[^\n]*\S)\s*$", re.MULTILINE
)


@dataclass(frozen=True, slots=True)
class _Item:
    name: str
    explanation: str


def _items(text: str) -> list[_Item]:
    return [_Item(m.group("name").strip(), m.group("expl").strip()) for m in _ITEM_LINE.finditer(text)]


def _item_of(name: str, items: Sequence[_Item]) -> int | None:
    """The one item a point's name means, else None: the same name (folded), or — Chinese only — one
    character changed (the 1.5B model's slips, 值得导向定价 for 价值导向定价). English names of a list share
    words ("Cost-based pricing", "Combined pricing"), so near is not enough there."""
    key = fold(name)
    if not key:
        return None
    same = [i for i, item in enumerate(items) if fold(item.name) == key]
    if not same and has_han(name):
        same = [
            i
            for i, item in enumerate(items)
            if len(item.name) == len(name)
            and SequenceMatcher(None, key, fold(item.name)).ratio() >= MIN_ZH_RATIO
        ]
    return same[0] if len(same) == 1 else None


def points_held(texts: Sequence[str], most: int) -> int:
    """How many points the passages can give: their list items, plus a lead that says something (a lead-in
    ending in a colon says nothing), at most `most`; `most` when a passage is prose (no list to count).

    The answer grammar asks for points, and a model given fewer items than it wants to write invents the
    rest: read only 5.3.2's value-based-pricing item for "What is value-based pricing based on?", it added
    cost-plus, markup, tiered and dynamic pricing, none in the playbook, and the gate refused the answer
    (en-pricing-03 in the 2026-12-05 run; "How does cost-based pricing work?" got the item twice).
    """
    held = 0
    for text in texts or [""]:
        items = _items(text)
        if not items:
            return most
        lead = text[: _ITEM_LINE.search(text).start()].strip()  # type: ignore[union-attr]  # items exist
        held += len(items) + (1 if lead and not lead.endswith((":", "：")) else 0)
    return max(1, min(most, held))


def complete_list(points: Sequence[Point], read: Sequence[str], question: str = "") -> list[Point]:
    """The points, with the answering passage's missing list items added, in the passage's order.

    `read`: the passages as the model read them (numbered from 1), so names and explanations are in the
    answer's language. A question that names one of the items ("What steps can I take to address the legal
    risks?") is about that item, not the list: it is left as answered.
    """
    sources = {p.source for p in points}
    if len(points) < 2 or len(sources) != 1:
        return list(points)
    (lead,) = sources
    if not 1 <= lead <= len(read):
        return list(points)
    items = _items(read[lead - 1])
    asked = fold(question)
    if len(items) < 3 or any(fold(item.name) in asked for item in items):
        return list(points)
    matched = [_item_of(p.name, items) for p in points]
    covered = set(matched)
    # Every point one item, each item once: the answer is this list and nothing else.
    if (
        None in covered
        or len(covered) < len(points)
        or 2 * len(covered) < len(items)
        or len(covered) == len(items)
    ):
        return list(points)
    by_item = dict(zip(matched, points, strict=True))
    return [
        by_item.get(i) or Point(name=item.name, explanation=end_sentence(item.explanation), source=lead)
        for i, item in enumerate(items)
    ]


# Content words of English text (the lead-in test below compares words, not characters).
_WORD = re.compile(r"[a-z][a-z0-9.'-]+")


def without_lead_in(points: Sequence[Point], read: Sequence[str]) -> list[Point]:
    """Each point whose explanation is its passage's lead-in ("GTP.ai的失败为AI大模型创业公司提供了以下几点教训
    与反思：", the sentence before the list) instead of its item's words: the lead-in is cut off, and where
    nothing else is left the explanation becomes the item's own (as the model read it: the English rendering
    for an English answer). Readers found it in the 2026-12-06 run, in both languages ("Technological
    innovation is a continuous process: GTP.ai's failure provided lessons and reflections…"). A point whose
    name means no item of its passage is left alone.
    """
    out = []
    for point in points:
        text = read[point.source - 1] if 1 <= point.source <= len(read) else ""
        first = _ITEM_LINE.search(text)
        lead = text[: first.start()].strip().rstrip(":：").strip() if first else ""
        items = _items(text)
        index = _item_of(point.name, items) if lead else None
        if index is None:
            out.append(point)
            continue
        rest = _after_lead_in(point.explanation, lead)
        if rest is None:
            out.append(point)
        else:
            words = rest or items[index].explanation
            out.append(Point(name=point.name, explanation=end_sentence(words), source=point.source))
    return out


def _after_lead_in(explanation: str, lead: str) -> str | None:
    """What follows the lead-in when the explanation starts with it ("" when it is nothing else), else None.
    Chinese: the lead-in's own characters; English (the model's paraphrase of a rendered lead-in): most of
    the explanation's words are the lead-in's and it says nothing more."""
    expl = explanation.strip()
    if has_han(lead):
        key = fold(lead)
        if fold(expl).startswith(key):
            # Cut after the lead-in's last character and its colon, in the original text.
            end = expl.find(lead[-1], len(lead) - 1)
            return expl[end + 1 :].lstrip(":：，, ") if end >= 0 else None
        return None
    said = _WORD.findall(expl.lower())
    known = set(_WORD.findall(lead.lower()))
    if len(said) >= 4 and sum(w in known for w in said) >= 0.7 * len(said):
        return ""
    return None
