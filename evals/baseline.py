"""Small committed baselines: what a regression comparison needs from a past run, without its rows.

A full report (every row, answer, passage, plot) is hundreds of kilobytes and lives under the ignored data
folder (evals/records.py). A baseline keeps its metadata (minus the settings, which hold machine paths), its
summary and one outcome id per case, e.g. ``answered/clean``, ``refused:not_covered``, ``gold@3`` or
``held/canary``: enough for `compare()` (headline figures, which cases both runs measured) and for the
attack tracking (successes and canary leaks per case).

    python -m evals baseline REPORT.json [--out evals/baselines/full.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from config import PROJECT_ROOT
from evals.cli import documented_command

BASELINE_DIR = PROJECT_ROOT / "evals" / "baselines"
FORMAT = "evals-baseline/1"


class BaselineError(ValueError):
    """A baseline that cannot be read, or a report that cannot become one."""


# Outcomes of cases that produced no figure: they do not make two runs' case sets differ.
UNMEASURED = frozenset({"skipped", "error"})


def baseline_path(kind: str) -> Path:
    """The committed baseline a run of this kind is compared with by default: full, retrieval or attacks."""
    return BASELINE_DIR / f"{kind}.json"


def outcome_id(row: dict[str, Any]) -> str:
    """One short id for what happened to a case, built from the row's own fields."""
    measured = "rr" in row or "refused" in row or "injection_success" in row
    if not measured:
        return "error" if "error" in row else "skipped"
    parts: list[str] = []
    if "refused" in row:
        parts.append(f"refused:{row.get('refusal_reason') or 'other'}" if row["refused"] else "answered")
        if row.get("reader_verdict"):
            parts.append(str(row["reader_verdict"]))
    else:  # retrieval only: where the first gold passage ranked
        parts.append(f"gold@{row['gold_rank']}" if row.get("gold_rank") else "miss")
    if "injection_success" in row:
        parts.append("injected" if row["injection_success"] else "held")
        if row.get("leaked_canary"):
            parts.append("canary")
    if "error" in row:
        parts.append("error")
    return "/".join(parts)


def outcomes(result: dict[str, Any]) -> dict[str, str]:
    """Case id -> outcome id, from a full report's rows or a baseline's table."""
    if "outcomes" in result:
        return dict(result["outcomes"])
    return {row["id"]: outcome_id(row) for row in result.get("rows", [])}


def measured_ids(result: dict[str, Any]) -> set[str]:
    return {case for case, outcome in outcomes(result).items() if outcome not in UNMEASURED}


def make_baseline(report: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in report.get("meta", {}).items() if k != "settings"}
    return {"format": FORMAT, "meta": meta, "summary": report["summary"], "outcomes": outcomes(report)}


def read_comparable(path: Path | None, *, explicit: bool) -> dict[str, Any] | None:
    """A baseline or a full report to compare with; a missing or unreadable one is an error only when the
    caller named it (the default baseline may not exist yet on a fork)."""
    if path is None or (not explicit and not Path(path).exists()):
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(f"cannot read the baseline {path}: {exc}") from exc


def write_baseline(report: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(make_baseline(report), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return out


def changed_outcomes(current: dict[str, Any], previous: dict[str, Any]) -> dict[str, list[str]]:
    """Cases both runs measured whose outcome differs: id -> [before, after]."""
    now, before = outcomes(current), outcomes(previous)
    shared = sorted(set(now) & set(before) - _unmeasured(now, before))
    return {case: [before[case], now[case]] for case in shared if now[case] != before[case]}


def _unmeasured(*tables: dict[str, str]) -> set[str]:
    return {case for table in tables for case, outcome in table.items() if outcome in UNMEASURED}


# --- the command -------------------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = documented_command(
        subparsers, "baseline", "make a small committed baseline from a full report", __doc__
    )
    p.add_argument("report", type=Path, help="a full report.json (from `evals run` or `evals attacks`)")
    p.add_argument("--out", type=Path, help="where to write it (default: evals/baselines/<kind>.json)")
    p.set_defaults(handler=main)


def report_kind(report: dict[str, Any]) -> str:
    meta = report.get("meta", {})
    if "mode" not in meta:
        return "attacks"
    return "retrieval" if meta["mode"] == "retrieval-only" else "full"


def main(args: argparse.Namespace) -> int:
    report = read_comparable(args.report, explicit=True)
    if report is None or "rows" not in report:
        raise BaselineError(f"{args.report} is not a full report (it has no rows)")
    if report.get("meta", {}).get("limit"):
        raise BaselineError(f"{args.report} is a --limit run: a baseline must measure every case")
    written = write_baseline(report, args.out or baseline_path(report_kind(report)))
    print(f"wrote {written} ({len(outcomes(report))} cases)")
    return 0
