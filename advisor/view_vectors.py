"""Vectors of an index view (advisor/bilingual.py), embedded once and kept under the data folder.

Embedding the playbook's English view costs seconds to a minute on two cores, on every start; the vectors
only change when the rendered texts or the embedder do. So they are kept in one `.npy` file beside a
manifest that names what they were made from (a digest of the embedder id and every embedded text) and
the file's own sha256, in the manner of indexing/store.py's index manifest:

* a different key (a new rendering, an added document, another embedder) means stale: embed again;
* a vectors file whose checksum, shape or values differ from the manifest is corrupt: never loaded,
  embedded again and rewritten;
* both files are written to a temporary name and renamed into place, vectors first: a crash between the
  two renames leaves a manifest that no longer matches its vectors, which is read as corrupt, not loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hostkit import file_sha256, write_json_atomic
from indexing import Chunk, Embedder, passage_text
from indexing.store import embed_chunks

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what is embedded for a chunk or the file layout changes
VECTORS_FILE = "vectors.npy"
MANIFEST_FILE = "vectors.json"


def view_key(chunks: Sequence[Chunk], embedder_id: str) -> str:
    """What the vectors of `chunks` depend on: the embedder and each embedded text, in order."""
    digest = hashlib.sha256(f"format={FORMAT}\nembedder={embedder_id}\n".encode())
    for chunk in chunks:
        text = passage_text(chunk).encode("utf-8")
        digest.update(f"{len(text)}:".encode())  # length-prefixed: no two lists of texts hash alike
        digest.update(text)
    return digest.hexdigest()


def cached_vectors(
    folder: Path, chunks: Sequence[Chunk], embedder: Embedder, *, batch_size: int
) -> np.ndarray:
    """The passage vectors of `chunks` ((len, dim) float32): read from `folder` when they were made from
    exactly these texts with this embedder and are intact, else embedded now and written there."""
    folder = Path(folder)
    key = view_key(chunks, embedder.model_id)
    vectors = _read(folder, key, (len(chunks), embedder.dim))
    if vectors is not None:
        return vectors
    vectors = embed_chunks(chunks, embedder, batch_size=batch_size)
    _write(folder, key, vectors)
    return vectors


def _read(folder: Path, key: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The stored vectors when they were made under `key` and pass every check; None otherwise."""
    manifest_path, vectors_path = folder / MANIFEST_FILE, folder / VECTORS_FILE
    try:
        manifest: Any = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("view vectors manifest %s is unreadable (%s): embedding again", manifest_path, exc)
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("key") != key:
        return None  # stale: made from other texts or another embedder
    try:
        if file_sha256(vectors_path) != manifest.get("sha256"):
            raise ValueError("its checksum differs from the manifest")
        vectors = np.load(vectors_path, allow_pickle=False)
        if vectors.shape != shape or vectors.dtype != np.float32 or not np.isfinite(vectors).all():
            raise ValueError(f"shape {vectors.shape} {vectors.dtype}, expected {shape} float32, finite")
    except (OSError, ValueError) as exc:
        log.warning("view vectors %s are corrupt (%s): embedding again", vectors_path, exc)
        return None
    return vectors


def _write(folder: Path, key: str, vectors: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / VECTORS_FILE
    tmp = folder / f".{VECTORS_FILE}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with tmp.open("wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    write_json_atomic(
        folder / MANIFEST_FILE,
        {"format": FORMAT, "key": key, "count": len(vectors), "sha256": file_sha256(target)},
    )
