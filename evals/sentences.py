"""Split a shown answer into sentences with the `[n]` markers each one carries.

Written independently of the advisor's grounding gate on purpose: the suite judges the text the user
sees, and a judge that shares the gate's splitting code would share its blind spots.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*\]|【\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*】")
# A sentence ends at Chinese or Western end punctuation ("." only before a space, a marker or the end, so
# "5.3.2" and "1.5" never split); the markers written right after it still belong to it ("…定价。[1]").
_END = re.compile(r"[。！？；!?]+[”’」』）)\"']*|\.(?=\s|$|\[|【)")
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
        pos = 0
        while pos < len(line):
            match = _END.search(line, pos)
            end = match.end() if match else len(line)
            after = _MARKERS_AFTER.match(line, end)
            if after:
                end = after.end()
            piece, pos = line[pos:end], end
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
