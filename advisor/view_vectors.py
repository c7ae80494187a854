"""Vectors of an index view (advisor/bilingual.py), embedded once and kept under the data folder.

Embedding the playbook's English view costs seconds to a minute on two cores, on every start, and an
upload makes the advisor again: only the texts that changed should be embedded. So the vectors are kept in
one `.npy` file beside a manifest that names what each row was made from (the sha256 of the embedded text)
and with which embedder, and the file's own sha256, in the manner of indexing/store.py's index manifest:

* a row whose text is no longer in the view is dropped; a text with no row is embedded (a new rendering,
  an added document); another embedder or format makes every row stale;
* a vectors file whose checksum, shape or values differ from its manifest is corrupt: never loaded, every
  row embedded again and the files rewritten;
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
from indexing import Chunk, Embedder, search_text
from indexing.store import embed_chunks

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what is embedded for a chunk or the file layout changes
VECTORS_FILE = "vectors.npy"
MANIFEST_FILE = "vectors.json"


def text_key(chunk: Chunk) -> str:
    """What one row depends on besides the embedder: the text embedded for the chunk."""
    return hashlib.sha256(search_text(chunk).encode("utf-8")).hexdigest()


def cached_vectors(
    folder: Path, chunks: Sequence[Chunk], embedder: Embedder, *, batch_size: int
) -> np.ndarray:
    """The passage vectors of `chunks` ((len, dim) float32): the rows kept in `folder` for these texts and
    this embedder when the files are intact, the others embedded now; the files then hold exactly these."""
    folder = Path(folder)
    keys = [text_key(c) for c in chunks]
    kept = _read(folder, embedder.model_id, embedder.dim)
    todo = [i for i, key in enumerate(keys) if key not in kept]
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        if key in kept:
            vectors[i] = kept[key]
    if todo:
        vectors[todo] = embed_chunks([chunks[i] for i in todo], embedder, batch_size=batch_size)
    if todo or set(kept) != set(keys):
        _write(folder, embedder.model_id, keys, vectors)
    return vectors


def _read(folder: Path, embedder_id: str, dim: int) -> dict[str, np.ndarray]:
    """text key -> stored row, for the rows made by `embedder_id` in intact files; {} otherwise."""
    manifest_path, vectors_path = folder / MANIFEST_FILE, folder / VECTORS_FILE
    try:
        manifest: Any = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("view vectors manifest %s is unreadable (%s): embedding again", manifest_path, exc)
        return {}
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return {}
    if manifest.get("embedder") != embedder_id:
        return {}  # stale: every row was made by another embedder
    keys = manifest.get("texts")
    try:
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ValueError("its manifest lists no texts")
        if file_sha256(vectors_path) != manifest.get("sha256"):
            raise ValueError("its checksum differs from the manifest")
        vectors = np.load(vectors_path, allow_pickle=False)
        shape = (len(keys), dim)
        if vectors.shape != shape or vectors.dtype != np.float32 or not np.isfinite(vectors).all():
            raise ValueError(f"shape {vectors.shape} {vectors.dtype}, expected {shape} float32, finite")
    except (OSError, ValueError) as exc:
        log.warning("view vectors %s are corrupt (%s): embedding again", vectors_path, exc)
        return {}
    return dict(zip(keys, vectors, strict=True))


def _write(folder: Path, embedder_id: str, keys: Sequence[str], vectors: np.ndarray) -> None:
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
        {"format": FORMAT, "embedder": embedder_id, "texts": list(keys), "sha256": file_sha256(target)},
    )
