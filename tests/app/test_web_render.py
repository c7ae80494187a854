"""What the chat shows, from the advisor's plain types (no browser)."""

from __future__ import annotations

import pytest

from advisor import Answer, Citation, Grounding, Hit, Timings
from indexing import Chunk
from webapp import render
from webapp.conversation import HistoryRejected, message_text

SECTION = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.2 定价策略的类型"


def _answer(**kw) -> Answer:
    defaults = dict(
        question="What pricing strategies exist?",
        text="Cost-based pricing adds a margin to cost [1]. See also [7].",
        language="en",
        citations=(Citation(1, "c1", SECTION, "playbook.md", "成本导向定价：基于产品或服务的成本 <b>"),),
        timings=Timings(12.0, 340.0, 2100.0, 40, 25.0),
        grounding=Grounding((), 1.0, "lexical"),
        model_id="m",
    )
    return Answer(**{**defaults, **kw})


def test_citations_become_links_to_their_source_cards_and_back():
    shown = render.answer_markdown(_answer())
    assert "[[1]](#src-1)" in shown
    assert "[7]" in shown and "#src-7" not in shown  # a marker without a citation stays plain text
    assert render.unlink_citations(shown) == _answer().text


def test_sources_panel_shows_section_source_and_original_quote_escaped():
    panel = render.sources_html(_answer())
    assert 'id="src-1"' in panel and "5.3.2 定价策略的类型" in panel and "playbook.md" in panel
    assert "成本导向定价" in panel and "&lt;b&gt;" in panel and "<b>" not in panel.split("blockquote")[1]
    assert "Original (中文)" in panel  # the Chinese quote is labelled beside an English answer
    assert "first token 340 ms" in panel and "100% of sentences supported" in panel


def test_refusal_is_labelled_in_the_users_language_and_offers_closest_sections():
    chunk = Chunk("c2", "d", "text", "AI大模型创业准备 › 4.1 创业团队组建", "playbook.md", "zh", 0, 4)
    refused = _answer(
        question="今天天气怎么样",
        text="知识库没有涵盖这个问题。",
        language="zh",
        citations=(),
        hits=(Hit(chunk, 0.3, 1),),
        refused=True,
        refusal_reason="off_topic",
    )
    shown = render.answer_markdown(refused)
    assert shown.startswith("**知识库未涵盖这个问题 — 问题不属于创业顾问的范围**")
    panel = render.sources_html(refused)
    assert "最接近的章节" in panel and "4.1 创业团队组建" in panel


def test_model_line_names_model_quantisation_device_and_index():
    line = render.model_line(
        {"model": "qwen2.5-1.5b", "quantization": "Q4_K_M", "device": "cpu", "index": {"chunks": 120}}
    )
    assert line == "Answered by qwen2.5-1.5b (Q4_K_M) on cpu · index: 120 passages"


def test_message_text_reads_every_shape_gradio_and_openai_use_for_message_content():
    assert message_text("a") == "a"
    assert message_text([{"type": "text", "text": "a"}, "b"]) == "ab"
    assert message_text({"text": "c"}) == "c"
    assert message_text(None) == ""
    with pytest.raises(HistoryRejected, match=r"messages\[0\]\.content\[1\] is a part of type 'image_url'"):
        message_text([{"type": "text", "text": "a"}, {"type": "image_url"}], "messages[0].content")


@pytest.mark.parametrize(
    "answer",
    [
        _answer(),
        _answer(removed=("These points are crucial <for> success.", "And this one.")),
        _answer(
            text="知识库没有涵盖这个问题。[2]",
            language="zh",
            citations=(),
            refused=True,
            refusal_reason="off_topic",
        ),
        _answer(text="The knowledge base does not cover this.", citations=(), refused=True),
    ],
)
def test_what_the_chat_shows_turns_back_into_the_answer_text(answer):
    # The chat's history goes back to the advisor as the answer it wrote, as every other channel's does.
    assert render.answer_text(render.answer_markdown(answer)) == answer.text


def test_a_bubble_stopped_while_reading_is_no_answer():
    assert render.answer_text(render.reading_markdown(3, "zh")) == ""
    assert render.answer_text(render.reading_markdown(1, "en")) == ""
    assert render.answer_text("*Reading 3 passages…* and more") != ""


def test_quotes_read_as_text_not_markdown():
    assert render.clean_quote("- **技术能力**：技术背景。 - **业务理解**：B2B-SaaS。") == (
        "• 技术能力：技术背景。\n• 业务理解：B2B-SaaS。"
    )


def test_removed_sentences_are_in_a_collapsed_detail_never_in_the_answer_text():
    answer = _answer(removed=("These points are crucial <for> success.",))
    shown = render.answer_markdown(answer)
    assert "⚠" not in shown
    body, _, detail = shown.partition("<details>")
    assert "crucial" not in body
    assert detail.startswith(
        "<summary>Checked: 1 sentence(s) not backed by the sources were removed</summary>"
    )
    assert "&lt;for&gt;" in detail and "<for>" not in detail  # the removed text is escaped
    assert "<details>" not in render.answer_markdown(_answer())  # nothing removed, no detail


def test_reading_panel_numbers_the_passages_as_the_answer_will_cite_them():
    hits = (
        Hit(Chunk("c1", "d", "成本导向定价 <b>", SECTION, "playbook.md", "zh", 0, 9), 0.9, 3),
        Hit(Chunk("c2", "d", "价值导向定价", "A › B", "other.md", "zh", 0, 6), 0.8, 1),
    )
    panel = render.reading_sources_html(hits, "en")
    assert panel.index('id="src-1"') < panel.index('id="src-2"') and 'id="src-3"' not in panel
    assert "5.3.2 定价策略的类型" in panel and "other.md" in panel and "&lt;b&gt;" in panel
    assert render.reading_line(3, "zh") == "正在阅读 3 段资料…"
    assert render.reading_line(3, "en") == "Reading 3 passages…"
    assert render.reading_line(1, "en") == "Reading 1 passage…"
