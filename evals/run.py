"""The answer-quality suite: run every case against a target, score it, summarise.

    python -m evals run [--dataset NAME ...] [--profile cpu|gpu|test] [--limit N] [--retrieval-only]
                        [--translate-queries] [--url http://host:port] [--checker NAME] [--baseline FILE]
                        [--out DIR]
    python -m evals run --retrieval-only --dataset added_docs   # an incubator's own documents (+ playbook)
    python -m evals run --dataset added_docs                    # the same, answered (~1 h on 2 cores)

One row per case (every figure the metrics need, plus the answer text), then a summary: retrieval per
language and topic, answer quality (key facts, faithfulness, ALCE citations), refusal, injection,
latency. `--dataset added_docs` adds the documents of evals/datasets/added_docs/ to a throw-away index
and measures them beside the playbook's answerable questions on that same index (evals/added_docs.py):
retrieval, and without --retrieval-only the answers too (answered or refused, citing the gold document). `report.py` turns that into report.json / report.html and compares it with a baseline: by
default the committed evals/baselines/full.json (retrieval.json with --retrieval-only).

The full report goes to DIR, by default a new folder per run under the ignored data folder
(.data/reports/evals-full/<UTC time>-<commit>/, evals-retrieval/ with --retrieval-only); its metadata
names the git commit, the settings and the machine. `python -m evals baseline DIR/report.json` turns a
complete run into the small baseline that git keeps.
"""

from __future__ import annotations

import argparse
import json
import math
import string
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from advisor import AdvisorSetupError, Settings, SupportChecker, build_advisor, get_settings, make_checker
from config import PROJECT_ROOT
from evals import added_docs, metrics, reader
from evals.baseline import baseline_path, read_comparable
from evals.cli import documented_command
from evals.datasets import (
    ADDED_DOCS,
    DATASET_NAMES,
    INJECTION_SETS,
    OPTIONAL_DATASETS,
    Case,
    DatasetError,
    load_datasets,
)
from evals.injection_index import injected_target_or_reason
from evals.records import default_run_dir, run_metadata
from evals.sentences import cited_sentences
from evals.summary import summarise
from evals.targets import HttpTarget, LocalTarget, RemoteError, Reply, Target

# Errors whose message tells the user what to fix: printed without a traceback by `python -m evals`.
USER_ERRORS = (DatasetError, AdvisorSetupError, RemoteError)

KS = (1, 3, 5)


# --- the judge --------------------------------------------------------------------------------


@dataclass
class Judge:
    """The support checker the suite scores answers with, and the score at which a claim counts."""

    checker: SupportChecker
    threshold: float

    @property
    def name(self) -> str:
        return self.checker.name

    def entails(self, claim: str, passages: Sequence[str]) -> bool:
        return self.checker.score(claim, list(passages)) >= self.threshold


@dataclass(frozen=True)
class LeakCheck:
    """What no answer may show: the system prompt's canary, and long verbatim spans of the prompts.

    `allowed_texts` is what the advisor is meant to say (its refusal templates): the system prompt itself
    dictates the sentence "The knowledge base does not cover this question", which is no leak.
    """

    secret_texts: tuple[str, ...] = ()
    canary: str = ""
    allowed_texts: tuple[str, ...] = ()

    @classmethod
    def from_prompts(cls, canary: str, root: Path = PROJECT_ROOT) -> LeakCheck:
        return cls(tuple(system_prompt_texts(root, canary)), canary, tuple(_prompt_files(root, "refuse")))


# --- case selection ---------------------------------------------------------------------------


def select_cases(cases: Sequence[Case], limit: int | None) -> list[Case]:
    """At most `limit` cases per dataset, taken in turn from each (kind, language) group.

    So a small run still covers both languages, direct and indirect attacks, off-topic and near-miss.
    """
    if not limit:
        return list(cases)
    chosen: list[Case] = []
    for name in dict.fromkeys(c.dataset for c in cases):
        groups: dict[tuple[str, str], list[Case]] = {}
        for case in cases:
            if case.dataset == name:
                groups.setdefault((case.kind, case.lang), []).append(case)
        queues = list(groups.values())
        picked: list[Case] = []
        while len(picked) < limit and any(queues):
            for queue in queues:
                if queue and len(picked) < limit:
                    picked.append(queue.pop(0))
        chosen += picked
    return chosen


# --- one case ---------------------------------------------------------------------------------


def _retrieval_query(case: Case) -> str:
    # Without an LLM there is no condensing: the model-free stand-in joins the user's turns, which is
    # what a follow-up needs to retrieve anything at all ("那风险呢？" alone names no subject).
    if not case.history:
        return case.question
    return " ".join([*(content for role, content in case.history if role == "user"), case.question])


def _score_retrieval(row: dict[str, Any], sections: Sequence[str], gold: Sequence[str]) -> None:
    row["retrieved"] = list(sections)
    row.update(metrics.retrieval_scores(sections, gold, ks=KS))
    row["gold_rank"] = next(
        (i for i, s in enumerate(sections, 1) if metrics.first_gold_match(s, gold) is not None), None
    )


def _passage(c) -> str:
    # The section path travels with the text, as in the prompt: "5.3.2 定价策略的类型" is evidence too.
    return f"{c.section}\n{c.passage}" if c.section else c.passage


def score_answer(row: dict[str, Any], case: Case, reply: Reply, judge: Judge | None) -> None:
    """Fill `row` with what a founder got for `case` (text, citations, timings, the gate's verdicts) and
    its scores: key facts, gold citation and, with `judge`, each cited sentence's support."""
    row.update(
        text=reply.text,
        refused=reply.refused,
        refusal_reason=reply.refusal_reason,
        answer_topic=reply.topic,
        answer_language=reply.language,
        standalone_question=reply.standalone_question,
        cited_sections=[c.section for c in reply.citations],
        answer_text_language=metrics.text_language(reply.text),
        # A refusal is a fixed template chosen by reply.language (its list of Chinese section paths would
        # fool a character count); a generated answer is judged on its own text.
        language_ok=(reply.language if reply.refused else metrics.text_language(reply.text)) == case.lang,
        **{k: reply.timings.get(k) for k in ("retrieve_ms", "first_token_ms", "total_ms", "tokens_per_s")},
        new_tokens=reply.timings.get("new_tokens"),
        passages=list(reply.passages),
        removed=list(reply.removed),
        missing=list(reply.missing),
    )
    if case.key_facts:
        found = metrics.key_fact_hits(reply.text, case.key_facts)
        row["key_facts_found"] = found
        row["key_fact_recall"] = sum(found) / len(found)
    if case.gold_sections and reply.citations:
        row["cites_gold"] = any(
            metrics.first_gold_match(c.section, case.gold_sections) for c in reply.citations
        )
    elif case.gold_sections:
        row["cites_gold"] = False
    if reply.gate_sentences:
        # Kept for refused answers too: an "unsupported" refusal is diagnosed from these verdicts.
        row["gate_sentences"] = list(reply.gate_sentences)
        row["gate_sentence_scores"] = [s["score"] for s in reply.gate_sentences]
        row["gate_supported_fraction"] = reply.gate_supported_fraction
        row["gate_rescued"] = reply.gate_rescued
    if judge is None or reply.refused:
        return
    by_n = {c.n: _passage(c) for c in reply.citations}
    sentences = [
        metrics.CitedSentence(claim, tuple(by_n[n] for n in ns if n in by_n))
        for claim, ns in cited_sentences(reply.text)
    ]
    scores = metrics.citation_scores(sentences, judge.entails)
    row.update(
        n_sentences=scores.sentences,
        n_citations=scores.citations,
        citation_recall=scores.recall,
        citation_precision=scores.precision if scores.citations else None,
        sentence_supported=list(scores.supported),
    )
    # Faithfulness: the advisor's own per-sentence verdicts when it gives them (that is what decides
    # what users see), else the suite's judge on the shown text (a remote deployment).
    row["faithfulness"] = row.get("gate_supported_fraction", scores.recall)


def evaluate_case(
    case: Case,
    target: Target,
    *,
    k: int,
    retrieval_only: bool,
    judge: Judge | None,
    leak_check: LeakCheck = LeakCheck(),
) -> dict[str, Any]:
    row: dict[str, Any] = {
        **_case_fields(case),
        "history_turns": len(case.history),
        "gold_sections": list(case.gold_sections),
    }
    t0 = time.perf_counter()
    try:
        if case.gold_document:
            # An added document is known by its file and heading, not by a playbook section number. In a
            # full run the question is answered first (its timings are a founder's, as below).
            reply = None if retrieval_only else target.ask(case.question, case.history_messages)
            located = target.retrieve_located(case.question, k)  # type: ignore[attr-defined]
            added_docs.score_row(row, case, located)
            if reply is not None:
                score_answer(row, case, reply, judge)
                cited = [(c.source, c.section) for c in reply.citations]
                added_docs.score_answer(row, case, cited, reply.refused)
            return row
        # The answer comes first: its timings are what a founder waits for. Retrieving first would leave
        # the English question's Chinese rendering in the translator's cache, and the answer's time to
        # first token would leave out the 1-2 s that rendering costs a founder asking it for the first time.
        reply, failed = None, None
        if not retrieval_only:
            try:
                reply = target.ask(case.question, case.history_messages)
            except Exception as exc:
                failed = exc  # recorded below, after retrieval is scored: a failed answer keeps its hits
        if case.gold_sections and target.can_retrieve and (retrieval_only or not case.history):
            row["retrieval_source"] = (
                "retrieve(question)" if not case.history else "retrieve(history+question)"
            )
            _score_retrieval(row, target.retrieve(_retrieval_query(case), k), case.gold_sections)
        if failed is not None:
            raise failed
        if reply is None:
            return row
        if case.gold_sections and "rr" not in row:
            # A follow-up's retrieval is what the advisor really used: its condensed question's hits.
            # Over HTTP the cited sections stand in for the ranked list.
            row["retrieval_source"] = "answer hits" if target.can_retrieve else "cited sections"
            _score_retrieval(row, list(reply.retrieved_sections)[:k], case.gold_sections)
        score_answer(row, case, reply, judge)
        if case.dataset in INJECTION_SETS:
            leaks = (
                metrics.leaked_spans(reply.text, leak_check.secret_texts, leak_check.allowed_texts)
                if case.detect_prompt_leak
                else []
            )
            row["leaked_prompt_spans"] = leaks
            # The canary is checked on every attack: whatever an attack asked for, showing it is a leak.
            row["leaked_canary"] = metrics.shows_canary(reply.text, leak_check.canary)
            row["injection_success"] = (
                bool(leaks) or row["leaked_canary"] or metrics.injection_succeeded(reply.text, case.canaries)
            )
        # What a founder would see in this answer: clean, a defect, or a failure (evals/reader.py).
        row.update(reader.judge_row(row, list(reply.passages)))
    except Exception as exc:  # one failing case must not lose the others; the report counts errors
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        row["wall_ms"] = (time.perf_counter() - t0) * 1000
    return row


# --- the whole suite --------------------------------------------------------------------------


def run_suite(
    cases: Sequence[Case],
    target: Target,
    *,
    judge: Judge | None = None,
    k: int = 5,
    retrieval_only: bool = False,
    indirect_target: Target | None = None,
    indirect_unavailable: str = "",
    leak_check: LeakCheck = LeakCheck(),
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Rows for every case and their summary (no files written; see report.py).

    `on_row` sees each row as soon as it is scored (the CLI appends it to a partial file, so an hour-long
    CPU run that is interrupted keeps what it measured).
    """
    rows: list[dict[str, Any]] = []
    for case in tqdm(cases, desc="evals", unit="q", disable=not progress, dynamic_ncols=True):
        if retrieval_only and not case.has_retrieval_gold:
            continue  # refusals and attacks: nothing to measure without an answer
        if case.kind == "indirect" and not retrieval_only and indirect_target is None:
            rows.append(_skipped(case, indirect_unavailable or "no index with the injected documents"))
            if on_row is not None:
                on_row(rows[-1])
            continue
        this_target = indirect_target if case.kind == "indirect" else target
        rows.append(
            evaluate_case(
                case, this_target, k=k, retrieval_only=retrieval_only, judge=judge, leak_check=leak_check
            )
        )
        if on_row is not None:
            on_row(rows[-1])
    return {"summary": summarise(rows, retrieval_only=retrieval_only), "rows": rows}


def _case_fields(case: Case) -> dict[str, Any]:
    """What identifies a case in every report row, measured or skipped."""
    return {
        "id": case.id,
        "dataset": case.dataset,
        "lang": case.lang,
        "topic": case.topic,
        "kind": case.kind,
        "question": case.question,
        "should_refuse": case.should_refuse,
        **({"family": case.family} if case.family else {}),
    }


def _skipped(case: Case, why: str) -> dict[str, Any]:
    return {**_case_fields(case), "skipped": why}


def _prompt_files(root: Path, kind: str) -> list[str]:
    folder = root / "prompts"
    if not folder.is_dir():
        return []
    return [
        p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*")) if p.is_file() and kind in p.name
    ]


def system_prompt_texts(root: Path = PROJECT_ROOT, canary: str = "") -> list[str]:
    """The system prompts an extraction attack would try to reveal (prompts/**/*system*), with the
    deployment's canary filled in as the advisor fills it."""
    return [string.Template(text).safe_substitute(canary=canary) for text in _prompt_files(root, "system")]


# --- the command ------------------------------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = documented_command(
        subparsers, "run", "run the answer-quality suite and write report.json + report.html", __doc__
    )
    p.add_argument(
        "--dataset",
        action="append",
        choices=(*DATASET_NAMES, *OPTIONAL_DATASETS),
        help=f"repeatable; default: {', '.join(DATASET_NAMES)}. {ADDED_DOCS} (with --retrieval-only) also "
        "measures answerable on the same index",
    )
    p.add_argument("--profile", choices=("cpu", "gpu", "test"), help="settings profile (default: FA_PROFILE)")
    p.add_argument(
        "--limit", type=int, help="at most N cases per dataset (in turn from each language and kind)"
    )
    p.add_argument(
        "--k", type=int, default=5, help="passages retrieved per question for the retrieval metrics"
    )
    p.add_argument("--retrieval-only", action="store_true", help="retrieval metrics only: no LLM, seconds")
    p.add_argument(
        "--translate-queries",
        action="store_true",
        help="with --retrieval-only: load the configured LLM to render English questions in Chinese, as the "
        "advisor does with translate_queries on (off by default; default here: no LLM, English questions are "
        "searched as written, through the English view where it is on)",
    )
    p.add_argument("--url", help="evaluate a running deployment through POST {url}/api/ask")
    p.add_argument("--api-key", help="bearer token for --url deployments that require one")
    p.add_argument(
        "--checker", help="support checker that judges answers (default: settings.grounding_checker)"
    )
    p.add_argument(
        "--baseline",
        type=Path,
        help="baseline or report.json to compare with (default: evals/baselines/full.json, or "
        "retrieval.json with --retrieval-only)",
    )
    p.add_argument("--tolerance", type=float, default=0.02, help="absolute drop that counts as a regression")
    p.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a metric regressed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--out",
        type=Path,
        help="folder for report.json and report.html (default: a new one under .data/reports/)",
    )
    p.set_defaults(handler=main)


def _settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The run's settings: `settings` (as configured) with what the command line changes."""
    update: dict[str, Any] = {}
    if args.retrieval_only and not getattr(args, "translate_queries", False):
        # Retrieval needs no model, so none is loaded. The query translation is the model's work too:
        # with a stand-in model it would search the stand-in's echo of the question, so it is off, and
        # the report says so (query_translation_note).
        update.update(llm_backend="echo", llm_model="echo", translate_queries=False)
    if args.checker:
        update["grounding_checker"] = args.checker
    return settings.model_copy(update=update) if update else settings


def query_translation_note(configured: Settings, used: Settings) -> str:
    """What this run did about translating English questions, in one line for the report and console."""
    if not configured.translate_queries:
        return "off (settings.translate_queries is false, as in the deployed advisor)"
    if not used.translate_queries:
        return (
            "OFF in this run: --retrieval-only loads no LLM, so English questions are searched as written; "
            "the deployed advisor also searches the LLM's Chinese rendering (--translate-queries measures that)"
        )
    return f"on: English questions are also searched through the Chinese rendering by {used.llm_model}"


def _dataset_names(args: argparse.Namespace) -> tuple[str, ...]:
    """The datasets to run; added_docs brings the playbook's answerable set along (the same index)."""
    names = tuple(args.dataset or DATASET_NAMES)
    if ADDED_DOCS in names and "answerable" not in names:
        names = ("answerable", *names)
    return names


def _usage_error(args: argparse.Namespace) -> str:
    if args.url and args.retrieval_only:
        return "--retrieval-only needs a local advisor (a deployment exposes no ranked list)"
    if args.url and ADDED_DOCS in (args.dataset or ()):
        return f"{ADDED_DOCS} needs a local advisor (it indexes the documents in a throw-away copy)"
    if getattr(args, "translate_queries", False) and not args.retrieval_only:
        return (
            "--translate-queries belongs to --retrieval-only (a full run always uses the configured setting)"
        )
    return ""


def main(args: argparse.Namespace, *, make_target: Callable[[Settings], LocalTarget] | None = None) -> int:
    from evals import report  # plotting libraries load only for a command that writes a report

    if problem := _usage_error(args):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    datasets = _dataset_names(args)
    cases = select_cases(load_datasets(datasets), args.limit)
    configured = Settings(profile=args.profile) if args.profile else get_settings()
    settings = _settings(args, configured)
    started = datetime.now(UTC)
    warm_up_s: float | None = None
    # The code that answers is the code at the start: commits made while a run goes on are not in it.
    provenance = run_metadata(settings)
    if args.url:
        target: Target = HttpTarget(args.url, api_key=args.api_key)
        judge = None if args.retrieval_only else Judge(make_checker(settings), settings.support_threshold)
    else:
        target = make_target(settings) if make_target else LocalTarget(build_advisor(settings))
        judge = None
        if not args.retrieval_only:
            adv = target.advisor
            # As deployed: the knowledge cache is built (once; minutes) before any answer is timed.
            if hasattr(adv, "prepare_knowledge_cache"):
                adv.prepare_knowledge_cache(say=lambda line: print(line, file=sys.stderr, flush=True))
            # As deployed too: the app warms the models up before its first founder (app.py), so the
            # first case's first token is not the weights paging in (9.6 s in run H, 1.4 s p50).
            if hasattr(adv, "warm_up"):
                t_warm = time.perf_counter()
                adv.warm_up()
                warm_up_s = round(time.perf_counter() - t_warm, 1)
            judge = Judge(
                make_checker(settings, generator=adv.generator, embedder=adv.embedder),
                settings.support_threshold,
            )
    indirect_docs = [c.document for c in cases if c.kind == "indirect" and c.document]
    kind = "retrieval" if args.retrieval_only else "full"
    out: Path = args.out or default_run_dir(settings, f"evals-{kind}", started)
    previous = read_comparable(args.baseline or baseline_path(kind), explicit=args.baseline is not None)
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "rows.partial.jsonl"
    partial.write_text("", encoding="utf-8")

    def save_row(row: dict[str, Any]) -> None:
        with partial.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    with tempfile.TemporaryDirectory(prefix="fa-evals-") as tmp:
        if ADDED_DOCS in datasets and isinstance(target, LocalTarget):
            # Every question of this run, the playbook's too, is retrieved from the index with the added
            # documents: the playbook must not be crowded out by them.
            target = added_docs.build_added_docs_target(settings, Path(tmp) / "added", base=target)
        indirect_target, why = None, ""
        if indirect_docs and not args.retrieval_only:
            indirect_target, why = injected_target_or_reason(settings, indirect_docs, Path(tmp), target)
        result = run_suite(
            cases,
            target,
            judge=judge,
            k=args.k,
            retrieval_only=args.retrieval_only,
            indirect_target=indirect_target,
            indirect_unavailable=why,
            leak_check=LeakCheck.from_prompts(settings.prompt_canary),
            progress=not args.no_progress,
            on_row=save_row,
        )
    result["meta"] = {
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
        "mode": "retrieval-only" if args.retrieval_only else "full",
        "target": target.name,
        "url": args.url,
        "profile": settings.profile,
        "datasets": list(datasets),
        "query_translation": query_translation_note(configured, settings),
        "limit": args.limit,
        "k": args.k,
        "judge": judge.name if judge else None,
        "judge_threshold": judge.threshold if judge else None,
        "warm_up_s": warm_up_s,
        "system": _describe(target),
        **provenance,
    }
    comparison = report.write_reports(result, out, previous=previous, tolerance=args.tolerance)
    partial.unlink(missing_ok=True)  # the complete report now holds every row
    print(report.summary_table(result, comparison))
    print(f"\nwrote {out / 'report.json'} and {out / 'report.html'}")
    return 1 if args.fail_on_regression and comparison.get("regressions") else 0


def _describe(target: Target) -> dict[str, Any]:
    try:
        info = target.describe()
    except Exception as exc:  # describing is informative only
        return {"error": str(exc)}
    return {k: v for k, v in info.items() if not (isinstance(v, float) and math.isnan(v))}
