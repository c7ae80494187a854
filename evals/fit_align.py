"""Fit the ``align`` checker's logistic regression: `python -m evals fit-align` (a few minutes, seeded).

Features (advisor/support_align.py) of the synthetic claim/evidence pairs of the knowledge base
(evals/checker_pairs.py, evals/checker_sources.py): supported = its lines and their checked translations,
unsupported = controlled edits. 15% of the passages are held out; the figures printed (and kept in the
weights file) are theirs. The labelled answer sentences and the public dev sets are never used here: they
judge the result (`python -m evals check-grounding --checker all`).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from tqdm import tqdm

from advisor import ALIGN_FEATURES as FEATURES
from advisor import ALIGN_WEIGHTS as WEIGHTS
from advisor import TokenEncoder, claim_features, e5_folder
from evals.checker_pairs import SUPPORTED, build_pairs
from evals.checker_sources import load_passages
from evals.checker_train import HELD_OUT, SEED, balance, split_groups
from evals.cli import documented_command


def featurise(encoder: TokenEncoder, pairs) -> tuple[np.ndarray, np.ndarray, list]:
    rows, labels, kept = [], [], []
    for pair in tqdm(pairs, desc="features", unit="pair"):
        f = claim_features(encoder, pair.claim, pair.evidence)
        if f is not None:
            rows.append(f)
            labels.append(pair.label)
            kept.append(pair)
    return np.asarray(rows), np.asarray(labels), kept


def fit(out: Path = WEIGHTS, seed: int = SEED) -> dict:
    encoder = TokenEncoder(e5_folder())
    pairs = build_pairs(load_passages(), seed=seed)
    train, valid = split_groups(pairs, HELD_OUT, seed)
    train = balance(train, seed)
    x, y, _ = featurise(encoder, train)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    lr = LogisticRegression(class_weight="balanced", max_iter=2000).fit((x - mean) / scale, y)
    xv, yv, kept = featurise(encoder, valid)
    p = lr.predict_proba((xv - mean) / scale)[:, 1]
    validation = {
        "n": len(yv),
        "auroc": round(float(roc_auc_score(1 - yv, 1 - p)), 3),
        "bacc_at_0.5": round(float(balanced_accuracy_score(yv, (p >= 0.5).astype(int))), 3),
    }
    for kind in sorted({q.kind for q in kept}):
        idx = [i for i, q in enumerate(kept) if q.kind == kind]
        ok = [(p[i] >= 0.5) == (kept[i].label == SUPPORTED) for i in idx]
        validation[f"{'kept' if kept[idx[0]].label == SUPPORTED else 'caught'} {kind}"] = round(
            sum(ok) / len(ok), 3
        )
    weights = {
        "about": "Logistic regression of the align checker (advisor/support_align.py), fitted by "
        "`python -m evals fit-align` on synthetic pairs of the knowledge base; validation = held-out passages.",
        "features": list(FEATURES),
        "coef": [round(float(c), 6) for c in lr.coef_[0]],
        "intercept": round(float(lr.intercept_[0]), 6),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "seed": seed,
        "pairs_fitted": len(y),
        "pairs_by_kind": dict(Counter(q.kind for q in train)),
        "held_out_validation": validation,
    }
    out.write_text(json.dumps(weights, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return weights


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = documented_command(subparsers, "fit-align", "fit the align checker on synthetic pairs", __doc__)
    p.add_argument("--out", type=Path, default=WEIGHTS)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    weights = fit(args.out)
    print(json.dumps(weights["held_out_validation"], indent=1))
    print(f"wrote {args.out}")
    return 0
