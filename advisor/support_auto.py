"""The ``auto`` checker: one checker for claims in the passages' language, another across languages.

An English answer sentence citing a Chinese passage shares no words with it, so overlap cannot judge it:
lexical within one language, the dictionary bridge across languages. In both, a figure, scale or currency
the passages do not state scores 0 (support_facts.py) before either is asked.
"""

from __future__ import annotations

from collections.abc import Sequence

from advisor.support import CheckerParts, SupportChecker, check_inputs
from advisor.support_facts import figure_mismatches
from textkit import detect_language


class LanguageRoutedChecker:
    """One checker for claims in the passages' language, another for claims across languages."""

    name = "auto"

    def __init__(self, same_language: SupportChecker, cross_language: SupportChecker):
        self.same_language = same_language
        self.cross_language = cross_language

    @classmethod
    def from_parts(cls, parts: CheckerParts) -> LanguageRoutedChecker:
        return cls(parts.checker("lexical"), parts.checker("bridge"))

    def score(self, claim: str, passages: Sequence[str]) -> float:
        claim, passages = check_inputs(claim, passages)
        if passages and figure_mismatches(claim, passages):
            return 0.0  # a figure, scale or currency the passages do not state: nothing else can save it
        if passages and detect_language(claim) != detect_language("\n".join(passages)):
            return self.cross_language.score(claim, passages)
        return self.same_language.score(claim, passages)
