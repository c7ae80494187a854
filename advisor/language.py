"""Which language a question is in, so the answer (and the refusal) comes back in the same one."""

from __future__ import annotations

import re

Language = str  # "zh" | "en"

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")

# A Chinese sentence often carries Latin acronyms ("AI大模型怎么定价", "SaaS订阅"), and an English one
# sometimes quotes a Chinese term. One Han character carries about as much as a short English word
# (~4 letters), so a Han share of letters of 0.2 already means Chinese is the sentence's own language.
HAN_SHARE_FOR_CHINESE = 0.2


def han_share(text: str) -> float:
    """Han characters / (Han characters + Latin letters); 0.0 for text with neither."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    return han / (han + latin) if han + latin else 0.0


def detect_language(text: str, default: Language = "en") -> Language:
    """'zh' or 'en'. Text with no letters at all (digits, emoji) gets `default`."""
    if not _HAN.search(text) and not _LATIN.search(text):
        return default
    return "zh" if han_share(text) >= HAN_SHARE_FOR_CHINESE else "en"


def has_han(text: str) -> bool:
    return bool(_HAN.search(text))
