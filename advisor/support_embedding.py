"""Support as semantic closeness: the best cosine between the claim and a passage window.

A paraphrase that keeps the meaning scores high even when it shares few words, which the lexical checker
misses; but an embedding barely moves when one number or name changes, so on its own it cannot see a
contradiction. It is a component of the ensemble and a fallback that needs only the embedder the index
already loads (multilingual-e5-small, so a Chinese passage can support an English sentence).

Both sides are embedded with the "query" prefix: multilingual-e5 recommends it for symmetric
similarity tasks, and claim-vs-sentence is one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from advisor.support import CheckerParts, check_inputs, sentence_windows, sigmoid
from indexing.embedders import Embedder
from textkit import detect_language

# e5 cosines crowd into 0.7..1.0; this logistic puts P = 0.5 at the cosine where grounded and
# ungrounded claims of the dev sets cross over, and spreads the crowded range over 0..1.
COSINE_CENTER = 0.88
COSINE_SLOPE = 40.0
# Cross-language pairs score lower for the same meaning: English renderings of five playbook sentences
# reached 0.86-0.90 against their Chinese source (wrong ones 0.83-0.88), where a same-language paraphrase
# reaches ~0.9+. A small sample, so a small shift: the centre moves down by this much across languages.
CROSS_LANGUAGE_SHIFT = 0.015
CACHE_SIZE = 4096  # window embeddings kept: one answer re-checks the same cited passages per sentence


class EmbeddingChecker:
    name = "embedding"

    def __init__(self, embedder: Embedder, center: float = COSINE_CENTER, slope: float = COSINE_SLOPE):
        self.embedder = embedder
        self.center = center
        self.slope = slope
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @classmethod
    def from_parts(cls, parts: CheckerParts) -> EmbeddingChecker:
        return cls(parts.embedder())

    def describe(self) -> dict:
        return {"embedder": self.embedder.model_id, "center": self.center, "slope": self.slope}

    def similarity(self, claim: str, passages: Sequence[str]) -> float:
        """The highest cosine between the claim and any window of one or two passage sentences."""
        claim, passages = check_inputs(claim, passages)
        windows = [w for p in passages for w in (sentence_windows(p) or [p])]
        if not claim or not windows:
            return 0.0
        claim_vec = self.embedder.embed([claim], kind="query")[0]
        return float(np.max(self._window_vectors(windows) @ claim_vec))

    def score(self, claim: str, passages: Sequence[str]) -> float:
        claim, passages = check_inputs(claim, passages)
        if not passages:
            return 0.0
        if not claim:
            return 1.0
        center = self.center
        if detect_language(claim) != detect_language("\n".join(passages)):
            center -= CROSS_LANGUAGE_SHIFT
        return sigmoid(self.slope * (self.similarity(claim, passages) - center))

    def _window_vectors(self, windows: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(w for w in windows if w not in self._cache))
        if missing:
            for text, vec in zip(missing, self.embedder.embed(missing, kind="query"), strict=True):
                self._cache[text] = vec
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        for w in windows:
            self._cache.move_to_end(w)
        return np.stack([self._cache[w] for w in windows])
