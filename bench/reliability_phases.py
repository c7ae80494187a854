"""The three phases of the reliability bench, driven over real HTTP: memory, load, drops (see reliability.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from collections.abc import Sequence
from typing import Any

import httpx

from bench.reliability_client import ServerProcess, converse
from bench.reliability_rules import FIRST_QUESTIONS, MAX_REQUEST_S

# --- phases ----------------------------------------------------------------------------------------------


def _client(url: str, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        timeout=httpx.Timeout(MAX_REQUEST_S, connect=10),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def _set_pace(url: str, answer_tokens: int, tokens_per_s: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        r = await c.post("/_bench/pace", json={"answer_tokens": answer_tokens, "tokens_per_s": tokens_per_s})
        r.raise_for_status()


async def memory_phase(
    server: ServerProcess,
    *,
    sessions: int,
    checkpoint: int,
    concurrency: int,
    answer_tokens: int,
    tokens_per_s: float,
    gradio_every: int,
) -> dict[str, Any]:
    """RSS after `checkpoint` sessions and at every further `checkpoint` up to `sessions`.

    A session is a question and a follow-up over the JSON API, and every `gradio_every`-th session also
    one chat turn in the Gradio UI under a new Gradio session (the UI is where the server keeps state
    per session: Gradio's session state and the recent answers kept for thumbs up/down).
    """
    await _set_pace(server.url, answer_tokens, tokens_per_s)
    rng = random.Random(8)
    readings: list[tuple[int, int]] = []
    failures: list[str] = []
    done = 0
    chats = [_gradio_chat(server.url) for _ in range(concurrency)] if gradio_every else []
    async with _client(server.url, concurrency * 2) as client:

        async def run(first: int, count: int) -> None:
            ids = iter(range(first, first + count))

            async def worker(w: int) -> None:
                for i in ids:
                    for r in await converse(client, i, 2, rng, think_s=0.0):
                        if r.final.kind != "answer":
                            failures.append(f"session {i} turn {r.turn}: {r.final.kind} {r.final.detail}")
                    if gradio_every and i % gradio_every == 0:
                        question = FIRST_QUESTIONS["zh"][i % len(FIRST_QUESTIONS["zh"])]
                        if (error := await asyncio.to_thread(_gradio_turn, chats[w], question)) is not None:
                            failures.append(f"session {i} gradio: {error}")

            await asyncio.gather(*(worker(w) for w in range(concurrency)))

        while done < sessions:
            step = min(checkpoint, sessions - done)
            await run(done, step)
            done += step
            readings.append((done, server.rss_bytes()))
    base = next(rss for n, rss in readings if n >= checkpoint)
    return {
        "sessions": sessions,
        "checkpoint": checkpoint,
        "rss_mb": [(n, round(rss / 2**20, 1)) for n, rss in readings],
        "rss_checkpoint_mb": round(base / 2**20, 1),
        "rss_final_mb": round(readings[-1][1] / 2**20, 1),
        "ratio": readings[-1][1] / base,
        "failures": failures[:10],
        "failure_count": len(failures),
    }


def _gradio_chat(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _gradio_turn(chat, question: str) -> str | None:
    """One question in a fresh Gradio session; None when it was answered, else what went wrong."""
    chat.reset_session()  # a new session hash: a new visitor, as far as the server can tell
    try:
        answer, _sources = chat.predict(question, api_name="/chat")
    except Exception as exc:  # the client wraps every server-side failure; report it, keep going
        return f"{type(exc).__name__}: {exc}"[:200]
    return None if answer else "empty answer"


async def load_phase(
    server: ServerProcess, *, users: int, turns: int, answer_tokens: int, tokens_per_s: float, max_queue: int
) -> dict[str, Any]:
    """`users` users at once, `turns` turns each; /api/health sampled throughout."""
    await _set_pace(server.url, answer_tokens, tokens_per_s)
    rng = random.Random(1)
    health: list[tuple[float, bool, int]] = []  # (seconds, line full, status)
    finished = asyncio.Event()

    async def sample_health() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=MAX_REQUEST_S) as c:
            while not finished.is_set():
                t0 = time.monotonic()
                try:
                    r = await c.get("/api/health")
                    queue = r.json().get("queue", {}) if r.status_code == 200 else {}
                    full = queue.get("waiting", 0) >= queue.get("max_waiting", max_queue)
                    health.append((time.monotonic() - t0, full, r.status_code))
                except httpx.HTTPError:
                    health.append((time.monotonic() - t0, False, 0))
                await asyncio.sleep(0.1)

    t0 = time.monotonic()
    async with _client(server.url, users + 10) as client:
        sampler = asyncio.ensure_future(sample_health())
        per_user = await asyncio.gather(*(converse(client, u, turns, rng) for u in range(users)))
        finished.set()
        await sampler
    wall_s = time.monotonic() - t0
    turns_done = [t for user in per_user for t in user]
    outcomes = [o for t in turns_done for o in t.outcomes]
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.kind] = counts.get(o.kind, 0) + 1
    answered = [t for t in turns_done if t.final.kind == "answer"]
    full = [s for s, is_full, _ in health if is_full]
    seconds = [o.seconds for o in outcomes]
    turn_seconds = [t.seconds for t in turns_done]
    busy = [o for o in outcomes if o.kind == "busy"]
    return {
        "users": users,
        "turns": turns,
        "wall_s": wall_s,
        "requests": len(outcomes),
        "counts": counts,
        "by_route": {r: sum(o.route == r for o in outcomes) for r in ("/api/ask", "/api/ask/stream")},
        "turns_expected": users * turns,
        "turns_answered": len(answered),
        # A user whose turn stays busy past the 120 s retry budget gives up: accounted for (a 503 with
        # Retry-After is the honest "come back later" of a full machine), but it ends that user's turns.
        "turns_gave_up_busy": sum(t.final.kind == "busy" for t in turns_done),
        "turns_failed": sum(t.final.kind not in ("answer", "busy") for t in turns_done),
        "refused": sum(t.final.refused for t in answered),
        "busy_without_retry_after": sum(o.retry_after_s is None for o in busy),
        "retry_after_s": _spread([o.retry_after_s for o in busy if o.retry_after_s is not None]),
        "request_s": _spread(seconds),
        "turn_s": _spread(turn_seconds),
        "max_request_s": max(seconds, default=0.0),
        "max_turn_s": max(turn_seconds, default=0.0),
        "health_samples": len(health),
        "health_full_samples": len(full),
        "health_full_s": _spread(full),
        "health_all_s": _spread([s for s, _, _ in health]),
        "health_errors": sum(status != 200 for _, _, status in health),
        "not_answered": [
            f"user {t.user} turn {t.turn}: {t.final.kind} {t.final.status} {t.final.detail[:80]}"
            for t in turns_done
            if t.final.kind != "answer"
        ][:10],
    }


async def _generations_after(url: str, seq: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        return (await c.get("/_bench/generations", params={"after": seq})).json()["records"]


async def _last_seq(url: str) -> int:
    records = await _generations_after(url, 0)
    return max((r["seq"] for r in records), default=0)


async def _drop_sse(url: str, route: str, payload: dict, after_events: int) -> float:
    """Open a stream, read `after_events` data lines, hang up; the monotonic time of the hang-up."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("POST", route, json=payload) as r,
    ):
        r.raise_for_status()
        seen = 0
        async for line in r.aiter_lines():
            seen += line.startswith("data: ")
            if seen >= after_events:
                break
        dropped = time.monotonic()
    return dropped  # leaving both blocks closed the connection mid-answer


async def _drop_plain(url: str, payload: dict, after_s: float) -> float:
    """A plain POST sends nothing back until the answer is done: hang up the raw socket after `after_s`."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(payload).encode()
    head = (
        f"POST /api/ask HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + body)
    await writer.drain()
    await asyncio.sleep(after_s)
    dropped = time.monotonic()
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return dropped


async def drop_phase(
    server: ServerProcess, *, drops: int, answer_tokens: int, tokens_per_s: float
) -> dict[str, Any]:
    """`drops` clients, one after another, each hanging up mid-answer; drop -> model stopped, per client."""
    await _set_pace(server.url, answer_tokens, tokens_per_s)
    question = FIRST_QUESTIONS["zh"][0]
    kinds = ("sse", "openai", "plain")
    stops: list[dict[str, Any]] = []
    for i in range(drops):
        kind = kinds[i % len(kinds)]
        seq = await _last_seq(server.url)
        if kind == "sse":
            dropped = await _drop_sse(server.url, "/api/ask/stream", {"question": question}, 5)
        elif kind == "openai":
            payload = {"messages": [{"role": "user", "content": question}], "stream": True}
            dropped = await _drop_sse(server.url, "/v1/chat/completions", payload, 5)
        else:
            dropped = await _drop_plain(server.url, {"question": question}, 0.5)
        deadline = time.monotonic() + 15
        record = None
        while record is None and time.monotonic() < deadline:
            record = next(
                (r for r in await _generations_after(server.url, seq) if r["kind"] == "answer"), None
            )
            if record is None:
                await asyncio.sleep(0.02)
        stop_s = (record["end"] - dropped) if record else float("inf")
        stops.append(
            {
                "kind": kind,
                "stop_s": stop_s,
                "tokens": record["tokens"] if record else None,
                "planned": record["planned"] if record else None,
            }
        )
        await wait_idle(server.url)
    finite = [s["stop_s"] for s in stops]
    return {
        "drops": drops,
        "stops": stops,
        "stop_s": _spread(finite),
        "max_stop_s": max(finite, default=0.0),
        "stopped_early": sum(s["tokens"] is not None and s["tokens"] < s["planned"] for s in stops),
    }


async def wait_idle(url: str, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        while time.monotonic() < deadline:
            queue = (await c.get("/api/health")).json()["queue"]
            if queue["running"] == 0 and queue["waiting"] == 0:
                return True
            await asyncio.sleep(0.05)
    return False


def _spread(values: Sequence[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {"n": len(values), "p50": statistics.median(values), "p95": p95, "max": values[-1]}
