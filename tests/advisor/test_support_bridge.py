"""The dictionary bridge: an English claim's words found in a Chinese passage's English (CC-CEDICT)."""

from __future__ import annotations

import pytest

from advisor.support_bridge import BridgedChecker, PassageEnglish, coverage, load_weights

INCENTIVES = "- **股权激励**：通过股权分配，让团队成员共享公司发展的成果，增强团队的凝聚力和归属感。"
PRICING = "- **竞争导向定价**：根据市场竞争情况，设定具有竞争力的价格。"


@pytest.fixture(scope="module")
def english() -> PassageEnglish:
    return PassageEnglish()


def test_a_faithful_translation_is_covered_and_an_unrelated_claim_is_not(english):
    claim = "Equity incentives: share the company's development results with team members through equity."
    assert coverage(claim, [INCENTIVES], english) >= 0.7
    assert coverage(claim, [PRICING], english) <= 0.4
    pricing = "Competition-based pricing: set a competitive price according to the market competition."
    assert coverage(pricing, [PRICING], english) >= 0.8


def test_the_passage_english_is_cached(english):
    first = english(INCENTIVES)
    assert english(INCENTIVES) is first


class _Cosine:
    """A stand-in for the e5 checker's similarity: a fixed cosine, so only coverage differs."""

    def similarity(self, claim, passages):
        return 0.85


def test_the_checker_prefers_the_covered_claim():
    checker = BridgedChecker(_Cosine(), weights=load_weights())
    good = checker.score(
        "Equity incentives let team members share the company's development results.", [INCENTIVES]
    )
    bad = checker.score(
        "Equity incentives require a four-year vesting schedule with a one-year cliff.", [INCENTIVES]
    )
    assert 0.0 <= bad < good <= 1.0
    assert checker.score("anything", []) == 0.0
