"""A cross-language perturbation set for the support checkers: `python -m evals perturbation-set`.

Real answer sentences, labelled supported by reading, against the passages they cite in the other
language (English sentences of our answers against the Chinese playbook; Chinese ones against the
playbook's English renderings), each kept as written (supported) and edited once in a way that a founder
would act on wrongly (unsupported):

* ``number``    a figure changed (1000 -> 2000), or a figure the passage never gives added ("by 30%")
* ``unit``      a scale changed (million -> billion, 万 -> 亿)
* ``currency``  yuan written as dollars or the reverse
* ``entity``    a named company, tool, data set or framework replaced by another one of the playbook

The set is written once, seeded, and committed (evals/datasets/perturbations.jsonl); `check-grounding`
reads it like any labelled set. The operating point the issue asks for: recall on the edits >= 0.95 at a
false-positive rate on the originals <= 0.05.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from advisor import Renderings, claim_text
from evals.checker_pairs import _EN_SCALE, _NUMBER, _ZH_SCALE, as_claim, entities_of, swap_entity
from evals.checker_sources import ROOT, load_passages
from evals.cli import documented_command

SOURCES = (
    "answer_sentences.en.jsonl",
    "answer_sentences_final.en.jsonl",
    "answer_sentences_focus.en.jsonl",
    "answer_sentences.zh.jsonl",
)
DATASETS = ROOT / "evals" / "datasets"
OUT = DATASETS / "perturbations.jsonl"
SEED = 29
_EN_ADDED = [" by 30%", " within 6 months", " for about 2 million yuan", " in 2019"]
_ZH_ADDED = ["，提升30%", "，周期约6个月", "，投入约200万元", "（2019年）"]
_CURRENCY = {
    "en": [
        (r"(\d[\d,.]*)\s*(?:yuan|RMB)\b", r"$\1"),
        (r"\$\s?(\d[\d,.]*)", r"\1 yuan"),
        (r"\bdollars?\b", "yuan"),
    ],
    "zh": [("美元", "元"), ("元", "美元"), ("人民币", "美元")],
}


def _claim(response: str) -> str:
    return claim_text(as_claim(response))


def edits(claim: str, lang: str, entities: Sequence[str], rng: random.Random) -> dict[str, str]:
    """At most one edit of each kind the claim allows."""
    out: dict[str, str] = {}
    numbers = list(_NUMBER.finditer(claim))
    if numbers:
        m = rng.choice(numbers)
        value = float(m.group(1))
        new = str(int(value * 2) if value >= 1 else value * 2) if "." not in m.group(1) else f"{value * 2:g}"
        out["number"] = claim[: m.start(1)] + new + claim[m.end(1) :]
    else:
        stem = claim.rstrip("。.!！ ")
        out["number"] = (
            stem + rng.choice(_ZH_ADDED if lang == "zh" else _EN_ADDED) + ("。" if lang == "zh" else ".")
        )
    for a, b in _ZH_SCALE if lang == "zh" else _EN_SCALE:
        if a in claim and numbers:
            out["unit"] = claim.replace(a, b, 1)
            break
    else:
        if numbers:  # a scale the passage never gives: 5000 -> 5000万 / 5000 million
            m = numbers[-1]
            out["unit"] = claim[: m.end(1)] + ("万" if lang == "zh" else " million") + claim[m.end(1) :]
    for a, b in _CURRENCY[lang]:
        if (a in claim) if lang == "zh" else re.search(a, claim):
            out["currency"] = claim.replace(a, b, 1) if lang == "zh" else re.sub(a, b, claim, count=1)
            break
    else:
        if numbers:  # a currency the passage never gives: 1000 -> 1000美元 / $1000
            m = numbers[0]
            out["currency"] = (
                claim[: m.end(1)] + "美元" + claim[m.end(1) :]
                if lang == "zh"
                else claim[: m.start(1)] + "$" + claim[m.start(1) :]
            )
    swapped = swap_entity(claim, entities, rng)
    if swapped:
        out["entity"] = swapped
    return {k: v for k, v in out.items() if v != claim}


def build(sources: Iterable[Path], rng: random.Random) -> list[dict[str, Any]]:
    entities = entities_of(load_passages())
    english = Renderings(ROOT / "nonexistent-renderings.json", None)  # shipped + reviewed lines
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for path in sources:
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["label_int"] != 0:
                continue
            claim = _claim(rec["response"])
            if len(claim) < 12 or claim in seen:  # "MXNet；" is a list's fragment, not a claim
                continue
            seen.add(claim)
            lang = rec["lang"]
            # The other language's passages: Chinese for an English sentence, English for a Chinese one.
            context = list(rec["context"]) if lang == "en" else [english.render(c) for c in rec["context"]]
            base = {
                "source": path.name,
                "item": rec["id"],
                "lang": lang,
                "direction": f"{lang}->{'zh' if lang == 'en' else 'en'}",
            }
            rows.append(
                {
                    **base,
                    "id": f"{rec['id']}:original",
                    "edit": "original",
                    "context": context,
                    "response": claim,
                    "label_int": 0,
                }
            )
            for kind, edited in edits(claim, lang, entities, rng).items():
                rows.append(
                    {
                        **base,
                        "id": f"{rec['id']}:{kind}",
                        "edit": kind,
                        "context": context,
                        "response": edited,
                        "label_int": 1,
                    }
                )
    return rows


def add_parser(subparsers) -> None:
    p = documented_command(
        subparsers, "perturbation-set", "write the cross-language perturbation set", __doc__
    )
    p.add_argument("--out", type=Path, default=OUT)
    p.set_defaults(handler=main)


def main(args) -> int:
    rows = build([DATASETS / name for name in SOURCES], random.Random(SEED))
    with args.out.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row["edit"]] = kinds.get(row["edit"], 0) + 1
    print(f"wrote {len(rows)} records to {args.out.name}: {kinds}")
    return 0
