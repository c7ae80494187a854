"""The knowledge cache: every passage of the knowledge base read once per language, kept as a KV file.

On two CPU cores the model reads a prompt at ~40-70 tokens/s, so an answer's ~500-1,200 prompt tokens
kept founders waiting 5-15 s for the first word. Nearly all of those tokens are passages, and there are
only ~80 passages. So each answer language gets one "knowledge prompt": the answer prompt (system message,
passages, fixed instructions) with *every* chunk of the index as a passage, in index order, each with a
label it keeps everywhere (its position in the index, "[41]"). It is read once, and llama.cpp's KV cache
of it is saved to a file (`python -m advisor prepare`; ~10-13k tokens, 28 KiB a token).

Per answer the file is restored into the model's slot (~0.05 s) and the answer prompt is written so that
all of it but the question is a sequence of runs of the knowledge prompt in the same order: its passages
in index order with their stable labels, then the same fixed instructions. llama.cpp's `n_cache_reuse`
keeps each such run's KV, shifted to its new position, and reads only the question (~30-80 tokens).
The model's "[41]" markers are turned back into the answer's own 1..n numbering as they stream
(answer_format.Relabel), so nothing downstream knows about labels.

Reused KV is an approximation: a passage's keys and values were computed after the passages before it
in the index, not after the ones before it in this prompt (CacheBlend's "cross-attention" gap). Whether
that costs quality is measured on the full evaluation run, not assumed (bench/RESULTS.md).

A file is used only if its manifest names the same key: a hash of the knowledge prompt's text (index
chunks, prompts, canary), the model file and the llama.cpp build. Anything else changed means a different
key, so a stale file is never restored; a truncated or corrupt file fails its size or sha256 check and is
rebuilt, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from advisor.generate import Message
from advisor.prompting import LANGUAGES, answer_messages, estimate_tokens
from indexing.manifest import file_sha256
from indexing.types import Chunk, Hit

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the knowledge prompt's layout changes in a way the key would not see
_MODEL_HASH_BYTES = 16 << 20  # the GGUF header and first tensors identify a model file well enough
_MARGIN_TOKENS = 1024  # room left in the context for the answer's question and new tokens


class PrefixFiles(Protocol):
    """A generator that can save a read prompt's KV cache to a file and restore it (llama.cpp)."""

    prefix_dir: Path | None
    model_path: Path

    def save_prefix(self, messages: Sequence[Message], filename: str) -> int: ...

    def restore_prefix(self, filename: str) -> int: ...


def keeps_prefix_files(generator: Any) -> bool:
    return getattr(generator, "prefix_dir", None) is not None and hasattr(generator, "restore_prefix")


@dataclass(frozen=True)
class Arranged:
    """Passages in knowledge-prompt order with their stable labels (what the answer prompt is built from)."""

    passages: list[Hit]
    labels: list[int]


class KnowledgeCache:
    """Builds, verifies and restores the per-language KV files of the knowledge prompt."""

    def __init__(
        self,
        generator: PrefixFiles,
        chunks: Sequence[Chunk],
        *,
        context_tokens: int,
        canary: str,
    ):
        if generator.prefix_dir is None:
            raise ValueError("the generator keeps no KV files (prefix_dir is None)")
        self.generator = generator
        self.directory = Path(generator.prefix_dir)
        self.canary = canary
        # Every chunk keeps its index position as its label, cached or not, so labels never collide.
        self._label = {c.chunk_id: i for i, c in enumerate(chunks, start=1)}
        # The cached chunks: the index's first chunks whose passages fit the context (estimated on the
        # safe side); later ones (a large added document) are read per answer, after the cached ones.
        budget = context_tokens - _MARGIN_TOKENS
        self._cached: list[Hit] = []
        for chunk in chunks:
            budget -= estimate_tokens(chunk.section or "") + estimate_tokens(chunk.text) + 12
            if budget < 0:
                break
            self._cached.append(Hit(chunk=chunk, score=0.0, rank=len(self._cached) + 1))
        self._cached_ids = {h.chunk.chunk_id for h in self._cached}
        self._verified: dict[str, tuple[float, int]] = {}  # language -> (mtime, size) of the checked file
        self._keys: dict[str, str] = {}

    # --- what is cached ------------------------------------------------------------------------------
    def messages(self, language: str) -> list[Message]:
        """The knowledge prompt: the answer prompt with every cached chunk as a passage, no question."""
        return answer_messages(
            "",
            self._cached,
            language,
            "other",
            context_tokens=10**9,  # never trimmed: the chunks were chosen to fit
            max_new_tokens=1,
            canary=self.canary,
            labels=[self._label[h.chunk.chunk_id] for h in self._cached],
        )

    def key(self, language: str) -> str:
        """Changes whenever the KV file would: the prompt's text, the model file, the llama.cpp build."""
        if language not in self._keys:
            self._keys[language] = self._compute_key(language)
        return self._keys[language]

    def _compute_key(self, language: str) -> str:
        h = hashlib.sha256()
        h.update(json.dumps(self.messages(language), ensure_ascii=False).encode("utf-8"))
        h.update(_model_identity(Path(self.generator.model_path)).encode("utf-8"))
        h.update(f"format={FORMAT};llama={_package_version('xllamacpp')}".encode())
        return h.hexdigest()

    def path(self, language: str) -> Path:
        return self.directory / f"knowledge-{language}.bin"

    def _manifest_path(self, language: str) -> Path:
        return self.directory / f"knowledge-{language}.json"

    # --- build and verify ----------------------------------------------------------------------------
    def ready(self, language: str) -> bool:
        """A file for this key exists and passed its checks (sha256 once per process, then size + mtime)."""
        if not self._cached:
            return False
        path = self.path(language)
        try:
            stat = path.stat()
        except OSError:
            return False
        seen = self._verified.get(language)
        if seen is not None:
            return seen == (stat.st_mtime, stat.st_size)
        manifest = _read_json(self._manifest_path(language))
        if manifest.get("key") != self.key(language) or manifest.get("bytes") != stat.st_size:
            return False
        if file_sha256(path) != manifest.get("sha256"):
            log.warning("knowledge cache %s is corrupt (checksum differs); it will be rebuilt", path)
            return False
        self._verified[language] = (stat.st_mtime, stat.st_size)
        return True

    def ensure(self, languages: Sequence[str] = LANGUAGES, say: Callable[[str], None] | None = None) -> None:
        """Build every language's file that is missing, stale or corrupt (minutes each on 2 cores)."""
        say = say or log.info
        if not self._cached:
            say("knowledge cache: not even the first passage fits knowledge_cache_tokens; not built")
            return
        for language in languages:
            if not self.ready(language):
                self.build(language, say)

    def build(self, language: str, say: Callable[[str], None] | None = None) -> int:
        """Read the knowledge prompt and write its KV file and manifest (atomically); its token count."""
        say = say or log.info
        self._verified.pop(language, None)
        self.directory.mkdir(parents=True, exist_ok=True)
        final, manifest_path = self.path(language), self._manifest_path(language)
        manifest_path.unlink(missing_ok=True)  # no manifest, no use: a crash mid-build leaves nothing usable
        tmp_name = f".tmp-{os.getpid()}-{final.name}"
        say(f"reading the knowledge base into the model's cache ({language}, {len(self._cached)} passages)…")
        started = time.perf_counter()
        try:
            tokens = self.generator.save_prefix(self.messages(language), tmp_name)
            tmp = self.directory / tmp_name
            os.replace(tmp, final)
        finally:
            (self.directory / tmp_name).unlink(missing_ok=True)
        manifest = {
            "key": self.key(language),
            "language": language,
            "tokens": tokens,
            "passages": len(self._cached),
            "bytes": final.stat().st_size,
            "sha256": file_sha256(final),
            "seconds": round(time.perf_counter() - started, 1),
            "model": Path(self.generator.model_path).name,
        }
        tmp_manifest = manifest_path.with_name(".tmp-" + manifest_path.name)
        tmp_manifest.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        os.replace(tmp_manifest, manifest_path)
        say(f"knowledge cache ready: {final.name}, {tokens} tokens in {manifest['seconds']} s")
        return tokens

    # --- per answer ----------------------------------------------------------------------------------
    def arrange(self, passages: Sequence[Hit]) -> Arranged:
        """The passages in knowledge-prompt order (cached ones first), each with its stable label."""
        cached = sorted((h for h in passages if h.chunk.chunk_id in self._cached_ids), key=self._position)
        rest = [h for h in passages if h.chunk.chunk_id not in self._cached_ids]
        ordered = [*cached, *rest]
        # A passage that is not an index chunk (none is today) still gets a label no chunk has.
        labels = [
            self._label.get(h.chunk.chunk_id) or len(self._label) + 1 + i for i, h in enumerate(ordered)
        ]
        return Arranged(ordered, labels)

    def restore(self, language: str) -> bool:
        """Load the language's file into the model's slot; False (logged) when it cannot be used."""
        if not self.ready(language):
            return False
        try:
            self.generator.restore_prefix(self.path(language).name)
        except Exception as exc:  # the answer is still given, only without the cache
            log.warning("knowledge cache %s not restored (%s); reading the passages instead", language, exc)
            self._verified.pop(language, None)
            return False
        return True

    def _position(self, hit: Hit) -> int:
        return self._label.get(hit.chunk.chunk_id, 0)


def _model_identity(path: Path) -> str:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = hashlib.sha256(fh.read(_MODEL_HASH_BYTES)).hexdigest()
    except OSError:
        return f"{path.name}:unreadable"
    return f"{path.name}:{size}:{head}"


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
