"""Carry reading labels over to a new run where the founder would read exactly the same thing.

    python -m evals.labeling.carry NEW_REPORT --from OLD_REPORT --labels OLD_NAME --out DIR

An answer whose question, text and passages are identical to a labelled answer of an earlier run gets that
label (its reason prefixed "carried from <run>:"); every other answer is exported for reading, in the
format of export.py. Writes DIR/carried.<lang>.jsonl and DIR/answers.<lang>.jsonl; the labels read for the
exported answers are then merged with the carried ones into evals/labeling/<name>.<lang>.jsonl (in the new
run's order) by `--merge NAME`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from evals.labeling.export import answer_record

HERE = Path(__file__).resolve().parent


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _seen(row: dict[str, Any], with_passages: bool = True) -> tuple:
    """What a reader judges: the question, the answer as shown, and the passages it was written from."""
    passages = tuple(row.get("passages") or ()) if with_passages else ()
    return (row["question"], row.get("text", ""), passages)


def old_rows_of(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """(the labelled run's rows, whether they hold the passages read): a report.json, or, when the run's
    report is not at hand (a fresh machine), the committed labelled set (evals/datasets/answer_labels_*.jsonl),
    which keeps each answer's question and text but not its passages' texts."""
    if path.suffix == ".jsonl":
        return _read_jsonl(path), False
    return json.loads(path.read_text("utf-8"))["rows"], True


def split(
    new_rows: list[dict],
    old_rows: list[dict],
    old_labels: dict[str, dict],
    run: str,
    with_passages: bool = True,
) -> tuple[list, list]:
    """(carried labels, rows to read) for the new run's rows, in order. Without the old passages
    (`with_passages` False) the question and the answer's text must be the same."""
    old = {r["id"]: r for r in old_rows}
    carried, to_read = [], []
    how = "" if with_passages else " (same question and text)"
    for row in new_rows:
        before = old.get(row["id"])
        label = old_labels.get(row["id"])
        if (
            before is not None
            and label is not None
            and _seen(before, with_passages) == _seen(row, with_passages)
        ):
            carried.append({**label, "reason": f"carried from {run}{how}: {label['reason']}"})
        else:
            to_read.append(row)
    return carried, to_read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument(
        "--from",
        dest="old",
        type=Path,
        required=True,
        help="the labelled run's report.json, or its labelled set evals/datasets/answer_labels_<NAME>.jsonl",
    )
    parser.add_argument("--labels", required=True, help="its labels: evals/labeling/<NAME>.<lang>.jsonl")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--merge", metavar="NAME", help="merge DIR/read.<lang>.jsonl with the carried labels")
    args = parser.parse_args()
    new_rows = [r for r in json.loads(args.report.read_text("utf-8"))["rows"] if "error" not in r]
    old_rows, with_passages = old_rows_of(args.old)
    args.out.mkdir(parents=True, exist_ok=True)
    for lang in sorted({r["lang"] for r in new_rows}):
        labels = {r["id"]: r for r in _read_jsonl(HERE / f"{args.labels}.{lang}.jsonl")}
        mine = [r for r in new_rows if r["lang"] == lang]
        carried, to_read = split(mine, old_rows, labels, args.labels, with_passages)
        if args.merge:
            read = {r["id"]: r for r in _read_jsonl(args.out / f"read.{lang}.jsonl")}
            given = {r["id"]: r for r in carried} | read
            missing = [r["id"] for r in mine if r["id"] not in given]
            if missing:
                raise SystemExit(f"{lang}: no label for {', '.join(missing)}")
            lines = [json.dumps(given[r["id"]], ensure_ascii=False) for r in mine]
            (HERE / f"{args.merge}.{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(
                f"{lang}: {len(carried)} carried + {len(read)} read -> evals/labeling/{args.merge}.{lang}.jsonl"
            )
            continue
        for name, records in (("carried", carried), ("answers", [answer_record(r) for r in to_read])):
            text = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in records)
            (args.out / f"{name}.{lang}.jsonl").write_text(text, encoding="utf-8")
        print(f"{lang}: {len(carried)} labels carried, {len(to_read)} answers to read -> {args.out}")


if __name__ == "__main__":
    main()
