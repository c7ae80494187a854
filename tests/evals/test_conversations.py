"""The conversation set and its retrieval-level measurement (`python -m evals conversations`)."""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter

import pytest

from advisor import build_advisor
from advisor.generate import ScriptedGenerator
from evals.conversation_set import load_conversations
from evals.conversations import (
    answer_problems,
    evaluate_follow_up,
    keeps_key_terms,
    main,
    select,
    summarise,
    summary_table,
)
from evals.datasets import DatasetError
from evals.run import Judge
from tests.evals.conftest import copy_first_source
from tests.evals.test_datasets import PLAYBOOK, _playbook_sections


def test_the_set_is_large_varied_and_crosses_languages():
    cases = load_conversations()
    conversations = Counter(c.conversation for c in cases)
    assert len(conversations) >= 40 and all(1 <= n <= 3 for n in conversations.values())
    pairings = Counter(c.pairing for c in cases)
    assert set(pairings) == {"zh", "en", "zh-en", "en-zh"} and min(pairings.values()) >= 8
    kinds = Counter(c.kind for c in cases)
    assert set(kinds) == {"reference", "ellipsis", "topic_change", "more", "example", "uncovered"}
    assert kinds["uncovered"] >= 5 and all(c.should_refuse for c in cases if c.kind == "uncovered")
    questions = {c.question for c in cases}
    assert {
        "那调研完之后产品定位怎么确定？",
        "Which of those suits a company with a strong developer community?",
        "What lessons should I draw from that?",
    } <= questions  # the three conversations of issue 15


@pytest.mark.skipif(not PLAYBOOK.exists(), reason="knowledge/playbook.md not built yet")
def test_every_gold_section_is_in_the_playbook():
    sections = _playbook_sections()
    for case in load_conversations():
        for gold in case.gold_sections:
            assert gold in sections, f"{case.id}: no section {gold} in the playbook"


def test_a_follow_ups_history_is_every_turn_before_it():
    by_id = {c.id: c for c in load_conversations()}
    third = by_id["conv-zh-profit-pricing#3"]
    assert [role for role, _ in third.history] == ["user", "assistant", "user", "assistant"]
    assert third.history[2] == ("user", "那定价策略呢？") and third.previous_lang == "zh"
    crossing = by_id["conv-issue-gtp-lessons#2"]
    assert crossing.pairing == "zh-en" and crossing.history[0] == ("user", "GTP.ai为什么会失败？")


def _line(**changes) -> dict:
    conversation = {
        "id": "c",
        "turns": [
            {"lang": "zh", "user": "定价策略有哪些？", "assistant": "四种。[1]", "gold_sections": ["5.3.2"]},
            {
                "lang": "zh",
                "user": "举个例子？",
                "kind": "example",
                "standalone": "定价策略的案例是什么？",
                "key_terms": [["定价"]],
                "gold_sections": ["5.3.3"],
            },
        ],
    }
    for path, value in changes.items():
        turn, key = path.split("__")
        if value is None:
            conversation["turns"][int(turn)].pop(key)
        else:
            conversation["turns"][int(turn)][key] = value
    return conversation


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"1__kind": "joke"}, "kind must be one of"),
        ({"1__lang": "fr"}, "turn 2: lang"),
        ({"1__should_refuse": True}, "either gold_sections or should_refuse"),
        ({"1__gold_sections": None}, "either gold_sections or should_refuse"),
        ({"1__gold_sections": None, "1__should_refuse": True}, "'uncovered' and should_refuse"),
        ({"0__assistant": None}, "turn 1: field 'assistant'"),
        ({"1__key_terms": [[]]}, "each key term"),
        ({"1__standalone": " "}, "field 'standalone'"),
    ],
)
def test_bad_conversations_fail_with_file_line_and_turn(tmp_path, changes, message):
    path = tmp_path / "conversations.jsonl"
    path.write_text(json.dumps(_line()) + "\n" + json.dumps(_line(**changes)) + "\n", "utf-8")
    with pytest.raises(DatasetError, match=rf"conversations.jsonl:2.*{re.escape(message)}"):
        load_conversations(path)


def test_bad_files_fail_clearly(tmp_path):
    path = tmp_path / "conversations.jsonl"
    path.write_text(json.dumps(_line()) + "\n" + json.dumps(_line()) + "\n", "utf-8")
    with pytest.raises(DatasetError, match="duplicate id"):
        load_conversations(path)
    too_long = _line()
    too_long["turns"] = too_long["turns"][:1] * 5
    path.write_text(json.dumps(too_long) + "\n", "utf-8")
    with pytest.raises(DatasetError, match="2 to 4 turns"):
        load_conversations(path)
    with pytest.raises(DatasetError, match="not found"):
        load_conversations(tmp_path / "missing.jsonl")


def test_key_terms_need_one_synonym_of_each():
    assert keeps_key_terms("What can founders learn from GTP.ai's failure?", [["GTP"], ["lesson", "learn"]])
    assert not keeps_key_terms("What lessons should I draw from that?", [["GTP"], ["lesson", "learn"]])
    assert keeps_key_terms("ＧＴＰ.ai的失败教训", [["gtp"], ["教训"]])  # width and case do not matter


def test_select_takes_follow_ups_in_turn_from_each_pairing():
    picked = select(load_conversations(), None, 8)
    assert Counter(c.pairing for c in picked) == {"zh": 2, "en": 2, "zh-en": 2, "en-zh": 2}
    assert {c.pairing for c in select(load_conversations(), ["zh-en"], None)} == {"zh-en"}


def _rewriter(rewrites: dict[str, str]):
    """A fake model that rewrites the follow-ups it knows and echoes anything else."""

    def reply(messages):
        prompt = messages[-1]["content"]
        return next((rewrite for follow_up, rewrite in rewrites.items() if follow_up in prompt), "")

    return ScriptedGenerator(reply)


def test_a_follow_up_row_scores_its_rewrite_and_the_gold_ceiling(hash_settings):
    case = next(c for c in load_conversations() if c.id == "conv-zh-appendix#2")  # 数据集呢？ -> A.2
    adv = build_advisor(hash_settings, generator=_rewriter({"数据集呢？": "附录推荐了哪些数据集？"}))
    row = evaluate_follow_up(adv, case, k=5)
    assert row["rewrite"] == "附录推荐了哪些数据集？" and row["rewritten"] and row["key_terms"]
    assert row["rewrite_ok"] and len(row["retrieved"]) == 5
    assert row["gold_rank"] is not None and row["ceiling_gold_rank"] is not None
    assert row["rr"] == 1 / row["gold_rank"] and row["ceiling_rr"] == 1 / row["ceiling_gold_rank"]


def test_a_rewrite_that_loses_the_entity_is_wrong_unless_it_still_ranks_gold_first(hash_settings):
    case = next(c for c in load_conversations() if c.id == "conv-zh-costpricing-uncovered#2")
    adv = build_advisor(hash_settings, generator=_rewriter({"它有什么缺点？": "这种定价有什么缺点？"}))
    row = evaluate_follow_up(adv, case, k=5)
    assert row["should_refuse"] and not row["key_terms"] and not row["rewrite_ok"]
    assert "hit@1" not in row and "ceiling_rr" not in row  # nothing to rank for an uncovered follow-up


def test_summary_counts_covered_follow_ups_for_retrieval_and_all_for_rewrites():
    rows = [
        {"pairing": "zh", "kind": "reference", "gold_sections": ["1"], "hit@1": 1.0, "hit@5": 1.0, "rr": 1.0,
         "rewrite_ok": True, "key_terms": True, "rank1": True, "rewritten": True, "weak": False,
         "ceiling_hit@1": 1.0, "ceiling_rr": 1.0},
        {"pairing": "zh-en", "kind": "reference", "gold_sections": ["2"], "hit@1": 0.0, "hit@5": 1.0,
         "rr": 0.5, "rewrite_ok": False, "key_terms": False, "rank1": False, "rewritten": False,
         "weak": True, "ceiling_hit@1": 1.0, "ceiling_rr": 1.0},
        {"pairing": "zh", "kind": "uncovered", "gold_sections": [], "rewrite_ok": True, "key_terms": True,
         "rewritten": True, "weak": True},
        {"pairing": "en", "kind": "uncovered", "gold_sections": [], "error": "RuntimeError: boom"},
    ]  # fmt: skip
    summary = summarise(rows)
    overall = summary["all"]
    assert overall["follow_ups"] == 4 and overall["covered"] == 2 and overall["errors"] == 1
    assert overall["hit@1"] == 0.5 and overall["mrr"] == 0.75 and overall["weak"] == 0.5
    assert overall["rewrite_accuracy"] == 0.667 and overall["ceiling_mrr"] == 1.0
    assert summary["pairing zh-en"]["rewrite_accuracy"] == 0.0
    assert summary["kind uncovered"]["hit@1"] is None and "pairing en-zh" not in summary
    assert "pairing zh-en" in summary_table(summary)


def _args(out, **overrides) -> argparse.Namespace:
    """The command's arguments for a small Chinese run without the ceiling, written to `out`."""
    fields = dict(
        dataset=load_conversations.__defaults__[0],
        pairing=["zh"],
        limit=2,
        k=3,
        no_ceiling=True,
        answers=False,
        profile=None,
        no_progress=True,
        out=out,
    )
    return argparse.Namespace(**{**fields, **overrides})


def test_the_command_writes_a_report(hash_settings, tmp_path, capsys):
    args = _args(tmp_path, limit=2, answers=False)
    assert main(args, make_advisor=lambda _s: build_advisor(hash_settings, generator=_rewriter({}))) == 0
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert report["summary"]["all"]["follow_ups"] == 2 and len(report["rows"]) == 2
    assert all(len(r["retrieved"]) == 3 for r in report["rows"]) and report["meta"]["model"] == "scripted"
    assert "rewrite_accuracy" in capsys.readouterr().out


def _rewriter_and_answerer(rewrites: dict[str, str]):
    """The rewriter above for condensation prompts; for an answer prompt, source [1]'s first sentence."""

    def reply(messages):
        prompt = messages[-1]["content"]
        rewrite = next((rewrite for follow_up, rewrite in rewrites.items() if follow_up in prompt), "")
        return copy_first_source(messages) or rewrite

    return ScriptedGenerator(reply)


def test_with_answers_each_follow_up_is_answered_and_judged_as_a_full_run_judges_one(
    hash_settings, tmp_path, capsys
):
    covered = next(c for c in load_conversations() if c.id == "conv-zh-appendix#2")  # 数据集呢？ -> A.2
    rewrites = {"数据集呢？": "附录推荐了哪些数据集？"}
    adv = build_advisor(hash_settings, generator=_rewriter_and_answerer(rewrites))
    judge = Judge(adv.checker, hash_settings.support_threshold)
    row = evaluate_follow_up(adv, covered, k=5, ceiling=False, judge=judge)
    assert row["rewrite"] == row["answer_standalone"] == "附录推荐了哪些数据集？"  # the same condensation
    assert not row["refused"] and not row["false_refusal"] and row["text"].endswith("[1]")
    assert row["reader_verdict"] in ("clean", "defect", "fail") and "cites_gold" in row
    assert row["first_token_ms"] is not None and row["passages"]
    # A model that answers nothing: the covered follow-up is refused, and that is a false refusal.
    silent = build_advisor(hash_settings, generator=_rewriter(rewrites))
    refused = evaluate_follow_up(silent, covered, k=5, ceiling=False, judge=judge)
    assert refused["refused"] and refused["false_refusal"] and refused["reader_verdict"] == "fail"
    assert "false_refusal" in refused["reader_defects"]
    summary = summarise(
        [{**row, "pairing": "zh", "kind": "ellipsis"}, {**refused, "pairing": "zh", "kind": "x"}]
    )
    assert summary["all"]["false_refusals"] == 0.5 and summary["all"]["clean"] <= 0.5
    assert "false_refusals" in summary_table(summary) and "false_refusal" in answer_problems([refused])
    # The command: --answers adds the answer columns to the table and the answers to the report.
    args = _args(tmp_path, limit=1, answers=True)
    assert (
        main(args, make_advisor=lambda _s: build_advisor(hash_settings, generator=_rewriter_and_answerer({})))
        == 0
    )
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert report["meta"]["answers"] and "reader_verdict" in report["rows"][0]
    assert "clean" in report["summary"]["all"] and "uncovered_refused" in capsys.readouterr().out
