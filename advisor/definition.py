"""A "what is X?" answer starts with the playbook's definition of X when the model listed only X's parts.

Asked "What is the vertical integration profit model?", the 1.5B model read 5.2.2 — "垂直整合盈利模式是指
将AI大模型技术应用于整个产业链的不同环节…", then its two list items — and answered with the two items alone:
what the model consists of, not what it is. The grammar makes an answer a list of named points, and the
definition is the passage's lead sentence, not an item. So when the question asks what a term is, the
points all cite one passage whose lead defines that very term ("X是指…"), and no point gives the
definition, it is added as the first point, in the words the model read (the English rendering for an
English answer). It is checked by the grounding gate like any other point.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from advisor.answer_format import Point, end_sentence
from advisor.prompting import glossary_english
from textkit.spans import fold

# "什么是X" / "X是什么" / "X是指什么" / "What is X?" / "What does X mean?" / "Define X" / "How … define X?"
_ASKS_WHAT = re.compile(
    r"什么是|是什么|是指什么|指的是什么|的定义|如何定义|怎么定义|含义"
    r"|^\s*(?:so\s+|and\s+)?what\s+(?:is|are|'s)\b|\bwhat\s+does\b.*\bmean\b|\bdefin(?:e|es|ed|ition)\b|\bmeaning\b",
    re.IGNORECASE,
)
# The passage's lead sentence defining a term: "垂直整合盈利模式是指…。"
_DEFINES = re.compile(r"^\s*(?P<term>[^\s，。：:；,]{2,20}?)(?:是指|指的是|是一种)(?P<rest>[^\n]*)")
_LIST_START = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.、)])\s", re.MULTILINE)


def asks_what_it_is(question: str) -> bool:
    return bool(_ASKS_WHAT.search(question))


def with_definition(
    points: Sequence[Point], passages: Sequence[str], read: Sequence[str], question: str, language: str
) -> list[Point]:
    """The points, with the cited passage's definition of the asked term first when no point gives it.

    `passages`: the passages as stored (Chinese, where the definition is recognised); `read`: as the model
    read them (the same numbering), where the added point's words come from.
    """
    sources = {p.source for p in points}
    if not points or len(sources) != 1 or not asks_what_it_is(question):
        return list(points)
    (lead,) = sources
    if not 1 <= lead <= min(len(passages), len(read)):
        return list(points)
    original, shown = _lead_sentence(passages[lead - 1]), _lead_sentence(read[lead - 1])
    found = _DEFINES.match(original) if original else None
    if found is None or not shown:
        return list(points)
    term = found.group("term")
    name = term if language == "zh" else glossary_english(term)
    asked = fold(question)
    if not name or (fold(name) not in asked and fold(term) not in asked):
        return list(points)  # the passage defines something else than what is asked
    if any(fold(name) == fold(p.name) or fold(shown)[:40] in fold(p.explanation) for p in points):
        return list(points)  # the definition is there already
    name = name[:1].upper() + name[1:]
    return [Point(name=name, explanation=end_sentence(shown), source=lead), *points]


def _lead_sentence(text: str) -> str:
    """The passage's first line when it comes before its list (the lead, not an item), else ""."""
    first = text.strip().split("\n", 1)[0].strip()
    if not first or _LIST_START.match(first):
        return ""
    return first
