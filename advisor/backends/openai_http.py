"""Any OpenAI-compatible chat server (vLLM, TGI, a llama.cpp server): the way past one machine.

Streams with the official `openai` client. Opening the stream is retried with backoff (tenacity) when the
server refuses connections, since a model server that is still starting is the common case; a timeout is
not retried (the server may still be working on the request, and a second one would only load it more),
and once text has been yielded nothing is retried, because a second attempt would repeat the start of the
answer. Every wait is bounded (connect, first byte, gap between pieces), so an engine that is down, stuck
or erroring ends in a GenerationError (HTTP 503 in the app), never a hang. Setting the stop event closes
the HTTP stream, which vLLM and llama.cpp treat as a cancelled request (tests/advisor/test_engine_real.py
checks that the llama.cpp server's slot goes idle).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import openai
from tenacity import (
    retry,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from advisor.backends import GenerationError, GenerationStats, ReportsUsage, StreamMeter
from config import Settings

log = logging.getLogger(__name__)


class OpenAIHTTPGenerator(ReportsUsage):
    """Streams chat completions from an OpenAI-compatible endpoint."""

    device = "remote"
    quantization = "remote"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
        connect_attempts: int = 3,
        backoff_s: float = 0.5,
    ):
        self.base_url = base_url
        self.model_id = model
        self.timeout_s = timeout_s
        # The client's own retries are off: ours (below) know not to retry once text has been streamed.
        # The read timeout bounds the wait for the first byte and every gap between streamed pieces.
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            # openai's own Timeout: newer clients run on httpx2 and reject an httpx.Timeout.
            timeout=openai.Timeout(timeout_s, connect=connect_timeout_s),
            max_retries=0,
        )
        self._open = retry(
            # APITimeoutError is an APIConnectionError too, but the server may be busy with the request.
            retry=retry_if_exception_type(openai.APIConnectionError)
            & retry_if_not_exception_type(openai.APITimeoutError),
            stop=stop_after_attempt(connect_attempts),
            wait=wait_exponential(multiplier=backoff_s, max=8.0),
            before_sleep=lambda state: log.warning(
                "%s unreachable (attempt %d): %s", base_url, state.attempt_number, state.outcome.exception()
            ),
            reraise=True,
        )(self._client.chat.completions.create)
        self.last_stats: GenerationStats | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIHTTPGenerator:
        if not settings.llm_base_url:
            raise GenerationError(
                "llm_backend 'openai' needs FA_LLM_BASE_URL (e.g. http://127.0.0.1:8000/v1)."
            )
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            settings.llm_base_url,
            settings.llm_model,
            api_key=key,
            timeout_s=settings.llm_timeout_s,
            connect_timeout_s=settings.llm_connect_timeout_s,
            connect_attempts=settings.llm_connect_attempts,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "openai",
            "base_url": self.base_url,
            "quantization": self.quantization,
            "timeout_s": self.timeout_s,
        }

    def _create(self, **kwargs: Any) -> Any:
        try:
            return self._open(model=self.model_id, **kwargs)
        except openai.APITimeoutError as exc:
            raise GenerationError(
                f"The model server at {self.base_url} did not answer within {self.timeout_s:g} s"
            ) from exc
        except openai.APIConnectionError as exc:
            raise GenerationError(f"Cannot reach the model server at {self.base_url}: {exc}") from exc
        except openai.APIStatusError as exc:
            raise GenerationError(
                f"The model server at {self.base_url} answered {exc.status_code}: {exc}"
            ) from exc

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        max_new_tokens: int,
        temperature: float,
        stop_event: threading.Event | None = None,
    ) -> Iterator[str]:
        meter = StreamMeter(self.model_id, self.device, self.quantization)
        response = self._create(
            messages=[{"role": m["role"], "content": m["content"]} for m in messages],
            max_tokens=max_new_tokens,
            temperature=temperature,
            stream=True,
            stream_options={"include_usage": True},  # a final chunk with exact token counts
        )
        usage = None
        finished = False
        try:
            for chunk in response:
                if stop_event is not None and stop_event.is_set():
                    break
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    text = choice.delta.content if choice.delta else None
                    if text:
                        meter.piece()
                        yield text
            else:
                finished = True
        except (httpx.TimeoutException, openai.APITimeoutError) as exc:
            raise GenerationError(
                f"The stream from {self.base_url} stalled for more than {self.timeout_s:g} s"
            ) from exc
        except (openai.APIError, httpx.HTTPError) as exc:
            raise GenerationError(f"The stream from {self.base_url} broke off: {exc}") from exc
        finally:
            response.close()  # frees the connection; the server sees the client leave and cancels
            self.last_stats = meter.finish(
                new_tokens=usage.completion_tokens if usage else None,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                stopped=not finished,
            )

    def first_token_logprobs(self, messages: Sequence[dict[str, str]], top_n: int = 10) -> dict[str, float]:
        """Top first-token candidates with log-probabilities (servers that support `logprobs`)."""
        reply = self._create(
            messages=[{"role": m["role"], "content": m["content"]} for m in messages],
            max_tokens=1,
            temperature=0.0,
            logprobs=True,
            top_logprobs=top_n,
        )
        content = reply.choices[0].logprobs.content if reply.choices and reply.choices[0].logprobs else None
        if not content:
            return {}
        return {t.token: t.logprob for t in content[0].top_logprobs}
