"""Hugging Face transformers: the GPU path (a hub id or a local folder; optional bitsandbytes nf4/int8).

generate() runs on a worker thread and hands text to the caller through a `TextIteratorStreamer` made per
request; a StoppingCriteria checks the stop event between tokens, so a closed tab stops the GPU within one
decoding step. One generation at a time per model (a lock): concurrent generate() calls on one GPU only
slow each other down and can run it out of memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from advisor.backends import GenerationError, GenerationStats, ReportsUsage, StreamMeter
from advisor.backends.output_script import cjk_token_ids
from config import Settings
from hostkit import DeviceUnavailableError, resolve_device

log = logging.getLogger(__name__)

_STREAM_TIMEOUT_S = 600.0  # a generate() thread that died silently must not hang the consumer forever


def dtype_for(device: str) -> torch.dtype:
    # bf16 halves memory and is native on every CUDA GPU we target; CPU kernels are fastest and exact in fp32.
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def quantization_config(quantization: str, compute_dtype: torch.dtype) -> BitsAndBytesConfig | None:
    """bitsandbytes settings for none | nf4 | int8."""
    if quantization == "none":
        return None
    if quantization == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=True,  # ~0.4 bit/param less memory for a negligible quality cost
        )
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise GenerationError(f"Unknown quantization {quantization!r}: use none, nf4 or int8.")


class _Watch(StoppingCriteria):
    """Stops generate() when asked to, and counts the new tokens on the way."""

    def __init__(self, prompt_len: int, events: Sequence[threading.Event]):
        self.prompt_len = prompt_len
        self.events = events
        self.new_tokens = 0

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        self.new_tokens = input_ids.shape[-1] - self.prompt_len
        stop = any(e.is_set() for e in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class TransformersGenerator(ReportsUsage):
    """Streams answers from a causal LM loaded with transformers, using the tokenizer's chat template."""

    def __init__(
        self,
        model: str | Path,
        *,
        model_id: str | None = None,
        quantization: str = "none",
        device: str = "auto",
        repeat_penalty: float = 1.0,
        context_tokens: int = 4096,
        english_only_in_english: bool = True,
    ):
        self.model_id = model_id or str(model)
        self.constrains_output_language = english_only_in_english
        self._cjk_ids: list[int] | None = None
        try:
            self.device = resolve_device(device)
        except DeviceUnavailableError as exc:
            raise GenerationError(f"settings.device: {exc}") from exc
        dtype = dtype_for(self.device)
        qconfig = quantization_config(quantization, dtype)
        self.quantization = quantization if qconfig is not None else str(dtype).removeprefix("torch.")
        self.repeat_penalty = repeat_penalty
        self.context_tokens = context_tokens
        kwargs: dict[str, Any] = {"dtype": dtype}
        if qconfig is not None:
            kwargs["quantization_config"] = qconfig
        # accelerate spreads a large model over the visible GPUs; on the CPU everything stays in one place.
        kwargs["device_map"] = "auto" if self.device.startswith("cuda") else {"": self.device}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model))
            self.model = AutoModelForCausalLM.from_pretrained(str(model), **kwargs).eval()
        except (OSError, ValueError, ImportError) as exc:
            raise GenerationError(f"transformers could not load {model!r}: {exc}") from exc
        if not getattr(self.tokenizer, "chat_template", None):
            raise GenerationError(f"{model!r} has no chat template; use an instruct/chat model.")
        self._lock = threading.Lock()
        self.last_stats: GenerationStats | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersGenerator:
        return cls(
            settings.llm_model,
            quantization=settings.llm_quantization,
            device=settings.device,
            repeat_penalty=settings.llm_repeat_penalty,
            context_tokens=settings.llm_context_tokens,
            english_only_in_english=settings.llm_english_only_in_english,
        )

    def cjk_token_ids(self) -> list[int]:
        """The tokenizer's CJK-writing ids, suppressed while answering in English."""
        if self._cjk_ids is None:
            vocabulary = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._cjk_ids = cjk_token_ids(vocabulary, self.tokenizer.all_special_ids)
        return self._cjk_ids

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "transformers",
            "quantization": self.quantization,
            "context_tokens": self.context_tokens,
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }

    def _encode(self, messages: Sequence[dict[str, str]]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer.apply_chat_template(
            [{"role": m["role"], "content": m["content"]} for m in messages],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        prompt_len = encoded["input_ids"].shape[-1]
        if prompt_len >= self.context_tokens:
            raise GenerationError(
                f"The prompt has {prompt_len} tokens, more than the {self.context_tokens}-token context."
            )
        return {k: v.to(self.model.device) for k, v in encoded.items()}

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        max_new_tokens: int,
        temperature: float,
        stop_event: threading.Event | None = None,
        *,
        language: str | None = None,
    ) -> Iterator[str]:
        inputs = self._encode(messages)
        prompt_len = inputs["input_ids"].shape[-1]
        max_new_tokens = min(max_new_tokens, self.context_tokens - prompt_len)
        abandoned = threading.Event()
        watch = _Watch(prompt_len, [abandoned] + ([stop_event] if stop_event is not None else []))
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=_STREAM_TIMEOUT_S
        )
        sampling: dict[str, Any] = {"do_sample": temperature > 0}
        if temperature > 0:
            sampling["temperature"] = temperature
        else:  # greedy: clear sampling defaults from generation_config so transformers does not warn
            sampling.update(temperature=None, top_p=None, top_k=None)
        if language == "en" and self.constrains_output_language:
            sampling["suppress_tokens"] = self.cjk_token_ids()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    self.model.generate(
                        **inputs,
                        max_new_tokens=max_new_tokens,
                        repetition_penalty=self.repeat_penalty,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([watch]),
                        pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                        **sampling,
                    )
            except BaseException as exc:  # handed to the consumer below, never lost in the thread
                failure.append(exc)
                streamer.end()

        meter = StreamMeter(self.model_id, self.device, self.quantization)
        worker = threading.Thread(target=run, name="transformers-generate", daemon=True)
        worker.start()
        finished = False
        try:
            for text in streamer:
                if text:
                    meter.piece()
                    yield text
                if stop_event is not None and stop_event.is_set():
                    break
            else:
                finished = True
            if failure:
                raise GenerationError(f"transformers generate() failed: {failure[0]}") from failure[0]
        finally:
            abandoned.set()  # no-op when generate() already returned; otherwise it stops after this token
            stopped = not finished or (stop_event is not None and stop_event.is_set())
            self.last_stats = meter.finish(
                new_tokens=watch.new_tokens, prompt_tokens=prompt_len, stopped=stopped
            )

    def first_token_logprobs(self, messages: Sequence[dict[str, str]], top_n: int = 10) -> dict[str, float]:
        """The top candidates for the first answer token with their log-probabilities (for LLM judges)."""
        inputs = self._encode(messages)
        with self._lock, torch.inference_mode():
            logits = self.model(**inputs).logits[0, -1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        values, ids = torch.topk(logprobs, k=min(top_n, logprobs.shape[-1]))
        out: dict[str, float] = {}
        for value, token_id in zip(values.tolist(), ids.tolist(), strict=True):
            token = self.tokenizer.decode([token_id])
            out[token] = max(out.get(token, float("-inf")), value)
        return out
