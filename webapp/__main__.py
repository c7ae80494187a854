"""Command line of the web layer.

    python -m webapp report [--weeks 12] [--out DIR]    # what founders ask: CSV files + report.html

The store is the one the settings name (FA_STORE_URL, or SQLite in the data folder): run it on any
replica, or on a machine that can reach the PostgreSQL server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config import get_settings
from webapp.report import build_report, index_sections, since_weeks, write_report
from webapp.store import EventStore, StoreConfigError, StoreUnavailable, open_event_store

EXIT_STORE = 2  # the store cannot be read (or its URL is unusable)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", help="What founders ask: refused questions, thumbs-down answers, cited sections, by week."
    )
    report.add_argument("--weeks", type=int, default=12, help="How many weeks back (default 12).")
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        help="Folder for the CSV files and report.html (default <data_dir>/report).",
    )
    args = parser.parse_args(argv)
    if args.weeks < 1:
        parser.error(f"--weeks must be at least 1, not {args.weeks}")

    settings = get_settings()
    out = args.out or settings.data_dir / "report"
    try:
        store = open_event_store(settings)
    except StoreConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STORE
    try:
        return _report(store, settings.index_dir, out, args.weeks)
    finally:
        store.close()


def _report(store: EventStore, index_dir: Path, out: Path, weeks: int) -> int:
    since = since_weeks(weeks)
    try:
        events = store.read(since)
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STORE
    report = build_report(events, index_sections=index_sections(index_dir), since=since)
    for path in write_report(report, out):
        print(path)
    answers = sum(w.answers for w in report.weeks)
    refused = sum(w.refused for w in report.weeks)
    print(
        f"{answers} answers ({refused} refused), {len(report.thumbs_down)} thumbs-down, "
        f"over {len(report.weeks)} week(s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
