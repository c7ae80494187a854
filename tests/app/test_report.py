"""The knowledge-gap report ("what founders ask") from real events: answers served by the app (the real
advisor with the test profile's fakes) and votes, stored, read back and grouped by ISO week; as files
(`python -m webapp report`) and as a page behind the API key."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app import create_app
from config import get_settings
from tests.app.support import PASSAGES, PRICING_QUESTION, make_advisor, web_settings
from webapp import __main__ as cli
from webapp.events import Event
from webapp.feedback import FeedbackLog
from webapp.report import build_report, csv_tables, index_sections, render_html, week_of
from webapp.store import EventStore

OFF_TOPIC = "今天天气怎么样"
PRICING, TEAM, RISK = (section for section, _ in PASSAGES)
NEVER_CITED = "AI大模型创业的建议与启示 › 9.4 写给创业者的话"
KEY = "report-key"


def _served_events(tmp_path) -> tuple[list[Event], EventStore]:
    """Two weeks of real events: this week's answers and a vote from the app, and the same a week
    earlier (the stored events written again, moved back seven days)."""
    settings = web_settings(tmp_path / "data", store_question_text=True, api_key=KEY)
    app = create_app(settings, advisor=make_advisor(settings))
    store = app.state.event_store
    headers = {"Authorization": f"Bearer {KEY}"}
    with TestClient(app) as client:
        answers = [
            client.post("/api/ask", json={"question": q}, headers=headers).json()
            for q in (PRICING_QUESTION, OFF_TOPIC, PRICING_QUESTION)
        ]
    assert [a["refused"] for a in answers] == [False, True, False]
    FeedbackLog(store, keep_text=True).record(
        liked=False, question=PRICING_QUESTION, answer=None, shown_text=answers[0]["text"]
    )
    assert store.flush(10)
    this_week = store.read()
    store.write_now([dataclasses.replace(e, time=e.time - timedelta(days=7)) for e in this_week])
    return store.read(), store


@pytest.fixture
def served(tmp_path):
    events, store = _served_events(tmp_path)
    yield events, store
    store.close()


def test_the_report_groups_refusals_votes_and_citations_by_week(served):
    events, _ = served
    report = build_report(events, index_sections=[PRICING, TEAM, RISK, NEVER_CITED])
    now = max(e.time for e in events)
    weeks = [week_of(now - timedelta(days=7)), week_of(now)]
    assert report.week_labels == weeks
    for row in report.weeks:
        assert (row.answers, row.refused, row.thumbs_up, row.thumbs_down) == (3, 1, 0, 1)
        assert row.median_latency_ms is not None and row.median_latency_ms > 0
    ((topic, reason, count, examples),) = report.refusals_by_topic_reason()
    assert (topic, count, examples) == ("other", 2, (OFF_TOPIC,))
    assert reason in {"off_topic", "weak_retrieval"}
    assert [(g.week, g.count) for g in report.refusals] == [(weeks[0], 1), (weeks[1], 1)]
    assert [v.question for v in report.thumbs_down] == [PRICING_QUESTION, PRICING_QUESTION]
    assert report.most_cited() == [(PRICING, 4)]
    assert [count for _, count in report.least_cited()] == [0, 0, 0, 4]
    assert {s for s, _ in report.least_cited()[:3]} == {TEAM, RISK, NEVER_CITED}


def test_the_csv_tables_hold_the_same_figures(served):
    events, _ = served
    tables = {
        name: list(csv.DictReader(io.StringIO(text)))
        for name, text in csv_tables(build_report(events)).items()
    }
    assert [(w["answers"], w["refused"], w["refusal_rate"], w["thumbs_down"]) for w in tables["weekly"]] == [
        ("3", "1", "0.333", "1")
    ] * 2
    assert [(r["topic"], r["count"], r["example_questions"]) for r in tables["refusals"]] == [
        ("other", "1", OFF_TOPIC)
    ] * 2
    assert all(r["question"] == PRICING_QUESTION for r in tables["thumbs_down"])
    (pricing,) = tables["sections"]
    weeks = [k for k in pricing if k.startswith("20")]
    assert pricing["section"] == PRICING and pricing["cited_total"] == "4" and len(weeks) == 2
    assert [pricing[w] for w in weeks] == ["2", "2"]


def test_the_page_has_plots_and_escapes_what_founders_typed():
    attack = "<script>alert('x')</script> 估值是多少？"
    events = [
        Event(
            kind="answer",
            channel="api",
            topic="pricing",
            refused=True,
            refusal_reason="not_covered",
            question=attack,
        ),
        Event(kind="answer", channel="api", topic="pricing", sections=(PRICING,), latency_ms=900.0),
        Event(kind="vote", channel="chat", thumbs="down", sections=(PRICING,), question=attack),
    ]
    page = render_html(build_report(events, index_sections=[PRICING, TEAM]))
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.count("data:image/png;base64,") == 3  # weekly, refusals, most cited
    assert "not_covered" in page and "5.3.2 定价策略的类型" in page and "4.1.1 创业团队的核心能力" in page


def test_without_question_texts_the_page_says_why_they_are_missing():
    events = [
        Event(kind="answer", channel="api", topic="risk", refused=True, refusal_reason="weak_retrieval")
    ]
    page = render_html(build_report(events))
    assert "question text not stored: FA_STORE_QUESTION_TEXT" in page


def test_an_empty_store_gives_a_page_that_says_so():
    assert "No events stored in this window yet." in render_html(build_report([]))


def test_index_sections_come_from_the_built_index(tmp_path):
    assert index_sections(tmp_path) == []
    lines = [json.dumps({"chunk_id": str(i), "section": s}) for i, s in enumerate([PRICING, TEAM, PRICING])]
    (tmp_path / "chunks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert index_sections(tmp_path) == [PRICING, TEAM]


def test_the_report_page_is_served_only_behind_the_api_key(tmp_path):
    settings = web_settings(tmp_path / "data", api_key=KEY)
    with TestClient(create_app(settings, advisor=make_advisor(settings))) as client:
        client.post("/api/ask", json={"question": OFF_TOPIC}, headers={"Authorization": f"Bearer {KEY}"})
        assert client.app.state.event_store.flush(10)
        assert client.get("/api/report").status_code == 401
        assert client.get("/api/report", headers={"Authorization": "Bearer wrong"}).status_code == 401
        headers = {"Authorization": f"Bearer {KEY}"}
        page = client.get("/api/report", headers=headers)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "What founders ask" in page.text and "/api/report/refusals.csv?weeks=12" in page.text
        refusals = client.get("/api/report/refusals.csv?weeks=4", headers=headers)
        assert refusals.headers["content-type"].startswith("text/csv")
        assert next(csv.DictReader(io.StringIO(refusals.text)))["count"] == "1"
        assert client.get("/api/report/secrets.csv", headers=headers).status_code == 404
        assert client.get("/api/report?weeks=0", headers=headers).status_code == 422
        assert client.get("/api/report/weekly.csv").status_code == 401


def test_without_an_api_key_the_report_is_not_served_at_all(tmp_path):
    settings = web_settings(tmp_path / "data")
    with TestClient(create_app(settings, advisor=make_advisor(settings))) as client:
        r = client.get("/api/report")
    assert r.status_code == 404 and "FA_API_KEY" in r.json()["detail"]


def test_the_report_page_says_503_when_the_store_cannot_be_read(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("in the way", encoding="utf-8")
    settings = web_settings(tmp_path / "data", api_key=KEY, store_url=f"sqlite:///{blocker / 'e.sqlite3'}")
    with TestClient(create_app(settings, advisor=make_advisor(settings))) as client:
        r = client.get("/api/report", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 503 and "cannot be read" in r.json()["detail"]


@pytest.fixture
def cli_environment(tmp_path, monkeypatch):
    """`python -m webapp report` reads the process settings: point them at a test data folder."""
    monkeypatch.setenv("FA_PROFILE", "test")
    monkeypatch.setenv("FA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_the_command_line_writes_csv_files_and_a_page(cli_environment, capsys):
    store = EventStore(f"sqlite:///{cli_environment / 'data' / 'events.sqlite3'}", retention_days=30)
    store.write_now(
        [
            Event(kind="answer", channel="api", topic="team", refused=True, refusal_reason="weak_retrieval"),
            Event(kind="answer", channel="chat", topic="pricing", sections=(PRICING,), latency_ms=1200.0),
        ]
    )
    store.close()
    out = cli_environment / "out"
    assert cli.main(["report", "--weeks", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [
        "refusals.csv",
        "report.html",
        "sections.csv",
        "thumbs_down.csv",
        "weekly.csv",
    ]
    assert str(out / "report.html") in printed.out and "2 answers (1 refused)" in printed.err
    (refusal,) = csv.DictReader(io.StringIO((out / "refusals.csv").read_text(encoding="utf-8-sig")))
    assert (refusal["topic"], refusal["reason"], refusal["count"]) == ("team", "weak_retrieval", "1")


def test_the_command_line_says_when_the_store_cannot_be_read(cli_environment, monkeypatch, capsys):
    blocker = cli_environment / "not-a-folder"
    blocker.write_text("in the way", encoding="utf-8")
    monkeypatch.setenv("FA_STORE_URL", f"sqlite:///{blocker / 'e.sqlite3'}")
    get_settings.cache_clear()
    assert cli.main(["report", "--out", str(cli_environment / "out")]) == cli.EXIT_STORE
    assert "cannot be read" in capsys.readouterr().err


def test_the_command_line_refuses_a_window_of_no_weeks(cli_environment, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["report", "--weeks", "0"])
    assert exited.value.code == 2 and "--weeks must be at least 1" in capsys.readouterr().err


def test_week_labels_are_iso_weeks_in_utc():
    assert week_of(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "2026-W53"
    assert week_of(datetime(2027, 1, 4, 0, 30, tzinfo=UTC)) == "2027-W01"
