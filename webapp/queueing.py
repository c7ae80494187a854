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
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

Produce = Callable[[threading.Event], Iterator[Any]]
T = TypeVar("T")


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
    """Admits one running generation plus at most `max_waiting` waiting ones; the rest get `Busy`.

    The waiting ones run first come, first served. A plain lock would wake an arbitrary waiter, and under
    load a request could then wait behind many that arrived after it (measured with bench/reliability.py:
    75 s in a line that holds 8 s of work).
    """

    def __init__(self, max_waiting: int):
        self.max_waiting = max_waiting
        self._admitted = 0  # running + waiting
        self._count_lock = threading.Lock()
        self._turns = threading.Condition(self._count_lock)  # signalled whenever the line moves
        self._line: deque[object] = deque()  # tickets of the waiting generations, oldest first
        self._running = False  # one generation holds the model
        self._mean_duration_s = 10.0  # a first guess, replaced by measured durations

    def state(self) -> QueueState:
        with self._count_lock:
            running = 1 if self._running else 0
            return QueueState(running, max(0, self._admitted - running), self.max_waiting)

    def is_full(self) -> bool:
        with self._count_lock:
            return self._admitted >= self.max_waiting + 1

    def retry_after_s(self) -> int:
        """An honest estimate: the time the current line needs, from measured generation durations."""
        with self._count_lock:
            return max(1, round(self._mean_duration_s * max(1, self._admitted)))

    def _admit(self, *, over_limit: bool = False) -> object:
        """A ticket: a place at the end of the line. Raises Busy when the line is full (unless over_limit)."""
        with self._count_lock:
            if not over_limit and self._admitted >= self.max_waiting + 1:
                raise Busy(max(1, round(self._mean_duration_s * self._admitted)))
            self._admitted += 1
            ticket = object()
            self._line.append(ticket)
            return ticket

    def _wait_turn(self, ticket: object, stop: threading.Event) -> bool:
        """Block until `ticket` is first in line and the model is free (True), or `stop` is set (False:
        the client left while waiting; its place is given up)."""
        with self._turns:
            while self._running or self._line[0] is not ticket:
                if stop.is_set():
                    self._line.remove(ticket)
                    self._turns.notify_all()  # the next in line may be first now
                    return False
                self._turns.wait(timeout=0.05)  # also wakes up to look at `stop`
            self._line.popleft()
            self._running = True
            return True

    def _end_turn(self) -> None:
        with self._turns:
            self._running = False
            self._turns.notify_all()

    def _leave(self, duration_s: float | None) -> None:
        with self._count_lock:
            self._admitted -= 1
            if duration_s is not None:  # exponential moving average of real generation times
                self._mean_duration_s = 0.7 * self._mean_duration_s + 0.3 * duration_s

    async def run_alone(self, job: Callable[[], T]) -> T:
        """Run `job` on a worker thread in a turn of its own: after the generations already in line, with
        none beside it (it may use the model), and return its result.

        For the rare maintenance job behind the API key (a document change and the advisor's reload), so
        it is not refused when the line is full. A caller that goes away while waiting gives its place up;
        a job that has started runs to its end.
        """
        ticket = self._admit(over_limit=True)
        stop = threading.Event()

        def work() -> T:
            try:
                if not self._wait_turn(ticket, stop):
                    raise asyncio.CancelledError  # the caller is gone; nobody reads this
                try:
                    return job()
                finally:
                    self._end_turn()
            finally:
                self._leave(None)  # not a generation: its duration says nothing about the next answer's

        try:
            return await asyncio.to_thread(work)
        finally:
            stop.set()

    async def stream(self, produce: Produce) -> AsyncIterator[Any]:
        """Run `produce(stop_event)` on a worker thread once the model is free; yield what it yields.

        Raises `Busy` before anything runs when the line is full. Leaving the `async for` early (break,
        exception, task cancellation) stops the generation.
        """
        ticket = self._admit()
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
                # Wait for our turn, but give up at once if the client left while waiting in line.
                if not self._wait_turn(ticket, stop):
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
                    self._end_turn()
            except BaseException as exc:  # handed to the consumer, which re-raises it
                send("error", exc)
            finally:
                self._leave(None if started is None else time.monotonic() - started)
                send("end")

        worker = threading.Thread(target=work, name="generation", daemon=True)
        try:
            worker.start()
        except BaseException:  # no thread, no turn: give the place back or the line stalls behind it
            stop.set()
            with self._turns:
                self._line.remove(ticket)
                self._turns.notify_all()
            self._leave(None)
            raise
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
