"""Reliability under load (issue 8): ``python -m bench reliability [--users 100 --turns 3 --sessions 1000]``.

Starts the real app (app.create_app: FastAPI routes, the generation queue, Gradio mounted at /) in a child
process under uvicorn on a free loopback port, with the real advisor pipeline over the real playbook
(retrieval, citations, the grounding gate) and two stand-ins that make it cheap: a HashEmbedder index and
a fake model that streams tokens at a fixed rate (100 tokens/s by default). Then it drives the server over
real HTTP (httpx, asyncio) in three phases and prints one table of figures and rules:

1. memory  -- short two-turn sessions (question, follow-up with history) at a steady concurrency; server
              RSS after the first ``--memory-checkpoint`` sessions vs after ``--sessions`` (rule: <= 1.1x).
              Run first, on the fresh server, so both readings come from the same steady regime.
2. load    -- ``--users`` simulated users at once, ``--turns`` turns each (follow-ups carry the history),
              alternating /api/ask and /api/ask/stream. A "busy" answer (503 + Retry-After, or a busy
              error event in a stream) is retried with capped exponential backoff and jitter, never waiting
              longer than the server's Retry-After. Every request is counted by outcome; none may take
              120 s; /api/health is sampled meanwhile and must answer in < 2 s while the line is full.
3. drops   -- ``--drops`` clients hang up mid-answer (SSE, OpenAI stream, plain POST on a raw socket). The
              server-side model records when its token stream ended; drop -> stop must be < 2 s each.

The child process exposes two bench-only routes (/_bench/...) to read the model's records and change its
pace between phases; the production app has no such routes. Clocks: time.monotonic is CLOCK_MONOTONIC,
one clock for every process on the machine, so client and server timestamps compare directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from config import PROJECT_ROOT
from hostkit import free_port

# --- rules of issue 8 -----------------------------------------------------------------------------------
MAX_REQUEST_S = 120.0  # no request may hang past this
MAX_HEALTH_S = 2.0  # /api/health while the generation line is full
MAX_MEMORY_RATIO = 1.1  # RSS after --sessions vs after --memory-checkpoint sessions
MAX_DROP_TO_STOP_S = 2.0  # a dropped client's generation must stop within this

# Retry policy of the simulated users: exponential backoff with full jitter, capped, and never longer
# than the server's own Retry-After estimate.
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 8.0

# Questions the playbook covers (Chinese) and the same in English; each user asks one, then follow-ups
# that only make sense with the history (so the advisor condenses them with the model first).
FIRST_QUESTIONS = {
    "zh": (
        "AI大模型产品有哪些定价策略？",
        "创业团队需要具备哪些核心能力？",
        "AI创业有哪些主要风险，如何应对？",
    ),
    "en": ("What pricing strategies suit an AI product?", "How should a startup motivate its founding team?"),
}
FOLLOW_UPS = {
    "zh": ("那风险呢？", "还有哪些定价方式？", "那团队呢？"),
    "en": ("And the risks?", "What about pricing?"),
}


# =======================================================================================================
# Server side (runs in the child process)
# =======================================================================================================


class PacedGenerator:
    """A fake model with a real model's timing: one token per 1/tokens_per_s, stoppable between tokens.

    It answers from the prompt it is given (passage [1]'s own words, cited), so the grounding gate
    passes on the merits; a condense prompt gets the follow-up back. Every token stream is logged
    (kind, start, end, tokens, planned) in a bounded deque: the log must not itself grow per session.
    """

    model_id = "paced-fake"
    device = "cpu"

    def __init__(self, tokens_per_s: float, answer_tokens: int, log_size: int = 2048, leak_kb: int = 0):
        self.tokens_per_s = tokens_per_s
        self.answer_tokens = answer_tokens
        # A deliberate leak (KB kept per answer), only for the test proving the memory check can fail.
        self.leak_kb = leak_kb
        self._leaked: list[bytearray] = []
        self._log: deque[tuple] = deque(maxlen=log_size)
        self._seq = 0
        self._lock = threading.Lock()

    def stream(self, messages, max_new_tokens, temperature, stop_event=None) -> Iterator[str]:
        prompt = str(messages[-1]["content"]) if messages else ""
        kind, tokens = _fake_reply(prompt, self.answer_tokens)
        tokens = tokens[:max_new_tokens]
        if self.leak_kb and kind == "answer":
            self._leaked.append(bytearray(b"x" * (self.leak_kb * 1024)))  # touched: counts in RSS
        with self._lock:
            self._seq += 1
            seq = self._seq
        start, produced = time.monotonic(), 0
        try:
            for token in tokens:
                if stop_event is not None and stop_event.is_set():
                    return
                time.sleep(1.0 / self.tokens_per_s)
                produced += 1
                yield token
        finally:  # reached on normal end, on stop_event, and on close() (GeneratorExit at the yield)
            with self._lock:
                self._log.append((seq, kind, start, time.monotonic(), produced, len(tokens)))

    def records(self, after: int) -> list[dict[str, Any]]:
        names = ("seq", "kind", "start", "end", "tokens", "planned")
        with self._lock:
            return [dict(zip(names, r, strict=True)) for r in self._log if r[0] > after]


_PASSAGE_1 = re.compile(r"^\[1\][^\n]*\n([^\n]+)", re.MULTILINE)
_FOLLOW_UP = re.compile(r"^(?:追问|Follow-up)\s*[:：]\s*(.+)$", re.MULTILINE)


def _fake_reply(prompt: str, answer_tokens: int) -> tuple[str, list[str]]:
    """(kind, tokens): an answer copied from passage [1] with its marker, or the follow-up as rewritten.

    The answer is passage [1]'s text (read again from its start if it is shorter than `answer_tokens`),
    one token per character, so its length is what the phase asks for and every sentence is supported.
    """
    if (passage := _PASSAGE_1.search(prompt)) is not None:
        text = [ch for ch in passage.group(1) if not ch.isspace()] or ["。"]
        body = [text[i % len(text)] for i in range(answer_tokens)]
        return "answer", [*body, " [1]", "。"]
    follow_up = _FOLLOW_UP.search(prompt)
    return "condense", list(follow_up.group(1).strip() if follow_up else "")


def _playbook_index(settings):
    """The real playbook, chunked by the real chunker, embedded by the HashEmbedder (no model load)."""
    from indexing import HashEmbedder, VectorIndex
    from indexing.chunking import chunk_document
    from indexing.documents import load_documents

    loaded = load_documents([settings.knowledge_dir], max_file_mb=settings.max_file_mb)
    chunks = [
        c for d in loaded.documents for c in chunk_document(d, settings.chunk_size, settings.chunk_overlap)
    ]
    embedder = HashEmbedder()
    return embedder, VectorIndex.from_chunks(chunks, embedder)


def bench_app(data_dir: Path, *, max_queue: int, tokens_per_s: float, answer_tokens: int, leak_kb: int = 0):
    """app.create_app on the real advisor with the paced model, plus the /_bench routes."""
    from fastapi import APIRouter, Body

    from advisor import build_advisor
    from app import create_app
    from config import settings_for_tests

    # The hash embedder's similarities are lower than e5's: 0.3 is its weak-retrieval floor (as in tests).
    settings = settings_for_tests(
        data_dir=data_dir, max_queue=max_queue, min_dense_score=0.3, knowledge_dir=PROJECT_ROOT / "knowledge"
    )
    generator = PacedGenerator(tokens_per_s, answer_tokens, leak_kb=leak_kb)
    embedder, index = _playbook_index(settings)
    app = create_app(
        settings, advisor=build_advisor(settings, generator=generator, embedder=embedder, index=index)
    )

    hooks = APIRouter(prefix="/_bench")

    @hooks.get("/generations")
    def generations(after: int = 0) -> dict[str, Any]:
        return {"records": generator.records(after), "now": time.monotonic()}

    @hooks.post("/pace")
    def pace(answer_tokens: int = Body(...), tokens_per_s: float = Body(...)) -> dict[str, Any]:
        generator.answer_tokens, generator.tokens_per_s = answer_tokens, tokens_per_s
        return {"answer_tokens": answer_tokens, "tokens_per_s": tokens_per_s}

    # Gradio is mounted at "/" and would shadow routes added after it: put the hooks first.
    before = len(app.router.routes)
    app.include_router(hooks)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    return app


def serve_main(argv: Sequence[str] | None = None) -> None:
    """Child-process entry: ``python -c 'from bench.reliability import serve_main; serve_main()' JSON``."""
    import uvicorn

    options = json.loads((argv if argv is not None else sys.argv[1:])[0])
    app = bench_app(
        Path(options["data_dir"]),
        max_queue=options["max_queue"],
        tokens_per_s=options["tokens_per_s"],
        answer_tokens=options["answer_tokens"],
        leak_kb=options.get("leak_kb", 0),
    )
    uvicorn.run(app, host="127.0.0.1", port=options["port"], log_level="warning", access_log=False)


# =======================================================================================================
# Driver side
# =======================================================================================================


class ServerProcess:
    """The bench app in a child process (its own interpreter: its memory is measured alone)."""

    def __init__(
        self,
        *,
        max_queue: int,
        tokens_per_s: float,
        answer_tokens: int,
        leak_kb: int = 0,
        start_timeout_s: float = 90,
    ):
        self._tmp = tempfile.TemporaryDirectory(prefix="fa-reliability-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options = {
            "data_dir": str(Path(self._tmp.name) / "data"),
            "port": self.port,
            "max_queue": max_queue,
            "tokens_per_s": tokens_per_s,
            "answer_tokens": answer_tokens,
            "leak_kb": leak_kb,
        }
        self._log = open(Path(self._tmp.name) / "server.log", "w+b")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from bench.reliability import serve_main; serve_main()",
                json.dumps(options),
            ],
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(start_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the bench server exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        self.close()
        raise RuntimeError(f"the bench server did not answer /api/health in {timeout_s:.0f} s")

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-chars:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss_bytes(self) -> int:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- one request, classified -----------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """How one HTTP request ended. kind: answer | busy | client_error | server_error | transport | timeout
    | incomplete (a stream that ended without its answer or error event)."""

    kind: str
    route: str
    seconds: float
    status: int = 0
    text: str = ""
    refused: bool = False
    retry_after_s: float | None = None
    detail: str = ""


def _classify_status(route: str, response: httpx.Response, seconds: float) -> Outcome:
    try:
        detail = str(response.json().get("detail", ""))
    except (ValueError, AttributeError):
        detail = response.text[:200]
    if response.status_code == 503:
        header = response.headers.get("retry-after")
        return Outcome(
            "busy", route, seconds, 503, retry_after_s=float(header) if header else None, detail=detail
        )
    kind = "client_error" if response.status_code < 500 else "server_error"
    return Outcome(kind, route, seconds, response.status_code, detail=detail)


async def ask_plain(client: httpx.AsyncClient, question: str, history: list[dict]) -> Outcome:
    route, t0 = "/api/ask", time.monotonic()
    try:
        r = await client.post(route, json={"question": question, "history": history})
    except httpx.TimeoutException:
        return Outcome("timeout", route, time.monotonic() - t0)
    except httpx.HTTPError as exc:
        return Outcome("transport", route, time.monotonic() - t0, detail=repr(exc))
    seconds = time.monotonic() - t0
    if r.status_code != 200:
        return _classify_status(route, r, seconds)
    body = r.json()
    return Outcome("answer", route, seconds, 200, text=body["text"], refused=body["refused"])


async def ask_stream(client: httpx.AsyncClient, question: str, history: list[dict]) -> Outcome:
    route, t0 = "/api/ask/stream", time.monotonic()
    try:
        async with client.stream("POST", route, json={"question": question, "history": history}) as r:
            if r.status_code != 200:
                await r.aread()
                return _classify_status(route, r, time.monotonic() - t0)
            event = ""
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event in ("answer", "error"):
                    data = json.loads(line.removeprefix("data: "))
                    seconds = time.monotonic() - t0
                    if event == "answer":
                        return Outcome(
                            "answer", route, seconds, 200, text=data["text"], refused=data["refused"]
                        )
                    if "retry_after_s" in data:  # admitted by the check, then the line filled: busy
                        return Outcome("busy", route, seconds, 200, retry_after_s=data["retry_after_s"])
                    return Outcome("client_error", route, seconds, 200, detail=data.get("detail", ""))
            return Outcome("incomplete", route, time.monotonic() - t0, 200)
    except httpx.TimeoutException:
        return Outcome("timeout", route, time.monotonic() - t0)
    except httpx.HTTPError as exc:
        return Outcome("transport", route, time.monotonic() - t0, detail=repr(exc))


def _backoff_s(attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
    cap = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
    if retry_after_s is not None:
        cap = min(cap, retry_after_s)
    return rng.uniform(cap / 2, cap)


@dataclass
class TurnResult:
    user: int
    turn: int
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0  # from the first try to the answer (retries and backoff included)

    @property
    def final(self) -> Outcome:
        return self.outcomes[-1]


async def converse(
    client: httpx.AsyncClient,
    user: int,
    turns: int,
    rng: random.Random,
    *,
    think_s: float = 0.3,
    turn_deadline_s: float = MAX_REQUEST_S,
) -> list[TurnResult]:
    """One simulated user: a first question, then follow-ups that carry the history; busy -> back off."""
    language = "zh" if user % 4 else "en"
    history: list[dict[str, str]] = []
    results = []
    for turn in range(turns):
        pool = FIRST_QUESTIONS[language] if turn == 0 else FOLLOW_UPS[language]
        question = pool[(user + turn) % len(pool)]
        ask = ask_plain if (user + turn) % 2 == 0 else ask_stream
        result, t0 = TurnResult(user, turn), time.monotonic()
        attempt = 0
        while True:
            outcome = await ask(client, question, history)
            result.outcomes.append(outcome)
            if outcome.kind != "busy" or time.monotonic() - t0 > turn_deadline_s:
                break
            await asyncio.sleep(_backoff_s(attempt, outcome.retry_after_s, rng))
            attempt += 1
        result.seconds = time.monotonic() - t0
        results.append(result)
        if result.final.kind != "answer":
            break  # a user who got an error stops (the error is counted; the history would be wrong)
        history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": result.final.text},
        ]
        await asyncio.sleep(rng.uniform(0, think_s))
    return results


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
        await _wait_idle(server.url)
    finite = [s["stop_s"] for s in stops]
    return {
        "drops": drops,
        "stops": stops,
        "stop_s": _spread(finite),
        "max_stop_s": max(finite, default=0.0),
        "stopped_early": sum(s["tokens"] is not None and s["tokens"] < s["planned"] for s in stops),
    }


async def _wait_idle(url: str, timeout_s: float = 10) -> bool:
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


# --- the whole run, its rules and its table --------------------------------------------------------------


@dataclass
class Config:
    users: int = 100
    turns: int = 3
    sessions: int = 1000
    memory_checkpoint: int = 100
    memory_concurrency: int = 4
    drops: int = 20
    tokens_per_s: float = 100.0
    answer_tokens: int = 40  # load phase: ~0.4 s of streaming per answer at 100 tokens/s
    memory_answer_tokens: int = 4  # memory phase: cheap sessions (the point is per-session state)
    gradio_every: int = 2  # memory phase: every 2nd session also chats once in the Gradio UI
    drop_answer_tokens: int = 600  # drop phase: 6 s answers, so "stopped" and "finished" differ clearly
    max_queue: int = 16  # the production default (settings.max_queue)
    leak_kb: int = 0  # > 0 only in the test that proves the memory rule catches a leak
    max_memory_ratio: float = MAX_MEMORY_RATIO


@dataclass
class Report:
    config: Config
    memory: dict[str, Any] | None = None
    load: dict[str, Any] | None = None
    drop: dict[str, Any] | None = None
    alive_after: bool = False
    idle_after: bool = False
    checks: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (check, figure, rule, ok)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for *_, ok in self.checks)


def run_all(config: Config) -> Report:
    report = Report(config)
    with ServerProcess(
        max_queue=config.max_queue,
        tokens_per_s=config.tokens_per_s,
        answer_tokens=config.answer_tokens,
        leak_kb=config.leak_kb,
    ) as server:
        try:
            asyncio.run(_phases(server, config, report))
        finally:
            report.alive_after = server.alive()
            if not report.alive_after:
                print(server.log_tail(), file=sys.stderr)
    report.checks = evaluate(report)
    return report


async def _phases(server: ServerProcess, config: Config, report: Report) -> None:
    if config.sessions:
        report.memory = await memory_phase(
            server,
            sessions=config.sessions,
            checkpoint=config.memory_checkpoint,
            concurrency=config.memory_concurrency,
            answer_tokens=config.memory_answer_tokens,
            tokens_per_s=config.tokens_per_s,
            gradio_every=config.gradio_every,
        )
    if config.users:
        report.load = await load_phase(
            server,
            users=config.users,
            turns=config.turns,
            answer_tokens=config.answer_tokens,
            tokens_per_s=config.tokens_per_s,
            max_queue=config.max_queue,
        )
    if config.drops:
        report.drop = await drop_phase(
            server,
            drops=config.drops,
            answer_tokens=config.drop_answer_tokens,
            tokens_per_s=config.tokens_per_s,
        )
    report.idle_after = await _wait_idle(server.url)


def evaluate(report: Report) -> list[tuple[str, str, str, bool]]:
    checks = []
    if (m := report.memory) is not None:
        checks.append(
            (
                f"memory: RSS after {m['sessions']} vs {m['checkpoint']} sessions",
                f"{m['rss_final_mb']:.1f} / {m['rss_checkpoint_mb']:.1f} MB = {m['ratio']:.3f}x",
                f"<= {report.config.max_memory_ratio}x",
                m["ratio"] <= report.config.max_memory_ratio,
            )
        )
        checks.append(
            ("memory: sessions answered", f"{m['failure_count']} failed turns", "0", m["failure_count"] == 0)
        )
    if (load := report.load) is not None:
        c = load["counts"]
        accounted = sum(c.get(k, 0) for k in ("answer", "busy", "client_error", "server_error"))
        checks += [
            (
                "load: requests accounted for",
                f"{accounted}/{load['requests']} ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})",
                "all; no transport error, timeout or cut stream",
                accounted == load["requests"],
            ),
            (
                "load: turns answered",
                f"{load['turns_answered']}/{load['turns_expected']} ({load['refused']} refusals); "
                f"{load['turns_gave_up_busy']} gave up after 120 s of busy 503s",
                "(figure: capacity depends on the machine)",
                True,
            ),
            (
                "load: turns that ended in an error",
                str(load["turns_failed"]),
                "0 (every turn ends in an answer or a busy 503 with Retry-After)",
                load["turns_failed"] == 0,
            ),
            ("load: 5xx other than 503", str(c.get("server_error", 0)), "0", c.get("server_error", 0) == 0),
            (
                "load: 503 without Retry-After",
                f"{load['busy_without_retry_after']} of {c.get('busy', 0)}",
                "0",
                load["busy_without_retry_after"] == 0,
            ),
            (
                "load: request latency p50 / p95 / max",
                _fmt(load["request_s"]),
                f"max < {MAX_REQUEST_S:.0f} s",
                load["max_request_s"] < MAX_REQUEST_S,
            ),
            ("load: turn time incl. retries p50 / p95 / max", _fmt(load["turn_s"]), "(figure)", True),
            ("load: Retry-After given p50 / p95 / max", _fmt(load["retry_after_s"]), "(figure)", True),
            (
                "health while the line is full p50 / max",
                f"{_fmt(load['health_full_s'], ('p50', 'max'))} ({load['health_full_samples']} samples)",
                f"max < {MAX_HEALTH_S:.0f} s, >= 1 sample",
                load["health_full_samples"] > 0 and load["health_full_s"]["max"] < MAX_HEALTH_S,
            ),
            (
                "health during the whole load p50 / max",
                f"{_fmt(load['health_all_s'], ('p50', 'max'))} ({load['health_errors']} errors)",
                "no errors",
                load["health_errors"] == 0,
            ),
        ]
    if (d := report.drop) is not None:
        checks += [
            (
                f"drops: {d['drops']} clients hang up mid-answer, drop -> model stopped",
                _fmt(d["stop_s"]),
                f"each < {MAX_DROP_TO_STOP_S:.0f} s",
                len(d["stops"]) == d["drops"] and d["max_stop_s"] < MAX_DROP_TO_STOP_S,
            ),
            (
                "drops: generations cut short",
                f"{d['stopped_early']}/{d['drops']}",
                "all",
                d["stopped_early"] == d["drops"],
            ),
        ]
    checks.append(
        (
            "server alive and idle afterwards",
            f"alive {report.alive_after}, idle {report.idle_after}",
            "both",
            report.alive_after and report.idle_after,
        )
    )
    return checks


def _fmt(spread: dict[str, float], keys: Sequence[str] = ("p50", "p95", "max")) -> str:
    if not spread.get("n"):
        return "-"
    return " / ".join(f"{spread[k]:.3f}" for k in keys) + " s"


def format_table(report: Report) -> str:
    c = report.config
    lines = [
        f"users {c.users} x turns {c.turns}, sessions {c.sessions} (checkpoint {c.memory_checkpoint}), "
        f"drops {c.drops}; fake model {c.tokens_per_s:.0f} tokens/s, answers {c.answer_tokens} tokens; "
        f"max_queue {c.max_queue}",
        "",
        "| check | figure | rule | pass |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {figure} | {rule} | {'yes' if ok else 'NO'} |"
        for name, figure, rule, ok in report.checks
    ]
    if report.load:
        load = report.load
        lines += [
            "",
            f"load: {load['requests']} requests in {load['wall_s']:.1f} s, by route {load['by_route']}",
        ]
        lines += [f"  not answered: {x}" for x in load["not_answered"]]
    if report.memory:
        lines.append(
            "memory: RSS (MB) after n sessions: "
            + ", ".join(f"{n}: {mb}" for n, mb in report.memory["rss_mb"])
        )
        lines += [f"  failed: {x}" for x in report.memory["failures"]]
    if report.drop:
        per_kind: dict[str, list[float]] = {}
        for s in report.drop["stops"]:
            per_kind.setdefault(s["kind"], []).append(s["stop_s"])
        lines.append(
            "drops: max drop -> stop by kind: "
            + ", ".join(f"{k} {max(v):.3f} s (n={len(v)})" for k, v in per_kind.items())
        )
    lines.append("")
    lines.append("ALL RULES PASS" if report.ok else "SOME RULES FAIL")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Config()
    parser.add_argument("--users", type=int, default=d.users, help="concurrent simulated users (0: skip)")
    parser.add_argument("--turns", type=int, default=d.turns, help="turns per user")
    parser.add_argument(
        "--sessions", type=int, default=d.sessions, help="sessions for the memory check (0: skip)"
    )
    parser.add_argument(
        "--memory-checkpoint", type=int, default=d.memory_checkpoint, help="first RSS reading"
    )
    parser.add_argument(
        "--drops", type=int, default=d.drops, help="clients that hang up mid-answer (0: skip)"
    )
    parser.add_argument("--tokens-per-s", type=float, default=d.tokens_per_s, help="fake model speed")
    parser.add_argument("--answer-tokens", type=int, default=d.answer_tokens, help="answer length under load")
    parser.add_argument("--max-queue", type=int, default=d.max_queue, help="the server's waiting line")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")


def run(args: argparse.Namespace) -> int:
    config = Config(
        users=args.users,
        turns=args.turns,
        sessions=args.sessions,
        memory_checkpoint=min(args.memory_checkpoint, args.sessions)
        if args.sessions
        else args.memory_checkpoint,
        drops=args.drops,
        tokens_per_s=args.tokens_per_s,
        answer_tokens=args.answer_tokens,
        max_queue=args.max_queue,
    )
    report = run_all(config)
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=1, default=str), encoding="utf-8")
    return 0 if report.ok else 1
