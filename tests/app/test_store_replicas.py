"""Two app processes (real subprocesses, each the full app with the test profile's fakes) answer founders
and write their events into ONE store, SQLite in WAL mode and a real PostgreSQL server; the knowledge-gap
report (`python -m webapp report`, another process) then shows every one of them."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from config import PROJECT_ROOT
from hostkit import free_port
from tests.app.postgres_server import wait_until
from tests.app.support import PRICING_QUESTION
from webapp.store import EventStore

QUESTIONS = [PRICING_QUESTION, "今天天气怎么样", PRICING_QUESTION]  # two answered, one refused, per replica


def _start_replica(data_dir: Path, store_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "tests.app.replica", "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [*command, "--store-url", store_url, "--port", str(port)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, f"http://127.0.0.1:{port}"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _ask_all(urls: list[str]) -> list[dict]:
    def ask(job: tuple[str, str]) -> dict:
        url, question = job
        r = httpx.post(f"{url}/api/ask", json={"question": question}, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()

    jobs = [(url, q) for q in QUESTIONS for url in urls]
    with ThreadPoolExecutor(len(jobs)) as pool:  # both replicas write at the same time
        return list(pool.map(ask, jobs))


def _report(tmp_path: Path, store_url: str) -> Path:
    """`python -m webapp report` in its own process, on the store the replicas wrote; its folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FA_")}
    env |= {"FA_PROFILE": "test", "FA_DATA_DIR": str(tmp_path / "reporter"), "FA_STORE_URL": store_url}
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "webapp", "report", "--out", str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "6 answers (2 refused)" in done.stderr
    return out


def _rows(folder: Path, table: str) -> list[dict[str, str]]:
    with (folder / f"{table}.csv").open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _two_replicas_write_into_one_store(tmp_path: Path, store_url: str) -> None:
    replicas = [_start_replica(tmp_path / f"replica{i}", store_url) for i in (1, 2)]
    try:
        urls = [url for _, url in replicas]
        for process, url in replicas:
            started = wait_until(lambda u=url, p=process: _healthy(u) or p.poll() is not None, timeout_s=180)
            assert started and process.poll() is None, process.stderr.read().decode()
        answers = _ask_all(urls)
        assert sum(a["refused"] for a in answers) == 2
        pids = {process.pid for process, _ in replicas}
    finally:
        for process, _ in replicas:
            process.send_signal(signal.SIGTERM)  # graceful: each writes what it still has queued
        for process, _ in replicas:
            process.wait(timeout=60)

    reader = EventStore(store_url, retention_days=30)
    try:
        events = reader.read()
    finally:
        reader.close()
    assert len(events) == 2 * len(QUESTIONS)
    writers = {int(e.replica.rsplit(":", 1)[1]) for e in events}
    assert writers == pids  # both processes wrote, into the same store
    assert sum(e.refused for e in events) == 2

    report = _report(tmp_path, store_url)
    (week,) = _rows(report, "weekly")
    assert (week["answers"], week["refused"]) == ("6", "2")
    assert "5.3.2 定价策略的类型" in (report / "report.html").read_text(encoding="utf-8")
    cited = {row["section"]: int(row["cited_total"]) for row in _rows(report, "sections")}
    assert max(cited.values()) == 4 and "5.3.2 定价策略的类型" in max(cited, key=cited.get)


def test_two_app_processes_share_one_sqlite_store(tmp_path):
    _two_replicas_write_into_one_store(tmp_path, f"sqlite:///{tmp_path / 'shared' / 'events.sqlite3'}")


def test_two_app_processes_share_one_postgresql_store(tmp_path, postgres_url):
    _two_replicas_write_into_one_store(tmp_path, postgres_url)
