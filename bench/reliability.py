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

The parts: reliability_rules.py (the rules, questions, Config and Report), reliability_server.py (the child
process), reliability_client.py (starting it, one request classified, one simulated user),
reliability_phases.py (the three phases); this module runs them, checks the rules and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.reliability_client import ServerProcess
from bench.reliability_phases import drop_phase, load_phase, memory_phase, wait_idle
from bench.reliability_rules import MAX_DROP_TO_STOP_S, MAX_HEALTH_S, MAX_REQUEST_S, Config, Report
from evals.tables import markdown_table


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
    report.idle_after = await wait_idle(server.url)


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
    ]
    lines += markdown_table(
        ["check", "figure", "rule", "pass"],
        [(name, figure, rule, "yes" if ok else "NO") for name, figure, rule, ok in report.checks],
    )
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
