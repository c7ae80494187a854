"""Indexing benchmark (issue 3): printed figures, not a timed test.

``python -m bench index`` (or ``python -m bench.index_bench``) prints

* **build**: full build time and chunks/s for the playbook (the configured real embedder) and for a synthetic
  corpus of ~10,000 chunks, a no-change incremental rebuild, index size on disk, peak memory (each scenario
  runs in its own process so ``ru_maxrss`` is that scenario's peak), and search latency;
* **chunk sizes** (``--chunk-sizes``): retrieval quality of several chunk sizes on questions with a known
  gold subsection of the playbook (Chinese and English), with and without the heading path in the
  embedded text — the measurement behind the ``chunk_size`` default.

The synthetic corpus is embedded with the hash embedder by default: on 2 CPU cores the real e5 embedder
runs at a few chunks per second, so 10,000 chunks would take most of an hour. The printed real-embedder
rate from the playbook lets you project it; ``--synthetic-real`` embeds it for real anyway.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evals.tables import aligned_columns

# Questions a founder asks -> the numbered subsection(s) that answer them (gold, by numbering).
QUESTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("基础版和专业版的产品每月定价分别是多少？", ("5.3.3",)),
    ("常见的定价策略有哪些类型？", ("5.3.2",)),
    ("AI大模型创业团队需要具备哪些核心能力？", ("4.1.1",)),
    ("如何设计创业团队的激励机制？", ("4.1.3",)),
    ("平台化盈利模式是什么？", ("5.2.3",)),
    ("AI大模型创业失败的原因有哪些？", ("6.2.2",)),
    ("创业风险有哪些，如何识别？", ("9.3.1",)),
    ("有哪些常用的AI大模型训练数据集？", ("A.2",)),
    ("金融行业如何应用AI大模型？", ("3.2.1",)),
    ("市场调研有哪些方法？", ("4.2.1", "9.1.3")),
    ("什么是垂直整合盈利模式？", ("5.2.2",)),
    ("有哪些推荐阅读的深度学习书籍？", ("A.3",)),
    ("What monthly price does the example company charge for its basic and professional plans?", ("5.3.3",)),
    ("What kinds of pricing strategies are there?", ("5.3.2",)),
    ("What are the steps to put together a startup team?", ("4.1.2", "7.1.2", "9.1.2")),
    ("What were the key milestones in the history of large AI models?", ("1.3.2",)),
    ("How can a startup deal with legal and funding risks?", ("9.3.3",)),
    ("Which development frameworks are recommended for building AI models?", ("A.1", "2.1.3")),
    ("How are large AI models used in healthcare?", ("3.2.2",)),
    ("Why did OpenAI succeed?", ("6.1.2",)),
    ("How should I position my product in the market?", ("4.2.2",)),
    ("What is a business model?", ("5.1.1",)),
    ("How do we build a strong team culture?", ("7.1.3",)),
    ("What are the advantages and challenges of pretrained models?", ("2.3.3",)),
]


def _gold_rank(sections: list[str], gold: tuple[str, ...]) -> int | None:
    for rank, section in enumerate(sections, 1):
        last = section.split(" › ")[-1]
        if any(last == g or last.startswith(g + " ") for g in gold):
            return rank
    return None


def _gold_coverage(regions: list, hits: list, gold: tuple[str, ...]) -> float:
    """Share of the gold subsection's characters that the top hits hand to the model (best gold)."""
    best = 0.0
    for region in regions:
        last = region.path.split(" › ")[-1]
        if not any(last == g or last.startswith(g + " ") for g in gold):
            continue
        covered = set()
        for hit in hits:
            lo, hi = max(hit.chunk.start, region.start), min(hit.chunk.end, region.end)
            covered.update(range(lo, hi))
        text_len = max(1, region.end - region.start)
        best = max(best, min(1.0, len(covered) / text_len))
    return best


# --- chunk-size study ---------------------------------------------------------------------------------
def chunk_size_study(sizes: list[int], overlap: int) -> list[dict]:
    from config import get_settings
    from indexing import make_embedder
    from indexing.chunking import chunk_document, section_regions
    from indexing.documents import load_documents
    from indexing.store import VectorIndex, passage_text

    settings = get_settings()
    playbook = settings.knowledge_dir / "playbook.md"
    doc = load_documents([playbook], max_file_mb=settings.max_file_mb).documents[0]
    embedder = make_embedder(settings)
    queries = embedder.embed([q for q, _ in QUESTIONS], kind="query")
    cache: dict[str, object] = {}  # embedded text -> vector: sizes that cut alike share the work

    def embed(texts: list[str]):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        for lo in range(0, len(missing), 32):
            batch = missing[lo : lo + 32]
            for text, vec in zip(batch, embedder.embed(batch, kind="passage"), strict=True):
                cache[text] = vec
        return np.stack([cache[t] for t in texts])

    regions = section_regions(doc)
    rows = []
    for size in sizes:
        chunks = chunk_document(doc, size, overlap)
        for with_path in (True, False):
            texts = [passage_text(c) if with_path else c.text for c in chunks]
            index = VectorIndex.from_vectors(chunks, embed(texts), embedder.model_id)
            results = index.search(queries, 5)
            ranks = [
                _gold_rank([h.chunk.section for h in hits], gold)
                for hits, (_, gold) in zip(results, QUESTIONS, strict=True)
            ]
            coverage = [
                _gold_coverage(regions, hits, gold)
                for hits, (_, gold) in zip(results, QUESTIONS, strict=True)
            ]
            n = len(ranks)
            rows.append(
                {
                    "chunk_size": size,
                    "embedded": "path+text" if with_path else "text only",
                    "chunks": len(chunks),
                    "hit@1": sum(r == 1 for r in ranks) / n,
                    "hit@3": sum(r is not None and r <= 3 for r in ranks) / n,
                    "hit@5": sum(r is not None for r in ranks) / n,
                    "mrr@5": sum(1 / r for r in ranks if r) / n,
                    "cover@5": sum(coverage) / n,
                    "zh hit@3": sum(r is not None and r <= 3 for r in ranks[:12]) / 12,
                    "en hit@3": sum(r is not None and r <= 3 for r in ranks[12:]) / (n - 12),
                }
            )
    return rows


# --- build scenarios (each in its own process, for an honest peak-memory figure) --------------------------
_SENTENCES_SEED = 7


def write_synthetic_corpus(folder: Path, target_chunks: int, chunk_size: int) -> int:
    """Markdown documents shaped like the playbook, one ~chunk-sized subsection each, ~target_chunks total."""
    from indexing.documents import load_documents

    playbook = Path(__file__).resolve().parent.parent / "knowledge" / "playbook.md"
    text = load_documents([playbook], max_file_mb=50).documents[0].text
    # Plain prose sentences only: a stray ``` or # from the source would open a fence or a heading.
    sentences = [
        s + "。"
        for s in text.replace("\n", "").split("。")
        if 10 < len(s) < 120 and not re.search(r"[#`>|*\[\]-]", s)
    ]
    rng = random.Random(_SENTENCES_SEED)
    per_doc, written = 50, 0
    for d in range(max(1, target_chunks // per_doc)):
        parts = [f"# 合成文档 {d}\n"]
        for s in range(per_doc):
            chapter, section = divmod(s, 5)
            if section == 0:
                parts.append(f"\n## 第{chapter + 1}章 主题{d}-{chapter}\n")
            body, n = [], 0
            while n < chunk_size * 0.85:  # just under one chunk: one chunk per subsection
                sentence = rng.choice(sentences)
                body.append(sentence)
                n += len(sentence)
            parts.append(
                f"\n### {chapter + 1}.{section + 1} 小节{d}-{s}\n\n{''.join(body)[: int(chunk_size * 0.9)]}\n"
            )
        (folder / f"doc_{d:04d}.md").write_text("".join(parts), encoding="utf-8")
        written += per_doc
    return written


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class _TimedEmbedder:
    """Wraps an embedder to separate embedding time from the rest of the build (chunking, FAISS, I/O)."""

    def __init__(self, inner):
        self.inner, self.model_id, self.dim, self.seconds = inner, inner.model_id, inner.dim, 0.0

    def embed(self, texts, kind="passage"):
        started = time.perf_counter()
        try:
            return self.inner.embed(texts, kind)
        finally:
            self.seconds += time.perf_counter() - started


def run_scenario(name: str, real_embedder: bool) -> dict:
    """One scenario in this process: build from scratch, rebuild unchanged, search. Returns figures."""
    from config import get_settings, settings_for_tests
    from indexing import load_index
    from indexing.build import build_index
    from indexing.embedders import HashEmbedder

    base = get_settings()
    work = Path(tempfile.mkdtemp(prefix="index-bench-"))
    if name == "playbook":
        knowledge = base.knowledge_dir
    else:
        knowledge = work / "knowledge"
        knowledge.mkdir()
        write_synthetic_corpus(knowledge, 10_000, base.chunk_size)
    if real_embedder:
        settings = base.model_copy(update={"data_dir": work / "data", "knowledge_dir": knowledge})
        from indexing import make_embedder

        embedder = make_embedder(settings)
    else:
        settings = settings_for_tests(data_dir=work / "data", knowledge_dir=knowledge)
        embedder = HashEmbedder()
    embedder.embed(["warm-up"], kind="passage")  # model load is not build time
    embedder = _TimedEmbedder(embedder)

    started = time.perf_counter()
    report = build_index(settings, embedder=embedder, progress=False)
    build_s = time.perf_counter() - started
    embed_s = embedder.seconds
    started = time.perf_counter()
    again = build_index(settings, embedder=embedder, progress=False)
    rebuild_s = time.perf_counter() - started
    started = time.perf_counter()
    index = load_index(settings.index_dir, embedder=embedder)
    load_s = time.perf_counter() - started
    queries = embedder.embed([q for q, _ in QUESTIONS] * 4, kind="query")
    started = time.perf_counter()
    index.search(queries, 5)
    search_ms = (time.perf_counter() - started) * 1000 / len(queries)
    figures = {
        "scenario": name,
        "embedder": embedder.model_id,
        "chunks": report.total_chunks,
        "build_s": round(build_s, 2),
        "embed_s": round(embed_s, 2),
        "other_s": round(build_s - embed_s, 2),  # load + chunk + FAISS + verified atomic save
        "chunks_per_s": round(report.total_chunks / build_s, 1),
        "unchanged_rebuild_s": round(rebuild_s, 2),
        "unchanged_added": again.added_chunks,
        "load_s": round(load_s, 3),
        "search_ms_per_query": round(search_ms, 3),
        "index_mb": round(_dir_bytes(settings.index_dir) / 2**20, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    shutil.rmtree(work, ignore_errors=True)
    return figures


def _in_subprocess(name: str, real: bool) -> dict:
    cmd = [sys.executable, "-m", "bench.index_bench", "--scenario", name] + (["--real"] if real else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scenario {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chunk-sizes", type=str, default="", help="e.g. 200,300,500,800: run the size study"
    )
    parser.add_argument("--overlap", type=int, default=60, help="chunk overlap for the size study")
    parser.add_argument("--skip-build", action="store_true", help="only the chunk-size study")
    parser.add_argument(
        "--synthetic-real", action="store_true", help="embed the 10k corpus with the real model"
    )
    parser.add_argument("--scenario", choices=["playbook", "synthetic"], help=argparse.SUPPRESS)
    parser.add_argument("--real", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.scenario:  # child process
        print(json.dumps(run_scenario(args.scenario, args.real)))
        return 0
    if not args.skip_build:
        rows = [
            _in_subprocess("playbook", True),
            _in_subprocess("playbook", False),
            _in_subprocess("synthetic", args.synthetic_real),
        ]
        print("Index build (full build, then an unchanged incremental rebuild; each row its own process)")
        print(
            aligned_columns(
                rows,
                [
                    "scenario",
                    "embedder",
                    "chunks",
                    "build_s",
                    "embed_s",
                    "other_s",
                    "chunks_per_s",
                    "unchanged_rebuild_s",
                    "unchanged_added",
                    "load_s",
                    "search_ms_per_query",
                    "index_mb",
                    "peak_rss_mb",
                ],
            )
        )
    if args.chunk_sizes:
        sizes = [int(s) for s in args.chunk_sizes.split(",") if s.strip()]
        rows = chunk_size_study(sizes, args.overlap)
        print(f"\nChunk size vs retrieval ({len(QUESTIONS)} questions with a gold subsection; 12 zh, 12 en)")
        print(
            aligned_columns(
                rows,
                [
                    "chunk_size",
                    "embedded",
                    "chunks",
                    "hit@1",
                    "hit@3",
                    "hit@5",
                    "mrr@5",
                    "cover@5",
                    "zh hit@3",
                    "en hit@3",
                ],
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.index_bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
