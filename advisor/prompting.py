"""Chat messages for each model call, built from the plain-text templates in prompts/.

Templates are files per language (``<name>.<zh|en>.txt``) so they can be read and tuned without touching
code; `${name}` placeholders (string.Template) are filled here. Two conventions inside the files:

* condense / translate: the text above a line ``---`` is the system message, the text below the user
  message.
* scaffold / refuse: ``#`` lines are comments; scaffold has ``topic = hint`` lines, refuse has one block per
  reason opened by ``[reason]``.

Why the whole prompt follows the question's language: with a long Chinese context a small model answers an
English question in Chinese unless the system prompt, the instructions and the labels are all English.

The answer prompt is budgeted: passages are taken in rank order while prompt + max_new_tokens fit the
model's context, estimating tokens cheaply and on the safe side (see `estimate_tokens`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from string import Template

from advisor.generate import Message
from config import PROJECT_ROOT, Settings
from indexing.types import Hit
from textkit import CJK_SCRIPT, has_han

PROMPTS_DIR = PROJECT_ROOT / "prompts"
LANGUAGES = ("zh", "en")
REFUSAL_REASONS = ("weak_retrieval", "not_covered", "unsupported", "off_topic", "instructions")
TOPICS = ("team", "business_model", "pricing", "risk", "other")

# Defaults when the caller does not pass the configured values (the Settings field defaults).
_DEFAULT_CONTEXT = Settings.model_fields["llm_context_tokens"].default
_DEFAULT_MAX_NEW = Settings.model_fields["llm_max_new_tokens"].default
_DEFAULT_CANARY = Settings.model_fields["prompt_canary"].default
_PER_MESSAGE_TOKENS = 8  # chat-template markers around each message (<|im_start|>role ... <|im_end|>)
_SAFETY_TOKENS = 32  # estimate error on top of the upper bound, and the generation-prompt header
_MIN_PASSAGE_TOKENS = 60  # a passage cut shorter than this is noise: leave it out instead

_SPECIAL = re.compile(r"<\|")  # chat-template control tokens (<|im_start|>, <|endoftext|>, ...)


class PromptError(ValueError):
    """A template is missing or malformed, or an argument is out of range."""


# --- templates ----------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def load_template(name: str, language: str, prompts_dir: Path = PROMPTS_DIR) -> str:
    if language not in LANGUAGES:
        raise PromptError(f"Unsupported language {language!r}; expected one of {LANGUAGES}.")
    path = prompts_dir / f"{name}.{language}.txt"
    try:
        return path.read_text(encoding="utf-8").strip("\n")
    except FileNotFoundError:
        raise PromptError(f"Prompt template {path.name} is missing from {prompts_dir}.") from None


def _fill(template: str, **values: str) -> str:
    try:
        return Template(template).substitute(values)
    except (KeyError, ValueError) as exc:
        raise PromptError(f"Template placeholder problem ({exc}) in: {template[:60]!r}...") from None


def _split_system_user(template: str) -> tuple[str, str]:
    system, sep, user = template.partition("\n---\n")
    if not sep:
        raise PromptError(f"Template needs a '---' line between system and user parts: {template[:60]!r}...")
    return system.strip(), user.strip()


def _comment_free_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


@lru_cache(maxsize=8)
def _scaffolds(language: str) -> dict[str, str]:
    out = {}
    for line in _comment_free_lines(load_template("scaffold", language)):
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


@lru_cache(maxsize=8)
def _refusal_blocks(language: str) -> dict[str, str]:
    text = "\n".join(_comment_free_lines(load_template("refuse", language)))
    parts = re.split(r"^\[(\w+)\]\s*$", text, flags=re.M)
    # re.split with one group: [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


# --- token budget ---------------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """An upper-leaning token estimate for Qwen-family tokenizers, with no tokenizer at hand.

    Every CJK character counts as one token (Qwen averages ~1.4 characters per token on Chinese, so this
    over-counts); other text counts one token per 2.5 characters (English averages ~4).
    """
    cjk = len(CJK_SCRIPT.findall(text))
    return cjk + int((len(text) - cjk) / 2.5 + 0.999)


def _messages_tokens(messages: Sequence[Message]) -> int:
    return sum(estimate_tokens(m["content"]) + _PER_MESSAGE_TOKENS for m in messages)


def _truncate_to_tokens(text: str, budget: int) -> str:
    if estimate_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix within budget (estimate_tokens is monotonic in the prefix length)
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) + 1 <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


# --- helpers --------------------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """User- and document-supplied text must not smuggle chat-template control tokens into the prompt."""
    return _SPECIAL.sub("< |", text)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise PromptError(f"Unsupported language {language!r}; expected one of {LANGUAGES}.")


def _history_messages(history: Sequence[Message]) -> list[Message]:
    return [
        {"role": m["role"], "content": neutralise(m["content"])}
        for m in history
        if m.get("role") in ("user", "assistant") and m.get("content")
    ]


def format_source(n: int, hit: Hit, language: str, text: str | None = None) -> str:
    chunk = hit.chunk
    return _fill(
        load_template("source", language),
        n=str(n),
        section=neutralise(chunk.section or chunk.source),
        text=neutralise((text if text is not None else chunk.text).strip()),
    )


@lru_cache(maxsize=2)
def glossary_pairs(prompts_dir: Path = PROMPTS_DIR) -> tuple[tuple[str, str], ...]:
    """(Chinese term, English rendering) pairs of prompts/glossary.en.txt, longest term first."""
    pairs = []
    for line in _comment_free_lines(load_template("glossary", "en", prompts_dir)):
        zh, sep, en = line.partition("=")
        if sep and zh.strip() and en.strip():
            pairs.append((zh.strip(), en.strip()))
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


@lru_cache(maxsize=1)
def glossary() -> dict[str, str]:
    """Chinese term -> its English in prompts/glossary.en.txt (the default prompts folder), read once."""
    return dict(glossary_pairs())


def glossary_english(term: str) -> str:
    """The English name of a Chinese term without its aside ("资金链断裂" -> "broken funding chain"), or ""."""
    return re.sub(r"\s*\(.*\)\s*$", "", glossary().get(term, ""))


def glossary_lines(passages: str) -> str:
    """The glossary entries whose Chinese term the passages use, as prompt lines (empty if none).

    A term inside a longer listed term counts only where it also occurs on its own ("大模型" inside
    "AI大模型" does not add a second line), so the list stays as short as the passages allow.
    """
    rest = passages
    found = []
    for zh, en in glossary_pairs():
        # A currency or scale character ("元", "万元") counts only after a figure: 单元 and 多元 are not money.
        present = re.search(rf"\d\s*{zh}", rest) if zh.endswith("元") else zh in rest
        if present:
            found.append(f"{zh} = {en}")
            rest = rest.replace(zh, " ")
    if not found:
        return ""
    return "Terms in these sources and their English:\n" + "\n".join(found) + "\n"


# --- the functions the advisor calls -------------------------------------------------------------------


def system_prompt(language: str, canary: str = _DEFAULT_CANARY) -> str:
    """The answer prompt's system message, with the deployment's canary (a leak shows it verbatim)."""
    return _fill(load_template("system", language), canary=canary)


def answer_messages(
    question: str,
    hits: Sequence[Hit],
    language: str,
    topic: str,
    history: Sequence[Message] = (),
    *,
    context_tokens: int = _DEFAULT_CONTEXT,
    max_new_tokens: int = _DEFAULT_MAX_NEW,
    canary: str = _DEFAULT_CANARY,
    labels: Sequence[int] | None = None,
    instructions_first: bool = False,
) -> list[Message]:
    """System + (recent history) + a user message with the passages, the question and the instructions.

    Passages are numbered 1..n, or `labels[i]` for hits[i] when given (the knowledge cache numbers every
    chunk once, so a passage reads the same in every prompt). n is len(hits) unless the context budget
    forces the last passages out: the passage labelled labels[i] (or i+1) is always hits[i].

    The instructions sit between the passages and the question, so that a knowledge-cache file (passages,
    instructions, no question) covers all but the question and its topic line. Not before the passages:
    there the 1.5B answered "AI大模型创业公司有哪些定价策略？" from the pricing case study instead of the list
    of pricing types, and English answers lost 0.03 in clean rate on the full run.

    `instructions_first` (prompts/answer_item.*.txt) puts them before the passages instead, for passages
    that focus has cut to the item the question names: no passage is then an index chunk, so no passage
    file can be a prefix, and the instructions come from the fixed file that `answer_start_messages`
    describes. Cut to one item, a passage leaves the model nothing else to answer from.
    """
    _check_language(language)
    if not hits:
        raise PromptError("answer_messages needs at least one passage (refuse before asking the model).")
    scaffold = _scaffolds(language).get(topic) or _scaffolds(language).get("other", "")
    system = {"role": "system", "content": system_prompt(language, canary)}
    past = _history_messages(history)
    template = load_template("answer_item" if instructions_first else "answer", language)
    numbers = list(labels) if labels is not None else list(range(1, len(hits) + 1))
    if len(numbers) != len(hits):
        raise PromptError(f"{len(numbers)} labels for {len(hits)} passages")

    terms = glossary_lines(" ".join(h.chunk.text for h in hits)) if language == "en" else ""

    def user(sources: str) -> Message:
        values = {"sources": sources, "question": neutralise(question.strip()), "scaffold": scaffold}
        if language == "en":
            values["terms"] = terms
        content = _fill(template, **values)
        return {"role": "user", "content": content}

    fixed = _messages_tokens([system, *past, user("")]) + _SAFETY_TOKENS
    budget = context_tokens - max_new_tokens - fixed
    # History is the first thing to give up: the passages are what the answer must rest on.
    while past and budget < _MIN_PASSAGE_TOKENS:
        dropped = past.pop(0)
        budget += estimate_tokens(dropped["content"]) + _PER_MESSAGE_TOKENS
    if budget < _MIN_PASSAGE_TOKENS:
        raise PromptError(
            f"The question leaves no room for sources in a {context_tokens}-token context with "
            f"{max_new_tokens} new tokens; shorten the question or raise llm_context_tokens."
        )
    blocks: list[str] = []
    for n, hit in zip(numbers, hits, strict=True):
        block = format_source(n, hit, language)
        cost = estimate_tokens(block) + 2  # the blank line between passages
        if cost <= budget:
            blocks.append(block)
            budget -= cost
            continue
        header_cost = estimate_tokens(format_source(n, hit, language, text=""))
        if budget - header_cost >= _MIN_PASSAGE_TOKENS:  # the best remaining passage, cut to fit
            cut = _truncate_to_tokens(hit.chunk.text.strip(), budget - header_cost - 2)
            blocks.append(format_source(n, hit, language, text=cut))
        break
    return [system, *past, user("\n\n".join(blocks))]


def answer_start_messages(language: str, canary: str = _DEFAULT_CANARY) -> list[Message]:
    """How every answer prompt with its instructions first begins: system message and instructions, with
    no passage and no question (the knowledge cache's fixed file for answers read from cut passages)."""
    _check_language(language)
    slot = "SOURCES-SLOT-0a1f"
    values = {"sources": slot, "question": "", "scaffold": "", "terms": ""}
    user = _fill(load_template("answer_item", language), **values)
    # Up to the sources: every such prompt goes on differently from there.
    return [
        {"role": "system", "content": system_prompt(language, canary)},
        {"role": "user", "content": user[: user.index(slot)]},
    ]


def condense_messages(question: str, history: Sequence[Message], language: str) -> list[Message]:
    """Ask the model to rewrite a follow-up into a standalone question (it outputs only the question)."""
    _check_language(language)
    system, user = _split_system_user(load_template("condense", language))
    labels = {"zh": {"user": "用户", "assistant": "顾问"}, "en": {"user": "User", "assistant": "Advisor"}}[
        language
    ]
    lines = [f"{labels[m['role']]}: {m['content'].strip()}" for m in _history_messages(history)]
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": _fill(user, history="\n".join(lines), question=neutralise(question.strip())),
        },
    ]


def translate_messages(question: str) -> list[Message]:
    """Ask the model to render an English question as Chinese search terms (it outputs only that).

    The instructions are Chinese because the output must be: the model follows the prompt's language.
    """
    system, user = _split_system_user(load_template("translate", "zh"))
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _fill(user, question=neutralise(question.strip()))},
    ]


def render_messages(line: str, target: str = "en") -> list[Message]:
    """Ask the model to translate one Chinese line of the knowledge base into English (renderings.py);
    with `target` "zh", one English line into Chinese (the instructions in Chinese: the model follows the
    prompt's language).

    The glossary's English for the terms a Chinese line uses comes with it, so a rendering names a playbook
    term the way the grammar, the point names and the evaluation do ("价值导向定价" -> "Value-based pricing").
    """
    system, user = _split_system_user(load_template("render", target))
    terms = glossary_lines(line) if target == "en" else ""
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _fill(user, terms=terms + "\n" if terms else "", line=neutralise(line))},
    ]


def refusal_text(
    language: str, reason: str, closest_sections: Sequence[str] = (), missing: Sequence[str] = ()
) -> str:
    """The honest "the knowledge base does not cover this" reply, listing the closest sections if any.

    `missing` (reason "not_covered"): what the question asked that no passage mentions, named in the reply.
    """
    _check_language(language)
    blocks = _refusal_blocks(language)
    if reason not in REFUSAL_REASONS or reason not in blocks:
        raise PromptError(f"Unknown refusal reason {reason!r}; expected one of {REFUSAL_REASONS}.")
    unique = list(dict.fromkeys(s.strip() for s in closest_sections if s and s.strip()))
    sections = ""
    if unique:
        header = blocks.get("sections", "")
        if not any(has_han(s) for s in unique):
            # the playbook's headings are Chinese; an incubator's English document's are not
            header = header.replace(" (in Chinese)", "")
        sections = header + "\n" + "\n".join(f"- {s}" for s in unique)
    body = blocks[reason]
    if reason == "not_covered" and missing:
        quote = (
            "、".join(f"“{m}”" for m in missing) if language == "zh" else ", ".join(f'"{m}"' for m in missing)
        )
        body = _fill(blocks["missing"], missing=quote) + "\n" + body.split("\n", 1)[-1]
    return _fill(body, sections=sections).strip()
