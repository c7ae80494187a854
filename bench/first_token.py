"""Time to first token, lever by lever (issue 14), in one run on one loaded model, the same questions.

For every question, in this order of passes (each pass over all questions, so no pass evicts another's
cache between its own questions; the LLM rendering of English questions is forgotten before each pass,
so every pass pays for it as a founder would):

* **floor** — the bare model on the question alone (no system prompt, no passages): the least any
  pipeline on this model can wait for a first word;
* **full prompt** — the advisor with its knowledge cache switched off: the whole answer prompt is read
  (what shipped before issue 14, with the prompt's fixed part already moved before the question);
* **lead file only** — the knowledge cache without its family files: only the lead passage's own file is
  restored, so an answer that reads the lead's siblings too reads them and the instructions anew (what
  shipped before the family files);
* **knowledge cache** — as shipped: the file whose prompt starts as the answer's (the lead's family file
  when its siblings follow it) restored, the fixed start of the English rendering and of the condensation
  restored from their files, the rest (the topic line and the question) read anew.

Quality beside speed, on the same answers: key-fact recall (evals' rule), the reader's clean verdict
(evals.reader's detectors, without the judge's sentence support), and refusals.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evals.tables import markdown_table, quantity

PASSES = ("floor", "full_prompt", "lead_file_only", "knowledge_cache")


def measure(adv: Any, cases: Sequence[Any], log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Rows per pass and question, and p50/p95 per pass and language."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in PASSES}
    log(f"first token: the floor (question alone) for {len(cases)} questions ...")
    for i, case in enumerate(cases):
        rows["floor"].append({"id": case.id, "lang": case.lang, "first_token_ms": _floor_ms(adv, case, i)})
    cache = adv.knowledge_cache
    passes = (
        ("full_prompt", None, False),
        ("lead_file_only", cache, False),
        ("knowledge_cache", cache, True),
    )
    for name, knowledge_cache, family_files in passes:
        if name != "full_prompt" and cache is None:
            continue  # a backend without KV files: nothing to compare
        log(f"first token: {name.replace('_', ' ')} for {len(cases)} questions ...")
        _forget_renderings(adv)
        adv.knowledge_cache = knowledge_cache
        if knowledge_cache is not None:
            knowledge_cache.use_family_files = family_files
        try:
            rows[name] = [_answer_row(adv, case) for case in cases]
        finally:
            adv.knowledge_cache = cache
            if cache is not None:
                cache.use_family_files = True
    summary = {name: _summaries(r) for name, r in rows.items() if r}
    return {"questions": rows, "summary": summary, "cache_built": cache is not None}


def _floor_ms(adv: Any, case: Any, run: int) -> float:
    import time

    # A run number in front keeps llama.cpp's prompt cache from serving the previous floor's tokens.
    messages = [{"role": "user", "content": f"({run}) {case.question}"}]
    with adv._lock:  # the advisor's own lock: one generation at a time
        start = time.perf_counter()
        for piece in adv.generator.stream(messages, 1, 0.0):
            if piece:
                break
        return (time.perf_counter() - start) * 1000.0


def _forget_renderings(adv: Any) -> None:
    translator = getattr(adv.retriever, "translator", None)
    if translator is not None and hasattr(translator, "cache_clear"):
        translator.cache_clear()


def _answer_row(adv: Any, case: Any) -> dict[str, Any]:
    from evals.metrics import key_fact_hits, section_matches
    from evals.reader import judge_row

    answer = adv.ask(case.question)
    stats = getattr(adv.generator, "last_stats", None)
    found = key_fact_hits(answer.text, case.key_facts) if case.key_facts and not answer.refused else []
    cited = [c.section for c in answer.citations]
    row = {
        "id": case.id,
        "lang": case.lang,
        "question": case.question,
        "dataset": "answerable",
        "should_refuse": False,
        "gold_sections": list(case.gold_sections),
        "text": answer.text,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "first_token_ms": answer.timings.first_token_ms,
        "total_ms": answer.timings.total_ms,
        "retrieve_ms": answer.timings.retrieve_ms,
        "prompt_tokens": int(stats.prompt_tokens) if stats and not answer.refused else 0,
        "cached_prompt_tokens": int(stats.cached_prompt_tokens) if stats and not answer.refused else 0,
        "key_facts_found": found,
        "key_fact_recall": sum(found) / len(found) if found else (0.0 if case.key_facts else None),
        "cites_gold": any(section_matches(s, g) for s in cited for g in case.gold_sections)
        if cited
        else None,
        "language_ok": answer.language == case.lang,
    }
    row.update(judge_row(row, [h.chunk.text for h in answer.passages]))
    return row


def _pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def _summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ttft = [r["first_token_ms"] for r in rows]
    out: dict[str, Any] = {"n": len(rows), "ttft_p50_ms": _pct(ttft, 50), "ttft_p95_ms": _pct(ttft, 95)}
    if rows and "total_ms" in rows[0]:
        answered = [r for r in rows if not r["refused"]]
        recalls = [r["key_fact_recall"] for r in answered if r["key_fact_recall"] is not None]
        out.update(
            total_p50_ms=_pct([r["total_ms"] for r in rows], 50),
            prompt_read_anew_mean=statistics.fmean(
                r["prompt_tokens"] - r["cached_prompt_tokens"] for r in answered
            )
            if answered
            else None,
            refused=len(rows) - len(answered),
            key_fact_recall=statistics.fmean(recalls) if recalls else None,
            clean=sum(r["reader_verdict"] == "clean" for r in rows) / len(rows),
        )
    return out


def _summaries(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {lang: _summary([r for r in rows if r["lang"] == lang]) for lang in ("zh", "en")} | {
        "all": _summary(rows)
    }


def render(section: dict[str, Any]) -> list[str]:
    """Markdown lines of the section."""
    summary = section["summary"]
    out = [
        "## 5. Time to first token: the floor, the full prompt, the knowledge cache (same model, same questions)",
        "",
        "Floor = the bare model on the question alone. Full prompt = the advisor with its knowledge cache off. "
        "Lead file only = the knowledge cache restoring the lead passage's own file, never a family file. "
        "Knowledge cache = as shipped (the lead's family file when its siblings follow it). Clean = evals.reader's "
        "detectors without the judge's sentence support.",
        "",
    ]
    rows = []
    floor = summary.get("floor", {})
    for lang in ("zh", "en", "all"):
        base = floor.get(lang, {}).get("ttft_p50_ms")
        for name in PASSES:
            s = summary.get(name, {}).get(lang)
            if not s:
                continue
            rows.append(
                [
                    lang,
                    name.replace("_", " "),
                    quantity(s["ttft_p50_ms"], 0, " ms"),
                    quantity(s["ttft_p95_ms"], 0, " ms"),
                    quantity(s["ttft_p50_ms"] / base if base and s["ttft_p50_ms"] else None, 1, "×"),
                    quantity(s.get("total_p50_ms"), 0, " ms") if "total_p50_ms" in s else "—",
                    quantity(s.get("prompt_read_anew_mean"), 0) if "total_p50_ms" in s else "—",
                    quantity(s.get("key_fact_recall"), 3) if "total_p50_ms" in s else "—",
                    quantity(s.get("clean"), 2) if "total_p50_ms" in s else "—",
                    str(s.get("refused", "—")),
                ]
            )
    out += markdown_table(
        [
            "lang",
            "pass",
            "TTFT p50",
            "TTFT p95",
            "p50 ÷ floor",
            "total p50",
            "prompt tokens read",
            "key-fact recall",
            "clean",
            "refused",
        ],
        rows,
    )
    return [*out, ""]
