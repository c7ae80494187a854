"""One generation at a time per model, a bounded waiting line, and cancellation when the client goes away.

The advisor streams from a blocking iterator (llama.cpp / transformers run on the calling thread), while
FastAPI and Gradio consume asynchronously. Each generation therefore runs on its own worker thread that
hands deltas to the event loop through a queue. The event loop is never blocked, so /api/health and other
requests answer instantly while a generation runs.

Cancelling is cooperative: when the consumer stops (closed tab, dropped HTTP client, Gradio stop button),
the worker sets a stop event and closes the advisor's iterator. Closing a generator raises GeneratorExit
at its current `yield`, which unwinds the advisor's loop over the model's token stream, so the model stops
after at most one more piece instead of finishing the whole answer for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

Produce = Callable[[threading.Event], Iterator[Any]]


class Busy(Exception):
    """Raised when the waiting line is full; the caller should retry after `retry_after_s`."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"The advisor is busy; retry in about {retry_after_s} s.")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class QueueState:
    running: int
    waiting: int
    max_waiting: int


class GenerationQueue:
    """Admits one running generation plus at most `max_waiting` waiting ones; the rest get `Busy`."""

    def __init__(self, max_waiting: int):
        self.max_waiting = max_waiting
        self._admitted = 0  # running + waiting
        self._count_lock = threading.Lock()
        self._model_lock = threading.Lock()  # held by the one generation that is running
        self._mean_duration_s = 10.0  # a first guess, replaced by measured durations

    def state(self) -> QueueState:
        with self._count_lock:
            running = 1 if self._model_lock.locked() else 0
            return QueueState(running, max(0, self._admitted - running), self.max_waiting)

    def is_full(self) -> bool:
        with self._count_lock:
            return self._admitted >= self.max_waiting + 1

    def retry_after_s(self) -> int:
        """An honest estimate: the time the current line needs, from measured generation durations."""
        with self._count_lock:
            return max(1, round(self._mean_duration_s * max(1, self._admitted)))

    def _admit(self) -> None:
        with self._count_lock:
            if self._admitted >= self.max_waiting + 1:
                raise Busy(max(1, round(self._mean_duration_s * self._admitted)))
            self._admitted += 1

    def _leave(self, duration_s: float | None) -> None:
        with self._count_lock:
            self._admitted -= 1
            if duration_s is not None:  # exponential moving average of real generation times
                self._mean_duration_s = 0.7 * self._mean_duration_s + 0.3 * duration_s

    async def stream(self, produce: Produce) -> AsyncIterator[Any]:
        """Run `produce(stop_event)` on a worker thread once the model is free; yield what it yields.

        Raises `Busy` before anything runs when the line is full. Leaving the `async for` early (break,
        exception, task cancellation) stops the generation.
        """
        self._admit()
        loop = asyncio.get_running_loop()
        handoff: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def send(kind: str, item: Any = None) -> None:
            # The loop may already be gone when a cancelled worker finishes: nothing is listening then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(handoff.put_nowait, (kind, item))

        def work() -> None:
            started = None
            try:
                # Wait for the model, but give up at once if the client left while waiting in line.
                while not self._model_lock.acquire(timeout=0.05):
                    if stop.is_set():
                        return
                try:
                    started = time.monotonic()
                    if stop.is_set():
                        return
                    iterator = produce(stop)
                    try:
                        for item in iterator:
                            if stop.is_set():
                                break
                            send("item", item)
                    finally:
                        close = getattr(iterator, "close", None)
                        if close is not None:
                            close()
                finally:
                    self._model_lock.release()
            except BaseException as exc:  # handed to the consumer, which re-raises it
                send("error", exc)
            finally:
                self._leave(None if started is None else time.monotonic() - started)
                send("end")

        worker = threading.Thread(target=work, name="generation", daemon=True)
        worker.start()
        try:
            while True:
                kind, item = await handoff.get()
                if kind == "item":
                    yield item
                elif kind == "error":
                    raise item
                else:
                    return
        finally:
            stop.set()
