"""List completion: an answer that is most of one passage's list gets the rest, in the passage's order."""

from __future__ import annotations

from advisor.answer_format import Point
from advisor.completion import complete_list, without_lead_in

STEPS = (
    "创业团队的组建流程包括以下几个步骤：\n\n"
    "1. **明确目标和愿景**：明确创业团队的目标和愿景，确定创业项目的基本方向。\n"
    "2. **寻找合适的人才**：通过线上招聘、社交网络、行业会议等方式，寻找具备相关技能和经验的人才。\n"
    "3. **团队磨合**：通过团队建设活动，增强团队成员之间的默契和信任。\n"
    "4. **明确分工**：根据团队成员的能力和特长，明确各自的职责和任务。"
)
STEPS_EN = (
    "The process of forming a startup team includes the following steps:\n\n"
    "1. **Clarify goals and vision**: Clarify the team's goals and vision and the project's basic direction.\n"
    "2. **Find the right talent**: Find people with relevant skills through online recruiting and events.\n"
    "3. **Team bonding**: Strengthen understanding and trust through team-building activities.\n"
    "4. **Clear division of labour**: Assign responsibilities according to each member's strengths."
)
OTHER = (
    "- **线上推广**：利用社交媒体进行推广。\n- **线下活动**：参加行业会议。\n- **合作伙伴**：寻找合作伙伴。"
)


def _cite(source: int, *named: tuple[str, str]) -> list[Point]:
    return [Point(name, explanation, source) for name, explanation in named]


def test_the_missing_items_are_added_in_the_passages_words_and_order():
    points = _cite(
        1,
        ("寻找合适的人才", "通过多种方式寻找人才。"),
        ("明确分工", "明确各自的职责。"),
        ("团队磨合", "增强默契。"),
    )
    done = complete_list(points, [STEPS, OTHER])
    assert [p.name for p in done] == ["明确目标和愿景", "寻找合适的人才", "团队磨合", "明确分工"]
    assert done[0] == Point("明确目标和愿景", "明确创业团队的目标和愿景，确定创业项目的基本方向。", 1)
    assert done[1] is points[0]  # what the model wrote stays as written


def test_an_english_answer_is_completed_from_the_rendering_it_read():
    points = _cite(
        2,
        ("Find the right talent", "Recruit."),
        ("Team Bonding", "Trust."),
        ("Clear division of labour", "Roles."),
    )
    done = complete_list(points, [OTHER, STEPS_EN])
    assert done[0].name == "Clarify goals and vision" and done[0].source == 2
    assert done[0].explanation.startswith("Clarify the team's goals")
    assert len(done) == 4


def test_answers_that_are_not_most_of_one_list_are_left_alone():
    one_of_four = [Point("明确分工", "明确职责。", 1), Point("其他", "别的内容。", 1)]
    assert complete_list(one_of_four, [STEPS]) == one_of_four  # a question about one step
    two_sources = [Point("明确分工", "明确职责。", 1), Point("线上推广", "推广。", 2)]
    assert complete_list(two_sources, [STEPS, OTHER]) == two_sources
    whole = [Point("线上推广", "a", 1), Point("线下活动", "b", 1), Point("合作伙伴", "c", 1)]
    assert complete_list(whole, [OTHER]) == whole
    no_list = [Point("定义", "x。", 1), Point("目标", "y。", 1)]
    assert complete_list(no_list, ["定价策略是指公司如何设定价格。"]) == no_list


def test_english_names_sharing_words_are_not_taken_for_each_other():
    case = (
        "- **Cost-based pricing**: Basic edition 1000 yuan per month.\n"
        "- **Value-based pricing**: Premium customers get discounts.\n"
        "- **Competition-based pricing**: Regular limited-time offers."
    )
    points = _cite(
        1,
        ("Cost-based pricing", "a."),
        ("Value-based pricing", "b."),
        ("Combined pricing", "Several combined."),
    )
    assert complete_list(points, [case]) == points  # "Combined pricing" is not the cost-based item


def test_a_question_naming_one_item_is_about_that_item():
    points = _cite(1, ("明确分工", "明确职责。"), ("团队磨合", "增强默契。"))
    assert complete_list(points, [STEPS], "团队磨合和明确分工这两步怎么做？") == points
    assert len(complete_list(points, [STEPS], "组建团队有哪些步骤？")) == 4


def test_the_answer_may_have_as_many_points_as_its_passages_hold():
    from advisor.completion import points_held

    one_item = (
        "常见的定价策略包括以下几种：\n\n- **价值导向定价**：根据用户对产品或服务的价值感知，设定价格。"
    )
    defined = "垂直整合盈利模式是指将AI大模型技术应用于整个产业链。\n\n- **数据采集与处理**：收集。\n- **解决方案提供**：提供。"
    assert points_held([one_item], 6) == 1  # a lead-in ending in a colon is no point
    assert points_held([defined], 6) == 3  # a defining lead is one
    assert points_held([one_item, defined], 6) == 4
    assert points_held([one_item, defined], 2) == 2  # never above the configured most
    assert points_held([one_item, "OpenAI是一家初创公司。"], 6) == 6  # prose: nothing to count
    assert points_held([], 6) == 6


LESSONS = (
    "GTP.ai的失败为AI大模型创业公司提供了以下几点教训与反思：\n\n"
    "- **技术创新是持续的过程**：技术竞争激烈，创业公司需要持续投入研发。\n"
    "- **市场定位要准确**：要选择有明确市场需求和潜在客户的领域。\n"
)
LESSONS_EN = (
    "GTP.ai's failure provided lessons and reflections for AI large model startup companies.\n\n"
    "- **Technological innovation is a continuous process**: Technological competition is fierce; startups "
    "need to keep investing in R&D.\n"
    "- **Precise market positioning**: Select a domain with clear market demand and potential customers.\n"
)


def test_a_point_that_copied_its_passages_lead_in_keeps_its_items_words():
    lead = "GTP.ai的失败为AI大模型创业公司提供了以下几点教训与反思："
    points = [
        Point("技术创新是持续的过程", lead + "技术竞争激烈，创业公司需要持续投入研发。", 1),
        Point("市场定位要准确", "要选择有明确市场需求和潜在客户的领域。", 1),
    ]
    fixed = without_lead_in(points, [LESSONS])
    assert fixed[0].explanation == "技术竞争激烈，创业公司需要持续投入研发。" and fixed[1] == points[1]
    # English: the model's copy of the rendered lead-in is all the point says: the item's words replace it.
    copied = Point(
        "Technological innovation is a continuous process",
        "GTP.ai's failure provided lessons and reflections for AI large model startup companies.",
        1,
    )
    (done,) = without_lead_in([copied], [LESSONS_EN])
    assert done.explanation == "Technological competition is fierce; startups need to keep investing in R&D."
    # A point naming no item of its passage, or explaining in its own words, is left alone.
    own = Point("Precise market positioning", "Choose a market with clear demand for AI models.", 1)
    stray = Point("Funding", "GTP.ai's failure provided lessons and reflections for startups.", 1)
    assert without_lead_in([own, stray], [LESSONS_EN]) == [own, stray]
