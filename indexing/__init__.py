"""Indexing layer: knowledge files -> chunks with section paths -> FAISS index directory.

Public API (what advisor/ and the CLI use)::

    make_embedder(settings) -> Embedder
    load_index(index_dir, *, embedder=None, device="cpu") -> VectorIndex
    VectorIndex.from_chunks(chunks, embedder) -> VectorIndex       # in memory, for tests
    build_index(settings, paths=None) -> BuildReport               # python -m indexing build|add|status
    list_documents(settings) -> DocumentList                       # python -m indexing list
    remove_documents(settings, names, force=False) -> RemoveReport # python -m indexing remove
    add_upload(settings, name, data, embedder=None) -> UploadOutcome  # one uploaded file, added and built
    check_upload(settings, name, size) -> name                     # its name, type and size, checked first
    views_for_chunks(setting, chunks) -> ViewsChoice                # bilingual views on for this index?
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from indexing.chunking import chunk_document
from indexing.doc_names import (
    BUILT_IN_SOURCES,
    BuiltInDocumentError,
    DocumentError,
    DocumentNameError,
    NotIndexedError,
    UnsupportedTypeError,
    UploadRefused,
)
from indexing.documents import load_documents
from indexing.embedders import Embedder, HashEmbedder
from indexing.manifest import BuildLocked, IndexLoadError, IndexMismatchError
from indexing.store import VectorIndex, gpu_available, load_index, passage_text, search_text
from indexing.types import Chunk, Hit
from indexing.views_choice import ViewsChoice, chunk_languages, decide_views, views_for_chunks

if TYPE_CHECKING:
    from config import Settings
    from indexing.build import BuildReport
    from indexing.manage import DocumentList, RemoveReport, UploadOutcome


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (real backends live in indexing.embedders)."""
    # Imported at call time: real backends pull in heavy libraries only when one is actually built.
    from indexing.embedders import make_embedder as _make_embedder

    return _make_embedder(settings)


def build_index(settings: Settings, paths: Any = None, **kwargs: Any) -> BuildReport:
    """Incrementally (re)build settings.index_dir from settings.knowledge_dir (or ``paths``)."""
    from indexing.build import build_index as _build_index

    return _build_index(settings, paths, **kwargs)


# The document routes of the web app use these three; imported at call time like build_index (the build
# machinery pulls in the chunker and its libraries).
def list_documents(settings: Settings) -> DocumentList:
    """The documents the index holds, with chunk counts (from the manifest)."""
    from indexing.manage import list_documents as _list_documents

    return _list_documents(settings)


def remove_documents(settings: Settings, names: Any, *, force: bool = False, **kwargs: Any) -> RemoveReport:
    """Remove documents from the knowledge folder and their chunks from the index, as one change."""
    from indexing.manage import remove_documents as _remove_documents

    return _remove_documents(settings, names, force=force, **kwargs)


def check_upload(settings: Settings, name: str | None, size: int) -> str:
    """An upload's name, type and size checked (before its content is): the name, or a DocumentError."""
    from indexing.manage import check_upload as _check_upload

    return _check_upload(settings, name, size)


def add_upload(
    settings: Settings, name: str, data: bytes, *, embedder: Embedder | None = None
) -> UploadOutcome:
    """Check and add one uploaded file to the knowledge folder, then build the index incrementally."""
    from indexing.manage import add_upload as _add_upload

    return _add_upload(settings, name, data, embedder=embedder)


__all__ = [
    "BUILT_IN_SOURCES",
    "BuildLocked",
    "BuiltInDocumentError",
    "Chunk",
    "DocumentError",
    "DocumentNameError",
    "Embedder",
    "HashEmbedder",
    "Hit",
    "IndexLoadError",
    "IndexMismatchError",
    "NotIndexedError",
    "UnsupportedTypeError",
    "UploadRefused",
    "VectorIndex",
    "ViewsChoice",
    "add_upload",
    "build_index",
    "check_upload",
    "chunk_document",
    "chunk_languages",
    "decide_views",
    "gpu_available",
    "list_documents",
    "load_documents",
    "load_index",
    "make_embedder",
    "passage_text",
    "remove_documents",
    "search_text",
    "views_for_chunks",
]
