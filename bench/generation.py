"""Generation benchmark (issue 7): bare decode speed against the memory-bandwidth limit, end-to-end answer
latency, and the same questions through a plain llama-index pipeline — one run, one machine, one model.

``python -m bench generation [--questions N] [--out DIR]`` prints five tables:

1. **Bare generator** — time to first token (TTFT) and decode tokens/s of the configured model on a short
   prompt and on a ~700-token Chinese prompt (median of ``--repeats``), beside the memory bandwidth measured
   in the same run and decode ÷ ceiling (ceiling = read bandwidth ÷ model file bytes; bench/RESULTS.md says
   why a GGUF file's size is the bytes read per token). Every repeat starts with a different run number,
   so llama.cpp's prompt cache cannot turn the TTFT into a cache hit (the cached token count is recorded).
2. **End to end** — ``--questions`` Chinese and as many English questions from
   evals/datasets/answerable.jsonl (spread over the file, so over topics), each through our ``Advisor.ask``
   and through the baseline: TTFT, total latency, new tokens, tokens/s per question; p50/p95 per language
   and overall, and ours ÷ baseline. All of ours run first, then all of the baseline's (alternating would
   evict each pipeline's cached prompt prefix on every question); both are warmed up before timing.
3. **Retrieval hit@5** over ALL answerable questions (``--hit-questions`` caps it). Both pipelines' passages
   are mapped to the playbook by character offsets: a passage hits when it holds at least
   min(100, half of the gold text) characters of a gold section (all heading regions under it, "5.3"
   covering 5.3.x) — :func:`bench.llamaindex_baseline.span_hits`. The same rule scores our 500-character
   chunks and the baseline's ~1,000-character nodes; longer nodes cover more sections, so the rule favours
   the baseline if anything. Also shown: ours by the evals' section-path rule, the baseline with any
   overlap, and the baseline at its default top-k (2), which is what its answers are written from.
4. **Unanswerable** — ``--unanswerable`` off-topic questions per language through both: refusals, answers
   that cite something, answers whose own text declines (a phrase match; the baseline has no refusal).
5. **Time to first token lever by lever** (bench/first_token.py) — the same questions: the bare model on
   the question alone (the floor), the advisor reading its whole prompt, the advisor with the knowledge
   cache reading every close passage, and as shipped (the lead passage's family only); TTFT p50/p95,
   ÷ floor, key-fact recall and clean rate beside.
6. The run's conditions: load average before/after, threads, model, embedder, peak memory.

Numbers on a shared 2-core machine move with the neighbours' load: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import generation_measure as measure
from bench.bandwidth import decode_ceiling_tokens_per_s, measure_memory_bandwidth
from bench.first_token import measure as measure_first_token
from bench.generation_render import render

QUICK = {"repeats": 3, "questions": 6, "unanswerable": 3}


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", choices=("cpu", "gpu", "test"), help="settings profile (default: FA_PROFILE)"
    )
    parser.add_argument(
        "--model", help="llm_model to benchmark, e.g. offline:qwen2.5-coder-0.5b-instruct-q4_k_m"
    )
    parser.add_argument("--backend", help="llm_backend (llamacpp, transformers, openai, echo, ...)")
    parser.add_argument(
        "--repeats", type=_count(1), default=QUICK["repeats"], help="bare-generator runs per prompt"
    )
    parser.add_argument(
        "--bare-new-tokens", type=_count(1), default=128, help="tokens per bare-generator run"
    )
    parser.add_argument(
        "--long-chars",
        type=_count(1),
        default=1000,
        help="characters of playbook text in the long prompt (~700 tokens)",
    )
    parser.add_argument(
        "--questions", type=_count(0), default=QUICK["questions"], help="end-to-end questions per language"
    )
    parser.add_argument(
        "--hit-questions",
        type=_count(0),
        default=0,
        help="answerable questions per language for hit@5 (default 0 = every answerable question)",
    )
    parser.add_argument(
        "--unanswerable",
        type=_count(0),
        default=QUICK["unanswerable"],
        help="off-topic questions per language",
    )
    parser.add_argument("--max-new-tokens", type=_count(1), help="answer length cap for both pipelines")
    parser.add_argument(
        "--bandwidth-mb", type=_count(1), default=1024, help="array size of the bandwidth measurement (MiB)"
    )
    parser.add_argument(
        "--model-bytes", type=float, help="bytes of weights read per token (default: the model file's size)"
    )
    parser.add_argument("--answerable", type=Path, help="answerable questions (default: the evals' set)")
    parser.add_argument(
        "--unanswerable-set", type=Path, help="unanswerable questions (default: the evals' set)"
    )
    parser.add_argument("--out", type=Path, help="also write generation.json and generation.md here")


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from config import Settings

    overrides: dict[str, Any] = {}
    for option, name in (("profile", "profile"), ("model", "llm_model"), ("backend", "llm_backend")):
        if getattr(args, option):
            overrides[name] = getattr(args, option)
    if args.max_new_tokens:
        overrides["llm_max_new_tokens"] = args.max_new_tokens
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:  # e.g. an unknown --backend: say which option, not a traceback
        raise SystemExit(f"bench generation: invalid settings: {exc}") from None
    report = run_benchmark(settings, options=vars(args), log=print)
    markdown = render(report)
    print(markdown)
    if args.out:
        write_report(report, markdown, args.out)
        print(f"wrote {args.out / 'generation.json'} and {args.out / 'generation.md'}")
    return 0


def write_report(report: dict[str, Any], markdown: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "generation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (out / "generation.md").write_text(markdown, encoding="utf-8")


# --- the run ------------------------------------------------------------------------------------------------


def run_benchmark(
    settings: Any,
    *,
    options: dict[str, Any] | None = None,
    generator: Any = None,
    embedder: Any = None,
    index: Any = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every section of the benchmark; any of the models can be passed in (tests pass fakes)."""
    from advisor import build_advisor
    from bench.llamaindex_baseline import build_baseline
    from evals.datasets import load_dataset

    opts = {**_defaults(), **(options or {})}
    load_before = os.getloadavg()
    started = dt.datetime.now(dt.UTC)
    log("loading the advisor (embedder, index, model) ...")
    adv = build_advisor(settings, generator=generator, embedder=embedder, index=index)
    sources = sorted({c.source for c in adv.index.chunks})
    log("building the llama-index baseline over the same files, embedder and model ...")
    baseline = build_baseline(settings, adv.generator, adv.embedder, sources)
    agreement = measure.embedder_agreement(adv.embedder, baseline.embed_model, adv.index.chunks[0].text)

    answerable = load_dataset("answerable", opts["answerable"])
    unanswerable = [
        c for c in load_dataset("unanswerable", opts["unanswerable_set"]) if c.kind == "off_topic"
    ]
    e2e_cases = measure.spread_by_lang(answerable, opts["questions"])
    off_topic = measure.spread_by_lang(unanswerable, opts["unanswerable"])
    hit_cases = (
        measure.spread_by_lang(answerable, opts["hit_questions"]) if opts["hit_questions"] else answerable
    )

    log("warming up both pipelines ...")
    adv.warm_up()  # pages the shared model in
    baseline.retrieve("warm-up", k=1)  # the baseline's own copy of the embedder

    log("measuring memory bandwidth ...")
    bw = measure_memory_bandwidth("cpu", array_bytes=opts["bandwidth_mb"] << 20)
    model_bytes = opts["model_bytes"] or measure.model_bytes(adv.generator, settings)
    ceiling = decode_ceiling_tokens_per_s(model_bytes, bw.bytes_per_s) if model_bytes else None

    log("bare generator ...")
    long_text = measure.long_text(adv.index.chunks, opts["long_chars"])
    bare = {
        "short": measure.bare(adv.generator, lambda i: measure.short_messages(i), opts, ceiling),
        "long_zh": measure.bare(adv.generator, lambda i: measure.long_messages(i, long_text), opts, ceiling),
    }

    log(f"end to end: {len(e2e_cases)} questions through ours, then through the baseline ...")
    ours_rows = [measure.ours_row(adv, case) for case in e2e_cases]
    base_rows = [measure.baseline_row(baseline, adv.generator, case) for case in e2e_cases]
    end_to_end = {
        "ours": {"questions": ours_rows, "summary": measure.summaries(ours_rows)},
        "baseline": {"questions": base_rows, "summary": measure.summaries(base_rows)},
    }
    end_to_end["ratio_ours_over_baseline"] = measure.ratios(
        end_to_end["ours"]["summary"], end_to_end["baseline"]["summary"]
    )

    first_token = measure_first_token(adv, e2e_cases, log=log)

    log(f"retrieval hit@5 over {len(hit_cases)} answerable questions ...")
    retrieval = measure.retrieval(adv, baseline, hit_cases)

    log(f"unanswerable: {len(off_topic)} off-topic questions through both ...")
    refusal = measure.unanswerable(adv, baseline, off_topic)

    description = adv.describe()
    return {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs)",
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in opts.items()},
            "model": description.get("model"),
            "backend": description.get("backend"),
            "quantization": description.get("quantization"),
            "threads": description.get("generator_threads"),
            "embedder": description.get("embedder"),
            "max_new_tokens": settings.llm_max_new_tokens,
            "temperature": settings.llm_temperature,
        },
        "bandwidth": bw.as_dict(),
        "model_bytes": model_bytes,
        "ceiling_tokens_per_s": ceiling,
        "bare": bare,
        "end_to_end": end_to_end,
        "baseline_setup": {
            "embedding": baseline.embedding,
            "embedding_agreement_cosine": agreement,
            "index_build_s": round(baseline.build_s, 2),
            "nodes": baseline.nodes,
            "mean_node_chars": round(baseline.mean_node_chars),
            "our_chunks": len(adv.index.chunks),
            "our_mean_chunk_chars": round(
                sum(len(c.text) for c in adv.index.chunks) / max(len(adv.index.chunks), 1)
            ),
        },
        "retrieval": retrieval,
        "unanswerable": refusal,
        "first_token": first_token,
    }


def _defaults() -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return vars(parser.parse_args([]))
