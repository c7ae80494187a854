"""The generation queue: one at a time, a bounded line (Busy beyond it), and stopping on cancel."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest

from webapp.queueing import Busy, GenerationQueue


def _counting_producer(log: list[str], name: str, pieces: int = 3, delay_s: float = 0.02):
    def produce(stop: threading.Event):
        log.append(f"start {name}")
        try:
            for i in range(pieces):
                time.sleep(delay_s)
                yield f"{name}{i}"
        finally:
            log.append(f"end {name}")

    return produce


async def _collect(queue: GenerationQueue, produce) -> list[str]:
    return [item async for item in queue.stream(produce)]


def test_generations_run_one_at_a_time_in_arrival_order():
    async def main():
        queue, log = GenerationQueue(max_waiting=4), []
        results = await asyncio.gather(*(_collect(queue, _counting_producer(log, n)) for n in "abc"))
        return results, log

    results, log = asyncio.run(main())
    assert results == [["a0", "a1", "a2"], ["b0", "b1", "b2"], ["c0", "c1", "c2"]]
    # never two starts without an end between them: the model is used by one generation at a time
    for first, second in zip(log[::2], log[1::2], strict=True):
        assert first.split()[1] == second.split()[1] and first.startswith("start")


async def _full_line(log: list[str], pieces: int):
    """A line of one: generation "a" (`pieces` long) running, "b" waiting; (queue, running, waiting)."""
    queue = GenerationQueue(max_waiting=1)
    running = asyncio.ensure_future(_collect(queue, _counting_producer(log, "a", pieces=pieces)))
    waiting = asyncio.ensure_future(_collect(queue, _counting_producer(log, "b")))
    await asyncio.sleep(0.05)
    assert queue.is_full() and queue.state().waiting == 1
    return queue, running, waiting


def test_a_job_run_alone_waits_its_turn_past_a_full_line_and_runs_with_nothing_beside_it():
    """The document routes' change-and-reload: admitted when the line is full, after those already in it."""

    async def main():
        log: list[str] = []
        queue, running, waiting = await _full_line(log, pieces=5)

        def job() -> str:
            log.append("start job")
            time.sleep(0.05)
            log.append("end job")
            return "changed"

        result = await queue.run_alone(job)  # not Busy, though the line is full
        await asyncio.gather(running, waiting)
        return result, log, queue

    result, log, queue = asyncio.run(main())
    assert result == "changed"
    assert log == ["start a", "end a", "start b", "end b", "start job", "end job"]
    assert queue.state().running == 0 and not queue.is_full()


def test_a_full_line_is_refused_with_a_retry_estimate():
    async def main():
        log: list[str] = []
        queue, running, waiting = await _full_line(log, pieces=10)
        with pytest.raises(Busy) as refused:
            await _collect(queue, _counting_producer(log, "c"))
        await asyncio.gather(running, waiting)
        return refused.value, queue

    refused, queue = asyncio.run(main())
    assert refused.retry_after_s >= 1
    assert not queue.is_full() and queue.state().running == 0  # slots are given back


def test_leaving_early_stops_the_generation_and_frees_the_model():
    stopped, produced = threading.Event(), []

    def produce(stop: threading.Event):
        try:
            for i in range(1000):
                if stop.is_set():
                    return
                time.sleep(0.01)
                produced.append(i)
                yield i
        finally:
            stopped.set()

    async def main():
        queue = GenerationQueue(max_waiting=1)
        # aclosing: leaving an `async for` does not close an async generator by itself (the consumers in
        # webapp close theirs the same way; Gradio does too).
        async with contextlib.aclosing(queue.stream(produce)) as items:
            async for item in items:
                if item == 2:
                    break
        assert stopped.wait(2), "the producer was not closed"
        return queue

    queue = asyncio.run(main())
    assert len(produced) < 10
    deadline = time.monotonic() + 2
    while queue.state().running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert queue.state().running == 0


def test_an_error_in_the_generation_reaches_the_consumer():
    def produce(stop):
        yield "x"
        raise ValueError("bad question")

    async def main():
        return await _collect(GenerationQueue(max_waiting=1), produce)

    with pytest.raises(ValueError, match="bad question"):
        asyncio.run(main())


def test_a_long_line_is_served_first_come_first_served():
    """A plain lock wakes an arbitrary waiter: under load a request then waited behind many later ones
    (bench/reliability.py measured 75 s in a line worth 8 s). Sixteen arrivals must start in order."""

    async def main():
        queue, starts = GenerationQueue(max_waiting=20), []

        def producer(name: int):
            def produce(stop: threading.Event):
                starts.append(name)
                time.sleep(0.01)
                yield name

            return produce

        async def arrive(name: int, delay_s: float) -> list[int]:
            await asyncio.sleep(delay_s)
            return [item async for item in queue.stream(producer(name))]

        await asyncio.gather(*(arrive(i, 0.003 * i) for i in range(16)))
        return starts

    for _ in range(3):  # out of order in every run with the old lock; in order with the line
        assert asyncio.run(main()) == list(range(16))


def test_leaving_the_line_gives_the_place_to_the_next():
    async def main():
        queue, log = GenerationQueue(max_waiting=3), []
        running = asyncio.ensure_future(_collect(queue, _counting_producer(log, "a", pieces=10)))
        await asyncio.sleep(0.02)
        leaver = asyncio.ensure_future(_collect(queue, _counting_producer(log, "b")))
        stayer = asyncio.ensure_future(_collect(queue, _counting_producer(log, "c")))
        await asyncio.sleep(0.02)
        leaver.cancel()  # a client that hangs up while waiting
        results = await asyncio.gather(running, stayer)
        return results, log, queue

    (a, c), log, queue = asyncio.run(main())
    assert a == [f"a{i}" for i in range(10)] and c == ["c0", "c1", "c2"]
    assert "start b" not in log  # the one that left never ran
    assert queue.state() == queue.state().__class__(0, 0, 3)
