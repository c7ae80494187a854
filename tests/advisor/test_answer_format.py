"""The answer's shape: the grammar llama.cpp samples under, the parser, the renderer and the loop guard."""

from __future__ import annotations

import re

import pytest

from advisor.answer_format import (
    NOT_COVERED,
    LoopGuard,
    Point,
    answer_grammar,
    is_not_covered,
    lead_points,
    parse_points,
    render,
)
from advisor.focus import named_section
from tests.advisor.test_focus import FAILURE_LESSONS, FAILURE_REASONS


def test_grammar_allows_only_existing_sources_and_the_point_limit():
    g = answer_grammar("zh", 3, 4, "基础版每月1000元")
    assert "[1-3]" in g and "[1-4]" not in g
    assert g.count('("\\n" item)?') == 3  # 1 required + 3 optional points
    assert NOT_COVERED["zh"] in g


def test_grammar_bans_currency_signs_the_passages_never_use():
    zh_yuan = answer_grammar("en", 2, 6, "基础版每月1000元")
    assert "$" in zh_yuan.split("first ::=")[1]  # inside the negated classes: cannot be written
    usd = answer_grammar("en", 2, 6, "市场规模将达到万亿美元级别")
    assert "$" not in usd.split("first ::=")[1]  # the passages speak of dollars: "$" stays writable


@pytest.mark.parametrize("bad", [(0, 3), (2, 0)])
def test_grammar_needs_a_source_and_a_point(bad):
    with pytest.raises(ValueError):
        answer_grammar("en", *bad)


def test_parse_keeps_well_formed_points_and_drops_empty_repeated_and_unmarked_ones():
    raw = (
        "- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。[1]\n"
        "- 寻找合适的人才：。[1]\n"  # an empty point
        "- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。[1]\n"  # repeated
        "- 价值导向定价：根据用户对产品或服务的价值感知，设定价格\n"  # cut short: no marker
        "- 竞争导向定价：根据市场竞争情况，设定具有竞争力的价格[3]"
    )
    points = parse_points(raw)
    assert [p.name for p in points] == ["成本导向定价", "竞争导向定价"]
    assert points[1].explanation.endswith("。") and points[1].source == 3
    assert render(points, "zh").splitlines() == [
        "- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。[1]",
        "- **竞争导向定价**：根据市场竞争情况，设定具有竞争力的价格。[3]",
    ]


def test_parse_reads_english_points_and_statements():
    raw = "- **Equity incentives**: Share the company's growth with the team. [2]\n- The basic plan costs 1000 yuan per month [1]"
    points = parse_points(raw)
    assert [(p.name, p.source) for p in points] == [("Equity incentives", 2)]
    # A statement line without a name is not a "name: explanation" point; the advisor renders what parses.
    assert render(points, "en") == "- **Equity incentives**: Share the company's growth with the team.[2]"


def test_not_covered_is_recognised_only_alone():
    assert is_not_covered("知识库没有涵盖这个问题。", "zh")
    assert is_not_covered(" The knowledge base does not cover this question ", "en")
    assert not is_not_covered("The knowledge base does not cover this question, but [1] says X.", "en")


def test_loop_guard_trips_on_a_repeated_line_not_on_new_ones():
    guard = LoopGuard()
    assert not guard.feed("- 线上推广：通过社交媒体推广。[1]\n- 线下活动：参加行业会议。")
    assert not guard.feed("[2]\n")
    assert guard.feed("- 线上推广：通过社交媒体推广。[3]\n")  # the same point again, another marker
    assert guard.tripped


def test_loop_guard_trips_on_the_same_name_a_third_time():
    guard = LoopGuard()
    lines = [f"- 案例分析：第{i}种说法，内容各不相同的解释{i}。[1]\n" for i in range(3)]
    tripped = [guard.feed(line) for line in lines]
    assert tripped == [False, False, True]


def test_real_grammar_text_is_well_formed_gbnf_shape():
    g = answer_grammar("en", 5, 6, "")
    rules = dict(line.split(" ::= ", 1) for line in g.splitlines())
    assert set(rules) == {"root", "item", "bold", "name", "first", "rest"}
    assert re.search(r"\{19,360\}", rules["rest"])  # a sentence, not a bare name


def test_a_book_title_with_its_own_colons_is_one_name():
    text = (
        "- **《AI大模型**：理论与实践》（Large-scale AI Models：Theory and Practice）：一本关于AI大模型的专著。[1]\n"
        "- **GPT-3（Generative Pre-trained Transformer 3）**：OpenAI最著名的项目。[2]"
    )
    names = [p.name for p in parse_points(text)]
    assert names == [
        "《AI大模型：理论与实践》（Large-scale AI Models：Theory and Practice）",
        "GPT-3（Generative Pre-trained Transformer 3）",
    ]


def test_the_prompt_glossary_written_out_as_a_point_is_dropped():
    text = (
        "- **Cost-based pricing**: Based on the product's cost, plus a certain profit.[1]\n"
        "- **Terms in these sources and their English**: cost-based pricing = cost-based pricing; "
        "yuan = yuan (RMB); basic edition = basic edition.[2]"
    )
    assert [p.name for p in parse_points(text)] == ["Cost-based pricing"]


def test_a_list_built_on_one_passage_keeps_only_that_passages_points():
    points = [
        Point("Funding risk", "Plan the use of funds.", 1),
        Point("Risk response", "Transfer, avoid or accept risks.", 2),
        Point("Funding sources", "Seek venture capital and government grants.", 1),
    ]
    kept, dropped = lead_points(points)
    assert [p.name for p in kept] == ["Funding risk", "Funding sources"]
    assert [p.name for p in dropped] == ["Risk response"]


def test_points_citing_another_document_are_its_part_of_the_answer_and_stay():
    points = [
        Point("Equity split", "Give the technical co-founder 15-30%.", 1),
        Point("Team building", "Complementary skills matter.", 3),
        Point("Vesting", "Four years with a one-year cliff.", 1),
        Point("Drift", "The next section of the same note.", 2),
    ]
    documents = {1: "equity_notes.md", 2: "equity_notes.md", 3: "playbook.md"}
    kept, dropped = lead_points(points, document_of=documents.__getitem__)
    assert [p.name for p in kept] == ["Equity split", "Team building", "Vesting"]
    assert [p.name for p in dropped] == ["Drift"]


@pytest.mark.parametrize(
    "sources",
    [[1, 2], [2, 1, 3], [1], []],  # one point per passage: a definition and its example stay together
)
def test_points_spread_over_passages_one_each_are_all_kept(sources):
    points = [Point(f"p{i}", "Explained.", s) for i, s in enumerate(sources)]
    assert lead_points(points) == (points, [])


def test_on_a_tie_nothing_is_dropped():
    # two lists answered side by side (OpenAI's success factors [2] and its lessons [3])
    points = [Point("a", "x.", 3), Point("b", "y.", 2), Point("c", "z.", 2), Point("d", "w.", 3)]
    assert lead_points(points) == (points, [])


def test_a_passages_lead_in_written_as_a_name_gives_way_to_the_items_name():
    text = (
        "- **GTP.ai的失败原因主要包括以下几个方面**：技术不足：性能与市场领先者存在明显差距。[1]\n"
        "- **市场竞争激烈**：AI大模型市场竞争激烈。[1]\n"
        "- **The reasons include the following**: no item name here.[1]"
    )
    points = parse_points(text)
    assert [p.name for p in points] == ["技术不足", "市场竞争激烈"]
    assert points[0].explanation == "性能与市场领先者存在明显差距。"


def test_on_a_tie_the_passage_the_question_names_leads():
    points = [Point("a", "x.", 1), Point("b", "y.", 1), Point("c", "z.", 2), Point("d", "w.", 2)]
    kept, dropped = lead_points(points, prefer=lambda tied: 2 if 2 in tied else None)
    assert [p.name for p in kept] == ["c", "d"] and [p.name for p in dropped] == ["a", "b"]
    assert lead_points(points, prefer=lambda tied: None) == (points, [])


def test_the_question_names_the_lessons_not_the_reasons():
    reasons, lessons = FAILURE_REASONS, FAILURE_LESSONS
    question = "What lessons can founders draw from the failure of GTP.ai?"
    assert named_section(question, [reasons, lessons], ["创业者可以从GTP.ai的失败中吸取哪些教训？"]) == 1
    assert named_section("GTP.ai为什么会失败？原因是什么？", [reasons, lessons]) == 0
    assert named_section("Tell me about GTP.ai.", [reasons, lessons]) is None
    assert named_section(question, [lessons, lessons]) is None


def test_a_repeated_line_of_free_text_is_shown_once():
    from advisor.answer_format import unique_lines

    text = "- GTP.ai lagged behind GPT-3.[1]\n- GTP.ai lagged behind GPT-3. [1]\n- Another point.[2]"
    assert unique_lines(text) == "- GTP.ai lagged behind GPT-3.[1]\n- Another point.[2]"
    assert unique_lines("a\n\nb\n\nc") == "a\n\nb\n\nc"  # blank lines are not repeats


def test_a_point_citing_no_passage_is_not_another_documents_part():
    points = [Point("a", "x.", 1), Point("b", "y.", 1), Point("c", "z.", 5)]
    documents = {1: "playbook.md"}
    kept, dropped = lead_points(points, document_of=lambda n: documents.get(n, ""))
    assert [p.name for p in kept] == ["a", "b"] and [p.name for p in dropped] == ["c"]


def test_a_chinese_point_cannot_begin_with_the_passage_label():
    # "[1] 章节：招聘渠道": a point that copied the label was driven into "招聘渠道-1-2-3-…" by the grammar
    rules = dict(line.split(" ::= ", 1) for line in answer_grammar("zh", 2, 4, "").splitlines())
    assert "章" in rules["namefirst"].split(" | ")[0]  # inside the negated class: a name cannot start with it
    lead = re.compile(rules["lead"].replace("\\n", "\n"))
    assert lead.fullmatch("创") and lead.fullmatch("第") and not lead.fullmatch("章")
    assert rules["expl"].startswith("lead rest")


@pytest.mark.parametrize(
    "runaway",
    [
        "- 章节：招聘渠道-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17-18-19-20",
        "- Title: 1.000000000000000000000000000",
        "- 免收工位租金：第1章，第1节，第1条，第2条，第3条，第4条，第5条，第6条，第7条",
    ],
)
def test_loop_guard_trips_on_a_line_that_runs_on_in_a_loop_of_its_own(runaway):
    guard = LoopGuard()
    assert any(guard.feed(ch) for ch in runaway)


def test_loop_guard_lets_figures_and_ordinary_lines_run():
    guard = LoopGuard()
    text = (
        "- 基础版每月1000元，专业版每月5000元，企业版每月10000元，旗舰版每月100000元。[1]\n"
        "- The plan costs 1,000,000 yuan (1000000) per year and 100% of it is paid up front. [1]"
    )
    assert not any(guard.feed(ch) for ch in text)
