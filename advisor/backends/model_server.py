"""The offline GGUF model behind an OpenAI-compatible HTTP endpoint: one engine that app replicas share.

    python -m advisor.backends.model_server --port 8081 --slots 4
    FA_LLM_BACKEND=openai FA_LLM_BASE_URL=http://127.0.0.1:8081/v1 python app.py     # each replica

This is llama.cpp's own HTTP server, the one xllamacpp embeds (the in-process backend, llamacpp.py, uses
the same server without its network side). It serves /v1/chat/completions (streaming, cancelled when the
client hangs up), /health, /slots and /metrics. Each slot holds one request's KV cache and context
window; llama.cpp decodes all busy slots in one batch (continuous batching) and queues requests beyond
them. An app process answers one question at a time (advisor.Advisor's lock), so N replicas can keep N
slots busy. The defaults come from the settings (FA_LLM_MODEL, FA_LLM_CONTEXT_TOKENS per slot,
FA_LLM_THREADS, FA_LLM_DRAFT_TOKENS, FA_LLM_API_KEY: when set, every route but /health and the model
list needs it as a bearer token).

`EngineProcess` starts this as a child process and waits until it is ready: the tests and
`python -m bench scaleout` use it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

READY_EVENT = "ready"  # the first line a started server prints on stdout: {"event": "ready", "base_url": ...}
_LOOKUP_NGRAM = 3  # same prompt-lookup drafting as the in-process backend (llamacpp.py)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    model_path: Path
    model_name: str  # what /v1/models reports (requests may name any model: there is one)
    host: str = "127.0.0.1"
    port: int = 8081  # 0: any free port (the ready line says which)
    slots: int = 2
    context_tokens: int = 4096  # per slot
    threads: int = -1  # -1: llama.cpp picks the number of physical cores
    draft_tokens: int = 0
    api_key: str | None = None

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, got {self.slots}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")


def start_engine(config: EngineConfig) -> Any:
    """Load the model and start llama.cpp's HTTP server in this process; returns the xllamacpp Server."""
    import xllamacpp as xl

    from advisor.backends.llamacpp import load_failure

    params = xl.CommonParams()
    params.model.path = str(config.model_path)
    params.model_alias = {config.model_name}
    params.hostnames = [config.host]
    params.port = config.port
    params.n_parallel = config.slots
    # llama.cpp divides n_ctx between the slots: each answer gets the context the advisor's prompt budget
    # assumes (llm_context_tokens), as in the in-process backend.
    params.n_ctx = config.context_tokens * config.slots
    params.cpuparams.n_threads = config.threads
    params.cpuparams_batch.n_threads = config.threads
    params.cache_prompt = True  # a slot reuses the prefix it shares with its previous prompt
    params.endpoint_metrics = True
    params.endpoint_slots = True
    params.verbosity = -1
    if config.draft_tokens > 0:
        params.speculative.types = [xl.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        params.speculative.ngram_simple.size_n = _LOOKUP_NGRAM
        params.speculative.ngram_simple.size_m = config.draft_tokens
    if config.api_key:
        params.api_keys = [config.api_key]
    try:
        return xl.Server(params)
    except Exception as exc:
        raise load_failure(str(config.model_path)) from exc


def base_url_of(server: Any) -> str:
    address = server.listening_address
    return address if address.startswith("http") else f"http://{address}"


# --- the command line ---------------------------------------------------------------------------------


def _config_from_args(argv: Sequence[str] | None) -> EngineConfig:
    from advisor.offline_models import resolve_model_file
    from config import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m advisor.backends.model_server",
        description="Serve the offline GGUF model over an OpenAI-compatible HTTP API with N slots.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8081, help="port (0: any free one)")
    parser.add_argument("--slots", type=int, default=2, help="requests decoded together")
    parser.add_argument("--model", default=settings.llm_model, help="offline: name or GGUF path")
    parser.add_argument(
        "--context-tokens", type=int, default=settings.llm_context_tokens, help="context window per slot"
    )
    parser.add_argument("--threads", type=int, default=settings.llm_threads or -1)
    parser.add_argument("--draft-tokens", type=int, default=settings.llm_draft_tokens)
    args = parser.parse_args(argv)
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return EngineConfig(
        model_path=resolve_model_file(args.model, settings.models_dir),
        model_name=args.model,
        host=args.host,
        port=args.port,
        slots=args.slots,
        context_tokens=args.context_tokens,
        threads=args.threads,
        draft_tokens=args.draft_tokens,
        api_key=key,
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = _config_from_args(argv)
        server = start_engine(config)
    except (RuntimeError, OSError, ValueError) as exc:  # OfflineModelError, GenerationError, bad options
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ready = {"event": READY_EVENT, "base_url": base_url_of(server), "slots": config.slots}
    print(json.dumps(ready), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    # llama.cpp's server threads do not all join on interpreter exit: leave at once, nothing is unsaved.
    os._exit(0)


# --- a child process for tests, benchmarks and scripts --------------------------------------------------


class EngineProcess:
    """`python -m advisor.backends.model_server` as a child process: started, waited for, stopped.

    with EngineProcess(slots=2) as engine:
        engine.openai_url      # http://127.0.0.1:PORT/v1, for FA_LLM_BASE_URL
        engine.slots()         # llama.cpp's /slots: which are processing
    """

    def __init__(
        self,
        *,
        slots: int = 2,
        model: str | None = None,
        context_tokens: int | None = None,
        threads: int | None = None,
        draft_tokens: int | None = None,
        port: int = 0,
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 300.0,
    ):
        argv = ["--port", str(port), "--slots", str(slots)]
        for flag, value in (
            ("--model", model),
            ("--context-tokens", context_tokens),
            ("--threads", threads),
            ("--draft-tokens", draft_tokens),
        ):
            if value is not None:
                argv += [flag, str(value)]
        self.argv = [sys.executable, "-m", "advisor.backends.model_server", *argv]
        self.env = {**os.environ, **(env or {})}
        key = self.env.get("FA_LLM_API_KEY")  # the server requires it, so its probes below send it
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self.base_url = ""

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"

    def start(self) -> EngineProcess:
        # stderr goes to a file, not a pipe: a pipe nobody reads fills up and stalls the server.
        # Kept open for the child's lifetime (closed by stop()), so not a `with` block.
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=self._log, text=True, env=self.env
        )
        line = _read_line(self.process.stdout, self.ready_timeout_s) or ""
        if not line.startswith("{") or json.loads(line).get("event") != READY_EVENT:
            self.stop()
            self._log.seek(0)
            raise RuntimeError(f"the model server did not start: {line}{self._log.read()[-2000:]}")
        self.base_url = json.loads(line)["base_url"]
        return self

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is not None:
            stop_process(self.process, timeout_s)
            if self.process.stdout is not None:
                self.process.stdout.close()

    def kill(self) -> None:
        """Die at once, as a crashed engine does (the tests' "engine down")."""
        if self.alive():
            self.process.kill()
            self.process.wait(10)

    def slots(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.base_url}/slots", headers=self._headers, timeout=10).json()

    def busy_slots(self) -> int:
        return sum(1 for slot in self.slots() if slot.get("is_processing"))

    def counters(self) -> dict[str, float]:
        """llama.cpp's Prometheus counters (tokens_predicted_total, requests_processing, ...)."""
        out: dict[str, float] = {}
        for row in httpx.get(f"{self.base_url}/metrics", headers=self._headers, timeout=10).text.splitlines():
            if row.startswith("llamacpp:"):
                name, _, value = row.partition(" ")
                out[name.removeprefix("llamacpp:")] = float(value)
        return out


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM, and SIGKILL if it is still there after timeout_s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout_s)


def _read_line(stream: IO[str] | None, timeout_s: float) -> str | None:
    """The stream's next line, or None after timeout_s (a model that takes forever to load)."""
    if stream is None:
        return None
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return found[0].strip() if found else None


if __name__ == "__main__":
    sys.exit(main())
