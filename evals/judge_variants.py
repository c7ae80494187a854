"""Prompt variants of the LLM judge, side by side: `python -m evals judge-variants`.

Issue 13 asks whether the slower evaluation mode gains from yes/no token log-probabilities, few-shot
examples and calibration. Each variant asks the configured model (the offline 1.5B GGUF on the CPU) for one
first token per record and reads P(supported) from its log-probabilities, never from parsed text:

* ``labels``: the shipped judge (advisor/support_llm.py): SUPPORTED / NOT / CONTRADICTED;
* ``yesno``: "Is every part of the claim supported by the evidence?", P(Yes) over Yes + No;
* ``yesno-fewshot``: the same after five worked examples (invented here, none from a dev set: a supported
  fact, a contradicted date, a claim the evidence does not mention, a true claim with one added detail,
  a supported name) given as earlier turns, so llama.cpp's prompt cache keeps them;
* ``yesno-no-evidence``: the same question with no evidence: the model's prior belief in the claim. Read
  beside ``yesno`` it is contextual calibration: a judge that says "yes" to world knowledge it was not given.

Claim decomposition is not a variant: FactCheck-GPT's claims are already the atomic claims its authors cut.

Printed and saved: each variant's BAcc with a cross-validated threshold and AUROC (5 folds x 5 repeats,
evals/grounding_all.py), and two combinations fitted on four folds and scored on the fifth: the mean logit of
the three prompts that see the evidence, and a logistic over ``yesno`` and its no-evidence prior.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from advisor import label_index, logit, make_checker
from config import get_settings
from evals.cli import documented_command
from evals.grounding_all import cv_figures, ensemble_cv
from evals.grounding_check import load_records, passages_of

YES_NO = ("Yes", "No")
YES_NO_SYSTEM = "You check whether a claim is fully supported by the evidence. Answer Yes or No."
NO_EVIDENCE = "(no evidence given)"
SHOTS = (  # (evidence, claim, answer)
    (
        "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It is 330 metres tall.",
        "The Eiffel Tower was finished in 1889.",
        "Yes",
    ),
    (
        "Marie Curie was born in Warsaw in 1867. She won the Nobel Prize in Physics in 1903 and in "
        "Chemistry in 1911.",
        "Marie Curie won her first Nobel Prize in 1911.",
        "No",
    ),
    (
        "The Amazon River flows through Peru, Colombia and Brazil before reaching the Atlantic Ocean.",
        "The Amazon River is the longest river in the world.",
        "No",
    ),
    (
        "Python was created by Guido van Rossum and first released in 1991.",
        "Python was created by Guido van Rossum and first released in 1991 at Google.",
        "No",
    ),
    (
        "Apple was founded by Steve Jobs, Steve Wozniak and Ronald Wayne in April 1976 in Los Altos.",
        "Steve Wozniak co-founded Apple in 1976.",
        "Yes",
    ),
)


def yes_no_question(evidence: str, claim: str) -> str:
    return (
        f"Evidence:\n{evidence}\n\nClaim: {claim}\n\n"
        "Is every part of the claim supported by the evidence? Answer Yes or No."
    )


def yes_no_messages(
    evidence: str, claim: str, shots: Sequence[tuple[str, str, str]] = ()
) -> list[dict[str, str]]:
    messages: list[dict[str, str]] = [{"role": "system", "content": YES_NO_SYSTEM}]
    for shot_evidence, shot_claim, answer in shots:
        messages.append({"role": "user", "content": yes_no_question(f"[1] {shot_evidence}", shot_claim)})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": yes_no_question(evidence, claim)})
    return messages


def p_yes(top: dict[str, float]) -> float | None:
    """P(Yes) over the first-token mass on Yes and No ("yes", " YES" and "Y" count as Yes)."""
    mass = [0.0, 0.0]
    for token, logprob in top.items():
        i = label_index(token, YES_NO)
        if i is not None:
            mass[i] += float(np.exp(logprob))
    return mass[0] / sum(mass) if sum(mass) > 0 else None


def _evidence(passages: Sequence[str]) -> str:
    return "\n\n".join(f"[{i}] {p.strip()}" for i, p in enumerate(passages, 1))


class Judge(Protocol):
    """The shipped `llm` checker (advisor/support_llm.py): its score, and the model it asks."""

    generator: Any

    def score(self, claim: str, passages: Sequence[str]) -> float: ...


def _ask(judge: Judge, messages: list[dict[str, str]]) -> float | None:
    return p_yes(judge.generator.first_token_logprobs(messages, top_n=10))


Variant = Callable[[Judge, str, Sequence[str]], float | None]
VARIANTS: dict[str, Variant] = {
    "labels": lambda judge, claim, passages: judge.score(claim, passages),
    "yesno": lambda judge, claim, passages: _ask(judge, yes_no_messages(_evidence(passages), claim)),
    "yesno-fewshot": lambda judge, claim, passages: _ask(
        judge, yes_no_messages(_evidence(passages), claim, SHOTS)
    ),
    "yesno-no-evidence": lambda judge, claim, passages: _ask(
        judge, yes_no_messages(f"[1] {NO_EVIDENCE}", claim)
    ),
}
SEES_EVIDENCE = ("labels", "yesno", "yesno-fewshot")


def _logit(p: np.ndarray) -> np.ndarray:
    return np.array([logit(float(x)) for x in p])


def figures(y: np.ndarray, support: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Each variant's cross-validated figures, then the two combinations (unsupported = positive class)."""
    out = {name: cv_figures(y, 1 - s) for name, s in support.items()}
    seeing = [n for n in SEES_EVIDENCE if n in support]
    if len(seeing) > 1:
        mean_logit = np.mean([_logit(support[n]) for n in seeing], axis=0)
        out["mean logit of " + " + ".join(seeing)] = cv_figures(y, -mean_logit)
    if "yesno" in support and "yesno-no-evidence" in support:
        features = np.c_[_logit(support["yesno"]), _logit(support["yesno-no-evidence"])]
        out["logistic: yesno + its no-evidence prior"] = ensemble_cv(y, features)
    return out


def score_records(
    judge: Judge, records: Sequence[dict[str, Any]], variants: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """P(supported) per variant and record (0.5 where no label token came first), and ms per claim."""
    support: dict[str, np.ndarray] = {}
    ms: dict[str, float] = {}
    for name in variants:
        scores = []
        start = time.perf_counter()
        for rec in tqdm(records, desc=name, unit="claim"):
            p = VARIANTS[name](judge, rec["response"], passages_of(rec))
            scores.append(0.5 if p is None else p)
        support[name] = np.array(scores)
        ms[name] = 1000 * (time.perf_counter() - start) / max(1, len(records))
    return support, ms


def add_parser(subparsers) -> None:
    p = documented_command(
        subparsers, "judge-variants", "the LLM judge's prompt variants side by side", __doc__
    )
    p.add_argument("--input", type=Path, required=True, help="labelled JSONL (check-grounding's format)")
    p.add_argument("--out", type=Path, required=True, help="report JSON (scores per record and figures)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--limit", type=int, default=None, help="first N records only")
    p.set_defaults(handler=main)


def main(args) -> int:
    records = load_records(args.input, args.limit)
    settings = get_settings()
    judge = make_checker(settings, name="llm")  # the shipped judge and the model it drives
    if not getattr(judge, "uses_logprobs", False):
        print(f"error: the {settings.llm_backend} backend reports no first-token log-probabilities")
        return 2
    model = judge.describe().get("model", "?")
    support, ms = score_records(judge, records, args.variants)
    y = np.array([int(r["label_int"]) for r in records])
    report = {
        "input": args.input.name,
        "model": model,
        "n": len(records),
        "unsupported": int(y.sum()),
        "ms_per_claim": {k: round(v, 1) for k, v in ms.items()},
        "figures": figures(y, support),
        "records": [
            {
                "id": r.get("id"),
                "label_int": int(r["label_int"]),
                **{k: round(float(v[i]), 6) for k, v in support.items()},
            }
            for i, r in enumerate(records)
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{args.input.name}: {len(records)} claims ({int(y.sum())} unsupported), model {model}")
    for name, f in report["figures"].items():
        if f:
            print(
                f"  {name:45s} BAcc (CV) {f['bacc_cv_mean']:.3f} ± {f['bacc_cv_sd']:.3f}   "
                f"AUROC {f['auroc_cv_mean']:.3f} ± {f['auroc_cv_sd']:.3f}"
                + (f"   {ms[name]:.0f} ms/claim" if name in ms else "")
            )
    return 0
