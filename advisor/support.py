"""Support checkers: "do these passages support this claim?" as a probability, behind one contract.

The advisor's grounding gate (ground.py) asks this for every answer sentence against the passages it
cites, and `python -m evals check-grounding` measures the same checkers on labelled public data, so the
numbers we publish are the numbers of the component we ship.

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
* ``auto``      lexical within one language, bridge across languages (an English answer sentence citing a
                Chinese passage shares no words with it; overlap cannot judge it); in both, a figure,
                scale or currency the passages do not state scores 0 (support_facts.py).
* ``nli``       no NLI / cross-encoder model can be installed offline from PyPI here: a clear error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from textkit import split_sentences

if TYPE_CHECKING:
    from advisor.generate import Generator
    from config import Settings
    from indexing.embedders import Embedder

CHECKER_NAMES = ("auto", "lexical", "embedding", "bridge", "nli", "llm", "ensemble")


class SupportChecker(Protocol):
    name: str

    def score(self, claim: str, passages: Sequence[str]) -> float:
        """P(the passages support the claim), 0..1; higher = better supported."""
        ...


class CheckerUnavailable(RuntimeError):
    """A checker that cannot run on this machine (missing model or package); the message says why."""


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


def check_inputs(claim: str, passages: Sequence[str]) -> tuple[str, list[str]]:
    """Validate the arguments every checker receives; a string given as `passages` is a common slip."""
    if not isinstance(claim, str):
        raise TypeError(f"claim must be a str, got {type(claim).__name__}")
    if isinstance(passages, str):
        raise TypeError("passages must be a sequence of str, not one str (wrap it in a list)")
    cleaned = [p for p in passages if isinstance(p, str) and p.strip()]
    return claim.strip(), cleaned


def make_checker(
    settings: Settings,
    *,
    generator: Generator | None = None,
    embedder: Embedder | None = None,
    name: str | None = None,
) -> SupportChecker:
    """The checker named by `name` or settings.grounding_checker, built from the given or configured parts.

    `generator` / `embedder` let the advisor share the model it already loaded (one copy in memory);
    when omitted, the configured one is built (advisor.generate.make_generator / indexing.make_embedder).
    """
    which = name or settings.grounding_checker
    if which == "auto":
        from advisor.support_bridge import BridgedChecker
        from advisor.support_embedding import EmbeddingChecker
        from advisor.support_lexical import LexicalChecker

        return LanguageRoutedChecker(
            LexicalChecker(), BridgedChecker(EmbeddingChecker(embedder or _configured_embedder(settings)))
        )
    if which == "bridge":
        from advisor.support_bridge import BridgedChecker
        from advisor.support_embedding import EmbeddingChecker

        return BridgedChecker(EmbeddingChecker(embedder or _configured_embedder(settings)))
    if which == "lexical":
        from advisor.support_lexical import LexicalChecker

        return LexicalChecker()
    if which == "embedding":
        from advisor.support_embedding import EmbeddingChecker

        return EmbeddingChecker(embedder or _configured_embedder(settings))
    if which == "llm":
        from advisor.support_llm import LLMJudgeChecker

        return LLMJudgeChecker(generator or _configured_generator(settings))
    if which == "ensemble":
        from advisor.support_ensemble import EnsembleChecker

        return EnsembleChecker.from_settings(settings, generator=generator, embedder=embedder)
    if which == "nli":
        raise CheckerUnavailable(
            "grounding_checker='nli' needs an NLI / cross-encoder model, and none can be installed offline "
            "from PyPI on this machine (no package ships such weights). Use 'ensemble', 'llm', 'embedding' "
            "or 'lexical'."
        )
    raise ValueError(f"unknown grounding checker {which!r}; choose one of {', '.join(CHECKER_NAMES)}")


class LanguageRoutedChecker:
    """One checker for claims in the passages' language, another for claims across languages."""

    name = "auto"

    def __init__(self, same_language: SupportChecker, cross_language: SupportChecker):
        self.same_language = same_language
        self.cross_language = cross_language

    def score(self, claim: str, passages: Sequence[str]) -> float:
        from advisor.support_facts import figure_mismatches
        from textkit import detect_language

        claim, passages = check_inputs(claim, passages)
        if passages and figure_mismatches(claim, passages):
            return 0.0  # a figure, scale or currency the passages do not state: nothing else can save it
        if passages and detect_language(claim) != detect_language("\n".join(passages)):
            return self.cross_language.score(claim, passages)
        return self.same_language.score(claim, passages)


def _configured_embedder(settings: Settings) -> Embedder:
    from indexing import make_embedder

    return make_embedder(settings)


def _configured_generator(settings: Settings) -> Generator:
    from advisor.generate import make_generator  # added by the backends work; a clear error until then

    return make_generator(settings)
