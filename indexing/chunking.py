"""Split documents into chunks that each know their full heading path. Two explicit phases:

1. **Headings.** A CommonMark parser (markdown-it-py) finds the real headings — a ``# comment`` inside a
   code fence is code, not a heading, and setext headings count. Each heading opens a region that runs to
   the next heading, so no chunk can span two subsections. The region's path is every open heading,
   numbering included, joined by " › ".
2. **Size.** Long regions are cut by langchain's RecursiveCharacterTextSplitter with paragraph, line,
   Chinese (。！？；，) and Western sentence separators, kept at the end of the piece they close.

Why not langchain's MarkdownHeaderTextSplitter for phase 1: it strips every line (code loses its
indentation) and drops positions, and we need exact character offsets (``text == doc.text[start:end]``)
so a citation can point at the precise span of the source.

The document title (a single ``#`` heading that opens the document) is left out of paths — it is the
same for every chunk and the source already names the document — except for text that sits directly
under it (abstract, keywords), whose path is the title itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter
from markdown_it import MarkdownIt

from indexing.documents import SourceDocument
from indexing.types import SECTION_SEPARATOR, Chunk

# Bump when the way chunks are cut changes: the manifest records it, and a change forces a re-chunk.
CHUNKER_VERSION = "md-headings+recursive-v2"  # v2: chunks carry their document's title (search_text)
# Coarse to fine. Chinese sentence ends (。！？；) have no trailing space, so they need their own entries.
_TRAILING_RULE = re.compile(r"(?:^|\n)[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*\Z")
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]


@dataclass(frozen=True, slots=True)
class Heading:
    level: int
    title: str
    line_start: int  # first line of the heading (0-based, in the body)
    line_end: int  # first line after it


@dataclass(frozen=True, slots=True)
class Region:
    """The text between a heading and the next one: one (sub)section's own body."""

    path: str
    start: int  # offsets into the document text
    end: int


def find_headings(body: str) -> list[Heading]:
    tokens = MarkdownIt("commonmark").parse(body)
    headings = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map is not None:
            title = " ".join(tokens[i + 1].content.split())
            headings.append(Heading(int(token.tag[1]), title, token.map[0], token.map[1]))
    return headings


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def _title_heading(headings: list[Heading]) -> Heading | None:
    """The document's title: a single level-1 heading that opens it."""
    if headings and headings[0].level == 1 and sum(h.level == 1 for h in headings) == 1:
        return headings[0]
    return None


def document_title(doc: SourceDocument) -> str:
    """The title every chunk of `doc` carries: its title heading, else the loader's title."""
    title_heading = _title_heading(find_headings(doc.text[doc.body_start :]))
    return title_heading.title if title_heading else doc.title


def section_regions(doc: SourceDocument) -> list[Region]:
    """Phase 1: the document body cut at every heading, each piece labelled with its heading path."""
    body = doc.text[doc.body_start :]
    headings = find_headings(body)
    line_at = _line_offsets(body)

    def offset(line: int) -> int:
        return doc.body_start + line_at[min(line, len(line_at) - 1)]

    title_heading = _title_heading(headings)
    doc_title = title_heading.title if title_heading else doc.title

    regions = [
        Region(doc_title, doc.body_start, offset(headings[0].line_start) if headings else len(doc.text))
    ]
    stack: list[Heading] = []
    for i, heading in enumerate(headings):
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
        path = SECTION_SEPARATOR.join(h.title for h in stack if h is not title_heading) or doc_title
        end = offset(headings[i + 1].line_start) if i + 1 < len(headings) else len(doc.text)
        regions.append(Region(path, offset(heading.line_end), end))
    regions = [Region(r.path, r.start, _trim_trailing_rules(doc.text, r.start, r.end)) for r in regions]
    return [r for r in regions if doc.text[r.start : r.end].strip()]


def _trim_trailing_rules(text: str, start: int, end: int) -> int:
    """Drop a closing thematic break ("---") from a region: it separates chapters, it is not content."""
    while True:
        body = text[start:end].rstrip()
        match = _TRAILING_RULE.search(body)
        if not match:
            return start + len(body) if body else end
        end = start + match.start()


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=SEPARATORS,
        keep_separator="end",  # "。" stays with the sentence it ends
        strip_whitespace=True,
    )


def chunk_document(doc: SourceDocument, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Phase 2: every region cut to size; offsets are exact (``chunk.text == doc.text[start:end]``)."""
    splitter = make_splitter(chunk_size, chunk_overlap)
    title = document_title(doc)
    chunks = []
    for region in section_regions(doc):
        region_text = doc.text[region.start : region.end]
        cursor = 0
        for piece in splitter.split_text(region_text):
            # The splitter joins contiguous pieces without adding text, so each chunk is a substring of
            # the region; search from just after the previous start (overlap means it may begin earlier
            # than the previous end).
            found = region_text.find(piece, cursor)
            if found < 0:
                raise RuntimeError(f"chunker lost the position of a chunk in {doc.source} ({region.path})")
            start = region.start + found
            end = start + len(piece)
            cursor = found + 1
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id[:16]}-{start}-{end}",
                    doc_id=doc.doc_id,
                    text=piece,
                    section=region.path,
                    source=doc.source,
                    lang=doc.lang,
                    start=start,
                    end=end,
                    title=title,
                )
            )
    return chunks


def chunking_params(chunk_size: int, chunk_overlap: int) -> dict:
    """What the manifest records: a change in any of these means existing chunks are stale."""
    return {"chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "chunker": CHUNKER_VERSION}
