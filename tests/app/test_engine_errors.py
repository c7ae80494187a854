"""The app over an OpenAI-compatible engine that is down, silent, failing or stalling: a clear 503 (or an
error event once a stream has started), within the configured timeouts, never a hang.

The engines here are real sockets and a real HTTP server (FastAPI under uvicorn) that misbehave on
purpose; the app is the real one (create_app + build_advisor) with the real `openai` backend. The same
paths against a real llama.cpp server: tests/app/test_engine_real.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from advisor import GenerationError
from advisor.backends.openai_http import OpenAIHTTPGenerator
from app import create_app
from tests.app.support import PRICING_QUESTION, make_advisor, serve, web_settings

TIMEOUT_S = 1.0
# Every failure must be reported well within this: connect attempts with backoff, or one read timeout.
DEADLINE_S = 8.0


def _engine_app(mode: str) -> FastAPI:
    """An OpenAI-compatible server that fails the way `mode` says."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        if mode == "error":
            return JSONResponse({"error": {"message": "model crashed", "type": "server_error"}}, 500)

        def chunk(content: str) -> str:
            choice = {"index": 0, "delta": {"content": content}, "finish_reason": None}
            data = {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [choice],
            }
            return f"data: {json.dumps(data)}\n\n"

        async def stall() -> AsyncIterator[str]:
            yield chunk("常见的定价策略")
            yield chunk("包括成本导向定价")
            await asyncio.sleep(3600)  # alive, connected, and silent (cancelled when the client leaves)

        return StreamingResponse(stall(), media_type="text/event-stream")

    return app


@contextlib.contextmanager
def _listening_but_silent() -> Iterator[str]:
    """A socket that accepts connections (the kernel's backlog) and never answers: a hung engine."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@contextlib.contextmanager
def _refusing() -> Iterator[str]:
    """A port nobody listens on: an engine that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@contextlib.contextmanager
def _app_over(engine_url: str, tmp_path) -> Iterator[str]:
    generator = OpenAIHTTPGenerator(
        engine_url, "m", timeout_s=TIMEOUT_S, connect_timeout_s=TIMEOUT_S, connect_attempts=2, backoff_s=0.05
    )
    settings = web_settings(tmp_path / "data")
    advisor = make_advisor(settings, generator)
    # The process's first answer loads the dictionaries (seconds): pay that here, so that the timings
    # below are the engine's.
    with contextlib.suppress(GenerationError):
        advisor.ask(PRICING_QUESTION)
    with serve(create_app(settings, advisor=advisor)) as url:
        yield url


@contextlib.contextmanager
def _engine(mode: str, tmp_path) -> Iterator[str]:
    """The app's URL over an engine in `mode`: down, silent, error or stall."""
    if mode == "down":
        with _refusing() as engine_url, _app_over(engine_url, tmp_path) as url:
            yield url
    elif mode == "silent":
        with _listening_but_silent() as engine_url, _app_over(engine_url, tmp_path) as url:
            yield url
    else:
        with serve(_engine_app(mode)) as engine, _app_over(f"{engine}/v1", tmp_path) as url:
            yield url


def _timed_post(url: str, route: str, payload: dict) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(f"{url}{route}", json=payload, timeout=60)
    return response, time.monotonic() - started


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("down", "Cannot reach the model server"),
        ("silent", f"did not answer within {TIMEOUT_S:g} s"),
        ("error", "answered 500"),
    ],
)
def test_an_engine_that_is_down_silent_or_failing_is_a_503_that_says_why(tmp_path, mode, reason):
    with _engine(mode, tmp_path) as url:
        for route, payload in (
            ("/api/ask", {"question": PRICING_QUESTION}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": PRICING_QUESTION}]}),
        ):
            response, elapsed = _timed_post(url, route, payload)
            assert response.status_code == 503, response.text
            detail = response.json()["detail"]
            assert detail.startswith("The language model is unavailable") and reason in detail
            assert int(response.headers["retry-after"]) >= 1
            assert elapsed < DEADLINE_S, f"{route} took {elapsed:.1f} s"
        # The app itself stays healthy and says so at once: only the engine is gone.
        assert httpx.get(f"{url}/api/health", timeout=2).status_code == 200


def _sse_events(response: httpx.Response) -> list[tuple[str, dict]]:
    events, name = [], "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_a_stream_that_stalls_mid_answer_ends_with_an_error_event(tmp_path):
    with _engine("stall", tmp_path) as url:
        started = time.monotonic()
        with httpx.stream(
            "POST", f"{url}/api/ask/stream", json={"question": PRICING_QUESTION}, timeout=60
        ) as r:
            assert r.status_code == 200
            events = _sse_events(r)
        assert time.monotonic() - started < DEADLINE_S
        names = [name for name, _ in events]
        assert "delta" in names, "the pieces before the stall are streamed"
        assert names[-1] == "error" and "stalled for more than" in events[-1][1]["detail"]
        assert events[-1][1]["retry_after_s"] >= 1

        # The OpenAI-shaped stream ends with an error chunk and [DONE], as OpenAI's own does.
        payload = {"messages": [{"role": "user", "content": PRICING_QUESTION}], "stream": True}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=payload, timeout=60) as r:
            lines = [line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "[DONE]"
        error = json.loads(lines[-2])["error"]
        assert error["type"] == "model_unavailable" and "stalled" in error["message"]
