"""Command line: ``python -m indexing build [--rebuild] [PATH...] | add PATH... | status [--json] |
list [--json] | remove [--force] PATH...``.

Settings come from the environment (FA_* variables, FA_PROFILE), like everywhere else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from config import get_settings
from indexing.build import add_documents, build_index, format_outcomes, index_status
from indexing.manage import list_documents, remove_documents, source_name_for


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
        views = status["bilingual_views"]
        print(f"bilingual views: {'on' if views['on'] else 'off'} — {views['reason']}")
    for source, spans in status.get("cut_for_the_model", {}).items():
        print(
            f"cut from {source} before a model reads it ({len(spans)} span(s) addressed to an AI or hidden):"
        )
        for span in spans:
            print(f"  - {span if len(span) <= 100 else span[:99] + '…'}")
    pending = status["pending"]
    if any(pending.values()):
        print(
            "knowledge folder changed since the last build (run `python -m indexing build`): "
            + ", ".join(f"{k}: {', '.join(v)}" for k, v in pending.items() if v)
        )
    else:
        print("knowledge folder and index agree")
    return 0 if "error" not in status else 1


def _cmd_list(args: argparse.Namespace) -> int:
    listing = list_documents(get_settings())
    if args.json:
        print(json.dumps(listing.as_dict(), ensure_ascii=False, indent=2))
        return 0
    print(f"index: {listing.index_dir}  (embedder {listing.embedder_id}, built {listing.built_at})")
    for doc in listing.documents:
        built_in = "  [built-in]" if doc.built_in else ""
        print(f"  {doc.chunks:6d}  {doc.source}  — {doc.title} ({doc.lang}, {doc.format}){built_in}")
    print(f"  {listing.total_chunks:6d}  chunks in {len(listing.documents)} documents")
    return 0


def _cmd_remove(args: argparse.Namespace) -> int:
    settings = get_settings()
    names = [source_name_for(settings, given) for given in args.paths]  # all checked before any change
    print(remove_documents(settings, names, force=args.force, progress=True).summary())
    return 0


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
    listing = sub.add_parser("list", help="the documents in the index, with chunk counts")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_cmd_list)
    remove = sub.add_parser(
        "remove", help="delete documents from the knowledge folder and their chunks from the index"
    )
    remove.add_argument("paths", nargs="+", help="files in the knowledge folder, or their names in the index")
    remove.add_argument("--force", action="store_true", help="also remove the built-in playbook")
    remove.set_defaults(func=_cmd_remove)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (RuntimeError, ValueError, OSError) as exc:  # includes IndexLoadError: its message names the fix
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
