"""Split a shown answer into sentences with the `[n]` markers each one carries.

Where a sentence ends is the project's one rule (textkit.sentences), shared with the advisor's grounding
gate: two copies of it drifted apart without either being more right. Which markers a claim carries,
what decoration is stripped and what is too short to judge are written here, independently of the gate,
on purpose: the suite judges the text the user sees, and a judge that shared the gate's attribution would
share its blind spots.
"""

from __future__ import annotations

import re

from textkit import sentence_spans

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*\]|【\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*】")
# The markers written right after a sentence's end still belong to it ("…定价。[1]").
_MARKERS_AFTER = re.compile(rf"(?:[ \t]*(?:{_MARKER.pattern}))+")
_DECORATION = re.compile(r"^\s*(?:[-*+•·]|\d+[.)、]|[（(]?\d+[）)]|#{1,6})\s*")
_MIN_WORD_CHARS = 4  # "1.", "答：" or a lone heading word asserts nothing


def marker_numbers(text: str) -> tuple[int, ...]:
    nums: list[int] = []
    for match in _MARKER.finditer(text):
        for n in re.findall(r"\d+", match.group(1) or match.group(2)):
            if int(n) not in nums:
                nums.append(int(n))
    return tuple(nums)


def strip_markers(text: str) -> str:
    return re.sub(r"[ \t]+(?=[。！？；，,.!?;:：])", "", _MARKER.sub("", text)).strip()


def cited_sentences(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """(claim without markers or list decoration, cited numbers) for each contentful sentence.

    One line of an answer is one point, and a reader takes the marker that ends a point ("- 名称：…。…。[1]")
    as its source: a sentence without markers of its own takes those of the next cited sentence on its line.
    """
    out: list[tuple[str, tuple[int, ...]]] = []
    for line in text.splitlines():
        line_start = len(out)
        for start, end in sentence_spans(line, trailing=_MARKERS_AFTER):
            piece = line[start:end]
            claim = _DECORATION.sub("", strip_markers(piece)).replace("**", "").replace("⚠", "").strip()
            if len(re.findall(r"\w", claim)) >= _MIN_WORD_CHARS:
                out.append((claim, marker_numbers(piece)))
        lent: tuple[int, ...] = ()
        for i in range(len(out) - 1, line_start - 1, -1):  # from the line's end: markers cover what precedes
            claim, numbers = out[i]
            if numbers:
                lent = numbers
            elif lent:
                out[i] = (claim, lent)
    return out
