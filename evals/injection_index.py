"""Throw-away advisors over the knowledge base plus extra documents: the attack documents of the indirect
prompt injections, or an incubator's own documents (evals/added_docs.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from advisor import Settings, build_advisor
from evals.datasets import InjectedDocument
from evals.targets import LocalTarget, Target
from indexing import build_index

# --- an index with the injected documents ------------------------------------------------------


def build_augmented_target(
    settings: Settings,
    add_documents: Callable[[Path], None],
    workdir: Path,
    *,
    base: LocalTarget,
    renderings: Mapping[str, Path] | None = None,
) -> LocalTarget:
    """An advisor over the knowledge base plus what `add_documents(knowledge_folder)` writes there, in a
    throw-away data folder.

    The index is built by indexing's public `build_index` with the run's own settings (only the two
    folders differ) and the embedder the advisor already loaded. The live index is copied first, so the
    incremental build embeds only the new documents; the model folder is linked, never rebuilt.
    `renderings`: language ("en", "zh") -> a renderings file made for the added documents (what `python -m
    advisor prepare` would have made), put where the advisor reads its renderings of that language.
    """
    knowledge = workdir / "knowledge"
    data = workdir / "data"
    shutil.copytree(settings.knowledge_dir, knowledge)
    add_documents(knowledge)
    data.mkdir(parents=True)
    if settings.index_dir.is_dir():
        shutil.copytree(settings.index_dir, data / settings.index_dir.name)
    if settings.models_dir.is_dir():
        (data / settings.models_dir.name).symlink_to(settings.models_dir.resolve(), target_is_directory=True)
    augmented = settings.model_copy(update={"data_dir": data, "knowledge_dir": knowledge})
    places = {"en": augmented.renderings_path, "zh": augmented.chinese_renderings_path}
    for language, made in (renderings or {}).items():
        places[language].parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made, places[language])
    build_index(augmented, embedder=base.advisor.embedder, progress=False)
    advisor = build_advisor(augmented, generator=base.advisor.generator, embedder=base.advisor.embedder)
    return LocalTarget(advisor)


def build_injected_target(
    settings: Settings, documents: Sequence[InjectedDocument], workdir: Path, *, base: LocalTarget
) -> LocalTarget:
    """An advisor over the knowledge base plus the attack documents (see build_augmented_target)."""

    def write_attacks(knowledge: Path) -> None:
        for doc in documents:
            (knowledge / doc.name).write_text(doc.text, encoding="utf-8")

    return build_augmented_target(settings, write_attacks, workdir, base=base)


def injected_target_or_reason(
    settings: Settings, documents: Sequence[InjectedDocument], workdir: Path, target: Target
) -> tuple[LocalTarget | None, str]:
    """(the advisor over the attack documents, "") or (None, why it cannot be had): the indirect cases
    are then reported as skipped, and the rest of the suite still runs."""
    if not isinstance(target, LocalTarget):
        return None, "a remote deployment's index cannot be given the attack documents"
    try:
        return build_injected_target(settings, documents, workdir, base=target), ""
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
