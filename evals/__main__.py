"""`python -m evals <command>`: one subcommand per evaluation.

Each command module adds its own subparser (`add_parser(subparsers)`) and sets `handler`, so adding a
command is one import and one call below.
"""

from __future__ import annotations

import argparse
import sys

from advisor import CheckerUnavailable
from evals import (
    attacks,
    baseline,
    checker_train,
    conversations,
    fit_align,
    fit_auto,
    fit_bridge,
    grounding_all,
    grounding_check,
    grounding_fit,
    grounding_table,
    judge_variants,
    perturbations,
    reader,
    readme_figures,
    rendered_sentences,
    run,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description="Founder Advisor evaluations.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    grounding_all.add_parser(subparsers)  # check-grounding, one checker or --checker all
    grounding_fit.add_fit_parser(subparsers)
    grounding_table.add_table_parser(subparsers)
    run.add_parser(subparsers)
    attacks.add_parser(subparsers)
    conversations.add_parser(subparsers)
    reader.add_parser(subparsers)
    fit_bridge.add_parser(subparsers)
    checker_train.add_parser(subparsers)
    judge_variants.add_parser(subparsers)
    fit_align.add_parser(subparsers)
    fit_auto.add_parser(subparsers)
    rendered_sentences.add_parser(subparsers)
    perturbations.add_parser(subparsers)
    baseline.add_parser(subparsers)
    readme_figures.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (grounding_check.InputError, CheckerUnavailable, baseline.BaselineError, *run.USER_ERRORS) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
