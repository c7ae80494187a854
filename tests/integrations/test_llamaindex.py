"""The advisor inside llama-index, with real llama-index objects (retriever, query engines, MockLLM) around
the real advisor wired with the test profile's fakes (scripted generator, hash embedder, three sections of
the playbook); and the README's example, extracted and run as written."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import subprocess
import sys

import pytest
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, TextNode

import advisor as advisor_api
from config import PROJECT_ROOT, Settings
from integrations.llamaindex import AdvisorQueryEngine, AdvisorRetriever, answer_response
from tests.app.support import PASSAGES, PRICING_QUESTION, make_advisor, web_settings

PRICING_SECTION = PASSAGES[0][0]


@pytest.fixture
def fake_advisor(tmp_path):
    return make_advisor(web_settings(tmp_path / "data"))


def test_the_retriever_gives_scored_nodes_with_their_section_paths(fake_advisor):
    nodes = AdvisorRetriever(fake_advisor, k=3).retrieve(PRICING_QUESTION)
    assert len(nodes) == 3 and all(
        isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes
    )
    assert {n.node.metadata["section"] for n in nodes} == {section for section, _ in PASSAGES}
    top = nodes[0].node
    assert top.metadata["section"] == PRICING_SECTION and top.metadata["source"] == "playbook.md"
    assert top.text == PASSAGES[0][1] and top.node_id == top.metadata["chunk_id"]
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)


def test_the_retriever_plugs_into_a_llama_index_pipeline_with_its_own_llm(fake_advisor):
    """MockLLM answers with the prompt it was given: the passages and their sections reach the team's LLM,
    the internal identifiers do not."""
    engine = RetrieverQueryEngine.from_args(AdvisorRetriever(fake_advisor, k=2), llm=MockLLM())
    response = engine.query(PRICING_QUESTION)
    prompt = str(response)
    assert "成本导向定价" in prompt and f"section: {PRICING_SECTION}" in prompt
    assert "chunk_id" not in prompt
    assert response.source_nodes[0].node.metadata["section"] == PRICING_SECTION


def test_the_query_engine_answers_with_its_citations_as_source_nodes(fake_advisor):
    response = AdvisorQueryEngine(advisor=fake_advisor).query(PRICING_QUESTION)
    assert isinstance(response, Response)
    assert "成本导向定价" in str(response) and re.search(r"\[\d\]", str(response))
    (cited,) = response.source_nodes
    meta = cited.node.metadata
    assert meta["section"] == PRICING_SECTION and meta["source"] == "playbook.md"
    assert f"[{meta['citation']}]" in str(response) and meta["quote"] in cited.node.text
    assert cited.node.text == PASSAGES[0][1] and cited.score is not None
    assert response.metadata["refused"] is False and response.metadata["topic"] == "pricing"
    assert response.metadata["language"] == "zh" and response.metadata["supported_fraction"] > 0


def test_a_refusal_has_no_source_nodes_and_says_why(fake_advisor):
    response = AdvisorQueryEngine(advisor=fake_advisor).query("今天天气怎么样")
    assert response.source_nodes == []
    assert response.metadata["refused"] is True and response.metadata["refusal_reason"]


def test_the_async_query_gives_the_same_answer(fake_advisor):
    engine = AdvisorQueryEngine(advisor=fake_advisor)
    response = asyncio.run(engine.aquery(PRICING_QUESTION))
    assert response.source_nodes[0].node.metadata["section"] == PRICING_SECTION
    nodes = asyncio.run(AdvisorRetriever(fake_advisor, k=1).aretrieve(PRICING_QUESTION))
    assert nodes[0].node.metadata["section"] == PRICING_SECTION


def test_a_retriever_of_no_passages_is_refused(fake_advisor):
    with pytest.raises(ValueError, match="k must be at least 1"):
        AdvisorRetriever(fake_advisor, k=0)


def readme_example() -> str:
    """The README's llama-index example, exactly as a reader copies it."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    (example,) = [b for b in blocks if "integrations.llamaindex" in b]
    return example


def test_the_readme_example_is_five_lines_and_runs_as_written(tmp_path, monkeypatch):
    example = readme_example()
    assert len([line for line in example.splitlines() if line.strip()]) == 5
    # `build_advisor()` builds the advisor of the process settings: here, the fake-generator one.
    settings = web_settings(tmp_path / "data")
    monkeypatch.setattr(advisor_api, "build_advisor", lambda settings=settings: make_advisor(settings))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    assert "成本导向定价" in lines[0] and lines[-1] == PRICING_SECTION


@pytest.mark.slow
def test_the_readme_example_runs_as_written_with_the_real_offline_model():
    """The same five lines in a fresh process on the cpu profile: the offline model and index."""
    from indexing import IndexLoadError, build_index, load_index, make_embedder

    settings = Settings(_env_file=None, profile="cpu")
    try:
        load_index(settings.index_dir, embedder=make_embedder(settings))
    except IndexLoadError:
        build_index(settings)  # a fresh clone: build the index the way `make index` does
    env = {k: v for k, v in os.environ.items() if not k.startswith("FA_")} | {"FA_PROFILE": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    # A cited answer whose last lines are the cited sections' paths, or an honest refusal (no sections).
    assert lines and "定价" in done.stdout
    sections = [line for line in lines if "›" in line]
    assert sections, done.stdout
    assert any("5.3" in line for line in sections)


def test_a_citation_whose_passage_is_not_at_hand_carries_its_quote():
    citation = advisor_api.Citation(1, "gone-7", PRICING_SECTION, "playbook.md", "成本导向定价")
    answer = advisor_api.Answer(PRICING_QUESTION, "成本导向定价 [1]。", "zh", citations=(citation,))
    (node,) = answer_response(answer).source_nodes
    assert node.node.text == "成本导向定价" and node.node.node_id == "gone-7" and node.score is None
    assert node.node.metadata == {
        "section": PRICING_SECTION,
        "source": "playbook.md",
        "chunk_id": "gone-7",
        "citation": 1,
        "quote": "成本导向定价",
    }
