"""Fixtures for the indexing tests: the real playbook, a knowledge folder in tmp, the hash embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import PROJECT_ROOT, Settings, settings_for_tests
from indexing.documents import SourceDocument, load_documents
from indexing.embedders import HashEmbedder

PLAYBOOK = PROJECT_ROOT / "knowledge" / "playbook.md"


class CountingEmbedder(HashEmbedder):
    """The hash embedder, plus a record of how many texts it embedded (to prove reuse)."""

    def __init__(self, dim: int = 384):
        super().__init__(dim)
        self.embedded = 0

    def embed(self, texts, kind="passage"):
        self.embedded += len(texts)
        return super().embed(texts, kind)


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


def write_doc(folder: Path, name: str, title: str, sections: dict[str, str]) -> Path:
    """A small Markdown document: one title, one `##` section per entry."""
    body = "".join(f"\n## {heading}\n\n{text}\n" for heading, text in sections.items())
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n{body}", encoding="utf-8")
    return path
