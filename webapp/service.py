"""What the UI and the HTTP routes share: the advisor behind the generation queue, and its description."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from webapp.queueing import GenerationQueue
from webapp.security import check_question

DISCONNECT_CHECK_S = 0.25


class ChatService:
    def __init__(self, advisor: Any, *, max_waiting: int, max_question_chars: int):
        self.advisor = advisor
        self.queue = GenerationQueue(max_waiting)
        self.max_question_chars = max_question_chars
        # Pass a stop event when the advisor takes one; closing its iterator stops it in any case.
        self._takes_stop_event = "stop_event" in inspect.signature(advisor.stream).parameters
        self._description: dict[str, Any] = dict(advisor.describe())

    def check(self, question: str) -> str:
        return check_question(question, self.max_question_chars)

    def deltas(self, question: str, history: Sequence[dict[str, str]] = ()) -> AsyncIterator[Any]:
        """AnswerDeltas of one question; the last has done=True and the final Answer. Raises Busy."""
        question = self.check(question)
        history = tuple({"role": m["role"], "content": m["content"]} for m in history)

        def produce(stop):
            if self._takes_stop_event:
                return self.advisor.stream(question, history=history, stop_event=stop)
            return self.advisor.stream(question, history=history)

        return self.queue.stream(produce)

    async def answer(
        self,
        question: str,
        history: Sequence[dict[str, str]] = (),
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> Any | None:
        """The final Answer, or None when the client went away (its generation is then stopped)."""
        beats = with_heartbeat(self.deltas(question, history), every_s=DISCONNECT_CHECK_S)
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
