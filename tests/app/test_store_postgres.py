"""The event store on a real PostgreSQL server (started by the test): events land in it through the app,
and a server that stops never costs an answer: health says the store is down, events wait in a bounded
line (the overflow is counted as lost) and are written once the server is back."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app import create_app
from tests.app.postgres_server import wait_until
from tests.app.support import PRICING_QUESTION, make_advisor, web_settings
from webapp.store import EventStore


@pytest.fixture
def own_postgres():
    """A server of this test's own: it is stopped and started again."""
    from tests.app.postgres_server import postgres_server, why_unavailable

    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    with postgres_server() as server:
        yield server


def test_answers_land_in_postgresql_as_one_table(tmp_path, postgres_url):
    settings = web_settings(tmp_path / "data", store_url=postgres_url)
    app = create_app(settings, advisor=make_advisor(settings))
    with TestClient(app) as client:
        assert client.post("/api/ask", json={"question": PRICING_QUESTION}).status_code == 200
        assert app.state.event_store.flush(10)
        health = client.get("/api/health").json()["store"]
    assert health["status"] == "ok" and health["backend"] == "postgresql" and health["written"] == 1
    assert not (settings.data_dir / "events.sqlite3").exists()  # nothing went to a local file
    reader = EventStore(postgres_url, retention_days=30)
    with reader.engine.connect() as connection:
        row = connection.execute(text("SELECT channel, topic, sections FROM fa_events")).one()
    reader.close()
    assert row.channel == "api" and row.topic == "pricing" and "5.3.2" in row.sections[0]


def test_a_stopped_server_never_blocks_an_answer_and_the_store_catches_up(tmp_path, own_postgres):
    settings = web_settings(tmp_path / "data", store_url=own_postgres.url, store_max_pending=2)
    app = create_app(settings, advisor=make_advisor(settings))
    store = app.state.event_store
    with TestClient(app) as client:
        assert client.post("/api/ask", json={"question": PRICING_QUESTION}).status_code == 200
        assert store.flush(10) and store.state().written == 1

        own_postgres.stop()
        for _ in range(4):
            started = time.monotonic()
            r = client.post("/api/ask", json={"question": PRICING_QUESTION})
            assert r.status_code == 200 and r.json()["refused"] is False
            assert time.monotonic() - started < 5  # the store's connect timeout is never waited for
        # A line of 2: two events wait for the server, two are dropped and counted.
        assert wait_until(lambda: (store.state().lost, store.state().pending) == (2, 2))
        down = client.get("/api/health").json()
        assert down["status"] == "ok"  # the advisor is fine: load balancers keep sending founders
        assert down["store"]["status"] == "down" and "Connection refused" in down["store"]["error"]
        assert (down["store"]["lost"], down["store"]["pending"]) == (2, 2)

        own_postgres.start()
        assert wait_until(lambda: store.state().status == "ok" and store.state().pending == 0, timeout_s=30)
        up = client.get("/api/health").json()["store"]
    assert up["written"] == 3 and up["lost"] == 2 and up["error"] == ""
    assert len(store.read()) == 3
