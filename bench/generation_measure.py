"""The measurements of the generation benchmark (bench/generation.py): 1. the bare generator against the
bandwidth ceiling, 2. end to end, ours and the llama-index baseline, 3. retrieval hit@5, 4. unanswerable."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

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


# --- 1. the bare generator ----------------------------------------------------------------------------------


def short_messages(run: int) -> list[dict[str, str]]:
    # The run number leads the prompt, so no two runs share more than the template's first tokens.
    return [
        {"role": "system", "content": f"Run {run}. You are a concise advisor."},
        {"role": "user", "content": SHORT_PROMPT},
    ]


def long_messages(run: int, text: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": f"第{run}次运行。你是一名简洁的创业顾问。"},
        {"role": "user", "content": text + LONG_TASK},
    ]


def long_text(chunks: Sequence[Any], chars: int) -> str:
    """About ``chars`` characters of the knowledge base, in document order (the playbook is Chinese)."""
    ordered = sorted(chunks, key=lambda c: (c.source, c.start))
    text, end = "", -1
    for c in ordered:
        if len(text) >= chars:
            break
        text += c.text[max(0, end - c.start) :] if c.start < end else "\n" + c.text
        end = max(end, c.end)
    return text.strip()[:chars]


def bare(generator: Any, messages: Callable[[int], list[dict[str, str]]], opts: dict, ceiling: float | None):
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


def model_bytes(generator: Any, settings: Any) -> int | None:
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


def spread_by_lang(cases: Sequence[Any], per_lang: int) -> list[Any]:
    """``per_lang`` cases of each language, evenly spaced through the file (so across its topics)."""
    picked = []
    for lang in ("zh", "en"):
        pool = [c for c in cases if c.lang == lang]
        n = min(per_lang, len(pool))
        picked += [pool[i * len(pool) // n] for i in range(n)] if n else []
    return picked


def ours_row(adv: Any, case: Any) -> dict[str, Any]:
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


def baseline_row(baseline: Any, generator: Any, case: Any) -> dict[str, Any]:
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


def summaries(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "zh": _summary([r for r in rows if r["lang"] == "zh"]),
        "en": _summary([r for r in rows if r["lang"] == "en"]),
        "all": _summary(rows),
    }


def ratios(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    keys = ("ttft_p50_ms", "ttft_p95_ms", "total_p50_ms", "total_p95_ms")
    return {group: {k: _ratio(ours[group][k], base[group][k]) for k in keys} for group in ("zh", "en", "all")}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# --- 3. retrieval ---------------------------------------------------------------------------------------------


def retrieval(adv: Any, baseline: Any, cases: Sequence[Any]) -> dict[str, Any]:
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
        # English questions wait for the model's Chinese rendering only with this setting on (off by default).
        "ours_translates_english": bool(adv.settings.translate_queries),
    }


# --- 4. unanswerable ------------------------------------------------------------------------------------------


def unanswerable(adv: Any, baseline: Any, cases: Sequence[Any]) -> dict[str, Any]:
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


def embedder_agreement(embedder: Any, embed_model: Any, passage: str) -> dict[str, float]:
    """Cosine of our embedder's and the baseline's vectors for one query and one passage (1.0 = same)."""
    query = "What pricing strategies can an AI startup use?"
    ours_q, ours_p = embedder.embed([query], kind="query")[0], embedder.embed([passage], kind="passage")[0]
    base_q = np.asarray(embed_model.get_query_embedding(query), dtype=np.float32)
    base_p = np.asarray(embed_model.get_text_embedding(passage), dtype=np.float32)

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))

    return {"query": round(cos(ours_q, base_q), 5), "passage": round(cos(ours_p, base_p), 5)}
