"""The one conversion from what a channel sends as a conversation to the advisor's history.

Every channel goes through `advisor_history` (called by ChatService): `/api/ask` and `/api/ask/stream`
(`history`), `/v1/chat/completions` (`messages`, split by `split_conversation`) and the Gradio chat (its
message dicts). So a follow-up gets the same history, hence the same standalone question and the same
passages, whichever way it was asked. The rules, the same for every channel (docs/api.md):

- 'user' and 'assistant' turns are kept, in order. Their text is the content string, or the text parts
  of a content list (OpenAI's and Gradio's shape) joined; a part that is not text (an image, a file) is
  refused: the advisor reads text only.
- 'system' (and OpenAI's 'developer') turns are dropped unread: the advisor's grounding instructions are
  not replaceable by a caller, and a "system" turn planted in a history must not act as one.
- Another role, or none: refused (422), naming the message.
- Empty turns are dropped: they say nothing, and a refusal would break a client that keeps them.
- A turn longer than `max_message_chars` is refused (413), naming it: no answer or question of a real
  conversation comes near the limit, so such a turn is a mistake (a pasted document) or abuse.
- Any number of turns is accepted (OpenAI-style clients resend the whole conversation every time); the
  advisor itself reads only the most recent ones (FA_HISTORY_TURNS messages within FA_HISTORY_TOKENS).
- An assistant turn is first turned back from what the channel showed into the answer's own text
  (`shown_answer`): the chat shows linked markers and labels, an OpenAI stream may end with the checked
  text after a separator. The advisor then reads the answer it wrote, whatever showed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from webapp.security import QuestionRejected

Message = dict[str, str]
SPOKEN_ROLES = ("user", "assistant")
IGNORED_ROLES = ("system", "developer")
# settings.max_history_message_chars's default, for a service built without settings (tests, tools).
DEFAULT_MAX_MESSAGE_CHARS = 20_000


class HistoryRejected(QuestionRejected):
    """A conversation the server will not pass on; the message names the turn and says why."""


def message_text(content: Any, where: str = "message") -> str:
    """The text of a message's content: a string, None, or a list of parts (OpenAI's {"type": "text",
    "text": ...}, Gradio's parts and plain strings). A part that is not text is refused."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        kind = content.get("type", "text")
        if kind != "text":
            raise HistoryRejected(f"{where} is a part of type {kind!r}; only text is read. 只接受文字内容。")
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, list | tuple):
        return "".join(message_text(part, f"{where}[{i}]") for i, part in enumerate(content))
    raise HistoryRejected(f"{where} holds a {type(content).__name__}; only text is read. 只接受文字内容。")


def _field(message: Any, name: str) -> Any:
    return message.get(name) if isinstance(message, Mapping) else getattr(message, name, None)


def advisor_history(
    messages: Iterable[Any],
    *,
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
    shown_answer: Callable[[str], str] | None = None,
    where: str = "history",
) -> tuple[Message, ...]:
    """The advisor's history ({"role", "content"} dicts of user and assistant turns) from a channel's
    messages (mappings or objects with `role` and `content`), by the rules above. Raises HistoryRejected."""
    turns: list[Message] = []
    for i, message in enumerate(messages):
        name = f"{where}[{i}]"
        role = _field(message, "role")
        if role in IGNORED_ROLES:
            continue
        if role not in SPOKEN_ROLES:
            raise HistoryRejected(
                f"{name} has role {role!r}; a conversation has 'user' and 'assistant' turns "
                "('system' turns are ignored). 对话只接受 user 和 assistant 的消息。"
            )
        text = message_text(_field(message, "content"), f"{name}.content")
        if len(text) > max_message_chars:
            raise HistoryRejected(
                f"{name} is {len(text)} characters long; the limit for one turn is {max_message_chars}. "
                f"对话中的一条消息过长（{len(text)} 字符），上限为 {max_message_chars}。",
                too_long=True,
            )
        if role == "assistant" and shown_answer is not None:
            text = shown_answer(text)
        if text.strip():
            turns.append({"role": role, "content": text})
    return tuple(turns)


def split_conversation(messages: Sequence[Any], where: str = "messages") -> tuple[str, Sequence[Any]]:
    """An OpenAI conversation -> (the question: the last message, which must come from the user; the
    messages before it, for `advisor_history`). System messages after the question are ignored too."""
    spoken = [i for i, m in enumerate(messages) if _field(m, "role") not in IGNORED_ROLES]
    if not spoken or _field(messages[spoken[-1]], "role") != "user":
        raise HistoryRejected("The last message must be a user message. 最后一条消息必须来自用户。")
    last = spoken[-1]
    return message_text(_field(messages[last], "content"), f"{where}[{last}].content"), messages[:last]
