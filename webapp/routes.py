"""The HTTP API: thin translation between JSON and the advisor (through ChatService). No RAG logic here."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    StreamingResponse,
)

from advisor import GenerationError
from webapp.conversation import split_conversation
from webapp.queueing import Busy
from webapp.report import (
    CSV_NAMES,
    GapReport,
    build_report,
    csv_tables,
    index_sections,
    render_html,
    since_weeks,
)
from webapp.schemas import (
    AnswerOut,
    AskRequest,
    Completion,
    CompletionChoice,
    CompletionMessage,
    CompletionRequest,
    CompletionUsage,
    ErrorOut,
    HealthOut,
    SourcesEventOut,
    answer_out,
    sources_out,
)
from webapp.security import QuestionRejected, require_api_key
from webapp.service import ChatService, with_heartbeat
from webapp.store import EventStore, StoreUnavailable

KEEPALIVE_S = 1.0
ERRORS = {
    400: {"model": ErrorOut, "description": "The body is not valid JSON."},
    401: {"model": ErrorOut, "description": "Missing or wrong bearer API key (when one is configured)."},
    413: {
        "model": ErrorOut,
        "description": "The question, or one turn of the conversation, is longer than the server's limit.",
    },
    422: {
        "model": ErrorOut,
        "description": "Empty question, a conversation turn with another role than user, assistant, system or "
        "developer (or a part that is not text), or a body that does not match the schema.",
    },
    503: {
        "model": ErrorOut,
        "description": "Busy (the waiting line is full) or the language model is unavailable (its server is "
        "down, timed out or failed); see the Retry-After header.",
    },
}
# A model server that is down or failing is usually back within seconds (restarted by its supervisor).
MODEL_RETRY_AFTER_S = 5


def _reject(exc: QuestionRejected) -> HTTPException:
    code = status.HTTP_413_CONTENT_TOO_LARGE if exc.too_long else status.HTTP_422_UNPROCESSABLE_CONTENT
    return HTTPException(code, detail=str(exc))


def _busy(exc: Busy) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": str(exc.retry_after_s)}
    )


def _model_unavailable(exc: GenerationError) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        detail=f"The language model is unavailable: {exc}",
        headers={"Retry-After": str(MODEL_RETRY_AFTER_S)},
    )


def _admit_or_503(service: ChatService) -> None:
    # Streaming responses commit to 200 at their first byte, so a full line is refused up front.
    if service.queue.is_full():
        raise _busy(Busy(service.queue.retry_after_s()))


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# What the checked text may change without changing the words: markers, bold around a point's name and a
# full stop the renderer adds (advisor/answer_format.py), whitespace.
_MARKS = re.compile(r"\[\d{1,3}\]|⚠|\*\*|[。.]|\s")


# Put before the checked text when a stream's words were changed by the check (see _completion_tail).
_CHECKED_FOLLOWS = "\n\n---\n"


def _completion_answer(content: str) -> str:
    """An earlier assistant message of an OpenAI conversation as the advisor wrote it: a streamed reply
    whose words the check changed ends with the checked text after the separator, and only that counts."""
    return content.rpartition(_CHECKED_FOLLOWS)[2]


def _completion_tail(streamed: str, checked: str) -> str:
    """What an OpenAI stream still has to send once the checked answer is known.

    Plain OpenAI clients only concatenate, and streamed text cannot be taken back. When the check only
    dropped invalid markers or flagged sentences, the words are the same: nothing more is sent (the
    exact checked text is in `founder_advisor.text`). When the words changed (sentences removed, or the
    answer replaced by a refusal), the checked text follows a separator, so readers end with it.
    """
    if checked.startswith(streamed):
        return checked[len(streamed) :]
    if _MARKS.sub("", checked) == _MARKS.sub("", streamed):
        return ""
    return _CHECKED_FOLLOWS + checked


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "The request body is not valid JSON."}, status_code=400)
        where = "; ".join(_validation_problem(e) for e in errors)
        return JSONResponse({"detail": f"Invalid request: {where}"}, status_code=422)


def _validation_problem(error: dict) -> str:
    """'body.history.2.role: Input should be 'user', ... (got 'tool')': where, what, and the value sent
    when it is a plain one (cut short: the value may be huge)."""
    where = ".".join(str(p) for p in error.get("loc", ()))
    got = error.get("input")
    sent = f" (got {got!r:.60})" if isinstance(got, str | int | float | bool) else ""
    return f"{where}: {error.get('msg')}{sent}"


def api_router(service: ChatService, *, api_key: str | None, portal_page: Path) -> APIRouter:
    router = APIRouter()
    keyed = [Depends(require_api_key(api_key))]

    @router.get("/api/health", response_model=HealthOut, tags=["health"])
    async def health() -> HealthOut:
        """Model, device, index counts, queue state and the event store's state (`store.status` "down"
        with `store.lost` events counted: answers go on regardless). Open (no key) for load balancers;
        never waits."""
        description = await service.describe()
        queue = service.queue.state()
        index = description.get("index") if isinstance(description.get("index"), dict) else {}
        return HealthOut(
            status="busy" if queue.running else "ok",
            model=str(description.get("model") or description.get("model_id") or ""),
            device=str(description.get("device") or ""),
            index=index,
            queue={"running": queue.running, "waiting": queue.waiting, "max_waiting": queue.max_waiting},
            advisor=description,
            store=service.store_state(),
        )

    @router.post("/api/ask", response_model=AnswerOut, dependencies=keyed, responses=ERRORS, tags=["ask"])
    async def ask(body: AskRequest, request: Request) -> AnswerOut:
        """Answer one question from the knowledge base, with citations, or refuse honestly."""
        try:
            answer = await service.answer(body.question, body.history, request.is_disconnected, channel="api")
        except QuestionRejected as exc:
            raise _reject(exc) from None
        except Busy as exc:
            raise _busy(exc) from None
        except GenerationError as exc:
            raise _model_unavailable(exc) from None
        except ValueError as exc:  # the advisor's own validation, in its words
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
        if answer is None:  # the client is gone; nobody reads this
            raise HTTPException(499, detail="Client closed the request.")
        return answer_out(answer)

    @router.post(
        "/api/ask/stream",
        dependencies=keyed,
        responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "SSE stream"}},
        tags=["ask"],
    )
    async def ask_stream(body: AskRequest) -> StreamingResponse:
        """Server-sent events: one `sources` event ({"status": "reading", "sources": [...]}) as soon as
        retrieval is done (before the first token; not sent when the question is refused before the
        model is asked), `delta` events ({"text": piece}) while the model writes, then one `answer` event
        with the checked Answer (authoritative: its text may differ from the concatenated deltas), or an
        `error` event."""
        try:
            deltas = service.deltas(body.question, body.history, channel="api_stream")
        except QuestionRejected as exc:
            raise _reject(exc) from None
        _admit_or_503(service)

        async def events() -> AsyncIterator[str]:
            try:
                async for delta in with_heartbeat(deltas, KEEPALIVE_S):
                    if delta is None:
                        yield ": keep-alive\n\n"
                    elif delta.done:
                        yield _sse("answer", answer_out(delta.answer).model_dump())
                    else:
                        if delta.sources:
                            reading = SourcesEventOut(status="reading", sources=sources_out(delta.sources))
                            yield _sse("sources", reading.model_dump())
                        if delta.text:
                            yield _sse("delta", {"text": delta.text})
            except Busy as exc:
                yield _sse("error", {"detail": str(exc), "retry_after_s": exc.retry_after_s})
            except GenerationError as exc:  # the 200 is already sent: the error travels as an event
                detail = _model_unavailable(exc).detail
                yield _sse("error", {"detail": detail, "retry_after_s": MODEL_RETRY_AFTER_S})
            except ValueError as exc:
                yield _sse("error", {"detail": str(exc)})

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @router.post(
        "/v1/chat/completions",
        response_model=Completion,
        dependencies=keyed,
        responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "With stream=true"}},
        tags=["openai"],
    )
    async def chat_completions(body: CompletionRequest, request: Request):
        """OpenAI-compatible chat completions (stream or not). The citations travel in the extra fields
        `citations` and `founder_advisor` (the full Answer); in a stream, on the last chunk."""
        try:
            question, history = split_conversation(body.messages)
        except QuestionRejected as exc:
            raise _reject(exc) from None
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not body.stream:
            try:
                answer = await service.answer(
                    question,
                    history,
                    request.is_disconnected,
                    channel="openai",
                    shown_answer=_completion_answer,
                    history_name="messages",
                )
            except QuestionRejected as exc:
                raise _reject(exc) from None
            except Busy as exc:
                raise _busy(exc) from None
            except GenerationError as exc:
                raise _model_unavailable(exc) from None
            except ValueError as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
            if answer is None:
                raise HTTPException(499, detail="Client closed the request.")
            out = answer_out(answer)
            tokens = answer.timings.new_tokens
            return Completion(
                id=completion_id,
                created=created,
                model=answer.model_id,
                choices=[CompletionChoice(message=CompletionMessage(content=answer.text))],
                usage=CompletionUsage(completion_tokens=tokens, total_tokens=tokens),
                citations=out.citations,
                founder_advisor=out,
            )

        try:
            deltas = service.deltas(
                question,
                history,
                channel="openai_stream",
                shown_answer=_completion_answer,
                history_name="messages",
            )
        except QuestionRejected as exc:
            raise _reject(exc) from None
        _admit_or_503(service)

        def chunk(delta: dict, finish: str | None = None, **extra: object) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        description = await service.describe()
        model_name = str(description.get("model") or description.get("model_id") or "founder-advisor")

        async def events() -> AsyncIterator[str]:
            streamed = ""
            yield chunk({"role": "assistant", "content": ""})
            try:
                async for delta in with_heartbeat(deltas, KEEPALIVE_S):
                    if delta is None:
                        yield ": keep-alive\n\n"
                    elif not delta.done:
                        # The `sources` delta (retrieval done, prompt being read) has no text: plain OpenAI
                        # clients only concatenate content, so it is not sent (sources come on the last chunk).
                        if delta.text:
                            streamed += delta.text
                            yield chunk({"content": delta.text})
                    else:
                        final = delta.answer
                        rest = _completion_tail(streamed, final.text)
                        out = answer_out(final).model_dump()
                        yield chunk(
                            {"content": rest} if rest else {},
                            "stop",
                            citations=out["citations"],
                            founder_advisor=out,
                        )
            except Busy as exc:
                yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'busy'}})}\n\n"
            except GenerationError as exc:
                error = {"message": _model_unavailable(exc).detail, "type": "model_unavailable"}
                yield f"data: {json.dumps({'error': error})}\n\n"
            except ValueError as exc:
                yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'invalid_request'}})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @router.get("/v1/models", dependencies=keyed, tags=["openai"])
    async def models() -> dict:
        """OpenAI-compatible model list (one model: the one this server answers with)."""
        description = await service.describe()
        name = str(description.get("model") or description.get("model_id") or "founder-advisor")
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "founder-advisor"}]}

    @router.get("/portal", include_in_schema=False)
    async def portal() -> FileResponse:
        """An example incubator portal page that embeds the chat (see docs/api.md)."""
        return FileResponse(portal_page, media_type="text/html")

    return router


def report_router(store: EventStore, *, api_key: str | None, index_dir: Path) -> APIRouter:
    """The knowledge-gap report ("what founders ask") as a page and CSV files, behind the API key.

    With no API key configured the report is not served at all: it describes what founders asked (their
    questions too, when the store keeps them), which is not for anyone who finds the URL.
    """
    router = APIRouter(tags=["report"])
    keyed = [Depends(require_api_key(api_key))]

    def report_or_error(weeks: int) -> GapReport:
        if api_key is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail="The report is served only when an API key is set (FA_API_KEY).",
            )
        since = since_weeks(weeks)
        try:
            events = store.read(since)
        except StoreUnavailable as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
        return build_report(events, index_sections=index_sections(index_dir), since=since)

    weeks_query = Query(12, ge=1, le=520, description="How many weeks back the report looks.")

    @router.get(
        "/api/report",
        dependencies=keyed,
        response_class=HTMLResponse,
        responses={401: ERRORS[401], 404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    )
    async def report_page(weeks: int = weeks_query) -> HTMLResponse:
        """What founders ask: refused questions by topic and reason, thumbs-down answers, most and least
        cited sections, by week (HTML with plots). Needs the API key; not served without one."""

        def page() -> str:
            report = report_or_error(weeks)
            links = {name: f"/api/report/{name}.csv?weeks={weeks}" for name in CSV_NAMES}
            return render_html(report, csv_links=links)

        return HTMLResponse(await asyncio.to_thread(page))  # reading and plotting: off the event loop

    def add_csv_route(name: str) -> None:
        # One route per table (not a path parameter): each is listed, and checked, on its own.
        @router.get(
            f"/api/report/{name}.csv",
            dependencies=keyed,
            response_class=PlainTextResponse,
            responses={401: ERRORS[401], 404: {"model": ErrorOut}, 503: {"model": ErrorOut}},
            summary=f"Report table {name} (CSV)",
            operation_id=f"report_{name}_csv",
        )
        async def report_csv(weeks: int = weeks_query) -> PlainTextResponse:
            """One table of the report as CSV (weekly, refusals, thumbs_down, sections)."""
            text = await asyncio.to_thread(lambda: csv_tables(report_or_error(weeks))[name])
            return PlainTextResponse(
                text,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )

    for name in CSV_NAMES:
        add_csv_route(name)

    return router
