"""Founder Advisor server: settings -> build_advisor -> one FastAPI app with the Gradio chat mounted at /.

    FA_PROFILE=cpu python app.py          # http://127.0.0.1:7860 (chat), /docs (OpenAPI), /portal (embed)

Routes and UI live in webapp/; this file only composes them. The HTTP contract is in docs/api.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI

from config import PROJECT_ROOT, Settings, get_settings
from webapp.documents import documents_router
from webapp.feedback import FeedbackLog, import_legacy_feedback
from webapp.routes import api_router, install_error_handlers, report_router
from webapp.security import BlockRoutes, add_cors
from webapp.service import ChatService
from webapp.store import StoreConfigError, StoreUnavailable, open_event_store
from webapp.ui import build_ui

WEB_DIR: Path = PROJECT_ROOT / "web"

# System fonts only: nothing is fetched from a font CDN (offline machines), and CJK text uses the
# platform's Chinese font beside a matching Latin one.
SYSTEM_FONTS = (
    "system-ui",
    "-apple-system",
    "Segoe UI",
    "PingFang SC",
    "Microsoft YaHei",
    "Noto Sans CJK SC",
    "sans-serif",
)

API_DESCRIPTION = """Grounded, cited answers for founders from the founder playbook (Chinese / English).
Every claim carries `[n]` markers resolved in `citations`; questions the knowledge base does not cover
are refused (`refused: true`). See docs/api.md for the contract and examples."""


def create_app(settings: Settings | None = None, *, advisor: Any = None) -> FastAPI:
    settings = settings or get_settings()
    if advisor is None:
        from advisor import build_advisor  # loads the models: only when no advisor is handed in

        advisor = build_advisor(settings)
    # Answers and votes go to the event store (SQLite in the data folder, or FA_STORE_URL's database).
    store = open_event_store(settings)
    keep_text = settings.store_question_text
    try:
        import_legacy_feedback(settings.feedback_path, store, keep_text=keep_text)
    except StoreUnavailable as exc:  # the file stays; it is read on a later start
        print(f"warning: feedback.jsonl not imported into the event store: {exc}", file=sys.stderr)
    service = ChatService(
        advisor,
        max_waiting=settings.max_queue,
        max_question_chars=settings.max_question_chars,
        max_history_message_chars=settings.max_history_message_chars,
        store=store,
        keep_text=keep_text,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(store.flush, 5.0)  # events still queued at shutdown

    app = FastAPI(
        title="Founder Advisor API",
        version="1.0",
        description=API_DESCRIPTION,
        max_body_size=settings.max_request_bytes,  # every route, Gradio's included
        lifespan=lifespan,
    )
    app.state.event_store = store
    app.state.chat_service = service  # its advisor is replaced when documents change (webapp/documents.py)
    add_cors(app, settings.cors_origins)
    app.add_middleware(BlockRoutes)  # Gradio's upload, proxy and recording routes: unused, so closed
    install_error_handlers(app)
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app.include_router(api_router(service, api_key=api_key, portal_page=WEB_DIR / "portal.html"))
    app.include_router(report_router(store, api_key=api_key, index_dir=settings.index_dir))
    app.include_router(documents_router(service, settings, api_key=api_key))

    demo = build_ui(
        service, FeedbackLog(store, keep_text=keep_text), max_question_chars=settings.max_question_chars
    )
    # api_open=False closes Gradio's direct REST route for queued events, so nothing skips the queue.
    # gradio_client always joins the queue, so the "chat" endpoint keeps working for it.
    demo.queue(api_open=False, max_size=settings.max_queue, default_concurrency_limit=1)
    # Gradio keeps a copy of every component's config (and the chat) per browser session, for 10,000
    # sessions by default: ~0.5 GB of memory that only grows with visitors. Cap it.
    demo.state_session_capacity = settings.max_ui_sessions
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        allowed_paths=[],  # nothing from disk beyond what Gradio itself creates
        blocked_paths=[str(settings.data_dir.resolve())],  # index, models and feedback are never served
        footer_links=["api"],
        theme=gr.themes.Soft(primary_hue="indigo", font=SYSTEM_FONTS),
        css_paths=[WEB_DIR / "chat.css"],
        head=f"<script>{(WEB_DIR / 'citations.js').read_text(encoding='utf-8')}</script>",
        ssr_mode=False,
        show_error=True,
    )
    return app


def server_config(app, settings: Settings, **options: Any):
    """uvicorn's settings for the app, shared by `main`, the live tests and the reliability bench.

    The keep-alive is longer than the clients' own (httpx: 5 s, like uvicorn's default). With equal limits a
    client backing off 4-8 s on a busy 503 now and then sent its retry on a connection the server was
    closing that instant, and got a transport error instead of an answer. `options` override or add
    uvicorn settings (a test's free port, a quieter log).
    """
    import uvicorn

    base = {"host": settings.host, "port": settings.port, "timeout_keep_alive": settings.keep_alive_s}
    return uvicorn.Config(app, **(base | options))


EXIT_SETUP = 2  # the models or the index cannot be loaded (same code as `python -m advisor`)


def main() -> int:
    import uvicorn

    from advisor import AdvisorSetupError, build_advisor

    settings = get_settings()
    try:
        advisor = build_advisor(settings)  # loads the models: a bad one fails here, before any port opens
    except AdvisorSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    try:
        app = create_app(settings, advisor=advisor)
    except StoreConfigError as exc:  # FA_STORE_URL malformed, or no driver for it
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    server = uvicorn.Server(server_config(app, settings))
    warm_up_failed: list[BaseException] = []

    def warm_up() -> None:
        # Warm the models in the background: the server answers health checks at once, and the first
        # question waits for the warm-up (the advisor's lock) instead of paging in weights itself. A model
        # that loaded but cannot generate would leave a server that answers nothing: stop it instead.
        try:
            # Usually built by `python -m advisor prepare` already; after an index or model change it is
            # rebuilt here (minutes), and questions wait in the queue meanwhile rather than read stale KV.
            advisor.prepare_knowledge_cache(say=lambda line: print(line, file=sys.stderr, flush=True))
            advisor.warm_up()
        except Exception as exc:
            warm_up_failed.append(exc)
            print(f"error: the model failed its warm-up, stopping: {exc}", file=sys.stderr, flush=True)
            server.should_exit = True

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    server.run()
    return EXIT_SETUP if warm_up_failed else 0


if __name__ == "__main__":
    sys.exit(main())
