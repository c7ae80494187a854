"""Prompt-injection guards on both sides of the model.

Input side (`asks_for_instructions`, `injection_signal`, from textkit/injection.py where the patterns are
written once): questions refused before any generation — requests for the instructions, attempts to
override them, fake "SYSTEM:" turns and tool output, smuggled comments, explicit output hijacks — and
`is_in_domain` for off-topic questions. They are decided on the question alone, so the model never sees
such an attempt and no tokens are spent on it.

Output side (`OutputGuard`): the system prompt carries a canary (settings.prompt_canary) that no answer
ever needs. A streamed answer is watched for it (and for long verbatim spans of the system prompt); text
that could be the start of the canary is held back until it is clearly not, so a leaking answer is
stopped before the canary reaches the reader, and the advisor refuses instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from textkit.injection import asks_for_instructions, injection_signal, normalise
from textkit.spans import fold, weighted_windows

__all__ = [
    "OutputGuard",
    "asks_for_instructions",
    "injection_signal",
    "instruction_leak_guard",
    "is_in_domain",
    "normalise",
]

# --- off-topic ------------------------------------------------------------------------------------------

# Words that place a question in the playbook's world: founding and running a company, AI business.
# A question with none of these AND weak retrieval is off-topic rather than merely not covered.
_DOMAIN_WORDS = re.compile(
    r"创业|创始人|公司|企业|团队|产品|市场|客户|用户|商业|盈利|定价|价格|收入|融资|投资|资金|风险|运营|管理"
    r"|竞争|战略|策略|招聘|股权|激励|品牌|营销|销售|合规|法律|人工智能|大模型|模型|数据|算法|技术|行业|初创|老板"
    # The playbook's appendix: tools, data sets, frameworks and books a founder is pointed to.
    r"|附录|工具|框架|书籍|书单|数据集|开源"
    r"|\b(ai|llm|gpt|startup|startups|start-up|founder|founders|company|companies|business|team|product|market"
    r"|customer|customers|user|users|revenue|profit|pricing|price|funding|fundraising|investor|investors|vc"
    r"|equity|hire|hiring|risk|risks|strategy|competition|competitor|competitors|growth|sales|marketing"
    r"|brand|operations|compliance|legal|model|models|data|saas|api|enterprise|b2b|b2c|mvp|launch"
    r"|appendix|dataset|datasets|tool|tools|framework|frameworks|book|books|reading|open[- ]source)\b"
)


def is_in_domain(question: str) -> bool:
    """True when the question mentions anything about founding/running a company or AI business."""
    return bool(_DOMAIN_WORDS.search(question.lower()))


# --- output side ----------------------------------------------------------------------------------------


# A verbatim span this long (textkit.spans.char_weight: a Han character counts 2) is a leak; shorter ones
# are common phrases ("the knowledge base", "知识库").
SPAN_WEIGHT = 24
_HOLD_WINDOW = 4  # raw characters looked back per canary character (spaces, dashes, markup between them)


class OutputGuard:
    """Watches one answer for the canary and verbatim spans of the system prompt.

    `feed(piece)` returns the text that is safe to show now; `tripped` turns True as soon as the canary is
    complete, and from then on nothing more is released. `reveals(text)` is the final check on the whole
    answer (canary, however spaced, or a long span of a secret that is not also in `allowed_texts`, e.g.
    the refusal sentence the system prompt itself tells the model to write).
    """

    def __init__(self, canary: str, secret_texts: Sequence[str] = (), allowed_texts: Sequence[str] = ()):
        self._canary = fold(canary)
        if len(self._canary) < 8:
            raise ValueError("the canary must have at least 8 letters or digits to be recognisable")
        self._spans = _secret_spans(tuple(secret_texts), tuple(allowed_texts))
        self._text = ""
        self._released = 0  # characters of _text already handed out
        self.tripped = False

    def feed(self, piece: str) -> str:
        if self.tripped:
            return ""
        self._text += piece
        tail_start = max(self._released - _HOLD_WINDOW * len(self._canary), 0)
        if self._canary in fold(self._text[tail_start:]):
            self.tripped = True
            return ""
        hold = self._held_from(tail_start)
        out, self._released = self._text[self._released : hold], max(hold, self._released)
        return out

    def flush(self) -> str:
        """What was held back, once the answer is complete and did not trip."""
        if self.tripped:
            return ""
        out, self._released = self._text[self._released :], len(self._text)
        return out

    def _held_from(self, tail_start: int) -> int:
        """Where the possible start of the canary begins in the unreleased text (len(text) if none)."""
        text = self._text
        for i in range(max(self._released, tail_start), len(text)):
            if not text[i].isalnum():
                continue
            folded = fold(text[i:])
            if folded and self._canary.startswith(folded):
                return i
        return len(text)

    def reveals(self, text: str) -> bool:
        folded = fold(text)
        return self._canary in folded or any(span in folded for span in self._spans)


@lru_cache(maxsize=8)  # one guard per answer, the same prompts every time: computed once (~10 ms)
def _secret_spans(secret_texts: tuple[str, ...], allowed_texts: tuple[str, ...]) -> tuple[str, ...]:
    """Every shortest folded window of each secret whose weight reaches SPAN_WEIGHT, minus allowed ones."""
    allowed = [fold(t) for t in allowed_texts]
    spans: set[str] = set()
    for secret in secret_texts:
        folded = fold(secret)
        for start, end in weighted_windows(folded, SPAN_WEIGHT):
            span = folded[start:end]
            if not any(span in ok for ok in allowed):
                spans.add(span)
    return tuple(sorted(spans))


def instruction_leak_guard(canary: str) -> OutputGuard:
    """An OutputGuard for the answer prompt: its system prompts (both languages) are the secrets; the
    refusal texts are allowed (the system prompt tells the model to write one of their sentences)."""
    from advisor.prompting import LANGUAGES, REFUSAL_REASONS, refusal_text, system_prompt

    return OutputGuard(
        canary,
        secret_texts=[system_prompt(lang, canary) for lang in LANGUAGES],
        allowed_texts=[refusal_text(lang, reason) for lang in LANGUAGES for reason in REFUSAL_REASONS],
    )
