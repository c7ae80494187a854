"""Export a run's answers for labelling by reading: `python -m evals.labeling.export REPORT --out DIR`.

Writes, per language, what a reader needs and nothing of the detectors' verdicts (so labels stay
independent of them):

* answers.<lang>.jsonl: one line per answer: id, dataset, question (and the conversation before it),
  whether the knowledge base should cover it and which sections do, the text as the founder saw it, whether it was refused,
  and the passages it was written from, numbered as the answer cites them;
* sentences.<lang>.jsonl: one line per sentence the grounding gate checked (removed ones included), with
  the passages, for the sentence labels of RUBRIC.md ("Sentence labels").

Label files are then written next to RUBRIC.md and joined with the run by `python -m evals.labeling.build`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def answer_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "dataset": row.get("dataset"),
        "question": row["question"],
        "history_turns": row.get("history_turns") or [],
        "should_refuse": row.get("should_refuse"),
        "gold_sections": row.get("gold_sections") or [],
        "answer": row.get("text", ""),
        "refused": row.get("refused", False),
        "passages": [{"n": i + 1, "text": t} for i, t in enumerate(row.get("passages") or [])],
    }


def sentence_records(row: dict[str, Any]) -> list[dict[str, Any]]:
    passages = [{"n": i + 1, "text": t} for i, t in enumerate(row.get("passages") or [])]
    return [
        {
            "sid": f"{row['id']}#{i}",
            "question": row["question"],
            "sentence": s["sentence"],
            "cited": s["cited"],
            "passages": passages,
        }
        for i, s in enumerate(row.get("gate_sentences") or [])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = json.loads(args.report.read_text(encoding="utf-8"))["rows"]
    args.out.mkdir(parents=True, exist_ok=True)
    for lang in sorted({r["lang"] for r in rows}):
        mine = [r for r in rows if r["lang"] == lang and "error" not in r]
        answers = [answer_record(r) for r in mine]
        sentences = [s for r in mine for s in sentence_records(r)]
        for name, records in (("answers", answers), ("sentences", sentences)):
            path = args.out / f"{name}.{lang}.jsonl"
            path.write_text(
                "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in records), encoding="utf-8"
            )
            print(f"wrote {path} ({len(records)})")


if __name__ == "__main__":
    main()
