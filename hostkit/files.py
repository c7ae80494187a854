"""Content digests of files: what a manifest, a marker or a cache records to know a file is unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 8 * 2**20  # read in blocks: model files are gigabytes


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
