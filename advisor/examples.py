"""An example passage that only illustrates a list the model also reads is left out of the prompt.

Why: a section that states what the options are ("5.3.2 定价策略的类型": cost-based pricing is cost plus a
margin…) and a sibling that shows them in a case ("5.3.3 定价策略的案例分析": cost-based pricing — the basic
edition costs 1000 元 a month…) name the same items. Given both, the 1.5B model wrote the strategies as the
case's prices ("Cost-based pricing: Basic edition product pricing is 1000 yuan per month"), which readers
marked off-question in three of the 92 English answers of the 2026-12-05 run; putting the general passage
first in the prompt did not change that (tried: the model still copied the case's concrete lines). A founder
asking what the strategies are wants what they are; one asking for an example or a case says so.

So the example passage is dropped only when all of this holds:
* its own heading (the last step of its section path) names it a case or an example;
* a passage under the same parent heading, not itself an example, is read too and names every list item
  the example names (the example adds no item, only an illustration);
* the question does not ask for an example, and names nothing of the example that the sibling lacks
  ("基础版多少钱" names 基础版, which only the case has: the case stays).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import jieba

from indexing import Hit

# A heading that marks its passage as an illustration rather than the statement itself.
_EXAMPLE_HEADING = re.compile(r"案例|示例|实例|例子|举例|\b(?:case|cases|example|examples)\b", re.IGNORECASE)
# A question that asks for one: then the example is what is wanted.
_ASKS_FOR_EXAMPLE = re.compile(
    r"案例|示例|实例|例子|举例|举个|比如|例如|哪家|哪个公司"
    r"|\b(?:case|cases|example|examples|instance|illustrat\w*|e\.g\.|real[- ]world|which compan\w*)\b",
    re.IGNORECASE,
)
_PATH_STEP = re.compile(r"\s*›\s*")
# The bold name of a list item: "- **成本导向定价**：…" (focus.py reads items with it too).
LIST_ITEM = re.compile(r"^\s*[-*+•]\s*\*\*(?P<name>[^*\n]+)\*\*\s*[：:]", re.MULTILINE)
# Words nearly every founder question and passage has: naming them names nothing of the example.
_EVERYDAY = frozenset(
    [
        "公司",
        "企业",
        "创业",
        "创业公司",
        "产品",
        "服务",
        "用户",
        "客户",
        "市场",
        "可以",
        "通过",
        "进行",
        "提供",
        "包括",
        "以及",
        "实现",
        "需要",
        "大模型",
        "模型",
        "ai",
    ]
)
# An example must repeat at least this many of its sibling's items to count as illustrating that list.
MIN_SHARED_ITEMS = 2


def asks_for_example(question: str) -> bool:
    return bool(_ASKS_FOR_EXAMPLE.search(question))


def is_example_section(section: str) -> bool:
    steps = _steps(section)
    return bool(steps) and bool(_EXAMPLE_HEADING.search(steps[-1]))


def without_redundant_examples(
    question: str,
    hits: Sequence[Hit],
    names: Callable[[str], bool],
) -> list[Hit]:
    """`hits` less the example passages that only illustrate a sibling's list (see the module doc).

    `names(word)` says whether the question names a word (focus.py's matcher, which also reads an English
    question's Chinese rendering and the dictionary).
    """
    hits = list(hits)
    if asks_for_example(question):
        return hits
    kept = []
    for hit in hits:
        sibling = _illustrated_sibling(hit, hits)
        if sibling is not None:
            own = _words(_list_of(hit.chunk.text)) - _words(sibling.chunk.text)
            if not any(names(word) for word in own):
                continue
        kept.append(hit)
    return kept or hits


def _illustrated_sibling(hit: Hit, hits: Sequence[Hit]) -> Hit | None:
    """The general sibling among `hits` whose list names every item `hit` (an example) names, if any."""
    steps = _steps(hit.chunk.section)
    if len(steps) < 2 or not _EXAMPLE_HEADING.search(steps[-1]):
        return None
    items = _item_names(hit.chunk.text)
    if len(items) < MIN_SHARED_ITEMS:
        return None
    parent = steps[:-1]
    for other in hits:
        if (
            other is hit
            or _steps(other.chunk.section)[:-1] != parent
            or is_example_section(other.chunk.section)
        ):
            continue
        if items <= _item_names(other.chunk.text):
            return other
    return None


def _words(text: str) -> set[str]:
    """The text's words of two characters or more (jieba for Chinese), less the everyday ones."""
    words = {w.strip().lower() for w in jieba.lcut(text)}
    return {w for w in words if len(w) >= 2 and re.search(r"\w", w) and w not in _EVERYDAY}


def _list_of(text: str) -> str:
    """The passage from its first list item on: its lead ("以下是一个AI大模型创业公司的定价策略案例") says
    what the passage is about in the question's own words, not what the example adds."""
    first = LIST_ITEM.search(text)
    return text[first.start() :] if first else text


def _item_names(text: str) -> set[str]:
    return {m.group("name").strip() for m in LIST_ITEM.finditer(text)}


def _steps(section: str) -> list[str]:
    return _PATH_STEP.split(section.strip()) if section and section.strip() else []
