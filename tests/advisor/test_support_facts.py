"""Fact tokens: figures, scales and currencies of a claim must be the passage's own."""

from __future__ import annotations

import pytest

from advisor.support_auto import LanguageRoutedChecker
from advisor.support_facts import figure_mismatches, figures

PASSAGES = [
    "基础版产品定价为每月1000元；专业版产品定价为每月5000元。",
    "预计到2030年，市场规模将达到1.5万亿美元。",
    "全球AI市场规模将达到万亿美元级别。",
]


@pytest.mark.parametrize(
    ("claim", "wrong"),
    [
        ("The basic plan costs $1000 per month.", ["$1000"]),  # 元 became dollars
        ("The basic plan costs 100 yuan per month.", ["100 yuan"]),  # a figure the passage lacks
        ("By 2031 the market will be large.", ["2031"]),
        ("1.5 trillion US dollars by 2030", []),  # 1.5万亿美元, another scale word
        ("a market of 1 trillion US dollars", []),  # 万亿美元级别 below: a bare scale is one of it
        ("The basic plan costs 1,000 yuan (RMB) per month.", []),
        ("基础版每月1000元，专业版每月5000元。", []),
        ("GPT-3 and A100 are names, and there are 3 plans.", []),  # no figures to check
        ("见 5.3.2 节。[1]", []),  # section numbers and markers are not figures
    ],
)
def test_figures_are_held_to_the_passages(claim, wrong):
    assert figure_mismatches(claim, PASSAGES) == wrong


def test_scales_and_full_width_digits_normalise():
    assert [f.value for f in figures("１，０００元 and 2万 and 3亿")] == [1000.0, 20000.0, 3e8]
    assert figures("$5")[0].unit == "usd" and figures("5000元")[0].unit == "cny"


class _Always:
    name = "always"

    def score(self, claim, passages):
        return 1.0


def test_auto_scores_a_changed_figure_zero_whatever_the_route():
    checker = LanguageRoutedChecker(_Always(), _Always())
    assert checker.score("The basic plan costs $1000 per month.", PASSAGES) == 0.0
    assert checker.score("基础版每月100元。", PASSAGES) == 0.0
    assert checker.score("The basic plan costs 1000 yuan per month.", PASSAGES) == 1.0


def test_durations_and_names_must_be_the_passages_own():
    from advisor.support_facts import duration_mismatches, entity_mismatches, fact_mismatches

    passages = ["GTP.ai的失败原因包括：与OpenAI的GPT-3存在差距。实验至少运行一到两周。试用期三个月。"]
    assert duration_mismatches("Run it for two weeks.", passages) == []
    assert duration_mismatches("Probation lasts 3 months.", passages) == []  # 三个月
    assert duration_mismatches("Break even within 6 months.", passages) == ["6 months"]
    # a whole number, not digits inside another one: 120天 does not say 12 months
    assert duration_mismatches("Pay back within 12 months.", ["回本周期120天。"]) == ["12 months"]
    assert duration_mismatches("Pay back within 12 months.", ["回本周期12个月。"]) == []
    assert entity_mismatches("GTP.ai lagged behind OpenAI's GPT-3.", passages) == []
    assert entity_mismatches("GTP.ai lagged behind Google's PaLM.", passages) == ["PaLM"]
    assert entity_mismatches("They trained with PyTorch.", passages) == ["PyTorch"]
    # acronyms, an abbreviation after its own words, and Chinese text next to a name are not names
    assert entity_mismatches("The ROI of SaaS and B2B is high.", passages) == []
    assert entity_mismatches("Find the unique selling points (USPs) first.", passages) == []
    assert (
        entity_mismatches(
            "GPT的全称是Generative Pretrained Transformer。", ["GPT-3：Generative Pretrained Transformer"]
        )
        == []
    )
    assert fact_mismatches("OpenAI raised 1000 yuan in 6 months with PaLM.", passages) == [
        "1000 yuan",
        "6 months",
        "PaLM",
    ]


def test_a_duration_holds_its_number_in_words_and_its_unit():
    from advisor.support_facts import duration_mismatches

    english = ["For a first enterprise product, a sales cycle of three to nine months is normal."]
    # the Chinese answer's digits against the English document's words (the gate scored this 0 before)
    assert duration_mismatches("销售周期一般为3到9个月。", english) == []
    # the number with another unit is not what the document says
    assert duration_mismatches("销售周期一般为3到9周。", english) == ["9周"]
    assert duration_mismatches("销售周期一般为3到12个月。", english) == ["12个月"]
    chinese = ["每周更新一次未来十三周的现金流预测。至少保留三个月的固定支出。"]
    assert duration_mismatches("Keep three months of fixed costs: 3 months.", chinese) == []
    assert duration_mismatches("Keep 3 years of fixed costs.", chinese) == ["3 years"]
