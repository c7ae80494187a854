"""A list answer gets the whole list: the items of the answering passage the model left out are added by code.

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
from textkit.spans import fold

# "- **name**：explanation" or "1. **name**: explanation", one item per line.
_ITEM_LINE = re.compile(
    r"^\s*(?:[-*+•]|\d{1,2}[.、)])\s*\*\*(?P<name>[^*\n]+)\*\*\s*[：:]\s*(?P<expl>[^\n]*\S)\s*$", re.MULTILINE
)
MIN_NAME_RATIO = 0.75


@dataclass(frozen=True, slots=True)
class _Item:
    name: str
    explanation: str


def _items(text: str) -> list[_Item]:
    return [_Item(m.group("name").strip(), m.group("expl").strip()) for m in _ITEM_LINE.finditer(text)]


def _item_of(name: str, items: Sequence[_Item]) -> int | None:
    """The one item a point's name means (same name folded, one inside the other, or close), else None."""
    key = fold(name)
    if not key:
        return None
    scores = []
    for i, item in enumerate(items):
        other = fold(item.name)
        if key == other or (min(len(key), len(other)) >= 2 and (key in other or other in key)):
            scores.append((1.0, i))
        else:
            scores.append((SequenceMatcher(None, key, other).ratio(), i))
    best = max(scores)
    close = [i for s, i in scores if s >= MIN_NAME_RATIO]
    return best[1] if best[0] >= MIN_NAME_RATIO and len(close) == 1 else None


def complete_list(points: Sequence[Point], read: Sequence[str]) -> list[Point]:
    """The points, with the answering passage's missing list items added, in the passage's order.

    `read`: the passages as the model read them (numbered from 1), so names and explanations are in the
    answer's language.
    """
    sources = {p.source for p in points}
    if len(points) < 2 or len(sources) != 1:
        return list(points)
    (lead,) = sources
    if not 1 <= lead <= len(read):
        return list(points)
    items = _items(read[lead - 1])
    if len(items) < 3:
        return list(points)
    matched = [_item_of(p.name, items) for p in points]
    covered = {i for i in matched if i is not None}
    if len(covered) < 2 or 2 * len(covered) < len(items) or len(covered) == len(items):
        return list(points)
    by_item = {}
    for point, i in zip(points, matched, strict=True):
        if i is not None and i not in by_item:
            by_item[i] = point
    completed = [
        by_item.get(i) or Point(name=item.name, explanation=end_sentence(item.explanation), source=lead)
        for i, item in enumerate(items)
    ]
    extra = [p for p, i in zip(points, matched, strict=True) if i is None]
    return completed + extra
