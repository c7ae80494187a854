"""Answerability before generation: specifics the question asks for must be in the passages."""

from __future__ import annotations

import pytest

from advisor.answerability import missing_specifics

OPENAI_CASE = "案例：OpenAI是一家专注于人工智能研究和技术开发的初创公司，其最著名的项目是GPT-3。"
INCENTIVES = "- **薪酬激励**：设定合理的薪酬水平。\n- **股权激励**：通过股权分配共享成果。"
PRICING_CASE = "基础版产品定价为每月1000元；专业版产品定价为每月5000元。"
MARKET_RESEARCH = "- **访谈法**：通过面对面或电话访谈，深入了解用户的需求和痛点。"
BOOKS = (
    "- **《神经网络与深度学习》**：由邱锡鹏博士撰写的中文深度学习教材。\n"
    "- **《AI大模型：理论与实践》**：一本关于AI大模型的专著，详细介绍了大模型的设计、训练和应用。"
)


@pytest.mark.parametrize(
    ("question", "passages", "missing"),
    [
        ("OpenAI在2023年的营收是多少？", OPENAI_CASE, {"2023", "营收"}),
        ("How much money did Microsoft invest in OpenAI?", OPENAI_CASE, {"Microsoft", "invest"}),
        ("What was OpenAI's valuation in its last round?", OPENAI_CASE, {"valuation"}),
        ("在德国注册一家公司最低需要多少注册资本？", INCENTIVES, {"德国", "注册资本"}),
        ("What is the corporate income tax rate for a startup in Singapore?", INCENTIVES, {"Singapore"}),
        (
            "In the 1,000 yuan / 5,000 yuan pricing example, how many API calls does the basic plan include, "
            "and what is charged for overage?",
            PRICING_CASE,
            {"a count", "overage"},
        ),
        (
            "Before locking in my positioning, how many customer interviews is enough?",
            MARKET_RESEARCH,
            {"a count"},
        ),
        # the book is listed, but its entry names no author and no publisher (专著 is not an author)
        ("附录里推荐的《AI大模型：理论与实践》这本书，作者是谁，哪家出版社出的？", BOOKS, {"作者", "出版社"}),
    ],
)
def test_specifics_absent_from_the_passages_are_named(question, passages, missing):
    assert missing <= set(missing_specifics(question, passages))


@pytest.mark.parametrize(
    ("question", "passages"),
    [
        ("早期员工应该给什么激励？", INCENTIVES),  # 员工 is an ordinary word here, not an asked-for figure
        ("What incentives should I offer early employees?", INCENTIVES),
        ("手册的定价案例里，基础版和专业版每月分别定价多少？", PRICING_CASE),
        ("What did OpenAI's most famous project achieve?", OPENAI_CASE),
        ("How should a founding team be put together, step by step?", INCENTIVES),
        ("《神经网络与深度学习》是谁写的？", BOOKS),
        # an added English document says "churn" where the playbook would say 流失率
        (
            "How can a SaaS startup reduce customer churn?",
            "A SaaS startup reduces churn by onboarding users well.",
        ),
    ],
)
def test_general_or_covered_questions_pass(question, passages):
    assert missing_specifics(question, passages) == []


def test_english_names_are_found_in_their_chinese_form():
    assert (
        missing_specifics("How does Google's framework compare?", "TensorFlow：谷歌开发的开源深度学习框架")
        == []
    )


@pytest.mark.parametrize(
    ("question", "passages", "kind"),
    [
        # a price is a figure, but not the discount, the share, the frequency or the count that is asked
        (
            "定价案例里高端客户的折扣力度是多少？",
            PRICING_CASE + "高端客户群体可享受折扣优惠。",
            "具体的比例或折扣",
        ),
        (
            "How often did the company run its promotions?",
            PRICING_CASE + "公司定期推出限时优惠活动。",
            "how often",
        ),
        (
            "What revenue share should a platform keep, 30% like the app stores?",
            PRICING_CASE,
            "a percentage or discount",
        ),
        (
            "How big is Common Crawl in terabytes?",
            "Common Crawl：包含大量网络数据，共10亿个网页。",
            "a data size",
        ),
        ("在国内做算法备案，整个流程一般要走多久？", PRICING_CASE, "所需的时间"),
        (
            "那个定价案例的公司有多少付费客户？",
            "以下是一家AI大模型创业公司的案例：" + PRICING_CASE,
            "具体的数量",
        ),
    ],
)
def test_a_quantity_of_a_kind_needs_a_figure_of_that_kind(question, passages, kind):
    assert kind in missing_specifics(question, passages)


@pytest.mark.parametrize(
    ("question", "passages"),
    [
        ("折扣力度是多少？", "年付客户可享受8折优惠。"),
        ("How often should prices be reviewed?", "建议每季度1次复盘定价。"),
        ("这个流程要多久？", "备案流程一般需要20天。"),
        ("至少要回收多少份问卷？", "建议回收300份有效问卷。"),
    ],
)
def test_a_figure_of_the_asked_kind_answers_it(question, passages):
    assert missing_specifics(question, passages) == []
