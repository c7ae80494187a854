"""What the UI and the HTTP routes share: the advisor behind the generation queue, and its description."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from webapp.conversation import DEFAULT_MAX_MESSAGE_CHARS, advisor_history
from webapp.events import answer_event
from webapp.queueing import GenerationQueue
from webapp.security import check_question
from webapp.store import EventStore

DISCONNECT_CHECK_S = 0.25
T = TypeVar("T")


class AdvisorReloadFailed(RuntimeError):
    """The knowledge changed, but the advisor could not be rebuilt on it: the old one keeps answering."""


class ChatService:
    def __init__(
        self,
        advisor: Any,
        *,
        max_waiting: int,
        max_question_chars: int,
        max_history_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
        store: EventStore | None = None,
        keep_text: bool = False,
    ):
        self.queue = GenerationQueue(max_waiting)
        self.max_question_chars = max_question_chars
        self.max_history_message_chars = max_history_message_chars
        # Every answer served, whatever the route, passes through `deltas`: it is recorded there, once.
        self.store = store
        self.keep_text = keep_text
        self._use(advisor)

    def _use(self, advisor: Any) -> None:
        self.advisor = advisor
        # Pass a stop event when the advisor takes one; closing its iterator stops it in any case.
        self._takes_stop_event = "stop_event" in inspect.signature(advisor.stream).parameters
        self._description: dict[str, Any] = dict(advisor.describe())

    async def change_knowledge(self, change: Callable[[Any], T], rebuild: Callable[[Any], Any]) -> T:
        """Run `change(advisor)` (a document added or removed, the index rebuilt; it may embed with the
        advisor's embedder), then swap in `rebuild(advisor)`, an advisor on the new index — both in one turn
        of the generation queue, with the model to themselves.

        Answers already running finish on the advisor they started with (each holds its own reference);
        answers waiting in line start on the new one. A change that raises leaves the advisor as it was;
        a rebuild that fails raises AdvisorReloadFailed and the old advisor keeps answering.
        """

        def job() -> T:
            result = change(self.advisor)
            try:
                fresh = rebuild(self.advisor)
            except Exception as exc:
                raise AdvisorReloadFailed(
                    f"The knowledge base changed, but the advisor could not load it ({exc}); it answers from "
                    "the previous index until the app is restarted."
                ) from exc
            self._use(fresh)
            return result

        return await self.queue.run_alone(job)

    def check(self, question: str) -> str:
        return check_question(question, self.max_question_chars)

    def deltas(
        self,
        question: str,
        history: Sequence[Any] = (),
        *,
        channel: str = "api",
        shown_answer: Callable[[str], str] | None = None,
        history_name: str = "history",
    ) -> AsyncIterator[Any]:
        """AnswerDeltas of one question; the last has done=True and the final Answer. Raises Busy, and
        QuestionRejected (HistoryRejected for the history) before anything is queued.

        `history` is the channel's messages as it sent them: every channel's goes through the one
        conversion (webapp/conversation.py), with `shown_answer` undoing how the channel showed its answers
        and `history_name` naming the field in errors. `channel` names the route (chat, api, api_stream,
        openai, openai_stream) in the answer's event.
        """
        question = self.check(question)
        history = advisor_history(
            history,
            max_message_chars=self.max_history_message_chars,
            shown_answer=shown_answer,
            where=history_name,
        )
        asked_at = time.monotonic()  # the founder's wait starts here, time in line included

        def produce(stop):
            if self._takes_stop_event:
                stream = self.advisor.stream(question, history=history, stop_event=stop)
            else:
                stream = self.advisor.stream(question, history=history)
            return self._recorded(stream, channel, asked_at)

        return self.queue.stream(produce)

    def _recorded(self, stream: Iterator[Any], channel: str, asked_at: float) -> Iterator[Any]:
        """The advisor's deltas, unchanged; the final Answer also goes to the event store (queued: a
        store that is down or slow never delays the answer). Runs on the generation's worker thread."""
        try:
            for delta in stream:
                if self.store is not None and delta.done and delta.answer is not None:
                    latency_ms = (time.monotonic() - asked_at) * 1000
                    event = answer_event(
                        delta.answer, channel=channel, latency_ms=latency_ms, keep_text=self.keep_text
                    )
                    self.store.record(event)
                yield delta
        finally:
            close = getattr(stream, "close", None)
            if close is not None:  # a dropped client closes this generator: stop the advisor with it
                close()

    async def answer(
        self,
        question: str,
        history: Sequence[Any] = (),
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,
        *,
        channel: str = "api",
        shown_answer: Callable[[str], str] | None = None,
        history_name: str = "history",
    ) -> Any | None:
        """The final Answer, or None when the client went away (its generation is then stopped)."""
        deltas = self.deltas(
            question, history, channel=channel, shown_answer=shown_answer, history_name=history_name
        )
        beats = with_heartbeat(deltas, every_s=DISCONNECT_CHECK_S)
        last_check = time.monotonic()
        try:
            async for delta in beats:
                if is_disconnected is not None and time.monotonic() - last_check >= DISCONNECT_CHECK_S:
                    # A plain request writes nothing until the end, so hang-ups are polled for.
                    last_check = time.monotonic()
                    if await is_disconnected():
                        return None
                if delta is not None and delta.done:
                    return delta.answer
            raise RuntimeError("the advisor's stream ended without a final answer")
        finally:
            await beats.aclose()

    def store_state(self) -> dict[str, Any]:
        """The event store's state for health ({"status": "off"} when the service has none)."""
        return self.store.state().as_dict() if self.store is not None else {"status": "off"}

    @property
    def description(self) -> dict[str, Any]:
        """The advisor's description as last seen (no waiting)."""
        return dict(self._description)

    async def describe(self) -> dict[str, Any]:
        """adv.describe(), computed off the event loop and cached: health must answer while a model runs."""
        # On a timeout the last good description (taken at start-up) is still true enough for health.
        with contextlib.suppress(TimeoutError):
            self._description = await asyncio.wait_for(asyncio.to_thread(self.advisor.describe), timeout=1.0)
        return dict(self._description)


async def with_heartbeat(stream: AsyncIterator[Any], every_s: float) -> AsyncIterator[Any]:
    """Yield the stream's items, and None whenever `every_s` passes without one.

    Streaming responses send a keep-alive on None: writing is how a server notices a client that hung up
    while its question was still waiting in line (the write fails and the response is cancelled).
    """
    pending = asyncio.ensure_future(anext(stream))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=every_s)
            if not done:
                yield None
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            yield item
            pending = asyncio.ensure_future(anext(stream))
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        await stream.aclose()
