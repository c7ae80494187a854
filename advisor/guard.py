"""Questions refused before any generation: requests for the instructions, and off-topic questions.

Both are decided on the question alone (plus retrieval strength for off-topic), so the model never sees
a prompt-extraction attempt and no tokens are spent on "what is the capital of France?".
"""

from __future__ import annotations

import re

# Requests to reveal or override the instructions. Phrased as patterns over the lower-cased question so
# that paraphrases ("show me your system prompt", "what were you told before this conversation")
# are caught too; English and Chinese.
_INSTRUCTION_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instruction|instructions|prompt|prompts|rules"
        r"|guidelines|directions|context)\b",
        r"\bsystem\s*(prompt|message|instructions?)\b",
        r"\b(developer|hidden|initial|original|secret|internal)\s+(prompt|message|instructions?|rules)\b",
        r"\b(print|show|reveal|repeat|display|output|tell|give|share|leak|dump|list|what)\b.{0,40}"
        r"\byour\s+(prompt|instructions?|rules|guidelines|configuration)\b",
        # "show me the rules (you follow)" but not "what are the rules for hiring"
        r"\b(print|show|reveal|repeat|display|leak|dump)\b.{0,20}\bthe\s+(prompt|instructions?|rules)\b"
        r"(?!\s+(for|of|on|about|to|in)\b)",
        r"\b(repeat|print|output|show|reveal|copy)\b.{0,30}\b(above|preceding|before this)\b",
        r"\bwhat\s+(were|are)\s+you\s+(told|instructed|programmed)\b",
        r"\b(jailbreak|dan mode|developer mode|prompt injection)\b",
        r"(忽略|无视|忘记|忘掉|跳过|绕过).{0,12}(指令|指示|提示|规则|要求|设定|说明)",
        r"(系统|初始|原始|隐藏|内部|开发者).{0,4}(提示|指令|消息|设定|prompt)",
        r"提示词|提示语|系统提示|你的(指令|指示|规则|设定|提示|prompt)",
        r"(输出|打印|显示|透露|泄露|告诉我|重复|复述|展示).{0,12}(你的|你收到的|上面的|之前的).{0,6}"
        r"(指令|指示|内容|规则|设定|提示|话)",
        r"越狱",
    )
)

# Words that place a question in the playbook's world: founding and running a company, AI business.
# A question with none of these AND weak retrieval is off-topic rather than merely not covered.
_DOMAIN_WORDS = re.compile(
    r"创业|创始人|公司|企业|团队|产品|市场|客户|用户|商业|盈利|定价|价格|收入|融资|投资|资金|风险|运营|管理"
    r"|竞争|战略|策略|招聘|股权|激励|品牌|营销|销售|合规|法律|人工智能|大模型|模型|数据|算法|技术|行业|初创|老板"
    r"|\b(ai|llm|gpt|startup|startups|start-up|founder|founders|company|companies|business|team|product|market"
    r"|customer|customers|user|users|revenue|profit|pricing|price|funding|fundraising|investor|investors|vc"
    r"|equity|hire|hiring|risk|risks|strategy|competition|competitor|competitors|growth|sales|marketing"
    r"|brand|operations|compliance|legal|model|models|data|saas|api|enterprise|b2b|b2c|mvp|launch)\b"
)


def asks_for_instructions(question: str) -> bool:
    """True when the question tries to read or override the system prompt."""
    text = " ".join(question.lower().split())
    return any(p.search(text) for p in _INSTRUCTION_PATTERNS)


def is_in_domain(question: str) -> bool:
    """True when the question mentions anything about founding/running a company or AI business."""
    return bool(_DOMAIN_WORDS.search(question.lower()))
