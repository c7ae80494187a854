"""`python -m bench generation` end to end on fakes: a tiny knowledge folder, an echo generator, tiny sizes.

The llama-index baseline really runs (SimpleDirectoryReader, SentenceSplitter, VectorStoreIndex, the
default query engine and its prompt) — only the models are small: the hash embedder in the CLI run, the
real e5 weights through llama-index's HuggingFaceEmbedding in the other. The span rule that scores both
pipelines' retrieval is checked on hand-made spans.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from bench.__main__ import main as bench_main
from bench.generation import render, run_benchmark
from bench.llamaindex_baseline import gold_spans, span_hits
from config import settings_for_tests
from indexing import VectorIndex, build_index, make_embedder
from indexing.chunking import chunk_document
from indexing.documents import load_documents

PLAYBOOK = """# 创业手册

## 5 商业模式

### 5.3 定价

#### 5.3.1 定价的意义

定价策略决定了产品的收入和利润。合理的定价能够帮助创业公司在市场中站稳脚跟，也能让客户感受到产品的价值。

#### 5.3.2 定价策略的类型

常见的定价策略有成本导向定价、价值导向定价、竞争导向定价和组合定价。成本导向定价在成本之上加上利润；价值导向定价根据客户对产品的价值感知来定价；竞争导向定价参考竞争对手的价格。

## 9 风险

### 9.3 风险管理

#### 9.3.1 风险识别

创业公司面临技术风险、市场风险、资金风险和法律风险。需要尽早识别这些风险并制定应对计划。

#### 9.3.3 资金风险的应对

应对资金风险可以寻求风险投资、申请政府补助，并严格控制现金流，保持至少六个月的运营资金。
"""

ANSWERABLE = [
    {
        "id": "zh-1",
        "lang": "zh",
        "topic": "pricing",
        "question": "有哪些定价策略？",
        "gold_sections": ["5.3.2"],
        "key_facts": ["成本导向"],
    },
    {
        "id": "zh-2",
        "lang": "zh",
        "topic": "risk",
        "question": "资金风险怎么应对？",
        "gold_sections": ["9.3.3"],
        "key_facts": ["风险投资"],
    },
    {
        "id": "en-1",
        "lang": "en",
        "topic": "pricing",
        "question": "What pricing strategies are there?",
        "gold_sections": ["5.3.2"],
        "key_facts": ["cost"],
    },
]
UNANSWERABLE = [
    {"id": "zh-u1", "lang": "zh", "kind": "off_topic", "question": "法国的首都是哪里？"},
    {"id": "en-u1", "lang": "en", "kind": "off_topic", "question": "What is the capital of France?"},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path):
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "playbook.md").write_text(PLAYBOOK, encoding="utf-8")
    return {
        "knowledge": knowledge,
        "answerable": _jsonl(tmp_path / "answerable.jsonl", ANSWERABLE),
        "unanswerable": _jsonl(tmp_path / "unanswerable.jsonl", UNANSWERABLE),
    }


class SlowEcho:
    """Echoes the last user message word by word, honouring max_new_tokens, with a per-piece delay (so
    first-token and decode figures are real measurements of something)."""

    model_id = "slow-echo"
    device = "cpu"

    def __init__(self, delay_s: float = 0.002):
        self.delay_s = delay_s
        self.prompts: list[str] = []

    def stream(self, messages, max_new_tokens, temperature, stop_event=None):
        text = messages[-1]["content"] if messages else ""
        self.prompts.append(text)
        for i, word in enumerate(text.split()[:max_new_tokens]):
            time.sleep(self.delay_s)
            yield word if i == 0 else " " + word


def test_span_rule_needs_a_real_piece_of_the_gold_section(corpus):
    doc = load_documents([corpus["knowledge"]], max_file_mb=1).documents[0]
    gold = {"playbook.md": gold_spans(doc, ["5.3.2"])}
    ((start, end),) = gold["playbook.md"]
    assert "成本导向定价" in doc.text[start:end] and "5.3.1" not in doc.text[start:end]
    assert span_hits([("playbook.md", start, end)], gold)
    assert span_hits([("playbook.md", start - 500, start + 60)], gold)  # most of a short section
    assert not span_hits([("playbook.md", start - 500, start + 5)], gold)  # grazes it only
    assert span_hits([("playbook.md", start - 500, start + 5)], gold, min_chars=1)  # the any-overlap variant
    assert not span_hits([("other.md", start, end)], gold)  # same offsets, another file
    # "5.3" covers every subsection under it
    assert len(gold_spans(doc, ["5.3"])) == 2


def test_command_prints_tables_and_writes_json_and_markdown(corpus, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    settings = settings_for_tests(data_dir=data, knowledge_dir=corpus["knowledge"])
    build_index(settings)
    for key in [k for k in os.environ if k.startswith("FA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FA_DATA_DIR", str(data))
    monkeypatch.setenv("FA_KNOWLEDGE_DIR", str(corpus["knowledge"]))
    out = tmp_path / "out"
    status = bench_main(
        [
            "generation",
            "--profile=test",
            "--backend=echo",
            "--repeats=2",
            "--questions=1",
            "--unanswerable=1",
            "--bandwidth-mb=8",
            "--model-bytes=4e6",
            f"--answerable={corpus['answerable']}",
            f"--unanswerable-set={corpus['unanswerable']}",
            f"--out={out}",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    for heading in ("## 1. Bare generator", "## 2. End to end", "## 3. Retrieval hit@5", "## 4. Off-topic"):
        assert heading in printed
    assert "| lang | figure | ours | baseline | ours ÷ baseline |" in printed

    report = json.loads((out / "generation.json").read_text(encoding="utf-8"))
    assert (out / "generation.md").read_text(encoding="utf-8") == render(report)
    assert report["meta"]["model"] == "echo" and report["meta"]["embedder"] == "hash-384"
    assert report["bandwidth"]["read_gb_per_s"] > 0
    assert report["model_bytes"] == 4_000_000
    assert report["ceiling_tokens_per_s"] == pytest.approx(report["bandwidth"]["read_bytes_per_s"] / 4e6)
    for prompt in ("short", "long_zh"):
        assert len(report["bare"][prompt]["runs"]) == 2
        assert report["bare"][prompt]["fraction_of_ceiling"] is not None
    e2e = report["end_to_end"]
    assert [q["id"] for q in e2e["ours"]["questions"]] == ["zh-1", "en-1"]  # 1 per language
    assert [q["id"] for q in e2e["baseline"]["questions"]] == ["zh-1", "en-1"]
    for side in ("ours", "baseline"):
        for group in ("zh", "en", "all"):
            summary = e2e[side]["summary"][group]
            assert summary["n"] == (2 if group == "all" else 1)
            assert summary["total_p50_ms"] > 0 and summary["total_p95_ms"] >= summary["total_p50_ms"]
    assert set(e2e["ratio_ours_over_baseline"]["all"]) == {
        "ttft_p50_ms",
        "ttft_p95_ms",
        "total_p50_ms",
        "total_p95_ms",
    }
    setup = report["baseline_setup"]
    assert setup["embedding"].startswith("EmbedderEmbedding(hash-384)")
    assert setup["embedding_agreement_cosine"] == {"query": pytest.approx(1.0), "passage": pytest.approx(1.0)}
    assert setup["nodes"] >= 1
    retrieval = report["retrieval"]
    assert retrieval["questions"] == {"zh": 2, "en": 1, "all": 3}  # every answerable question
    for key in ("ours_hit@5", "baseline_hit@5", "baseline_hit@5_any_overlap", "baseline_hit@2_default_k"):
        assert all(0.0 <= retrieval[key][g] <= 1.0 for g in ("zh", "en", "all"))
    # The whole tiny playbook fits in one default 1024-token node: the baseline's top-5 holds every gold
    # section in full, so by construction it hits everything.
    assert retrieval["baseline_hit@5"]["all"] == 1.0
    assert report["unanswerable"]["n"] == 2 and report["unanswerable"]["baseline_refused"] == 0


def test_baseline_runs_llama_index_over_real_e5_and_a_streaming_generator(corpus, tmp_path):
    settings = settings_for_tests(
        data_dir=tmp_path / "data",
        knowledge_dir=corpus["knowledge"],
        embed_backend="sentence-transformers",
        embed_model="offline:multilingual-e5-small",
        llm_max_new_tokens=40,
    )
    # One load of our e5 embedder serves the index and the advisor (loads are most of this test's time).
    embedder = make_embedder(settings)
    doc = load_documents([corpus["knowledge"]], max_file_mb=1).documents[0]
    index = VectorIndex.from_chunks(
        chunk_document(doc, settings.chunk_size, settings.chunk_overlap), embedder
    )
    generator = SlowEcho()
    report = run_benchmark(
        settings,
        generator=generator,
        embedder=embedder,
        index=index,
        options={
            "repeats": 1,
            "questions": 1,
            "unanswerable": 1,
            "bandwidth_mb": 8,
            "bare_new_tokens": 20,
            "answerable": corpus["answerable"],
            "unanswerable_set": corpus["unanswerable"],
        },
    )
    setup = report["baseline_setup"]
    # llama-index's own HuggingFaceEmbedding on the rebuilt e5 folder, with e5's prefixes: same vectors as ours
    assert setup["embedding"].startswith("HuggingFaceEmbedding(multilingual-e5-small")
    assert "'query: '" in setup["embedding"] and "'passage: '" in setup["embedding"]
    assert setup["embedding_agreement_cosine"]["query"] > 0.9999
    assert setup["embedding_agreement_cosine"]["passage"] > 0.9999
    # The generator was driven by llama-index's default QA prompt, filled with retrieved playbook text.
    llama_prompts = [p for p in generator.prompts if "Context information is below." in p]
    assert llama_prompts and any("定价" in p for p in llama_prompts)
    baseline_q = report["end_to_end"]["baseline"]["questions"][0]
    assert baseline_q["first_token_ms"] > 0 and 0 < baseline_q["new_tokens"] <= 40
    assert baseline_q["tokens_per_s"] > 0
    short = report["bare"]["short"]
    assert short["ttft_ms"] > 0 and short["tokens_per_s"] > 0
    assert report["model_bytes"] is None and short["fraction_of_ceiling"] is None  # a fake has no weights
    assert report["retrieval"]["ours_hit@5"]["all"] > 0  # real embeddings find the pricing section
    # Time to first token lever by lever: the floor and the full prompt for the same questions; no
    # knowledge-cache pass for a generator without KV files.
    first = report["first_token"]
    ids = [r["id"] for r in first["questions"]["floor"]]
    assert ids and ids == [r["id"] for r in first["questions"]["full_prompt"]]
    assert first["summary"]["floor"]["all"]["ttft_p50_ms"] > 0 and not first["questions"]["knowledge_cache"]
    assert not first["questions"]["lead_file_only"]
    assert "p50 ÷ floor" in render(report) and "full prompt" in render(report)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--repeats=0"], "--repeats: must be at least 1"),
        (["--questions=-1"], "--questions: must be at least 0"),
        (["--profile=test", "--backend=nope"], "invalid settings"),
    ],
)
def test_bad_options_fail_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bench_main(["generation", *argv])
    assert message in str(exc.value) + capsys.readouterr().err
