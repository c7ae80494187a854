"""A "what is X?" answer that lists only X's parts gets the passage's definition of X first, and only then."""

from advisor.answer_format import Point
from advisor.definition import asks_what_it_is, with_definition

ZH = (
    "垂直整合盈利模式是指将AI大模型技术应用于整个产业链的不同环节，通过整合上下游资源，实现更高的商业价值。\n\n"
    "- **数据采集与处理**：收集和处理特定行业的数据。\n- **解决方案提供**：为客户提供全面的解决方案。"
)
EN = (
    "The vertical-integration profit model refers to applying AI large model technology to different links "
    "of the entire industry chain.\n\n- **Data collection and processing**: Collect industry data.\n"
    "- **Providing solutions**: Provide comprehensive solutions."
)
PARTS = [
    Point("Data collection and processing", "Collect industry data.", 1),
    Point("Providing solutions", "Provide comprehensive solutions.", 1),
]


def test_the_definition_the_model_left_out_comes_first_in_the_words_it_read():
    out = with_definition(PARTS, [ZH], [EN], "What is the vertical integration profit model?", "en")
    assert out[1:] == PARTS
    assert out[0].name == "Vertical-integration profit model" and out[0].source == 1
    assert out[0].explanation.startswith("The vertical-integration profit model refers to applying")
    zh = with_definition(
        [Point("数据采集与处理", "收集数据。", 1)], [ZH], [ZH], "什么是垂直整合盈利模式？", "zh"
    )
    assert zh[0].name == "垂直整合盈利模式" and "整个产业链的不同环节" in zh[0].explanation


def test_nothing_is_added_when_the_question_or_the_passage_is_about_something_else():
    # another term asked, a list question, a definition given already, points from two passages
    assert with_definition(PARTS, [ZH], [EN], "What is the direct profit model?", "en") == PARTS
    assert with_definition(PARTS, [ZH], [EN], "Which parts does vertical integration have?", "en") == PARTS
    given = [Point("Vertical-integration profit model", "It applies AI along the chain.", 1), *PARTS]
    assert with_definition(given, [ZH], [EN], "What is the vertical integration profit model?", "en") == given
    mixed = [PARTS[0], Point("Providing solutions", "Provide.", 2)]
    assert (
        with_definition(mixed, [ZH, ZH], [EN, EN], "What is the vertical integration profit model?", "en")
        == mixed
    )
    # a passage whose lead does not define ("常见的定价策略包括以下几种：") adds nothing
    lead = "常见的定价策略包括以下几种：\n\n- **成本导向定价**：成本加利润。"
    assert with_definition(PARTS, [lead], [lead], "什么是定价策略？", "zh") == PARTS


def test_what_it_is_questions_are_recognised_in_both_languages():
    for q in (
        "什么是平台化盈利模式？",
        "平台化盈利模式是什么？",
        "How does the playbook define a business model?",
        "What does value-based pricing mean?",
        "What is the direct profit model?",
    ):
        assert asks_what_it_is(q), q
    for q in ("有哪些盈利模式？", "Why did GTP.ai fail?", "Which steps does team building have?"):
        assert not asks_what_it_is(q), q
