"""Incremental index builds: re-embed only what changed, keyed by content hash.

A source's identity is the hash of its decoded text (``doc_id``), not its file name, so

* an unchanged file is reused as is (its chunks and vectors are copied from the current index);
* a renamed or duplicated file adds nothing (the duplicate is reported as skipped);
* an edited file is re-chunked and re-embedded; a deleted file's chunks are dropped.

A different embedder or different chunking parameters make every stored vector stale, so the build
then re-embeds everything (and says why) — the build itself is the fix for a mismatch.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from config import Settings
from indexing.chunking import chunk_document, chunking_params
from indexing.documents import (
    Limits,
    LoadResult,
    SkippedFile,
    SourceDocument,
    iter_files,
    load_documents,
    load_file,
)
from indexing.embedders import Embedder
from indexing.manifest import BuildLocked, IndexLoadError, IndexMismatchError, now_iso, read_manifest
from indexing.store import VectorIndex, embed_chunks, load_index, remove_stale_temp_dirs
from indexing.types import Chunk
from indexing.views_choice import decide_views
from textkit.untrusted import clean_passage


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """One line of the ingest report: every file found gets one, indexed or not."""

    source: str
    status: str  # indexed | skipped | removed
    reason: str  # new | changed | unchanged (indexed); SkippedFile.reason (skipped); gone (removed)
    detail: str


def format_outcomes(outcomes: Sequence[FileOutcome]) -> list[str]:
    """An aligned table, one file a line, for the terminal."""
    if not outcomes:
        return []
    width = min(max(len(o.source) for o in outcomes), 48)
    return [f"  {o.status:8} {o.reason:14} {o.source:{width}}  {o.detail}" for o in outcomes]


@dataclass
class BuildReport:
    index_dir: Path
    embedder_id: str
    total_chunks: int = 0
    added_chunks: int = 0  # newly embedded
    reused_chunks: int = 0  # copied from the previous index without embedding
    removed_chunks: int = 0
    new_sources: list[str] = field(default_factory=list)
    changed_sources: list[str] = field(default_factory=list)
    unchanged_sources: list[str] = field(default_factory=list)
    removed_sources: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    files: list[FileOutcome] = field(default_factory=list)  # the ingest report: every file, sorted
    full_rebuild_reason: str | None = None
    written: bool = False  # False when nothing changed: the index on disk was left untouched
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"index: {self.index_dir}  (embedder {self.embedder_id})",
            f"chunks: {self.total_chunks} total, {self.added_chunks} embedded, {self.reused_chunks} reused, "
            f"{self.removed_chunks} removed" + ("" if self.written else "  — up to date, nothing written"),
            f"sources: {len(self.new_sources)} new, {len(self.changed_sources)} changed, "
            f"{len(self.unchanged_sources)} unchanged, {len(self.removed_sources)} removed",
        ]
        if self.full_rebuild_reason:
            lines.append(f"full rebuild: {self.full_rebuild_reason}")
        if self.files:
            indexed = sum(o.status == "indexed" for o in self.files)
            lines.append(f"files: {indexed} indexed, {len(self.skipped)} skipped")
            lines.extend(format_outcomes(self.files))
        lines.append(f"took {self.seconds:.1f} s")
        return "\n".join(lines)


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time per index directory (two builds would race on the swap)."""
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    with (index_dir.parent / f".{index_dir.name}.lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLocked(f"another build is writing {index_dir}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# `python -m indexing remove` moves a document here (inside the knowledge folder: one rename, same disk)
# before the index drops its chunks; a hidden folder, so no build reads it (indexing/manage.py).
STAGED_REMOVALS_PREFIX = ".removing-"


def discard_staged_removals(knowledge_dir: Path) -> None:
    """Delete what a killed remove left staged: those removals were decided (call under the build lock)."""
    if knowledge_dir.is_dir():
        for staged in knowledge_dir.glob(f"{STAGED_REMOVALS_PREFIX}*"):
            shutil.rmtree(staged, ignore_errors=True)


def _previous(index_dir: Path, embedder: Embedder, params: dict, rebuild: bool) -> tuple[Any, str | None]:
    """The current index when its vectors can be reused, else (None, why everything is re-embedded)."""
    if rebuild:
        return None, "requested (--rebuild)"
    if not index_dir.exists() and not index_dir.with_name(index_dir.name + ".prev").exists():
        return None, None  # first build
    try:
        old = load_index(index_dir, embedder_id=embedder.model_id, dim=embedder.dim)
    except IndexMismatchError:  # a new embedder means new vectors: this build is the fix
        try:
            built = read_manifest(index_dir)
            was = f"{built.get('embedder_id')!r}, dim {built.get('dim')}"
        except IndexLoadError:
            was = "another embedder"
        return None, f"the embedder changed ({was} -> {embedder.model_id!r}, dim {embedder.dim})"
    except IndexLoadError as exc:
        return None, f"the current index is unreadable ({exc})"
    if old.manifest.get("chunking") != params:
        return None, f"chunking changed ({old.manifest.get('chunking')} -> {params})"
    return old, None


def build_index(
    settings: Settings,
    paths: Sequence[Path | str] | None = None,
    *,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: bool = True,
) -> BuildReport:
    """Bring settings.index_dir in line with the documents under ``paths`` (default: the knowledge folder)."""
    started = time.perf_counter()
    index_dir = settings.index_dir
    if embedder is None:
        from indexing.embedders import make_embedder

        embedder = make_embedder(settings)
    params = chunking_params(settings.chunk_size, settings.chunk_overlap)
    report = BuildReport(index_dir=index_dir, embedder_id=embedder.model_id)

    with build_lock(index_dir):
        remove_stale_temp_dirs(index_dir)  # a killed build's leftovers, even when nothing is written now
        discard_staged_removals(settings.knowledge_dir)  # a killed remove's file: its removal was decided
        old, report.full_rebuild_reason = _previous(index_dir, embedder, params, rebuild)
        old_sources: dict[str, str] = {}  # source -> doc_id in the current index
        old_by_doc: dict[str, list[int]] = {}  # doc_id -> row numbers in the current index
        if old is not None:
            old_sources = {s: info["doc_id"] for s, info in old.manifest.get("sources", {}).items()}
            for row, chunk in enumerate(old.chunks):
                old_by_doc.setdefault(chunk.doc_id, []).append(row)
        loaded: LoadResult = load_documents(
            [Path(p) for p in (paths or [settings.knowledge_dir])],
            max_file_mb=settings.max_file_mb,
            max_file_chars=settings.max_file_chars,
            max_unpacked_mb=settings.max_unpacked_mb,
            prefer=old_sources,
        )
        report.skipped = loaded.skipped
        old_vectors = old.vectors() if old is not None else None

        plan: list[tuple[SourceDocument, list[Chunk], np.ndarray | None]] = []
        to_embed: list[Chunk] = []
        bar = tqdm(
            loaded.documents, desc="chunking", unit="doc", disable=not progress or not loaded.documents
        )
        for doc in bar:
            rows = old_by_doc.get(doc.doc_id)
            if rows is not None and old_vectors is not None:
                # Same content: reuse. Only the name can differ (a rename), which is metadata, not a vector.
                chunks = [dataclasses.replace(old.chunks[r], source=doc.source) for r in rows]
                plan.append((doc, chunks, old_vectors[rows]))
                report.reused_chunks += len(chunks)
                kind = report.unchanged_sources if old_sources.get(doc.source) == doc.doc_id else None
            else:
                chunks = chunk_document(doc, settings.chunk_size, settings.chunk_overlap)
                plan.append((doc, chunks, None))
                to_embed.extend(chunks)
                report.added_chunks += len(chunks)
                kind = report.changed_sources if doc.source in old_sources else None
            (kind if kind is not None else report.new_sources).append(doc.source)
        current = {doc.source for doc in loaded.documents}
        kept_docs = {doc.doc_id for doc in loaded.documents}
        report.removed_sources = sorted(s for s in old_sources if s not in current)
        if old is not None:
            report.removed_chunks = sum(1 for c in old.chunks if c.doc_id not in kept_docs)
        report.files = _outcomes(report, plan)

        nothing_changed = (
            old is not None
            and not to_embed
            and not report.removed_sources
            and not report.new_sources
            and old.path == index_dir  # not a fallback to index.prev: then index/ needs rewriting
        )
        if nothing_changed:
            report.total_chunks = len(old.chunks)
            report.seconds = time.perf_counter() - started
            return report

        new_vectors = embed_chunks(
            to_embed, embedder, batch_size=settings.embed_batch_size, progress=progress
        )
        all_chunks: list[Chunk] = []
        parts: list[np.ndarray] = []
        cursor = 0
        for _doc, chunks, vectors in plan:
            all_chunks.extend(chunks)
            if vectors is None:
                vectors = new_vectors[cursor : cursor + len(chunks)]
                cursor += len(chunks)
            parts.append(vectors)
        matrix = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
        manifest = {
            "chunking": params,
            "sources": {
                doc.source: {
                    "doc_id": doc.doc_id,
                    "chunks": len(chunks),
                    "title": doc.title,
                    "lang": doc.lang,
                    "format": doc.format,
                    "encoding": doc.encoding,
                    "origin": doc.origin,
                    "chars": len(doc.text),
                }
                for doc, chunks, _ in plan
            },
            "skipped": [dataclasses.asdict(s) for s in loaded.skipped],
            "built_at": now_iso(),
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        index = VectorIndex.from_vectors(all_chunks, matrix, embedder.model_id, manifest=manifest)
        if progress:  # the one slow step without a progress bar; tests/indexing/test_faults.py waits for it
            print(f"saving {len(all_chunks)} chunks to {index_dir} ...", file=sys.stderr, flush=True)
        index.save(index_dir, manifest)
        report.total_chunks = len(all_chunks)
        report.written = True
    report.seconds = time.perf_counter() - started
    return report


def _outcomes(
    report: BuildReport, plan: Sequence[tuple[SourceDocument, list[Chunk], np.ndarray | None]]
) -> list[FileOutcome]:
    kinds = {
        **{s: "new" for s in report.new_sources},
        **{s: "changed" for s in report.changed_sources},
        **{s: "unchanged" for s in report.unchanged_sources},
    }
    outcomes = [
        FileOutcome(
            doc.source,
            "indexed",
            kinds[doc.source],
            f"{len(chunks)} chunk{'s' if len(chunks) != 1 else ''} · {doc.format}"
            + (f" · {doc.encoding}" if doc.encoding else ""),
        )
        for doc, chunks, _ in plan
    ]
    outcomes += [FileOutcome(s.source, "skipped", s.reason, s.detail) for s in report.skipped]
    outcomes += [FileOutcome(s, "removed", "gone", "no longer in the folder") for s in report.removed_sources]
    return sorted(outcomes, key=lambda o: o.source)


# --- `python -m indexing add` -------------------------------------------------------------------------
@dataclass
class AddReport:
    copied: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    refused: list[SkippedFile] = field(default_factory=list)

    def outcomes(self) -> list[FileOutcome]:
        """One line per file given (or found in a given folder), for the terminal."""
        return [
            *(FileOutcome(n, "added", "copied", "into the knowledge folder") for n in self.copied),
            *(
                FileOutcome(n, "present", "same_content", "already in the knowledge folder")
                for n in self.already_present
            ),
            *(FileOutcome(r.source, "refused", r.reason, r.detail) for r in self.refused),
        ]


def add_documents(settings: Settings, paths: Sequence[Path | str]) -> AddReport:
    """Copy files (or folders of them) into the knowledge folder, after checking each one loads.

    Copying — rather than indexing files where they lie — keeps the knowledge folder the single source
    of truth: a later ``build`` (or ``make run`` on another machine) sees the same corpus, and deleting
    the original does not silently drop it from the index. A file that would be skipped is refused
    here, with the reason, and nothing is copied for it; an existing file is never overwritten.
    """
    knowledge = settings.knowledge_dir
    knowledge.mkdir(parents=True, exist_ok=True)
    report = AddReport()
    limits = Limits.from_settings(settings)
    for given in map(Path, paths):
        if not given.exists():
            report.refused.append(SkippedFile(str(given), "unreadable", "no such file or folder"))
            continue
        # The real name: "notes/.." or "." must not become a path component of the target.
        folder_name = given.resolve().name
        for file, root in iter_files([given]):
            # A folder keeps its name and inner layout; a single file lands at the top level.
            target = (
                knowledge / folder_name / file.relative_to(root)
                if root is not None
                else knowledge / file.name
            )
            shown = os.path.normpath(file)  # "notes/sub/../a.md" reads as "notes/a.md"
            if not folder_name or not target.resolve().is_relative_to(knowledge.resolve()):
                # Never write outside the knowledge folder (a name with ../, a symlinked subfolder).
                report.refused.append(
                    SkippedFile(shown, "outside_corpus", "its target would lie outside the knowledge folder")
                )
                continue
            name = target.relative_to(knowledge).as_posix()
            try:
                # root: inside a given folder, a symlink pointing out of it is refused (it could copy
                # anything on this machine into the knowledge base); a file named on its own is the
                # user's explicit choice.
                doc = load_file(file, name, root=root, limits=limits)
            except Exception as exc:  # _Skip carries reason/detail; anything else is unreadable
                reason = getattr(exc, "reason", "unreadable")
                report.refused.append(SkippedFile(shown, reason, getattr(exc, "detail", str(exc))))
                continue
            if target.exists():
                try:
                    same = load_file(target, name, limits=limits).doc_id == doc.doc_id
                except Exception:
                    same = False
                if same:
                    report.already_present.append(name)
                else:
                    report.refused.append(
                        SkippedFile(
                            shown,
                            "name_taken",
                            f"{name} already exists in the knowledge folder with other content; rename the file",
                        )
                    )
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
            report.copied.append(name)
    return report


# --- `python -m indexing status` ----------------------------------------------------------------------
def index_status(settings: Settings) -> dict[str, Any]:
    """What the index holds and whether the knowledge folder has changed since (no embedder is loaded)."""
    index_dir = settings.index_dir
    status: dict[str, Any] = {"index_dir": str(index_dir), "knowledge_dir": str(settings.knowledge_dir)}
    try:
        manifest = read_manifest(index_dir)
    except IndexLoadError as exc:
        status["error"] = str(exc)
        manifest = {}
    sources = manifest.get("sources", {})
    status.update(
        embedder_id=manifest.get("embedder_id"),
        dim=manifest.get("dim"),
        count=manifest.get("count"),
        built_at=manifest.get("built_at"),
        chunking=manifest.get("chunking"),
        sources={s: info.get("chunks") for s, info in sorted(sources.items())},
        skipped_at_build=manifest.get("skipped", []),
    )
    # What the advisor will decide about its bilingual views for this index (the factory decides the same
    # from the loaded chunks; each chunk has its document's language, which the manifest keeps per source).
    languages: Counter[str] = Counter()
    for info in sources.values():
        languages[info.get("lang", "")] += int(info.get("chunks") or 0)
    status["bilingual_views"] = decide_views(settings.bilingual_views, languages).as_dict()
    loaded = load_documents(
        [settings.knowledge_dir],
        max_file_mb=settings.max_file_mb,
        max_file_chars=settings.max_file_chars,
        max_unpacked_mb=settings.max_unpacked_mb,
    )
    on_disk = {d.source: d.doc_id for d in loaded.documents}
    # What the advisor cuts from these documents' passages before a model reads them (textkit/untrusted.py):
    # hidden text and instructions addressed to an AI reader, so an incubator sees what its files carry.
    status["cut_for_the_model"] = {
        d.source: list(cut.removed) for d in loaded.documents if (cut := clean_passage(d.text)).removed
    }
    indexed = {s: info.get("doc_id") for s, info in sources.items()}
    status["pending"] = {
        "new": sorted(s for s in on_disk if s not in indexed),
        "changed": sorted(s for s in on_disk if s in indexed and indexed[s] != on_disk[s]),
        "removed": sorted(s for s in indexed if s not in on_disk),
    }
    return status
