"""Quoting the passage when the model found the answer but padded it with what the passage does not say."""

from __future__ import annotations

from advisor import build_advisor
from advisor.answer_format import Point
from advisor.extract import quoted_answer, quoted_items
from advisor.generate import ScriptedGenerator
from indexing import VectorIndex
from tests.advisor.support import make_chunks

RETENTION = "# 客户留存\n\n提高客户留存率的方法包括持续改进产品体验、建立客户成功团队和定期回访重点客户。老客户的反馈也很重要。"
PADDED = [
    Point("持续改进产品体验", "通过定期更新产品功能、修复已知问题，提高客户满意度和忠诚度。", 1),
    Point("建立客户成功团队", "由专门的团队负责解决客户的问题、提供支持。", 1),
]


def test_the_sentence_holding_the_point_names_is_quoted_with_its_marker():
    assert quoted_answer(PADDED, [RETENTION]) == (
        "提高客户留存率的方法包括持续改进产品体验、建立客户成功团队和定期回访重点客户。[1]"
    )


def test_names_not_in_the_passage_or_too_short_quote_nothing():
    invented = [Point("激励计划", "x。", 1), Point("资本天使投资", "y。", 1)]
    assert quoted_answer(invented, [RETENTION]) is None
    one = [PADDED[0], Point("其他", "z。", 1)]
    assert quoted_answer(one, [RETENTION]) is None  # a single name is not enough
    assert quoted_answer(PADDED, ["无关的资料。"]) is None


def test_an_english_answer_quotes_the_english_it_read():
    read = ["Startups reduce churn by onboarding users well and tracking product usage. Annual plans help."]
    points = [
        Point("onboarding users well", "Make users happy.", 1),
        Point("tracking product usage", "Use data.", 1),
    ]
    assert quoted_answer(points, read) == (
        "Startups reduce churn by onboarding users well and tracking product usage.[1]"
    )


def test_a_padded_answer_the_gate_refuses_becomes_the_quoted_passage(fake_settings, embedder):
    reply = "\n".join(f"- **{p.name}**：{p.explanation}[1]" for p in PADDED)
    section = ("10.2 提高客户留存率", RETENTION)
    answer = _gated(fake_settings, embedder, section, reply).ask("如何提高客户留存率？")
    assert not answer.refused, answer.text
    assert (
        answer.text.startswith("提高客户留存率的方法包括持续改进产品体验")
        and "修复已知问题" not in answer.text
    )
    off = _gated(fake_settings, embedder, section, reply, quote_when_unsupported=False)
    assert off.ask("如何提高客户留存率？").refused


def _gated(fake_settings, embedder, section, reply, **overrides):
    """An advisor over one (heading, text) section whose model writes `reply` to every question, and whose
    gate removes what it finds unsupported."""
    settings = fake_settings.model_copy(update={"unsupported_policy": "remove", **overrides})
    index = VectorIndex.from_chunks(make_chunks([section]), embedder)
    return build_advisor(settings, generator=ScriptedGenerator((reply,)), embedder=embedder, index=index)


EXPANSION = (
    "市场拓展策略包括以下几个方面：\n\n"
    "- **线上推广**：通过社交媒体、搜索引擎等线上渠道进行推广。\n"
    "- **线下活动**：参加行业会议、展览会等线下活动，拓展客户资源，提升品牌知名度。\n"
    "- **合作伙伴**：与行业内的合作伙伴建立合作关系，共同开拓市场。"
)


def test_quoted_items_are_the_first_listed_items_each_on_one_line():
    cut = "市场拓展策略包括：\n\n- **线下活动**：参加行业会议、\n展览会。"
    assert quoted_items([cut, cut]) == "- **线下活动**：参加行业会议、展览会。[1]"
    assert quoted_items(["Growth:\n\n- **Offline events**: join industry\nfairs."]) == (
        "- **Offline events**: join industry fairs.[1]"
    )
    assert quoted_items(["没有列表的资料。"]) is None


def test_an_elaborated_item_the_gate_refuses_becomes_the_item_quoted(fake_settings, embedder):
    # focus cut the passage to the item asked about; the model elaborated its one line into invented steps
    reply = "- **参加行业会议**：了解最新的行业动态和趋势，与行业专家交流，建立人脉网络，寻找投资人。[1]"
    answer = _gated(fake_settings, embedder, ("7.3.3 市场拓展策略", EXPANSION), reply).ask(
        "线下活动具体怎么做？"
    )
    assert not answer.refused, answer.text
    assert (
        answer.text.startswith("- **线下活动**：参加行业会议、展览会等线下活动")
        and "投资人" not in answer.text
    )
    assert "线上推广" not in answer.text  # only the item asked about
