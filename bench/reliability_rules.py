"""The rules of the reliability bench (issue 8), its questions, and the shape of a run: Config and Report.

Shared by the driver (reliability_client.py, reliability_phases.py) and the command (reliability.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --- rules of issue 8 -----------------------------------------------------------------------------------
MAX_REQUEST_S = 120.0  # no request may hang past this
MAX_HEALTH_S = 2.0  # /api/health while the generation line is full
MAX_MEMORY_RATIO = 1.1  # RSS after --sessions vs after --memory-checkpoint sessions
MAX_DROP_TO_STOP_S = 2.0  # a dropped client's generation must stop within this

# Retry policy of the simulated users: exponential backoff with full jitter, capped, and never longer
# than the server's own Retry-After estimate.
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 8.0

# Questions the playbook covers (Chinese) and the same in English; each user asks one, then follow-ups
# that only make sense with the history (so the advisor condenses them with the model first).
FIRST_QUESTIONS = {
    "zh": (
        "AI大模型产品有哪些定价策略？",
        "创业团队需要具备哪些核心能力？",
        "AI创业有哪些主要风险，如何应对？",
    ),
    "en": ("What pricing strategies suit an AI product?", "How should a startup motivate its founding team?"),
}
FOLLOW_UPS = {
    "zh": ("那风险呢？", "还有哪些定价方式？", "那团队呢？"),
    "en": ("And the risks?", "What about pricing?"),
}


@dataclass
class Config:
    users: int = 100
    turns: int = 3
    sessions: int = 1000
    memory_checkpoint: int = 100
    memory_concurrency: int = 4
    drops: int = 20
    tokens_per_s: float = 100.0
    answer_tokens: int = 40  # load phase: ~0.4 s of streaming per answer at 100 tokens/s
    memory_answer_tokens: int = 4  # memory phase: cheap sessions (the point is per-session state)
    gradio_every: int = 2  # memory phase: every 2nd session also chats once in the Gradio UI
    drop_answer_tokens: int = 600  # drop phase: 6 s answers, so "stopped" and "finished" differ clearly
    max_queue: int = 16  # the production default (settings.max_queue)
    leak_kb: int = 0  # > 0 only in the test that proves the memory rule catches a leak
    max_memory_ratio: float = MAX_MEMORY_RATIO


@dataclass
class Report:
    config: Config
    memory: dict[str, Any] | None = None
    load: dict[str, Any] | None = None
    drop: dict[str, Any] | None = None
    alive_after: bool = False
    idle_after: bool = False
    checks: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (check, figure, rule, ok)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for *_, ok in self.checks)
