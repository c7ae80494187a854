"""A PDF's headings, recovered from the font of each extracted line.

pypdf's text extraction returns lines only: a PDF has no heading markup, so every chunk of a PDF was
filed under the file name and a question could find the right document but never the right section
(evals/README.md, "Added documents": PDF hit@3 0.000 at heading level, 1.000 at document level). The
fonts are still there: pypdf's extraction visitor reports each piece of text with its font and size, and
the pieces, joined, are exactly the extracted text. A line set larger than the body text is a heading; the
larger, the higher its level. A short line wholly in a bold face at body size is a heading one level below
the smallest sized one (documents whose sections are only bold).

The result is Markdown-style text ("## Calculating Burn Rate"), like the HTML and DOCX converters give, so
one chunker handles every format. When the visitor's pieces do not add up to the extracted text (a PDF
whose text pypdf rearranges), the page is kept as plain text: no heading is better than a wrong one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# A line at least this much larger than the body text is a heading (fpdf2's 13 pt headings over 11 pt
# body text are 1.18; LaTeX's \subsection is 1.2 times its body; superscripts are smaller, never larger).
HEADING_SIZE_RATIO = 1.12
# Longer lines are wrapped paragraph text set large (a pull quote, a slide's bullet), not headings.
HEADING_MAX_CHARS = 120
# Sizes closer than this (points) are one heading level: extraction rounds scaled sizes differently.
SIZE_STEP = 0.5
# Bold lines mark headings only where the body text is mostly not bold (a document set all in bold has
# no bold headings to find).
MAX_BOLD_BODY_SHARE = 0.2
# Markdown's deepest heading. Level 1 is the document's title when there is one (the chunker leaves a
# lone level-1 heading out of section paths).
MAX_LEVEL = 6
BOLD_AT_BODY_SIZE = -1.0  # the key of heading_levels for bold lines at the body's size
_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi")
_SENTENCE_END = (".", "。", "!", "！", "?", "？", ";", "；", ",", "，", ":", "：")


@dataclass(frozen=True, slots=True)
class Line:
    """One extracted line with the font that sets most of its characters."""

    text: str
    size: float  # points, after the text and transformation matrices
    bold: bool  # every character in a bold face


def page_lines(page: Any) -> tuple[str, list[Line]]:
    """(the page's extracted text, its lines with their fonts); no lines when the fonts cannot be placed."""
    pieces: list[tuple[str, float, bool]] = []

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], font: Any, size: float) -> None:
        pieces.append((text, _scaled_size(size, cm, tm), _is_bold(font)))

    text = page.extract_text(visitor_text=visit) or ""
    if "".join(piece for piece, _size, _bold in pieces) != text:
        return text, []
    return text, _lines(pieces)


def _scaled_size(size: float, cm: Sequence[float], tm: Sequence[float]) -> float:
    # The font size is in text space; the text and current matrices scale it (a 1 pt font drawn with a
    # matrix of 13 is 13 pt on the page). The vertical scale is |d| of [a b c d e f].
    scale = abs(float(tm[3]) * float(cm[3])) or 1.0
    return round(float(size) * scale / SIZE_STEP) * SIZE_STEP


def _is_bold(font: Any) -> bool:
    try:
        name = str(font.get("/BaseFont", "")) if font is not None else ""
    except AttributeError:
        return False
    return any(word in name.lower() for word in _BOLD_NAMES)


def _lines(pieces: Sequence[tuple[str, float, bool]]) -> list[Line]:
    """The pieces cut at their newlines, each line with the size of most of its characters."""
    lines: list[Line] = []
    chars: list[str] = []
    sizes: Counter[float] = Counter()
    all_bold = True

    def close() -> None:
        text = "".join(chars)
        size = sizes.most_common(1)[0][0] if sizes else 0.0
        lines.append(Line(text, size, all_bold and bool(sizes)))

    for text, size, bold in pieces:
        for i, part in enumerate(text.split("\n")):
            if i:
                close()
                chars.clear()
                sizes.clear()
                all_bold = True
            chars.append(part)
            visible = len(part.strip())
            if visible:
                sizes[size] += visible
                all_bold = all_bold and bold
    close()
    return lines


def body_size(pages: Sequence[Sequence[Line]]) -> float:
    """The size that sets the most characters of the document."""
    counts: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            counts[line.size] += len(line.text.strip())
    return counts.most_common(1)[0][0] if counts else 0.0


def _bold_body_share(pages: Sequence[Sequence[Line]], body: float) -> float:
    at_body = [line for lines in pages for line in lines if line.size == body]
    total = sum(len(line.text.strip()) for line in at_body)
    return sum(len(line.text.strip()) for line in at_body if line.bold) / total if total else 0.0


def _heading_like(line: Line) -> bool:
    text = line.text.strip()
    return (
        0 < len(text) <= HEADING_MAX_CHARS
        and any(ch.isalpha() for ch in text)
        and not text.endswith(_SENTENCE_END)
    )


def heading_levels(pages: Sequence[Sequence[Line]]) -> dict[float, int]:
    """Heading size -> Markdown level (largest 1); body-size bold lines under BOLD_AT_BODY_SIZE."""
    body = body_size(pages)
    if not body:
        return {}
    sizes = sorted(
        {
            line.size
            for lines in pages
            for line in lines
            if line.size >= body * HEADING_SIZE_RATIO and _heading_like(line)
        },
        reverse=True,
    )
    levels = {size: min(level, MAX_LEVEL) for level, size in enumerate(sizes, 1)}
    if _bold_body_share(pages, body) <= MAX_BOLD_BODY_SHARE:
        levels[BOLD_AT_BODY_SIZE] = min(len(sizes) + 1, MAX_LEVEL)
    return levels


def marked_text(lines: Sequence[Line], levels: dict[float, int], body: float) -> str:
    """The page's text with each heading line marked "#"*level; a heading wrapped onto several lines of
    the same size becomes one heading line."""
    out: list[str] = []
    previous_level = 0
    for line in lines:
        level = _level(line, levels, body)
        text = line.text.strip()
        if level and level == previous_level and out:
            out[-1] = f"{out[-1]} {text}"  # the wrapped rest of the heading above
            continue
        out.append(f"{'#' * level} {text}" if level else line.text)
        previous_level = level
    return "\n".join(out)


def _level(line: Line, levels: dict[float, int], body: float) -> int:
    if not _heading_like(line):
        return 0
    if line.size in levels:
        return levels[line.size]
    if line.bold and abs(line.size - body) < SIZE_STEP:
        return levels.get(BOLD_AT_BODY_SIZE, 0)
    return 0
