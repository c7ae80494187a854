"""Deterministic reference resolution for follow-ups: what a small model gets wrong, done by rule.

Measured on evals/datasets/conversations.jsonl with the offline 1.5B model, the condenser left
"第二种具体是什么意思？" and "Explain the second one." unchanged (they were searched as asked and found
nothing) and turned "它是哪一年成立的？" after a question about OpenAI into a question about GPT-3. Two
references can be resolved from the conversation's text alone, before the model sees the follow-up:

* an ordinal or a named item of the previous answer's list ("第二种", "the last one", "the funding one")
  becomes that item's bold name ("价值导向定价", "Funding risk");
* a pronoun for a company ("它", "it", "its") becomes the one name the previous question asked about
  ("OpenAI", "GTP.ai"), when that question named exactly one.

Anything else is left as asked: a wrong substitution would mislead the search more than none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from advisor.generate import Message
from textkit import has_han

# A list item of an answer as the product writes it: "- **Name**: text [1]" (also "1." and "•").
_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.、)])\s*\*\*(.+?)\*\*", re.MULTILINE)

_ZH_ORDINALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "1": 1, "2": 2, "3": 3, "4": 4}
_ZH_ORDINAL = re.compile(
    r"第([一二三四五六七1-4])(?:种|个|条|点|项|类|步)|最后(?:一)?(?:种|个|条|点|项|类|步)"
)
_EN_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7}
_EN_ORDINAL = re.compile(
    r"\bthe (first|second|third|fourth|fifth|sixth|seventh|last|final)"
    r"(?: (?:one|item|point|option|kind|type|model|strategy|method|step|lesson|element))?\b",
    re.IGNORECASE,
)
# "the funding one": an item named by one of its words.
_EN_NAMED_ONE = re.compile(r"\bthe ([a-z][a-z-]+) one\b", re.IGNORECASE)

# A name a question asks about: a word with a capital inside or a dot, hyphen or digit (OpenAI, GTP.ai,
# GPT-3, ImageNet, COCO), not a capitalised first word ("What") and not "AI" (every question has it).
_NAME = re.compile(
    r"(?<![A-Za-z0-9.])([A-Za-z][A-Za-z0-9]*(?:[.\-][A-Za-z0-9]+)+|[A-Za-z]+[A-Z][A-Za-z0-9]*)"
)
_NOT_NAMES = {"ai", "llm", "saas", "api"}
_ZH_COMPANY_PRONOUN = re.compile(r"它们|它|这家公司|该公司|这个公司")
_EN_COMPANY_PRONOUN = re.compile(r"\b(its|it)\b", re.IGNORECASE)
_FIRST_SENTENCE = re.compile(r"^.*?[？?。！!]\s*(?=\S)")


def list_items(answer: str) -> list[str]:
    """The names an answer lists, in order: its list items' bold names, or else the items of a one-line
    enumeration ("ImageNet、COCO数据集、Wikipedia和Common Crawl", "X, Y, Z and W")."""
    bold = [name.strip().rstrip("。.:：;；,，") for name in _ITEM.findall(answer)]
    return bold or _enumeration(answer)


# An enumeration's separators, and the lead-in before its first item ("附录推荐了", "Four kinds:").
_SEPARATOR = re.compile(r"、|，|,\s*(?:and\s+)?|\s+and\s+|和|以及|及")
_LEAD_IN = re.compile(r"^.*(?:[:：]|推荐了|包括|因为|有|是)\s*")
MIN_ENUMERATED = 3


def _enumeration(answer: str) -> list[str]:
    text = re.sub(r"\[\d+\]|\*\*", "", answer.strip().splitlines()[0] if answer.strip() else "")
    text = text.strip().rstrip("。.!！")
    parts = [part.strip() for part in _SEPARATOR.split(text)]
    if len(parts) < MIN_ENUMERATED or not all(parts):
        return []
    parts[0] = _LEAD_IN.sub("", parts[0]).strip()
    return parts if parts[0] else []


def asked_names(question: str) -> list[str]:
    """The product and company names a question asks about, in order, once each."""
    names = [
        n for n in _NAME.findall(question) if n.lower() not in _NOT_NAMES and any(c.isupper() for c in n)
    ]
    return list(dict.fromkeys(names))


def _item(items: Sequence[str], ordinal: int) -> str | None:
    index = len(items) - 1 if ordinal == -1 else ordinal - 1
    return items[index] if 0 <= index < len(items) else None


def _mid_sentence(name: str) -> str:
    """An English item name as it reads inside a sentence: "Funding risk" -> "funding risk" (one-word
    names such as "Wikipedia", "OpenAI" or "COCO" keep their capitals)."""
    first, *rest = name.split(" ", 1)
    return name[0].lower() + name[1:] if rest and first[1:].islower() else name


def resolve_list_reference(question: str, previous_answer: str) -> str:
    """The question with an ordinal ("第二种", "the last one") or "the X one" replaced by the list item of
    the previous answer it points at; the question itself when there is no such list or reference."""
    items = list_items(previous_answer)
    if not items:
        return question
    zh = _ZH_ORDINAL.search(question)
    if zh:
        ordinal = -1 if zh.group(0).startswith("最后") else _ZH_ORDINALS[zh.group(1)]
        item = _item(items, ordinal)
        return question[: zh.start()] + item + question[zh.end() :] if item else question
    en = _EN_ORDINAL.search(question)
    if en:
        word = en.group(1).lower()
        item = _item(items, -1 if word in ("last", "final") else _EN_ORDINALS[word])
        if item:
            return question[: en.start()] + _mid_sentence(item) + question[en.end() :]
        return question
    named = _EN_NAMED_ONE.search(question)
    if named:
        word = named.group(1).lower()
        matching = [i for i in items if not has_han(i) and word in i.lower()]
        if len(matching) == 1:
            return question[: named.start()] + _mid_sentence(matching[0]) + question[named.end() :]
    return question


def resolve_company_pronoun(question: str, previous_question: str) -> str:
    """The question with "它"/"it"/"its" replaced by the one name the previous question asked about
    ("它是哪一年成立的？" after "OpenAI最著名的项目是什么？" -> "OpenAI是哪一年成立的？")."""
    names = asked_names(previous_question)
    if len(names) != 1:
        return question
    name = names[0]
    # Only in the follow-up's first sentence: after one, the pronoun points at what that sentence named
    # ("那个失败的案例呢？它为什么失败？" after a question on OpenAI: 它 is the failed company).
    first = _FIRST_SENTENCE.match(question)
    head, tail = (question[: first.end()], question[first.end() :]) if first else (question, "")
    if has_han(question):
        return _ZH_COMPANY_PRONOUN.sub(name, head, count=1) + tail
    named = _EN_COMPANY_PRONOUN.sub(
        lambda m: f"{name}'s" if m.group(1).lower() == "its" else name, head, count=1
    )
    return named + tail


def refers_to_company(question: str) -> bool:
    """The question points at a company by pronoun ("its business model", "它是哪年成立的")."""
    pattern = _ZH_COMPANY_PRONOUN if has_han(question) else _EN_COMPANY_PRONOUN
    return bool(pattern.search(question))


def referred_company(question: str, history: Sequence[Message]) -> str | None:
    """The one name the previous question asked about, when the follow-up points at it by pronoun ("Tell me
    more about its business model." after "OpenAI为什么能够成功？" -> "OpenAI"); None otherwise."""
    previous_question = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
    # as resolve_company_pronoun reads it: one name asked before, the pronoun in the first sentence
    if resolve_company_pronoun(question, previous_question) == question:
        return None
    return asked_names(previous_question)[0]


def resolve_references(question: str, history: Sequence[Message]) -> str:
    """The follow-up with the references the last exchange resolves by rule (see the module notes)."""
    previous_answer = next((m["content"] for m in reversed(history) if m["role"] == "assistant"), "")
    previous_question = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
    resolved = resolve_list_reference(question, previous_answer)
    return resolve_company_pronoun(resolved, previous_question)
