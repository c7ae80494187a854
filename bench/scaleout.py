"""Scale-out (issue 17): ``python -m bench scaleout [--replicas 1,2] [--slots 2] [--clients 4]``.

One llama.cpp HTTP server (advisor/backends/model_server.py) with ``--slots`` slots serves the offline
GGUF; ``--replicas`` app processes (``python app.py``, FA_LLM_BACKEND=openai, the real retrieval and
grounding over the real index) answer over it. ``--clients`` concurrent founders send a fixed set of
questions (Chinese and English, all answerable) through /api/ask/stream, spread round-robin over the
replicas. Per configuration the engine is started afresh (no prompt cached from the previous one), every
replica answers one unmeasured question first (model pages, dictionaries), then the set is timed.

Printed side by side per replica count: answers per minute over the wall time, p50/p95 of the time to
the first text piece (TTFT, what a founder waits for) and of the whole answer, refusals and failures.
An app process answers one question at a time (its Advisor holds a lock), so a second replica is what
lets two questions use two engine slots at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from advisor.backends.model_server import EngineProcess, stop_process
from bench.generation_measure import percentile
from config import PROJECT_ROOT
from evals.tables import markdown_table
from hostkit import free_port

# A fixed, small, answerable set (evals/datasets/answerable.jsonl): list answers and definitions, both
# languages (an English question also costs one short translation generation before retrieval).
# `--questions N` takes the first N.
QUESTIONS: tuple[str, ...] = (
    "AI大模型创业公司有哪些定价策略？",
    "创业团队需要具备哪些核心能力？",
    "What pricing strategies can an AI startup use?",
    "AI大模型创业有哪些盈利模式？",
    "Which risks should the founders of an AI startup identify?",
    "初创企业缺少算力和数据时可以采取什么策略？",
)
WARM_UP_QUESTION = "什么是成本导向定价？"
REQUEST_TIMEOUT_S = 900.0  # a queued question on 2 busy cores can wait minutes; never forever


class AppReplica:
    """`python app.py` as a child process on a free loopback port, with the given FA_* settings."""

    def __init__(self, env: dict[str, str], *, start_timeout_s: float = 600.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "FA_HOST": "127.0.0.1", "FA_PORT": str(self.port)}
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> AppReplica:
        # Output to a file: a pipe nobody reads would fill up and stall the app.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - open for the child's lifetime, closed by stop()
        self.process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=PROJECT_ROOT, env=self.env, stdout=self._log, stderr=self._log
        )
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"app replica on {self.url} exited: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"app replica on {self.url} not up after {self.start_timeout_s:.0f} s")

    def log_tail(self, chars: int = 2000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-chars:]

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 15.0)
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def app_replicas(count: int, env: dict[str, str]) -> Iterator[list[AppReplica]]:
    """`count` replicas started together (their start-up overlaps) and stopped on exit."""
    replicas = [AppReplica(env) for _ in range(count)]
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()


def replica_env(engine: EngineProcess, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The settings that point an app at the engine (its model name is the engine's: one model)."""
    return {"FA_LLM_BACKEND": "openai", "FA_LLM_BASE_URL": engine.openai_url, **(extra or {})}


async def ask_streaming(client: httpx.AsyncClient, url: str, question: str) -> dict[str, Any]:
    """One question through /api/ask/stream: TTFT (first text piece), total, and how it ended."""
    started = time.monotonic()
    first: float | None = None
    row: dict[str, Any] = {"question": question, "replica": url, "status": "no answer event"}
    try:
        async with client.stream("POST", f"{url}/api/ask/stream", json={"question": question}) as response:
            if response.status_code != 200:
                row["status"] = f"HTTP {response.status_code}"
                return row
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    if event == "delta" and first is None and data.get("text"):
                        first = time.monotonic()
                    elif event == "answer":
                        row.update(
                            status="answer", refused=data["refused"], new_tokens=data["timings"]["new_tokens"]
                        )
                    elif event == "error":
                        row["status"] = f"error: {data.get('detail')}"
    except httpx.HTTPError as exc:
        row["status"] = f"{type(exc).__name__}: {exc}"
    end = time.monotonic()
    row["total_s"] = end - started
    # A refusal before generation streams no text: its first (and only) words come with the answer.
    row["ttft_s"] = (first or end) - started
    return row


async def drive(
    urls: Sequence[str], questions: Sequence[str], clients: int, say: Any = lambda line: None
) -> tuple[list[dict], float]:
    """`clients` concurrent founders work through `questions`; question i goes to replica i mod n."""
    jobs: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for i, question in enumerate(questions):
        jobs.put_nowait((i, question))
    rows: list[dict[str, Any]] = []
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout) as client:

        async def founder() -> None:
            while not jobs.empty():
                i, question = jobs.get_nowait()
                row = await ask_streaming(client, urls[i % len(urls)], question)
                rows.append(row)
                say(
                    f"  {row['status']}: TTFT {row['ttft_s']:.1f} s, total {row['total_s']:.1f} s  {question}"
                )

        started = time.monotonic()
        await asyncio.gather(*(founder() for _ in range(clients)))
        return rows, time.monotonic() - started


def summarize(rows: Sequence[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    answered = [r for r in rows if r["status"] == "answer"]
    ttft = [r["ttft_s"] for r in answered]
    total = [r["total_s"] for r in answered]
    return {
        "questions": len(rows),
        "answered": len(answered),
        "refused": sum(1 for r in answered if r.get("refused")),
        "failed": len(rows) - len(answered),
        "wall_s": wall_s,
        "answers_per_min": 60.0 * len(answered) / wall_s if wall_s > 0 else 0.0,
        "ttft_p50_s": percentile(ttft, 50),
        "ttft_p95_s": percentile(ttft, 95),
        "total_p50_s": percentile(total, 50),
        "total_p95_s": percentile(total, 95),
        "new_tokens_mean": sum(r.get("new_tokens", 0) for r in answered) / len(answered)
        if answered
        else None,
    }


def measure(replicas: int, opts: argparse.Namespace, say: Any = print) -> dict[str, Any]:
    """One configuration: a fresh engine, `replicas` app processes, a warm-up each, the timed set."""
    # The engine's queue and a loaded CPU can hold a first token for minutes: the bench measures that wait
    # rather than fail it (the apps' default, 120 s, is for a serving deployment).
    env = {"FA_LLM_MAX_NEW_TOKENS": str(opts.max_new_tokens), "FA_LLM_TIMEOUT_S": str(REQUEST_TIMEOUT_S)}
    say(f"{replicas} replica(s): starting the engine ({opts.slots} slots) ...")
    with EngineProcess(slots=opts.slots, threads=opts.threads) as engine:
        say(f"{replicas} replica(s): starting the app processes ...")
        with app_replicas(replicas, replica_env(engine, env)) as apps:
            urls = [app.url for app in apps]
            say(f"{replicas} replica(s): one warm-up question each ...")
            warm, _ = asyncio.run(drive(urls, [WARM_UP_QUESTION] * replicas, replicas))
            if any(r["status"] != "answer" for r in warm):
                raise RuntimeError(f"warm-up failed: {warm}; app log: {apps[0].log_tail()}")
            questions = list(QUESTIONS[: opts.questions]) * opts.rounds
            say(
                f"{replicas} replica(s): {len(questions)} questions from {opts.clients} concurrent clients ..."
            )
            rows, wall_s = asyncio.run(drive(urls, questions, opts.clients, say))
            counters = engine.counters()
    return {"replicas": replicas, "summary": summarize(rows, wall_s), "rows": rows, "engine": counters}


def render(results: Sequence[dict[str, Any]]) -> str:
    def fmt(value: Any, digits: int = 1) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    lines = [
        [f"{r['replicas']} replica{'s' if r['replicas'] > 1 else ''}" for r in results],
        [str(r["summary"]["answered"]) + f"/{r['summary']['questions']}" for r in results],
        [str(r["summary"]["refused"]) for r in results],
        [fmt(r["summary"]["wall_s"], 0) + " s" for r in results],
        [fmt(r["summary"]["answers_per_min"], 2) for r in results],
        [fmt(r["summary"]["ttft_p50_s"]) + " s" for r in results],
        [fmt(r["summary"]["ttft_p95_s"]) + " s" for r in results],
        [fmt(r["summary"]["total_p50_s"]) + " s" for r in results],
        [fmt(r["summary"]["total_p95_s"]) + " s" for r in results],
        [fmt(r["summary"]["new_tokens_mean"], 0) for r in results],
        [fmt(r["engine"].get("n_busy_slots_per_decode"), 2) for r in results],
    ]
    labels = [
        "",
        "answered",
        "of them refused",
        "wall time",
        "answers / min",
        "TTFT p50",
        "TTFT p95",
        "total p50",
        "total p95",
        "new tokens (mean)",
        "busy slots per decode",
    ]
    header, *body = [[label, *cells] for label, cells in zip(labels, lines, strict=True)]
    return "\n".join(markdown_table(header, body))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replicas", default="1,2", help="replica counts to compare (comma-separated)")
    parser.add_argument("--slots", type=int, default=2, help="engine slots (requests decoded together)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent founders")
    parser.add_argument("--rounds", type=int, default=1, help="times the question set is sent")
    parser.add_argument(
        "--max-new-tokens", type=int, default=160, help="longest answer (FA_LLM_MAX_NEW_TOKENS)"
    )
    parser.add_argument("--threads", type=int, default=None, help="engine CPU threads (default: all cores)")
    parser.add_argument("--out", type=Path, help="write the figures and every request as JSON here")
    parser.add_argument(
        "--questions", type=int, default=len(QUESTIONS), help=f"how many of the {len(QUESTIONS)} questions"
    )


def run(args: argparse.Namespace) -> int:
    counts = [int(n) for n in str(args.replicas).split(",") if n.strip()]
    if not counts or min(counts) < 1:
        raise SystemExit("--replicas needs replica counts of at least 1, e.g. 1,2")
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 - progress, not the report
    results = []
    for n in counts:
        results.append(measure(n, args, say))
        if args.out:  # after each configuration: a long run cut short keeps what it measured
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(
        f"scale-out over one llama.cpp server ({args.slots} slots), {args.questions * args.rounds} questions, "
        f"{args.clients} concurrent clients, max {args.max_new_tokens} new tokens; "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs"
    )
    print(render(results))
    return 0 if all(r["summary"]["failed"] == 0 for r in results) else 1
