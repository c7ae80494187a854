"""llama.cpp through xllamacpp: the offline CPU default (a GGUF model, no network, no torch).

xllamacpp embeds llama.cpp's own server. `Server.handle_chat_completions(request, callback)` applies the
chat template stored in the GGUF (the model's own), streams OpenAI-style chunks to `callback` on the
calling thread, and stops reading as soon as the callback returns True; dropping the response cancels the
request inside llama.cpp, so decoding really stops (tests/advisor/test_generators_llamacpp.py checks the
server's token counter). We run that call on a worker thread and hand the chunks to the caller's iterator
through a queue.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import xllamacpp as xl

from advisor.backends import GenerationError, GenerationStats, ReportsUsage, StreamMeter
from advisor.backends.output_script import gguf_cjk_token_ids
from advisor.offline_models import quantization_of, resolve_model_file
from config import Settings

log = logging.getLogger(__name__)

# Prompt tokens per decode call. Smaller than llama.cpp's default 2048 (same speed: the compute micro-batch
# is 512 either way) so that a long prompt reports progress between batches, which is where a stop request
# can cancel it instead of waiting for the whole prompt to be read.
_BATCH = 512
_POLL_S = 0.05


def _has_gpu() -> bool:
    gpu_types = {xl.ggml_backend_dev_type.GGML_BACKEND_DEVICE_TYPE_GPU}
    return any(dev.get("type") in gpu_types for dev in xl.get_device_info())


def _diagnose_gguf(model_path: str) -> str:
    path = Path(model_path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if magic != b"GGUF":
        return f"not a GGUF model file: it starts with {magic!r}, not b'GGUF'"
    return f"a GGUF header but {size:,} bytes: truncated or corrupt? Re-download it or run `python -m advisor prepare`"


def load_failure(model_path: str) -> GenerationError:
    """llama.cpp only says "Failed to init server": name the likely cause so the fix is obvious."""
    return GenerationError(f"llama.cpp could not load {model_path} ({_diagnose_gguf(model_path)})")


# Prompt lookup: the last _LOOKUP_NGRAM generated tokens are searched for in the context; what followed them
# there becomes the draft. 3 tokens is long enough to be specific in Chinese (about 3 characters) and short
# enough to match often; on the playbook questions 36–73% of drafted tokens were accepted.
_LOOKUP_NGRAM = 3


@lru_cache(maxsize=2)
def _load_server(
    model_path: str, n_ctx: int, threads: int, gpu_layers: int, draft_tokens: int = 0, slot_dir: str = ""
) -> tuple[Any, int, str]:
    """Load a model once per process and configuration (several Advisors may share it).

    With `slot_dir`, the slot's KV cache can be saved to and restored from files there (the knowledge
    cache), through the embedded server's loopback listener, guarded by a key only this process knows.
    Returns (server, threads, that key or "").
    """
    params = xl.CommonParams()
    params.model.path = model_path
    params.n_ctx = n_ctx
    params.n_parallel = 1  # one answer at a time; the single slot keeps the prompt cache warm
    params.n_batch = _BATCH
    params.n_gpu_layers = gpu_layers
    params.cpuparams.n_threads = threads  # -1: llama.cpp picks the number of physical cores
    params.cpuparams_batch.n_threads = threads
    params.cache_prompt = True  # reuse the KV cache of the shared prefix (the fixed system prompt)
    params.endpoint_metrics = True  # token counters, read by describe() and the tests
    params.verbosity = -1
    if draft_tokens > 0:
        # Greedy verification keeps the output token-for-token what plain decoding gives; a memory-bound CPU
        # checks a batch of drafted tokens for about the price of one, so every accepted token is nearly free.
        params.speculative.types = [xl.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        params.speculative.ngram_simple.size_n = _LOOKUP_NGRAM
        params.speculative.ngram_simple.size_m = draft_tokens
    # The embedded server also opens an HTTP listener; bind it to loopback on a free port so two
    # processes never collide on llama.cpp's default 8080. We never route requests through it.
    params.port = 0
    key = ""
    if slot_dir:
        params.slot_save_path = str(Path(slot_dir)) + "/"  # llama.cpp joins it to the file name as text
        params.endpoint_slots = True
        # Only exact prefixes are reused (n_cache_reuse stays 0: shifted KV of another context made the
        # 1.5B answer wrongly, see advisor/kv_cache.py). Every answer restores its prefix from a file; the
        # server's own RAM copies of old prompts (up to 8 GiB by default) would only duplicate them.
        params.cache_ram_mib = 0
        key = secrets.token_urlsafe(24)
        params.api_keys = [key]  # the loopback listener now answers only this process
    try:
        server = xl.Server(params)
    except Exception as exc:
        raise load_failure(model_path) from exc
    # xllamacpp resolves -1 into the real thread count in place.
    return server, params.cpuparams.n_threads, key


class LlamaCppGenerator(ReportsUsage):
    """Streams answers from a GGUF model; the model is loaded once and kept."""

    def __init__(
        self,
        model_path: Path,
        *,
        model_id: str | None = None,
        context_tokens: int = 4096,
        threads: int | None = None,
        repeat_penalty: float = 1.0,
        device: str = "cpu",
        quantization: str | None = None,
        english_only_in_english: bool = True,
        draft_tokens: int = 0,
        prefix_dir: Path | None = None,
    ):
        self.model_path = Path(model_path)
        self.draft_tokens = draft_tokens
        self.constrains_output_language = english_only_in_english
        self.accepts_grammar = True  # llama.cpp samples under a GBNF grammar (advisor/answer_format.py)
        self._cjk_bias: list[list[Any]] | None = None
        self.model_id = model_id or self.model_path.name
        self.quantization = quantization or quantization_of(str(self.model_path))
        self.context_tokens = context_tokens
        self.repeat_penalty = repeat_penalty
        use_gpu = device in ("cuda", "auto") and _has_gpu()
        self.device = "cuda" if use_gpu else "cpu"
        # Where KV files of a read prompt are kept (the knowledge cache); None: not kept.
        self.prefix_dir = Path(prefix_dir) if prefix_dir is not None else None
        if self.prefix_dir is not None:
            self.prefix_dir.mkdir(parents=True, exist_ok=True)
        self._server, self.threads, self._slot_key = _load_server(
            str(self.model_path),
            context_tokens,
            threads or -1,
            999 if use_gpu else 0,
            draft_tokens,
            str(self.prefix_dir or ""),
        )
        self.last_stats: GenerationStats | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppGenerator:
        path = resolve_model_file(settings.llm_model, settings.models_dir)
        return cls(
            path,
            model_id=settings.llm_model,
            context_tokens=settings.llm_context_tokens,
            prefix_dir=settings.knowledge_cache_dir if settings.knowledge_cache else None,
            threads=settings.llm_threads,
            repeat_penalty=settings.llm_repeat_penalty,
            device=settings.device,
            quantization=quantization_of(settings.llm_model),
            english_only_in_english=settings.llm_english_only_in_english,
            draft_tokens=settings.llm_draft_tokens,
        )

    # --- KV files of a read prompt (the knowledge cache, advisor/kv_cache.py) ------------------------------
    def save_prefix(self, messages: Sequence[dict[str, str]], filename: str) -> int:
        """Read `messages` into the slot and write the slot's KV cache to prefix_dir/filename; its tokens."""
        reply = self._server.handle_chat_completions(
            {
                "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                "max_tokens": 1,
                "temperature": 0.0,
                "cache_prompt": True,
            }
        )
        if "error" in reply or "choices" not in reply:
            raise GenerationError(f"llama.cpp: {reply.get('error') or reply.get('message') or reply}")
        return int(self._slot_action("save", filename).get("n_saved", 0))

    def restore_prefix(self, filename: str) -> int:
        """Load prefix_dir/filename into the slot (the next prompt reuses what matches); its tokens."""
        return int(self._slot_action("restore", filename).get("n_restored", 0))

    def _slot_action(self, action: str, filename: str) -> dict[str, Any]:
        if self.prefix_dir is None:
            raise GenerationError("this generator keeps no KV files (start it with prefix_dir)")
        address = self._server.listening_address
        base = address if address.startswith("http") else f"http://{address}"
        try:
            response = httpx.post(
                f"{base}/slots/0",
                params={"action": action},
                json={"filename": filename},
                headers={"Authorization": f"Bearer {self._slot_key}"},
                timeout=httpx.Timeout(600.0, connect=5.0),  # writing a 300 MB file on a slow disk
            )
        except httpx.HTTPError as exc:
            raise GenerationError(f"llama.cpp slot {action} failed: {exc}") from exc
        body = response.json() if response.content else {}
        if response.status_code != 200 or "error" in body:
            detail = body.get("error", body) if isinstance(body, dict) else body
            raise GenerationError(f"llama.cpp slot {action} of {filename} failed: {detail}")
        return body

    def english_logit_bias(self) -> list[list[Any]]:
        """llama.cpp logit bias that forbids every CJK-writing token (`false` = never sample it)."""
        if self._cjk_bias is None:
            self._cjk_bias = [[i, False] for i in gguf_cjk_token_ids(self.model_path)]
        return self._cjk_bias

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "llamacpp",
            "quantization": self.quantization,
            "model_file": self.model_path.name,
            "context_tokens": self.context_tokens,
            "threads": self.threads,
            "draft_tokens": self.draft_tokens,
            "knowledge_cache": self.prefix_dir is not None,
        }

    def counters(self) -> dict[str, float]:
        """llama.cpp's Prometheus counters (prompt_tokens_total, tokens_predicted_total, ...)."""
        out: dict[str, float] = {}
        for line in self._server.handle_metrics().splitlines():
            if line.startswith("llamacpp:"):
                name, _, value = line.partition(" ")
                out[name.removeprefix("llamacpp:")] = float(value)
        return out

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        max_new_tokens: int,
        temperature: float,
        stop_event: threading.Event | None = None,
        *,
        language: str | None = None,
        grammar: str | None = None,
    ) -> Iterator[str]:
        request: dict[str, Any] = {
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "stream": True,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "repeat_penalty": self.repeat_penalty,
            "cache_prompt": True,
            "return_progress": True,  # progress chunks during a long prompt = chances to cancel it
        }
        if language == "en" and self.constrains_output_language:
            request["logit_bias"] = self.english_logit_bias()
        if grammar:
            request["grammar"] = grammar
        chunks: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        abandoned = threading.Event()  # the consumer stopped reading (closed the iterator)

        def should_stop() -> bool:
            return abandoned.is_set() or (stop_event is not None and stop_event.is_set())

        def on_chunk(chunk: dict) -> bool:
            error = chunk.get("error") or (chunk if "message" in chunk and "choices" not in chunk else None)
            if error:
                chunks.put(("error", error.get("message", str(error)) if isinstance(error, dict) else error))
                return True
            for choice in chunk.get("choices") or ():
                text = (choice.get("delta") or {}).get("content")
                if text:
                    chunks.put(("text", text))
            if "timings" in chunk:
                chunks.put(("timings", chunk["timings"]))
            return should_stop()  # True makes llama.cpp drop the request

        def run() -> None:
            try:
                self._server.handle_chat_completions(request, on_chunk)
            except Exception as exc:  # surfaced to the consumer, never lost in the thread
                chunks.put(("error", f"{type(exc).__name__}: {exc}"))
            finally:
                chunks.put(("done", None))

        meter = StreamMeter(self.model_id, self.device, self.quantization)
        timings: dict[str, Any] = {}
        finished = False
        threading.Thread(target=run, name="llamacpp-generate", daemon=True).start()
        try:
            while not should_stop():
                try:
                    kind, value = chunks.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if kind == "text":
                    meter.piece()
                    yield value
                elif kind == "timings":
                    timings = value
                elif kind == "error":
                    raise GenerationError(f"llama.cpp: {value}")
                else:
                    finished = True
                    break
        finally:
            if not finished:
                abandoned.set()  # the worker's next callback returns True and llama.cpp cancels
            self.last_stats = meter.finish(
                new_tokens=timings.get("predicted_n") if finished else None,
                prompt_tokens=int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0)),
                cached_prompt_tokens=int(timings.get("cache_n", 0)),
                tokens_per_s=timings.get("predicted_per_second") if finished else None,
                stopped=not finished,
                drafted_tokens=int(timings.get("draft_n", 0)),
                accepted_draft_tokens=int(timings.get("draft_n_accepted", 0)),
            )

    def first_token_logprobs(self, messages: Sequence[dict[str, str]], top_n: int = 10) -> dict[str, float]:
        """The top candidates for the first answer token with their log-probabilities (for LLM judges)."""
        reply = self._server.handle_chat_completions(
            {
                "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": True,
                "top_logprobs": top_n,
                "cache_prompt": True,
            }
        )
        if "error" in reply or "choices" not in reply:
            raise GenerationError(f"llama.cpp: {reply.get('error') or reply.get('message') or reply}")
        content = (reply["choices"][0].get("logprobs") or {}).get("content") or []
        return {t["token"]: t["logprob"] for t in content[0]["top_logprobs"]} if content else {}
