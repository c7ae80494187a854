"""What the event store keeps about a conversation: one Event per answer served and per thumbs up/down.

Built from the advisor's Answer here, and only here, so every route records the same fields. The texts
(question, answer) are kept only when the settings allow it (store_question_text): everything else is
about the knowledge base (topic, refusal reason, cited sections), not about the founder.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["answer", "vote"]
# Where an answer was served: the browser chat, /api/ask, /api/ask/stream, /v1/chat/completions (plain
# or streamed), or a vote imported from the old feedback.jsonl.
Channel = Literal["chat", "api", "api_stream", "openai", "openai_stream", "imported"]

# Which process wrote an event: tells replicas apart in the store (and in the two-process tests).
REPLICA = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class Event:
    kind: Kind
    channel: str
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    language: str = ""
    topic: str = ""
    refused: bool = False
    refusal_reason: str = ""
    sections: tuple[str, ...] = ()  # cited sections (heading paths), each once, in citation order
    latency_ms: float | None = None  # request in -> checked answer out, waiting in line included
    first_token_ms: float | None = None
    thumbs: Literal["up", "down"] | None = None
    model_id: str = ""
    replica: str = REPLICA
    question: str | None = None  # None unless store_question_text is on
    answer: str | None = None  # likewise: an answer restates the question

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("Event.time must carry a time zone (UTC)")


def cited_sections(answer: Any) -> tuple[str, ...]:
    """The sections an answer cites, each once, in the order of its [n] markers."""
    return tuple(dict.fromkeys(c.section for c in answer.citations if c.section))


def answer_event(answer: Any, *, channel: str, latency_ms: float, keep_text: bool) -> Event:
    """The event of one checked Answer served on `channel`."""
    return Event(
        kind="answer",
        channel=channel,
        language=answer.language,
        topic=answer.topic,
        refused=answer.refused,
        refusal_reason=answer.refusal_reason,
        sections=cited_sections(answer),
        latency_ms=round(latency_ms, 1),
        first_token_ms=round(answer.timings.first_token_ms, 1) if answer.timings.first_token_ms else None,
        model_id=answer.model_id,
        question=answer.question if keep_text else None,
        answer=answer.text if keep_text else None,
    )


def vote_event(answer: Any | None, *, liked: bool, question: str, shown_text: str, keep_text: bool) -> Event:
    """A thumbs up/down on an answer. `answer` is None when it predates this process (then only the
    shown text is known: no topic, no sections)."""
    common = {
        "kind": "vote",
        "channel": "chat",
        "thumbs": "up" if liked else "down",
        "question": question if keep_text else None,
        "answer": shown_text if keep_text else None,
    }
    if answer is None:
        return Event(**common)
    return Event(
        **common,
        language=answer.language,
        topic=answer.topic,
        refused=answer.refused,
        refusal_reason=answer.refusal_reason,
        sections=cited_sections(answer),
        model_id=answer.model_id,
    )
