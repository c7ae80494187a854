"""The added-documents retrieval set: its documents and questions, the two-level scoring, the split of the
summary, and a retrieval-only run over a hash-embedded throw-away index (no model anywhere)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals.added_docs import (
    added_doc_scores,
    added_document_paths,
    build_added_docs_target,
    heading_matches,
    summarise_added,
)
from evals.datasets import ADDED_DOCS_DIR, DATASET_DIR, Case, DatasetError, load_dataset, parse_case
from evals.targets import LocalTarget
from indexing.chunking import section_regions
from indexing.documents import load_documents

SOURCES_DIR = DATASET_DIR / "added_docs_sources"


@pytest.fixture(scope="module")
def indexed_documents():
    """Every added document as the indexer reads it: file name -> (language, its heading paths, text)."""
    loaded = load_documents([ADDED_DOCS_DIR], max_file_mb=20)
    assert not loaded.skipped, loaded.skipped
    return {
        Path(doc.source).name: (doc.lang, {r.path for r in section_regions(doc)}, doc.text)
        for doc in loaded.documents
    }


# --- the documents --------------------------------------------------------------------------------


def test_at_least_twenty_documents_in_both_languages_and_every_format(indexed_documents):
    assert len(added_document_paths()) == len(indexed_documents) >= 20
    langs = Counter(lang for lang, _paths, _text in indexed_documents.values())
    assert langs["zh"] >= 10 and langs["en"] >= 10
    formats = Counter(Path(name).suffix for name in indexed_documents)
    assert formats[".md"] >= 2 and formats[".txt"] >= 2
    assert formats[".html"] >= 2 and formats[".pdf"] >= 2 and formats[".docx"] >= 2


def test_every_document_but_a_pdf_keeps_its_headings(indexed_documents):
    for name, (_lang, paths, _text) in indexed_documents.items():
        if name.endswith(".pdf"):
            continue
        assert len(paths) >= 3, (name, paths)


def test_the_built_files_hold_their_sources_text_as_the_indexer_reads_it(indexed_documents, tmp_path):
    pytest.importorskip("fpdf")
    from evals.added_docs_build import built_files

    fresh = built_files()
    assert fresh == built_files()  # deterministic: fixed dates and ids
    for name, data in fresh.items():
        (tmp_path / name).write_bytes(data)
    rebuilt = {Path(d.source).name: d.text for d in load_documents([tmp_path], max_file_mb=20).documents}
    assert rebuilt.keys() == {p.name.removesuffix(".md") for p in SOURCES_DIR.glob("*.md")}
    for name, text in rebuilt.items():
        assert indexed_documents[name][2] == text, f"{name} is stale: run python -m evals.added_docs_build"


# --- the questions --------------------------------------------------------------------------------


def test_sixty_questions_same_and_cross_language_in_both_languages():
    cases = load_dataset("added_docs")
    assert len(cases) >= 60
    groups = Counter((c.crosses_language, c.lang) for c in cases)
    for crossing in (False, True):
        for lang in ("zh", "en"):
            assert groups[crossing, lang] >= 10, (crossing, lang, groups)
    assert len({c.gold_document for c in cases}) == len(added_document_paths())  # every document asked


def test_every_gold_heading_is_a_heading_of_its_document(indexed_documents):
    for case in load_dataset("added_docs"):
        assert case.gold_document in indexed_documents, case.id
        lang, paths, text = indexed_documents[case.gold_document]
        assert case.document_lang == lang, case.id
        if case.gold_document.endswith(".pdf"):
            # The indexer reads a PDF without headings: the heading is in its source and in its text.
            source = (SOURCES_DIR / f"{case.gold_document}.md").read_text(encoding="utf-8")
            assert f"## {case.gold_heading}\n" in source and case.gold_heading in text, case.id
        else:
            assert any(heading_matches(path, case.gold_heading) for path in paths), case.id


def test_no_added_question_repeats_a_playbook_question():
    playbook = {c.question for c in load_dataset("answerable")}
    assert not playbook & {c.question for c in load_dataset("added_docs")}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gold_document": ""}, "gold_document"),
        ({"gold_heading": None}, "gold_heading"),
        ({"document_lang": "fr"}, "document_lang"),
    ],
)
def test_a_bad_added_docs_line_is_refused_with_its_field(change, message):
    row = {
        "id": "x",
        "lang": "en",
        "topic": "t",
        "question": "q?",
        "gold_document": "a.md",
        "gold_heading": "H",
        "document_lang": "zh",
    }
    row.update(change)
    with pytest.raises(DatasetError, match=message):
        parse_case("added_docs", {k: v for k, v in row.items() if v is not None}, "added_docs.jsonl:3")


# --- scoring ----------------------------------------------------------------------------------------


def _case(gold_document="股权.md", gold_heading="悬崖期", lang="en", document_lang="zh") -> Case:
    return Case(
        id="c",
        dataset="added_docs",
        lang=lang,
        question="q",
        gold_document=gold_document,
        gold_heading=gold_heading,
        document_lang=document_lang,
    )


def test_heading_matches_whole_headings_of_the_path_only():
    assert heading_matches("Term Sheet › Liquidation  Preference", "liquidation preference")
    assert heading_matches("悬崖期", "悬崖期")
    assert not heading_matches("悬崖期（Cliff）", "悬崖期")
    assert not heading_matches("Liquidation Preference Basics", "Liquidation Preference")


def test_scores_at_heading_and_document_level():
    located = [
        ("playbook.md", "4.1 › 4.1.3 创业团队的激励机制"),
        ("股权.md", "加速兑现条款"),  # the right file, another heading
        ("folder/股权.md", "悬崖期"),  # a source in a sub-folder is known by its file name
    ]
    scores = added_doc_scores(located, _case())
    assert (scores["gold_rank"], scores["doc_rank"]) == (3, 2)
    assert scores["rr"] == pytest.approx(1 / 3) and scores["doc_rr"] == pytest.approx(1 / 2)
    assert (scores["hit@1"], scores["hit@3"], scores["doc_hit@1"], scores["doc_hit@3"]) == (0, 1, 0, 1)
    assert scores["ndcg@5"] == pytest.approx(0.5)  # 1 / log2(3 + 1)
    missed = added_doc_scores([("other.md", "悬崖期")], _case())
    assert missed["rr"] == missed["doc_rr"] == missed["hit@5"] == missed["ndcg@5"] == 0
    with pytest.raises(ValueError):
        added_doc_scores(located, _case(gold_document=""))


def test_the_summary_splits_same_and_cross_language_and_question_language():
    def row(i, lang, document_lang, rr, doc_rr, fmt="md"):
        crossing = "cross_language" if lang != document_lang else "same_language"
        hit = 1.0 if rr == 1.0 else 0.0
        return {
            "id": f"r{i}",
            "question": f"q{i}",
            "lang": lang,
            "document_lang": document_lang,
            "crossing": crossing,
            "document_format": fmt,
            "gold_document": f"d{i}.{fmt}",
            "gold_heading": "H",
            "gold_rank": round(1 / rr) if rr else None,
            "doc_rank": round(1 / doc_rr) if doc_rr else None,
            "retrieved": [f"first{i}.md › X"],
            "rr": rr,
            "doc_rr": doc_rr,
            "hit@1": hit,
            "hit@3": 1.0 if rr >= 1 / 3 else 0.0,
            "hit@5": 1.0 if rr >= 0.2 else 0.0,
            "ndcg@5": hit,
            "doc_hit@1": 1.0 if doc_rr == 1.0 else 0.0,
            "doc_hit@3": 1.0 if doc_rr >= 1 / 3 else 0.0,
        }

    rows = [
        row(1, "en", "en", 1.0, 1.0),
        row(2, "zh", "zh", 0.5, 1.0),
        row(3, "en", "zh", 0.0, 0.0),
        row(4, "zh", "en", 0.0, 1.0, fmt="pdf"),
    ]
    block = summarise_added(rows)
    assert block["overall"]["n"] == 4 and block["overall"]["rr"] == pytest.approx(0.375)
    assert block["by_crossing"]["same_language"]["rr"] == pytest.approx(0.75)
    assert block["by_crossing"]["cross_language"]["doc_rr"] == pytest.approx(0.5)
    assert block["by_lang"]["en"]["rr"] == pytest.approx(0.5)
    assert block["by_crossing_lang"]["cross_language en->zh"]["n"] == 1
    assert block["by_format"]["pdf"]["doc_hit@1"] == 1.0
    # Worst first: a total miss before a miss whose document was found, then the second-ranked one.
    assert [m["id"] for m in block["worst"]] == ["r3", "r4", "r2"]
    assert block["worst"][0]["first"] == "first3.md › X"


# --- a run over the throw-away index (hash embedder, no model) --------------------------------------


def test_a_retrieval_only_run_indexes_every_added_document_and_scores_both_sets(hash_settings, tmp_path):
    from advisor import build_advisor
    from evals.run import run_suite

    base = LocalTarget(build_advisor(hash_settings))
    target = build_added_docs_target(hash_settings, tmp_path, base=base)
    sources = {Path(c.source).name for c in target.advisor.index.chunks}
    assert {p.name for p in added_document_paths()} <= sources
    assert not (hash_settings.knowledge_dir / "okr_guide.html").exists()  # the live folder is untouched

    cases = [*load_dataset("answerable")[:2], *load_dataset("added_docs")]
    result = run_suite(cases, target, retrieval_only=True, progress=False)
    summary = result["summary"]
    assert summary["counts"]["errors"] == 0
    assert summary["retrieval"]["overall"]["n"] == 2  # the playbook's figures hold only its questions
    added = summary["added_docs"]
    assert added["overall"]["n"] == len(cases) - 2
    assert set(added["by_crossing"]) == {"same_language", "cross_language"}
    assert set(added["by_lang"]) == {"zh", "en"}
    rows = [r for r in result["rows"] if r["dataset"] == "added_docs"]
    assert all(len(r["retrieved"]) == 5 for r in rows)
    # The same-language questions share words with their documents: the hash embedder and BM25 find many.
    assert added["by_crossing"]["same_language"]["doc_hit@3"] > 0.5
    json.dumps(result, default=str)  # the report can be written


def _run_args(*argv: str):
    from evals.__main__ import build_parser

    return build_parser().parse_args(["run", *argv, "--no-progress"])


def test_added_docs_needs_a_local_advisor(capsys):
    from evals.run import main

    assert main(_run_args("--dataset", "added_docs", "--url", "http://127.0.0.1:9")) == 2
    assert "needs a local advisor" in capsys.readouterr().err


def test_a_full_run_answers_the_added_documents_questions_and_scores_their_citations(hash_settings, tmp_path):
    """The copying fake answers with source [1]'s first sentence: an answer cites the gold document when
    the passage read first is from it. Every row says whether it was answered and what it cites."""
    from advisor import build_advisor
    from advisor.generate import ScriptedGenerator
    from evals.report import added_docs_lines
    from evals.run import run_suite
    from tests.evals.conftest import copy_first_source

    base = LocalTarget(build_advisor(hash_settings, generator=ScriptedGenerator(copy_first_source)))
    target = build_added_docs_target(hash_settings, tmp_path, base=base)
    cases = [c for c in load_dataset("added_docs") if not c.crosses_language][:6]
    result = run_suite(cases, target, retrieval_only=False, progress=False)
    assert result["summary"]["counts"]["errors"] == 0
    rows = result["rows"]
    assert all(r["answered"] == (0.0 if r["refused"] else 1.0) for r in rows)
    for r in rows:  # a citation of the gold document is one of the answer's citations, never invented
        assert (
            r["cites_gold_document"] <= r["answered"] and r["cites_gold_heading"] <= r["cites_gold_document"]
        )
        if r["cites_gold_heading"]:
            assert any(heading_matches(s, r["gold_heading"]) for s in r["cited_sections"])
    assert any(r["cites_gold_document"] for r in rows), [r["text"] for r in rows]
    answers = result["summary"]["added_docs"]["answers"]
    assert answers["overall"]["n"] == len(cases)
    assert answers["overall"]["answered"] == pytest.approx(sum(r["answered"] for r in rows) / len(rows))
    assert len(answers["refused"]) == sum(1 for r in rows if r["refused"])
    assert any("cites gold doc" in line for line in added_docs_lines(result["summary"]["added_docs"]))


def test_retrieval_only_says_that_english_questions_are_not_translated(hash_settings):
    from evals.run import _dataset_names, _settings, query_translation_note

    configured = hash_settings.model_copy(update={"translate_queries": True})
    used = _settings(_run_args("--retrieval-only"), configured)
    assert used.translate_queries is False and used.llm_backend == "echo"
    assert query_translation_note(configured, used).startswith("OFF in this run")
    translating = _settings(_run_args("--retrieval-only", "--translate-queries"), configured)
    assert translating.translate_queries and translating.llm_backend == configured.llm_backend
    assert query_translation_note(configured, translating).startswith("on:")
    assert _dataset_names(_run_args("--retrieval-only", "--dataset", "added_docs")) == (
        "answerable",
        "added_docs",
    )


def test_the_documents_renderings_are_made_once_and_searched_by_the_views_of_a_run(hash_settings, tmp_path):
    """With the echo model (it repeats its prompt, so nearly only the Chinese direction passes as a
    rendering): the renderings files hold lines of the added documents only, and a run's index searches
    them."""
    from advisor import build_advisor
    from evals.added_docs import render_added_documents

    settings = hash_settings.model_copy(
        update={
            "llm_backend": "echo",
            "llm_model": "echo",
            "english_renderings": True,
            "bilingual_views": True,
        }
    )
    out = {"en": tmp_path / "made.en.json", "zh": tmp_path / "made.zh.json"}
    written = render_added_documents(settings, tmp_path / "render", out)
    zh_lines = json.loads(out["zh"].read_text(encoding="utf-8"))["lines"]
    assert written["zh"] == len(zh_lines) > 50
    assert "Liquidation Preference" in zh_lines  # a heading of term_sheet_basics.md
    playbook = (hash_settings.knowledge_dir / "playbook.md").read_text(encoding="utf-8")
    assert not any(line in playbook for line in zh_lines)  # the added documents' lines only

    base = LocalTarget(build_advisor(settings))
    target = build_added_docs_target(settings, tmp_path / "run", base=base, renderings=out)
    views = {v.language: v.rendered for v in target.advisor.retriever.views}
    assert views["zh"] >= 11  # every English document's chunks
