"""Generators: chat messages -> a stream of text pieces, behind one contract.

Real backends (llama.cpp GGUF, transformers + bitsandbytes, OpenAI-compatible HTTP) live beside this
module; here are the contract and the fakes the tests use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class Generator(Protocol):
    model_id: str
    device: str  # e.g. "cpu", "cuda:0", "remote"

    def stream(
        self,
        messages: Sequence[Message],
        max_new_tokens: int,
        temperature: float,
        stop_event: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer in pieces; stop early when stop_event is set."""
        ...


class ScriptedGenerator:
    """Replies from a script and records every message list it was given (a fake, not a mock)."""

    model_id = "scripted"
    device = "cpu"

    def __init__(self, replies: Sequence[str] | Callable[[Sequence[Message]], str] = ("",)):
        self._replies = replies
        self._turn = 0
        self.calls: list[list[Message]] = []

    def _next_reply(self, messages: Sequence[Message]) -> str:
        if callable(self._replies):
            return self._replies(messages)
        reply = self._replies[min(self._turn, len(self._replies) - 1)]
        self._turn += 1
        return reply

    def stream(self, messages, max_new_tokens, temperature, stop_event=None) -> Iterator[str]:
        self.calls.append([dict(m) for m in messages])
        reply = self._next_reply(messages)
        # Word-ish pieces, so streaming consumers see more than one delta.
        for i, piece in enumerate(reply.split(" ")):
            if stop_event is not None and stop_event.is_set():
                return
            yield piece if i == 0 else " " + piece


class EchoGenerator(ScriptedGenerator):
    """Echoes the last user message back: the smallest generator that still depends on its input."""

    model_id = "echo"

    def __init__(self):
        super().__init__(lambda messages: messages[-1]["content"] if messages else "")
