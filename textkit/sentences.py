"""Where a sentence ends, in Chinese, English or both mixed: one rule for passages, answers and the judge.

A sentence ends at a run of Chinese 。！？； or Western !? (with the closing quotes and brackets that follow
it: "他说：“好。”" is one sentence), at a "." followed by white space, the end of the text or a citation
bracket ([ or 【) — so a decimal point ("1.5"), a section number ("5.3.2"), "U.S.", a title ("Dr.") or an
initial ("James H. Martin") never ends one — and
at a line break (a list item is a sentence whatever its punctuation). ASCII ";" does not end a sentence:
English uses it inside one.
"""

from __future__ import annotations

import re

_CLOSERS = "”’」』）)\"'"
# A full stop after a title or an initial does not end a sentence ("By Dr. Qiu", "James H. Martin"): split
# there, the grounding gate checked "By Dr." as a sentence of its own and an answer showed "…By Dr.[1]".
_NOT_AFTER = (
    r"(?<!\b[A-Z])(?<!\bDr)(?<!\bMr)(?<!\bMs)(?<!\bSt)(?<!\bvs)(?<!\bMrs)(?<!\bProf)(?<!\bInc)(?<!\bLtd)"
)
SENTENCE_END = re.compile(rf"[。！？；!?]+[{_CLOSERS}]*|{_NOT_AFTER}\.(?=\s|$|\[|【)|\n")


def sentence_spans(text: str, trailing: re.Pattern[str] | None = None) -> list[tuple[int, int]]:
    """(start, end) of every sentence, white space around it excluded, empty ones dropped.

    `trailing`: what still belongs to a sentence right after its end (the citation markers an answer
    writes after the full stop, "…定价。[1]").
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    while pos < len(text):
        match = SENTENCE_END.search(text, pos)
        cut = match.end() if match else len(text)
        if match and trailing is not None and match.group() != "\n":
            after = trailing.match(text, cut)
            cut = after.end() if after else cut
        piece = text[pos:cut]
        if piece.strip():
            start = pos + len(piece) - len(piece.lstrip())
            spans.append((start, start + len(piece.strip())))
        pos = cut
    return spans


def split_sentences(text: str) -> list[str]:
    """Sentences of a text, stripped, empty ones dropped."""
    return [text[start:end] for start, end in sentence_spans(text)]
