"""`python -m evals grounding-table`: the Markdown tables of check-grounding / fit-ensemble reports (the
figures in evals/reports/grounding/README.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from evals.tables import fixed, markdown_table

# --- the README table ---------------------------------------------------------------------------


def add_table_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "grounding-table", help="Markdown tables from check-grounding / fit-ensemble reports"
    )
    p.add_argument("--reports", nargs="+", required=True, type=Path, help="check-grounding JSON reports")
    p.add_argument("--ensemble", type=Path, default=None, help="a fit-ensemble report (cross-validated rows)")
    p.add_argument("--out", type=Path, default=None, help="write the Markdown here (default: print)")
    p.set_defaults(handler=run_grounding_table)


def _rate(d: dict | None) -> str:
    return "–" if not d or d.get("rate") is None else f"{d['rate']:.2f} ({d['flagged']}/{d['n']})"


def grounding_tables(reports: Sequence[dict], ensemble: dict | None = None) -> str:
    rows = [(r["checker"], r["input"], r) for r in reports]
    if ensemble:
        for combo, entry in ensemble["combinations"].items():
            for set_name, rep in entry["cross_validated"].items():
                rows.append((f"ensemble {combo} (CV)", set_name, rep))
            for set_name, rep in entry.get("held_out", {}).items():
                rows.append((f"ensemble {combo} (held out)", set_name, rep))
    lines = markdown_table(
        [
            "checker",
            "set",
            "n",
            "BAcc",
            "F1 (halluc.)",
            "AUROC",
            "FP rate",
            "best-thr BAcc*",
            "ms/record (wall)",
            "CPU ms",
        ],
        [_metrics_row(name, set_name, r) for name, set_name, r in rows],
    )
    lines += ["", "*best threshold fitted on the same records (optimistic).", ""]
    stance_rows = [(n, s, r) for n, s, r in rows if "flag_rate_by_stance" in r["breakdown"]]
    if stance_rows:
        lines += [
            "FactCheck-GPT: share flagged per stance (recall; for completely-support the false-positive rate)",
            "",
        ]
        stances = ("refute", "partially-support", "irrelevant", "completely-support")
        lines += markdown_table(
            ["checker", "n", "refute", "partially-support", "irrelevant", "completely-support (FP)"],
            [
                [name, r["n"], *(_rate(r["breakdown"]["flag_rate_by_stance"].get(k)) for k in stances)]
                for name, _, r in stance_rows
            ],
        )
        lines.append("")
    uhg_rows = [(n, s, r) for n, s, r in rows if "recall_by_hallucinated_spans" in r["breakdown"]]
    if uhg_rows:
        lines += [
            "UHGEval: recall on hallucinated continuations by number of wrong spans and news type; FP on real ones",
            "",
        ]
        lines += markdown_table(
            ["checker", "n", "recall", "1 span", "2", "3", "≥4", "num", "doc", "gen", "kno", "FP real"],
            [_uhgeval_row(name, r) for name, _, r in uhg_rows],
        )
        lines.append("")
    return "\n".join(lines)


def _metrics_row(name: str, set_name: str, r: dict) -> list[object]:
    m, o = r["metrics"], r["best_threshold_on_these_records"]["metrics"]
    return [
        name,
        set_name,
        r["n"],
        fixed(m["balanced_accuracy"]),
        fixed(m["f1_hallucinated"]),
        fixed(m["auroc"]),
        fixed(m["false_positive_rate"], 2),
        fixed(o["balanced_accuracy"]),
        fixed(r.get("ms_per_record", {}).get("mean"), 1),
        fixed(r.get("cpu_ms_per_record", {}).get("mean"), 1),
    ]


def _uhgeval_row(name: str, r: dict) -> list[object]:
    b = r["breakdown"]
    spans, types = b["recall_by_hallucinated_spans"], b["recall_by_news_type"]
    return [
        name,
        r["n"],
        _rate(b["recall_hallucinated_continuation"]),
        *(_rate(spans.get(k)) for k in ("1", "2", "3", ">=4")),
        *(_rate(types.get(k)) for k in ("num", "doc", "gen", "kno")),
        _rate(b["false_positive_rate_real_continuation"]),
    ]


def run_grounding_table(args: argparse.Namespace) -> int:
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in args.reports]
    ensemble = json.loads(args.ensemble.read_text(encoding="utf-8")) if args.ensemble else None
    text = grounding_tables(reports, ensemble)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0
