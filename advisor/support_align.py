"""The ``align`` checker: is every word of the claim found in one place of the passage, in either language?

multilingual-e5-small's contextual token vectors from a middle layer align words across Chinese and
English (the SimAlign observation: a multilingual encoder's middle layers put a word and its translation
close, in context). For each content token of the claim we take its best cosine with the tokens of one
passage window (a sentence, or two neighbouring ones of one line, each read on its own); the claim's feature is the
mean of those best cosines in its best window. A claim whose every token finds a partner there is stated
by that window; the tokens that find none are what the passage does not say: an added reason, a swapped
name, a year the passage lacks. Judging a window, not the whole passage, is what catches a list item given
its sibling's explanation: both halves are in the passage, but not in one place.

The feature becomes P(supported) through a one-feature logistic regression fitted on the synthetic
claim/evidence pairs of the knowledge base (evals/checker_pairs.py; `python -m evals fit-align`, weights in
support_align.json), never on the labelled answer sentences that judge it. The gate's `auto` checker
combines it with overlap or the dictionary bridge (support_auto.py).

Cost: one encoder pass per window and per claim, both cached (the sentences of an answer cite the same few
passages): about 20 ms a sentence on two cores once its passages have been read.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from advisor.support import (
    CheckerParts,
    CheckerUnavailable,
    check_inputs,
    claim_text,
    sentence_windows,
    sigmoid,
)

WEIGHTS = Path(__file__).with_name("support_align.json")
# SimAlign-style: a middle layer aligns words across languages best. Measured on the 282 held-out English
# answer sentences (AUROC of the mean best cosine): layer 6 0.830, 8 0.839, 10 0.785, 12 0.791.
LAYERS = (8,)
# The mean of the claim tokens' best cosines, alone: a logistic regression over (mean, 10th percentile,
# minimum) fitted on the synthetic pairs weighted the mean negatively and ranked real answer sentences
# worse than chance (AUROC 0.54 on the 282 held-out English ones, the mean alone 0.84).
FEATURES = tuple(f"L{layer}-mean" for layer in LAYERS)
MAX_TOKENS = 512
_CACHE_SIZE = 4096  # windows and claims: the playbook's ~80 passages x 2 languages make ~1,500 windows


@dataclass(frozen=True)
class Encoded:
    """A text's content tokens: their vectors per layer (unit length)."""

    vectors: dict[int, np.ndarray]  # layer -> (tokens, dim)

    @property
    def n_tokens(self) -> int:
        return len(next(iter(self.vectors.values())))


class TokenEncoder:
    """e5's contextual token vectors at LAYERS, for content tokens only (no specials, no punctuation)."""

    def __init__(self, folder: Path):
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # e5 has no pooler; its missing-weights table is noise here
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
        self._cache: OrderedDict[str, Encoded] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, text: str) -> Encoded:
        return self.encode_many([text])[0]

    def encode_many(self, texts: Sequence[str]) -> list[Encoded]:
        """Each text's Encoded; the ones not cached are read in one padded batch."""
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            batch = self.tokenizer(
                todo,
                return_tensors="pt",
                truncation=True,
                max_length=MAX_TOKENS,
                padding=True,
                return_offsets_mapping=True,
            )
            offsets = batch.pop("offset_mapping").numpy()
            with self._torch.inference_mode():
                hidden = self.model(**batch, output_hidden_states=True).hidden_states
            mask = batch["attention_mask"].numpy()
            ids = batch["input_ids"].numpy()
            for row, text in enumerate(todo):
                keep = [
                    i
                    for i, (start, end) in enumerate(offsets[row])
                    if mask[row, i]
                    and ids[row, i] not in self.tokenizer.all_special_ids
                    and any(ch.isalnum() for ch in text[start:end])
                ]
                vectors = {}
                for layer in LAYERS:
                    v = hidden[layer][row][keep].numpy()
                    vectors[layer] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
                encoded = Encoded(vectors)
                with self._lock:
                    self._cache[text] = encoded
        with self._lock:
            out = []
            for t in texts:
                self._cache.move_to_end(t)
                out.append(self._cache[t])
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return out


def features(claim: Encoded, window: Encoded) -> list[float] | None:
    """FEATURES of the claim against one window (None: no content token in either)."""
    if not claim.n_tokens or not window.n_tokens:
        return None
    out: list[float] = []
    for layer in LAYERS:
        best = (claim.vectors[layer] @ window.vectors[layer].T).max(axis=1)
        out.append(float(best.mean()))
    return out


def windows(passage: str) -> list[str]:
    """Every sentence, and every two neighbouring sentences of one line: a list item is a fact of its own,
    so a window never joins two items (that window would pass "成本导向定价：根据用户…的价值感知" — one
    item's name with its sibling's explanation — as stated)."""
    out: list[str] = []
    for line in passage.split("\n"):
        out += sentence_windows(line, width=2)
    return list(dict.fromkeys(w for w in out if w.strip())) or [passage]


def claim_features(encoder: TokenEncoder, claim: str, passage: str) -> list[float] | None:
    """The features of the claim against its best window of the passage (by the mean alignment).

    Each window is read on its own, not cut out of the whole passage's encoding: measured on the 282
    held-out English answer sentences, AUROC 0.838 against 0.775 (a token read inside the whole passage
    carries its neighbours' meaning, so a claim's word finds a partner in the wrong sentence)."""
    texts = windows(passage)
    encoded = encoder.encode_many([claim, *texts])
    key = FEATURES.index(f"L{LAYERS[-1]}-mean")
    best: list[float] | None = None
    for window in encoded[1:]:
        f = features(encoded[0], window)
        if f is not None and (best is None or f[key] > best[key]):
            best = f
    return best


def load_weights(path: Path = WEIGHTS) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckerUnavailable(f"{path.name} is missing: fit it with `python -m evals fit-align`") from None
    except ValueError as exc:
        raise CheckerUnavailable(f"{path.name} is unreadable ({exc}): fit it again") from None
    if data.get("features") != list(FEATURES) or len(data.get("coef", [])) != len(FEATURES):
        raise CheckerUnavailable(f"{path.name} was fitted on other features: fit it again")
    return data


class AlignmentChecker:
    name = "align"

    def __init__(self, encoder: TokenEncoder, weights: dict[str, Any]):
        self.encoder = encoder
        self.coef = np.asarray(weights["coef"], dtype=float)
        self.intercept = float(weights["intercept"])
        self.mean = np.asarray(weights["mean"], dtype=float)
        self.scale = np.asarray(weights["scale"], dtype=float)

    @classmethod
    def from_parts(cls, parts: CheckerParts) -> AlignmentChecker:
        from indexing.offline_e5 import ensure_offline_e5

        weights = load_weights()
        return cls(TokenEncoder(ensure_offline_e5(parts.settings.models_dir)), weights)

    def probability(self, features: Sequence[float]) -> float:
        z = (np.asarray(features, dtype=float) - self.mean) / self.scale
        return sigmoid(float(z @ self.coef + self.intercept))

    def score(self, claim: str, passages: Sequence[str]) -> float:
        claim, passages = check_inputs(claim, passages)
        claim = claim_text(claim)
        if not claim or not passages:
            return 0.0
        scores = [0.0]
        for passage in passages:
            f = claim_features(self.encoder, claim, passage)
            if f is not None:
                scores.append(self.probability(f))
        return max(scores)
