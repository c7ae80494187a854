"""The `auto` checker: overlap within one language, embeddings across languages."""

from __future__ import annotations

from advisor.support_auto import LanguageRoutedChecker
from advisor.support_registry import make_checker
from config import settings_for_tests


class ConstantChecker:
    def __init__(self, name: str, value: float):
        self.name, self.value = name, value
        self.claims: list[str] = []

    def score(self, claim, passages):
        self.claims.append(claim)
        return self.value


def test_claims_are_routed_by_language_pair():
    same, cross = ConstantChecker("same", 0.9), ConstantChecker("cross", 0.2)
    checker = LanguageRoutedChecker(same, cross)
    passages = ["价值导向定价：根据用户对产品或服务的价值感知，设定价格。"]
    assert checker.score("价值导向定价根据价值感知定价。", passages) == 0.9
    assert checker.score("Value-based pricing follows perceived value.", passages) == 0.2
    assert same.claims == ["价值导向定价根据价值感知定价。"]
    assert cross.claims == ["Value-based pricing follows perceived value."]


def test_auto_builds_lexical_and_bridge_parts_from_the_given_embedder():
    from indexing.embedders import HashEmbedder

    embedder = HashEmbedder()
    checker = make_checker(settings_for_tests(grounding_checker="auto"), embedder=embedder)
    assert checker.name == "auto"
    assert checker.same_language.name == "lexical"
    assert checker.cross_language.name == "bridge"  # dictionary coverage + e5 cosine across languages
    assert checker.cross_language.embedding.embedder is embedder
