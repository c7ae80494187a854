"""Fixtures for the evals tests: a hash-embedded index of the real knowledge base, a copying fake model,
and (slow) the real offline advisor, loaded once per session."""

from __future__ import annotations

import re

import pytest

from advisor import AdvisorSetupError, Settings, build_advisor
from advisor.generate import ScriptedGenerator
from config import settings_for_tests
from indexing import build_index

_SOURCE = re.compile(r"^\[(\d+)\] (?:章节：|Section: ).*\n(.+)$", re.MULTILINE)


def copy_first_source(messages) -> str:
    """A fake model that answers with the first sentence of source [1], cited: grounded by construction.

    It also obeys nothing and refuses nothing, so an instruction hidden in a source reaches the answer
    verbatim: exactly what the injection detectors must catch.
    """
    user = messages[-1]["content"]
    found = _SOURCE.search(user)
    if not found:
        return ""
    text = found.group(2).strip()
    first = re.split(r"(?<=[。！？!?])", text, maxsplit=1)[0]
    return f"{first}[{found.group(1)}]"


@pytest.fixture(scope="session")
def hash_settings(tmp_path_factory) -> Settings:
    """Test profile (hash embedder, no model) with an index of the real knowledge folder."""
    # The hash embedder's cosines are far below the real floor (0.78): with it nothing would count as
    # found, so the floor is lowered for the fakes and answers actually get generated and scored.
    settings = settings_for_tests(data_dir=tmp_path_factory.mktemp("evals-data"), min_dense_score=0.0)
    build_index(settings, progress=False)
    return settings


@pytest.fixture
def copying_advisor(hash_settings):
    return build_advisor(hash_settings, generator=ScriptedGenerator(copy_first_source))


@pytest.fixture(scope="session")
def real_settings() -> Settings:
    """The offline CPU profile as configured (environment and .env included), on the real index."""
    settings = Settings(profile="cpu")
    if not settings.index_dir.exists():
        pytest.skip(f"no real index at {settings.index_dir}: run `python -m indexing build`")
    return settings


@pytest.fixture(scope="session")
def real_retrieval_advisor(real_settings):
    """The real embedder and index, with a fake model: retrieval needs no LLM. The query translation is
    off, as in `evals run --retrieval-only`: a stand-in model's "rendering" would only echo the question."""
    no_model = {"llm_backend": "echo", "llm_model": "echo", "translate_queries": False}
    try:
        return build_advisor(real_settings.model_copy(update=no_model))
    except AdvisorSetupError as exc:
        pytest.fail(f"the real index cannot be loaded with the configured settings: {exc}")


@pytest.fixture(scope="session")
def real_advisor(real_settings):
    """The real offline advisor (1.5B GGUF through llama.cpp), loaded once for the session.

    Answers are capped at 200 new tokens: enough for a cited answer, and it keeps the slow test near a
    minute on 2 cores.
    """
    return build_advisor(real_settings.model_copy(update={"llm_max_new_tokens": 200}))
