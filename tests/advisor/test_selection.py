"""A question that picks among options by a condition reads the option the condition describes."""

from __future__ import annotations

import pytest

from advisor.focus import focus_passages
from advisor.selection import condition_words, option_fitting
from indexing import Chunk, Hit

ELEMENTS = "AI大模型商业模式设计 › 5.1 AI大模型商业模式概述 › 5.1.2 AI大模型商业模式的要素"
PLATFORM = "AI大模型商业模式设计 › 5.2 AI大模型盈利模式 › 5.2.3 平台化盈利模式"
ELEMENTS_TEXT = (
    "AI大模型商业模式的要素包括以下几个方面：\n- **价值主张**：明确AI大模型产品的独特价值。\n"
    "- **关键活动**：定义公司需要开展的关键活动，包括研发、营销、客户服务等。\n"
    "- **目标市场**：定义目标客户群体，共同推动业务发展。"  # 群体 "community", 发展 "develop": apart
)
PLATFORM_TEXT = (
    "平台化盈利模式是指构建一个开放的AI大模型平台，吸引第三方开发者、用户等。\n"
    "- **生态系统建设**：构建平台生态系统，包括开发者社区、用户社群等，促进平台的发展。"
)


def _hits() -> list[Hit]:
    return [
        Hit(Chunk(f"c{i}", "doc", text, section, "playbook.md", "zh", 0, len(text)), 0.9 - i / 10, i + 1)
        for i, (section, text) in enumerate([(ELEMENTS, ELEMENTS_TEXT), (PLATFORM, PLATFORM_TEXT)])
    ]


@pytest.mark.parametrize(
    ("question", "words", "stems"),
    [
        (
            "Which of those suits a company with a strong developer community?",
            set(),
            ("strong", "develop", "communiti"),
        ),
        ("哪种盈利模式适合开发者社区强大的公司？", {"开发者", "社区", "强大"}, ()),
        ("其中哪个适合资金有限的初创企业？", {"资金", "有限"}, ()),
        ("What is a platform profit model?", set(), ()),  # not picking among options
        ("这些模式适合什么样的公司？", set(), ()),  # asks for the condition, does not put one
    ],
)
def test_the_condition_a_picking_question_puts(question, words, stems):
    assert condition_words(question) == (frozenset(words), stems)


def test_the_option_whose_passage_holds_the_condition_is_read():
    section = lambda h: h.chunk.section  # noqa: E731
    for question in (
        "Which of those suits a company with a strong developer community?",
        "哪种适合开发者社区强大的公司？",
    ):
        assert option_fitting(question, _hits(), section) == PLATFORM
    assert option_fitting("Which of those suits a company with strong sales?", _hits(), section) is None
    assert option_fitting("What are the elements of a business model?", _hits(), section) is None


def test_focus_reads_the_fitting_option_although_the_rewrite_names_the_first_section():
    rewrite = "Which business model elements suit a company with a strong developer community?"
    asked = "Which of those suits a company with a strong developer community?"
    out = focus_passages(rewrite, _hits(), asked=asked)
    assert [h.chunk.section for h in out] == [PLATFORM]
    assert [h.chunk.section for h in focus_passages("What are the business model elements?", _hits())] == [
        ELEMENTS
    ]
