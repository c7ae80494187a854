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
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

from advisor import EnsembleModel, make_checker
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


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check-grounding",
        help="measure a support checker on labelled JSONL (context, response, label_int)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--input", required=True, type=Path, help="JSON lines with context, response, label_int")
    p.add_argument("--out", required=True, type=Path, help="where to write the JSON report")
    p.add_argument("--checker", default=None, help="lexical | embedding | llm | ensemble (default: settings)")
    p.add_argument("--limit", type=int, default=None, help="score only the first N records")
    p.add_argument("--threshold", type=float, default=None, help="support threshold (default: settings)")
    p.set_defaults(handler=run_check_grounding)


def score_records(checker, records: Sequence[dict]) -> tuple[list[float], list[float], list[float]]:
    """Support scores with wall-clock and process-CPU milliseconds per record.

    CPU time is reported beside wall time because the machines we measure on are shared: wall time
    swings with the other jobs, CPU time much less (a model using 2 threads shows ~2x wall)."""
    support, ms, cpu_ms = [], [], []
    for rec in tqdm(records, desc=f"check-grounding[{checker.name}]", unit="rec"):
        t0, c0 = time.perf_counter(), time.process_time()
        support.append(float(checker.score(rec["response"], passages_of(rec))))
        ms.append((time.perf_counter() - t0) * 1000.0)
        cpu_ms.append((time.process_time() - c0) * 1000.0)
    return support, ms, cpu_ms


def run_check_grounding(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be at least 1")
    threshold = settings.support_threshold if args.threshold is None else args.threshold
    if not 0.0 <= threshold <= 1.0:
        raise InputError("--threshold must be between 0 and 1")
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


# --- fitting the ensemble -----------------------------------------------------------------------

# In order of preference: EnsembleChecker uses the first one it can build. With the LLM judge the
# combination ranked best on the dev sets (evals/reports/grounding/README.md); without one (no model, or
# a fake in the test profile) the lexical + embedding pair is the fallback.
COMBINATIONS = (("lexical", "llm"), ("lexical", "embedding", "llm"), ("lexical", "embedding"))


def add_fit_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit-ensemble",
        help="fit the ensemble's weights on stored check-grounding reports and validate them across sets",
    )
    p.add_argument("--reports", nargs="+", required=True, type=Path, help="check-grounding JSON reports")
    p.add_argument("--data", nargs="+", required=True, type=Path, help="the JSONL sets those reports scored")
    p.add_argument("--out", required=True, type=Path, help="where to write the validation report (JSON)")
    p.add_argument(
        "--write-weights",
        type=Path,
        default=None,
        help=f"where to write the fitted models (the advisor reads {EnsembleModel.weights_path().name})",
    )
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    p.set_defaults(handler=run_fit_ensemble)


def _features(model_components: Sequence[str], rows: Sequence[dict[str, float]]) -> np.ndarray:
    return np.array([EnsembleModel.features(model_components, r) for r in rows], dtype=float)


def _fit(components: Sequence[str], rows: Sequence[dict[str, float]], labels: Sequence[int]) -> EnsembleModel:
    """Logistic regression of 'supported' on the components' log-odds, on rows the verbatim rule leaves."""
    keep = [i for i, r in enumerate(rows) if not EnsembleModel.rule_decides(r)]
    y = np.array([1 - labels[i] for i in keep])  # the model predicts P(supported)
    if len(set(y.tolist())) < 2:
        raise InputError("cannot fit: the training rows left after the verbatim rule hold only one class")
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(_features(components, [rows[i] for i in keep]), y)
    return EnsembleModel(tuple(components), tuple(float(w) for w in lr.coef_[0]), float(lr.intercept_[0]))


def _predict(model: EnsembleModel, rows: Sequence[dict[str, float]]) -> list[float]:
    return [model.combine(r) for r in rows]


def run_fit_ensemble(args: argparse.Namespace) -> int:
    threshold = get_settings().support_threshold
    records_by_set = {path.name: {r["id"]: r for r in load_records(path)} for path in args.data}
    scores: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))  # set -> id -> c
    for path in args.reports:
        rep = json.loads(path.read_text(encoding="utf-8"))
        if rep.get("input") not in records_by_set:
            raise InputError(f"{path}: scored {rep.get('input')!r}, which is not among --data")
        for row in rep["records"]:
            scores[rep["input"]][row["id"]][rep["checker"]] = float(row["support"])
    out: dict[str, Any] = {"threshold": threshold, "combinations": {}}
    fitted: list[EnsembleModel] = []
    for combo in COMBINATIONS:
        sets = {
            name: [(rid, s) for rid, s in rows.items() if all(c in s for c in combo)]
            for name, rows in scores.items()
        }
        sets = {name: rows for name, rows in sets.items() if rows}
        if not sets or not all(any(combo[-1] in s for s in scores[n].values()) for n in sets):
            continue
        entry: dict[str, Any] = {"n_by_set": {n: len(r) for n, r in sets.items()}}
        # A set whose rows left by the verbatim rule are all one class (UHGEval: every grounded response is
        # verbatim) cannot inform the weights; pooled in, it would teach its own artefact ("on-topic means
        # hallucinated"). Such sets are only tested on, by the model fitted on the others.
        trainable = {n for n, rows in sets.items() if _both_classes_left(rows, records_by_set[n])}
        if not trainable:
            continue
        entry["fitted_on"] = sorted(trainable)
        # 1) Cross-validated on the trainable rows: every prediction comes from a model that never saw it.
        pooled = [(n, rid, s) for n, rows in sets.items() if n in trainable for rid, s in rows]
        labels = [int(records_by_set[n][rid]["label_int"]) for n, rid, _ in pooled]
        oof = [0.0] * len(pooled)
        folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=0)
        for train, test in folds.split(np.zeros(len(pooled)), labels):
            m = _fit(combo, [pooled[i][2] for i in train], [labels[i] for i in train])
            for i in test:
                oof[i] = m.combine(pooled[i][2])
        final = _fit(combo, [p[2] for p in pooled], labels)
        entry["cross_validated"] = {
            n: _set_report(
                records_by_set[n],
                [(rid, p) for (sn, rid, _), p in zip(pooled, oof, strict=True) if sn == n],
                threshold,
            )
            for n in sorted(trainable)
        }
        # ... and the other sets, held out entirely: scored by the model fitted on all trainable rows.
        entry["held_out"] = {
            n: _set_report(records_by_set[n], [(rid, final.combine(s)) for rid, s in sets[n]], threshold)
            for n in sorted(set(sets) - trainable)
        }
        # 2) Fitted on one set, tested on the other (where the training set has both classes left).
        entry["train_on_one_test_on_other"] = {}
        for train_name in sets:
            for test_name in sets:
                if train_name == test_name:
                    continue
                train_rows = sets[train_name]
                try:
                    m = _fit(
                        combo,
                        [s for _, s in train_rows],
                        [int(records_by_set[train_name][rid]["label_int"]) for rid, _ in train_rows],
                    )
                except InputError as exc:
                    entry["train_on_one_test_on_other"][f"{train_name} -> {test_name}"] = {
                        "skipped": str(exc)
                    }
                    continue
                preds = [(rid, m.combine(s)) for rid, s in sets[test_name]]
                entry["train_on_one_test_on_other"][f"{train_name} -> {test_name}"] = _set_report(
                    records_by_set[test_name], preds, threshold
                )
        # 3) The shipped weights: fitted on all trainable rows (the figures above estimate them honestly).
        entry["final_model"] = final.to_dict()
        fitted.append(final)
        out["combinations"]["+".join(combo)] = entry
        for kind in ("cross_validated", "held_out"):
            for n, rep in entry[kind].items():
                print(f"{'+'.join(combo):<24} {n:<28} {kind}: " + _short(rep))
    if not fitted:
        raise InputError("no combination has scores from all its components: run check-grounding first")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if args.write_weights:
        weights = {
            "note": "written by `python -m evals fit-ensemble`; validation figures in " + args.out.name,
            "models": [m.to_dict() for m in fitted],
        }
        args.write_weights.write_text(json.dumps(weights, indent=1) + "\n", encoding="utf-8")
    return 0


def _both_classes_left(rows: Sequence[tuple[str, dict]], records: dict[str, dict]) -> bool:
    left = {int(records[rid]["label_int"]) for rid, s in rows if not EnsembleModel.rule_decides(s)}
    return left == {0, 1}


def _set_report(records: dict[str, dict], preds: Sequence[tuple[str, float]], threshold: float) -> dict:
    rep = evaluate([records[rid] for rid, _ in preds], [p for _, p in preds], threshold)
    rep.pop("records")
    return rep


def _short(rep: dict) -> str:
    m = rep["metrics"]
    f = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    return (
        f"n={rep['n']} BAcc={f(m['balanced_accuracy'])} F1h={f(m['f1_hallucinated'])} AUROC={f(m['auroc'])}"
    )


# --- the README table ---------------------------------------------------------------------------


def add_table_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "grounding-table", help="Markdown tables from check-grounding / fit-ensemble reports"
    )
    p.add_argument("--reports", nargs="+", required=True, type=Path, help="check-grounding JSON reports")
    p.add_argument("--ensemble", type=Path, default=None, help="a fit-ensemble report (cross-validated rows)")
    p.add_argument("--out", type=Path, default=None, help="write the Markdown here (default: print)")
    p.set_defaults(handler=run_grounding_table)


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _rate(d: dict | None) -> str:
    return "–" if not d or d.get("rate") is None else f"{d['rate']:.2f} ({d['flagged']}/{d['n']})"


def grounding_tables(reports: Sequence[dict], ensemble: dict | None = None) -> str:
    rows = [(r["checker"], r["input"], r) for r in reports]
    if ensemble:
        for combo, entry in ensemble["combinations"].items():
            for set_name, rep in entry["cross_validated"].items():
                rows.append((f"ensemble {combo} (CV)", set_name, rep))
            for set_name, rep in entry.get("held_out", {}).items():
                rows.append((f"ensemble {combo} (held out)", set_name, rep))
    lines = [
        "| checker | set | n | BAcc | F1 (halluc.) | AUROC | FP rate | best-thr BAcc* | ms/record (wall) | CPU ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, set_name, r in rows:
        m, o = r["metrics"], r["best_threshold_on_these_records"]["metrics"]
        lines.append(
            f"| {name} | {set_name} | {r['n']} | {_fmt(m['balanced_accuracy'])} | {_fmt(m['f1_hallucinated'])} | "
            f"{_fmt(m['auroc'])} | {_fmt(m['false_positive_rate'], 2)} | {_fmt(o['balanced_accuracy'])} | "
            f"{_fmt(r.get('ms_per_record', {}).get('mean'), 1)} | {_fmt(r.get('cpu_ms_per_record', {}).get('mean'), 1)} |"
        )
    lines += ["", "*best threshold fitted on the same records (optimistic).", ""]
    stance_rows = [(n, s, r) for n, s, r in rows if "flag_rate_by_stance" in r["breakdown"]]
    if stance_rows:
        lines += [
            "FactCheck-GPT: share flagged per stance (recall; for completely-support the false-positive rate)",
            "",
            "| checker | n | refute | partially-support | irrelevant | completely-support (FP) |",
            "|---|---|---|---|---|---|",
        ]
        for name, _, r in stance_rows:
            b = r["breakdown"]["flag_rate_by_stance"]
            lines.append(
                f"| {name} | {r['n']} | {_rate(b.get('refute'))} | {_rate(b.get('partially-support'))} | "
                f"{_rate(b.get('irrelevant'))} | {_rate(b.get('completely-support'))} |"
            )
        lines.append("")
    uhg_rows = [(n, s, r) for n, s, r in rows if "recall_by_hallucinated_spans" in r["breakdown"]]
    if uhg_rows:
        lines += [
            "UHGEval: recall on hallucinated continuations by number of wrong spans and news type; FP on real ones",
            "",
            "| checker | n | recall | 1 span | 2 | 3 | ≥4 | num | doc | gen | kno | FP real |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, _, r in uhg_rows:
            b = r["breakdown"]
            sp, ty = b["recall_by_hallucinated_spans"], b["recall_by_news_type"]
            lines.append(
                f"| {name} | {r['n']} | {_rate(b['recall_hallucinated_continuation'])} | "
                + " | ".join(_rate(sp.get(k)) for k in ("1", "2", "3", ">=4"))
                + " | "
                + " | ".join(_rate(ty.get(k)) for k in ("num", "doc", "gen", "kno"))
                + f" | {_rate(b['false_positive_rate_real_continuation'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def run_grounding_table(args: argparse.Namespace) -> int:
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in args.reports]
    ensemble = json.loads(args.ensemble.read_text(encoding="utf-8")) if args.ensemble else None
    text = grounding_tables(reports, ensemble)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0
