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
   cache; TTFT p50/p95, ÷ floor, key-fact recall and clean rate beside.
6. The run's conditions: load average before/after, threads, model, embedder, peak memory.

Numbers on a shared 2-core machine move with the neighbours' load: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.bandwidth import GB, decode_ceiling_tokens_per_s, measure_memory_bandwidth
from bench.first_token import measure as measure_first_token
from bench.first_token import render as render_first_token
from evals.tables import markdown_table, quantity

QUICK = {"repeats": 3, "questions": 6, "unanswerable": 3}
SHORT_PROMPT = "In one sentence: why should a startup talk to customers early?"
LONG_TASK = "\n\n请用三句话概括上文的要点。"
CITATION = re.compile(r"\[\d+\]")
# The baseline has no refusal: its model may still decline in words. Phrases that say so, both languages.
DECLINES = re.compile(
    r"not (?:provided|mentioned|contain|include|cover|specified|available)|no (?:information|mention)|"
    r"(?:does|do) not (?:provide|mention|contain|include|cover|say)|cannot (?:answer|be answered|determine)|"
    r"don't know|do not know|unable to|not (?:in|part of) the (?:context|provided)|"
    r"没有(?:提供|提到|提及|相关|涉及|包含)|未(?:提供|提及|提到|涉及)|无法(?:回答|确定|提供|找到)|不包含|不知道|"
    r"(?:超出|不在).{0,8}范围",
    re.IGNORECASE,
)


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
    agreement = _embedder_agreement(adv.embedder, baseline.embed_model, adv.index.chunks[0].text)

    answerable = load_dataset("answerable", opts["answerable"])
    unanswerable = [
        c for c in load_dataset("unanswerable", opts["unanswerable_set"]) if c.kind == "off_topic"
    ]
    e2e_cases = _spread_by_lang(answerable, opts["questions"])
    off_topic = _spread_by_lang(unanswerable, opts["unanswerable"])
    hit_cases = _spread_by_lang(answerable, opts["hit_questions"]) if opts["hit_questions"] else answerable

    log("warming up both pipelines ...")
    adv.warm_up()  # pages the shared model in
    baseline.retrieve("warm-up", k=1)  # the baseline's own copy of the embedder

    log("measuring memory bandwidth ...")
    bw = measure_memory_bandwidth("cpu", array_bytes=opts["bandwidth_mb"] << 20)
    model_bytes = opts["model_bytes"] or _model_bytes(adv.generator, settings)
    ceiling = decode_ceiling_tokens_per_s(model_bytes, bw.bytes_per_s) if model_bytes else None

    log("bare generator ...")
    long_text = _long_text(adv.index.chunks, opts["long_chars"])
    bare = {
        "short": _bare(adv.generator, lambda i: _short_messages(i), opts, ceiling),
        "long_zh": _bare(adv.generator, lambda i: _long_messages(i, long_text), opts, ceiling),
    }

    log(f"end to end: {len(e2e_cases)} questions through ours, then through the baseline ...")
    ours_rows = [_ours_row(adv, case) for case in e2e_cases]
    base_rows = [_baseline_row(baseline, adv.generator, case) for case in e2e_cases]
    end_to_end = {
        "ours": {"questions": ours_rows, "summary": _summaries(ours_rows)},
        "baseline": {"questions": base_rows, "summary": _summaries(base_rows)},
    }
    end_to_end["ratio_ours_over_baseline"] = _ratios(
        end_to_end["ours"]["summary"], end_to_end["baseline"]["summary"]
    )

    first_token = measure_first_token(adv, e2e_cases, log=log)

    log(f"retrieval hit@5 over {len(hit_cases)} answerable questions ...")
    retrieval = _retrieval(adv, baseline, hit_cases)

    log(f"unanswerable: {len(off_topic)} off-topic questions through both ...")
    refusal = _unanswerable(adv, baseline, off_topic)

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


# --- 1. the bare generator ----------------------------------------------------------------------------------


def _short_messages(run: int) -> list[dict[str, str]]:
    # The run number leads the prompt, so no two runs share more than the template's first tokens.
    return [
        {"role": "system", "content": f"Run {run}. You are a concise advisor."},
        {"role": "user", "content": SHORT_PROMPT},
    ]


def _long_messages(run: int, text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": f"第{run}次运行。你是一名简洁的创业顾问。"},
        {"role": "user", "content": text + LONG_TASK},
    ]


def _long_text(chunks: Sequence[Any], chars: int) -> str:
    """About ``chars`` characters of the knowledge base, in document order (the playbook is Chinese)."""
    ordered = sorted(chunks, key=lambda c: (c.source, c.start))
    text, end = "", -1
    for c in ordered:
        if len(text) >= chars:
            break
        text += c.text[max(0, end - c.start) :] if c.start < end else "\n" + c.text
        end = max(end, c.end)
    return text.strip()[:chars]


def _bare(generator: Any, messages: Callable[[int], list[dict[str, str]]], opts: dict, ceiling: float | None):
    runs = []
    for i in range(1, opts["repeats"] + 1):
        t0 = time.perf_counter()
        first, pieces = None, 0
        for piece in generator.stream(messages(i), opts["bare_new_tokens"], 0.0, None):
            if piece:
                first = first if first is not None else time.perf_counter()
                pieces += 1
        end = time.perf_counter()
        runs.append(_generation_figures(generator, pieces, t0, first, end))
    decode = statistics.median(r["tokens_per_s"] for r in runs)
    return {
        "runs": runs,
        "ttft_ms": statistics.median(r["first_token_ms"] for r in runs),
        "tokens_per_s": decode,
        "prompt_tokens": statistics.median(r["prompt_tokens"] for r in runs),
        "new_tokens": statistics.median(r["new_tokens"] for r in runs),
        "fraction_of_ceiling": decode / ceiling if ceiling else None,
    }


def _generation_figures(generator: Any, pieces: int, t0: float, first: float | None, end: float) -> dict:
    """The backend's own figures when it measured them (exact tokens, llama.cpp's decode rate), else a
    streamed piece counts as a token and decode time runs from the first piece to the last."""
    stats = getattr(generator, "last_stats", None)
    first = first if first is not None else end
    if stats is not None and stats.new_tokens:
        tokens, rate = int(stats.new_tokens), float(stats.tokens_per_s)
        prompt, cached = int(stats.prompt_tokens), int(stats.cached_prompt_tokens)
    else:
        tokens, prompt, cached = pieces, 0, 0
        rate = (pieces - 1) / (end - first) if pieces > 1 and end > first else 0.0
    return {
        "first_token_ms": (first - t0) * 1000,
        "total_ms": (end - t0) * 1000,
        "new_tokens": tokens,
        "tokens_per_s": rate,
        "prompt_tokens": prompt,
        "cached_prompt_tokens": cached,
    }


def _model_bytes(generator: Any, settings: Any) -> int | None:
    """Bytes of weights read per token: the GGUF file's size (weights, all read per token), else the
    offline model table's; None for fakes and remote models (then no ceiling is printed)."""
    path = getattr(generator, "model_path", None)
    if path is not None and Path(path).is_file():
        return Path(path).stat().st_size
    from advisor.offline_models import OfflineModelError, is_offline_name, lookup

    if not is_offline_name(settings.llm_model):
        return None
    try:
        return lookup(settings.llm_model).size
    except OfflineModelError:
        return None


# --- 2. end to end ------------------------------------------------------------------------------------------


def _spread_by_lang(cases: Sequence[Any], per_lang: int) -> list[Any]:
    """``per_lang`` cases of each language, evenly spaced through the file (so across its topics)."""
    picked = []
    for lang in ("zh", "en"):
        pool = [c for c in cases if c.lang == lang]
        n = min(per_lang, len(pool))
        picked += [pool[i * len(pool) // n] for i in range(n)] if n else []
    return picked


def _ours_row(adv: Any, case: Any) -> dict[str, Any]:
    answer = adv.ask(case.question)
    t = answer.timings
    return {
        "id": case.id,
        "lang": case.lang,
        "first_token_ms": t.first_token_ms,
        "total_ms": t.total_ms,
        "new_tokens": t.new_tokens,
        "tokens_per_s": t.tokens_per_s,
        "retrieve_ms": t.retrieve_ms,
        **_prompt_tokens(adv.generator, answer.refused),
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "cited": bool(answer.citations),
        "answer": answer.text,
    }


def _prompt_tokens(generator: Any, refused: bool) -> dict[str, int]:
    """The answer's prompt size and how much of it llama.cpp's prompt cache served (0 for a refusal:
    no answer was generated, the last call was something else)."""
    stats = getattr(generator, "last_stats", None)
    if stats is None or refused:
        return {"prompt_tokens": 0, "cached_prompt_tokens": 0}
    return {
        "prompt_tokens": int(stats.prompt_tokens),
        "cached_prompt_tokens": int(stats.cached_prompt_tokens),
    }


def _baseline_row(baseline: Any, generator: Any, case: Any) -> dict[str, Any]:
    reply = baseline.ask(case.question)
    figures = _generation_figures(
        generator, reply.pieces, 0.0, reply.first_token_ms / 1000, reply.total_ms / 1000
    )
    return {
        "id": case.id,
        "lang": case.lang,
        "first_token_ms": reply.first_token_ms,
        "total_ms": reply.total_ms,
        "new_tokens": figures["new_tokens"],
        "tokens_per_s": figures["tokens_per_s"],
        "prompt_tokens": figures["prompt_tokens"],
        "cached_prompt_tokens": figures["cached_prompt_tokens"],
        "refused": False,  # it has no refusal path
        "declines_in_text": bool(DECLINES.search(reply.text)),
        "cited": bool(CITATION.search(reply.text)),
        "answer": reply.text,
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ttft = [r["first_token_ms"] for r in rows]
    total = [r["total_ms"] for r in rows]
    generated = [r for r in rows if r["new_tokens"]]
    return {
        "n": len(rows),
        "ttft_p50_ms": percentile(ttft, 50),
        "ttft_p95_ms": percentile(ttft, 95),
        "total_p50_ms": percentile(total, 50),
        "total_p95_ms": percentile(total, 95),
        "new_tokens_mean": statistics.fmean(r["new_tokens"] for r in rows) if rows else None,
        "tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in generated) if generated else None,
        "refused": sum(r["refused"] for r in rows),
        "cited": sum(r["cited"] for r in rows),
    }


def _summaries(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "zh": _summary([r for r in rows if r["lang"] == "zh"]),
        "en": _summary([r for r in rows if r["lang"] == "en"]),
        "all": _summary(rows),
    }


def _ratios(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    keys = ("ttft_p50_ms", "ttft_p95_ms", "total_p50_ms", "total_p95_ms")
    return {group: {k: _ratio(ours[group][k], base[group][k]) for k in keys} for group in ("zh", "en", "all")}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# --- 3. retrieval ---------------------------------------------------------------------------------------------


def _retrieval(adv: Any, baseline: Any, cases: Sequence[Any]) -> dict[str, Any]:
    from bench.llamaindex_baseline import gold_spans, span_hits
    from evals.metrics import section_matches

    counts = {k: {"zh": 0, "en": 0} for k in ("ours", "ours_section_rule", "base5", "base5_any", "base2")}
    n = {"zh": 0, "en": 0}
    ms = {"ours": 0.0, "baseline": 0.0}
    for case in cases:
        gold = {s: gold_spans(doc, case.gold_sections) for s, doc in baseline.documents.items()}
        t0 = time.perf_counter()
        hits = adv.retrieve(case.question, k=5)
        t1 = time.perf_counter()
        spans = baseline.retrieve(case.question, k=5)
        t2 = time.perf_counter()
        ms["ours"] += (t1 - t0) * 1000
        ms["baseline"] += (t2 - t1) * 1000
        ours = [(h.chunk.source, h.chunk.start, h.chunk.end) for h in hits]
        scored = {
            "ours": span_hits(ours, gold),
            "ours_section_rule": any(
                section_matches(h.chunk.section, g) for h in hits for g in case.gold_sections
            ),
            "base5": span_hits(spans, gold),
            "base5_any": span_hits(spans, gold, min_chars=1),
            "base2": span_hits(spans[:2], gold),
        }
        n[case.lang] += 1
        for key, hit in scored.items():
            counts[key][case.lang] += hit

    def rates(key: str) -> dict[str, float | None]:
        out = {lang: counts[key][lang] / n[lang] if n[lang] else None for lang in n}
        out["all"] = sum(counts[key].values()) / max(sum(n.values()), 1)
        return out

    total = max(len(cases), 1)
    return {
        "questions": dict(n, all=len(cases)),
        "rule": "a passage hits when it holds >= min(100, half the gold text) characters of a gold section",
        "ours_hit@5": rates("ours"),
        "ours_hit@5_section_rule": rates("ours_section_rule"),
        "baseline_hit@5": rates("base5"),
        "baseline_hit@5_any_overlap": rates("base5_any"),
        "baseline_hit@2_default_k": rates("base2"),
        "ours_ms_per_question": ms["ours"] / total,
        "baseline_ms_per_question": ms["baseline"] / total,
    }


# --- 4. unanswerable ------------------------------------------------------------------------------------------


def _unanswerable(adv: Any, baseline: Any, cases: Sequence[Any]) -> dict[str, Any]:
    rows = []
    for case in cases:
        ours = adv.ask(case.question)
        reply = baseline.ask(case.question)
        rows.append(
            {
                "id": case.id,
                "lang": case.lang,
                "question": case.question,
                "ours_refused": ours.refused,
                "ours_cited": bool(ours.citations),
                "ours_answer": ours.text,
                "baseline_declines_in_text": bool(DECLINES.search(reply.text)),
                "baseline_cited": bool(CITATION.search(reply.text)),
                "baseline_answer": reply.text,
            }
        )
    return {
        "n": len(rows),
        "ours_refused": sum(r["ours_refused"] for r in rows),
        "ours_answered_with_citations": sum(not r["ours_refused"] and r["ours_cited"] for r in rows),
        "baseline_refused": 0,
        "baseline_declines_in_text": sum(r["baseline_declines_in_text"] for r in rows),
        "baseline_answered": sum(not r["baseline_declines_in_text"] for r in rows),
        "baseline_cited": sum(r["baseline_cited"] for r in rows),
        "questions": rows,
    }


def _embedder_agreement(embedder: Any, embed_model: Any, passage: str) -> dict[str, float]:
    """Cosine of our embedder's and the baseline's vectors for one query and one passage (1.0 = same)."""
    query = "What pricing strategies can an AI startup use?"
    ours_q, ours_p = embedder.embed([query], kind="query")[0], embedder.embed([passage], kind="passage")[0]
    base_q = np.asarray(embed_model.get_query_embedding(query), dtype=np.float32)
    base_p = np.asarray(embed_model.get_text_embedding(passage), dtype=np.float32)

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))

    return {"query": round(cos(ours_q, base_q), 5), "passage": round(cos(ours_p, base_p), 5)}


# --- the tables -------------------------------------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    """The report as Markdown tables (printed and written to generation.md)."""
    meta, bw, bare = report["meta"], report["bandwidth"], report["bare"]
    e2e, ret, un, setup = (
        report["end_to_end"],
        report["retrieval"],
        report["unanswerable"],
        report["baseline_setup"],
    )
    out = [
        "# Generation benchmark",
        "",
        f"{meta['started']} → {meta['finished']}, {meta['machine']}; load average before "
        f"{meta['load_average_before'][0]}, after {meta['load_average_after'][0]}; peak RSS {meta['peak_rss_mb']} MB.",
        f"Model {meta['model']} ({meta['backend']}, {meta['quantization']}, threads {meta['threads']}); "
        f"embedder {meta['embedder']}; answers ≤ {meta['max_new_tokens']} tokens, temperature {meta['temperature']}.",
        "",
        "## 1. Bare generator vs the memory-bandwidth ceiling",
        "",
        f"Read bandwidth {bw['read_gb_per_s']:.1f} GB/s ({bw['threads']} thread(s), measured in this run); "
        f"weights read per token {quantity((report['model_bytes'] or 0) / GB if report['model_bytes'] else None, 3, ' GB')}; "
        f"ceiling {quantity(report['ceiling_tokens_per_s'], 1, ' tok/s')}. Median of {meta['options']['repeats']} runs.",
        "",
    ]
    out += markdown_table(
        ["prompt", "prompt tokens", "TTFT", "decode tok/s", "decode ÷ ceiling"],
        [
            [
                name,
                quantity(b["prompt_tokens"]),
                quantity(b["ttft_ms"], 0, " ms"),
                quantity(b["tokens_per_s"], 1),
                quantity(b["fraction_of_ceiling"], 2),
            ]
            for name, b in (("short (en)", bare["short"]), ("~700-token zh", bare["long_zh"]))
        ],
    )
    out += [
        "",
        "## 2. End to end: ours vs a plain llama-index pipeline (same embedder, same loaded model)",
        "",
    ]
    rows = []
    for group in ("zh", "en", "all"):
        o, b, r = (
            e2e["ours"]["summary"][group],
            e2e["baseline"]["summary"][group],
            e2e["ratio_ours_over_baseline"][group],
        )
        for label, key in (
            ("TTFT p50", "ttft_p50"),
            ("TTFT p95", "ttft_p95"),
            ("total p50", "total_p50"),
            ("total p95", "total_p95"),
        ):
            rows.append(
                [
                    group,
                    label,
                    quantity(o[f"{key}_ms"], 0, " ms"),
                    quantity(b[f"{key}_ms"], 0, " ms"),
                    quantity(r[f"{key}_ms"], 2),
                ]
            )
        rows.append(
            [
                group,
                "tok/s (median)",
                quantity(o["tokens_per_s_median"], 1),
                quantity(b["tokens_per_s_median"], 1),
                "",
            ]
        )
        rows.append(
            [
                group,
                "new tokens (mean)",
                quantity(o["new_tokens_mean"], 0),
                quantity(b["new_tokens_mean"], 0),
                "",
            ]
        )
        rows.append(
            [
                group,
                "refused / cited",
                f"{o['refused']} / {o['cited']} of {o['n']}",
                f"{b['refused']} / {b['cited']} of {b['n']}",
                "",
            ]
        )
    out += markdown_table(["lang", "figure", "ours", "baseline", "ours ÷ baseline"], rows)
    refused = e2e["ours"]["summary"]["all"]["refused"]
    if refused:
        out += [
            "",
            f"{refused} of our answers were refusals: they end before any generation and count with their "
            "(short) latency; the per-question rows show which.",
        ]
    out += [
        "",
        "Per question (prompt tokens in brackets: those llama.cpp's prompt cache served from the previous "
        "request — both pipelines get the same cache):",
        "",
    ]
    per_q = []
    for o, b in zip(e2e["ours"]["questions"], e2e["baseline"]["questions"], strict=True):
        per_q.append(
            [
                o["id"],
                f"{quantity(o['first_token_ms'])} / {quantity(o['total_ms'])} ms",
                f"{o['prompt_tokens']} ({o['cached_prompt_tokens']})",
                f"{o['new_tokens']} @ {quantity(o['tokens_per_s'], 1)}"
                + (f" (refused: {o['refusal_reason']})" if o["refused"] else ""),
                f"{quantity(b['first_token_ms'])} / {quantity(b['total_ms'])} ms",
                f"{b['prompt_tokens']} ({b['cached_prompt_tokens']})",
                f"{b['new_tokens']} @ {quantity(b['tokens_per_s'], 1)}",
            ]
        )
    out += markdown_table(
        [
            "question",
            "ours TTFT / total",
            "ours prompt (cached)",
            "ours tokens @ tok/s",
            "baseline TTFT / total",
            "baseline prompt (cached)",
            "baseline tokens @ tok/s",
        ],
        per_q,
    )
    out += [
        "",
        f"Baseline: {setup['embedding']} (agreement with our embedder: cosine query "
        f"{setup['embedding_agreement_cosine']['query']}, passage {setup['embedding_agreement_cosine']['passage']}); "
        f"{setup['nodes']} nodes of ~{setup['mean_node_chars']} chars (ours: {setup['our_chunks']} chunks of "
        f"~{setup['our_mean_chunk_chars']}), index built in {setup['index_build_s']} s; default top-k 2, compact synthesizer.",
        "",
        f"## 3. Retrieval hit@5 over {ret['questions']['all']} answerable questions",
        "",
        f"Rule: {ret['rule']}.",
        "",
    ]
    ret_rows = [
        ["ours top-5 (what our model answers from)", "ours_hit@5"],
        ["ours, evals' section-path rule", "ours_hit@5_section_rule"],
        ["baseline top-5", "baseline_hit@5"],
        ["baseline top-5, any overlap", "baseline_hit@5_any_overlap"],
        ["baseline top-2 (its default k: what it answers from)", "baseline_hit@2_default_k"],
    ]
    out += markdown_table(
        ["pipeline", "zh", "en", "all"],
        [[label] + [quantity(ret[key][g], 2) for g in ("zh", "en", "all")] for label, key in ret_rows],
    )
    out += [
        "",
        f"Retrieval time per question: ours {ret['ours_ms_per_question']:.0f} ms (English questions include the "
        f"model's Chinese rendering), baseline {ret['baseline_ms_per_question']:.0f} ms.",
        "",
        f"## 4. Off-topic questions ({un['n']}): ours refuses, the baseline has no refusal",
        "",
    ]
    out += markdown_table(
        ["pipeline", "refused", "declined in its text", "answered", "answers citing a passage"],
        [
            [
                "ours",
                str(un["ours_refused"]),
                "—",
                str(un["n"] - un["ours_refused"]),
                str(un["ours_answered_with_citations"]),
            ],
            [
                "baseline",
                "0 (no refusal path)",
                str(un["baseline_declines_in_text"]),
                str(un["baseline_answered"]),
                str(un["baseline_cited"]),
            ],
        ],
    )
    out += [
        "",
        '"Declined in its text" is a phrase match ("not mentioned", "没有提到", ...): the baseline\'s model '
        "sometimes says so in words, but nothing stops the answer, and it cites nothing.",
        "",
    ]
    if report.get("first_token"):
        out += render_first_token(report["first_token"])
    return "\n".join(out)
