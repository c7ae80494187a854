"""Quoting the passage when the model found the answer but padded it with what the passage does not say."""

from __future__ import annotations

from advisor import build_advisor
from advisor.answer_format import Point
from advisor.extract import quoted_answer
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
    chunks = make_chunks([("10.2 提高客户留存率", RETENTION)])
    reply = "\n".join(f"- **{p.name}**：{p.explanation}[1]" for p in PADDED)
    settings = fake_settings.model_copy(update={"unsupported_policy": "remove"})
    from advisor.generate import ScriptedGenerator

    index = VectorIndex.from_chunks(chunks, embedder)
    adv = build_advisor(settings, generator=ScriptedGenerator((reply,)), embedder=embedder, index=index)
    answer = adv.ask("如何提高客户留存率？")
    assert not answer.refused, answer.text
    assert (
        answer.text.startswith("提高客户留存率的方法包括持续改进产品体验")
        and "修复已知问题" not in answer.text
    )
    off = settings.model_copy(update={"quote_when_unsupported": False})
    adv = build_advisor(off, generator=ScriptedGenerator((reply,)), embedder=embedder, index=index)
    assert adv.ask("如何提高客户留存率？").refused
