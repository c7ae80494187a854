"""Questions with gold playbook subsections, for measuring retrieval (hit@5) on the real index.

A question counts as a hit when any of its top-5 passages lies under one of its gold subsections
(matched on the section path's numbering, e.g. "5.3.2"). Written from the playbook's table of contents
by a reader, phrased the way founders ask, not copied from the headings.
"""

from __future__ import annotations

ENGLISH: list[tuple[str, tuple[str, ...]]] = [
    ("What pricing strategies can an AI startup use?", ("5.3.2",)),
    ("Should I set prices based on my costs or on the value customers see?", ("5.3.2", "5.3.3")),
    ("Give me an example of how an AI company priced its basic and professional plans.", ("5.3.3",)),
    ("What does a pricing strategy mean for an AI product?", ("5.3.1", "5.3.2")),
    ("How can an AI model company make money?", ("5.2.1", "5.2.2", "5.2.3", "9.2.1")),
    ("What is a platform-based revenue model?", ("5.2.3",)),
    ("What are the building blocks of a business model?", ("5.1.2", "9.2.1")),
    ("How can we innovate on our business model?", ("5.1.3",)),
    ("What skills should the founding team have?", ("4.1.1", "9.1.2")),
    ("How do I motivate my team with equity and salary?", ("4.1.3", "7.1.2", "9.1.2")),
    ("What are the steps to put together a startup team?", ("4.1.2",)),
    ("How do I build a strong team culture?", ("7.1.3",)),
    ("What risks does an AI startup face?", ("9.3.1", "3.3.2")),
    ("How should we manage risk?", ("9.3.2", "9.3.3")),
    ("How do we handle legal and intellectual property risk?", ("9.3.3", "9.3.1")),
    ("Why did the GTP.ai startup fail?", ("6.2.2", "6.2.1")),
    ("What lessons can we learn from failed AI startups?", ("6.2.3",)),
    ("Why was OpenAI successful?", ("6.1.2",)),
    ("How do I do market research for my product?", ("4.2.1", "9.1.3")),
    ("How should I position my product in the market?", ("4.2.2", "9.1.3")),
    ("How do I analyse my target customers?", ("4.2.3",)),
    ("How should we iterate on the product after launch?", ("4.3.3",)),
    ("What should I prepare before starting an AI company?", ("9.1.1",)),
    ("How can we expand into new markets?", ("7.3.3", "9.2.2")),
    ("What are the opportunities for AI startups?", ("3.3.1",)),
    ("Which deep learning frameworks should an AI startup use?", ("A.1", "2.1.3")),
]

CHINESE: list[tuple[str, tuple[str, ...]]] = [
    ("AI大模型创业公司应该采用哪些定价策略？", ("5.3.2",)),
    ("定价策略有哪些类型？", ("5.3.2",)),
    ("AI大模型公司怎么赚钱？", ("5.2.1", "5.2.2", "5.2.3", "9.2.1")),
    ("平台化盈利模式是什么？", ("5.2.3",)),
    ("创业团队需要具备哪些核心能力？", ("4.1.1", "9.1.2")),
    ("如何激励团队成员？", ("4.1.3", "7.1.2", "9.1.2")),
    ("AI创业有哪些风险？", ("9.3.1", "3.3.2")),
    ("怎么应对法律风险？", ("9.3.3", "9.3.1")),
    ("GTP.ai为什么失败了？", ("6.2.2", "6.2.1")),
    ("如何做市场调研？", ("4.2.1", "9.1.3")),
    ("团队文化怎么建设？", ("7.1.3",)),
    ("创业前需要做哪些准备？", ("9.1.1",)),
    # paraphrases that avoid the headings' own words
    ("产品卖多少钱合适，按成本算还是按客户觉得值多少算？", ("5.3.2", "5.3.3")),
    ("基础版和专业版每月收多少钱比较好？", ("5.3.3",)),
    ("给员工分股份有什么用？", ("4.1.3", "7.1.2", "9.1.2")),
    ("公司没钱了怎么办？", ("9.3.3", "9.3.1", "6.2.2")),
    ("怎么让更多客户知道我们的产品？", ("7.3.3", "9.2.2")),
    ("用户提了意见以后产品怎么改？", ("4.3.3",)),
    ("开放API给第三方开发者能赚钱吗？", ("5.2.3",)),
    ("OpenAI做对了什么？", ("6.1.2", "6.1.3")),
]


def is_hit(sections: list[str], gold: tuple[str, ...]) -> bool:
    return any(
        f" {g} " in f" {s.split(' › ')[-1]} " or s.split(" › ")[-1].startswith(f"{g} ")
        for s in sections
        for g in gold
    )
