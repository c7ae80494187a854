"""The throw-away advisor the indirect prompt injections need: the knowledge base plus the attack documents."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from advisor import Settings, build_advisor
from evals.datasets import InjectedDocument
from evals.targets import LocalTarget, Target
from indexing import build_index

# --- an index with the injected documents ------------------------------------------------------


def build_injected_target(
    settings: Settings, documents: Sequence[InjectedDocument], workdir: Path, *, base: LocalTarget
) -> LocalTarget:
    """An advisor over the knowledge base plus the attack documents, in a throw-away data folder.

    The index is built by indexing's public `build_index` with the run's own settings (only the two
    folders differ) and the embedder the advisor already loaded. The live index is copied first, so the
    incremental build embeds only the attack documents; the model folder is linked, never rebuilt.
    """
    knowledge = workdir / "knowledge"
    data = workdir / "data"
    shutil.copytree(settings.knowledge_dir, knowledge)
    for doc in documents:
        (knowledge / doc.name).write_text(doc.text, encoding="utf-8")
    data.mkdir(parents=True)
    if settings.index_dir.is_dir():
        shutil.copytree(settings.index_dir, data / settings.index_dir.name)
    if settings.models_dir.is_dir():
        (data / settings.models_dir.name).symlink_to(settings.models_dir.resolve(), target_is_directory=True)
    injected = settings.model_copy(update={"data_dir": data, "knowledge_dir": knowledge})
    build_index(injected, embedder=base.advisor.embedder, progress=False)
    advisor = build_advisor(injected, generator=base.advisor.generator, embedder=base.advisor.embedder)
    return LocalTarget(advisor)


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
