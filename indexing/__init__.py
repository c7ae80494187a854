"""Indexing layer: knowledge files -> chunks with section paths -> FAISS index directory.

Public API (what advisor/ and the CLI use)::

    make_embedder(settings) -> Embedder
    load_index(index_dir, *, embedder=None, device="cpu") -> VectorIndex
    VectorIndex.from_chunks(chunks, embedder) -> VectorIndex       # in memory, for tests
    build_index(settings, paths=None) -> BuildReport               # python -m indexing build|add|status
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from indexing.embedders import Embedder, HashEmbedder
from indexing.manifest import IndexLoadError, IndexMismatchError
from indexing.store import VectorIndex, gpu_available, load_index, passage_text
from indexing.types import Chunk, Hit

if TYPE_CHECKING:
    from config import Settings
    from indexing.build import BuildReport


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (real backends live in indexing.embedders)."""
    # Imported at call time: real backends pull in heavy libraries only when one is actually built.
    from indexing.embedders import make_embedder as _make_embedder

    return _make_embedder(settings)


def build_index(settings: Settings, paths: Any = None, **kwargs: Any) -> BuildReport:
    """Incrementally (re)build settings.index_dir from settings.knowledge_dir (or ``paths``)."""
    from indexing.build import build_index as _build_index

    return _build_index(settings, paths, **kwargs)


__all__ = [
    "Chunk",
    "Embedder",
    "HashEmbedder",
    "Hit",
    "IndexLoadError",
    "IndexMismatchError",
    "VectorIndex",
    "build_index",
    "gpu_available",
    "load_index",
    "make_embedder",
    "passage_text",
]
