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
from advisor.renderings import Renderings, shipped_renderings
from advisor.support import CheckerUnavailable, SupportChecker, claim_text, logit
from advisor.support_align import FEATURES as ALIGN_FEATURES
from advisor.support_align import WEIGHTS as ALIGN_WEIGHTS
from advisor.support_align import TokenEncoder, claim_features
from advisor.support_auto import ROUTES as AUTO_ROUTES
from advisor.support_auto import WEIGHTS as AUTO_WEIGHTS
from advisor.support_bridge import BridgedChecker
from advisor.support_crossencoder import MODEL_DIR as CROSSENCODER_DIR
from advisor.support_crossencoder import WEIGHTS as CROSSENCODER_WEIGHTS
from advisor.support_crossencoder import base_fingerprint, e5_folder, new_cross_encoder, save_trained
from advisor.support_ensemble import EnsembleModel
from advisor.support_facts import NOT_NAMES
from advisor.support_llm import label_index
from advisor.support_registry import CHECKER_NAMES, make_checker
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
    "ALIGN_FEATURES",
    "ALIGN_WEIGHTS",
    "AUTO_ROUTES",
    "AUTO_WEIGHTS",
    "CHECKER_NAMES",
    "CROSSENCODER_DIR",
    "CROSSENCODER_WEIGHTS",
    "NOT_NAMES",
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
    "Renderings",
    "SentenceSupport",
    "Settings",
    "SupportChecker",
    "Timings",
    "TokenEncoder",
    "Topic",
    "TurnSearch",
    "base_fingerprint",
    "build_advisor",
    "claim_features",
    "claim_text",
    "e5_folder",
    "get_settings",
    "label_index",
    "logit",
    "make_checker",
    "new_cross_encoder",
    "save_trained",
    "shipped_renderings",
]
