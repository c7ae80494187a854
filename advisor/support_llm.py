"""The local LLM as a support judge: one label, read as a probability.

The prompt is in the claim's language (with a long Chinese passage the small model answers in Chinese
unless the whole prompt is in the question's language) and asks for exactly one label:
SUPPORTED / NOT / CONTRADICTED, or 支持 / 不足 / 矛盾. The labels start with different first tokens, so
the first generated token decides.

When the generator can report first-token log-probabilities (an optional method, see
`FirstTokenLogprobs`), the score is P(supported) renormalised over the three labels: a continuous score,
which ranks claims (AUROC) and combines in the ensemble far better than three fixed levels. Otherwise the
label is read from the streamed text and mapped to a fixed score.

The evidence comes first and the claim last, so checking the several sentences of one answer against the
same passages re-uses llama.cpp's prompt cache for everything but the claim.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from advisor.generate import Generator, Message
from advisor.support import CheckerParts, check_inputs
from textkit import detect_language

MAX_EVIDENCE_CHARS = 2400  # ~600-1200 tokens: prompt processing dominates the latency on 2 cores

PROMPTS = {
    "en": {
        "system": (
            "You check a claim against evidence. Reply with one word: SUPPORTED if the evidence states "
            "the claim, CONTRADICTED if the evidence conflicts with it, NOT if the evidence does not say it."
        ),
        "user": "Evidence:\n{evidence}\n\nClaim: {claim}\n\nOne word (SUPPORTED, NOT or CONTRADICTED):",
        "labels": ("SUPPORTED", "NOT", "CONTRADICTED"),
    },
    "zh": {
        "system": (
            "你负责根据材料核对一条陈述。只回答一个词：材料明确说明了该陈述，回答“支持”；材料与陈述冲突，"
            "回答“矛盾”；材料没有提到，回答“不足”。"
        ),
        "user": "材料：\n{evidence}\n\n陈述：{claim}\n\n只回答一个词（支持、不足或矛盾）：",
        "labels": ("支持", "不足", "矛盾"),
    },
}
# Index 0 = supported, 1 = not enough information, 2 = contradicted (in both languages).
LABEL_SCORES = (0.9, 0.25, 0.05)  # used only when no log-probabilities are available


@runtime_checkable
class FirstTokenLogprobs(Protocol):
    """Optional generator capability: the top candidates for the first answer token and their logprobs."""

    def first_token_logprobs(self, messages: Sequence[Message], top_n: int = 10) -> dict[str, float]: ...


def build_messages(claim: str, passages: Sequence[str], language: str) -> list[Message]:
    prompt = PROMPTS[language]
    evidence = "\n\n".join(f"[{i}] {p.strip()}" for i, p in enumerate(passages, 1))
    if len(evidence) > MAX_EVIDENCE_CHARS:
        evidence = evidence[:MAX_EVIDENCE_CHARS] + "…"
    return [
        {"role": "system", "content": prompt["system"]},
        {"role": "user", "content": prompt["user"].format(evidence=evidence, claim=claim)},
    ]


def label_index(token: str, labels: Sequence[str]) -> int | None:
    """Which label a (possibly partial) token starts: "SUP" -> 0, " Contr" -> 2, "是" -> None."""
    t = token.strip().strip("\"'“”*：:").casefold()
    if not t:
        return None
    for i, label in enumerate(labels):
        lab = label.casefold()
        if lab.startswith(t) or t.startswith(lab):
            return i
    return None


def score_from_logprobs(top: dict[str, float], labels: Sequence[str]) -> float | None:
    """P(supported) renormalised over the probability mass that lands on the three labels."""
    mass = [0.0, 0.0, 0.0]
    for token, lp in top.items():
        i = label_index(token, labels)
        if i is not None:
            mass[i] += math.exp(lp)
    total = sum(mass)
    return mass[0] / total if total > 0 else None


def score_from_text(text: str, labels: Sequence[str]) -> float:
    head = re.split(r"[\s,.，。:：]", text.strip(), maxsplit=1)[0] if text.strip() else ""
    i = label_index(head, labels)
    return LABEL_SCORES[i] if i is not None else 0.5


class LLMJudgeChecker:
    """Asks the configured generator for a SUPPORTED / NOT / CONTRADICTED verdict."""

    name = "llm"

    def __init__(self, generator: Generator):
        self.generator = generator
        self.uses_logprobs = isinstance(generator, FirstTokenLogprobs)

    @classmethod
    def from_parts(cls, parts: CheckerParts) -> LLMJudgeChecker:
        return cls(parts.generator())

    def describe(self) -> dict:
        return {
            "model": getattr(self.generator, "model_id", "?"),
            "scoring": "first-token logprobs" if self.uses_logprobs else f"label mapping {LABEL_SCORES}",
        }

    def score(self, claim: str, passages: Sequence[str]) -> float:
        claim, passages = check_inputs(claim, passages)
        if not passages:
            return 0.0
        if not claim:
            return 1.0
        language = detect_language(claim)
        labels = PROMPTS[language]["labels"]
        messages = build_messages(claim, passages, language)
        if self.uses_logprobs:
            p = score_from_logprobs(self.generator.first_token_logprobs(messages, top_n=10), labels)
            if p is not None:
                return p
        text = "".join(self.generator.stream(messages, max_new_tokens=4, temperature=0.0))
        return score_from_text(text, labels)
