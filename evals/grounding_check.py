"""Validate a support checker on labelled claim/evidence data: `python -m evals check-grounding`.

Input: JSON lines with `context` (the evidence: a string or a list of passages), `response` (the text
to check) and `label_int` (1 = hallucinated / unsupported, the positive class). The checker's support
score s becomes P(hallucinated) = 1 - s, so AUROC and the threshold read the same way as the labels.

The decision threshold is reported twice, on purpose:
* at `settings.support_threshold` (or `--threshold`): the figure the shipped gate actually gets;
* at the best threshold for these very records: optimistic (fitted and tested on the same records) and
  labelled so. `fit-ensemble` gives honest cross-set figures for the calibrated combination.

Per-set breakdowns follow the dev-set README: FactCheck-GPT records carry `stance`, UHGEval records carry
`variant`, `news_type` and `hallucinated_spans`; whatever fields a record has get their breakdown.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, roc_auc_score
from tqdm import tqdm

from advisor import CHECKER_NAMES, claim_text, make_checker
from config import get_settings


class InputError(ValueError):
    """A malformed input file; the message names the line."""


MAX_CONTEXT_CHARS = 200_000  # a passage set far past any retrieval budget is a wrong file, not a record


def load_records(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Read and validate the JSONL records (all lines are checked before any scoring starts).

    Every problem names its line: bytes that are not UTF-8, a line that is not a JSON object, a missing
    or empty field, a label that is not 0/1, a context past MAX_CONTEXT_CHARS. Nothing is scored, and no
    report is written, unless every line is good.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    records: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}:{lineno}: not UTF-8 (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})"
                ) from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object")
            missing = [k for k in ("context", "response", "label_int") if k not in rec]
            if missing:
                raise InputError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            if rec["label_int"] not in (0, 1):
                raise InputError(f"{path}:{lineno}: label_int must be 0 or 1, got {rec['label_int']!r}")
            ctx = rec["context"]
            if not (isinstance(ctx, str) or (isinstance(ctx, list) and all(isinstance(c, str) for c in ctx))):
                raise InputError(f"{path}:{lineno}: context must be a string or a list of strings")
            if not (ctx.strip() if isinstance(ctx, str) else any(c.strip() for c in ctx)):
                raise InputError(
                    f"{path}:{lineno}: context is empty: there is nothing to check the response against"
                )
            size = len(ctx) if isinstance(ctx, str) else sum(len(c) for c in ctx)
            if size > MAX_CONTEXT_CHARS:
                raise InputError(
                    f"{path}:{lineno}: context is {size:,} characters; the limit is {MAX_CONTEXT_CHARS:,}"
                )
            if not isinstance(rec["response"], str) or not rec["response"].strip():
                raise InputError(f"{path}:{lineno}: response must be a non-empty string")
            rec.setdefault("id", f"line{lineno}")
            records.append(rec)
            if limit is not None and len(records) >= limit:
                break
    if not records:
        raise InputError(f"{path}: no records")
    return records


def passages_of(rec: dict[str, Any]) -> list[str]:
    ctx = rec["context"]
    return [ctx] if isinstance(ctx, str) else list(ctx)


# --- metrics ------------------------------------------------------------------------------------


def classification_metrics(labels: Sequence[int], p_hallucinated: Sequence[float], cutoff: float) -> dict:
    """BAcc, F1 (hallucinated), AUROC and the confusion matrix when `p_hallucinated > cutoff` flags."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(p_hallucinated, dtype=float)
    pred = (p > cutoff).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    both_classes = len(set(y.tolist())) == 2
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both_classes else None,
        "f1_hallucinated": float(f1_score(y, pred, pos_label=1, zero_division=0)),
        "auroc": float(roc_auc_score(y, p)) if both_classes else None,
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "recall_hallucinated": float(tp / (tp + fn)) if tp + fn else None,
        "false_positive_rate": float(fp / (fp + tn)) if fp + tn else None,
    }


def best_cutoff(labels: Sequence[int], p_hallucinated: Sequence[float]) -> float:
    """The P(hallucinated) cutoff with the highest balanced accuracy on these records (ties: the middle)."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(p_hallucinated, dtype=float)
    values = np.unique(p)
    # Cut between consecutive distinct scores, plus below the lowest.
    candidates = (
        np.concatenate([[values[0] - 1e-9], (values[:-1] + values[1:]) / 2]) if len(values) > 1 else values
    )
    best, best_bacc = float(candidates[0]), -1.0
    for c in candidates:
        bacc = balanced_accuracy_score(y, (p > c).astype(int))
        if bacc > best_bacc + 1e-12:
            best, best_bacc = float(c), bacc
    return best


def _recall(rows: Iterable[tuple[int, int]]) -> dict:
    rows = list(rows)
    flagged = sum(pred for _, pred in rows)
    return {"n": len(rows), "flagged": flagged, "rate": flagged / len(rows) if rows else None}


def breakdowns(records: Sequence[dict], predictions: Sequence[int]) -> dict:
    """The per-set figures the dev README asks for, from whichever fields the records carry."""
    out: dict[str, Any] = {}
    pairs = list(zip(records, predictions, strict=True))
    if any("stance" in r for r, _ in pairs):
        by_stance: dict[str, list] = defaultdict(list)
        for r, pred in pairs:
            by_stance[str(r.get("stance"))].append((r["label_int"], pred))
        # For hallucinated stances the rate is recall; for completely-support it is the false-positive rate.
        out["flag_rate_by_stance"] = {k: _recall(v) for k, v in sorted(by_stance.items())}
    if any("variant" in r for r, _ in pairs):
        hallu = [(r, pred) for r, pred in pairs if r["label_int"] == 1]
        real = [(r, pred) for r, pred in pairs if r.get("variant") == "real_continuation"]
        out["recall_hallucinated_continuation"] = _recall((1, p) for _, p in hallu)
        out["false_positive_rate_real_continuation"] = _recall((0, p) for _, p in real)
        by_spans: dict[str, list] = defaultdict(list)
        by_type: dict[str, list] = defaultdict(list)
        for r, pred in hallu:
            n = len(r.get("hallucinated_spans") or [])
            by_spans[str(n) if n < 4 else ">=4"].append((1, pred))
            by_type[str(r.get("news_type"))].append((1, pred))
        out["recall_by_hallucinated_spans"] = {k: _recall(v) for k, v in sorted(by_spans.items())}
        out["recall_by_news_type"] = {k: _recall(v) for k, v in sorted(by_type.items())}
    if any("response_verbatim_in_context" in r for r, _ in pairs):
        verbatim = [r["label_int"] for r, _ in pairs if r.get("response_verbatim_in_context")]
        copied = [r["label_int"] for r, _ in pairs if not r.get("response_verbatim_in_context")]
        if verbatim and copied and set(verbatim) == {0} and set(copied) == {1}:
            out["warning"] = (
                "Every grounded response is copied verbatim from its context and no hallucinated one is: a "
                "substring test scores BAcc 1.0 here, so BAcc/AUROC say nothing about paraphrased answers. "
                "Read this set as recall on subtle factual errors plus the false-positive rate on copied text."
            )
    return out


def evaluate(
    records: Sequence[dict],
    support: Sequence[float],
    threshold: float,
    ms: Sequence[float] | None = None,
    cpu_ms: Sequence[float] | None = None,
) -> dict:
    """Every figure for one checker on one set, plus the per-record rows."""
    labels = [int(r["label_int"]) for r in records]
    p_h = [1.0 - s for s in support]
    cutoff = 1.0 - threshold  # supported when support >= threshold  <=>  flagged when p_h > 1 - threshold
    at_setting = classification_metrics(labels, p_h, cutoff)
    preds = [int(p > cutoff) for p in p_h]
    oracle_cut = best_cutoff(labels, p_h)
    oracle = classification_metrics(labels, p_h, oracle_cut)
    report = {
        "n": len(records),
        "positives_hallucinated": sum(labels),
        "threshold": {"support_threshold": threshold, "source": "settings or --threshold"},
        "metrics": at_setting,
        "breakdown": breakdowns(records, preds),
        "best_threshold_on_these_records": {
            "support_threshold": round(1.0 - oracle_cut, 6),
            "note": "fitted and tested on the same records: optimistic",
            "metrics": oracle,
            "breakdown": breakdowns(records, [int(p > oracle_cut) for p in p_h]),
        },
        "records": [
            {
                "id": r["id"],
                "label_int": int(r["label_int"]),
                "support": round(float(s), 6),
                **({"ms": round(float(t), 2)} if ms is not None else {}),
            }
            for r, s, t in zip(records, support, ms if ms is not None else [None] * len(records), strict=True)
        ],
    }
    if ms is not None:
        report["ms_per_record"] = {
            "mean": float(np.mean(ms)),
            "p50": float(np.percentile(ms, 50)),
            "p95": float(np.percentile(ms, 95)),
        }
    if cpu_ms is not None:
        report["cpu_ms_per_record"] = {
            "mean": float(np.mean(cpu_ms)),
            "p50": float(np.percentile(cpu_ms, 50)),
        }
    return report


# --- the command --------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "check-grounding",
        help="measure a support checker on labelled JSONL (context, response, label_int)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--input", required=True, type=Path, nargs="+", help="JSON lines with context, response, label_int"
    )
    p.add_argument("--out", required=True, type=Path, help="where to write the JSON report")
    p.add_argument(
        "--checker",
        default=None,
        help="auto | lexical | embedding | bridge | crossencoder | llm | ensemble, or all: every checker side "
        "by side on every --input (default: settings)",
    )
    p.add_argument("--skip", nargs="*", default=[], help="with --checker all: checkers to leave out")
    p.add_argument(
        "--llm-limit",
        type=int,
        default=None,
        help="with --checker all: the LLM judge scores only the first N",
    )
    p.add_argument("--readme", type=Path, default=None, help="with --checker all: rewrite this file's table")
    p.add_argument("--limit", type=int, default=None, help="score only the first N records")
    p.add_argument("--threshold", type=float, default=None, help="support threshold (default: settings)")
    p.set_defaults(handler=run_check_grounding)
    return p


def score_records(checker, records: Sequence[dict]) -> tuple[list[float], list[float], list[float]]:
    """Support scores with wall-clock and process-CPU milliseconds per record.

    Each response is read as the gate reads an answer sentence: without its citation markers, bullet and
    bold marks (a "[3]" left in is a figure the passage lacks to the overlap checker: verbatim Chinese
    sentences of our answers scored 0.29 with it, 1.0 without).

    CPU time is reported beside wall time because the machines we measure on are shared: wall time
    swings with the other jobs, CPU time much less (a model using 2 threads shows ~2x wall)."""
    support, ms, cpu_ms = [], [], []
    for rec in tqdm(records, desc=f"check-grounding[{checker.name}]", unit="rec"):
        t0, c0 = time.perf_counter(), time.process_time()
        support.append(float(checker.score(claim_text(rec["response"]), passages_of(rec))))
        ms.append((time.perf_counter() - t0) * 1000.0)
        cpu_ms.append((time.process_time() - c0) * 1000.0)
    return support, ms, cpu_ms


def check_arguments(args: argparse.Namespace, settings) -> float:
    """The support threshold, after checking the arguments every mode shares (a clear error, no report)."""
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    threshold = settings.support_threshold if args.threshold is None else args.threshold
    if not 0.0 <= threshold <= 1.0:
        raise InputError("--threshold must be between 0 and 1")
    if args.checker is not None and args.checker not in (*CHECKER_NAMES, "all"):
        raise InputError(f"unknown checker {args.checker!r}; choose one of {', '.join(CHECKER_NAMES)} or all")
    return threshold


def run_check_grounding(args: argparse.Namespace) -> int:
    """One checker on one labelled file (`--checker all` is evals.grounding_all's)."""
    settings = get_settings()
    threshold = check_arguments(args, settings)
    if len(args.input) != 1:
        raise InputError("one --input per checker; several only with --checker all")
    args.input = args.input[0]
    records = load_records(args.input, args.limit)
    checker = make_checker(settings, name=args.checker) if args.checker else make_checker(settings)
    support, ms, cpu_ms = score_records(checker, records)
    report = {
        "input": args.input.name,
        "checker": checker.name,
        "checker_detail": getattr(checker, "describe", lambda: {})(),
        **evaluate(records, support, threshold, ms, cpu_ms),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(summary_line(report))
    return 0


def summary_line(report: dict) -> str:
    m, o = report["metrics"], report["best_threshold_on_these_records"]["metrics"]

    def f(x):
        return "n/a" if x is None else f"{x:.3f}"

    ms = report.get("ms_per_record", {}).get("mean")
    return (
        f"{report['checker']:<10} {report['input']:<28} n={report['n']:<4} "
        f"BAcc={f(m['balanced_accuracy'])} F1h={f(m['f1_hallucinated'])} AUROC={f(m['auroc'])} "
        f"(best-thr BAcc={f(o['balanced_accuracy'])}) "
        f"cm={m['confusion_matrix']}" + (f" {ms:.1f} ms/rec" if ms is not None else "")
    )
