"""Which of the two languages we serve a text is written in: "zh" or "en".

One rule for questions, passages, documents and answers: Chinese when the Han characters carry at least
as much of the text as the Latin letters do. A Han character carries about as much as a short English
word (~4 letters), so that is a Han share of the letters of 1 / (1 + 4) = 0.2. A Chinese sentence with a
Latin acronym ("SaaS订阅怎么定价？": 6 Han, 4 letters) is Chinese; an English one that quotes a Chinese term
("What does 定价 mean in the playbook?": 2 Han, 25 letters) is English.
"""

from __future__ import annotations

import re
from typing import Literal

from textkit.han import HAN, count_han

Language = Literal["zh", "en"]

_LATIN = re.compile(r"[A-Za-z]")

LETTERS_PER_HAN = 4  # what one Han character carries, in English letters
HAN_SHARE_FOR_CHINESE = 1 / (1 + LETTERS_PER_HAN)  # 0.2: Han and Latin carry the same


def han_share(text: str) -> float:
    """Han characters / (Han characters + Latin letters); 0.0 for text with neither."""
    han = count_han(text)
    latin = len(_LATIN.findall(text))
    return han / (han + latin) if han + latin else 0.0


def has_letters(text: str) -> bool:
    """Any Han character or Latin letter: something a language can be read from."""
    return HAN.search(text) is not None or _LATIN.search(text) is not None


def detect_language(text: str, default: str = "en") -> str:
    """'zh' or 'en'. Text with no letters at all (digits, emoji, punctuation) gets `default`."""
    if not has_letters(text):
        return default
    return "zh" if han_share(text) >= HAN_SHARE_FOR_CHINESE else "en"
