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

The gate's errors do not cost the same: removing a correct sentence can turn a good answer into a false
refusal, keeping an unsupported one leaves a defect. So the shipped model is operated where a chosen
share of supported sentences passes (`--keep-supported`, 0.9): the cutoff is found on each training fold
and applied to its test fold (reported as kept / removed), and the saved intercept is shifted so that the
gate's P = 0.5 sits at that cutoff on all records. With --write-weights the bridge model is refitted on
all records and saved for the advisor.
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
from evals.cli import documented_command
from evals.grounding_check import load_records, passages_of

MODELS = {"cosine": [1], "coverage": [0], "coverage+cosine": [0, 1]}


def features(records: list[dict[str, Any]]) -> np.ndarray:
    bridge = BridgedChecker(make_checker(get_settings(), name="embedding"))
    return np.array([bridge.features(r["response"], passages_of(r)) for r in records], dtype=float)


def _cutoff(p_supported: np.ndarray, y_supported: np.ndarray, keep: float) -> float:
    """The P(supported) cutoff at which `keep` of the supported sentences pass."""
    return float(np.quantile(p_supported[y_supported == 1], 1 - keep))


def _operating_point(x, y, cv, keep: float) -> tuple[float, float]:
    kept, removed = [], []
    for train, test in cv.split(x, y):
        lr = LogisticRegression(class_weight="balanced", max_iter=1000).fit(x[train], y[train])
        cut = _cutoff(lr.predict_proba(x[train])[:, 1], y[train], keep)
        p = lr.predict_proba(x[test])[:, 1]
        kept.append(np.mean(p[y[test] == 1] >= cut))
        removed.append(np.mean(p[y[test] == 0] < cut))
    return float(np.mean(kept)), float(np.mean(removed))


def cross_validate(
    x: np.ndarray, y_supported: np.ndarray, folds: int = 5, repeats: int = 5, keep: float = 0.9
) -> dict:
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
        kept, removed = _operating_point(x[:, cols], y_supported, cv, keep)
        out[name] = {
            "supported_kept": kept,
            "unsupported_removed": removed,
            "bacc_mean": float(np.mean(baccs)),
            "bacc_sd": float(np.std(baccs)),
            "auroc_mean": float(np.mean(aucs)),
            "auroc_sd": float(np.std(aucs)),
        }
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = documented_command(
        subparsers,
        "fit-bridge",
        "cross-validate (and fit) the English-vs-Chinese support checker on labelled answer sentences",
        __doc__,
    )
    p.add_argument("--input", required=True, type=Path, help="labelled sentences (check-grounding JSONL)")
    p.add_argument("--out", type=Path, default=None, help="write the validation report here (JSON)")
    p.add_argument("--write-weights", type=Path, default=None, help="write the bridge's weights here (JSON)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument(
        "--keep-supported", type=float, default=0.9, help="share of supported sentences the gate keeps"
    )
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    records = load_records(args.input)
    x = features(records)
    y = np.array([1 - int(r["label_int"]) for r in records])  # 1 = supported
    report = {
        "input": str(args.input),
        "n": len(records),
        "supported": int(y.sum()),
        "keep_supported": args.keep_supported,
        "cv": cross_validate(x, y, folds=args.folds, keep=args.keep_supported),
    }
    print(f"{report['n']} sentences ({report['supported']} supported), {args.folds}-fold CV x 5 repeats")
    for name, m in report["cv"].items():
        print(
            f"  {name:<16} BAcc {m['bacc_mean']:.3f} ± {m['bacc_sd']:.3f}   AUROC {m['auroc_mean']:.3f} ± "
            f"{m['auroc_sd']:.3f}   at {args.keep_supported:.0%} kept: supported kept {m['supported_kept']:.3f}, "
            f"unsupported removed {m['unsupported_removed']:.3f}"
        )
    if args.write_weights:
        lr = LogisticRegression(class_weight="balanced", max_iter=1000).fit(x, y)
        cut = _cutoff(lr.predict_proba(x)[:, 1], y, args.keep_supported)
        # shift the intercept so that P = 0.5 (the gate's threshold) falls where P was `cut`
        shift = -float(np.log(cut / (1 - cut)))
        weights = {
            "intercept": float(lr.intercept_[0]) + shift,
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
