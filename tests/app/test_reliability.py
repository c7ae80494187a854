"""Reliability under load (issue 8), at CI scale: the same code as ``python -m bench reliability``.

A real uvicorn in a child process serves the real app and advisor over the real playbook, with a fake
model that streams 100 tokens/s; httpx drives it. The rules are issue 8's: every request accounted for
(an answer, a 503 with Retry-After, or a clear error), none near 120 s, /api/health < 2 s while the
generation line is full, no memory growth per session, and a dropped client's generation stopped < 2 s.
Two controls show the checks can fail: a server that leaks per answer fails the memory rule, and the
rules themselves reject figures outside their limits.
"""

from __future__ import annotations

import threading
import time

import pytest

from bench.reliability import evaluate, format_table, run_all
from bench.reliability_rules import MAX_DROP_TO_STOP_S, MAX_HEALTH_S, MAX_REQUEST_S, Config, Report
from bench.reliability_server import PacedGenerator

# Small enough for CI (about 40 s on 2 cores), large enough that the line is full most of the time:
# 30 users against one running + 4 waiting generations.
SMALL = Config(
    users=30,
    turns=3,
    sessions=60,
    memory_checkpoint=20,
    drops=6,
    answer_tokens=10,
    max_queue=4,
    max_memory_ratio=1.05,  # tighter than the bench's 1.1: fewer sessions, so a leak has less time to show
)


@pytest.fixture(scope="module")
def report() -> Report:
    result = run_all(SMALL)
    print(format_table(result))  # the figures, in the test log
    return result


def test_every_request_is_accounted_for_and_every_turn_answered(report):
    load = report.load
    counts = load["counts"]
    assert set(counts) <= {"answer", "busy", "client_error"}, counts  # no transport error, timeout, cut
    assert counts.get("busy", 0) > 0  # the line really was full: the retry path was exercised
    assert load["turns_answered"] == load["turns_expected"] == 90, load["not_answered"]
    assert load["busy_without_retry_after"] == 0
    assert load["by_route"]["/api/ask"] > 0 and load["by_route"]["/api/ask/stream"] > 0


def test_no_request_hangs(report):
    assert report.load["max_request_s"] < MAX_REQUEST_S
    # First come, first served: an admitted request waits for at most the line ahead of it
    # (5 generations of ~0.15 s here), nowhere near the limit.
    assert report.load["max_request_s"] < 15


def test_health_answers_fast_while_the_line_is_full(report):
    load = report.load
    assert load["health_full_samples"] >= 5
    assert load["health_full_s"]["max"] < MAX_HEALTH_S
    assert load["health_errors"] == 0


def test_memory_does_not_grow_per_session(report):
    memory = report.memory
    assert memory["failure_count"] == 0, memory["failures"]
    assert memory["ratio"] <= SMALL.max_memory_ratio, memory["rss_mb"]


def test_dropped_clients_stop_their_generation(report):
    drop = report.drop
    assert len(drop["stops"]) == SMALL.drops
    assert {s["kind"] for s in drop["stops"]} == {"sse", "openai", "plain"}
    assert drop["max_stop_s"] < MAX_DROP_TO_STOP_S, drop["stops"]
    assert drop["stopped_early"] == SMALL.drops  # cut short: far fewer tokens than the 600 planned


def test_the_server_survives_and_every_rule_passes(report):
    assert report.alive_after and report.idle_after
    assert report.ok, format_table(report)


def test_the_memory_rule_catches_a_leak():
    """Control: the same memory phase against a server that keeps 1 MB per answer must fail (the
    baseline holds the dictionaries an English question loads, so a smaller leak hides in the 5%)."""
    leaky = Config(
        users=0,
        drops=0,
        sessions=40,
        memory_checkpoint=10,
        gradio_every=0,
        leak_kb=1000,
        max_memory_ratio=SMALL.max_memory_ratio,
    )
    result = run_all(leaky)
    assert result.memory["failure_count"] == 0
    assert result.memory["ratio"] > SMALL.max_memory_ratio, result.memory["rss_mb"]
    assert not result.ok


def test_the_rules_reject_figures_past_their_limits():
    spread = {"n": 1, "p50": 0.0, "p95": 0.0, "max": 0.0}
    good_load = {
        "counts": {"answer": 3},
        "requests": 3,
        "turns_answered": 3,
        "turns_expected": 3,
        "turns_gave_up_busy": 0,
        "turns_failed": 0,
        "refused": 0,
        "busy_without_retry_after": 0,
        "request_s": spread,
        "turn_s": spread,
        "retry_after_s": spread,
        "max_request_s": 1.0,
        "health_full_samples": 1,
        "health_full_s": {**spread, "max": 0.1},
        "health_all_s": spread,
        "health_errors": 0,
    }
    good_drop = {"drops": 1, "stops": [{}], "stop_s": spread, "max_stop_s": 0.1, "stopped_early": 1}
    good_memory = {
        "sessions": 2,
        "checkpoint": 1,
        "rss_final_mb": 1.0,
        "rss_checkpoint_mb": 1.0,
        "ratio": 1.0,
        "failure_count": 0,
    }

    def passes(load=None, drop=None, memory=None) -> bool:
        report = Report(
            Config(),
            memory={**good_memory, **(memory or {})},
            load={**good_load, **(load or {})},
            drop={**good_drop, **(drop or {})},
            alive_after=True,
            idle_after=True,
        )
        return all(ok for *_, ok in evaluate(report))

    assert passes()
    assert not passes(load={"max_request_s": MAX_REQUEST_S + 1})
    assert not passes(load={"counts": {"answer": 2, "transport": 1}})
    assert not passes(load={"turns_failed": 1})
    assert not passes(load={"busy_without_retry_after": 1})
    assert not passes(load={"health_full_s": {**spread, "max": MAX_HEALTH_S + 0.1}})
    assert not passes(load={"health_full_samples": 0})
    assert not passes(drop={"max_stop_s": MAX_DROP_TO_STOP_S + 0.1})
    assert not passes(drop={"stopped_early": 0})
    assert not passes(memory={"ratio": 1.2})


def test_the_paced_model_stops_within_a_token_and_logs_it():
    model = PacedGenerator(tokens_per_s=100, answer_tokens=500)
    prompt = "[1] 章节：5.3 定价\n成本导向定价：基于产品或服务的成本，加上一定的利润，确定价格。\n\n问题"
    stop = threading.Event()
    pieces = model.stream([{"role": "user", "content": prompt}], 1000, 0.0, stop)
    first = [next(pieces) for _ in range(3)]
    assert "".join(first) == "成本导"
    stop.set()
    assert list(pieces) == []  # stops before the next token
    (record,) = model.records(after=0)
    assert record["kind"] == "answer" and record["tokens"] == 3 and record["planned"] == 502
    closed = model.stream([{"role": "user", "content": prompt}], 1000, 0.0)
    next(closed)
    closed.close()  # the other way the app stops a generation
    assert model.records(after=1)[0]["tokens"] == 1


@pytest.mark.slow
def test_full_scale_100_users_3_turns():
    """Issue 8 at full scale (100 users x 3 turns, 20 drops); ~2.5 min on 2 cores, so marked slow.
    The memory check at 1,000 sessions runs in `python -m bench reliability` (see bench/RESULTS.md)."""
    result = run_all(Config(users=100, turns=3, sessions=0, drops=20))
    assert result.ok, format_table(result)
    # How many turns are answered within a user's 120 s retry budget is capacity, which depends on the
    # machine (on a loaded CI machine 256/300 were; the rest ended in honest 503s): every turn must end in
    # an answer or a busy 503, and most in an answer.
    assert result.load["turns_failed"] == 0
    assert result.load["turns_answered"] > 0.5 * result.load["turns_expected"]


def test_gradio_keeps_state_for_at_most_max_ui_sessions(tmp_path):
    """Gradio snapshots every component's config per browser session (~45 KB, measured with tracemalloc)
    and by default keeps 10,000 of them: the one per-session growth the memory phase shows. The cap holds
    it, and a visitor beyond the cap is still answered."""
    import uvicorn
    from gradio_client import Client

    from app import create_app
    from hostkit import free_port
    from tests.app.support import PRICING_QUESTION, make_advisor, web_settings

    settings = web_settings(tmp_path / "data", max_ui_sessions=10)
    app = create_app(settings, advisor=make_advisor(settings))
    gradio_app = next(r.app for r in app.routes if hasattr(getattr(r, "app", None), "state_holder"))
    # Not conftest.serve: gradio_client leaves a queue stream open, and a graceful shutdown would wait
    # 10 s for it.
    server = uvicorn.Server(
        uvicorn.Config(app, port=free_port(), log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        chat = Client(f"http://127.0.0.1:{server.config.port}", verbose=False)
        for _ in range(15):
            chat.reset_session()
            answer, _sources = chat.predict(PRICING_QUESTION, api_name="/chat")
            assert "定价" in answer
        assert len(gradio_app.state_holder.session_data) <= 10
    finally:
        server.should_exit = True
        thread.join(timeout=10)
