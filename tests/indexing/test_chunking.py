"""The playbook and the chunker: every chunk knows its exact section; no chunk crosses a heading."""

from __future__ import annotations

import re

import pytest

from indexing.chunking import SECTION_SEPARATOR, chunk_document, find_headings, section_regions
from indexing.documents import SourceDocument, content_hash, split_front_matter
from indexing.store import passage_text, search_text
from tests.indexing.support import PLAYBOOK

PRICING = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.3 定价策略的案例分析"


@pytest.fixture(scope="module")
def chunks(playbook_doc):
    return chunk_document(playbook_doc, 500, 60)


def _doc(text: str, source: str = "t.md", lang: str = "zh") -> SourceDocument:
    _, body_start = split_front_matter(text)
    return SourceDocument(content_hash(text), source, text, body_start, "T", lang, "", "markdown", "utf-8")


def test_playbook_markdown_structure():
    text = PLAYBOOK.read_text(encoding="utf-8")
    meta, body_start = split_front_matter(text)
    assert {"title", "lang", "source", "license"} <= set(meta)
    assert meta["lang"] == "zh"
    headings = find_headings(text[body_start:])
    assert [h.title for h in headings if h.level == 1] == ["AI大模型创业：如何实现未来盈利？"]
    numbered = {h.title.split()[0]: h.level for h in headings if re.match(r"[0-9A-Z]+\.\d", h.title)}
    assert numbered["5.3"] == 3 and numbered["5.3.2"] == 4 and numbered["A.3"] == 4
    assert all(
        level == (3 if title.count(".") == 1 and title[0].isdigit() else 4)
        for title, level in numbered.items()
        if title[0].isdigit()
    )
    # Python comments inside code fences stay code, not headings.
    assert "# 神经元激活函数示例" in text
    assert not any(h.title == "神经元激活函数示例" for h in headings)


def test_every_chunk_has_a_section_path_and_exact_offsets(chunks, playbook_doc):
    assert len(chunks) > 50
    for chunk in chunks:
        assert chunk.section.strip()
        assert chunk.text == playbook_doc.text[chunk.start : chunk.end]
        assert chunk.source == "playbook.md" and chunk.lang == "zh"
        assert chunk.doc_id == playbook_doc.doc_id
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_pricing_example_is_in_subsection_5_3_3(chunks):
    holding = [c for c in chunks if "每月1000元" in c.text and "5000元" in c.text]
    assert len(holding) == 1
    assert "5.3.3" in holding[0].section
    assert holding[0].section == PRICING


def test_section_paths_keep_numbering_and_appendix(chunks):
    sections = {c.section for c in chunks}
    assert "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.2 定价策略的类型" in sections
    assert "附录 › 附录A AI大模型创业工具与资源 › A.3 相关书籍与文献" in sections
    assert "AI大模型创业的未来趋势 › 8.1 AI大模型创业的市场前景" in sections
    # Text directly under the title (keywords, abstract) is labelled with the title.
    assert any(s == "AI大模型创业：如何实现未来盈利？" for s in sections)
    code = next(c for c in chunks if "# 神经元激活函数示例" in c.text)
    assert code.section == "AI大模型技术原理 › 2.1 深度学习技术 › 2.1.1 神经网络原理"


def test_no_chunk_spans_two_subsections(chunks, playbook_doc):
    body = playbook_doc.text[playbook_doc.body_start :]
    line_starts = [0, *(m.end() for m in re.finditer("\n", body))]
    heading_offsets = [playbook_doc.body_start + line_starts[h.line_start] for h in find_headings(body)]
    for chunk in chunks:
        assert not any(chunk.start <= off < chunk.end for off in heading_offsets), chunk.section
    for region in section_regions(playbook_doc):
        inside = [c for c in chunks if region.start <= c.start and c.end <= region.end]
        assert all(c.section == region.path for c in inside)
    assert sum(1 for r in section_regions(playbook_doc) for c in chunks if region_contains(r, c)) == len(
        chunks
    )


def region_contains(region, chunk) -> bool:
    return region.start <= chunk.start and chunk.end <= region.end


@pytest.mark.parametrize("size", [200, 300, 500, 800])
def test_chunks_respect_size(playbook_doc, size):
    assert all(len(c.text) <= size for c in chunk_document(playbook_doc, size, 40))


def test_chinese_sentences_split_on_chinese_punctuation():
    sentence = "定价策略是指公司如何为产品设定价格以实现利润最大化"  # 25 chars, then 。
    text = "# 标题\n\n## 1.1 定价\n\n" + "。".join([sentence] * 20) + "。\n"
    chunks = chunk_document(_doc(text), 120, 0)
    assert len(chunks) > 3
    assert all(c.text.endswith("。") for c in chunks)  # cut at sentence ends, never mid-sentence
    assert {c.section for c in chunks} == {"1.1 定价"}


def test_chunk_ids_are_stable_and_depend_on_content():
    text = "# T\n\n## A\n\nalpha text.\n\n## B\n\nbeta text.\n"
    first, again = chunk_document(_doc(text), 500, 0), chunk_document(_doc(text), 500, 0)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    changed = chunk_document(_doc(text.replace("beta", "gamma")), 500, 0)
    assert first[0].chunk_id != changed[0].chunk_id  # a new content hash is a new document


def test_document_without_title_or_headings():
    plain = chunk_document(_doc("Just some notes about pricing.\nSecond line.\n", lang="en"), 500, 0)
    assert [c.section for c in plain] == ["T"]  # falls back to the document title
    many_h1 = chunk_document(_doc("# One\n\ntext one\n\n# Two\n\n## Sub\n\ntext two\n"), 500, 0)
    assert [c.section for c in many_h1] == ["One", f"Two{SECTION_SEPARATOR}Sub"]


def test_setext_headings():
    text = "Title\n=====\n\nintro\n\nPart\n----\n\nbody of part\n"
    chunks = chunk_document(_doc(text), 500, 0)
    assert [(c.section, c.text) for c in chunks] == [("Title", "intro"), ("Part", "body of part")]


def test_every_chunk_carries_its_documents_title_and_is_searched_with_it():
    text = "# Hiring Engineers\n\nWho wrote this guide.\n\n## The Loop\n\nFour steps over two weeks.\n"
    intro, loop = chunk_document(_doc(text, lang="en"), 500, 0)
    assert (intro.section, loop.section) == ("Hiring Engineers", "The Loop")  # the path leaves it out
    assert intro.title == loop.title == "Hiring Engineers"
    # Embedded and BM25-indexed: the title once, then the path and the text; the reader's text has no title.
    assert search_text(loop) == f"Hiring Engineers{SECTION_SEPARATOR}The Loop\nFour steps over two weeks."
    assert search_text(intro) == "Hiring Engineers\nWho wrote this guide."
    assert passage_text(loop) == "The Loop\nFour steps over two weeks."
    # Several level-1 headings are chapters, not a title: the loader's title is the document's.
    many_h1 = chunk_document(_doc("# One\n\ntext one\n\n# Two\n\ntext two\n\n## Sub\n\ntext sub\n"), 500, 0)
    assert {c.title for c in many_h1} == {"T"}
    assert search_text(many_h1[1]) == f"T{SECTION_SEPARATOR}Two\ntext two"
    # A deeper path has its context in its own headings: no title in front of it.
    assert search_text(many_h1[2]) == f"Two{SECTION_SEPARATOR}Sub\ntext sub"
