"""Whether the advisor searches an index through its bilingual views (settings.bilingual_views), and why.

The views (advisor/bilingual.py) make a question meet every chunk in its own language. They pay off only
where the index holds both languages: an incubator's English document beside the Chinese playbook is
found by Chinese questions (cross-language hit@3 0.125 -> 1.000 with views, evals/README.md "Added
documents at heading level"). On a one-language index they buy little and cost something measured: on the
playbook alone (all Chinese) they cost English playbook MRR beside query translation (0.922 -> 0.900) and
raise the best cosine that decides weak retrieval, so fewer unanswerable English questions are refused
early. So "auto", the default, turns them on exactly for a two-language index.

The rule lives here, below the advisor, because two places state it: the advisor's factory decides it from
the loaded index's chunks, and `python -m indexing status` shows it from the manifest (no index loaded).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from config import BilingualViews
from indexing.types import Chunk

# The languages views exist for: an English view (Chinese lines rendered in English) and a Chinese one.
VIEW_LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class ViewsChoice:
    """The decision and the reason a person reads in `indexing status` and Advisor.describe()."""

    on: bool
    setting: BilingualViews
    languages: dict[str, int]  # language -> chunks of the index
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"on": self.on, "setting": self.setting, "languages": self.languages, "reason": self.reason}


def chunk_languages(langs: Iterable[str]) -> dict[str, int]:
    """Language -> how many chunks are in it, from each chunk's `lang`."""
    return dict(sorted(Counter(langs).items()))


def views_for_chunks(setting: BilingualViews, chunks: Iterable[Chunk]) -> ViewsChoice:
    """Views on or off for an index of these chunks (each has its document's `lang`)."""
    return decide_views(setting, chunk_languages(c.lang for c in chunks))


def decide_views(setting: BilingualViews, languages: Mapping[str, int]) -> ViewsChoice:
    """Views on or off for an index whose chunks are in `languages` (language -> chunks)."""
    held = {lang: n for lang, n in languages.items() if n > 0}
    shown = dict(sorted(held.items()))
    if setting is True:
        return ViewsChoice(True, setting, shown, "bilingual_views is on (set explicitly)")
    if setting is False:
        return ViewsChoice(False, setting, shown, "bilingual_views is off (set explicitly)")
    if setting != "auto":
        raise ValueError(f"bilingual_views must be true, false or 'auto', not {setting!r}")
    both = all(held.get(lang, 0) for lang in VIEW_LANGUAGES)
    described = ", ".join(f"{n} {lang}" for lang, n in shown.items()) or "no chunks"
    if both:
        return ViewsChoice(
            True, setting, shown, f"auto: the index holds chunks in both languages ({described})"
        )
    return ViewsChoice(False, setting, shown, f"auto: the index holds one language only ({described})")
