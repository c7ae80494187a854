"""Managing the knowledge base's documents: list what the index holds, remove a document.

Removing takes a document out of the knowledge folder and its chunks out of the index as one change,
with the build's own machinery: the build lock (one writer), the index saved into a temp folder, verified
and swapped in (store.save_index), the manifest rewritten with it. Nothing is re-embedded: the remaining
chunks keep their vectors.

The knowledge folder is the source of truth, so the file leaves it first — moved into a hidden staging
folder, one rename, which is the moment the removal is decided — and the index follows:

* the save fails (disk full, another error): the file is moved back, and nothing has changed;
* the process is killed before the swap: the old index is intact (store.save_index never leaves a mix),
  the file is out of the folder, and the next build or remove drops its chunks and the staging folder;
* killed after the swap: the removal is complete, only the staging folder is left, for the next build
  or remove to delete.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import Settings
from indexing.build import (
    STAGED_REMOVALS_PREFIX,
    BuildReport,
    add_documents,
    build_index,
    build_lock,
    discard_staged_removals,
)
from indexing.doc_names import (
    BUILT_IN_SOURCES,
    BuiltInDocumentError,
    DocumentNameError,
    NotIndexedError,
    UploadRefused,
    check_document_name,
    check_upload_name,
)
from indexing.documents import Limits, load_documents
from indexing.embedders import Embedder
from indexing.manifest import IndexLoadError, now_iso, read_manifest
from indexing.store import VectorIndex, load_index, remove_stale_temp_dirs


# --- list ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IndexedDocument:
    source: str
    chunks: int
    title: str
    lang: str
    format: str
    built_in: bool


@dataclass(frozen=True)
class DocumentList:
    index_dir: str
    embedder_id: str
    built_at: str
    documents: list[IndexedDocument]

    @property
    def total_chunks(self) -> int:
        return sum(d.chunks for d in self.documents)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index_dir": self.index_dir,
            "embedder_id": self.embedder_id,
            "built_at": self.built_at,
            "documents": [
                {
                    "source": d.source,
                    "chunks": d.chunks,
                    "title": d.title,
                    "lang": d.lang,
                    "format": d.format,
                    "built_in": d.built_in,
                }
                for d in self.documents
            ],
            "total_documents": len(self.documents),
            "total_chunks": self.total_chunks,
        }


def list_documents(settings: Settings) -> DocumentList:
    """The documents the index holds, with their chunk counts, from its manifest (no embedder is loaded).

    Raises IndexLoadError (naming the fix) when there is no readable index.
    """
    manifest = read_manifest(settings.index_dir)
    sources: dict[str, dict[str, Any]] = manifest.get("sources", {})
    documents = [
        IndexedDocument(
            source=source,
            chunks=int(info.get("chunks") or 0),
            title=str(info.get("title") or ""),
            lang=str(info.get("lang") or ""),
            format=str(info.get("format") or ""),
            built_in=source in BUILT_IN_SOURCES,
        )
        for source, info in sorted(sources.items())
    ]
    return DocumentList(
        index_dir=str(settings.index_dir),
        embedder_id=str(manifest.get("embedder_id") or ""),
        built_at=str(manifest.get("built_at") or ""),
        documents=documents,
    )


# --- add one uploaded file -------------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadOutcome:
    source: str
    added: bool  # False: the same file was already there and indexed; nothing changed
    chunks: int  # the document's chunks in the index
    build: BuildReport | None  # None when nothing was built


def check_upload(settings: Settings, name: str | None, size: int) -> str:
    """The upload's name when the name, its type and its size are acceptable (add_upload checks its
    content too); else DocumentNameError, UnsupportedTypeError or UploadRefused("too_large")."""
    name = check_upload_name(name)
    max_bytes = Limits.from_settings(settings).max_bytes
    if size > max_bytes:
        raise UploadRefused(
            "too_large", f"{name}: {size / 2**20:.3g} MB exceeds max_file_mb ({max_bytes / 2**20:.3g} MB)."
        )
    return name


def add_upload(
    settings: Settings, name: str, data: bytes, *, embedder: Embedder | None = None
) -> UploadOutcome:
    """Add an uploaded file to the knowledge folder and index it at once (incremental build).

    The same checks as ``python -m indexing add`` (add_documents: type, size limits, strict decoding, no
    overwriting), then the build. Refused, with nothing changed: a bad name (DocumentNameError), a type the
    loader does not read (UnsupportedTypeError), a file it would skip, a name taken by other content or
    content already indexed under another name (UploadRefused, with the reason), another build running
    (BuildLocked; the copied file is taken back).
    """
    name = check_upload(settings, name, len(data))  # before it touches the disk at all
    with tempfile.TemporaryDirectory(prefix="fa-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        added = add_documents(settings, [path])
    if added.refused:
        refusal = added.refused[0]  # its source is the temporary path: the client knows the file by name
        raise UploadRefused(refusal.reason, f"{name}: {refusal.detail}")
    copied = bool(added.copied)
    already = 0 if copied else _indexed_chunks(settings, name)
    if already:  # the identical file is already there, and indexed
        return UploadOutcome(name, added=False, chunks=already, build=None)
    try:
        report = build_index(settings, embedder=embedder, progress=False)
    except BaseException:
        if copied:
            (settings.knowledge_dir / name).unlink(missing_ok=True)
        raise
    duplicate = next((s for s in report.skipped if s.source == name and s.reason == "duplicate"), None)
    if duplicate is not None:  # the build added nothing for it: do not keep a second copy either
        if copied:
            (settings.knowledge_dir / name).unlink(missing_ok=True)
        raise UploadRefused("duplicate", f"{name}: {duplicate.detail}, which is already indexed.")
    return UploadOutcome(name, added=True, chunks=_indexed_chunks(settings, name), build=report)


def _indexed_chunks(settings: Settings, name: str) -> int:
    """The document's chunks in the index on disk; 0 when it (or the index) is not there."""
    try:
        sources = read_manifest(settings.index_dir).get("sources", {})
    except IndexLoadError:
        return 0
    return int(sources.get(name, {}).get("chunks") or 0)


# --- remove -------------------------------------------------------------------------------------------
@dataclass
class RemoveReport:
    removed: dict[str, int] = field(default_factory=dict)  # source -> chunks taken out of the index
    files_deleted: list[str] = field(default_factory=list)  # of them, those that were in the folder
    total_chunks: int = 0  # in the index afterwards
    total_documents: int = 0
    # Files with the same content as a removed document (skipped as duplicates until now): the next build
    # indexes them under their own name, so the text would come back.
    duplicates_left: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"removed {s} ({n} chunk{'s' if n != 1 else ''})" for s, n in self.removed.items()]
        lines.append(f"index: {self.total_chunks} chunks in {self.total_documents} documents")
        lines += [
            f"note: {d} has the same content and will be indexed by the next build"
            for d in self.duplicates_left
        ]
        return "\n".join(lines)


def source_name_for(settings: Settings, given: str) -> str:
    """The index's name for a path given on the command line: a path to a file in the knowledge folder
    ("knowledge/notes.md", an absolute path), or a name inside it ("notes.md")."""
    knowledge = settings.knowledge_dir.resolve()
    path = Path(given)
    absolute = Path(os.path.abspath(path))
    # The folder above is resolved (a symlinked knowledge folder), the file itself is not: a link named
    # inside the folder is that link, wherever it points.
    located = absolute.parent.resolve() / absolute.name
    if located == knowledge:
        raise DocumentNameError(f"{given} is the knowledge folder itself; name the documents to remove.")
    if located.is_relative_to(knowledge):
        return check_document_name(located.relative_to(knowledge).as_posix())
    if path.is_absolute() or path.exists():
        raise DocumentNameError(
            f"{given} is outside the knowledge folder ({settings.knowledge_dir}); nothing removed."
        )
    return check_document_name(given)


def remove_documents(
    settings: Settings, sources: Sequence[str], *, force: bool = False, progress: bool = False
) -> RemoveReport:
    """Remove indexed documents (by source name) from the knowledge folder and the index, as one change.

    Refused, with nothing changed: a bad name (DocumentNameError), a name the index does not hold
    (NotIndexedError), a built-in document without ``force`` (BuiltInDocumentError), another build
    running (BuildLocked), no readable index (IndexLoadError). Afterwards the folder is read once (like
    ``status``) for copies of the removed text that the next build would index under their own name.
    """
    names = list(dict.fromkeys(check_document_name(s) for s in sources))
    if not names:
        raise DocumentNameError("Name at least one document to remove.")
    index_dir, knowledge = settings.index_dir, settings.knowledge_dir
    report = RemoveReport()
    with build_lock(index_dir):
        remove_stale_temp_dirs(index_dir)
        discard_staged_removals(knowledge)
        index = load_index(index_dir)  # index.prev when a killed build left no index/
        indexed: dict[str, dict[str, Any]] = index.manifest.get("sources", {})
        missing = [n for n in names if n not in indexed]
        if missing:
            raise NotIndexedError(
                f"Not in the index: {', '.join(missing)}; nothing removed (`python -m indexing list` shows what is)."
            )
        built_in = [n for n in names if n in BUILT_IN_SOURCES]
        if built_in and not force:
            raise BuiltInDocumentError(
                f"{', '.join(built_in)} is the built-in playbook: removing it empties the knowledge base. "
                "Nothing removed; repeat with --force (HTTP: ?force=true) if that is really meant."
            )
        gone = set(names)
        keep = [row for row, chunk in enumerate(index.chunks) if chunk.source not in gone]
        report.removed = {n: int(indexed[n].get("chunks") or 0) for n in names}
        staging = knowledge / f"{STAGED_REMOVALS_PREFIX}{uuid.uuid4().hex[:8]}"
        staged = _stage(knowledge, staging, names)
        try:
            manifest = {
                **index.manifest,
                "sources": {s: info for s, info in indexed.items() if s not in gone},
                "built_at": now_iso(),
            }
            smaller = VectorIndex.from_vectors(
                [index.chunks[row] for row in keep],
                index.vectors()[keep],
                index.embedder_id,
                manifest=manifest,
            )
            # The marker the build prints too: tests/indexing/test_manage.py kills the save after it.
            if progress:
                print(f"saving {len(keep)} chunks to {index_dir} ...", file=sys.stderr, flush=True)
            smaller.save(index_dir, manifest)
        except BaseException:
            _unstage(knowledge, staging, staged)
            raise
        shutil.rmtree(staging, ignore_errors=True)
        for name in staged:
            _prune_empty_folders(knowledge, (knowledge / name).parent)
    report.files_deleted = staged
    removed_ids = {indexed[n].get("doc_id") for n in names}
    remaining = load_documents(
        [knowledge],
        max_file_mb=settings.max_file_mb,
        max_file_chars=settings.max_file_chars,
        max_unpacked_mb=settings.max_unpacked_mb,
    )
    report.duplicates_left = sorted(d.source for d in remaining.documents if d.doc_id in removed_ids)
    report.total_chunks = len(keep)
    report.total_documents = len(indexed) - len(gone)
    return report


def _stage(knowledge: Path, staging: Path, names: Sequence[str]) -> list[str]:
    """Move the named files that exist into ``staging`` (same folder tree, so one rename each)."""
    staged: list[str] = []
    for name in names:
        path = knowledge / name
        if not (path.is_file() or path.is_symlink()):
            continue  # already gone from the folder: only its chunks are left to remove
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        staged.append(name)
    return staged


def _unstage(knowledge: Path, staging: Path, staged: Sequence[str]) -> None:
    for name in staged:
        os.replace(staging / name, knowledge / name)
    shutil.rmtree(staging, ignore_errors=True)


def _prune_empty_folders(knowledge: Path, folder: Path) -> None:
    """Remove folders the removal left empty, up to (not including) the knowledge folder."""
    while folder != knowledge and folder.is_relative_to(knowledge):
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): stop
            return
        folder = folder.parent
