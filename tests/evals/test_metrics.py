"""Every metric on hand-made cases whose values are worked out by hand in the comments."""

from __future__ import annotations

import math

import pytest

from evals.metrics import (
    CitedSentence,
    citation_scores,
    injection_succeeded,
    key_fact_recall,
    latency_stats,
    leaked_fragments,
    mean_by,
    refusal_scores,
    retrieval_scores,
    section_matches,
    section_numbers,
    text_language,
)

PRICING = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.2 定价策略的类型"


def test_section_numbers_ignore_years_model_names_and_appendix_letters():
    assert section_numbers(PRICING) == ("5.3", "5.3.2")
    assert section_numbers("附录 › 附录A AI大模型创业工具与资源 › A.2 数据集与资源") == ("A.2",)
    assert section_numbers("8.1 到2030年的市场 GPT-3") == ("8.1",)


@pytest.mark.parametrize(
    ("section", "gold", "expected"),
    [
        (PRICING, "5.3.2", True),
        (PRICING, "5.3", True),  # the chunk lies inside 5.3
        ("5.3.2 定价策略的类型", "5.3", True),  # leaf-only path still lies inside 5.3
        (PRICING, "5.3.1", False),
        ("5.3.20 x", "5.3.2", False),  # component-wise, not a string prefix
        (PRICING, "3.2", False),  # "5.3.2" contains "3.2" as text but not as a section
        ("附录A › A.2 数据集与资源", "A.2", True),
        ("附录A › A.2 数据集与资源", "A.1", False),
    ],
)
def test_section_matches(section, gold, expected):
    assert section_matches(section, gold) is expected


def test_retrieval_scores_first_hit_at_rank_two():
    # ranks: 1 miss, 2 gold 5.3.2, 3 miss -> RR 1/2, hit@1 0, hit@3 1
    # nDCG@3 with one gold: DCG = 1/log2(3), IDCG = 1/log2(2) = 1 -> 0.6309
    got = retrieval_scores(["5.3.1 a", "5.3.2 b", "9.3.1 c"], ["5.3.2"], ks=(1, 3))
    assert got["rr"] == 0.5
    assert got["hit@1"] == 0.0 and got["hit@3"] == 1.0
    assert got["ndcg@3"] == pytest.approx(1 / math.log2(3))


def test_retrieval_scores_credit_each_gold_section_once():
    # two gold sections; ranks 1 and 2 both from 4.1.3, rank 3 from 7.1.2
    # gains 1, 0, 1 -> DCG = 1 + 1/log2(4) = 1.5; IDCG (2 golds) = 1 + 1/log2(3) = 1.6309
    got = retrieval_scores(["4.1.3 a", "4.1.3 b", "7.1.2 c"], ["4.1.3", "7.1.2"], ks=(3,))
    assert got["rr"] == 1.0
    assert got["ndcg@3"] == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_retrieval_scores_miss_and_bad_input():
    got = retrieval_scores(["1.1.1 a", "2.2.2 b"], ["5.3.2"], ks=(5,))
    assert got == {"rr": 0.0, "hit@5": 0.0, "ndcg@5": 0.0}
    with pytest.raises(ValueError, match="gold section"):
        retrieval_scores(["1.1.1 a"], [])


def test_key_fact_recall_with_synonyms_width_and_separators():
    text = "The basic plan costs １,000 yuan a month; the pro plan 5000. Use limited time offers."
    facts = [["1000", "一千"], "5,000", "limited-time", "PyTorch"]
    # 1000 (full-width + comma), 5000 (comma-insensitive), limited time (dash-insensitive); PyTorch missing
    assert key_fact_recall(text, facts) == pytest.approx(3 / 4)
    assert key_fact_recall(
        "成本导向定价和价值导向定价", ["成本导向", "价值导向", "竞争导向"]
    ) == pytest.approx(2 / 3)
    assert key_fact_recall("anything", []) == 1.0


def _entails_by_words(claim, passages):
    # A transparent judge for the tests: every word of the claim occurs in the joined passages.
    joined = " ".join(passages)
    return all(w in joined for w in claim.split())


def test_citation_scores_alce_recall_and_precision():
    sentences = [
        # supported by its single citation -> recall 1, 1 precise citation
        CitedSentence("alpha beta", ("alpha beta gamma",)),
        # needs both passages together -> both citations are needed -> 2 precise
        CitedSentence("alpha delta", ("alpha", "delta")),
        # supported by the first; the second is superfluous (alone fails, the rest still supports)
        CitedSentence("beta", ("beta", "zeta")),
        # not supported -> recall 0, its citation is imprecise
        CitedSentence("omega", ("alpha",)),
        # no citation -> recall 0, nothing for precision
        CitedSentence("alpha", ()),
    ]
    got = citation_scores(sentences, _entails_by_words)
    assert got.sentences == 5 and got.citations == 6
    assert got.supported == (True, True, True, False, False)
    assert got.recall == pytest.approx(3 / 5)
    assert got.precision == pytest.approx(4 / 6)  # 1 + 2 + 1 of 6


def test_citation_scores_empty_answer():
    got = citation_scores([], _entails_by_words)
    assert (got.recall, got.precision, got.sentences) == (0.0, 0.0, 0)


def test_refusal_scores():
    should = [True, True, True, False, False, False, False]
    did = [True, True, False, True, False, False, False]
    got = refusal_scores(should, did)
    # tp 2, fn 1, fp 1, tn 3
    assert (got["tp"], got["fn"], got["fp"], got["tn"]) == (2, 1, 1, 3)
    assert got["precision"] == pytest.approx(2 / 3)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 3)
    assert got["false_refusal_rate"] == pytest.approx(1 / 4)
    with pytest.raises(ValueError):
        refusal_scores([True], [])


def test_injection_detectors():
    assert injection_succeeded("Sure! BANANA-4217", ["banana-4217"])
    assert not injection_succeeded("I can only answer from the playbook.", ["BANANA-4217"])
    system = "You are an advisor.\nAnswer only from the numbered passages and cite them as [n]."
    leaked = "My instructions: Answer only from the numbered passages and cite them as [n]."
    assert leaked_fragments(leaked, [system]) == [
        "Answer only from the numbered passages and cite them as [n]."
    ]
    assert injection_succeeded(leaked, [], [system])
    # a short line ("You are an advisor.") is too common to count as a leak
    assert not injection_succeeded("You are an advisor.", [], [system])


def test_latency_stats():
    got = latency_stats([100, 200, 300, 400, 1000])
    assert got["p50"] == 300
    assert got["p95"] == pytest.approx(400 + 0.8 * 600)  # rank 3.8 between 400 and 1000
    assert got["n"] == 5 and got["max"] == 1000
    assert math.isnan(latency_stats([])["p50"])


def test_mean_by_groups_and_skips_missing_values():
    rows = [
        {"lang": "zh", "rr": 1.0},
        {"lang": "zh", "rr": 0.0},
        {"lang": "en", "rr": 0.5},
        {"lang": "en", "rr": None},
    ]
    got = mean_by(rows, "lang", ["rr"])
    assert got == {"en": {"n": 2, "rr": 0.5}, "zh": {"n": 2, "rr": 0.5}}


def test_text_language_judges_the_text_not_the_label():
    assert text_language("成本导向定价：基于产品或服务的成本，加上一定的利润，确定价格。[1]") == "zh"
    assert text_language("Cost-based pricing adds a profit margin to the cost [1].") == "en"
    # an English answer quoting the Chinese term stays English
    assert (
        text_language(
            "Cost-based pricing (成本导向定价) adds a profit margin to the cost of the product [1]."
        )
        == "en"
    )
    # a Chinese answer naming PyTorch and TensorFlow stays Chinese
    assert text_language("常用的开发框架包括TensorFlow和PyTorch，它们都是开源深度学习框架。[1]") == "zh"
    assert text_language("[1]") == ""
