"""Build a labelled answer set: a real run's answers joined with the labels read by hand.

    python -m evals.labeling.build RUN_REPORT.json [--labels labels] [--out evals/datasets/answer_labels.jsonl]
    python -m evals.labeling.build RUN_REPORT.json --sentences sentences_final --out SENTENCES.jsonl

Labels come from evals/labeling/<labels>.{zh,en}.jsonl (one line per answer: verdict, defect classes, one
line of reason; read against RUBRIC.md). The passages the answers were written from are stored once in a
sidecar (<out>.sections.json: passage id -> text), so the reader's detectors (evals/reader.py) can be
re-validated offline, without a model or an index, whenever they change. A run whose rows carry their
passages' texts (`passages`, since the grammar-shaped answers) stores those; an older run's rows name
only the retrieved sections, whose texts are cut from knowledge/playbook.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

from config import PROJECT_ROOT

HERE = Path(__file__).resolve().parent
DATASETS = HERE.parent / "datasets"
# The run-row fields the detectors read, besides the answer itself.
KEEP = (
    "id",
    "dataset",
    "lang",
    "kind",
    "topic",
    "question",
    "should_refuse",
    "gold_sections",
    "standalone_question",
    "text",
    "refused",
    "refusal_reason",
    "retrieved",
    "cited_sections",
    "key_facts_found",
    "key_fact_recall",
    "cites_gold",
    "language_ok",
    "sentence_supported",
    "injection_success",
    "leaked_canary",
)


def section_texts(playbook: Path) -> dict[str, str]:
    """Section number ("5.3.2") -> its text, heading to the next heading of the same or a higher level."""
    text = playbook.read_text(encoding="utf-8")
    heads = [(m.start(), len(m.group(1)), m.group(2)) for m in re.finditer(r"^(#{2,4}) (.+)$", text, re.M)]
    out = {}
    for i, (pos, level, title) in enumerate(heads):
        end = next((p for p, lv, _ in heads[i + 1 :] if lv <= level), len(text))
        out[title.split()[0]] = text[pos:end].strip()
    return out


def build_sentences(report: dict, labels_file: Path, lang: str, out: Path) -> int:
    """The gate's sentences of a run joined with their labels, in check-grounding format."""
    from evals.labeling.export import sentence_records

    labels = [json.loads(x) for x in labels_file.read_text(encoding="utf-8").splitlines() if x.strip()]
    by_sid = {x["sid"]: x for x in labels}
    records = [
        s for r in report["rows"] if r["lang"] == lang for s in sentence_records(r) if s["sid"] in by_sid
    ]
    if len(records) != len(by_sid):
        raise SystemExit(
            f"{labels_file}: {len(by_sid)} labels, but the run has {len(records)} of those sentences"
        )
    with out.open("w", encoding="utf-8") as fh:
        for s in records:
            label = by_sid[s["sid"]]
            ok = label["label"] == "supported"
            rec = {
                "id": s["sid"],
                "lang": lang,
                "question": s["question"],
                "context": [p["text"] for p in s["passages"]],
                "response": s["sentence"],
                "label": "grounded" if ok else "ungrounded",
                "label_int": 0 if ok else 1,
                "supporting_passage": label.get("passage"),
                "reason": label.get("reason", ""),
                "source_run": report["meta"]["started_at"],
            }
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--labels", default="labels", help="label files' prefix in evals/labeling/")
    parser.add_argument("--out", type=Path, default=DATASETS / "answer_labels.jsonl")
    parser.add_argument(
        "--sentences",
        metavar="PREFIX",
        help="build the sentence set instead: labels from evals/labeling/PREFIX.en.jsonl, written to --out",
    )
    args = parser.parse_args()
    report = json.loads(args.report.read_text(encoding="utf-8"))
    if args.sentences:
        n = build_sentences(report, HERE / f"{args.sentences}.en.jsonl", "en", args.out)
        print(f"wrote {args.out} ({n} sentences)")
        return
    labels = {}
    for lang in ("zh", "en"):
        for line in (HERE / f"{args.labels}.{lang}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                labels[row["id"]] = row
    sections = section_texts(PROJECT_ROOT / "knowledge" / "playbook.md")
    used: dict[str, str] = {}
    with args.out.open("w", encoding="utf-8") as fh:
        for row in report["rows"]:
            if row["id"] not in labels:
                continue  # skipped or errored cases were not labelled
            label = labels[row["id"]]
            out = {k: row[k] for k in KEEP if k in row}
            if row.get("passages"):
                ids = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:12] for t in row["passages"]]
                used.update(zip(ids, row["passages"], strict=True))
                out["passage_ids"] = ids
            else:
                for path in row.get("retrieved", []):
                    number = path.split(" › ")[-1].split()[0]
                    used[path] = sections.get(number, "")
                out["passage_ids"] = list(row.get("retrieved", []))
            out.update(
                label=label["verdict"],
                label_defects=label["defects"],
                label_reason=label["reason"],
                source_run=report["meta"]["started_at"],
            )
            fh.write(json.dumps(out, ensure_ascii=False) + "\n")
    sections_out = args.out.with_suffix(".sections.json")
    sections_out.write_text(json.dumps(used, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(labels)} answers) and {sections_out} ({len(used)} passages)")


if __name__ == "__main__":
    main()
