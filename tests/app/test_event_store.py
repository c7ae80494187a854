"""The event store on SQLite: every route's answers land in it, texts only when allowed, old events
purged, and a store that is broken or full never costs an answer (it is reported and counted instead)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event

from app import create_app
from tests.app.postgres_server import wait_until
from tests.app.support import PRICING_QUESTION, make_advisor, web_settings
from webapp.events import Event
from webapp.feedback import FeedbackLog
from webapp.service import ChatService
from webapp.store import EventStore, StoreConfigError
from webapp.ui import _RecentAnswers, make_chat

OFF_TOPIC = "今天天气怎么样"
PRICING_SECTION = "5.3.2 定价策略的类型"


def _app(settings):
    return create_app(settings, advisor=make_advisor(settings))


def _stored(app) -> list[Event]:
    store = app.state.event_store
    assert store.flush(10), store.state()
    return store.read()


def test_every_route_records_one_event_per_answer_without_the_question_text(tmp_path):
    settings = web_settings(tmp_path / "data")
    app = _app(settings)
    with TestClient(app) as client:
        assert client.post("/api/ask", json={"question": PRICING_QUESTION}).status_code == 200
        assert client.post("/api/ask", json={"question": OFF_TOPIC}).json()["refused"] is True
        with client.stream("POST", "/api/ask/stream", json={"question": PRICING_QUESTION}) as r:
            assert "event: answer" in r.read().decode()
        chat = {"messages": [{"role": "user", "content": PRICING_QUESTION}]}
        assert client.post("/v1/chat/completions", json=chat).status_code == 200
        with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as r:
            assert "[DONE]" in r.read().decode()
        events = _stored(app)

    assert [e.channel for e in events] == ["api", "api", "api_stream", "openai", "openai_stream"]
    assert all(e.kind == "answer" and e.language == "zh" and e.model_id == "scripted" for e in events)
    answered = [e for e in events if not e.refused]
    assert len(answered) == 4 and all(e.topic == "pricing" for e in answered)
    assert all(PRICING_SECTION in e.sections[0] for e in answered)
    assert all(e.latency_ms is not None and e.latency_ms > 0 for e in events)
    refused = events[1]
    assert refused.refusal_reason in {"off_topic", "weak_retrieval"} and refused.sections == ()
    # Privacy first: by default nothing a founder typed (nor the answer restating it) is stored.
    assert all(e.question is None and e.answer is None for e in events)
    raw = (settings.data_dir / "events.sqlite3").read_bytes()
    assert "定价策略？".encode() not in raw


def test_question_text_is_stored_only_when_the_setting_allows_it(tmp_path):
    app = _app(web_settings(tmp_path / "data", store_question_text=True))
    with TestClient(app) as client:
        client.post("/api/ask", json={"question": PRICING_QUESTION})
        (event,) = _stored(app)
    assert event.question == PRICING_QUESTION and "成本导向定价" in event.answer


def test_the_browser_chat_records_its_answers_and_votes(tmp_path):
    settings = web_settings(tmp_path / "data")
    app = _app(settings)
    store = app.state.event_store
    service = ChatService(make_advisor(settings), max_waiting=2, max_question_chars=200, store=store)
    recent = _RecentAnswers()

    async def ask() -> str:
        return [out async for out in make_chat(service, recent)(PRICING_QUESTION, [])][-1][0]

    shown = asyncio.run(ask())
    answer = recent.get(shown)
    FeedbackLog(store, keep_text=False).record(
        liked=False, question=PRICING_QUESTION, answer=answer, shown_text=answer.text
    )
    FeedbackLog(store, keep_text=False).record(
        liked=True, question="an older question", answer=None, shown_text="an answer from before a restart"
    )
    answered, down, up = _stored(app)
    assert answered.kind == "answer" and answered.channel == "chat" and answered.topic == "pricing"
    assert down.kind == "vote" and down.thumbs == "down" and down.topic == "pricing"
    assert PRICING_SECTION in down.sections[0] and down.question is None
    assert up.thumbs == "up" and up.sections == () and up.topic == ""


def test_sqlite_store_is_one_wal_file_in_the_data_folder(tmp_path):
    settings = web_settings(tmp_path / "data")
    app = _app(settings)
    with TestClient(app) as client:
        client.post("/api/ask", json={"question": PRICING_QUESTION})
        _stored(app)
        health = client.get("/api/health").json()["store"]
    path = settings.data_dir / "events.sqlite3"
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert health["status"] == "ok" and health["backend"] == "sqlite" and health["written"] == 1
    assert health["lost"] == 0 and health["database"].endswith("events.sqlite3")


def test_events_older_than_the_retention_period_are_purged(tmp_path):
    url = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=20)
    keeper = EventStore(url, retention_days=365)
    keeper.write_now([Event(kind="answer", channel="api", time=t) for t in (old, recent)])
    keeper.close()
    purging = EventStore(url, retention_days=30)  # purges when it starts
    assert wait_until(lambda: len(purging.read()) == 1, timeout_s=10)
    (kept,) = purging.read()
    assert abs(kept.time - recent) < timedelta(seconds=1)
    purging.close()


def test_a_store_that_cannot_be_created_is_reported_and_its_events_counted(tmp_path):
    """A file where the store's folder should be: the store is down, events wait in a bounded line (the
    rest are counted as lost), and once the way is clear the waiting ones are written."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("in the way", encoding="utf-8")
    store = EventStore(f"sqlite:///{blocker / 'events.sqlite3'}", retention_days=30, max_pending=2)
    for _ in range(5):
        store.record(Event(kind="answer", channel="api"))
    assert wait_until(lambda: store.state().status == "down")
    state = store.state()
    assert (state.lost, state.pending) == (3, 2) and "cannot create the store's folder" in state.error
    blocker.unlink()
    assert wait_until(lambda: store.state().status == "ok" and store.state().pending == 0, timeout_s=15)
    assert len(store.read()) == 2 and store.state().lost == 3
    store.close()


def test_a_broken_store_never_blocks_an_answer(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("in the way", encoding="utf-8")
    settings = web_settings(
        tmp_path / "data", store_url=f"sqlite:///{blocker / 'events.sqlite3'}", store_max_pending=1
    )
    with TestClient(_app(settings)) as client:
        for _ in range(3):
            started = time.monotonic()
            r = client.post("/api/ask", json={"question": PRICING_QUESTION})
            assert r.status_code == 200 and r.json()["refused"] is False
            assert time.monotonic() - started < 10  # no wait on the store (the first answer warms up)
        # A line of 1: one event waits for the store, two are dropped and counted.
        assert wait_until(lambda: _store_counts(client) == (2, 1))
        health = client.get("/api/health").json()
    assert health["status"] == "ok"  # the advisor itself is fine: load balancers keep sending founders
    assert health["store"]["status"] == "down" and "folder" in health["store"]["error"]


def _store_counts(client) -> tuple[int, int]:
    store = client.get("/api/health").json()["store"]
    return store["lost"], store["pending"]


def test_a_full_sqlite_file_never_blocks_an_answer(tmp_path):
    """SQLite's own 'database or disk is full' (the file may not grow past its current size)."""
    settings = web_settings(
        tmp_path / "data", store_question_text=True, max_question_chars=6000, store_max_pending=1
    )
    app = _app(settings)
    store = app.state.event_store
    assert wait_until(lambda: store.state().status == "ok")

    @sa_event.listens_for(store.engine, "connect")
    def no_growth(dbapi_connection, _record):
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    store.engine.dispose()  # new connections get the limit
    long_question = PRICING_QUESTION + "请详细说明。" * 900  # ~16 KB of text: needs new pages
    with TestClient(app) as client:
        r = client.post("/api/ask", json={"question": long_question})
        assert r.status_code == 200
        assert wait_until(lambda: client.get("/api/health").json()["store"]["status"] == "down")
        store_state = client.get("/api/health").json()["store"]
        assert "full" in store_state["error"] and store_state["pending"] == 1
        assert client.post("/api/ask", json={"question": long_question}).status_code == 200
        assert wait_until(lambda: client.get("/api/health").json()["store"]["lost"] == 1)


def test_an_old_feedback_file_is_read_into_the_store_once(tmp_path):
    settings = web_settings(tmp_path / "data")
    legacy = settings.feedback_path
    legacy.parent.mkdir(parents=True)
    votes = [
        {
            "time": "2026-11-02T10:00:00+00:00",
            "rating": "down",
            "question": "如何定价？",
            "answer": "…",
            "citations": [{"n": 1, "section": "A › 5.3.2 定价策略的类型", "source": "playbook.md"}],
            "refused": False,
            "language": "zh",
            "model_id": "qwen",
        },
        {
            "time": "2026-11-03T10:00:00+00:00",
            "rating": "up",
            "question": "q",
            "answer": "a",
            "citations": [],
        },
    ]
    legacy.write_text("\n".join([*(json.dumps(v) for v in votes), "not json"]) + "\n", encoding="utf-8")
    app = _app(settings)
    down, up = _stored(app)
    assert (down.kind, down.channel, down.thumbs, down.language) == ("vote", "imported", "down", "zh")
    assert down.sections == ("A › 5.3.2 定价策略的类型",) and down.question is None  # privacy default
    assert down.time == datetime(2026, 11, 2, 10, tzinfo=UTC) and up.thumbs == "up"
    assert not legacy.exists() and legacy.with_name("feedback.jsonl.imported").exists()
    assert len(_stored(_app(settings))) == 2  # a second start does not import it again


def test_a_file_that_holds_no_old_votes_is_left_alone(tmp_path):
    settings = web_settings(tmp_path / "data")
    settings.feedback_path.parent.mkdir(parents=True)
    settings.feedback_path.write_text("something else\n", encoding="utf-8")
    assert _stored(_app(settings)) == []
    assert settings.feedback_path.read_text(encoding="utf-8") == "something else\n"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [("not a url", "not a database URL"), ("nosuchdb+driver://host/db", "No database driver")],
)
def test_an_unusable_store_url_is_a_clear_setup_error(tmp_path, url, fragment):
    with pytest.raises(StoreConfigError, match=fragment):
        _app(web_settings(tmp_path / "data", store_url=url))


def test_health_never_shows_the_store_password(tmp_path):
    url = "postgresql+psycopg://advisor:hunter2@127.0.0.1:1/advisor"
    with TestClient(_app(web_settings(tmp_path / "data", store_url=url, store_timeout_s=1))) as client:
        body = client.get("/api/health").text
    assert "hunter2" not in body and "advisor:***@127.0.0.1" in body
