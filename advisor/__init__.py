"""Founder Advisor's public API: what the app, the evals and outside scripts use — and nothing else.

    from advisor import build_advisor
    adv = build_advisor()                       # settings from the profile / environment
    hits = adv.retrieve(question, k=5)          # list[Hit]
    turn = adv.search(question, history=())     # TurnSearch: condensed question, topic, hits (no answer)
    ans = adv.ask(question, history=())         # Answer: text, language, citations, refused, topic, ...
    for delta in adv.stream(question, history=()): ...   # the last delta (done=True) carries the Answer
    adv.describe()                              # model, device, quantisation, embedder, index counts

History is a list of {"role": "user" | "assistant", "content": "..."} messages.
"""

from __future__ import annotations

from advisor.advisor import Advisor
from advisor.backends import GenerationError
from advisor.factory import AdvisorSetupError, build_advisor
from advisor.support import CheckerUnavailable, SupportChecker
from advisor.support_bridge import BridgedChecker
from advisor.support_ensemble import EnsembleModel
from advisor.support_registry import make_checker
from advisor.types import (
    Answer,
    AnswerDelta,
    Chunk,
    Citation,
    Grounding,
    Hit,
    SentenceSupport,
    Timings,
    Topic,
    TurnSearch,
)
from config import Settings, get_settings

__all__ = [
    "Advisor",
    "AdvisorSetupError",
    "Answer",
    "AnswerDelta",
    "BridgedChecker",
    "CheckerUnavailable",
    "Chunk",
    "Citation",
    "EnsembleModel",
    "GenerationError",
    "Grounding",
    "Hit",
    "SentenceSupport",
    "Settings",
    "SupportChecker",
    "Timings",
    "Topic",
    "TurnSearch",
    "build_advisor",
    "get_settings",
    "make_checker",
]
