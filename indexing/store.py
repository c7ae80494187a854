"""The FAISS vector index and its on-disk directory.

Exact inner product (IndexFlatIP) on L2-normalised vectors = cosine similarity with no approximation:
the knowledge base is small (hundreds to tens of thousands of chunks), so exact search costs
milliseconds and never loses the one passage that answers a question.

Directory layout (all three files are written together and swapped in atomically)::

    index/            index.faiss   chunks.jsonl   manifest.json
    index.prev/       the previous good index, used when index/ is missing or corrupt
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm import tqdm

from hostkit import file_sha256
from indexing.embedders import Embedder
from indexing.manifest import (
    CHUNKS_FILE,
    FAISS_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    REBUILD_HINT,
    IndexLoadError,
    IndexMismatchError,
    check_compatible,
    library_versions,
    now_iso,
    read_manifest,
    write_manifest,
)
from indexing.types import SECTION_SEPARATOR, Chunk, Hit

log = logging.getLogger(__name__)

PREV_SUFFIX = ".prev"
_TMP_MARK = ".tmp-"


def passage_text(chunk: Chunk) -> str:
    """What gets embedded for a chunk: its heading path, then its text.

    The path carries the topic ("5.3 AI大模型定价策略") that the body text often only implies. Measured on
    24 zh/en questions with a gold subsection (``python -m bench index --chunk-sizes 200,300,500,800``):
    with the path hit@3 is 1.00 at every size, without it 0.92-0.96.
    """
    return f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text


def search_text(chunk: Chunk) -> str:
    """What gets embedded and BM25-indexed for a chunk: its document's title, its heading path, its text.

    A contextual chunk header. The section path leaves the title out (it is the same for every chunk),
    so only the text before a document's first heading carried it, and that short intro then matched
    every question about the document better than the section that answered it ("本指南由孵化器人力资源
    导师编写" ranked first for questions on interviews, referrals, demo day; evals/README.md, "Added
    documents, heading level"). With the title on every chunk no section has it to itself, and the
    section's own words decide. The reader reads `passage_text`, without it; the grounding gate reads
    this (a sentence may name what the title names).

    Only a path of one heading gets the title: a deeper path already has its context in the headings above
    its section (the playbook's "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › …"), and there the title only
    adds the same words to every chunk: the playbook's ("AI大模型创业：如何实现未来盈利？") on all of them
    lowered English playbook MRR with no views and no translation from 0.881 to 0.848.
    """
    header = chunk.section
    if chunk.title and SECTION_SEPARATOR not in chunk.section and chunk.section != chunk.title:
        header = f"{chunk.title}{SECTION_SEPARATOR}{chunk.section}" if chunk.section else chunk.title
    return f"{header}\n{chunk.text}" if header else chunk.text


def gpu_available() -> bool:
    """True when this FAISS build has GPU support and sees at least one CUDA device."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


class VectorIndex:
    """Chunks plus their vectors, searchable by inner product. Plain Chunk/Hit types cross the boundary."""

    def __init__(
        self,
        chunks: Sequence[Chunk],
        cpu_index: faiss.Index,
        embedder_id: str,
        manifest: dict[str, Any] | None = None,
        device: str = "cpu",
        path: Path | None = None,
    ):
        if cpu_index.ntotal != len(chunks):
            raise ValueError(f"{cpu_index.ntotal} vectors for {len(chunks)} chunks: they must match 1:1")
        self.chunks: list[Chunk] = list(chunks)
        self.embedder_id = embedder_id
        self.dim: int = cpu_index.d
        self.manifest: dict[str, Any] = dict(manifest or {})
        self.path = path
        self.fell_back_from: str | None = None  # set when load_index used index.prev instead
        self._cpu_index = cpu_index
        self._search_index, self.device, self._gpu_resources = _place(cpu_index, device)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_vectors(
        cls,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        embedder_id: str,
        manifest: dict[str, Any] | None = None,
        device: str = "cpu",
    ) -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
            raise ValueError(f"vectors must be (len(chunks)={len(chunks)}, dim); got {vectors.shape}")
        cpu_index = faiss.IndexFlatIP(vectors.shape[1])
        if len(vectors):
            cpu_index.add(vectors)
        return cls(chunks, cpu_index, embedder_id, manifest=manifest, device=device)

    @classmethod
    def from_chunks(
        cls,
        chunks: Sequence[Chunk],
        embedder: Embedder,
        *,
        batch_size: int = 32,
        device: str = "cpu",
        progress: bool = False,
    ) -> VectorIndex:
        """Embed chunks (as passages) and build an in-memory index — tests and small corpora."""
        vectors = embed_chunks(chunks, embedder, batch_size=batch_size, progress=progress)
        return cls.from_vectors(chunks, vectors, embedder.model_id, device=device)

    # --- queries ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.chunks)

    def search(self, query_vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-k chunks for each query vector (rows of an (n, dim) array, or one (dim,) vector)."""
        queries = np.asarray(query_vectors, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(
                f"query vectors must have dimension {self.dim} (index built with {self.embedder_id!r}); "
                f"got shape {queries.shape}"
            )
        k = min(int(k), len(self.chunks))
        if k <= 0:
            return [[] for _ in range(queries.shape[0])]
        scores, ids = self._search_index.search(np.ascontiguousarray(queries), k)
        return [
            [
                Hit(chunk=self.chunks[i], score=float(s), rank=rank)
                for rank, (i, s) in enumerate(
                    ((i, s) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0), 1
                )
            ]
            for row_ids, row_scores in zip(ids, scores, strict=True)
        ]

    def vectors(self) -> np.ndarray:
        """All stored vectors, (len, dim), in chunk order — reused by incremental builds."""
        if not len(self.chunks):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._cpu_index.reconstruct_n(0, len(self.chunks))

    def counts_by_source(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for chunk in self.chunks:
            counts[chunk.source] = counts.get(chunk.source, 0) + 1
        return counts

    # --- persistence --------------------------------------------------------------------------
    def save(self, index_dir: Path, manifest: dict[str, Any] | None = None) -> None:
        """Write atomically to index_dir, keeping the current one as index_dir.prev."""
        save_index(self, Path(index_dir), manifest if manifest is not None else self.manifest)


def embed_chunks(
    chunks: Sequence[Chunk], embedder: Embedder, *, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    out = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    bar = tqdm(total=len(chunks), desc="embedding", unit="chunk", disable=not progress or not chunks)
    for lo in range(0, len(chunks), batch_size):
        batch = chunks[lo : lo + batch_size]
        vecs = np.asarray(embedder.embed([search_text(c) for c in batch], kind="passage"), dtype=np.float32)
        if vecs.shape != (len(batch), embedder.dim):
            raise ValueError(
                f"embedder {embedder.model_id!r} returned {vecs.shape}, expected ({len(batch)}, "
                f"{embedder.dim})"
            )
        out[lo : lo + len(batch)] = vecs
        bar.update(len(batch))
    bar.close()
    return out


def _place(cpu_index: faiss.Index, device: str) -> tuple[faiss.Index, str, Any]:
    """Clone to the GPU when asked for (cuda/auto) and possible; exact flat search gives the same results."""
    if device not in ("cuda", "auto") or not gpu_available():
        if device == "cuda":
            log.warning("device=cuda but FAISS has no GPU support or sees no GPU: searching on the CPU")
        return cpu_index, "cpu", None
    resources = faiss.StandardGpuResources()  # kept referenced: the GPU index is only valid while it lives
    return faiss.index_cpu_to_gpu(resources, 0, cpu_index), "cuda", resources


# --- on-disk format -------------------------------------------------------------------------------
def _write_chunks(path: Path, chunks: Sequence[Chunk]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(json.dumps(dataclasses.asdict(chunk), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_chunks(path: Path) -> list[Chunk]:
    try:
        # Split on "\n" only: JSON escapes it inside strings, but not U+2028 and the like, which
        # str.splitlines() would also split on.
        lines = path.read_bytes().decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexLoadError(f"{path} is unreadable ({exc}): {REBUILD_HINT}.") from exc
    chunks = []
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    for line_no, line in enumerate(lines, 1):
        try:
            chunks.append(Chunk(**json.loads(line)))
        except (ValueError, TypeError) as exc:  # bad JSON, or not a chunk's fields
            raise IndexLoadError(f"{path}:{line_no} is not a valid chunk ({exc}): {REBUILD_HINT}.") from exc
    return chunks


def _fsync_file(path: Path) -> None:
    # FAISS and write_text leave data in the page cache: a power cut after the swap could otherwise
    # leave a renamed directory whose files are empty.
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    # Make the renames themselves durable; not every platform lets a directory be opened.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_dirs(index_dir: Path) -> None:
    """Delete half-written temp folders that a killed save left next to index_dir (call under the lock)."""
    for stale in index_dir.parent.glob(f".{index_dir.name}{_TMP_MARK}*"):
        shutil.rmtree(stale, ignore_errors=True)


def save_index(index: VectorIndex, index_dir: Path, manifest: dict[str, Any]) -> None:
    """Build into a temp dir next to index_dir, verify it loads, then swap it in by renaming.

    A crash at any point leaves either the old index/ or (between the two renames) index.prev/, which
    load_index falls back to — never a half-written index that loads.
    """
    parent = index_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_dirs(index_dir)
    tmp = parent / f".{index_dir.name}{_TMP_MARK}{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        faiss.write_index(index._cpu_index, str(tmp / FAISS_FILE))
        _write_chunks(tmp / CHUNKS_FILE, index.chunks)
        full = {
            **manifest,
            "format": FORMAT_VERSION,
            "embedder_id": index.embedder_id,
            "dim": index.dim,
            "count": len(index.chunks),
            "built_at": manifest.get("built_at") or now_iso(),
            "library_versions": library_versions(),
            "files": {name: file_sha256(tmp / name) for name in (FAISS_FILE, CHUNKS_FILE)},
        }
        write_manifest(tmp, full)
        for name in (FAISS_FILE, MANIFEST_FILE):  # chunks.jsonl was synced as it was written
            _fsync_file(tmp / name)
        _fsync_dir(tmp)
        _load_dir(tmp, embedder_id=index.embedder_id, dim=index.dim, device="cpu")  # verify before swap
        _swap_in(tmp, index_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    index.manifest, index.path = full, index_dir


def _swap_in(tmp: Path, index_dir: Path) -> None:
    prev = index_dir.with_name(index_dir.name + PREV_SUFFIX)
    if index_dir.exists():
        if prev.exists():
            shutil.rmtree(prev)
        os.replace(index_dir, prev)
    os.replace(tmp, index_dir)
    _fsync_dir(index_dir.parent)


def _load_dir(index_dir: Path, *, embedder_id: str | None, dim: int | None, device: str) -> VectorIndex:
    manifest = read_manifest(index_dir)
    check_compatible(manifest, embedder_id, dim, index_dir)
    for name, expected in (manifest.get("files") or {}).items():
        path = index_dir / name
        if not path.is_file():
            raise IndexLoadError(f"Index file {path} is missing: {REBUILD_HINT}.")
        if file_sha256(path) != expected:
            raise IndexLoadError(
                f"Index file {path} is corrupt (checksum differs from the manifest): {REBUILD_HINT}."
            )
    try:
        cpu_index = faiss.read_index(str(index_dir / FAISS_FILE))
    except RuntimeError as exc:
        raise IndexLoadError(f"FAISS cannot read {index_dir / FAISS_FILE} ({exc}): {REBUILD_HINT}.") from exc
    chunks = _read_chunks(index_dir / CHUNKS_FILE)
    if not (cpu_index.ntotal == len(chunks) == manifest.get("count")):
        raise IndexLoadError(
            f"Index at {index_dir} is inconsistent: {cpu_index.ntotal} vectors, {len(chunks)} chunks, "
            f"manifest says {manifest.get('count')}: {REBUILD_HINT}."
        )
    if cpu_index.d != manifest.get("dim"):
        raise IndexLoadError(
            f"Index at {index_dir} stores dimension {cpu_index.d}, manifest says "
            f"{manifest.get('dim')}: {REBUILD_HINT}."
        )
    index = VectorIndex(chunks, cpu_index, manifest["embedder_id"], manifest=manifest, device=device)
    index.path = index_dir
    return index


def load_index(
    index_dir: Path | str,
    *,
    embedder: Embedder | None = None,
    embedder_id: str | None = None,
    dim: int | None = None,
    device: str = "cpu",
    fallback: bool = True,
) -> VectorIndex:
    """Load and verify an index directory.

    Pass the configured ``embedder`` (or its id/dim) to have the manifest checked against it: a mismatch
    raises IndexMismatchError naming the fix. A missing or corrupt index falls back to ``index.prev``
    (logged, and recorded in ``.fell_back_from``) when that one is good; otherwise IndexLoadError.
    """
    index_dir = Path(index_dir)
    if embedder is not None:
        embedder_id, dim = embedder.model_id, embedder.dim
    try:
        return _load_dir(index_dir, embedder_id=embedder_id, dim=dim, device=device)
    except IndexMismatchError:
        raise
    except IndexLoadError as primary:
        prev = index_dir.with_name(index_dir.name + PREV_SUFFIX)
        if not fallback or not prev.is_dir():
            raise
        try:
            index = _load_dir(prev, embedder_id=embedder_id, dim=dim, device=device)
        except IndexLoadError:
            raise primary from None
        log.warning("%s — using the previous good index at %s", primary, prev)
        index.fell_back_from = str(primary)
        return index
