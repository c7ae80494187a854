"""Fit and validate the cross-language support checker: `python -m evals fit-bridge`.

Input: English answer sentences of the advisor's own answers, each labelled by reading as supported or
not by the Chinese passages it was written from (check-grounding format: `context` = the passages,
`response` = the sentence, `label_int` 1 = unsupported). Features per sentence: dictionary coverage and
the e5 cosine (advisor/support_bridge.py). Three logistic models are compared by repeated stratified
5-fold cross-validation — never scored on the records they were fitted on:

* cosine only (what the `auto` checker used across languages before),
* coverage only,
* coverage + cosine (the bridge).

For each, BAcc at P(supported) = 0.5 with balanced class weights and AUROC, mean ± sd over the folds.
With --write-weights the bridge model is refitted on all records and saved for the advisor.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold

from advisor import BridgedChecker, get_settings, make_checker
from evals.grounding_check import load_records, passages_of

MODELS = {"cosine": [1], "coverage": [0], "coverage+cosine": [0, 1]}


def features(records: list[dict[str, Any]]) -> np.ndarray:
    bridge = BridgedChecker(make_checker(get_settings(), name="embedding"))
    return np.array([bridge.features(r["response"], passages_of(r)) for r in records], dtype=float)


def cross_validate(x: np.ndarray, y_supported: np.ndarray, folds: int = 5, repeats: int = 5) -> dict:
    out: dict[str, Any] = {}
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=20261204)
    for name, cols in MODELS.items():
        baccs, aucs = [], []
        for train, test in cv.split(x, y_supported):
            lr = LogisticRegression(class_weight="balanced", max_iter=1000).fit(
                x[train][:, cols], y_supported[train]
            )
            p = lr.predict_proba(x[test][:, cols])[:, 1]
            # the positive class of the dev-set convention is "unsupported": BAcc is symmetric, AUROC uses 1 - p
            baccs.append(balanced_accuracy_score(y_supported[test], (p >= 0.5).astype(int)))
            aucs.append(roc_auc_score(1 - y_supported[test], 1 - p))
        out[name] = {
            "bacc_mean": float(np.mean(baccs)),
            "bacc_sd": float(np.std(baccs)),
            "auroc_mean": float(np.mean(aucs)),
            "auroc_sd": float(np.std(aucs)),
        }
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit-bridge",
        help="cross-validate (and fit) the English-vs-Chinese support checker on labelled answer sentences",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--input", required=True, type=Path, help="labelled sentences (check-grounding JSONL)")
    p.add_argument("--out", type=Path, default=None, help="write the validation report here (JSON)")
    p.add_argument("--write-weights", type=Path, default=None, help="write the bridge's weights here (JSON)")
    p.add_argument("--folds", type=int, default=5)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    records = load_records(args.input)
    x = features(records)
    y = np.array([1 - int(r["label_int"]) for r in records])  # 1 = supported
    report = {
        "input": str(args.input),
        "n": len(records),
        "supported": int(y.sum()),
        "cv": cross_validate(x, y, folds=args.folds),
    }
    print(f"{report['n']} sentences ({report['supported']} supported), {args.folds}-fold CV x 5 repeats")
    for name, m in report["cv"].items():
        print(
            f"  {name:<16} BAcc {m['bacc_mean']:.3f} ± {m['bacc_sd']:.3f}   AUROC {m['auroc_mean']:.3f} ± {m['auroc_sd']:.3f}"
        )
    if args.write_weights:
        lr = LogisticRegression(class_weight="balanced", max_iter=1000).fit(x, y)
        weights = {
            "intercept": float(lr.intercept_[0]),
            "coverage": float(lr.coef_[0][0]),
            "cosine": float(lr.coef_[0][1]),
        }
        args.write_weights.write_text(
            json.dumps(
                {"note": "written by `python -m evals fit-bridge`", "input": str(args.input), **weights},
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
        report["weights"] = weights
        print(f"  weights -> {args.write_weights}: {weights}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0
