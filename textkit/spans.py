"""Verbatim spans compared the way a reader would: letters and digits only, and weighed by what they carry.

Used to catch a leaked system prompt (advisor/guard.py stops it while streaming; evals/metrics.py measures
it afterwards) and to key repeated points: spacing, dashes, markup, width (NFKC) and case hide nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

from textkit.han import is_han


def fold(text: str) -> str:
    """Letters and digits only, NFKC and case-folded: "Ｓｙｓ-tem  PROMPT" and "systemprompt" are one."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


def char_weight(char: str) -> int:
    """A Han character carries about as much as two letters: 12 of them are as telling as 24 letters."""
    return 2 if is_han(char) else 1


def weighted_windows(folded: str, min_weight: int) -> Iterator[tuple[int, int]]:
    """(start, end) of the shortest window starting at each position whose weight reaches `min_weight`."""
    end = weight = 0
    for start in range(len(folded)):
        while end < len(folded) and weight < min_weight:
            weight += char_weight(folded[end])
            end += 1
        if weight < min_weight:
            return
        yield start, end
        weight -= char_weight(folded[start])
