"""Follow-up questions in conversations, measured at retrieval level (no answers are generated).

    python -m evals conversations [--limit N] [--pairing zh|en|zh-en|en-zh ...] [--no-ceiling] [--out DIR]

Each follow-up of evals/datasets/conversations.jsonl goes through what the advisor does before it writes
an answer (`Advisor.search`): the condensation with the configured LLM (the product's condenser, so this
loads the model), the topic, and the hybrid retrieval, English questions' Chinese renderings included.
Figures, overall, per language pairing (zh, en, zh-en: a Chinese turn followed up in English, en-zh) and
per kind of follow-up:

* follow-up hit@1 / hit@5 / MRR: the rank of the first gold section among the follow-up's k hits, over the
  follow-ups the playbook covers (the `uncovered` ones have no gold section);
* rewrite accuracy: the share of follow-ups whose standalone question is right, where right means it
  carries every key term of the gold standalone question (the entity and the point, e.g. "GTP" and
  "lesson"; one synonym of each) OR, for a covered follow-up, its retrieval puts a gold section first (a
  rewrite in other words that finds the right section did its job). Both parts are reported too:
  `key_terms` alone and `rank1` alone. Uncovered follow-ups count by their key terms only;
* weak: the share of covered follow-ups whose retrieval is too weak to answer (a refusal before reading);
* ceiling: the same retrieval figures for the gold standalone questions asked without history, i.e. what
  a perfect rewrite would reach with today's retrieval.

With `--answers` each follow-up is also answered (`Advisor.ask` with its history, as a founder's chat is)
and scored the way a full run scores an answer (evals/run.py): the text, its citations, the gate's
verdicts, and the reader's detectors (evals/reader.py). Added figures: false refusals (covered follow-ups
refused), refusals of the uncovered ones, cites gold (an answered covered follow-up cites a gold section)
and the detectors' clean rate. The detectors over-call clean (README, "What a reader sees"): read the
answers (`text` in the report) before trusting the rate.

The report (every row and the summary) goes to DIR, by default .data/reports/evals-conversations/<time>/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from advisor import Advisor, Settings, build_advisor, get_settings
from evals import metrics, reader
from evals.cli import documented_command
from evals.conversation_set import CONVERSATIONS_PATH, FollowUp, load_conversations
from evals.datasets import Case
from evals.records import default_run_dir, run_metadata
from evals.run import Judge, score_answer
from evals.targets import reply_from_answer

PAIRINGS = ("zh", "en", "zh-en", "en-zh")
KS = (1, 3, 5)


def keeps_key_terms(rewrite: str, key_terms: Sequence[Sequence[str]]) -> bool:
    """Whether the rewrite holds one synonym of every key term (case-, width- and spacing-insensitive)."""
    text = metrics.normalise_text(rewrite)
    return all(any(metrics.normalise_text(term) in text for term in group) for group in key_terms)


def _ranked(
    adv: Advisor, question: str, history: list[dict[str, str]], k: int
) -> tuple[str, list[str], bool]:
    turn = adv.search(question, history, k=k)
    return turn.standalone_question, [h.chunk.section for h in turn.hits], turn.weak


def _score(row: dict[str, Any], prefix: str, sections: list[str], gold: Sequence[str]) -> None:
    scores = metrics.retrieval_scores(sections, gold, ks=KS)
    row.update({f"{prefix}{name}": value for name, value in scores.items()})
    row[f"{prefix}gold_rank"] = next(
        (i for i, s in enumerate(sections, 1) if metrics.first_gold_match(s, gold) is not None), None
    )


def evaluate_follow_up(
    adv: Advisor, case: FollowUp, *, k: int = 5, ceiling: bool = True, judge: Judge | None = None
) -> dict[str, Any]:
    """One row: the rewrite, its hits and scores, and (with `ceiling`) the gold standalone question's;
    with `judge`, the answer too, scored as a full run scores one (answer_follow_up)."""
    row: dict[str, Any] = {
        "id": case.id,
        "pairing": case.pairing,
        "kind": case.kind,
        "question": case.question,
        "gold_standalone": case.standalone,
        "gold_sections": list(case.gold_sections),
        "should_refuse": case.should_refuse,
    }
    t0 = time.perf_counter()
    try:
        rewrite, sections, weak = _ranked(adv, case.question, case.history_messages, k)
        row.update(rewrite=rewrite, rewritten=rewrite != case.question, retrieved=sections, weak=weak)
        row["key_terms"] = keeps_key_terms(rewrite, case.key_terms)
        if case.gold_sections:
            _score(row, "", sections, case.gold_sections)
            if ceiling:
                _, gold_sections, gold_weak = _ranked(adv, case.standalone, [], k)
                row.update(ceiling_retrieved=gold_sections, ceiling_weak=gold_weak)
                _score(row, "ceiling_", gold_sections, case.gold_sections)
        row["rank1"] = bool(row.get("hit@1"))
        row["rewrite_ok"] = row["key_terms"] or row["rank1"]
        if judge is not None:
            row.update(answer_follow_up(adv, case, judge))
    except Exception as exc:  # one failing case must not lose the others; the summary counts errors
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["wall_ms"] = (time.perf_counter() - t0) * 1000
    return row


def answer_follow_up(adv: Advisor, case: FollowUp, judge: Judge) -> dict[str, Any]:
    """The follow-up answered with its history, scored as a full run's multiturn case, plus the reader's
    verdict; the fields a conversation row gets (its retrieval fields are the search's, left alone)."""
    as_case = Case(
        id=case.id,
        dataset="multiturn",
        lang=case.lang,
        question=case.question,
        gold_sections=case.gold_sections,
        history=case.history,
        should_refuse=case.should_refuse,
    )
    reply = reply_from_answer(adv.ask(case.question, history=case.history_messages))
    scored: dict[str, Any] = {
        "dataset": "multiturn",
        "lang": case.lang,
        "question": case.question,
        "should_refuse": case.should_refuse,
        "gold_sections": list(case.gold_sections),
    }
    score_answer(scored, as_case, reply, judge)
    scored.update(reader.judge_row(scored, list(reply.passages)))
    answer = {k: v for k, v in scored.items() if k not in ("dataset", "lang", "question", "gold_sections")}
    answer["answer_standalone"] = answer.pop("standalone_question", "")
    answer["false_refusal"] = bool(case.gold_sections) and bool(reply.refused)
    return answer


def _mean(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    return round(sum(values) / len(values), 3) if values else None


def summarise_group(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if "error" not in r]
    covered = [r for r in ok if r["gold_sections"]]
    return {
        "follow_ups": len(rows),
        "covered": len(covered),
        "errors": len(rows) - len(ok),
        "hit@1": _mean(covered, "hit@1"),
        "hit@5": _mean(covered, "hit@5"),
        "mrr": _mean(covered, "rr"),
        "rewrite_accuracy": _mean(ok, "rewrite_ok"),
        "key_terms": _mean(ok, "key_terms"),
        "rank1": _mean(covered, "rank1"),
        "rewritten": _mean(ok, "rewritten"),
        "weak": _mean(covered, "weak"),
        "ceiling_hit@1": _mean(covered, "ceiling_hit@1"),
        "ceiling_mrr": _mean(covered, "ceiling_rr"),
        **_answer_figures(ok, covered),
    }


def _share(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def _answer_figures(rows: Sequence[dict[str, Any]], covered: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """False refusals, refused uncovered follow-ups, gold citations and the reader's clean rate, over the
    rows that were answered (a run with --answers); empty without answers."""
    answered = [r for r in rows if "reader_verdict" in r]
    if not answered:
        return {}
    covered_answered = [r for r in covered if "reader_verdict" in r]
    uncovered = [r for r in answered if r["should_refuse"]]
    cites = [r for r in covered_answered if not r["refused"] and "cites_gold" in r]
    return {
        "false_refusals": _mean(covered_answered, "false_refusal"),
        "uncovered_refused": _share([r["refused"] for r in uncovered]),
        "cites_gold": _mean(cites, "cites_gold"),
        "clean": _share([r["reader_verdict"] == "clean" for r in answered]),
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures overall, per language pairing and per kind of follow-up."""
    groups: dict[str, dict[str, Any]] = {"all": summarise_group(rows)}
    for pairing in PAIRINGS:
        if chosen := [r for r in rows if r["pairing"] == pairing]:
            groups[f"pairing {pairing}"] = summarise_group(chosen)
    for kind in dict.fromkeys(r["kind"] for r in rows):
        groups[f"kind {kind}"] = summarise_group([r for r in rows if r["kind"] == kind])
    return groups


COLUMNS = (
    "follow_ups",
    "hit@1",
    "mrr",
    "rewrite_accuracy",
    "key_terms",
    "weak",
    "ceiling_hit@1",
    "ceiling_mrr",
)
ANSWER_COLUMNS = ("false_refusals", "uncovered_refused", "cites_gold", "clean")


def summary_table(summary: dict[str, dict[str, Any]]) -> str:
    columns = COLUMNS + (ANSWER_COLUMNS if "clean" in summary.get("all", {}) else ())
    lines = [f"{'group':<20}" + "".join(f"{c:>17}" for c in columns)]
    for name, figures in summary.items():
        cells = ("-" if figures.get(c) is None else str(figures[c]) for c in columns)
        lines.append(f"{name:<20}" + "".join(f"{cell:>17}" for cell in cells))
    return "\n".join(lines)


def misses(rows: Sequence[dict[str, Any]]) -> str:
    """One line per follow-up that missed: a wrong rewrite or a gold section not first."""
    out = []
    for r in rows:
        if "error" in r:
            out.append(f"{r['id']}: ERROR {r['error']}")
        elif not r["rewrite_ok"] or (r["gold_sections"] and not r["hit@1"]):
            top = r["retrieved"][0].split(" › ")[-1] if r["retrieved"] else "-"
            out.append(
                f"{r['id']} [{r['pairing']}/{r['kind']}] {r['question']!r} -> {r['rewrite']!r} "
                f"(terms {'ok' if r['key_terms'] else 'MISSING'}; gold rank {r.get('gold_rank')}; top {top})"
            )
    return "\n".join(out)


def answer_problems(rows: Sequence[dict[str, Any]]) -> str:
    """One line per answered follow-up the detectors do not call clean: a false refusal, an uncovered
    follow-up answered, or a defect, with its evidence."""
    out = []
    for r in rows:
        if r.get("reader_verdict") not in (None, "clean"):
            defects = "; ".join(
                f"{cls}: {', '.join(map(str, ev))}" for cls, ev in r["reader_defects"].items()
            )
            out.append(
                f"{r['id']} [{r['pairing']}/{r['kind']}] {r['question']!r}: {r['reader_verdict']} ({defects})"
            )
    return "\n".join(out)


def select(cases: Sequence[FollowUp], pairings: Sequence[str] | None, limit: int | None) -> list[FollowUp]:
    """The follow-ups of the chosen pairings; with `limit`, at most that many, taken in turn from each
    pairing so a small run still crosses languages."""
    chosen = [c for c in cases if not pairings or c.pairing in pairings]
    if not limit:
        return chosen
    queues = [[c for c in chosen if c.pairing == p] for p in PAIRINGS]
    picked: list[FollowUp] = []
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = documented_command(
        subparsers, "conversations", "follow-up rewrites and retrieval on the conversation set", __doc__
    )
    p.add_argument("--dataset", type=Path, default=CONVERSATIONS_PATH, help="a conversations JSONL file")
    p.add_argument("--pairing", action="append", choices=PAIRINGS, help="repeatable; default: all")
    p.add_argument("--limit", type=int, help="at most N follow-ups, in turn from each pairing")
    p.add_argument("--k", type=int, default=5, help="passages retrieved per follow-up")
    p.add_argument("--no-ceiling", action="store_true", help="skip the gold standalone questions")
    p.add_argument(
        "--answers",
        action="store_true",
        help="also answer every follow-up and score the answers (about 10 s each on two cores)",
    )
    p.add_argument("--profile", choices=("cpu", "gpu", "test"), help="settings profile (default: FA_PROFILE)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--out", type=Path, help="folder for report.json (default: a new one under .data/reports/)"
    )
    p.set_defaults(handler=main)


def main(args: argparse.Namespace, *, make_advisor: Callable[[Settings], Advisor] = build_advisor) -> int:
    cases = select(load_conversations(args.dataset), args.pairing, args.limit)
    settings = Settings(profile=args.profile) if args.profile else get_settings()
    started = datetime.now(UTC)
    provenance = run_metadata(settings)  # the code at the start is the code measured
    adv = make_advisor(settings)
    # The gate's own checker (the configured one, already loaded), as a full run's default judge is.
    judge = Judge(adv.checker, settings.support_threshold) if args.answers else None
    rows = [
        evaluate_follow_up(adv, case, k=args.k, ceiling=not args.no_ceiling, judge=judge)
        for case in tqdm(cases, desc="follow-ups", unit="q", disable=args.no_progress, dynamic_ncols=True)
    ]
    summary = summarise(rows)
    out: Path = args.out or default_run_dir(settings, "evals-conversations", started)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
        "dataset": str(args.dataset),
        "pairings": args.pairing,
        "limit": args.limit,
        "k": args.k,
        "answers": bool(args.answers),
        "model": adv.generator.model_id,
        **provenance,
    }
    report = {"summary": summary, "rows": rows, "meta": meta}
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str), "utf-8")
    print(summary_table(summary))
    if text := misses(rows):
        print("\nmisses:\n" + text)
    if text := answer_problems(rows):
        print("\nanswers a reader would object to (detectors):\n" + text)
    print(f"\nwrote {out / 'report.json'}", file=sys.stderr)
    return 0
