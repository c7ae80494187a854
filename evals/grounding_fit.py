"""`python -m evals fit-ensemble`: fit the ensemble checker's weights on stored check-grounding reports and
validate them across sets (cross-validated within each set, and held out on the sets a model was not fitted
on); writes advisor/support_ensemble.json, which `make_checker(name="ensemble")` reads."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from advisor import EnsembleModel
from config import get_settings
from evals.grounding_check import InputError, evaluate, load_records

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
