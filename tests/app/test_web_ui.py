"""The Gradio chat handler (webapp.ui.make_chat) without a browser: what the bubble and the sources panel
show, yield by yield, on the real advisor with the test profile's fakes and on a scripted service."""

from __future__ import annotations

import asyncio

import gradio as gr
import pytest

from advisor import Answer, AnswerDelta, Citation, GenerationError, Hit
from indexing import Chunk
from tests.app.support import PRICING_QUESTION
from webapp import render
from webapp.service import ChatService
from webapp.ui import WORKING_HTML, _RecentAnswers, make_chat


def _run(chat, message: str, history=()) -> list[tuple[str, str]]:
    async def collect():
        return [out async for out in chat(message, list(history))]

    return asyncio.run(collect())


def _service(advisor) -> ChatService:
    return ChatService(advisor, max_waiting=2, max_question_chars=200)


def test_the_sources_and_a_reading_line_come_before_any_answer_text(advisor):
    recent = _RecentAnswers()
    outputs = _run(make_chat(_service(advisor), recent), PRICING_QUESTION)
    (first_bubble, first_panel), *streamed, (final_bubble, final_panel) = outputs
    # Retrieval done, model reading: the bubble says so in the question's language, the panel shows the
    # passages (numbered as the answer's [n] markers), and no answer text is shown yet.
    count = first_panel.count('class="fa-source"')
    assert count >= 1 and first_bubble == f"*正在阅读 {count} 段资料…*"
    assert 'id="src-1"' in first_panel and "5.3.2 定价策略的类型" in first_panel
    assert "playbook.md" in first_panel and first_panel != WORKING_HTML
    assert "常见的定价策略" not in first_bubble
    # The words replace the reading line; the passages stay in the panel while they stream.
    assert streamed and all("正在阅读" not in bubble for bubble, _ in streamed)
    assert streamed[0][0].startswith("常见的定价策略")
    assert all(panel == first_panel for _, panel in streamed)
    # The checked answer and its cited quotes replace everything, as before.
    answer = recent.get(final_bubble)
    assert answer is not None and final_bubble == render.answer_markdown(answer)
    assert final_panel == render.sources_html(answer) and "fa-timings" in final_panel


def test_a_refusal_before_the_model_shows_no_reading_line(advisor):
    outputs = _run(make_chat(_service(advisor), _RecentAnswers()), "今天天气怎么样")
    assert len(outputs) == 1
    bubble, panel = outputs[0]
    assert "正在阅读" not in bubble and "Reading" not in bubble and "fa-reading" not in panel


SECTIONS = ("Pricing › 5.3.2 Types <of> pricing", "Team › 4.1.1 Core skills")


class ScriptedService:
    """Stands in for ChatService: the deltas an English answer streams (reading, two pieces, done)."""

    def __init__(self):
        self.hits = tuple(
            Hit(Chunk(f"c{i}", "d", f"Passage {i} text.", s, "playbook.md", "en", 0, 1), 0.9, i + 1)
            for i, s in enumerate(SECTIONS)
        )

    def deltas(self, question, history, channel="chat", shown_answer=None):
        hits = self.hits

        async def stream():
            yield AnswerDelta(text="", sources=hits, status="reading", language="en")
            yield AnswerDelta(text="Cost-based pricing ")
            yield AnswerDelta(text="adds a margin [1].")
            citation = Citation(1, "c0", SECTIONS[0], "playbook.md", "Passage 0 text.")
            final = Answer(
                question, "Cost-based pricing adds a margin [1].", "en", (citation,), hits, passages=hits
            )
            yield AnswerDelta(text="", done=True, answer=final)

        return stream()


def test_an_english_question_gets_an_english_reading_line_then_its_words():
    outputs = _run(make_chat(ScriptedService(), _RecentAnswers()), "What pricing strategies exist?")
    bubbles = [bubble for bubble, _ in outputs]
    assert bubbles[:3] == [
        "*Reading 2 passages…*",
        "Cost-based pricing ",
        "Cost-based pricing adds a margin [[1]](#src-1).",
    ]
    reading_panel = outputs[0][1]
    assert 'id="src-1"' in reading_panel and 'id="src-2"' in reading_panel
    assert "Types &lt;of&gt; pricing" in reading_panel and "4.1.1 Core skills" in reading_panel
    assert outputs[1][1] == reading_panel == outputs[2][1]
    assert "fa-timings" in outputs[-1][1]  # the final panel


class FailingEngineService(ScriptedService):
    """The model server goes away after the sources are shown (the openai backend raises GenerationError)."""

    def deltas(self, question, history, channel="chat", shown_answer=None):
        hits = self.hits

        async def stream():
            yield AnswerDelta(text="", sources=hits, status="reading", language="en")
            raise GenerationError("the model server at 127.0.0.1:8081 is not answering")

        return stream()


def test_a_model_server_failure_is_a_clear_message_in_the_chat():
    with pytest.raises(gr.Error, match=r"model is unavailable.*127\.0\.0\.1:8081"):
        _run(make_chat(FailingEngineService(), _RecentAnswers()), "What pricing strategies exist?")
