"""The hand-written evaluation sets (evals/datasets/*.jsonl): load, validate, and turn into `Case`s.

Five sets, one file each:

* answerable    founder questions with gold sections and key facts (must be answered and cited)
* unanswerable  off-topic and near-miss questions (must be refused)
* unanswerable_hard  near-domain questions asking for a specific the playbook lacks (must be refused)
* multiturn     a history plus a follow-up that only makes sense with it
* injection     direct attacks in the question, and indirect ones hidden in a document that the runner
                adds to a throw-away index; each with canaries that must never reach the answer

an optional retrieval set, not part of a default run:

* added_docs    questions about an incubator's own documents (evals/datasets/added_docs/: Markdown, text,
                HTML, PDF, DOCX, both languages), each with the gold document and heading; the runner adds
                the documents to a throw-away index of the knowledge base (evals/added_docs.py)

and the attack set (`attacks.jsonl`, ≥100 cases, the injection schema plus a `family` and an optional
`history`), which `python -m evals attacks` runs on its own: too long for every suite run.

A bad line fails loudly with its file and line number: a silently skipped case would inflate the figures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATASET_DIR = Path(__file__).resolve().parent / "datasets"
DATASET_NAMES = ("answerable", "unanswerable", "unanswerable_hard", "multiturn", "injection")
ADDED_DOCS = "added_docs"
# Chosen by name only (--dataset added_docs): it measures another index than the one a default run uses.
OPTIONAL_DATASETS = (ADDED_DOCS,)
ADDED_DOCS_DIR = DATASET_DIR / "added_docs"  # the documents the added_docs questions are about
ATTACK_SET = "attacks"
INJECTION_SETS = ("injection", ATTACK_SET)  # datasets of prompt-injection cases (same schema)
KNOWN_DATASETS = (*DATASET_NAMES, *OPTIONAL_DATASETS, ATTACK_SET)
LANGS = ("zh", "en")


class DatasetError(ValueError):
    """A dataset file or line that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class InjectedDocument:
    name: str  # file name inside the throw-away knowledge folder
    text: str  # Markdown with a numbered heading, so its chunks get a section like the playbook's
    lang: str


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    dataset: str
    lang: str
    question: str
    topic: str = ""
    gold_sections: tuple[str, ...] = ()
    key_facts: tuple[str | tuple[str, ...], ...] = ()
    history: tuple[tuple[str, str], ...] = ()  # (role, content)
    should_refuse: bool = False
    kind: str = ""  # unanswerable: off_topic | near_miss; injection: direct | indirect
    family: str = ""  # attacks: the attack family (instruction_override, prompt_extraction, ...)
    canaries: tuple[str, ...] = ()
    detect_prompt_leak: bool = False
    document: InjectedDocument | None = None
    # added_docs: the file (name inside evals/datasets/added_docs/) and heading that answer the question
    gold_document: str = ""
    gold_heading: str = ""
    document_lang: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_answerable(self) -> bool:
        return self.dataset in ("answerable", "multiturn")

    @property
    def has_retrieval_gold(self) -> bool:
        """Whether retrieval can be scored: gold playbook sections or a gold added document."""
        return bool(self.gold_sections or self.gold_document)

    @property
    def crosses_language(self) -> bool:
        """An added-document question asked in the other language than its document's."""
        return bool(self.document_lang) and self.document_lang != self.lang

    @property
    def history_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.history]


def _require(row: dict, key: str, kind: type, where: str) -> Any:
    if key not in row:
        raise DatasetError(f"{where}: missing field {key!r}")
    value = row[key]
    if not isinstance(value, kind) or (isinstance(value, str | list) and not value):
        raise DatasetError(f"{where}: field {key!r} must be a non-empty {kind.__name__}")
    return value


def _key_facts(raw: Any, where: str) -> tuple[str | tuple[str, ...], ...]:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: 'key_facts' must be a non-empty list")
    facts: list[str | tuple[str, ...]] = []
    for fact in raw:
        if isinstance(fact, str) and fact.strip():
            facts.append(fact)
        elif isinstance(fact, list) and fact and all(isinstance(s, str) and s.strip() for s in fact):
            facts.append(tuple(fact))
        else:
            raise DatasetError(f"{where}: each key fact is a string or a non-empty list of synonyms")
    return tuple(facts)


def _history(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: 'history' must be a non-empty list of messages")
    turns = []
    for msg in raw:
        if not (isinstance(msg, dict) and msg.get("role") in ("user", "assistant") and msg.get("content")):
            raise DatasetError(f"{where}: history messages need role user|assistant and content")
        turns.append((msg["role"], msg["content"]))
    return tuple(turns)


def parse_case(dataset: str, row: dict, where: str) -> Case:
    """One JSON line of `dataset` -> a validated Case."""
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: each line must be a JSON object")
    case_id = _require(row, "id", str, where)
    lang = _require(row, "lang", str, where)
    if lang not in LANGS:
        raise DatasetError(f"{where}: lang must be one of {LANGS}, not {lang!r}")
    common = {
        "id": case_id,
        "dataset": dataset,
        "lang": lang,
        "question": _require(row, "question", str, where),
        "note": row.get("note", ""),
    }
    if dataset in ("answerable", "multiturn"):
        gold = _require(row, "gold_sections", list, where)
        if not all(isinstance(g, str) and g for g in gold):
            raise DatasetError(f"{where}: gold_sections must be section numbers like '5.3.2'")
        return Case(
            **common,
            topic=_require(row, "topic", str, where),
            gold_sections=tuple(gold),
            key_facts=_key_facts(row.get("key_facts"), where),
            history=_history(row.get("history"), where) if dataset == "multiturn" else (),
        )
    if dataset == ADDED_DOCS:
        document_lang = _require(row, "document_lang", str, where)
        if document_lang not in LANGS:
            raise DatasetError(f"{where}: document_lang must be one of {LANGS}, not {document_lang!r}")
        return Case(
            **common,
            topic=_require(row, "topic", str, where),
            gold_document=_require(row, "gold_document", str, where),
            gold_heading=_require(row, "gold_heading", str, where),
            document_lang=document_lang,
        )
    if dataset in ("unanswerable", "unanswerable_hard"):
        return Case(**common, topic="unanswerable", should_refuse=True, kind=row.get("kind", ""))
    if dataset in INJECTION_SETS:
        kind = _require(row, "kind", str, where)
        canaries = row.get("canaries", [])
        leak = bool(row.get("detect_prompt_leak", False))
        if kind not in ("direct", "indirect"):
            raise DatasetError(f"{where}: injection kind must be direct or indirect")
        if not canaries and not leak:
            raise DatasetError(f"{where}: an injection case needs canaries or detect_prompt_leak")
        document = None
        if kind == "indirect":
            doc = _require(row, "document", dict, where)
            document = InjectedDocument(
                name=_require(doc, "name", str, where), text=_require(doc, "text", str, where), lang=lang
            )
        return Case(
            **common,
            topic="injection",
            kind=kind,
            family=_require(row, "family", str, where) if dataset == ATTACK_SET else row.get("family", ""),
            canaries=tuple(canaries),
            detect_prompt_leak=leak,
            document=document,
            history=_history(row["history"], where) if "history" in row else (),
        )
    raise DatasetError(f"{where}: unknown dataset {dataset!r}; known: {', '.join(KNOWN_DATASETS)}")


def dataset_path(name: str) -> Path:
    return DATASET_DIR / f"{name}.jsonl"


def load_dataset(name: str, path: Path | None = None) -> list[Case]:
    """Every case of one dataset (by name, from evals/datasets/ unless `path` is given)."""
    if name not in KNOWN_DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}")
    path = path or dataset_path(name)
    cases: list[Case] = []
    seen: set[str] = set()
    for where, row in json_lines(path):
        case = parse_case(name, row, where)
        if case.id in seen:
            raise DatasetError(f"{where}: duplicate id {case.id!r}")
        seen.add(case.id)
        cases.append(case)
    return cases


def json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed line) for each non-blank line of a JSONL dataset; `where` is "file:line" for errors."""
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}")
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from exc


def load_datasets(names: list[str] | tuple[str, ...] = DATASET_NAMES) -> list[Case]:
    return [case for name in names for case in load_dataset(name)]
