"""Whether the advisor searches an index through its bilingual views (settings.bilingual_views), and why.

The views (advisor/bilingual.py) make a question meet every chunk in its own language. "auto", the
default, turns them on for every index that holds Chinese chunks:
- the English view is what an English question searches the Chinese playbook through. With the playbook's
  headings rendered too (they ship, advisor/renderings_seed.en.json), the view alone finds English
  questions' sections as well as the LLM's Chinese rendering of each question did (55 English questions:
  hit@1 0.855 / MRR 0.909 against 0.836 / 0.892, evals/README.md "English view instead of the question's
  rendering"), with no model call between the question and its answer (issue 14: that call was 1.0-3.0 s
  of an English answer's first-token wait). Its renderings are the English answers' own, so it costs no
  extra `prepare` work;
- the Chinese view (an English document's lines in Chinese, made by `prepare`) exists only where the index
  holds English chunks: an incubator's English document is found by Chinese questions (cross-language
  hit@3 0.125 -> 1.000, evals/README.md "Added documents at heading level").
An index with no Chinese chunk (or none at all) has nothing for the English view to show; the views stay
off there, so an English-only knowledge base is not translated into Chinese by `prepare` unasked.

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
    described = ", ".join(f"{n} {lang}" for lang, n in shown.items()) or "no chunks"
    if all(held.get(lang, 0) for lang in VIEW_LANGUAGES):
        return ViewsChoice(
            True, setting, shown, f"auto: the index holds chunks in both languages ({described})"
        )
    if held.get("zh", 0):
        return ViewsChoice(
            True,
            setting,
            shown,
            f"auto: English questions meet the Chinese chunks in their English renderings ({described})",
        )
    return ViewsChoice(False, setting, shown, f"auto: the index holds no Chinese chunk ({described})")
