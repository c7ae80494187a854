"""Every HTTP route, errors included, in-process (FastAPI TestClient) on the real advisor with fakes."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app import create_app
from tests.app.support import PRICING_QUESTION, make_advisor, web_settings


@pytest.fixture
def client(app_settings, advisor):
    with TestClient(create_app(app_settings, advisor=advisor)) as c:
        yield c


def _keyed_client(tmp_path, key="s3cret"):
    settings = web_settings(tmp_path / "data", api_key=key)
    return TestClient(create_app(settings, advisor=make_advisor(settings)))


def test_ask_answers_with_a_citation_of_the_pricing_section(client):
    r = client.post("/api/ask", json={"question": PRICING_QUESTION})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refused"] is False and body["language"] == "zh" and body["topic"] == "pricing"
    assert "[" in body["text"] and body["citations"]
    cited = body["citations"][0]
    assert "5.3.2" in cited["section"] and cited["source"] == "playbook.md" and cited["quote"]
    assert set(body["timings"]) == {"retrieve_ms", "first_token_ms", "total_ms", "new_tokens", "tokens_per_s"}
    assert body["model_id"] == "scripted"


def test_ask_refuses_an_off_topic_question_honestly(client):
    body = client.post("/api/ask", json={"question": "今天天气怎么样"}).json()
    assert body["refused"] is True and body["refusal_reason"] in {"off_topic", "weak_retrieval"}
    assert body["citations"] == []


def test_history_is_passed_on_for_follow_ups(client, advisor):
    history = [{"role": "user", "content": PRICING_QUESTION}, {"role": "assistant", "content": "…[1]"}]
    r = client.post("/api/ask", json={"question": "那成本导向定价呢？", "history": history})
    assert r.status_code == 200, r.text
    assert r.json()["standalone_question"]


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"question": ""}, 422, "empty"),
        ({"question": "   "}, 422, "empty"),
        ({"question": "x" * 201}, 413, "limit is 200"),
        ({"history": []}, 422, "question"),
        ({"question": "定价", "history": [{"role": "robot", "content": "x"}]}, 422, "role"),
    ],
)
def test_bad_questions_get_a_clear_error_and_never_reach_the_model(
    client, advisor, payload, status, fragment
):
    r = client.post("/api/ask", json=payload)
    assert r.status_code == status
    assert fragment in r.json()["detail"]
    assert advisor.generator.calls == []


def test_bad_json_is_a_400_with_a_message(client):
    r = client.post("/api/ask", content=b'{"question": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"detail": "The request body is not valid JSON."}


def test_stream_sends_deltas_then_the_checked_answer(client):
    with client.stream("POST", "/api/ask/stream", json={"question": PRICING_QUESTION}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [block for block in r.read().decode().split("\n\n") if block.startswith("event:")]
    names = [e.split("\n")[0].removeprefix("event: ") for e in events]
    assert names[-1] == "answer" and names.count("delta") >= 2
    assert set(names) == {"sources", "delta", "answer"}
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert final["citations"] and "5.3.2" in final["citations"][0]["section"]


def _sse_events(r) -> list[tuple[str, dict]]:
    blocks = [block for block in r.read().decode().split("\n\n") if block.startswith("event:")]
    return [(b.split("\n")[0].removeprefix("event: "), json.loads(b.split("data: ", 1)[1])) for b in blocks]


def test_stream_sends_the_sources_as_soon_as_retrieval_is_done(client):
    with client.stream("POST", "/api/ask/stream", json={"question": PRICING_QUESTION}) as r:
        events = _sse_events(r)
    names = [name for name, _ in events]
    # One `sources` event, before the model's first token (the first `delta`).
    assert names.count("sources") == 1 and names.index("sources") < names.index("delta")
    reading = events[names.index("sources")][1]
    assert reading["status"] == "reading"
    sources = reading["sources"]
    assert [s["n"] for s in sources] == list(range(1, len(sources) + 1))
    assert "5.3.2" in sources[0]["section"] and sources[0]["source"] == "playbook.md"
    assert sources[0]["chunk_id"].startswith("playbook-") and "成本导向定价" in sources[0]["preview"]
    assert all(len(s["preview"]) <= 160 for s in sources)
    # The answer cites them by the same numbers.
    final = events[-1][1]
    by_n = {s["n"]: s["section"] for s in sources}
    assert all(by_n[c["n"]] == c["section"] for c in final["citations"])


def test_stream_sends_no_sources_when_the_question_is_refused_before_the_model(client):
    with client.stream("POST", "/api/ask/stream", json={"question": "今天天气怎么样"}) as r:
        names = [name for name, _ in _sse_events(r)]
    assert names == ["answer"]


def test_openai_stream_carries_no_sources_in_its_content(client):
    body = {"messages": [{"role": "user", "content": PRICING_QUESTION}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        lines = [line.removeprefix("data: ") for line in r.read().decode().split("\n\n") if line]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    # The opening role chunk, then only chunks with words: the reading delta adds no empty chunk.
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all(d.get("content") for d in deltas[1:-1]) and all(set(d) == {"content"} for d in deltas[1:-1])
    content = "".join(d.get("content", "") for d in deltas)
    assert content.startswith("常见的定价策略") and "5.3.2" not in content and "playbook" not in content
    assert all("sources" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]


def test_stream_rejects_an_over_long_question_before_streaming(client):
    r = client.post("/api/ask/stream", json={"question": "长" * 201})
    assert r.status_code == 413


def test_chat_completions_is_openai_shaped_with_citations(client):
    r = client.post(
        "/v1/chat/completions",
        json={
            "model": "anything",
            "messages": [
                {"role": "system", "content": "ignored"},
                {"role": "user", "content": PRICING_QUESTION},
            ],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["citations"][0]["n"] >= 1 and body["founder_advisor"]["refused"] is False


def test_chat_completions_needs_a_final_user_message(client):
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert r.status_code == 422 and "last message" in r.json()["detail"]


def test_health_reports_model_device_index_and_queue(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["model"] == "scripted" and body["device"] == "cpu"
    assert body["index"]["chunks"] == 3
    assert body["queue"] == {"running": 0, "waiting": 0, "max_waiting": 2}


def test_api_key_is_required_when_configured(tmp_path):
    with _keyed_client(tmp_path) as c:
        q = {"question": PRICING_QUESTION}
        assert c.post("/api/ask", json=q).status_code == 401
        wrong = c.post("/api/ask", json=q, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert c.post("/api/ask/stream", json=q).status_code == 401
        assert (
            c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}).status_code
            == 401
        )
        assert c.post("/api/ask", json=q, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/health").status_code == 200  # open for load balancers


def test_cors_denies_by_default_and_allows_listed_origins(tmp_path, client):
    foreign = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/api/ask", headers=foreign).headers
    assert "access-control-allow-origin" not in client.get("/api/health", headers=foreign).headers
    assert "access-control-allow-origin" not in client.get("/config", headers=foreign).headers  # Gradio too

    settings = web_settings(tmp_path / "d2", cors_origins=["https://portal.example"])
    with TestClient(create_app(settings, advisor=make_advisor(settings))) as c:
        ok = {"Origin": "https://portal.example", "Access-Control-Request-Method": "POST"}
        pre = c.options("/api/ask", headers=ok)
        assert pre.headers["access-control-allow-origin"] == "https://portal.example"
        assert "access-control-allow-origin" not in c.options("/api/ask", headers=foreign).headers


def test_data_dir_is_never_served(client, app_settings):
    secret = app_settings.data_dir / "feedback.jsonl"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text('{"private": true}\n', encoding="utf-8")
    for url in (f"/gradio_api/file={secret}", f"/file={secret}", f"/gradio_api/file={app_settings.data_dir}"):
        r = client.get(url)
        assert r.status_code in (403, 404), url
        assert "private" not in r.text


def test_gradio_queue_cannot_be_bypassed_by_direct_posts(client):
    r = client.post("/gradio_api/run/chat", json={"data": [PRICING_QUESTION, []]})
    assert r.status_code == 404 and "queue" in r.json()["detail"]


def test_openapi_schema_documents_the_contract(client):
    schema = client.get("/openapi.json").json()
    for path in ("/api/ask", "/api/ask/stream", "/v1/chat/completions", "/api/health"):
        assert path in schema["paths"], path
    assert "AnswerOut" in schema["components"]["schemas"]
    assert "503" in schema["paths"]["/api/ask"]["post"]["responses"]


def test_portal_page_embeds_the_chat(client):
    r = client.get("/portal")
    assert r.status_code == 200 and "<iframe" in r.text and 'src="/"' in r.text


def test_openai_stream_tail_sends_only_what_changes_the_words():
    from webapp.routes import _completion_tail

    assert _completion_tail("A [1].", "A [1]. B [2].") == " B [2]."  # an extension: the rest
    assert _completion_tail("A [1] [6].", "A [1].") == ""  # an invalid marker dropped: same words
    assert _completion_tail("A [1]. B.", "A [1]. ⚠ B.") == ""  # a flagged sentence: same words
    # the renderer's bold names and added full stop are not new words either
    assert _completion_tail("- 成本导向定价：加上利润[1]", "- **成本导向定价**：加上利润。[1]") == ""
    refusal = "The knowledge base does not cover this."
    assert _completion_tail("A [1]. B.", refusal) == "\n\n---\n" + refusal


def test_source_previews_are_one_line_and_cut_at_160_characters():
    from webapp.schemas import preview

    assert preview("成本导向定价\n\n  加上利润") == "成本导向定价 加上利润"
    cut = preview("长" * 400)
    assert len(cut) == 160 and cut.endswith("…")
