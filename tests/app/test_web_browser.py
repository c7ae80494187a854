"""A real headless Chromium (Debian's /usr/bin/chromium, driven by playwright) using the chat as a person would.

Screenshots land in test-artifacts/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import shutil
import time

import pytest

from app import create_app
from config import PROJECT_ROOT
from tests.app.support import (
    FOLLOW_UP,
    PRICING_QUESTION,
    STANDALONE,
    HistoryRecorder,
    SlowGenerator,
    TrickleGenerator,
    conversation_reply,
    is_condense_prompt,
    make_advisor,
    serve,
    web_settings,
)
from webapp.store import EventStore

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
LAST_BOT_TEXT = """() => { const b = document.querySelectorAll('#fa-chat [data-testid="bot"]');
                           return b.length ? b[b.length - 1].innerText : ''; }"""
CITATION = '#fa-chat a[href*="#src-"]'
ANSWERING = "() => !!document.querySelector('#fa-question .stop-button, #fa-question button.stop')"
BOT_COUNT = """() => document.querySelectorAll('#fa-chat [data-testid="bot"]').length"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Question texts kept: the thumbs test checks what a vote stores (the default keeps none).
    settings = web_settings(tmp_path_factory.mktemp("browser") / "data", store_question_text=True)
    with serve(create_app(settings, advisor=make_advisor(settings, TrickleGenerator()))) as url:
        yield url, settings


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a new, empty user-data-dir
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


def _ask(page, question: str) -> list[str]:
    """Type a question, press Enter, and return the successive texts of the answer as it streams in."""
    page.fill("#fa-question textarea", question)
    page.keyboard.press("Enter")
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = page.evaluate(LAST_BOT_TEXT)
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        done = page.evaluate(
            "() => !document.querySelector('#fa-question .stop-button, #fa-question button.stop')"
        )
        if seen and done and page.query_selector(f"{CITATION}, #fa-chat strong"):
            break
        time.sleep(0.03)
    return seen


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_streamed_answer_with_citation_opens_its_source(server, page):
    url, _ = server
    page.goto(url)
    page.wait_for_selector("#fa-question textarea", timeout=60_000)
    assert "on cpu" in page.inner_text("#fa-model")  # which model and device answer
    seen = _ask(page, PRICING_QUESTION)
    page.wait_for_selector(CITATION, timeout=30_000)
    partial = [t for t in seen if "定价" in t and len(t) < len(seen[-1])]
    assert len(partial) >= 2, f"the answer did not stream: {seen}"

    page.click("#src-1 summary")  # the reader folds the card away ...
    page.wait_for_function("() => !document.querySelector('#src-1').open")
    page.click(CITATION)  # ... and the citation opens it again
    page.wait_for_function("() => document.querySelector('#src-1').open")
    assert "fa-flash" in page.get_attribute("#src-1", "class")
    assert "5.3.2 定价策略的类型" in page.inner_text("#src-1")
    assert "成本导向定价" in page.inner_text("#src-1 blockquote")
    assert page.evaluate("() => location.hash") == ""  # the link opened the card, it did not navigate
    page.wait_for_function("() => document.querySelector('#fa-question textarea').placeholder !== ''")
    _screenshot(page, "chat-desktop.png")


def test_thumbs_up_saves_question_answer_and_citations(server, page):
    url, settings = server
    page.goto(url)
    page.wait_for_selector("#fa-question textarea", timeout=60_000)
    _ask(page, PRICING_QUESTION)
    page.wait_for_selector(CITATION, timeout=30_000)
    page.click("#fa-chat button[aria-label='Like']")
    store = EventStore(settings.event_store_url, retention_days=30)  # the app's store, read by another
    try:
        deadline = time.monotonic() + 10
        while not (votes := [e for e in store.read() if e.kind == "vote"]) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        store.close()
    (vote,) = votes
    assert vote.thumbs == "up" and vote.question == PRICING_QUESTION and vote.channel == "chat"
    assert "定价" in vote.answer and "#src-" not in vote.answer
    assert "5.3.2" in vote.sections[0] and vote.topic == "pricing"


def test_refusal_is_shown_as_such_and_new_conversation_clears(server, page):
    url, _ = server
    page.goto(url)
    page.wait_for_selector("#fa-question textarea", timeout=60_000)
    _ask(page, "今天天气怎么样")
    page.wait_for_function(f"() => ({LAST_BOT_TEXT})().includes('知识库未涵盖')", timeout=30_000)
    page.click("#fa-new")
    page.wait_for_function(f"() => ({LAST_BOT_TEXT})() === ''", timeout=10_000)
    assert "Ask a question" in page.inner_text("#fa-sources")


def test_phone_width_has_no_sideways_scrolling(server, browser):
    url, _ = server
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(url)
        page.wait_for_selector("#fa-question textarea", timeout=60_000)
        _ask(page, PRICING_QUESTION)
        page.wait_for_selector(CITATION, timeout=30_000)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 392
        chat_box = page.locator("#fa-chat").bounding_box()
        sources_box = page.locator("#fa-sources").bounding_box()
        assert sources_box["y"] > chat_box["y"]  # stacked, not squeezed side by side
        _screenshot(page, "chat-phone.png")
    finally:
        page.close()


def test_portal_page_embeds_a_chat_that_answers(server, page):
    url, _ = server
    page.goto(f"{url}/portal")
    frame = page.frame_locator("#advisor-frame")
    frame.locator("#fa-question textarea").fill(PRICING_QUESTION, timeout=60_000)
    frame.locator("#fa-question textarea").press("Enter")
    frame.locator(CITATION).first.wait_for(timeout=30_000)
    assert "定价" in frame.locator('#fa-chat [data-testid="bot"]').last.inner_text()
    _screenshot(page, "portal.png")


def test_closing_the_tab_stops_the_generation(browser, tmp_path):
    settings = web_settings(tmp_path / "data")
    generator = SlowGenerator(pieces=400, delay_s=0.02)  # ~8 s unless stopped
    with serve(create_app(settings, advisor=make_advisor(settings, generator))) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#fa-question textarea", timeout=60_000)
        page.fill("#fa-question textarea", PRICING_QUESTION)
        page.keyboard.press("Enter")
        deadline = time.monotonic() + 20
        while generator.produced < 5:
            assert time.monotonic() < deadline, "the generation never started"
            time.sleep(0.02)
        page.close()
        assert generator.finished.wait(4), "the generation kept running after the tab closed"
        assert generator.produced < 300


def test_a_follow_up_reaches_the_advisor_as_it_does_through_the_api(browser, tmp_path):
    """The conversation of test_web_conversations.py, typed into the chat: the follow-up meets the
    advisor with the history and prompts of the advisor asked directly (the first answer is shown with a
    collapsed list of removed sentences and linked markers; the advisor gets the words it wrote)."""
    settings = web_settings(tmp_path / "data")
    generator = TrickleGenerator(replies=conversation_reply)
    recorder = HistoryRecorder(make_advisor(settings, generator))
    with serve(create_app(settings, advisor=recorder)) as url:
        page = browser.new_page()
        try:
            page.goto(url)
            page.wait_for_selector("#fa-question textarea", timeout=60_000)
            for turn, question in enumerate((PRICING_QUESTION, FOLLOW_UP), start=1):
                generator.calls.clear()
                page.fill("#fa-question textarea", question)
                page.keyboard.press("Enter")
                # The turn's bubble and its reading panel come in one update; the final panel (with the
                # timings line, which the reading panel lacks) replaces it when the answer is checked.
                page.wait_for_function(f"() => ({BOT_COUNT})() === {turn}", timeout=30_000)
                page.wait_for_selector("#fa-sources .fa-timings", timeout=30_000)
                page.wait_for_function(f"() => !({ANSWERING})()", timeout=30_000)
            cards = page.locator("#fa-sources .fa-source summary").all_inner_texts()
            asked, prompts = recorder.seen[-1], list(generator.calls)
        finally:
            page.close()
    first = recorder.advisor.ask(PRICING_QUESTION)
    assert first.removed  # the chat showed it with a collapsed detail
    history = ({"role": "user", "content": PRICING_QUESTION}, {"role": "assistant", "content": first.text})
    generator.calls.clear()
    expected = recorder.advisor.ask(FOLLOW_UP, history=list(history))
    assert asked == (FOLLOW_UP, history)
    assert prompts == generator.calls and is_condense_prompt(prompts[0])
    assert expected.standalone_question == STANDALONE
    assert [card.split("] ", 1)[1] for card in cards] == [c.section for c in expected.citations]
