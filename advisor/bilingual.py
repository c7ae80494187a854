"""The knowledge base's views in the other language: every chunk searched also through its rendering.

Retrieval works within a language and badly across: an incubator's Chinese document asked about in English
was in the top 3 for 3 of 18 questions (evals/README.md, "Added documents"), and English playbook questions
needed the LLM to translate them into Chinese first (1-2 s before the first word, issue #14). The knowledge
base already has English renderings of its Chinese lines (renderings.py: shipped for the playbook, made by
`python -m advisor prepare` for added documents). Searched as a second view of each chunk, they make an
English question a same-language match with no model call at question time.

The view holds every chunk, in the chunk order of the index: a Chinese chunk as its rendering (its
section path's headings too, where they have one; lines without a rendering stay Chinese), an English
chunk as it is. An English question then ranks the whole knowledge base in English (retrieve.py: the
nearer of each chunk's two cosines, BM25 with English stems over the view), the same two legs for every
source; added as extra ranked lists instead, the English documents (their own view) were counted twice.
A hit is always the ORIGINAL chunk: the gate, the quotes and the citations read the text the knowledge
base holds.

The Chinese view is the same for the other direction: an added English document's lines rendered in
Chinese (renderings.py, target "zh", made by `prepare`), so that a Chinese question meets it in Chinese;
the Chinese chunks are their own Chinese view.

A view's vectors are embedded once and kept under the data folder (view_vectors.py); its rows of
untouched English chunks are the index's own vectors, not embedded again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from advisor.lexical import LexicalIndex
from advisor.renderings import Renderings
from advisor.view_vectors import cached_vectors
from indexing import BUILT_IN_SOURCES, Chunk, Embedder, VectorIndex
from indexing.chunking import SECTION_SEPARATOR


@dataclass(frozen=True)
class IndexView:
    """The knowledge base in another form, row for row with the index's chunks."""

    language: str  # what the view shows: "en" (Chinese lines rendered in English) or "zh"
    chunks: tuple[Chunk, ...]  # chunks[i] is index.chunks[i] as the view shows it
    vectors: np.ndarray  # (len(chunks), dim) passage vectors of the view's texts
    lexical: LexicalIndex | None  # BM25 over the view's texts (None when the BM25 leg is off)
    rendered: int  # how many chunks the view shows differently from the index


def render_chunk(renderings: Renderings, chunk: Chunk) -> Chunk:
    """The chunk with its text, each heading of its section path and its document's title rendered (where
    a rendering exists)."""
    section = SECTION_SEPARATOR.join(
        renderings.render(part) for part in chunk.section.split(SECTION_SEPARATOR)
    )
    title = renderings.render(chunk.title) if chunk.title else ""
    return replace(chunk, text=renderings.render(chunk.text), section=section, title=title)


def texts_to_render(chunks: Sequence[Chunk]) -> Iterator[str]:
    """What a view needs rendered: each chunk's text, and each heading of an added document's section path
    (the heading names the topic: "Valuation Cap" is what a Chinese question about 估值上限 matches). The
    shipped playbook's headings are left out: their renderings ship (renderings_seed.en.json, corrected in
    renderings_reviewed.en.json where the model erred), and a view takes any model's rendering, so another
    answering model need not make them again."""
    for chunk in chunks:
        yield chunk.text
        if chunk.source.rsplit("/", 1)[-1] not in BUILT_IN_SOURCES:
            yield from chunk.section.split(SECTION_SEPARATOR)
            if chunk.title:
                yield chunk.title


def index_view(
    index: VectorIndex,
    embedder: Embedder,
    renderings: Renderings,
    cache_dir: Path,
    *,
    batch_size: int = 32,
    lexical: bool = True,
) -> IndexView | None:
    """The index as `renderings` show it (in their target language), or None when no chunk has a
    rendering (nothing to search twice). An English view's BM25 compares English words by their stems."""
    chunks = index.chunks
    shown = [render_chunk(renderings, c) for c in chunks]
    changed = [i for i, (view, original) in enumerate(zip(shown, chunks, strict=True)) if view != original]
    if not changed:
        return None
    vectors = index.vectors().copy() if len(index) else np.zeros((0, embedder.dim), np.float32)
    vectors[changed] = cached_vectors(cache_dir, [shown[i] for i in changed], embedder, batch_size=batch_size)
    return IndexView(
        language=renderings.target,
        chunks=tuple(shown),
        vectors=vectors,
        lexical=LexicalIndex(shown, stem=renderings.target == "en") if lexical else None,
        rendered=len(changed),
    )
