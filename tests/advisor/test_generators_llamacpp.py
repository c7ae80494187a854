"""The llama.cpp backend with the real offline model (assembled from its pip part packages).

Slow: loads Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB). Each test keeps its prompt short so the
module runs in well under a minute on 2 CPU cores.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from advisor import offline_models as om
from advisor.backends import GenerationError
from config import Settings, settings_for_tests
from textkit import CJK_SCRIPT, count_han

pytestmark = pytest.mark.slow

MODEL = "offline:qwen2.5-coder-1.5b-instruct-q4_k_m"


@pytest.fixture(scope="module")
def generator():
    pytest.importorskip("xllamacpp")
    try:
        om.find_parts(om.OFFLINE_MODELS[MODEL])
    except om.OfflineModelError as exc:
        pytest.skip(str(exc))
    from advisor.generate import make_generator

    # The project's data folder: the assembled model is cached there across runs (as `make run` leaves it).
    settings = settings_for_tests(
        llm_backend="llamacpp",
        llm_model=MODEL,
        data_dir=Settings.model_fields["data_dir"].default,
        llm_context_tokens=1024,
    )
    return make_generator(settings)


def test_answers_a_short_prompt_and_logs_its_figures(generator, caplog):
    messages = [
        {"role": "system", "content": "Answer with one short sentence."},
        {"role": "user", "content": "What is two plus two?"},
    ]
    with caplog.at_level(logging.INFO, logger="advisor.generate"):
        text = "".join(generator.stream(messages, max_new_tokens=24, temperature=0.0))
    assert "4" in text or "four" in text.lower()
    stats = generator.last_stats
    assert 0 < stats.new_tokens <= 24 and stats.tokens_per_s > 0 and stats.first_token_s > 0
    assert stats.prompt_tokens > 10 and not stats.stopped
    assert f"model={MODEL} device=cpu dtype=gguf-q4_k_m" in caplog.text
    assert generator.describe()["threads"] >= 1


def test_answers_chinese_in_chinese(generator):
    messages = [
        {"role": "system", "content": "用一句中文回答。"},
        {"role": "user", "content": "创业公司为什么需要定价策略？"},
    ]
    text = "".join(generator.stream(messages, max_new_tokens=16, temperature=0.0))
    assert count_han(text) >= 5


def test_the_fixed_system_prompt_is_served_from_the_prompt_cache(generator):
    system = {"role": "system", "content": "You are a terse assistant for startup founders. " * 6}
    list(generator.stream([system, {"role": "user", "content": "Say A."}], 4, 0.0))
    list(generator.stream([system, {"role": "user", "content": "Say B."}], 4, 0.0))
    assert generator.last_stats.cached_prompt_tokens >= 40


def test_stop_event_really_stops_decoding(generator):
    stop = threading.Event()
    pieces = []
    messages = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]
    for piece in generator.stream(messages, max_new_tokens=300, temperature=0.0, stop_event=stop):
        pieces.append(piece)
        if len(pieces) == 5:
            stop.set()
            stopped_at = time.perf_counter()
    assert len(pieces) == 5 and generator.last_stats.stopped
    # llama.cpp dropped the request: its slot is idle again within moments, long before 300 tokens.
    deadline = stopped_at + 3.0
    while generator.counters()["requests_processing"] > 0 and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert generator.counters()["requests_processing"] == 0
    # And the next answer runs normally.
    assert "".join(generator.stream([{"role": "user", "content": "Say OK."}], 4, 0.0))


def test_a_prompt_beyond_the_context_is_a_clear_error(generator):
    with pytest.raises(GenerationError, match=r"llama\.cpp"):
        list(generator.stream([{"role": "user", "content": "定价" * 1500}], 16, 0.0))


def test_first_token_logprobs(generator):
    top = generator.first_token_logprobs(
        [{"role": "user", "content": "Is Paris in France? Reply YES or NO."}], top_n=5
    )
    assert len(top) == 5 and max(top, key=top.get).strip().upper().startswith("Y")


def test_an_english_answer_from_chinese_text_contains_no_chinese(generator):
    # Without the mask this prompt makes the model copy Chinese terms; with it, only English can come out.
    messages = [
        {"role": "system", "content": "Answer in English, using the source."},
        {
            "role": "user",
            "content": "Source: 常见的定价策略包括成本导向定价、价值导向定价和竞争导向定价。\n"
            "Question: Name the pricing strategies in the source.",
        },
    ]
    text = "".join(generator.stream(messages, max_new_tokens=40, temperature=0.0, language="en"))
    assert text.strip() and not CJK_SCRIPT.search(text), text
    cache = generator.model_path.parent / f"{generator.model_path.name}.cjk-tokens.json"
    assert cache.is_file()  # the mask is computed once per model file and cached beside it
    chinese = "".join(
        generator.stream(
            [*messages[:1], {"role": "user", "content": "用中文回答：定价策略有哪些？"}],
            max_new_tokens=12,
            temperature=0.0,
            language="zh",
        )
    )
    assert CJK_SCRIPT.search(chinese)  # the mask applies to English answers only


def test_prompt_lookup_drafting_keeps_the_greedy_answer_and_drafts_from_the_prompt(generator):
    from advisor.backends.llamacpp import LlamaCppGenerator

    drafting = LlamaCppGenerator(generator.model_path, context_tokens=1024, draft_tokens=8)
    plain = LlamaCppGenerator(generator.model_path, context_tokens=1024, draft_tokens=0)
    messages = [
        {"role": "system", "content": "Copy the user's text exactly, then stop."},
        {"role": "user", "content": "成本导向定价：根据产品或服务的成本，加上一定的利润，确定价格。"},
    ]
    drafted = "".join(drafting.stream(messages, 40, 0.0))
    assert drafted == "".join(plain.stream(messages, 40, 0.0))
    stats = drafting.last_stats
    assert stats.drafted_tokens > 0 and 0 < stats.accepted_draft_tokens <= stats.drafted_tokens
    assert drafting.describe()["draft_tokens"] == 8
