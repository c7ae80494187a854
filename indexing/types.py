"""Plain types that leave the indexing layer. Nothing from llama-index or FAISS crosses this boundary."""

from __future__ import annotations

from dataclasses import dataclass

SECTION_SEPARATOR = " › "  # joins the headings of a section path


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable passage and exactly where it came from."""

    chunk_id: str  # stable: derived from doc_id and the chunk's character offsets
    doc_id: str  # content hash of the source document
    text: str
    section: str  # heading path with numbering, e.g. "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.2 定价策略的类型"
    source: str  # file name relative to the knowledge folder (or as added)
    lang: str  # "zh" | "en" | ...
    start: int  # character offsets into the decoded source text
    end: int
    # The document's title (its lone level-1 heading, else its metadata title): searched with every chunk
    # (store.search_text), not part of `section`, which a citation shows; "" in indexes built before it.
    title: str = ""

    @property
    def family(self) -> tuple[str, ...]:
        """Its source and parent headings: the chunks under one parent heading (5.3.1-5.3.3) are siblings.
        A chunk without a heading path above its own is a family of its document's top-level chunks."""
        parts = [p.strip() for p in (self.section or "").split("›")]
        return (self.source, *(parts[:-1] if len(parts) > 1 else parts))


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk found for a query, with its score (higher is better) and 1-based rank."""

    chunk: Chunk
    score: float
    rank: int
