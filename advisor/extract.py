"""When the model found the answer but wrote more than it says: the passage's own sentences, quoted.

A short passage that names its points in one sentence ("提高客户留存率的方法包括持续改进产品体验、建立客户
成功团队和定期回访重点客户。") gives the model point names but no explanations, and the answer format asks for
both: the model copies the names and invents an explanation for each, the grounding gate finds the
explanations unsupported, and the founder got a refusal for a question the passage answers.

So when the gate would refuse and two or more of the answer's point names are verbatim in the one passage
they cite, the answer becomes that passage's sentences that hold those names, cited — in the words the model
read (the English rendering for an English answer). The gate checks the quoted answer too.

A passage focus cut to the one item a question names ("线下活动那一条具体怎么做？" reads "- **线下活动**：参加行业
会议、展览会等线下活动，拓展客户资源，提升品牌知名度。") is the same case at its smallest: the model elaborated the
one line into "参加行业会议：了解最新的行业动态……", the gate refused it, and the founder got a refusal where the
knowledge base has an answer, if a short one. Then the answer is that item, quoted (quoted_items).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from advisor.answer_format import Point
from advisor.examples import LIST_ITEM
from textkit import has_han
from textkit.sentences import split_sentences

# A name this short is an ordinary word, not evidence that the model found the passage's list.
MIN_HAN_NAME = 4
MIN_LATIN_NAME = 8


def _names_in(points: Sequence[Point], source: int, text: str) -> list[str]:
    folded = text.lower()
    return [
        p.name
        for p in points
        if p.source == source
        and len(p.name) >= (MIN_HAN_NAME if has_han(p.name) else MIN_LATIN_NAME)
        and p.name.lower() in folded
    ]


def quoted_answer(points: Sequence[Point], read: Sequence[str]) -> str | None:
    """The sentences of the cited passage that hold the answer's point names, with its marker; or None."""
    for source in dict.fromkeys(p.source for p in points):
        if not 1 <= source <= len(read):
            continue
        names = _names_in(points, source, read[source - 1])
        if len(names) < 2:
            continue
        lines = [line.strip() for line in read[source - 1].splitlines()]
        body = "\n".join(line for line in lines if line and not line.startswith("#"))
        quoted = [s for s in split_sentences(body) if any(n.lower() in s.lower() for n in names)]
        if quoted:
            return "\n".join(f"{s}[{source}]" for s in quoted)
    return None


def quoted_items(read: Sequence[str]) -> str | None:
    """The list items of the first passage that has any, each line cited with its number; or None.

    For passages focus cut to the items a question names: those items are the answer the knowledge base
    holds. Later passages holding the same items (7.3.3 and 9.2.2 list the same four) add nothing."""
    for n, text in enumerate(read, 1):
        starts = [m.start() for m in LIST_ITEM.finditer(text)]
        if starts:
            bounds = [*starts, len(text)]
            items = [text[a:b].strip() for a, b in pairwise(bounds)]
            return "\n".join(f"{_one_line(item)}[{n}]" for item in items if item)
    return None


def _one_line(text: str) -> str:
    """A wrapped item on one line: Chinese lines join as they are, others with a space."""
    return re.sub(r"\s*\n\s*", "" if has_han(text) else " ", text)
