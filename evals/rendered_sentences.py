"""The English answer sentences against the passages as an English answer reads them: `python -m evals
render-sentences`.

An English answer is written from the English renderings of the playbook's lines (advisor/renderings.py),
and the gate holds each of its sentences to that text (advisor/ground.py). The labelled English answer
sentences (answer_sentences*.en.jsonl) carry the Chinese passages; this writes the same records with each
passage replaced by its rendering, as shipped with the code (the model's renderings and the reviewed
ones, which take precedence), so that the gate's English route is calibrated and measured on what it
scores (`fit-auto`, `check-grounding --checker all`). A label says whether the passages support the
sentence; a rendering is a checked translation of them, so the label holds for it.

Lines without a shipped rendering stay Chinese (the gate sees them so too); the count is printed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from advisor import Renderings, shipped_renderings
from evals.cli import documented_command
from evals.grounding_check import load_records, passages_of

DATASETS = Path(__file__).resolve().parent / "datasets"
SOURCES = ("answer_sentences.en.jsonl", "answer_sentences_final.en.jsonl", "answer_sentences_focus.en.jsonl")
RENDERED = DATASETS / "answer_sentences_rendered.en.jsonl"


def rendered_records(
    records: Sequence[dict[str, Any]], renderings: Renderings
) -> tuple[list[dict[str, Any]], int]:
    """(the records with every passage rendered, how many still hold a line without a rendering)."""
    out, partial = [], 0
    for rec in records:
        passages = passages_of(rec)
        partial += bool(renderings.missing(passages))
        out.append({**rec, "context": [renderings.render(p) for p in passages], "rendered_from": rec["id"]})
    return out, partial


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = documented_command(
        subparsers, "render-sentences", "the English answer sentences against rendered passages", __doc__
    )
    p.add_argument("--out", type=Path, default=RENDERED, help=f"default: {RENDERED.name} in evals/datasets")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    records = [rec for name in SOURCES for rec in load_records(DATASETS / name)]
    rendered, partial = rendered_records(records, shipped_renderings())
    args.out.write_text(
        "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in rendered), encoding="utf-8"
    )
    print(f"wrote {len(rendered)} records to {args.out} ({partial} with a line left in Chinese)")
    return 0
