"""Real generation backends (llama.cpp GGUF, transformers, OpenAI-compatible HTTP).

Each module imports its heavy library lazily (inside the module, which `advisor.generate.make_generator`
imports only when that backend is chosen), so the test profile never pays for torch or llama.cpp.
What they share lives here: the per-answer statistics and the one log line each answer gets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("advisor.generate")


class GenerationError(RuntimeError):
    """A backend failed to produce an answer (model not loadable, server error, prompt too long)."""


@dataclass(frozen=True, slots=True)
class GenerationStats:
    """Figures of the last answer a generator produced (also logged once per answer)."""

    model_id: str
    device: str
    quantization: str  # dtype or quantisation, e.g. "gguf-q4_k_m", "bf16", "nf4", "remote"
    prompt_tokens: int
    cached_prompt_tokens: int  # prompt tokens reused from the previous request (llama.cpp prompt cache)
    new_tokens: int
    first_token_s: float  # request start to the first text piece
    total_s: float
    tokens_per_s: float  # decode speed: new tokens over the time after the first one
    stopped: bool  # ended early because stop_event was set or the consumer went away
    drafted_tokens: int = 0  # speculative decoding: tokens proposed by the draft (llama.cpp prompt lookup)
    accepted_draft_tokens: int = 0  # ... and how many of them the model confirmed


class ReportsUsage:
    """`last_usage` in OpenAI's shape, derived from `last_stats` (the app's /v1 route reports it)."""

    last_stats: GenerationStats | None = None

    @property
    def last_usage(self) -> dict[str, int] | None:
        s = self.last_stats
        return None if s is None else {"prompt_tokens": s.prompt_tokens, "completion_tokens": s.new_tokens}


class StreamMeter:
    """Times one streamed answer: first piece, token count, decode speed; logs it once at the end."""

    def __init__(
        self, model_id: str, device: str, quantization: str, clock: Callable[[], float] = time.perf_counter
    ):
        self._ids = (model_id, device, quantization)
        self._clock = clock
        self._start = clock()
        self._first: float | None = None
        self.pieces = 0

    def piece(self) -> None:
        if self._first is None:
            self._first = self._clock()
        self.pieces += 1

    def finish(
        self,
        *,
        new_tokens: int | None = None,
        prompt_tokens: int = 0,
        cached_prompt_tokens: int = 0,
        tokens_per_s: float | None = None,
        stopped: bool = False,
        drafted_tokens: int = 0,
        accepted_draft_tokens: int = 0,
    ) -> GenerationStats:
        end = self._clock()
        first = (self._first or end) - self._start
        n = self.pieces if new_tokens is None else new_tokens
        if tokens_per_s is None:
            # The first token's latency is prompt processing, not decoding: leave it out of the rate.
            decode_s = end - (self._first or end)
            tokens_per_s = (n - 1) / decode_s if n > 1 and decode_s > 0 else 0.0
        model_id, device, quantization = self._ids
        stats = GenerationStats(
            model_id=model_id,
            device=device,
            quantization=quantization,
            prompt_tokens=prompt_tokens,
            cached_prompt_tokens=cached_prompt_tokens,
            new_tokens=n,
            first_token_s=first,
            total_s=end - self._start,
            tokens_per_s=tokens_per_s,
            stopped=stopped,
            drafted_tokens=drafted_tokens,
            accepted_draft_tokens=accepted_draft_tokens,
        )
        log.info(
            "answer generated: model=%s device=%s dtype=%s prompt_tokens=%d (cached %d) new_tokens=%d "
            "first_token=%.2fs total=%.2fs tokens/s=%.1f%s",
            model_id,
            device,
            quantization,
            prompt_tokens,
            cached_prompt_tokens,
            n,
            first,
            stats.total_s,
            tokens_per_s,
            " (stopped early)" if stopped else "",
        )
        return stats


__all__ = ["GenerationError", "GenerationStats", "StreamMeter"]
