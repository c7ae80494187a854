"""A question that picks among options by a condition: "Which of those suits a company with a strong developer
community?", "哪种盈利模式适合开发者社区强大的公司？".

Such a question names no section by its heading: its options are what the conversation listed, and what it
asks is which one the condition describes. The section headings it does name ("business models", borrowed by
the rewrite from the conversation) point at the list of options, not at the one that fits: issue 15's
conversation read 5.1.2 商业模式的要素 alone and listed its seven elements, while 5.2.3 平台化盈利模式 is the
passage that speaks of developer communities (开发者社区). Here the condition decides: the one section whose
passages hold clearly more of the condition's words than any other.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

import jieba

from advisor.support_bridge import dictionary, english_stems
from indexing import Hit

_EN_WHICH = re.compile(
    r"\bwhich\b.*?\b(?:suits?|fits?|(?:is|are|would be) (?:best|right|good|better|suitable|suited) for|"
    r"works? (?:best )?for|makes? (?:the most )?sense for)\b(?P<condition>[^?.!]+)",
    re.IGNORECASE,
)
_ZH_CONDITION = re.compile(r"(?:适合|适用于|适用)(?P<condition>[^？?。！!]+)")
# Words that describe any asker, not the condition: every option is for a company.
_GENERIC_ZH = frozenset(
    {"公司", "企业", "创业", "初创", "创业公司", "团队", "的", "是", "哪种", "哪个", "哪些"}
)
_GENERIC_STEMS = frozenset(
    {"compani", "startup", "firm", "busi", "founder", "team", "ai", "one", "kind", "type"}
)
# The chosen section holds at least this many of a Chinese condition's words (or one of an English
# condition's word pairs), and more than any other section.
MIN_CONDITION_WORDS = 2
MIN_CONDITION_PAIRS = 1


def condition_words(question: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """(Chinese words, English stems in order) of the condition a picking question puts, or two empties."""
    english = _EN_WHICH.search(question)
    if english:
        stems = [s for s in english_stems(english.group("condition")) if s not in _GENERIC_STEMS]
        return frozenset(), tuple(stems)
    chinese = _ZH_CONDITION.search(question) if "哪" in question else None
    if chinese:
        condition = re.sub(r"(?:的是)?哪.*$", "", chinese.group("condition"))
        words = {w for w in jieba.lcut(condition) if len(w) >= 2 and w not in _GENERIC_ZH}
        return frozenset(words), ()
    return frozenset(), ()


@lru_cache(maxsize=1024)
def _word_senses(text: str) -> tuple[frozenset[str], ...]:
    """The passage as a sequence of words, each as the English stems it may mean: a Chinese word's
    dictionary senses, an English word's stem."""
    senses = dictionary()
    out: list[frozenset[str]] = []
    for word in jieba.lcut(text):
        if re.fullmatch(r"[A-Za-z][\w\-']*", word):
            out.append(frozenset(english_stems(word)))
        elif word.strip():
            out.append(senses.get(word, frozenset()))
    return tuple(out)


def _pairs_held(stems: Sequence[str], text: str) -> int:
    """How many of the condition's consecutive stem pairs ("develop communiti") the passage says as one
    word or two adjacent ones (开发者社区): single senses are too loose (发展 "develop", 群体 "community")."""
    words = _word_senses(text)
    held = 0
    for a, b in itertools.pairwise(stems):
        if any(
            (a in w and b in w) or (i + 1 < len(words) and a in w and b in words[i + 1])
            for i, w in enumerate(words)
        ):
            held += 1
    return held


def option_fitting(question: str, hits: Sequence[Hit], section_of: Callable[[Hit], str]) -> str | None:
    """The section (by `section_of`) whose passages hold the condition of a picking question clearly best,
    or None: not a picking question, or no section stands out."""
    words, stems = condition_words(question)
    if not words and len(stems) < 2:
        return None
    texts: dict[str, str] = {}
    for h in hits:
        texts[section_of(h)] = texts.get(section_of(h), "") + "\n" + h.chunk.text
    if words:
        held = {section: len({w for w in words if w in text}) for section, text in texts.items()}
        needed = MIN_CONDITION_WORDS
    else:
        held = {section: _pairs_held(stems, text) for section, text in texts.items()}
        needed = MIN_CONDITION_PAIRS
    (best, count), *rest = sorted(held.items(), key=lambda kv: -kv[1])
    runner_up = rest[0][1] if rest else 0
    return best if count >= needed and count > runner_up else None
