"""``python -m bench checker``: what the grounding gate pays per answer sentence, checker by checker.

The gate scores every sentence of an answer against the passages it cites as the model read them: an
English answer's against the playbook's English renderings, a Chinese answer's against the passages as
stored (advisor/ground.py _score); when that fails it tries the other passages. This replays the first part on the project's own labelled answer sentences (real sentences,
real passages) with each checker, one sentence at a time, cold cache or (``--warm``) after every
passage was read once as the app's start-up does (Advisor.warm_gate), and prints wall milliseconds per
sentence (p50 / p95) side by side, with the agreement with the labels at the shipped threshold. Sentences
run in their file's order, so passages cited again hit the checkers' caches as they do within an answer.
The issue's budget is 150 ms per sentence on the 2-core machine.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from evals.tables import markdown_table

DATASETS = Path(__file__).resolve().parent.parent / "evals" / "datasets"
SETS = ("answer_sentences_final.en.jsonl", "answer_sentences_runs.zh.jsonl")
_CITED = re.compile(r"\[(\d{1,2})\]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkers", nargs="+", default=["lexical", "bridge", "align", "auto"])
    parser.add_argument("--limit", type=int, default=120, help="sentences per set")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="read every passage of the sets through the checker before timing, as the app's warm-up "
        "(Advisor.warm_gate) reads every indexed passage at start: the figures a founder's answers see",
    )


def _cases(name: str, limit: int) -> list[tuple[str, list[str], int]]:
    from advisor import claim_text
    from evals.grounding_check import load_records

    out = []
    for rec in load_records(DATASETS / name, limit):
        cited = [int(n) for n in _CITED.findall(rec["response"]) if 1 <= int(n) <= len(rec["context"])]
        passages = [rec["context"][n - 1] for n in cited] or list(rec["context"])
        out.append((claim_text(rec["response"]), passages, int(rec["label_int"])))
    return out


def _warm(checker, cases, english) -> None:
    """Each distinct passage (and its English rendering) read once, as Advisor.warm_gate reads the index."""
    from advisor.support import warm_checker

    passages = dict.fromkeys(p for _, ps, _ in cases for p in ps)
    warm_checker(checker, [*passages, *(english.render(p) for p in passages if english is not None)])


def run(args: argparse.Namespace) -> int:
    from advisor import make_checker
    from advisor.renderings import Renderings
    from advisor.support import CheckerUnavailable
    from config import get_settings

    settings = get_settings()
    english = Renderings(settings.data_dir / "renderings" / "en.json", None)
    rows = []
    for name in args.checkers:
        try:
            checker = make_checker(settings, name=name)
        except CheckerUnavailable as exc:
            print(f"skipped {name}: {exc}")
            continue
        checker.score("warm-up", ["warm-up passage"])
        for set_name in SETS:
            ms, correct = [], []
            cases = _cases(set_name, args.limit)
            if args.warm:
                _warm(checker, cases, english if set_name.endswith(".en.jsonl") else None)
            for claim, passages, label in cases:
                if set_name.endswith(".en.jsonl"):  # an English answer is held to what it read
                    passages = [english.render(p) for p in passages]
                t0 = time.perf_counter()
                score = checker.score(claim, passages)
                ms.append((time.perf_counter() - t0) * 1000)
                correct.append((score < settings.support_threshold) == bool(label))
            y = np.array([label for _, _, label in cases])
            ok = np.array(correct)
            bacc = (ok[y == 1].mean() + ok[y == 0].mean()) / 2 if 0 < y.sum() < len(y) else float("nan")
            rows.append(
                [
                    name,
                    set_name,
                    str(len(ms)),
                    f"{np.percentile(ms, 50):.0f}",
                    f"{np.percentile(ms, 95):.0f}",
                    f"{bacc:.3f}",
                ]
            )
    print(f"cache: {'warm (every passage read first)' if args.warm else 'cold'}")
    print(
        "\n".join(
            markdown_table(["checker", "sentences", "n", "ms p50", "ms p95", "BAcc at threshold"], rows)
        )
    )
    return 0
