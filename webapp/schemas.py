"""The JSON contract of the HTTP API (pydantic models: they also make the OpenAPI schema).

Only this module turns the advisor's plain dataclasses into JSON, so the wire format is defined once.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, Field


class ChatMessage(BaseModel):
    role: Literal["user", "assistant", "system", "developer"] = Field(
        description="Who wrote the message: 'user' or 'assistant'; 'system' and 'developer' messages are "
        "accepted and ignored (the advisor's grounding instructions are not replaceable)."
    )
    content: str | list[dict[str, Any]] | None = Field(
        description="The message text, or a list of OpenAI-style text parts ({'type': 'text', 'text': ...}), "
        "joined; parts of another type (images, files) are refused. Empty turns are dropped."
    )


class AskRequest(BaseModel):
    question: str = Field(description="The founder's question, in Chinese or English.")
    history: list[ChatMessage] = Field(
        default_factory=list,
        description="Earlier turns of the conversation, oldest first (for follow-up questions). Any number "
        "is accepted; the advisor reads the most recent ones. A turn over the server's limit is a 413.",
    )


class CitationOut(BaseModel):
    n: int = Field(description="The number of the `[n]` marker in the answer text.")
    chunk_id: str
    section: str = Field(description="Heading path of the cited section, e.g. '… › 5.3 … › 5.3.2 …'.")
    source: str = Field(description="Source document (file name in the knowledge base).")
    quote: str = Field(description="The supporting span, in the source's original language.")


class TimingsOut(BaseModel):
    retrieve_ms: float = 0.0
    first_token_ms: float = 0.0
    total_ms: float = 0.0
    new_tokens: int = 0
    tokens_per_s: float = 0.0


class AnswerOut(BaseModel):
    question: str
    text: str = Field(description="The checked answer, with `[n]` citation markers.")
    language: str = Field(description="'zh' or 'en': the language of the question and the answer.")
    refused: bool = Field(description="True when the knowledge base does not cover the question.")
    refusal_reason: str = Field(
        "",
        description="'', 'weak_retrieval', 'not_covered', 'unsupported', 'off_topic' or 'instructions'.",
    )
    missing: list[str] = Field(
        default_factory=list, description="For 'not_covered': what was asked that no passage mentions."
    )
    removed: list[str] = Field(
        default_factory=list,
        description="Sentences the grounding gate removed (not backed by their sources); never in `text`.",
    )
    topic: str = Field(description="team, business_model, pricing, risk or other.")
    citations: list[CitationOut]
    supported_fraction: float = Field(0.0, description="Share of answer sentences backed by their citations.")
    standalone_question: str = Field("", description="The question as rewritten with the history for search.")
    timings: TimingsOut
    model_id: str


class HealthOut(BaseModel):
    status: Literal["ok", "busy"] = Field(description="'busy' while a generation runs.")
    model: str
    device: str
    index: dict[str, Any] = Field(default_factory=dict, description="Index counts (documents, chunks).")
    queue: dict[str, int] = Field(default_factory=dict, description="running, waiting, max_waiting.")
    advisor: dict[str, Any] = Field(default_factory=dict, description="Everything the advisor describes.")
    store: dict[str, Any] = Field(
        default_factory=dict,
        description="The event store: status ('starting', 'ok', 'down' or 'off'), backend, database (no "
        "password), written, lost (events this process could not store), pending, error, retention_days.",
    )


class ErrorOut(BaseModel):
    detail: str


PREVIEW_CHARS = 160


class SourceOut(BaseModel):
    n: int = Field(description="The number the answer's `[n]` markers will use for this passage (1-based).")
    chunk_id: str
    section: str = Field(description="Heading path of the passage's section, e.g. '… › 5.3 … › 5.3.2 …'.")
    source: str = Field(description="Source document (file name in the knowledge base).")
    preview: str = Field(description=f"The start of the passage (at most {PREVIEW_CHARS} characters).")


class SourcesEventOut(BaseModel):
    """The `sources` event of /api/ask/stream: sent once, when retrieval is done and the model starts
    reading the passages (before its first token)."""

    status: Literal["reading"] = "reading"
    sources: list[SourceOut]


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """A passage's start on one line, cut with an ellipsis when longer than `limit`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def sources_out(hits: Any) -> list[SourceOut]:
    """The passages the model reads (in the order of its `[n]` markers) as the API's JSON models."""
    return [
        SourceOut(
            n=n,
            chunk_id=h.chunk.chunk_id,
            section=h.chunk.section,
            source=h.chunk.source,
            preview=preview(h.chunk.text),
        )
        for n, h in enumerate(hits, start=1)
    ]


def answer_out(answer: Any) -> AnswerOut:
    """The advisor's Answer dataclass as the API's JSON model."""
    return AnswerOut(
        question=answer.question,
        text=answer.text,
        language=answer.language,
        refused=answer.refused,
        refusal_reason=answer.refusal_reason,
        missing=list(getattr(answer, "missing", ()) or ()),
        removed=list(getattr(answer, "removed", ()) or ()),
        topic=answer.topic,
        citations=[
            CitationOut(n=c.n, chunk_id=c.chunk_id, section=c.section, source=c.source, quote=c.quote)
            for c in answer.citations
        ],
        supported_fraction=answer.grounding.supported_fraction,
        standalone_question=answer.standalone_question,
        timings=TimingsOut(**asdict(answer.timings)),
        model_id=answer.model_id,
    )


# --- OpenAI-compatible chat completions ------------------------------------------------------------


class CompletionRequest(BaseModel):
    model: str | None = Field(None, description="Ignored: the server answers with its configured model.")
    messages: list[ChatMessage] = Field(
        description="The conversation; the last user message is the question."
    )
    stream: bool = False
    temperature: float | None = Field(
        None, description="Accepted for compatibility; the server's setting wins."
    )
    max_tokens: int | None = Field(None, description="Accepted for compatibility; the server's setting wins.")


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(BaseModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop"] = "stop"


class CompletionUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Completion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage
    citations: list[CitationOut] = Field(description="Extra field: the sources behind the `[n]` markers.")
    founder_advisor: AnswerOut = Field(description="Extra field: the full checked Answer.")
