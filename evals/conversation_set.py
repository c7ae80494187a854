"""The conversation set (evals/datasets/conversations.jsonl): multi-turn conversations -> follow-up cases.

One line is one conversation of 2-4 turns. Every turn has a `user` question and its `lang`; every turn
but the last has the `assistant` answer a founder saw (short, in the product's shape, with [n] markers).
The first turn is a standalone question; each later turn is a follow-up with

* `kind`: reference ("those", "它", "the second one"), ellipsis ("那风险呢？"), topic_change, more ("tell
  me more"), example ("give an example") or uncovered (the playbook does not hold the answer);
* `standalone`: the gold standalone question, in the follow-up's own language;
* `key_terms`: what a rewrite must carry (the entity and the point), each a list of synonyms of which
  one must occur (case-insensitive; English ones may be word stems: "pric" covers "price" and "pricing");
* `gold_sections`: the playbook's section numbers ("5.2.3") that answer it, or `should_refuse: true`.

Each follow-up becomes one `FollowUp` whose history is every turn before it. Unlike multiturn.jsonl (one
follow-up per line, part of every full run), this set is measured on its own (`python -m evals
conversations`). A bad line fails loudly with its file and line number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.datasets import DATASET_DIR, LANGS, DatasetError, json_lines

CONVERSATIONS_PATH = DATASET_DIR / "conversations.jsonl"
KINDS = ("reference", "ellipsis", "topic_change", "more", "example", "uncovered")
MAX_TURNS = 4


@dataclass(frozen=True, slots=True)
class FollowUp:
    id: str  # "<conversation id>#<turn number>", turns counted from 1
    conversation: str
    lang: str
    previous_lang: str  # the language of the user turn before it
    kind: str
    question: str
    history: tuple[tuple[str, str], ...]  # (role, content), oldest first
    standalone: str
    key_terms: tuple[tuple[str, ...], ...]
    gold_sections: tuple[str, ...] = ()
    should_refuse: bool = False

    @property
    def pairing(self) -> str:
        """zh, en, zh-en (a Chinese turn followed up in English) or en-zh."""
        return self.lang if self.lang == self.previous_lang else f"{self.previous_lang}-{self.lang}"

    @property
    def history_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.history]


def _text(turn: dict, key: str, where: str) -> str:
    value = turn.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: field {key!r} must be a non-empty string")
    return value


def _lang(turn: dict, where: str) -> str:
    lang = turn.get("lang")
    if lang not in LANGS:
        raise DatasetError(f"{where}: lang must be one of {LANGS}, not {lang!r}")
    return lang


def _sections(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(g, str) and g for g in raw):
        raise DatasetError(f"{where}: gold_sections must be a non-empty list of section numbers like '5.3.2'")
    return tuple(raw)


def _key_terms(raw: Any, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: key_terms must be a non-empty list of synonym lists")
    terms = []
    for group in raw:
        if not (isinstance(group, list) and group and all(isinstance(t, str) and t.strip() for t in group)):
            raise DatasetError(f"{where}: each key term is a non-empty list of strings (its synonyms)")
        terms.append(tuple(group))
    return tuple(terms)


def _follow_up(conversation: str, number: int, turn: dict, turns: list[dict], where: str) -> FollowUp:
    kind = turn.get("kind")
    if kind not in KINDS:
        raise DatasetError(f"{where}: kind must be one of {KINDS}, not {kind!r}")
    refuse = turn.get("should_refuse", False) is True
    if refuse == ("gold_sections" in turn):
        raise DatasetError(f"{where}: a follow-up has either gold_sections or should_refuse: true")
    if (kind == "uncovered") != refuse:
        raise DatasetError(f"{where}: kind 'uncovered' and should_refuse go together")
    history: list[tuple[str, str]] = []
    for before in turns[: number - 1]:
        history += [("user", before["user"]), ("assistant", before["assistant"])]
    return FollowUp(
        id=f"{conversation}#{number}",
        conversation=conversation,
        lang=_lang(turn, where),
        previous_lang=turns[number - 2]["lang"],
        kind=kind,
        question=_text(turn, "user", where),
        history=tuple(history),
        standalone=_text(turn, "standalone", where),
        key_terms=_key_terms(turn.get("key_terms"), where),
        gold_sections=() if refuse else _sections(turn["gold_sections"], where),
        should_refuse=refuse,
    )


def parse_conversation(row: Any, where: str) -> list[FollowUp]:
    """One JSON line -> its follow-ups (every turn after the first)."""
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: each line must be a JSON object")
    conversation = _text(row, "id", where)
    turns = row.get("turns")
    if not isinstance(turns, list) or not 2 <= len(turns) <= MAX_TURNS:
        raise DatasetError(f"{where}: 'turns' must be a list of 2 to {MAX_TURNS} turns")
    for number, turn in enumerate(turns, start=1):
        at = f"{where} turn {number}"
        if not isinstance(turn, dict):
            raise DatasetError(f"{at}: a turn must be a JSON object")
        _lang(turn, at)
        _text(turn, "user", at)
        if number < len(turns):  # the next turn's history holds this answer
            _text(turn, "assistant", at)
    _sections(turns[0].get("gold_sections"), f"{where} turn 1")
    return [
        _follow_up(conversation, number, turns[number - 1], turns, f"{where} turn {number}")
        for number in range(2, len(turns) + 1)
    ]


def load_conversations(path: Path = CONVERSATIONS_PATH) -> list[FollowUp]:
    """Every follow-up of every conversation in the file, in file order."""
    follow_ups: list[FollowUp] = []
    seen: set[str] = set()
    for where, row in json_lines(path):
        found = parse_conversation(row, where)
        if found[0].conversation in seen:
            raise DatasetError(f"{where}: duplicate id {found[0].conversation!r}")
        seen.add(found[0].conversation)
        follow_ups += found
    return follow_ups
