"""Generators: chat messages -> a stream of text pieces, behind one contract.

Real backends (llama.cpp GGUF, transformers + bitsandbytes, OpenAI-compatible HTTP) live in
advisor/backends/; here are the contract, the fakes the tests use, and `make_generator`, the name ->
factory registry that imports a backend (and its heavy library) only when settings choose it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from advisor.backends import GenerationError, GenerationStats

if TYPE_CHECKING:
    from config import Settings

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


def stream_in_language(
    generator: Generator,
    messages: Sequence[Message],
    max_new_tokens: int,
    temperature: float,
    stop_event: threading.Event | None,
    language: str,
    grammar: str | None = None,
) -> Iterator[str]:
    """`generator.stream`, told the answer's language (and shape) when the generator can hold it to them.

    A backend that can mask the other script's tokens sets `constrains_output_language = True` and takes a
    `language` keyword; one that samples under a GBNF grammar sets `accepts_grammar = True` and takes
    `grammar`. The others, fakes and remote servers included, keep the plain contract.
    """
    extra: dict[str, str] = {}
    if getattr(generator, "constrains_output_language", False):
        extra["language"] = language
    if grammar and getattr(generator, "accepts_grammar", False):
        extra["grammar"] = grammar
    return generator.stream(messages, max_new_tokens, temperature, stop_event, **extra)


# name -> (module, class with a from_settings(settings) constructor, what to pip install if it is missing)
_BACKENDS: dict[str, tuple[str, str, str]] = {
    "llamacpp": ("advisor.backends.llamacpp", "LlamaCppGenerator", "xllamacpp"),
    "transformers": (
        "advisor.backends.hf_transformers",
        "TransformersGenerator",
        "torch transformers accelerate",
    ),
    "openai": ("advisor.backends.openai_http", "OpenAIHTTPGenerator", "openai tenacity"),
}
_FAKES: dict[str, Callable[[], Generator]] = {"scripted": ScriptedGenerator, "echo": EchoGenerator}


def make_generator(settings: Settings) -> Generator:
    """The generator that settings.llm_backend names, built from settings (loads the model)."""
    name = settings.llm_backend
    if name in _FAKES:
        return _FAKES[name]()
    if name not in _BACKENDS:
        raise ValueError(f"Unknown llm_backend {name!r}; choose one of {sorted([*_BACKENDS, *_FAKES])}.")
    module_name, class_name, needs = _BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] in {"advisor", "config", "indexing"}:
            raise  # our own bug, not a missing package
        raise GenerationError(
            f"The {name} backend needs packages that are not installed ({exc.name or exc}): pip install {needs}"
        ) from exc
    return getattr(module, class_name).from_settings(settings)


__all__ = [
    "EchoGenerator",
    "GenerationError",
    "GenerationStats",
    "Generator",
    "Message",
    "ScriptedGenerator",
    "make_generator",
    "stream_in_language",
]
