"""A bilingual founder-term glossary: the Chinese words the playbook uses for an English founder's terms.

Used to find the supporting quote of an English answer sentence inside a Chinese passage (cite.py):
"value-based pricing [1]" -> "价值导向定价" -> the line "价值导向定价：…" of passage 1, with no model call.

It was also tried as the Chinese rendering of English questions for retrieval and measured worse than
none (see advisor/retrieve.py, llm_translator): a bag of terms pulls in passages that share one word.

Longer phrases are matched first so "business model" wins over "model".
"""

from __future__ import annotations

import re

# English phrase (lower case) -> the playbook's Chinese term(s).
GLOSSARY: dict[str, str] = {
    # pricing
    "pricing strategy": "定价策略",
    "pricing strategies": "定价策略",
    "pricing": "定价",
    "price": "价格 定价",
    "prices": "价格 定价",
    "cost-based": "成本导向定价",
    "cost based": "成本导向定价",
    "cost-plus": "成本导向定价",
    "value-based": "价值导向定价",
    "value based": "价值导向定价",
    "competition-based": "竞争导向定价",
    "competitor-based": "竞争导向定价",
    "competitive pricing": "竞争导向定价",
    "competitive": "竞争 竞争力",
    "cost": "成本",
    "costs": "成本",
    "value": "价值",
    "perceived value": "价值感知",
    "market": "市场",
    "bundle": "组合定价",
    "bundling": "组合定价",
    "discount": "折扣优惠",
    "discounts": "折扣优惠",
    "subscription": "订阅 每月",
    "monthly": "每月",
    "tier": "基础版 专业版",
    "tiers": "基础版 专业版",
    "premium": "专业版 高端客户",
    # business model
    "business model": "商业模式",
    "business models": "商业模式",
    "revenue model": "盈利模式",
    "monetize": "盈利模式",
    "monetise": "盈利模式",
    "monetization": "盈利模式",
    "monetisation": "盈利模式",
    "make money": "盈利模式 获得收入",
    "revenue": "收入 盈利",
    "profit": "盈利 利润",
    "profitability": "盈利",
    "value proposition": "价值主张",
    "cost structure": "成本结构",
    "key resources": "关键资源",
    "key activities": "关键活动",
    "partners": "合作伙伴",
    "partnership": "合作伙伴关系",
    "platform": "平台化 平台",
    "ecosystem": "生态系统",
    "vertical integration": "垂直整合",
    "direct sales": "直接盈利模式 直接销售",
    "api": "API接口",
    "licensing": "授权",
    # team
    "team": "团队",
    "teams": "团队",
    "team building": "团队建设",
    "co-founder": "创业团队 合伙人",
    "cofounder": "创业团队 合伙人",
    "hire": "招聘 人才",
    "hiring": "招聘 人才",
    "recruit": "招聘 人才",
    "talent": "人才",
    "incentive": "激励机制",
    "incentives": "激励机制",
    "motivate": "激励",
    "equity": "股权激励",
    "stock options": "股权激励",
    "salary": "薪酬激励",
    "compensation": "薪酬",
    "culture": "团队文化",
    "core capabilities": "核心能力",
    "skills": "核心能力",
    "roles": "角色分工",
    "trust": "信任",
    "career": "职业发展",
    # risk
    "risk": "风险",
    "risks": "风险",
    "risk management": "风险管理策略",
    "legal": "法律风险",
    "intellectual property": "知识产权",
    "ip": "知识产权",
    "compliance": "合规 法律法规",
    "privacy": "隐私",
    "funding": "资金",
    "cash flow": "资金链",
    "runway": "资金链",
    "fundraising": "融资 风险投资",
    "investors": "风险投资",
    "venture capital": "风险投资",
    "failure": "失败原因",
    "fail": "失败",
    "failed": "失败",
    "lessons": "教训与反思 经验与启示",
    "success": "成功原因",
    "challenges": "挑战",
    "competition": "竞争",
    "competitors": "竞品分析 竞争对手",
    # market and product
    "market research": "市场调研",
    "market positioning": "市场定位",
    "positioning": "定位",
    "target customers": "目标客户群体",
    "target market": "目标市场",
    "customers": "客户",
    "customer": "客户",
    "users": "用户",
    "survey": "问卷调查",
    "interviews": "访谈法",
    "product design": "产品设计",
    "product development": "产品开发",
    "iteration": "产品迭代",
    "iterate": "迭代",
    "feedback": "用户反馈",
    "brand": "品牌",
    "marketing": "推广 市场拓展",
    "growth": "成长策略 市场拓展",
    "market expansion": "市场拓展",
    "operations": "运营管理",
    "innovation": "创新",
    "startup": "创业",
    "start-up": "创业",
    "startups": "创业",
    "founder": "创业者",
    "founders": "创业者",
    "preparation": "创业准备",
    "large model": "大模型",
    "large models": "大模型",
    "ai": "AI大模型",
    "llm": "大模型",
    "opportunities": "创业机会",
    "trends": "趋势",
    "case study": "案例",
    "openai": "OpenAI",
    "tools": "开发工具",
    "frameworks": "框架",
    "datasets": "数据集",
    "books": "书籍",
}

_PHRASES = sorted(GLOSSARY, key=len, reverse=True)
_PATTERN = re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(p) for p in _PHRASES) + r")(?![a-z0-9])")


def glossary_rendering(question: str) -> str:
    """The Chinese terms of the question's founder vocabulary, space-separated; "" when none match."""
    seen: list[str] = []
    for match in _PATTERN.finditer(question.lower()):
        term = GLOSSARY[match.group(1)]
        if term not in seen:
            seen.append(term)
    return " ".join(seen)
