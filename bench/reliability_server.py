"""The server side of the reliability bench: runs in the child process the driver starts.

The real app (app.create_app) over the real playbook with two cheap stand-ins: a HashEmbedder index and a
fake model that streams tokens at a fixed pace (PacedGenerator), plus two bench-only routes (/_bench/...)
to read the model's records and change its pace between phases; the production app has no such routes.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from config import PROJECT_ROOT


class PacedGenerator:
    """A fake model with a real model's timing: one token per 1/tokens_per_s, stoppable between tokens.

    It answers from the prompt it is given (passage [1]'s own words, cited), so the grounding gate
    passes on the merits; a condense prompt gets the follow-up back. Every token stream is logged
    (kind, start, end, tokens, planned) in a bounded deque: the log must not itself grow per session.
    """

    model_id = "paced-fake"
    device = "cpu"

    def __init__(self, tokens_per_s: float, answer_tokens: int, log_size: int = 2048, leak_kb: int = 0):
        self.tokens_per_s = tokens_per_s
        self.answer_tokens = answer_tokens
        # A deliberate leak (KB kept per answer), only for the test proving the memory check can fail.
        self.leak_kb = leak_kb
        self._leaked: list[bytearray] = []
        self._log: deque[tuple] = deque(maxlen=log_size)
        self._seq = 0
        self._lock = threading.Lock()

    def stream(self, messages, max_new_tokens, temperature, stop_event=None) -> Iterator[str]:
        prompt = str(messages[-1]["content"]) if messages else ""
        kind, tokens = _fake_reply(prompt, self.answer_tokens)
        tokens = tokens[:max_new_tokens]
        if self.leak_kb and kind == "answer":
            self._leaked.append(bytearray(b"x" * (self.leak_kb * 1024)))  # touched: counts in RSS
        with self._lock:
            self._seq += 1
            seq = self._seq
        start, produced = time.monotonic(), 0
        try:
            for token in tokens:
                if stop_event is not None and stop_event.is_set():
                    return
                time.sleep(1.0 / self.tokens_per_s)
                produced += 1
                yield token
        finally:  # reached on normal end, on stop_event, and on close() (GeneratorExit at the yield)
            with self._lock:
                self._log.append((seq, kind, start, time.monotonic(), produced, len(tokens)))

    def records(self, after: int) -> list[dict[str, Any]]:
        names = ("seq", "kind", "start", "end", "tokens", "planned")
        with self._lock:
            return [dict(zip(names, r, strict=True)) for r in self._log if r[0] > after]


_PASSAGE_1 = re.compile(r"^\[1\][^\n]*\n([^\n]+)", re.MULTILINE)
_FOLLOW_UP = re.compile(r"^(?:追问|Follow-up)\s*[:：]\s*(.+)$", re.MULTILINE)


def _fake_reply(prompt: str, answer_tokens: int) -> tuple[str, list[str]]:
    """(kind, tokens): an answer copied from passage [1] with its marker, or the follow-up as rewritten.

    The answer is passage [1]'s text (read again from its start if it is shorter than `answer_tokens`),
    one token per character, so its length is what the phase asks for and every sentence is supported.
    """
    if (passage := _PASSAGE_1.search(prompt)) is not None:
        text = [ch for ch in passage.group(1) if not ch.isspace()] or ["。"]
        body = [text[i % len(text)] for i in range(answer_tokens)]
        return "answer", [*body, " [1]", "。"]
    follow_up = _FOLLOW_UP.search(prompt)
    return "condense", list(follow_up.group(1).strip() if follow_up else "")


def _playbook_index(settings):
    """The real playbook, chunked by the real chunker, embedded by the HashEmbedder (no model load)."""
    from indexing import HashEmbedder, VectorIndex
    from indexing.chunking import chunk_document
    from indexing.documents import load_documents

    loaded = load_documents([settings.knowledge_dir], max_file_mb=settings.max_file_mb)
    chunks = [
        c for d in loaded.documents for c in chunk_document(d, settings.chunk_size, settings.chunk_overlap)
    ]
    embedder = HashEmbedder()
    return embedder, VectorIndex.from_chunks(chunks, embedder)


def bench_app(data_dir: Path, *, max_queue: int, tokens_per_s: float, answer_tokens: int, leak_kb: int = 0):
    """app.create_app on the real advisor with the paced model, plus the /_bench routes."""
    from fastapi import APIRouter, Body

    from advisor import build_advisor
    from app import create_app
    from config import settings_for_tests

    # The hash embedder's similarities are lower than e5's: 0.3 is its weak-retrieval floor (as in tests).
    settings = settings_for_tests(
        data_dir=data_dir, max_queue=max_queue, min_dense_score=0.3, knowledge_dir=PROJECT_ROOT / "knowledge"
    )
    generator = PacedGenerator(tokens_per_s, answer_tokens, leak_kb=leak_kb)
    embedder, index = _playbook_index(settings)
    app = create_app(
        settings, advisor=build_advisor(settings, generator=generator, embedder=embedder, index=index)
    )

    hooks = APIRouter(prefix="/_bench")

    @hooks.get("/generations")
    def generations(after: int = 0) -> dict[str, Any]:
        return {"records": generator.records(after), "now": time.monotonic()}

    @hooks.post("/pace")
    def pace(answer_tokens: int = Body(...), tokens_per_s: float = Body(...)) -> dict[str, Any]:
        generator.answer_tokens, generator.tokens_per_s = answer_tokens, tokens_per_s
        return {"answer_tokens": answer_tokens, "tokens_per_s": tokens_per_s}

    # Gradio is mounted at "/" and would shadow routes added after it: put the hooks first.
    before = len(app.router.routes)
    app.include_router(hooks)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    return app


def serve_main(argv: Sequence[str] | None = None) -> None:
    """Child-process entry: ``python -c 'from bench.reliability_server import serve_main; serve_main()' JSON``."""
    import uvicorn

    from app import server_config
    from config import settings_for_tests

    options = json.loads((argv if argv is not None else sys.argv[1:])[0])
    app = bench_app(
        Path(options["data_dir"]),
        max_queue=options["max_queue"],
        tokens_per_s=options["tokens_per_s"],
        answer_tokens=options["answer_tokens"],
        leak_kb=options.get("leak_kb", 0),
    )
    # Served as app.py serves it (its keep-alive included), on the driver's port.
    config = server_config(
        app,
        settings_for_tests(),
        host="127.0.0.1",
        port=options["port"],
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run()
