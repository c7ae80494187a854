"""The support checkers by name: a name -> class table and `make_checker`, like the generator backends'.

Each checker class has ``from_parts(parts)``: it takes what it needs from a `CheckerParts` (the settings,
the advisor's generator and embedder, other checkers by name) and nothing else, so no checker module
imports this registry and a combining checker (auto, ensemble) asks for its components by name. Checker
modules are imported only when their checker is built: the lexical checker never pays for numpy or jieba.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from advisor.support import CheckerUnavailable, SupportChecker

if TYPE_CHECKING:
    from advisor.generate import Generator
    from config import Settings
    from indexing.embedders import Embedder

# name -> (module, class with a from_parts(parts) constructor)
CHECKERS: dict[str, tuple[str, str]] = {
    "auto": ("advisor.support_auto", "LanguageRoutedChecker"),
    "lexical": ("advisor.support_lexical", "LexicalChecker"),
    "embedding": ("advisor.support_embedding", "EmbeddingChecker"),
    "bridge": ("advisor.support_bridge", "BridgedChecker"),
    "llm": ("advisor.support_llm", "LLMJudgeChecker"),
    "ensemble": ("advisor.support_ensemble", "EnsembleChecker"),
    "crossencoder": ("advisor.support_crossencoder", "CrossEncoderChecker"),
    "align": ("advisor.support_align", "AlignmentChecker"),
    # The setting's older name for a model that reads claim and passage together: the trained cross-encoder.
    "nli": ("advisor.support_crossencoder", "CrossEncoderChecker"),
}
# Names the setting accepts that no checker here can serve, with the reason (none today).
UNAVAILABLE: dict[str, str] = {}
CHECKER_NAMES = ("auto", "lexical", "embedding", "bridge", "align", "crossencoder", "nli", "llm", "ensemble")


class Parts:
    """The `CheckerParts` a checker is built from: given models are shared, missing ones built once."""

    def __init__(
        self, settings: Settings, *, generator: Generator | None = None, embedder: Embedder | None = None
    ):
        self.settings = settings
        self.generator_given = generator is not None
        self._generator = generator
        self._embedder = embedder

    def generator(self) -> Generator:
        if self._generator is None:
            from advisor.generate import make_generator

            self._generator = make_generator(self.settings)
        return self._generator

    def embedder(self) -> Embedder:
        if self._embedder is None:
            from indexing import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    def checker(self, name: str) -> SupportChecker:
        if name in UNAVAILABLE:
            raise CheckerUnavailable(UNAVAILABLE[name])
        if name not in CHECKERS:
            raise ValueError(f"unknown grounding checker {name!r}; choose one of {', '.join(CHECKER_NAMES)}")
        module_name, class_name = CHECKERS[name]
        return getattr(importlib.import_module(module_name), class_name).from_parts(self)


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
    return Parts(settings, generator=generator, embedder=embedder).checker(name or settings.grounding_checker)
