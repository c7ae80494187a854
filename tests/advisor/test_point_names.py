"""Point names in the playbook's terms: a name that clearly means one list item is written as that item."""

import pytest

from advisor.answer_format import Point
from advisor.point_names import canonical_names, canonical_terms

CHALLENGES = (
    "AI大模型训练面临以下挑战：\n\n- **计算资源需求**：AI大模型训练需要大量计算资源。\n"
    "- **数据获取与处理**：需要大量高质量数据。\n- **技术风险**：技术发展迅速。"
)
EXPANSION = "- **线上推广**：利用社交媒体。\n- **线下活动**：举办研讨会。\n- **价值导向定价**：按价值定价。"
RISKS = "- **风险投资**：寻找外部资金。\n- **风险预防**：提前预防。\n- **风险应对**：制定应对策略。"


def names(points: list[Point]) -> list[str]:
    return [p.name for p in points]


@pytest.mark.parametrize(
    ("written", "passages", "term"),
    [
        ("值得导向定价", EXPANSION, "价值导向定价"),  # one character changed (the repeat-penalty defect)
        ("下线活动", EXPANSION, "线下活动"),  # two characters swapped
    ],
)
def test_a_chinese_name_a_character_away_from_one_item_is_that_item(written, passages, term):
    assert names(canonical_names([Point(written, "解释。", 1)], [passages], "zh")) == [term]


@pytest.mark.parametrize(
    ("written", "passages", "term"),
    [
        ("Calculate resources demand", CHALLENGES, "Computing-resource demand"),
        ("Risk investment", RISKS, "Venture capital"),
    ],
)
def test_a_word_by_word_english_name_gets_the_glossary_term(written, passages, term):
    assert names(canonical_names([Point(written, "An explanation.", 1)], [passages], "en")) == [term]


def test_names_that_are_right_or_unclear_stay_as_written():
    zh = [Point("线上推广", "解释。", 1), Point("技术风险", "解释。", 1), Point("市场推广", "解释。", 1)]
    assert names(canonical_names(zh, [EXPANSION, CHALLENGES], "zh")) == ["线上推广", "技术风险", "市场推广"]
    en = [
        Point("Technical risk", "x.", 1),
        Point("Risk management", "x.", 1),
        Point("AI large model", "x.", 1),
    ]
    assert names(canonical_names(en, [CHALLENGES, RISKS], "en")) == [
        "Technical risk",
        "Risk management",
        "AI large model",
    ]
    # no list items in the passages: nothing to hold the names to
    assert canonical_names(zh, ["定价策略是指公司如何设定价格。"], "zh") == zh


def test_an_item_name_altered_inside_a_chinese_sentence_is_put_back():
    passages = [
        "- **价值导向定价**：按价值定价。\n- **竞争导向定价**：按竞争定价。\n- **成本导向定价**：按成本定价。"
    ]
    written = "- 值量导向定价是根据用户的价值感知设定价格。[1]"
    assert canonical_terms(written, passages, "zh") == "- 价值导向定价是根据用户的价值感知设定价格。[1]"
    # other items the passages say (also two characters from 价值导向定价) are left alone
    both = "- 竞争导向定价和成本导向定价都常见。[1]"
    assert canonical_terms(both, passages, "zh") == both
    assert canonical_terms("值量导向定价", passages, "en") == "值量导向定价"  # English answers: names only


def test_a_chinese_name_the_sources_never_give_is_taken_off():
    from advisor.answer_format import render
    from advisor.point_names import sourced_names

    passage = "早期招聘最有效的渠道是创始人的人脉和员工内推，其次是垂直社区和招聘网站。"
    points = [
        Point("端点", "创始人的人脉和员工内推。", 1),  # invented (seen in the added-documents run)
        Point("招聘渠道", "创始人的人脉。", 1),  # the question's words
        Point("员工内推", "其次是垂直社区。", 1),  # the passage's words
        Point("Referrals", "Ask the team.", 1),  # an English name is a translation: never judged here
    ]
    shown = render(sourced_names(points, [passage], "早期公司招聘最有效的渠道是什么？"), "zh")
    assert shown.splitlines() == [
        "- 创始人的人脉和员工内推。[1]",
        "- **招聘渠道**：创始人的人脉。[1]",
        "- **员工内推**：其次是垂直社区。[1]",
        "- **Referrals**：Ask the team.[1]",
    ]


def test_a_chinese_name_of_an_english_documents_item_is_a_translation_and_stays():
    from advisor.point_names import sourced_names

    passage = "List every place where you store personal data: the product database, analytics tools."
    points = [Point("分析工具", "记录数据分析用到的工具。", 1)]
    assert sourced_names(points, [passage], "怎样建立个人数据清单？") == points
