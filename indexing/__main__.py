"""Command line: ``python -m indexing build [--rebuild] [PATH...] | add PATH... | status [--json]``.

Settings come from the environment (FA_* variables, FA_PROFILE), like everywhere else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from config import get_settings
from indexing.build import add_documents, build_index, format_outcomes, index_status


def _cmd_build(args: argparse.Namespace) -> int:
    report = build_index(get_settings(), args.paths or None, rebuild=args.rebuild)
    print(report.summary())
    return 0


def _cmd_add(args: argparse.Namespace) -> int:
    settings = get_settings()
    added = add_documents(settings, args.paths)
    outcomes = added.outcomes()
    print(
        f"add: {len(outcomes)} files checked — {len(added.copied)} added, "
        f"{len(added.already_present)} already present, {len(added.refused)} refused"
    )
    print("\n".join(format_outcomes(outcomes)))
    if added.copied or args.build_anyway:
        print(build_index(settings).summary())
    return 1 if added.refused and not added.copied else 0


def _cmd_status(args: argparse.Namespace) -> int:
    status = index_status(get_settings())
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return 0 if "error" not in status else 1
    if "error" in status:
        print(status["error"])
    else:
        print(f"index: {status['index_dir']}")
        print(f"embedder: {status['embedder_id']} (dim {status['dim']}), {status['count']} chunks")
        print(f"last build: {status['built_at']}   chunking: {status['chunking']}")
        for source, count in status["sources"].items():
            print(f"  {count:6d}  {source}")
        for skip in status["skipped_at_build"]:
            print(f"  skipped {skip['source']}: {skip['reason']} — {skip['detail']}")
    pending = status["pending"]
    if any(pending.values()):
        print(
            "knowledge folder changed since the last build (run `python -m indexing build`): "
            + ", ".join(f"{k}: {', '.join(v)}" for k, v in pending.items() if v)
        )
    else:
        print("knowledge folder and index agree")
    return 0 if "error" not in status else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="incrementally (re)build the index from the knowledge folder")
    build.add_argument("paths", nargs="*", help="folders/files to index instead of the knowledge folder")
    build.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    build.set_defaults(func=_cmd_build)
    add = sub.add_parser("add", help="copy documents into the knowledge folder, then build")
    add.add_argument("paths", nargs="+", help="files or folders (.md .txt .html .pdf .docx)")
    add.add_argument("--build-anyway", action="store_true", help="build even when nothing new was copied")
    add.set_defaults(func=_cmd_add)
    status = sub.add_parser("status", help="what the index holds; what changed since")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_cmd_status)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (RuntimeError, ValueError, OSError) as exc:  # includes IndexLoadError: its message names the fix
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
