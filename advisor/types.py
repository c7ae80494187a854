"""Plain result types of the advisor: what the app, the evals and outside scripts receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from indexing.types import Chunk, Hit

Topic = Literal["team", "business_model", "pricing", "risk", "other"]


@dataclass(frozen=True, slots=True)
class Citation:
    """A `[n]` marker in the answer, resolved to the passage it points at."""

    n: int
    chunk_id: str
    section: str
    source: str
    quote: str  # the span of the chunk that supports the citing sentence(s)


@dataclass(frozen=True, slots=True)
class SentenceSupport:
    """The grounding verdict for one answer sentence."""

    sentence: str
    cited: tuple[int, ...]  # the [n] markers on this sentence
    score: float  # 0..1, probability that the cited passages support the sentence
    supported: bool


@dataclass(frozen=True, slots=True)
class Grounding:
    sentences: tuple[SentenceSupport, ...] = ()
    supported_fraction: float = 0.0
    checker: str = ""
    rescued: bool = False  # kept by the near-threshold rule instead of refused (ground._rescued)


@dataclass(frozen=True, slots=True)
class Timings:
    retrieve_ms: float = 0.0
    first_token_ms: float = 0.0
    total_ms: float = 0.0
    new_tokens: int = 0
    tokens_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    text: str
    language: str  # "zh" | "en"
    citations: tuple[Citation, ...] = ()
    hits: tuple[Hit, ...] = ()
    refused: bool = False
    topic: Topic = "other"
    grounding: Grounding = field(default_factory=Grounding)
    model_id: str = ""
    timings: Timings = field(default_factory=Timings)
    standalone_question: str = ""  # the follow-up rewritten with history, as used for retrieval
    refusal_reason: str = (
        ""  # "", "weak_retrieval", "not_covered", "unsupported", "off_topic", "instructions"
    )
    # The passages the model read, in the order of its [n] markers (a subset of `hits`, which holds every
    # retrieved passage; empty when the answer was refused before generation).
    passages: tuple[Hit, ...] = ()
    # Sentences the grounding gate removed because their passages do not support them: never in `text`,
    # kept so a curious reader can open a collapsed "checked" detail and see what was left out.
    removed: tuple[str, ...] = ()
    # For a "not_covered" refusal: what the question asked that no passage mentions ("2023", "valuation").
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnSearch:
    """What the advisor would read for one turn of a conversation, without answering it."""

    standalone_question: str  # the follow-up rewritten with the history (the question itself otherwise)
    topic: Topic
    hits: tuple[Hit, ...]
    weak: bool  # too far from anything in the knowledge base: the turn would be refused unread


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    """One streamed piece of an answer; the last one has done=True and carries the final Answer."""

    text: str
    done: bool = False
    answer: Answer | None = None
    # Set on the one delta sent when retrieval is done and the model starts reading (before the first
    # token): the passages it reads, in [n] order, so a reader sees the sources while the prompt is read.
    sources: tuple[Hit, ...] = ()
    status: str = ""  # "" or "reading": the model is reading the passages (the UI shows progress)
    language: str = ""  # set with the sources: the language the answer will be written in ("zh" | "en")


__all__ = [
    "Answer",
    "AnswerDelta",
    "Chunk",
    "Citation",
    "Grounding",
    "Hit",
    "SentenceSupport",
    "Timings",
    "Topic",
]
