"""The support checkers' contract: "do these passages support this claim?" as a probability.

The advisor's grounding gate (ground.py) asks this for every answer sentence against the passages it
cites, and `python -m evals check-grounding` measures the same checkers on labelled public data, so the
numbers we publish are the numbers of the component we ship.

This module holds only the contract and what every checker shares (input checks, sentence windows, the
logistic); it imports no checker. The name -> class table and `make_checker` are in support_registry.py,
like the generator backends' table in generate.py, so no checker module imports back from its registry.

Checkers, by `settings.grounding_checker`:

* ``lexical``   model-free overlap with number/name/negation penalties (support_lexical.py): ~1 ms.
* ``embedding`` max cosine between the claim and passage sentences (support_embedding.py).
* ``llm``       the configured local LLM as a judge, read from its first-token log-probabilities
                (support_llm.py): seconds per claim on 2 CPU cores.
* ``ensemble``  a logistic regression over the component scores, fitted on the dev sets
                (support_ensemble.py, weights in support_ensemble.json).
* ``bridge``    an English claim against Chinese passages: dictionary coverage (jieba + CC-CEDICT + the
                playbook glossary) and the e5 cosine, combined by a logistic fitted with cross-validation
                on labelled answer sentences (support_bridge.py).
* ``align``     token alignment: the mean of the claim tokens' best cosines with one passage window, from
                a middle layer of multilingual-e5-small, in either language (support_align.py).
* ``auto``      within one language lexical + align, across languages bridge + align (an English answer
                sentence citing a Chinese passage shares no words with it), each pair calibrated on the
                labelled answer sentences (support_auto.json); in both, a figure, scale or currency the
                passages do not state scores 0 (support_auto.py, support_facts.py).
* ``crossencoder`` (alias ``nli``) multilingual-e5-small fine-tuned as a cross-encoder on synthetic
                claim/evidence pairs of the knowledge base (support_crossencoder.py, evals/checker_train.py);
                measured, not shipped: unavailable until trained.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from textkit import split_sentences

if TYPE_CHECKING:
    from advisor.generate import Generator
    from config import Settings
    from indexing.embedders import Embedder


class SupportChecker(Protocol):
    name: str

    def score(self, claim: str, passages: Sequence[str]) -> float:
        """P(the passages support the claim), 0..1; higher = better supported."""
        ...


class CheckerParts(Protocol):
    """What a checker class's ``from_parts`` may ask the registry for: the settings, the models (the ones
    the advisor already loaded, else the configured ones, built on first request) and other checkers by
    name (for checkers that combine others)."""

    settings: Settings
    generator_given: bool  # the caller passed its own (real) generator rather than leaving it to the settings

    def generator(self) -> Generator: ...

    def embedder(self) -> Embedder: ...

    def checker(self, name: str) -> SupportChecker: ...


class CheckerUnavailable(RuntimeError):
    """A checker that cannot run on this machine (missing model or package); the message says why."""


def warm_checker(checker: SupportChecker, passages: Iterable[str]) -> int:
    """Read each distinct passage through the checker once, with a Chinese and an English claim, so that
    both routes of the `auto` checker cache what they derive from it; returns how many were read."""
    unique = list(dict.fromkeys(passages))
    for passage in unique:
        for claim in ("预热检查", "warm-up check"):
            checker.score(claim, [passage])
    return len(unique)


def sentence_windows(text: str, width: int = 2) -> list[str]:
    """Every sentence and every run of up to `width` consecutive sentences.

    A claim often joins facts from two neighbouring sentences ("X founded Y in 2004. It ..."), so a
    window of two is compared as well as each sentence alone.
    """
    sentences = split_sentences(text)
    windows: list[str] = []
    for i in range(len(sentences)):
        for w in range(1, width + 1):
            if i + w <= len(sentences):
                windows.append(" ".join(sentences[i : i + w]))
    return windows


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def logit(p: float, eps: float = 1e-4) -> float:
    p = min(max(p, eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)、])\s+")


def claim_text(claim: str) -> str:
    """A claim as a model-based checker should read it: no citation markers, bullet or bold marks, which
    are layout, not content ("- **成本导向定价**：…[3]" -> "成本导向定价：…")."""
    from advisor.cite import strip_markers

    return _BULLET.sub("", strip_markers(claim).replace("**", "")).strip()


def check_inputs(claim: str, passages: Sequence[str]) -> tuple[str, list[str]]:
    """Validate the arguments every checker receives; a string given as `passages` is a common slip."""
    if not isinstance(claim, str):
        raise TypeError(f"claim must be a str, got {type(claim).__name__}")
    if isinstance(passages, str):
        raise TypeError("passages must be a sequence of str, not one str (wrap it in a list)")
    cleaned = [p for p in passages if isinstance(p, str) and p.strip()]
    return claim.strip(), cleaned
