"""The generator registry, the shared meter, and the OpenAI-compatible HTTP backend against a real server.

The server is a small FastAPI app served by uvicorn on 127.0.0.1 in a thread: real HTTP, real SSE,
the real `openai` client underneath the backend.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from advisor.backends import GenerationError, StreamMeter
from advisor.generate import EchoGenerator, ScriptedGenerator, make_generator

# --- registry --------------------------------------------------------------------------------------


def test_make_generator_builds_the_fakes(test_settings):
    assert isinstance(make_generator(test_settings), ScriptedGenerator)
    echo = make_generator(test_settings.model_copy(update={"llm_backend": "echo"}))
    assert isinstance(echo, EchoGenerator)
    assert "".join(echo.stream([{"role": "user", "content": "hello there"}], 10, 0.0)) == "hello there"


def test_a_backend_whose_package_is_missing_says_what_to_install(test_settings, tmp_path, monkeypatch):
    (tmp_path / "fa_fake_backend.py").write_text("import fa_package_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from advisor import generate

    monkeypatch.setitem(
        generate._BACKENDS, "llamacpp", ("fa_fake_backend", "X", "fa-package-that-is-not-installed")
    )
    with pytest.raises(GenerationError, match="pip install fa-package-that-is-not-installed"):
        make_generator(test_settings.model_copy(update={"llm_backend": "llamacpp"}))
    sys.modules.pop("fa_fake_backend", None)


def test_openai_backend_without_a_base_url_is_a_clear_error(test_settings):
    with pytest.raises(GenerationError, match="FA_LLM_BASE_URL"):
        make_generator(test_settings.model_copy(update={"llm_backend": "openai"}))


def test_stream_meter_leaves_the_first_token_out_of_the_decode_rate(caplog):
    ticks = iter([0.0, 2.0, 2.4])  # start, first piece, finish
    meter = StreamMeter("m", "cpu", "fp32", clock=lambda: next(ticks))
    for _ in range(5):
        meter.piece()
    with caplog.at_level("INFO", logger="advisor.generate"):
        stats = meter.finish()
    assert stats.new_tokens == 5 and stats.first_token_s == 2.0 and stats.total_s == 2.4
    assert stats.tokens_per_s == pytest.approx(10.0)  # 4 tokens over 0.4 s, not 5 over 2.4 s
    assert "model=m device=cpu dtype=fp32" in caplog.text and "new_tokens=5" in caplog.text


# --- a real OpenAI-compatible server -----------------------------------------------------------------


class FakeOpenAIServer:
    """Streams a scripted reply one word per SSE chunk, slowly, and records what clients did."""

    def __init__(self, words: list[str], delay_s: float = 0.02):
        self.words = words
        self.requests: list[dict] = []
        self.sent = 0
        self.disconnected = threading.Event()
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append(body)
            if body.get("logprobs"):
                top = [
                    {"token": "SUPPORTED", "logprob": -0.1, "bytes": None},
                    {"token": "NOT", "logprob": -2.5, "bytes": None},
                ]
                content = [{"token": "SUPPORTED", "logprob": -0.1, "bytes": None, "top_logprobs": top}]
                return JSONResponse(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "length",
                                "message": {"role": "assistant", "content": "SUPPORTED"},
                                "logprobs": {"content": content},
                            }
                        ],
                    }
                )

            def chunk(delta: dict, finish=None, usage=None) -> str:
                data = {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                    if usage is None
                    else [],
                    "usage": usage,
                }
                return f"data: {json.dumps(data)}\n\n"

            async def events() -> AsyncIterator[str]:
                try:
                    yield chunk({"role": "assistant", "content": ""})
                    for i, word in enumerate(self.words[: body.get("max_tokens", 10**6)]):
                        await asyncio.sleep(delay_s)
                        self.sent += 1
                        yield chunk({"content": word if i == 0 else " " + word})
                    yield chunk({}, finish="stop")
                    yield chunk(
                        {},
                        usage={
                            "prompt_tokens": 7,
                            "completion_tokens": len(self.words),
                            "total_tokens": 7 + len(self.words),
                        },
                    )
                    yield "data: [DONE]\n\n"
                except asyncio.CancelledError:  # the client went away
                    self.disconnected.set()
                    raise

            return StreamingResponse(events(), media_type="text/event-stream")

        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started and time.time() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def server():
    srv = FakeOpenAIServer([f"w{i}" for i in range(40)])
    srv.start()
    yield srv
    srv.stop()


def _generator(base_url: str, **kwargs):
    from advisor.backends.openai_http import OpenAIHTTPGenerator

    return OpenAIHTTPGenerator(base_url, "served-model", api_key="k", **kwargs)


def test_openai_backend_streams_the_reply_and_reports_usage(server):
    gen = _generator(server.base_url)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    pieces = list(gen.stream(messages, max_new_tokens=40, temperature=0.0))
    assert len(pieces) == 40 and "".join(pieces) == " ".join(server.words)
    sent = server.requests[0]
    assert sent["messages"] == messages and sent["model"] == "served-model" and sent["max_tokens"] == 40
    assert sent["stream"] is True
    assert gen.last_stats.new_tokens == 40 and gen.last_stats.prompt_tokens == 7
    assert gen.last_usage == {"prompt_tokens": 7, "completion_tokens": 40}
    assert not gen.last_stats.stopped


def test_openai_backend_stop_event_closes_the_stream(server):
    gen = _generator(server.base_url)
    stop = threading.Event()
    pieces = []
    for piece in gen.stream([{"role": "user", "content": "hi"}], 40, 0.0, stop):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    assert len(pieces) == 3 and gen.last_stats.stopped
    assert server.disconnected.wait(5), "the server never saw the client leave"
    assert server.sent < 40


def test_openai_backend_retries_until_the_server_is_up():
    srv = FakeOpenAIServer(["late", "but", "here"])
    try:
        # Bound but not listening yet: connections are refused until the timer starts the server.
        threading.Timer(0.4, srv.start).start()
        gen = _generator(srv.base_url, connect_attempts=6, backoff_s=0.2)
        assert "".join(gen.stream([{"role": "user", "content": "hi"}], 10, 0.0)) == "late but here"
    finally:
        time.sleep(0.5)
        srv.stop()


def test_openai_backend_gives_up_with_a_clear_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # never listens
    try:
        gen = _generator(f"http://127.0.0.1:{sock.getsockname()[1]}/v1", connect_attempts=2, backoff_s=0.01)
        with pytest.raises(GenerationError, match="Cannot reach the model server"):
            list(gen.stream([{"role": "user", "content": "hi"}], 10, 0.0))
    finally:
        sock.close()


def test_openai_backend_first_token_logprobs(server):
    top = _generator(server.base_url).first_token_logprobs([{"role": "user", "content": "claim"}], top_n=2)
    assert top == {"SUPPORTED": -0.1, "NOT": -2.5}
    assert server.requests[-1]["top_logprobs"] == 2 and server.requests[-1]["max_tokens"] == 1
