"""Multi-turn: rewrite a follow-up ("and for pricing?", "那风险呢？") into a standalone question.

Retrieval only sees one question, so a follow-up must carry its context: the recent history (bounded by
settings.history_turns messages and settings.history_tokens) and the follow-up go to the LLM with the
condense prompt, and the rewrite is what gets searched. With no history there is nothing to resolve and
no model call is made. References the last exchange resolves by rule ("第二种", "it" for the company just
asked about: references.py) are resolved first; a follow-up left with no other reference needs no model.
A follow-up's retrieval also reads its last exchange (follow_up_context) to stay in that part of the
knowledge base.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence

from advisor.continuations import continuation_ask, continued_question
from advisor.generate import Generator, Message
from advisor.lexical import tokenize
from advisor.references import resolve_references
from config import Settings
from textkit import count_han, detect_language, has_han

log = logging.getLogger(__name__)

# Enough for one rewritten question; a longer reply means the model started answering instead.
CONDENSE_MAX_NEW_TOKENS = 64
_LABEL = re.compile(
    r"^\s*(standalone question|rewritten question|question|chinese|translation|独立问题|改写后的问题|改写|问题"
    r"|中文译文|中文检索词|译文|翻译)\s*[:：]\s*",
    re.IGNORECASE,
)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate for budgeting: ~1 token per Han character, ~4 characters per other token.

    Qwen's and e5's tokenizers both land close to this for Chinese and English prose, and it needs no
    model, so the budget is the same whichever backend is configured.
    """
    han = count_han(text)
    return han + (len(text) - han + 3) // 4


def recent_history(history: Sequence[Message], settings: Settings) -> list[Message]:
    """The last settings.history_turns user/assistant messages that fit in settings.history_tokens."""
    turns = [
        {"role": m["role"], "content": str(m.get("content") or "")}
        for m in history
        if isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and str(m.get("content") or "").strip()
    ]
    if settings.history_turns == 0:
        return []
    turns = turns[-settings.history_turns :]
    kept: list[Message] = []
    budget = settings.history_tokens
    for message in reversed(turns):  # newest first: the last exchange matters most for a follow-up
        cost = estimate_tokens(message["content"])
        if cost > budget:
            if not kept and budget > 0:  # even the newest message is too long: keep its beginning
                kept.append({**message, "content": _truncate_to_tokens(message["content"], budget)})
            break
        kept.append(message)
        budget -= cost
    return list(reversed(kept))


def _truncate_to_tokens(text: str, budget: int) -> str:
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within budget
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def clean_rewrite(reply: str) -> str:
    """The first non-empty line of the model's reply, without labels or surrounding quotes."""
    for line in reply.strip().splitlines():
        line = _LABEL.sub("", line).strip().strip("\"'“”「」`").strip()
        if line:
            return line
    return ""


def condense_question(
    question: str,
    history: Sequence[Message],
    language: str,
    generator: Generator,
    settings: Settings,
    stop_event: threading.Event | None = None,
    before: Callable[[], object] | None = None,
) -> str:
    """The standalone form of `question`; `question` itself when there is no usable history.

    `before` runs right before the model is called (the knowledge cache restores the prompt's KV file)."""
    from advisor.prompting import condense_messages  # the prompt templates' owner

    recent = recent_history(history, settings)
    if not recent or not looks_like_follow_up(question):
        return question
    continued = _continued(question, recent, language, generator, settings, stop_event, before)
    if continued is not None:
        return continued
    # What the conversation resolves by rule ("第二种" -> the second item of the last answer, "it" -> the
    # company asked about) needs no model, unless the resolved words are in the other language.
    resolved = resolve_references(question, recent)
    if resolved != question and not _mixes_languages(resolved, language):
        return resolved
    messages = condense_messages(resolved, recent, language)
    if before is not None:
        before()
    reply = "".join(generator.stream(messages, CONDENSE_MAX_NEW_TOKENS, 0.0, stop_event))
    rewrite = _LEFTOVER_REFERENCE.sub("", clean_rewrite(reply))
    # An empty reply, or one far longer than a question, means the model did not rewrite: search as asked.
    if not rewrite or len(rewrite) > 4 * len(resolved) + 200:
        return resolved
    # A small model sometimes just repeats the previous question ("那风险呢？" -> the pricing question
    # again): a rewrite that dropped the follow-up's own words lost its point, and the follow-up alone
    # retrieves better than that.
    previous = next((m["content"] for m in reversed(recent) if m["role"] == "user"), "")
    if not keeps_the_point(resolved, rewrite, previous) or not keeps_the_new_subject(resolved, rewrite):
        log.info("condensed question %r dropped the follow-up %r; searching the follow-up", rewrite, resolved)
        return resolved
    return rewrite


def _continued(
    question: str,
    recent: list[Message],
    language: str,
    generator: Generator,
    settings: Settings,
    stop_event: threading.Event | None,
    before: Callable[[], object] | None,
) -> str | None:
    """A follow-up that asks only for more or for an example of the last exchange ("再具体说说。"), as the
    previous question with that ask (continuations.py); None for any other follow-up, or when the previous
    question is in another language (the model translates it then)."""
    ask = continuation_ask(question)
    last = max((i for i, m in enumerate(recent) if m["role"] == "user"), default=None)
    if ask is None or last is None or detect_language(recent[last]["content"]) != language:
        return None
    previous, earlier = recent[last]["content"], recent[:last]
    # The previous question may itself lean on the one before ("那怎么激励他们？"): make it standalone first.
    subject = condense_question(previous, earlier, language, generator, settings, stop_event, before)
    return continued_question(subject, ask, language)


# An ellipsis names its new subject and nothing else: "那团队文化呢？", "What about team culture?".
_ZH_ELLIPSIS = re.compile(r"^(?:那么?|还有|另外)?\s*(.{1,12}?)\s*呢\s*[？?]?\s*$")
_EN_ELLIPSIS = re.compile(r"^(?:and|what about|how about)\s+(?:the\s+)?(.+?)\s*[?.]?\s*$", re.IGNORECASE)


def keeps_the_new_subject(follow_up: str, rewrite: str) -> bool:
    """False when the follow-up is an ellipsis and the rewrite lost the subject it names: measured, the
    1.5B model turned "那团队文化呢？" after a question on team building into that question again ("如何
    建立一个强大的创业团队？"), which keeps_the_point lets through because it shares "团队"."""
    found = _ZH_ELLIPSIS.match(follow_up.strip()) or _EN_ELLIPSIS.match(follow_up.strip())
    if not found:
        return True
    target = rewrite.lower()
    return all(_stem4(word) in target for word in tokenize(found.group(1)))


# A reference the model left in its rewrite ("Which of those profit models …"): it names nothing without the
# conversation, and it changed the Chinese rendering enough to rank 5.2.1 above 5.2.3 for issue 15's
# "Which of those suits a company with a strong developer community?".
_LEFTOVER_REFERENCE = re.compile(r"\s+of (?:those|these|them)\b(?=\s+\w)", re.IGNORECASE)
_MARKER = re.compile(r"\[\d+\]|\*\*")


def follow_up_context(question: str, history: Sequence[Message], settings: Settings) -> list[str]:
    """What retrieval may also search for a follow-up: the last exchange (the previous question and the
    answer without its [n] markers), whose sections are the follow-up's likeliest sources. Nothing for a
    question that stands alone: a change of topic must not drag the old sections along."""
    recent = recent_history(history, settings)
    if not recent or not looks_like_follow_up(question):
        return []
    last_user = next((m["content"] for m in reversed(recent) if m["role"] == "user"), "")
    last_answer = next((m["content"] for m in reversed(recent) if m["role"] == "assistant"), "")
    return [text for text in (last_user, _MARKER.sub("", last_answer).strip()) if text.strip()]


def own_words_of(question: str, standalone: str, context: Sequence[str]) -> str:
    """What retrieval searches beside a rewritten follow-up as the founder's own words: the follow-up as
    written, or for a follow-up that only asks for more ("再具体说说。") the last answer (the end of
    `context`); nothing for a question that was not rewritten."""
    if standalone.strip() == question.strip():
        return ""
    if context and continuation_ask(question) == "more":
        # "再具体说说。" has no words of its own to search: what it asks more of is the last answer, whose
        # passage is the one to read again (the rewrite "如何激励创业团队？" ranked 9.1.2's one line on
        # incentives above 4.1.3, the answer's source, and the "more" got less: conv-zh-team-incentives).
        # Not for an example: that is often in a sibling (5.3.3's case after 5.3.2's list), which the
        # answer's words would rank below the list again.
        return context[-1]
    return question


def _mixes_languages(question: str, language: str) -> bool:
    """An English question holding Chinese words, or a Chinese one holding an English phrase (a name such
    as "GTP.ai" is not one): the model translates what was put in."""
    if language == "en":
        return has_han(question)
    return bool(re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", question))


_ZH_FOLLOW_UP = re.compile(
    r"^(那|那么|还有|另外|然后|再|而|也|以及|如果是)|[呢吗]\s*[？?]?$|它|他们|她们|这个|那个|这些|那些|上述|刚才|前面|以上|这样|这种"
    r"|其中|从中"  # "of those" / "from it": the previous answer (之后 "after" is not: it rewrote into nonsense)
    # An item of the last answer, or more of it: "第二种", "举个例子", "具体说说" (left unrewritten before,
    # they found nothing in the conversation set).
    r"|第[一二三四五六七1-4][种个条点项类步]|最后一|例子|举例|案例|具体|详细|展开|说说"
)
_EN_FOLLOW_UP = re.compile(
    r"^(and|what about|how about|also|then|so|but|or|same|why|how come)\b"
    r"|\b(it|its|they|them|their|that|those|these|this|there|such|same|former|latter|above|previous|one|ones)\b"
    r"|\b(example|examples|instance|more|detail|details|elaborate|explain|after|next|first|second|third|last)\b",
    re.IGNORECASE,
)
SHORT_QUESTION_WORDS = 3


def looks_like_follow_up(question: str) -> bool:
    """True when the question leans on the conversation: an opener like "那"/"and", an anaphor
    ("它", "those"), or too few words to stand alone ("why?", "为什么？").

    Any other question is searched as asked, without a rewrite: a small model rewriting a standalone
    question adds latency and can only damage it (measured: it turned "GTP.ai" into "GPT.ai").
    """
    text = question.strip()
    if detect_language(text) == "zh":
        return bool(_ZH_FOLLOW_UP.search(text)) or len(tokenize(text)) < 2
    return bool(_EN_FOLLOW_UP.search(text)) or len(text.split()) <= SHORT_QUESTION_WORDS


def keeps_the_point(follow_up: str, rewrite: str, previous: str = "") -> bool:
    """False when the rewrite lost the follow-up's point: it keeps fewer than half of the follow-up's
    content words and is mostly the previous question again ("那风险呢？" -> the pricing question).

    English words are compared on their first 4 letters ("risks" ~ "risk", "pricing" ~ "price"), so
    inflection does not count as a loss. A follow-up with no content words ("为什么？") passes, and so does
    a rewrite in other words that is not the previous question ("What lessons should founders take from
    it?" -> "What can founders learn from the failure of GTP.ai?": measured on the 13 multi-turn cases,
    the words-only rule threw away 3 good rewrites of this kind and the follow-up alone was refused).
    """
    words = tokenize(follow_up)
    if not words:
        return True
    target = rewrite.lower()
    kept = sum((w[:4] if w.isascii() else w) in target for w in words)
    if kept * 2 >= len(words):
        return True
    said_before = {_stem4(w) for w in tokenize(previous)}
    new = {_stem4(w) for w in tokenize(rewrite)}
    return not new or len(new & said_before) / len(new) < REPEAT_SHARE


# A rewrite whose words are this much the previous question's is that question again.
REPEAT_SHARE = 0.6


def _stem4(word: str) -> str:
    return word[:4] if word.isascii() else word
