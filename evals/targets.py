"""What the suite evaluates: an in-process Advisor, or a live deployment over HTTP (POST /api/ask).

Both give the runner the same plain `Reply`, so every metric is computed the same way whichever is
measured. The HTTP API returns less than the in-process Answer (no retrieved list, no per-sentence
grounding, quotes instead of whole passages); the runner says which figures that changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import httpx

from advisor import Advisor, Answer


@dataclass(frozen=True, slots=True)
class CitedPassage:
    n: int
    section: str
    source: str
    quote: str
    passage: str  # the whole cited chunk when known (in process), else the quote (over HTTP)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    language: str
    refused: bool
    refusal_reason: str = ""
    topic: str = ""
    standalone_question: str = ""
    citations: tuple[CitedPassage, ...] = ()
    retrieved_sections: tuple[str, ...] = ()  # the passages the answer was written from, best first
    gate_sentences: tuple[dict[str, Any], ...] | None = None  # the advisor's own verdicts, when known
    gate_supported_fraction: float | None = None
    gate_rescued: bool = False  # shown by the gate's near-threshold rule instead of refused
    timings: dict[str, float] = field(default_factory=dict)
    model_id: str = ""
    passages: tuple[str, ...] = ()  # the texts of the passages the answer was written from, in [n] order
    removed: tuple[str, ...] = ()  # sentences the advisor's gate removed before showing the answer
    missing: tuple[str, ...] = ()  # a not_covered refusal: what was asked that no passage mentions


class Target(Protocol):
    name: str
    can_retrieve: bool

    def retrieve(self, question: str, k: int) -> list[str]:
        """Section paths of the top-k passages for a question, best first."""
        ...

    def ask(self, question: str, history: Sequence[dict[str, str]] = ()) -> Reply: ...

    def describe(self) -> dict[str, Any]: ...


def reply_from_answer(answer: Answer) -> Reply:
    """Flatten an in-process Answer; each citation gets the full text of the chunk it points at."""
    chunk_text = {hit.chunk.chunk_id: hit.chunk.text for hit in answer.hits}
    citations = tuple(
        CitedPassage(c.n, c.section, c.source, c.quote, chunk_text.get(c.chunk_id, c.quote))
        for c in answer.citations
    )
    sentences = tuple(
        {"sentence": s.sentence, "cited": list(s.cited), "score": s.score, "supported": s.supported}
        for s in answer.grounding.sentences
    )
    return Reply(
        text=answer.text,
        language=answer.language,
        refused=answer.refused,
        refusal_reason=answer.refusal_reason,
        topic=answer.topic,
        standalone_question=answer.standalone_question,
        citations=citations,
        retrieved_sections=tuple(hit.chunk.section for hit in answer.hits),
        # [n] in the answer indexes the passages the model read; a refusal has none, so its retrieved ones.
        passages=tuple(hit.chunk.text for hit in (getattr(answer, "passages", ()) or answer.hits)),
        removed=tuple(getattr(answer, "removed", ()) or ()),
        missing=tuple(getattr(answer, "missing", ()) or ()),
        gate_sentences=sentences,
        gate_supported_fraction=answer.grounding.supported_fraction if sentences else None,
        gate_rescued=answer.grounding.rescued,
        timings=asdict(answer.timings),
        model_id=answer.model_id,
    )


class LocalTarget:
    """An Advisor in this process (the default)."""

    name = "local"
    can_retrieve = True

    def __init__(self, advisor: Advisor):
        self.advisor = advisor

    def retrieve(self, question: str, k: int) -> list[str]:
        return [hit.chunk.section for hit in self.advisor.retrieve(question, k=k)]

    def retrieve_located(self, question: str, k: int) -> list[tuple[str, str]]:
        """(source file, section path) of the top-k passages: an added document is known by its file."""
        return [(hit.chunk.source, hit.chunk.section) for hit in self.advisor.retrieve(question, k=k)]

    def ask(self, question: str, history: Sequence[dict[str, str]] = ()) -> Reply:
        return reply_from_answer(self.advisor.ask(question, history=list(history)))

    def describe(self) -> dict[str, Any]:
        return self.advisor.describe()


class RemoteError(RuntimeError):
    """The deployment answered with an error or something that is not the /api/ask contract."""


class HttpTarget:
    """A running deployment, through its public JSON API (the same one the incubator portals use)."""

    name = "http"
    can_retrieve = False  # /api/ask exposes citations, not the ranked retrieval list

    def __init__(self, url: str, *, timeout_s: float = 600.0, api_key: str | None = None, client=None):
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(timeout=timeout_s, headers=headers)

    def retrieve(self, question: str, k: int) -> list[str]:
        raise NotImplementedError("a remote deployment exposes no retrieval list; use a local run")

    def ask(self, question: str, history: Sequence[dict[str, str]] = ()) -> Reply:
        try:
            resp = self._client.post(
                f"{self.url}/api/ask", json={"question": question, "history": list(history)}
            )
        except httpx.HTTPError as exc:
            raise RemoteError(f"POST {self.url}/api/ask failed: {exc}") from exc
        if resp.status_code != 200:
            raise RemoteError(f"POST {self.url}/api/ask -> HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            data = resp.json()
            citations = tuple(
                CitedPassage(
                    int(c.get("n", i + 1)),
                    c.get("section", ""),
                    c.get("source", ""),
                    c.get("quote", ""),
                    c.get("quote", ""),
                )
                for i, c in enumerate(data.get("citations") or [])
            )
            return Reply(
                text=str(data["text"]),
                language=str(data.get("language", "")),
                refused=bool(data.get("refused", False)),
                refusal_reason=str(data.get("refusal_reason", "")),
                topic=str(data.get("topic", "")),
                citations=citations,
                # Best available stand-in for the ranked list: the cited sections, in citation order.
                retrieved_sections=tuple(c.section for c in citations),
                timings={k: float(v) for k, v in (data.get("timings") or {}).items() if _is_number(v)},
                model_id=str(data.get("model_id", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RemoteError(f"{self.url}/api/ask returned an unexpected body: {resp.text[:300]}") from exc

    def describe(self) -> dict[str, Any]:
        return {"url": self.url}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
