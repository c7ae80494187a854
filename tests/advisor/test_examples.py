"""An example passage that only illustrates a list the model also reads is left out, and only then."""

import pytest

from advisor.examples import asks_for_example, is_example_section
from advisor.focus import focus_passages
from tests.advisor.test_focus import CASE, CASE_TEXT, TYPES, TYPES_TEXT, hit, sections

CONCEPT = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.1 定价策略的概念"
CONCEPT_TEXT = "定价策略是指公司如何为AI大模型产品或服务设定价格，以实现利润最大化。"
OTHER_CASE = "AI大模型创业案例解析 › 6.2 AI大模型创业失败案例 › 6.2.1 案例介绍"


def passages():
    return [hit(1, CASE, CASE_TEXT), hit(2, CONCEPT, CONCEPT_TEXT), hit(3, TYPES, TYPES_TEXT)]


@pytest.mark.parametrize(
    "question, renderings",
    [
        ("AI创业公司有哪些定价策略？", ()),
        ("What pricing strategies can an AI startup use?", ("AI创业公司可以使用哪些定价策略？",)),
    ],
)
def test_a_question_about_the_list_reads_the_list_not_its_illustration(question, renderings):
    assert sections(focus_passages(question, passages(), renderings)) == [CONCEPT, TYPES]


@pytest.mark.parametrize(
    "question",
    [
        "手册的定价案例里，基础版每月定价多少？",  # asks for the case
        "Give an example of value-based pricing.",  # asks for an example
        "基础版产品每月定价多少？",  # names what only the case has
        "How much does the professional edition cost per month?",  # the same, through the dictionary
    ],
)
def test_the_example_stays_when_the_question_wants_what_only_it_has(question):
    assert CASE in sections(focus_passages(question, passages()))


def test_an_example_stays_when_no_sibling_names_all_its_items():
    fewer = TYPES_TEXT.replace("- **竞争导向定价**", "- **竞争定价**")
    hits = [hit(1, CASE, CASE_TEXT), hit(2, TYPES, fewer)]
    assert sections(focus_passages("AI创业公司有哪些定价策略？", hits)) == [CASE, TYPES]
    # nor when the general passage is not read, nor when it is switched off
    assert sections(focus_passages("AI创业公司有哪些定价策略？", [hit(1, CASE, CASE_TEXT)])) == [CASE]
    both = [hit(1, CASE, CASE_TEXT), hit(2, TYPES, TYPES_TEXT)]
    assert sections(focus_passages("AI创业公司有哪些定价策略？", both, drop_examples=False)) == [CASE, TYPES]


def test_only_a_passage_whose_own_heading_names_a_case_is_an_example():
    assert is_example_section(CASE) and is_example_section(OTHER_CASE)
    assert not is_example_section(TYPES)
    assert not is_example_section("AI大模型创业案例解析 › 6.2 AI大模型创业失败案例 › 6.2.2 失败原因")
    assert asks_for_example("Which company in the playbook failed?")
    assert not asks_for_example("What pricing strategies exist?")
