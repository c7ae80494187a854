"""The indexing tests' shared pieces: the real playbook's path, a counting embedder, a document writer."""

from __future__ import annotations

from pathlib import Path

from config import PROJECT_ROOT
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


def write_doc(folder: Path, name: str, title: str, sections: dict[str, str]) -> Path:
    """A small Markdown document: one title, one `##` section per entry."""
    body = "".join(f"\n## {heading}\n\n{text}\n" for heading, text in sections.items())
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n{body}", encoding="utf-8")
    return path
