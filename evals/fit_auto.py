"""Calibrate the gate's ``auto`` checker: `python -m evals fit-auto --report ALL.json`.

`auto` routes a claim to one of three combinations: a Chinese sentence against its Chinese passage, an
English sentence against English text (the English renderings an English answer reads, an English
document), and across languages. Each combination is a logistic regression over its components' logits,
fitted on the answer sentences labelled by reading that `check-grounding --checker all` already scored
(their support scores are in its report; several reports are read together):

* same language:   lexical overlap + token alignment (``align``) on the Chinese answer sentences;
* English:         the same two on the English answer sentences against their passages' renderings
                   (answer_sentences_rendered.en.jsonl, `python -m evals render-sentences`);
* across languages: the dictionary bridge + token alignment on the English answer sentences.

Figures are cross-validated (5 stratified folds x 5 repeats, the cut chosen on four folds and applied to
the fifth): BAcc, AUROC, and the share of supported sentences kept. The weights written are then fitted on
all the records, with the intercept moved so that P = 0.5, the gate's threshold, falls at the cut that
keeps `--keep-same` / `--keep-english` / `--keep-cross` of the supported sentences (a removed correct sentence can turn an answer into a refusal).
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

from advisor import AUTO_ROUTES as ROUTES
from advisor import AUTO_WEIGHTS as WEIGHTS
from advisor import logit
from evals.cli import documented_command
from evals.grounding_check import load_records

DATASETS = Path(__file__).resolve().parent / "datasets"
SETS = {
    "same": ("answer_sentences.zh.jsonl", "answer_sentences_runs.zh.jsonl"),
    # The English sentences against the renderings their answers read (`python -m evals render-sentences`).
    "english": ("answer_sentences_rendered.en.jsonl",),
    "cross": (
        "answer_sentences.en.jsonl",
        "answer_sentences_final.en.jsonl",
        "answer_sentences_focus.en.jsonl",
    ),
}


def route_data(report: dict[str, Any], route: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): the route's components' logits of P(supported) and 1 = supported, over its sets."""
    xs, ys = [], []
    for name in SETS[route]:
        per = report["inputs"][name]
        labels = [int(r["label_int"]) for r in load_records(DATASETS / name)]
        support = [per[c]["support"] for c in ROUTES[route]]
        xs += [[logit(s[i]) for s in support] for i in range(len(labels))]
        ys += [1 - y for y in labels]
    return np.asarray(xs), np.asarray(ys)


def merged_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report whose sets are those of all `reports` (a set in several: the later report's scores)."""
    return {"inputs": {name: per for report in reports for name, per in report["inputs"].items()}}


def _cut(p: np.ndarray, y: np.ndarray, keep: float) -> float:
    """The highest P cut that still keeps `keep` of the supported records."""
    return float(np.quantile(p[y == 1], 1.0 - keep))


def cross_validate(x: np.ndarray, y: np.ndarray, keep: float) -> dict[str, float]:
    baccs, aurocs, kept, removed = [], [], [], []
    for train, test in RepeatedStratifiedKFold(n_splits=5, n_repeats=5, random_state=0).split(x, y):
        lr = LogisticRegression(class_weight="balanced", max_iter=2000).fit(x[train], y[train])
        cut = _cut(lr.predict_proba(x[train])[:, 1], y[train], keep)
        p = lr.predict_proba(x[test])[:, 1]
        pred = (p >= cut).astype(int)
        baccs.append(balanced_accuracy_score(y[test], pred))
        aurocs.append(roc_auc_score(y[test], p))
        kept.append(pred[y[test] == 1].mean())
        removed.append(1 - pred[y[test] == 0].mean())
    return {
        "bacc_mean": float(np.mean(baccs)),
        "bacc_sd": float(np.std(baccs)),
        "auroc_mean": float(np.mean(aurocs)),
        "auroc_sd": float(np.std(aurocs)),
        "supported_kept": float(np.mean(kept)),
        "unsupported_removed": float(np.mean(removed)),
    }


def fit(report: dict[str, Any], keeps: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "note": "written by `python -m evals fit-auto` from the scores of `check-grounding --checker all`",
    }
    for route in ROUTES:
        keep = keeps[route]
        x, y = route_data(report, route)
        lr = LogisticRegression(class_weight="balanced", max_iter=2000).fit(x, y)
        cut = _cut(lr.predict_proba(x)[:, 1], y, keep)
        out[route] = {
            "components": list(ROUTES[route]),
            "coef": [float(c) for c in lr.coef_[0]],
            "intercept": float(lr.intercept_[0]) - logit(cut),  # P = 0.5 where the fitted P was `cut`
            "n": len(y),
            "supported": int(y.sum()),
            "cv": cross_validate(x, y, keep),
            "sets": list(SETS[route]),
            "keep_supported": keep,
        }
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = documented_command(subparsers, "fit-auto", "calibrate the gate's auto checker (CV)", __doc__)
    p.add_argument(
        "--report",
        type=Path,
        nargs="+",
        required=True,
        help="the JSON of `check-grounding --checker all` (several: their sets together, the later first)",
    )
    # Within a language the gate keeps more: Chinese answers copy their passages, unsupported sentences are
    # rare there, and a removed correct one leaves a list short; across languages 0.9, the bridge's point.
    p.add_argument("--keep-same", type=float, default=0.98, help="supported sentences kept, same language")
    p.add_argument("--keep-cross", type=float, default=0.9, help="supported sentences kept, across languages")
    p.add_argument(
        "--keep-english", type=float, default=0.9, help="supported sentences kept, English against renderings"
    )
    p.add_argument("--write", action="store_true", help=f"write {WEIGHTS.name}")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    weights = fit(
        merged_reports([json.loads(path.read_text(encoding="utf-8")) for path in args.report]),
        {"same": args.keep_same, "english": args.keep_english, "cross": args.keep_cross},
    )
    for route in ROUTES:
        cv = weights[route]["cv"]
        print(
            f"{route:<7} {'+'.join(ROUTES[route]):<14} n={weights[route]['n']} BAcc {cv['bacc_mean']:.3f} ± "
            f"{cv['bacc_sd']:.3f}  AUROC {cv['auroc_mean']:.3f} ± {cv['auroc_sd']:.3f}  supported kept "
            f"{cv['supported_kept']:.3f}, unsupported removed {cv['unsupported_removed']:.3f}"
        )
    if args.write:
        WEIGHTS.write_text(json.dumps(weights, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {WEIGHTS}")
    return 0
