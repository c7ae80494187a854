"""Fixtures for the indexing tests: the real playbook, a knowledge folder in tmp, the hash embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, settings_for_tests
from indexing.documents import SourceDocument, load_documents
from tests.indexing.support import PLAYBOOK, CountingEmbedder


@pytest.fixture(scope="session")
def playbook_doc() -> SourceDocument:
    result = load_documents([PLAYBOOK], max_file_mb=20)
    assert not result.skipped, result.skipped
    return result.documents[0]


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def knowledge(tmp_path) -> Path:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(tmp_path, knowledge) -> Settings:
    return settings_for_tests(data_dir=tmp_path / "data", knowledge_dir=knowledge)
