"""The summary of a suite run: retrieval, answers, refusal, the reader's verdicts, injection and latency,
overall and per language, topic and dataset, from the per-case rows (evals/run.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evals import metrics, reader
from evals.added_docs import summarise_added
from evals.datasets import ADDED_DOCS, INJECTION_SETS

# --- the summary ------------------------------------------------------------------------------

RETRIEVAL_KEYS = ("hit@1", "hit@3", "hit@5", "rr", "ndcg@5")
ANSWER_KEYS = ("key_fact_recall", "faithfulness", "citation_recall", "citation_precision", "cites_gold")


def _means(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {"n": len(rows)}
    for key in keys:
        vals = [float(r[key]) for r in rows if r.get(key) is not None]
        out[key] = sum(vals) / len(vals) if vals else float("nan")
    return out


def summarise(rows: Sequence[dict[str, Any]], *, retrieval_only: bool) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    # The playbook's figures stay the playbook's: added-document questions are scored in their own block.
    retrieval_rows = [r for r in ok if "rr" in r and r["dataset"] != ADDED_DOCS]
    added_rows = [r for r in ok if "rr" in r and r["dataset"] == ADDED_DOCS]
    summary: dict[str, Any] = {
        "counts": {
            "cases": len(rows),
            "errors": len(rows) - len(ok),
            "skipped": sum(1 for r in rows if r.get("skipped")),
        },
        "retrieval": {
            "overall": _means(retrieval_rows, RETRIEVAL_KEYS),
            "by_lang": metrics.mean_by(retrieval_rows, "lang", RETRIEVAL_KEYS),
            "by_topic": metrics.mean_by(retrieval_rows, "topic", RETRIEVAL_KEYS),
            "by_dataset": metrics.mean_by(retrieval_rows, "dataset", RETRIEVAL_KEYS),
        },
    }
    if added_rows:
        summary["added_docs"] = summarise_added(added_rows)
    if retrieval_only:
        return summary
    answerable = [r for r in ok if r["dataset"] in ("answerable", "multiturn") and "refused" in r]
    answered = [r for r in answerable if not r["refused"]]
    answer_block = _means(answered, ANSWER_KEYS)
    answer_block["key_fact_recall_all"] = metrics.mean(r.get("key_fact_recall") for r in answerable)
    answer_block["language_ok"] = metrics.mean(
        float(r["language_ok"]) for r in answerable if "language_ok" in r
    )
    answer_block["answered"] = len(answered)
    summary["answers"] = {
        "overall": answer_block,
        "by_lang": metrics.mean_by(answered, "lang", ANSWER_KEYS),
        "by_topic": metrics.mean_by(answered, "topic", ANSWER_KEYS),
        "by_dataset": metrics.mean_by(answered, "dataset", ANSWER_KEYS),
    }
    decided = [
        r
        for r in ok
        if r["dataset"] in ("answerable", "multiturn", "unanswerable", "unanswerable_hard") and "refused" in r
    ]
    summary["refusal"] = {
        "overall": metrics.refusal_scores(
            [r["should_refuse"] for r in decided], [r["refused"] for r in decided]
        ),
        "by_lang": {
            lang: metrics.refusal_scores(
                [r["should_refuse"] for r in decided if r["lang"] == lang],
                [r["refused"] for r in decided if r["lang"] == lang],
            )
            for lang in sorted({r["lang"] for r in decided})
        },
        "refused_rate_by_kind": {
            kind: metrics.mean(float(r["refused"]) for r in decided if r["kind"] == kind)
            for kind in sorted({r["kind"] for r in decided if r["dataset"].startswith("unanswerable")})
        },
        "reasons": _count(r.get("refusal_reason") or "" for r in decided if r["refused"]),
    }
    summary["reader"] = reader.clean_rates(ok)
    summary["reader_agreement"] = [reader.labelled_agreement(path) for path in reader.label_sets()]
    attacks = [r for r in ok if r["dataset"] in INJECTION_SETS and "injection_success" in r]
    summary["injection"] = {
        "n": len(attacks),
        "success_rate": metrics.mean(float(r["injection_success"]) for r in attacks),
        "refused_rate": metrics.mean(float(r["refused"]) for r in attacks),
        "canary_leaks": sum(1 for r in attacks if r.get("leaked_canary")),
        "prompt_leaks": sum(1 for r in attacks if r.get("leaked_prompt_spans")),
        "by_kind": {
            kind: {
                "n": sum(1 for r in attacks if r["kind"] == kind),
                "success_rate": metrics.mean(
                    float(r["injection_success"]) for r in attacks if r["kind"] == kind
                ),
            }
            for kind in sorted({r["kind"] for r in attacks})
        },
        "by_lang": {
            lang: {
                "n": sum(1 for r in attacks if r["lang"] == lang),
                "success_rate": metrics.mean(
                    float(r["injection_success"]) for r in attacks if r["lang"] == lang
                ),
            }
            for lang in sorted({r["lang"] for r in attacks})
        },
        "succeeded": [r["id"] for r in attacks if r["injection_success"]],
    }
    # Every answer the model wrote, shown or not: a gate refusal ("unsupported") cost the same time.
    generated = [r for r in ok if (r.get("new_tokens") or 0) > 0]
    summary["latency"] = {
        "total_ms": metrics.latency_stats([r["total_ms"] for r in ok if r.get("total_ms") is not None]),
        "first_token_ms_generated": metrics.latency_stats([r["first_token_ms"] for r in generated]),
        "total_ms_generated": metrics.latency_stats([r["total_ms"] for r in generated]),
        "tokens_per_s": metrics.latency_stats([r["tokens_per_s"] for r in generated]),
    }
    return summary


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))
