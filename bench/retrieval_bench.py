"""Retrieval benchmark (issue 4): hit@5 and MRR@10 of the retrieval variants on questions with gold sections.

``python -m bench retrieval [--llm]`` prints one line per variant for the English and the Chinese questions
of bench/retrieval_questions.py against the configured index and embedder: dense only, + topic
boost, + BM25, + the glossary rendering, and with ``--llm`` + the LLM's Chinese rendering of English
questions (one generation per question: slow on a CPU). These are the figures behind the retrieval
defaults (see advisor/retrieve.py).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

from advisor.glossary import glossary_rendering
from advisor.retrieve import HybridRetriever, llm_translator
from advisor.topic import classify_topic
from bench.retrieval_questions import CHINESE, ENGLISH, is_hit
from config import get_settings
from indexing import load_index, make_embedder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--llm", action="store_true", help="also measure the LLM rendering of English questions"
    )


def score(retriever: HybridRetriever, questions: Sequence[tuple[str, tuple[str, ...]]], topic: bool):
    hits, rr = 0, 0.0
    for question, gold in questions:
        found = retriever.retrieve(question, k=10, topic=classify_topic(question) if topic else None)
        sections = [h.chunk.section for h in found.hits]
        hits += is_hit(sections[:5], gold)
        rr += next((1 / i for i, s in enumerate(sections, 1) if is_hit([s], gold)), 0.0)
    return hits, rr / len(questions)


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    embedder = make_embedder(settings)
    index = load_index(settings.index_dir, embedder=embedder)
    variants: list[tuple[str, dict, Callable[[str], str] | None, bool]] = [
        ("dense only", {"use_bm25": False}, None, False),
        ("dense + topic", {"use_bm25": False}, None, True),
        ("hybrid (dense + BM25) + topic", {}, None, True),
        ("hybrid + topic + glossary rendering", {}, glossary_rendering, True),
    ]
    if args.llm:
        from advisor.generate import make_generator

        variants.append(
            ("hybrid + topic + LLM rendering", {}, llm_translator(make_generator(settings)), True)
        )
    for name, questions in (("en", ENGLISH), ("zh", CHINESE)):
        for label, overrides, translator, topic in variants:
            if name == "zh" and translator is not None:
                continue  # only English questions are rendered
            s = settings.model_copy(update={**overrides, "translate_queries": translator is not None})
            t0 = time.perf_counter()
            hits, mrr = score(HybridRetriever(index, embedder, s, translator=translator), questions, topic)
            ms = (time.perf_counter() - t0) * 1000 / len(questions)
            print(
                f"{name} {label:40s} hit@5 {hits:2d}/{len(questions)}  MRR@10 {mrr:.3f}  {ms:6.0f} ms/question"
            )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
