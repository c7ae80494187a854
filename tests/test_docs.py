"""The docs name the models the code runs: every offline id and Qwen model name they mention is in the registry
(advisor/offline_models.py), and the README names the default profile's model as the registry describes it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from advisor.offline_models import ALIASES, OFFLINE_MODELS
from config.settings import PROFILE_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/api.md", "bench/RESULTS.md", "evals/README.md")

OFFLINE_ID = re.compile(r"offline:qwen[\w.\-]*\w", re.IGNORECASE)
# A model name as people write it (Qwen2.5-Coder-1.5B-Instruct); a hub id "Qwen/Qwen2.5-7B-Instruct" is no
# offline model and is left alone by the look-behind.
MODEL_NAME = re.compile(r"(?<![/:\w])Qwen2\.5-[\w.\-]*?\d(?:\.\d)?B(?:-Instruct)?")


def known_model_names() -> set[str]:
    """The names the registry's descriptions start with ("Qwen2.5-Coder-1.5B-Instruct") and those of the hub
    models the profiles name ("Qwen/Qwen2.5-7B-Instruct" -> "Qwen2.5-7B-Instruct")."""
    names = {MODEL_NAME.match(model.description).group(0) for model in OFFLINE_MODELS.values()}
    hub_ids = (defaults.get("llm_model", "") for defaults in PROFILE_DEFAULTS.values())
    return names | {hub_id.split("/", 1)[1] for hub_id in hub_ids if hub_id.startswith("Qwen/")}


def stale_mentions(text: str) -> list[str]:
    """Offline ids that are not the registry's own (old aliases included) and model names it does not know."""
    names = known_model_names()
    bad = [found for found in OFFLINE_ID.findall(text) if found not in OFFLINE_MODELS]
    bad += [
        found for found in MODEL_NAME.findall(text) if found not in names and f"{found}-Instruct" not in names
    ]
    return bad


@pytest.mark.parametrize("doc", DOCS)
def test_docs_name_only_registered_models(doc: str) -> None:
    assert stale_mentions((ROOT / doc).read_text(encoding="utf-8")) == []


def test_the_readme_names_the_default_model_as_the_registry_does() -> None:
    default = OFFLINE_MODELS[PROFILE_DEFAULTS["cpu"]["llm_model"]]
    name = MODEL_NAME.match(default.description).group(0)
    assert name in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_check_fails_on_a_stale_name() -> None:
    old_id = next(iter(ALIASES))
    assert stale_mentions(f"the offline Qwen2.5-1.5B-Instruct model ({old_id})") == [
        old_id,
        "Qwen2.5-1.5B-Instruct",
    ]
    assert stale_mentions("Qwen2.5-Coder-1.5B Q4_K_M (offline:qwen2.5-coder-1.5b-instruct-q4_k_m).") == []
