"""The one place that wires the advisor: settings -> embedder, index, generator, checker, retriever.

Everything heavy is built here and only here, so tests can pass fakes for any part (a ScriptedGenerator,
a HashEmbedder, an in-memory VectorIndex) and the app, the CLI and the evals get the same wiring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from advisor.advisor import Advisor
from advisor.bilingual import IndexView, index_view
from advisor.generate import Generator
from advisor.kv_cache import KnowledgeCache, keeps_prefix_files, model_identity
from advisor.renderings import Renderings
from advisor.retrieve import HybridRetriever, ViewSource, cross_encoder_reranker, llm_translator
from advisor.support_registry import make_checker
from config import Settings, get_settings
from indexing import (
    Embedder,
    IndexLoadError,
    VectorIndex,
    load_index,
    make_embedder,
    views_for_chunks,
)
from indexing.types import Chunk


class AdvisorSetupError(RuntimeError):
    """The advisor cannot start (no index, a mismatched index, a missing model); the message says what to do."""


def build_advisor(
    settings: Settings | None = None,
    *,
    generator: Generator | None = None,
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
) -> Advisor:
    """An Advisor from the settings (default: the process settings); any part can be passed in instead."""
    settings = settings or get_settings()
    if embedder is None:
        with _setup_step(f"The embedding model {settings.embed_model!r} could not be loaded"):
            embedder = make_embedder(settings)
    if index is None:
        index = _load_configured_index(settings, embedder)
    if generator is None:
        # Imported here: the real backends (llama.cpp, transformers) load only when one is needed, and
        # for the offline GGUF model this is where it is assembled from its PyPI parts on first use.
        from advisor.generate import make_generator

        with _setup_step(f"The language model {settings.llm_model!r} could not be loaded"):
            generator = make_generator(settings)
    checker = make_checker(settings, generator=generator, embedder=embedder)
    reranker = cross_encoder_reranker(settings.reranker, settings.device) if settings.reranker else None
    renderings = None
    if settings.english_renderings:
        renderings = Renderings(settings.renderings_path, _model_key(generator))
    knowledge_cache = None
    if settings.knowledge_cache and keeps_prefix_files(generator):
        knowledge_cache = KnowledgeCache(
            generator,
            index.chunks,
            context_tokens=settings.llm_context_tokens,
            canary=settings.prompt_canary,
            render=_prompt_chunk(renderings),
            families=settings.knowledge_cache_families,
            sibling_sets=settings.knowledge_cache_sibling_sets,
        )
    translator = None
    if settings.translate_queries:
        # The rendering's instructions come from their KV file when the knowledge cache has one.
        before = (lambda: knowledge_cache.restore_fixed("translate")) if knowledge_cache else None
        translator = llm_translator(generator, before=before)
    # Decided here, from the index this advisor serves: "auto" turns the views on for a two-language index
    # only (indexing/views_choice.py), and a changed index is decided again when the advisor is built again.
    views = views_for_chunks(settings.bilingual_views, index.chunks)
    retriever = HybridRetriever(
        index,
        embedder,
        settings,
        translator=translator,
        reranker=reranker,
        views=_view_source(settings, index, embedder) if views.on else None,
    )
    # The Chinese renderings of English lines serve the Chinese view only (bilingual.py): made by prepare.
    chinese_renderings = None
    if views.on:
        chinese_renderings = Renderings(
            settings.chinese_renderings_path, _model_key(generator), shipped=None, reviewed=None, target="zh"
        )
    return Advisor(
        settings,
        generator=generator,
        embedder=embedder,
        index=index,
        checker=checker,
        retriever=retriever,
        knowledge_cache=knowledge_cache,
        renderings=renderings,
        chinese_renderings=chinese_renderings,
        views=views,
    )


def _model_key(generator: Generator) -> str:
    """What renderings are made with: the model's bytes, not its file name (the shipped renderings hold
    wherever the model is assembled)."""
    model_path = getattr(generator, "model_path", None)
    return model_identity(Path(model_path), named=False) if model_path else generator.model_id


def _prompt_chunk(renderings: Renderings | None) -> Callable[[str, Chunk], Chunk] | None:
    """The chunk as a language's answer prompt shows it: English prompts show its English rendering."""
    if renderings is None:
        return None
    return lambda language, chunk: renderings.chunk(chunk) if language == "en" else chunk


def _view_source(settings: Settings, index: VectorIndex, embedder: Embedder) -> ViewSource:
    """How the retriever makes the index's views (bilingual.py): from the renderings on disk, read again
    each time (`prepare` adds lines), whatever model made them (search needs no model's own)."""

    def views() -> tuple[IndexView, ...]:
        made = (
            index_view(
                index,
                embedder,
                _search_renderings(settings, language),
                settings.index_views_dir / language,
                batch_size=settings.embed_batch_size,
                lexical=settings.use_bm25,
            )
            for language in ("en", "zh")
        )
        return tuple(view for view in made if view is not None)

    return views


def _search_renderings(settings: Settings, language: str) -> Renderings:
    if language == "en":
        return Renderings(settings.renderings_path, None)
    return Renderings(settings.chinese_renderings_path, None, shipped=None, reviewed=None, target="zh")


@contextmanager
def _setup_step(what: str) -> Iterator[None]:
    """Turn a model that fails to load (missing, truncated or garbage file; missing package) into one
    AdvisorSetupError whose message the app and the CLI print as a single line instead of a traceback."""
    try:
        yield
    except AdvisorSetupError:
        raise
    except (RuntimeError, OSError, ValueError, ImportError) as exc:  # GenerationError, OfflineModelError, ...
        raise AdvisorSetupError(f"{what}: {exc}") from exc


def _load_configured_index(settings: Settings, embedder: Embedder) -> VectorIndex:
    # No existence check here: load_index falls back to index.prev when a crash left index/ missing,
    # and says "run `python -m indexing build`" when there is neither.
    try:
        return load_index(settings.index_dir, embedder=embedder, device=settings.device)
    except IndexLoadError as exc:  # mismatch or corruption: the message already names the fix
        raise AdvisorSetupError(str(exc)) from exc
