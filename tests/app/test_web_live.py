"""Against a live uvicorn on 127.0.0.1: the official openai client, gradio_client, the queue, hang-ups."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import socket
import time

import httpx
import pytest

from app import create_app
from tests.app.support import PRICING_QUESTION, SlowGenerator, make_advisor, serve, web_settings


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    settings = web_settings(tmp_path_factory.mktemp("live") / "data")
    with serve(create_app(settings, advisor=make_advisor(settings))) as url:
        yield url


@pytest.fixture
def slow_server(tmp_path):
    """A server whose model writes for ~8 s unless stopped; yields (url, generator)."""
    settings = web_settings(tmp_path / "data", max_queue=1)
    generator = SlowGenerator(pieces=400, delay_s=0.02)
    with serve(create_app(settings, advisor=make_advisor(settings, generator))) as url:
        yield url, generator


def test_openai_client_non_streaming(live_url):
    from openai import OpenAI

    client = OpenAI(base_url=f"{live_url}/v1", api_key="unused", max_retries=0)
    completion = client.chat.completions.create(
        model="founder-advisor", messages=[{"role": "user", "content": PRICING_QUESTION}]
    )
    assert "定价" in completion.choices[0].message.content
    extra = completion.model_extra
    assert "5.3.2" in extra["citations"][0]["section"] and extra["founder_advisor"]["refused"] is False


def test_openai_client_streaming(live_url):
    from openai import OpenAI

    client = OpenAI(base_url=f"{live_url}/v1", api_key="unused", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="founder-advisor", messages=[{"role": "user", "content": PRICING_QUESTION}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "定价" in text and len(chunks) >= 3
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "5.3.2" in chunks[-1].model_extra["citations"][0]["section"]


def test_gradio_client_calls_the_chat_endpoint(live_url):
    from gradio_client import Client

    client = Client(live_url, verbose=False)
    assert "/chat" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    answer, sources = client.predict(PRICING_QUESTION, api_name="/chat")
    assert "定价" in answer and "#src-" in answer
    assert "5.3.2" in sources


@contextlib.contextmanager
def _raw_post(url: str, route: str, payload: dict):
    """Send a JSON POST on a bare socket and hang up when the block ends, as a closed tab does."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(payload).encode()
    head = (
        f"POST {route} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + body)
        yield sock


def test_gradio_chat_refuses_an_over_long_question_with_its_reason(live_url):
    from gradio_client import Client

    with pytest.raises(Exception, match="limit is 200"):
        Client(live_url, verbose=False).predict("长" * 201, api_name="/chat")


def _stream_in_background(url: str) -> concurrent.futures.Future:
    def run():
        with httpx.stream(
            "POST", f"{url}/api/ask/stream", json={"question": PRICING_QUESTION}, timeout=30
        ) as r:
            return r.status_code, sum(1 for _ in r.iter_lines())

    return concurrent.futures.ThreadPoolExecutor(1).submit(run)


def _wait_until(predicate, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_health_answers_instantly_while_a_generation_runs(slow_server):
    url, generator = slow_server
    running = _stream_in_background(url)
    _wait_until(lambda: generator.produced > 5)
    started = time.perf_counter()
    health = httpx.get(f"{url}/api/health", timeout=5).json()
    elapsed = time.perf_counter() - started
    assert health["status"] == "busy" and health["queue"]["running"] == 1
    assert elapsed < 0.5, f"health took {elapsed:.2f} s"
    assert running.result(timeout=30)[0] == 200


def test_a_full_line_gets_503_with_retry_after(slow_server):
    url, generator = slow_server  # max_queue=1: one running + one waiting
    first = _stream_in_background(url)
    _wait_until(lambda: generator.produced > 2)
    second = _stream_in_background(url)
    _wait_until(lambda: httpx.get(f"{url}/api/health").json()["queue"]["waiting"] == 1)
    busy = httpx.post(f"{url}/api/ask", json={"question": PRICING_QUESTION}, timeout=10)
    assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
    assert "busy" in busy.json()["detail"]
    busy_stream = httpx.post(f"{url}/api/ask/stream", json={"question": PRICING_QUESTION}, timeout=10)
    assert busy_stream.status_code == 503
    assert first.result(timeout=30)[0] == 200 and second.result(timeout=30)[0] == 200


@pytest.mark.parametrize("route", ["/api/ask/stream", "/api/ask", "/v1/chat/completions"])
def test_a_dropped_client_stops_its_generation(slow_server, route):
    url, generator = slow_server
    payload = (
        {"messages": [{"role": "user", "content": PRICING_QUESTION}], "stream": True}
        if route.startswith("/v1")
        else {"question": PRICING_QUESTION}
    )
    with _raw_post(url, route, payload):  # a raw socket: a plain POST has no headers until it is done
        _wait_until(lambda: generator.produced > 3)
    # The connection is closed: the model must stop long before its 400 pieces (~8 s).
    assert generator.finished.wait(3), "the generation kept running after the client left"
    assert generator.produced < 200
    _wait_until(lambda: httpx.get(f"{url}/api/health").json()["queue"]["running"] == 0, timeout_s=3)


def test_an_idle_connection_outlives_the_clients_keep_alive(live_url):
    """A connection idle for longer than a client keeps one (httpx: 5 s) is still open on the server, so a
    client's retry after a busy 503's back-off never lands on a connection the server is closing then
    (the reliability bench once lost a turn to that race: a ReadError on uvicorn's 5 s default)."""
    import http.client

    host, port = live_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/api/health")
        first = conn.getresponse()
        assert first.status == 200
        first.read()
        sock = conn.sock
        time.sleep(6)  # past httpx's 5 s, the limit the server's must exceed
        # http.client does not reconnect a socket the server closed: the request would fail
        # with RemoteDisconnected (what the bench saw as a ReadError).
        conn.request("GET", "/api/health")
        second = conn.getresponse()
        assert second.status == 200 and conn.sock is sock
        second.read()
    finally:
        conn.close()
