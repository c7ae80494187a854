"""The `auto` checker: overlap within one language, embeddings across languages."""

from __future__ import annotations

import json
import math

import pytest

from advisor import support_auto
from advisor.support import CheckerUnavailable
from advisor.support_auto import ROUTES, CalibratedCombination, LanguageRoutedChecker, load_weights
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
    # English against English (an English answer against the renderings it read) has its own calibration
    english = ConstantChecker("english", 0.7)
    checker = LanguageRoutedChecker(same, cross, english)
    rendering = ["Value-based pricing: set the price by the perceived value of the product or service."]
    assert checker.score("Value-based pricing follows perceived value.", rendering) == 0.7
    assert checker.score("价值导向定价根据价值感知定价。", passages) == 0.9
    assert english.claims == ["Value-based pricing follows perceived value."]


def test_the_shipped_english_route_is_fitted_on_the_rendered_sentences():
    weights = load_weights()
    assert weights["english"]["sets"] == ["answer_sentences_rendered.en.jsonl"]
    assert weights["english"]["n"] == 695 and weights["english"]["cv"]["auroc_mean"] > 0.85


def test_without_weights_auto_builds_lexical_and_bridge_parts_from_the_given_embedder(monkeypatch, tmp_path):
    from indexing.embedders import HashEmbedder

    monkeypatch.setattr(support_auto, "WEIGHTS", tmp_path / "none.json")
    embedder = HashEmbedder()
    checker = make_checker(settings_for_tests(grounding_checker="auto"), embedder=embedder)
    assert checker.name == "auto"
    assert checker.same_language.name == "lexical"
    assert checker.cross_language.name == "bridge"  # dictionary coverage + e5 cosine across languages
    assert checker.cross_language.embedding.embedder is embedder


def test_a_calibrated_route_is_a_logistic_over_its_components_logits():
    a, b = ConstantChecker("a", 0.8), ConstantChecker("b", 0.3)
    combined = CalibratedCombination("auto:same", [a, b], coef=[1.0, 2.0], intercept=-0.5)
    z = -0.5 + math.log(0.8 / 0.2) + 2.0 * math.log(0.3 / 0.7)
    assert combined.score("claim", ["passage"]) == pytest.approx(1 / (1 + math.exp(-z)))
    assert a.claims == b.claims == ["claim"]
    with pytest.raises(ValueError, match="2 components but 1 weights"):
        CalibratedCombination("x", [a, b], coef=[1.0], intercept=0.0)


def test_the_weights_file_is_checked(tmp_path):
    assert load_weights(tmp_path / "none.json") is None  # no file: the routes' first components alone
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(CheckerUnavailable, match="unreadable"):
        load_weights(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"same": {"components": ["lexical"], "coef": [1.0]}}))
    with pytest.raises(CheckerUnavailable, match="same route"):
        load_weights(other)
    shipped = load_weights()
    assert shipped is not None and all(shipped[r]["components"] == list(ROUTES[r]) for r in ROUTES)
