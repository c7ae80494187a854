"""The passages the support cross-encoder is trained on: the knowledge base as parallel lines.

The seed playbook (knowledge/playbook.md) and the evaluation suite's added documents (both languages), chunked
exactly as the index chunks them, each line paired with its checked translation: the playbook's English
renderings (the shipped file, reviewed lines first) and the added documents' renderings both ways
(evals/datasets/added_docs_renderings.{en,zh}.json). Nothing here needs a model: the renderings are files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from advisor import Renderings
from evals.checker_pairs import Passage
from indexing import chunk_document, load_documents

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "knowledge" / "playbook.md"
ADDED_DOCS = ROOT / "evals" / "datasets" / "added_docs"
ADDED_RENDERINGS = {
    "en": ROOT / "evals" / "datasets" / "added_docs_renderings.en.json",
    "zh": ROOT / "evals" / "datasets" / "added_docs_renderings.zh.json",
}


def _lines(path: Path) -> dict[str, str]:
    return dict(json.loads(path.read_text(encoding="utf-8"))["lines"])


def load_passages(
    paths: Sequence[Path] = (PLAYBOOK, ADDED_DOCS), chunk_size: int = 500, chunk_overlap: int = 60
) -> list[Passage]:
    """Every chunk of the sources as parallel lines (lines without a rendering keep None)."""
    playbook_en = Renderings(ROOT / "nonexistent-renderings.json", None)  # shipped + reviewed only
    added = {lang: _lines(path) for lang, path in ADDED_RENDERINGS.items()}
    loaded = load_documents(list(paths), max_file_mb=20)
    passages: list[Passage] = []
    for doc in loaded.documents:
        for chunk in chunk_document(doc, chunk_size, chunk_overlap):
            lines = tuple(ln.strip() for ln in chunk.text.split("\n") if ln.strip())
            lang = chunk.lang
            if lang == "zh":
                renderings = tuple(_render(playbook_en, added["en"], ln) for ln in lines)
            else:
                renderings = tuple(added["zh"].get(ln) for ln in lines)
            path = [part.strip() for part in chunk.section.split("›")]
            passages.append(
                Passage(
                    group=chunk.chunk_id,
                    chapter=f"{chunk.source}:{' › '.join(path[:2])}",
                    heading=chunk.section,
                    lines=lines,
                    renderings=renderings,
                    lang=lang,
                )
            )
    return passages


def _render(playbook: Renderings, added: dict[str, str], line: str) -> str | None:
    english = added.get(line)
    if english:
        return english
    rendered = playbook.render(line)
    return rendered if rendered != line else None
