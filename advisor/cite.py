"""Citation markers: parse `[n]` (also `[1][2]`, `[1, 2]`, `【1】`, `[来源1]`) and resolve them to chunks.

Marker n points at the n-th numbered source given to the model (hits[n-1]). A marker pointing nowhere
(n = 0 or beyond the sources) is a model slip: it is dropped from the shown text and from the citations,
so every marker the reader sees leads to a real passage. Valid markers are normalised to `[n]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from advisor.glossary import glossary_rendering
from advisor.lexical import tokenize
from advisor.types import Citation
from indexing.types import Hit
from textkit import detect_language, has_han, split_sentences

_NUMS = r"\d+(?:\s*[,，、;；]\s*\d+)*"
_PREFIX = r"(?:source|sources|src|ref|来源|资料|段落|文档|出处)?\s*#?\s*"
MARKER = re.compile(rf"\[\s*{_PREFIX}({_NUMS})\s*\]|【\s*{_PREFIX}({_NUMS})\s*】", re.IGNORECASE)
# A run of markers, as written after a claim: "...价格。[1][2]" or "... price [1, 3]."
MARKER_RUN = re.compile(rf"(?:\s*(?:{MARKER.pattern}))+", re.IGNORECASE)


def _numbers(match: re.Match[str]) -> list[int]:
    group = match.group(1) or match.group(2)
    return [int(n) for n in re.findall(r"\d+", group)]


def marker_numbers(text: str) -> list[int]:
    """Every number cited in the text, in order of first appearance, without repeats."""
    seen: list[int] = []
    for match in MARKER.finditer(text):
        for n in _numbers(match):
            if n not in seen:
                seen.append(n)
    return seen


def strip_markers(text: str) -> str:
    """The text with all citation markers removed (what the support checker should read)."""
    return _close_up(MARKER.sub("", text)).strip()


def clean_markers(text: str, n_sources: int) -> str:
    """Normalise markers to `[n]` and drop the numbers that point at no source (1..n_sources)."""

    def rewrite(match: re.Match[str]) -> str:
        valid = [n for n in _numbers(match) if 1 <= n <= n_sources]
        return "".join(f"[{n}]" for n in dict.fromkeys(valid))

    return _close_up(MARKER.sub(rewrite, text))


def _close_up(text: str) -> str:
    # A removed marker can leave a space before punctuation ("price .") or a double space.
    text = re.sub(r"[ \t]+(?=[。！？；，,.!?;:：])", "", text)
    return re.sub(r"(?<=\S)[ \t]{2,}", " ", text)


def best_quote(chunk_text: str, citing: Iterable[str], max_sentences: int = 2) -> str:
    """The sentence(s) of the chunk that best support the citing sentence(s), in the chunk's order.

    Overlap of content words (jieba for Chinese, lower-cased words for English). An English claim
    about a Chinese passage is compared through its glossary rendering, so "value-based pricing [1]"
    still finds "价值导向定价：…".
    """
    sentences = split_sentences(chunk_text)
    if not sentences:
        return chunk_text.strip()
    sentence_terms = [set(tokenize(s)) for s in sentences]
    picked: list[int] = []
    for claim in citing:
        terms = set(tokenize(claim))
        if detect_language(claim) == "en" and has_han(chunk_text):  # "Competitive导向定价 …" is English too
            terms |= set(tokenize(glossary_rendering(claim)))
        if not terms:
            continue
        scores = [len(terms & st) / (len(terms) ** 0.5 * max(len(st), 1) ** 0.5) for st in sentence_terms]
        best = max(range(len(sentences)), key=lambda i: scores[i])
        if scores[best] > 0 and best not in picked:
            picked.append(best)
    if not picked:  # nothing overlaps: the chunk's opening is the most honest short quote
        picked = [0]
    picked = sorted(picked)[:max_sentences]
    return " ".join(sentences[i] for i in picked)


def build_citations(cited_by: dict[int, list[str]], hits: Sequence[Hit]) -> tuple[Citation, ...]:
    """One Citation per valid cited number (ascending), with the quote that supports its sentences.

    `cited_by` maps a marker number to the sentences (markers stripped) that cite it.
    """
    citations = []
    for n in sorted(cited_by):
        if not 1 <= n <= len(hits):
            continue
        chunk = hits[n - 1].chunk
        citations.append(
            Citation(
                n=n,
                chunk_id=chunk.chunk_id,
                section=chunk.section,
                source=chunk.source,
                quote=best_quote(chunk.text, cited_by[n]),
            )
        )
    return tuple(citations)
