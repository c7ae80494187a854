"""What every `python -m evals` subcommand shares: a parser whose --help shows its module's docstring."""

from __future__ import annotations

import argparse


def documented_command(subparsers: argparse._SubParsersAction, name: str, help: str, doc: str | None):
    """Add subcommand `name`; its --help prints `doc` (the module docstring) with its line breaks kept."""
    return subparsers.add_parser(
        name, help=help, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
