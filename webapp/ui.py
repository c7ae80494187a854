"""The Gradio chat: a ChatInterface (stable API endpoint "chat") beside a sources panel.

Translation only: Gradio messages in, advisor answers out through ChatService (the same queue as the HTTP
API). Rendering lives in webapp.render, feedback storage in webapp.feedback.
"""

from __future__ import annotations

import html
import threading
from collections import OrderedDict
from typing import Any

import gradio as gr

from advisor import GenerationError
from webapp import render
from webapp.conversation import message_text
from webapp.feedback import FeedbackLog
from webapp.queueing import Busy
from webapp.security import QuestionRejected
from webapp.service import ChatService

# (topic label, question): every topic of the playbook in both languages.
EXAMPLES = [
    ("团队 Team", "创业团队需要具备哪些核心能力？"),
    ("Team 团队", "How should a startup motivate its founding team?"),
    ("商业模式 Business model", "AI大模型有哪些盈利模式？"),
    ("Business model 商业模式", "What are the key elements of an AI business model?"),
    ("定价 Pricing", "AI大模型产品有哪些定价策略？"),
    ("Pricing 定价", "What pricing strategies suit an AI product?"),
    ("风险 Risk", "AI创业有哪些主要风险，如何应对？"),
    ("Risk 风险", "How should an AI startup manage its risks?"),
]
QUESTION_PLACEHOLDER = "Your question, in 中文 or English · 你的问题"
WORKING_HTML = '<div class="fa-sources fa-working">检索与生成中… Searching and writing…</div>'


class _RecentAnswers:
    """The last answers shown, keyed by their displayed text, so a thumbs-up/down can be saved with the
    question and citations it refers to (Gradio's like event carries only the message). Bounded."""

    def __init__(self, size: int = 2000):
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, shown: str, answer: Any) -> None:
        with self._lock:
            self._items[shown.strip()] = answer
            self._items.move_to_end(shown.strip())
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, shown: str) -> Any | None:
        with self._lock:
            return self._items.get(shown.strip())


def make_chat(service: ChatService, recent: _RecentAnswers):
    """The ChatInterface's handler (module level so it is tested without a browser)."""

    async def chat(message: str, history: list[dict[str, Any]]):
        """Answer a founder's question from the playbook. Yields (answer Markdown, sources panel HTML)."""
        try:
            # Gradio's message dicts as they are (content parts, extra keys): the service converts them
            # like every channel's, the answers shown turned back into the advisor's text.
            deltas = service.deltas(message, history, channel="chat", shown_answer=render.answer_text)
        except QuestionRejected as exc:
            raise gr.Error(str(exc)) from None
        text = ""
        panel = WORKING_HTML
        try:
            async for delta in deltas:
                if delta.done:
                    shown = render.answer_markdown(delta.answer)
                    recent.put(shown, delta.answer)
                    yield shown, render.sources_html(delta.answer)
                    continue
                if delta.sources:
                    # Retrieval is done and the model reads the prompt (seconds on a CPU): show the passages
                    # now, and say in the bubble what is happening until the first words arrive.
                    language = delta.language or "en"
                    panel = render.reading_sources_html(delta.sources, language)
                    if not text:
                        yield render.reading_markdown(len(delta.sources), language), panel
                if delta.text:
                    text += delta.text
                    yield render.link_citations(text), panel
        except Busy as exc:
            raise gr.Error(f"{exc} 当前排队已满，请稍后重试。") from None
        except GenerationError as exc:  # the model server is down, slow or failing: say so, keep the chat
            raise gr.Error(
                f"The model is unavailable, try again shortly ({exc}). 模型暂时不可用，请稍后重试。"
            ) from None
        except ValueError as exc:  # the advisor's own validation, in its words
            raise gr.Error(str(exc)) from None

    return chat


def build_ui(service: ChatService, feedback: FeedbackLog, *, max_question_chars: int) -> gr.Blocks:
    recent = _RecentAnswers()
    chat = make_chat(service, recent)

    def on_like(history: list[dict[str, Any]], data: gr.LikeData) -> None:
        index = data.index if isinstance(data.index, int) else data.index[0]
        shown = message_text(history[index]["content"])
        question = next(
            (message_text(m["content"]) for m in reversed(history[:index]) if m.get("role") == "user"), ""
        )
        answer = recent.get(shown)  # None: the answer predates this server process
        feedback.record(
            liked=data.liked is True,
            question=question,
            answer=answer,
            shown_text=answer.text if answer else render.answer_text(shown),
        )
        gr.Info("Thanks for the feedback · 感谢反馈")

    # analytics off: questions stay on this machine, and an offline server makes no outbound calls.
    with gr.Blocks(
        title="Founder Advisor · 创业顾问", fill_height=True, fill_width=True, analytics_enabled=False
    ) as demo:
        with gr.Row(elem_id="fa-header"):
            gr.HTML(
                '<div class="fa-title">Founder Advisor · 创业顾问</div>'
                '<div class="fa-subtitle">Answers only from the founder playbook, with the section behind '
                "every claim · 只依据创业手册回答，并注明出处</div>"
                f'<div class="fa-model" id="fa-model">{html.escape(render.model_line(service.description))}</div>'
            )
        with gr.Row(elem_id="fa-main", equal_height=False):
            with gr.Column(scale=3, min_width=330, elem_id="fa-chat-col"):
                sources = gr.HTML(render.sources_html(None), elem_id="fa-sources", render=False)
                chatbot = gr.Chatbot(
                    elem_id="fa-chat",
                    height="62vh",
                    min_height=380,
                    buttons=["copy"],
                    feedback_options=("Like", "Dislike"),
                    placeholder="Ask about team, business model, pricing or risk · 可以用中文或英文提问",
                    show_label=False,
                )
                textbox = gr.Textbox(
                    placeholder=QUESTION_PLACEHOLDER,
                    max_length=max_question_chars,
                    show_label=False,
                    autofocus=True,
                    elem_id="fa-question",
                    submit_btn=True,
                    stop_btn=True,
                )
                interface = gr.ChatInterface(
                    chat,
                    chatbot=chatbot,
                    textbox=textbox,
                    additional_outputs=[sources],
                    examples=[q for _, q in EXAMPLES],
                    example_labels=[f"{label} · {q}" for label, q in EXAMPLES],
                    cache_examples=False,
                    api_name="chat",  # stable: Gradio would otherwise name the endpoint after the function
                    fill_height=False,
                    autofocus=True,
                    analytics_enabled=False,
                )
                new_chat = gr.Button(
                    "New conversation · 新对话", elem_id="fa-new", size="sm", variant="secondary"
                )
            with gr.Column(scale=2, min_width=300, elem_id="fa-sources-col"):
                sources.render()

        chatbot.like(on_like, inputs=[chatbot], outputs=None, api_visibility="private")
        # The chat's own trash button clears the conversation; the sources panel follows it.
        chatbot.clear(lambda: render.sources_html(None), None, sources, api_visibility="private", queue=False)
        new_chat.click(
            lambda: ([], [], render.sources_html(None), ""),
            inputs=None,
            outputs=[chatbot, interface.chatbot_state, sources, textbox],
            api_visibility="private",
            queue=False,
        )
    return demo
