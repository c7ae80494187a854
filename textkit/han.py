"""Which characters are Han (Chinese) characters, and which are East-Asian script at all.

Two sets, because two questions are asked:

* ``HAN``: ideographs, the characters that carry Chinese words. CJK Unified Ideographs (U+4E00–9FFF) hold
  everything common; Extension A (U+3400–4DBF) holds rare characters that still occur in names and in text
  converted from Big5 or GB18030; the Compatibility Ideographs (U+F900–FAFF) are what legacy Korean and
  Taiwanese encodings decode to; planes 2 and 3 (U+20000–3FFFF, Extensions B–H and the compatibility
  supplement) are ideographs only, and GB18030's four-byte sequences decode into them (𠀀). Left out on
  purpose: U+4DC0–4DFF between Extension A and the main block (Yijing hexagram symbols, not words) and
  CJK punctuation (。，), which is not a letter of any language.
* ``CJK_SCRIPT``: any character an English answer must not contain and that a tokenizer spends about one
  token on: the ideographs plus radicals, CJK symbols and punctuation, kana, bopomofo, enclosed and
  compatibility forms (U+2E80–9FFF as one run), the vertical forms (U+FE30–FE4F) and the half- and
  full-width forms (U+FF00–FFEF, where "，" and "１" live).
"""

from __future__ import annotations

import re

CodeRange = tuple[int, int]  # first and last code point, inclusive

HAN_RANGES: tuple[CodeRange, ...] = (
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3FFFF),  # planes 2 and 3: Extensions B–H, Compatibility Ideographs Supplement
)
CJK_SCRIPT_RANGES: tuple[CodeRange, ...] = (
    (0x2E80, 0x9FFF),  # radicals … CJK symbols and punctuation, kana, bopomofo … Extension A, Unified
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFE30, 0xFE4F),  # CJK Compatibility Forms (vertical punctuation)
    (0xFF00, 0xFFEF),  # Halfwidth and Fullwidth Forms
    (0x20000, 0x3FFFF),  # planes 2 and 3: ideographs only
)


def char_class(ranges: tuple[CodeRange, ...]) -> str:
    """The ranges as the inside of a bracket expression, written with the characters themselves.

    Literal characters (not escapes) so the same text works in a Python regex and in a llama.cpp GBNF
    grammar; none of these code points is special inside brackets in either.
    """
    return "".join(f"{chr(first)}-{chr(last)}" for first, last in ranges)


HAN_CLASS = char_class(HAN_RANGES)
HAN = re.compile(f"[{HAN_CLASS}]")
CJK_SCRIPT = re.compile(f"[{char_class(CJK_SCRIPT_RANGES)}]")


def is_han(char: str) -> bool:
    """True for one Han character (see HAN_RANGES)."""
    return bool(HAN.fullmatch(char))


def has_han(text: str) -> bool:
    return HAN.search(text) is not None


def count_han(text: str) -> int:
    return len(HAN.findall(text))


def han_run(min_length: int = 1, max_length: int | None = None) -> str:
    """A regex for a run of Han characters, e.g. han_run(4, 8) for a four-to-eight character term."""
    upper = "" if max_length is None else str(max_length)
    return f"[{HAN_CLASS}]{{{min_length},{upper}}}"
