"""Guards in front of the advisor: bearer API key, question limits, CORS allow-list."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# Gradio routes this app has no use for, closed because each is a way in for anyone on the internet:
# - upload (and its progress feed): the chat has no file input, yet Gradio would store any file of any
#   size from anyone and serve it back from /gradio_api/file= -- a free file host on the portal's domain;
# - proxy=: for gr.load() of remote Spaces; it also fails with a 500 on a malformed URL;
# - process_recording: for audio inputs, which the chat does not have.
UNUSED_GRADIO_ROUTES = ("/gradio_api/upload", "/gradio_api/proxy=", "/gradio_api/process_recording")


class QuestionRejected(ValueError):
    """A question the server will not even look at; the message says why, for the user."""

    def __init__(self, message: str, *, too_long: bool = False):
        super().__init__(message)
        self.too_long = too_long


def check_question(question: str, max_chars: int) -> str:
    """Refuse empty and over-long questions before anything else (tokenising, retrieval) touches them."""
    if len(question) > max_chars:
        raise QuestionRejected(
            f"The question is {len(question)} characters long; the limit is {max_chars}. "
            f"问题过长（{len(question)} 字符），上限为 {max_chars}。",
            too_long=True,
        )
    stripped = question.strip()
    if not stripped:
        raise QuestionRejected("The question is empty. 问题为空。")
    return stripped


def require_api_key(api_key: str | None) -> Callable[[Request], None]:
    """A FastAPI dependency: with a key configured, every call needs `Authorization: Bearer <key>`."""

    def dependency(request: Request) -> None:
        if api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken must not reveal how much of a guessed key was right.
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), api_key.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="Missing or wrong API key: send 'Authorization: Bearer <key>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return dependency


def add_cors(app: FastAPI, origins: list[str]) -> None:
    """Allow exactly the configured portal origins; with none configured, no origin gets CORS headers.

    Adding the middleware even for an empty list matters: Gradio adds its own permissive CORS handling
    to a mounted app only when the parent app has no CORSMiddleware.
    """
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        allow_credentials=False,
    )


class BlockRoutes:
    """ASGI middleware: 404 for paths under the given prefixes, before any route (Gradio's included) runs.

    It looks at the decoded path (uvicorn has already turned %75 into u), so encodings do not slip past.
    """

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = UNUSED_GRADIO_ROUTES):
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"].removeprefix(scope.get("root_path", "") or "")
            if path.startswith(self.prefixes):
                await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)
