"""Which part of the founder playbook a question is about.

Five topics: team, business_model, pricing, risk, other. The topic is found from bilingual keywords (a
founder asking about pricing says "定价", "price", "charge", "折扣"...): explicit, testable and instant,
where embedding prototypes would need a model and still confuse "pricing" with "business model". The
topic then steers retrieval (chunks whose section heading names the topic get a boost) and the answer
scaffold, and is returned with the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from advisor.types import Topic
from textkit import has_han

TOPICS: tuple[Topic, ...] = ("team", "business_model", "pricing", "risk", "other")


@dataclass(frozen=True)
class TopicRule:
    topic: Topic
    keywords: tuple[str, ...]  # lower-case; English ones match at word starts, Chinese ones anywhere
    section_markers: tuple[str, ...]  # words in a section path that mark a chunk as being on this topic


def _kw(words: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in words.split("|") if w.strip())


RULES: tuple[TopicRule, ...] = (
    TopicRule(
        "pricing",
        _kw(
            "定价|价格|收费|计费|报价|折扣|优惠|涨价|降价|订阅费|多少钱|价位"
            "|pricing|price|prices|priced|charge|charging|discount|fee|fees|cost-plus|cost-based"
            "|value-based|competition-based|freemium|tier|tiers"
        ),
        ("定价",),
    ),
    TopicRule(
        "business_model",
        _kw(
            "商业模式|盈利模式|盈利|赚钱|变现|收入|营收|商业化|平台化|垂直整合|价值主张|成本结构|收益|利润"
            "|business model|business models|monetize|monetise|monetization|monetisation|revenue"
            "|profit|profitability|make money|value proposition|cost structure|platform"
            "|vertical integration|subscription|saas"
        ),
        ("商业模式", "盈利模式"),
    ),
    TopicRule(
        "team",
        _kw(
            "团队|招聘|人才|合伙人|联合创始人|股权|期权|激励|薪酬|团队文化|文化|员工|雇|组建|分工|凝聚力"
            "|team|teams|hire|hiring|recruit|recruiting|talent|co-founder|cofounder|co-founders"
            "|equity|stock option|incentive|incentives|compensation|salary|culture|employee"
            "|employees|staff"
        ),
        ("团队",),
    ),
    TopicRule(
        "risk",
        _kw(
            "风险|风控|合规|法律|知识产权|侵权|隐私|失败|倒闭|资金链|挑战|危机"
            "|risk|risks|risky|compliance|legal|lawsuit|intellectual property|privacy|fail|failure"
            "|failed|bankrupt|threat|threats|pitfall|pitfalls|challenge|challenges|cash flow|runway"
        ),
        ("风险", "失败", "挑战"),
    ),
)

_RULES_BY_TOPIC = {rule.topic: rule for rule in RULES}


def _keyword_hits(text: str, keyword: str) -> int:
    if has_han(keyword):
        return text.count(keyword)
    # English: at a word start, so "fee" does not fire inside "feedback" but "hire" covers "hired".
    return len(re.findall(rf"(?<![a-z]){re.escape(keyword)}(?![a-z]{{4,}})", text))


def topic_scores(question: str) -> dict[Topic, int]:
    text = question.lower()
    return {rule.topic: sum(_keyword_hits(text, k) for k in rule.keywords) for rule in RULES}


def classify_topic(question: str) -> Topic:
    """The topic with the most keyword hits; ties go to the earlier, more specific rule; none -> other."""
    scores = topic_scores(question)
    best = max(RULES, key=lambda rule: scores[rule.topic])  # max keeps the first of equals
    return best.topic if scores[best.topic] > 0 else "other"


def section_matches_topic(section: str, topic: Topic) -> bool:
    rule = _RULES_BY_TOPIC.get(topic)
    return bool(rule) and any(marker in section for marker in rule.section_markers)
