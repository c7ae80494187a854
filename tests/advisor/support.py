"""The advisor tests' shared corpus: a few playbook-like sections and their chunks (used by the tests
and by conftest.py's fixtures)."""

from __future__ import annotations

import hashlib

from indexing import Chunk

PRICING = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.2 定价策略的类型"
PRICING_CASE = "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.3 定价策略的案例分析"
PLATFORM = "AI大模型商业模式设计 › 5.2 AI大模型盈利模式 › 5.2.3 平台化盈利模式"
TEAM = "AI大模型创业准备 › 4.1 创业团队组建 › 4.1.3 创业团队的激励机制"
RISK = "AI大模型创业的建议与启示 › 9.3 创业风险与应对 › 9.3.1 创业风险识别"
TOOLS = "附录 › 附录A AI大模型创业工具与资源 › A.1 开发工具与框架"

CORPUS = [
    (
        PRICING,
        "常见的定价策略包括以下几种：\n"
        "- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。\n"
        "- **价值导向定价**：根据用户对产品或服务的价值感知，设定价格。\n"
        "- **竞争导向定价**：根据市场竞争情况，设定具有竞争力的价格。\n"
        "- **组合定价**：结合多种定价策略，实现最优的价格策略。",
    ),
    (
        PRICING_CASE,
        "以下是一个AI大模型创业公司的定价策略案例：\n"
        "- **成本导向定价**：基础版产品定价为每月1000元，包含基本的AI大模型服务；专业版产品定价为每月5000元。\n"
        "- **竞争导向定价**：在市场上，公司定期推出限时优惠活动，以吸引更多用户。",
    ),
    (
        PLATFORM,
        "平台化盈利模式是指构建一个开放的AI大模型平台，吸引第三方开发者、用户等，通过平台生态的活跃度实现盈利。\n"
        "- **平台开发与运营**：搭建和维护AI大模型平台，提供API接口、工具包等。",
    ),
    (
        TEAM,
        "创业团队的激励机制应包括以下几个方面：\n"
        "- **薪酬激励**：根据团队成员的贡献和绩效，设定合理的薪酬水平，以保持团队的稳定性和积极性。\n"
        "- **股权激励**：通过股权分配，让团队成员共享公司发展的成果，增强团队的凝聚力和归属感。",
    ),
    (
        RISK,
        "创业风险识别包括以下几个方面：\n"
        "- **技术风险**：识别和评估AI大模型技术方面的风险，如模型性能不稳定、算法失效等。\n"
        "- **资金风险**：识别和评估资金方面的风险，如资金不足、资金链断裂等。\n"
        "- **法律风险**：识别和评估法律方面的风险，如知识产权侵权、合同纠纷等。",
    ),
    (
        TOOLS,
        "- **PyTorch**：基于Python的开源深度学习框架，具有灵活的动态计算图和简洁的API，深受开发者喜爱。\n"
        "- **TensorFlow**：谷歌开发的开源深度学习框架，支持多种编程语言。",
    ),
]


def make_chunks(corpus=CORPUS, source: str = "playbook.md") -> list[Chunk]:
    chunks, offset = [], 0
    doc_id = hashlib.sha256("".join(t for _, t in corpus).encode()).hexdigest()[:24]
    for section, text in corpus:
        chunk_id = f"{doc_id}:{offset}-{offset + len(text)}"
        chunks.append(Chunk(chunk_id, doc_id, text, section, source, "zh", offset, offset + len(text)))
        offset += len(text) + 1
    return chunks
