"""The driver side of the reliability bench: the server's child process, and one request classified.

ServerProcess starts bench/reliability_server.py under uvicorn on a free loopback port; every request the
simulated users make is classified into an Outcome (answered, busy, error, timeout) by route.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.reliability_rules import BACKOFF_BASE_S, BACKOFF_CAP_S, FIRST_QUESTIONS, FOLLOW_UPS, MAX_REQUEST_S
from config import PROJECT_ROOT
from hostkit import free_port


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
                "from bench.reliability_server import serve_main; serve_main()",
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
