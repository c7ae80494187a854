"""Files as caches and manifests need them: a content digest that says a file is unchanged, and a JSON
write that is never seen half done."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

_BLOCK = 8 * 2**20  # read in blocks: model files are gigabytes


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: object, *, indent: int = 1) -> None:
    """Write JSON so that a crash leaves the old file or the new one, never half of one (fsync, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=indent, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are read like the code beside them
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
