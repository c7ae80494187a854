"""Answer -> what the chat shows: Markdown with clickable `[n]`, the sources panel, the model line.

Pure functions over the advisor's plain types, so they are tested without a browser.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

_MARKER = re.compile(r"\[(\d{1,3})\](?!\()")  # [n] not already followed by a link target
_LINKED_MARKER = re.compile(r"\[\[(\d{1,3})\]\]\(#src-\d{1,3}\)")

REFUSAL_LABEL = {
    "zh": "知识库未涵盖这个问题",
    "en": "Not covered by the knowledge base",
}
REASON_LABEL = {
    "weak_retrieval": {"zh": "没有找到足够相关的章节", "en": "no section matches closely enough"},
    "not_covered": {"zh": "资料中没有问题所问的内容", "en": "the sources do not contain what was asked"},
    "unsupported": {"zh": "回答无法被引用的章节证实", "en": "the draft answer was not backed by its sources"},
    "off_topic": {"zh": "问题不属于创业顾问的范围", "en": "the question is outside the founder playbook"},
    "instructions": {"zh": "不透露系统指令", "en": "system instructions are not shared"},
}
PANEL_TEXT = {
    "zh": {
        "title": "来源",
        "closest": "最接近的章节",
        "original": "原文",
        "none": "提问后，引用的章节会显示在这里。",
        "reading": "正在阅读 {n} 段资料…",
        "passage": "资料",
    },
    "en": {
        "title": "Sources",
        "closest": "Closest sections",
        "original": "Original (中文)",
        "none": "Ask a question: the sections behind the answer appear here.",
        "reading": "Reading {n} passages…",
        "reading_one": "Reading 1 passage…",
        "passage": "Passage",
    },
}


def link_citations(text: str, valid: set[int] | None = None) -> str:
    """Turn `[n]` into a Markdown link to its card in the sources panel (only for known n when given)."""

    def repl(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if valid is not None and n not in valid:
            return m.group(0)
        return f"[[{n}]](#src-{n})"

    return _MARKER.sub(repl, text)


def unlink_citations(text: str) -> str:
    """The inverse of link_citations: history sent back to the advisor carries plain `[n]` markers."""
    return _LINKED_MARKER.sub(r"[\1]", text)


_EMPHASIS = re.compile(r"\*\*|__|`")
_LIST_ITEM = re.compile(r"(?:^|\s)[-*]\s+(?=\S)")
_HEADING = re.compile(r"^#+\s*", re.MULTILINE)


def clean_quote(text: str) -> str:
    """A source quote for reading: Markdown emphasis dropped, list items on their own lines."""
    text = _HEADING.sub("", _EMPHASIS.sub("", text))
    return _LIST_ITEM.sub("\n• ", text).strip()


def _lang(language: str) -> str:
    return "zh" if language == "zh" else "en"


def answer_markdown(answer: Any) -> str:
    """The final, checked answer as chat Markdown; a refusal is labelled as one."""
    lang = _lang(answer.language)
    if answer.refused:
        reason = REASON_LABEL.get(answer.refusal_reason, {}).get(lang, "")
        label = REFUSAL_LABEL[lang] + (f" — {reason}" if reason else "")
        return f"**{label}**\n\n{answer.text}"
    shown = link_citations(answer.text, {c.n for c in answer.citations})
    return shown + removed_details(answer)


_REFUSAL_HEAD = re.compile(
    r"^\*\*(?:" + "|".join(re.escape(label) for label in REFUSAL_LABEL.values()) + r")(?: — [^*\n]*)?\*\*\n\n"
)
_REMOVED_TAIL = re.compile(r"\n\n<details><summary>[^<]*</summary><ul>.*</ul></details>$", re.DOTALL)


def answer_text(shown: str) -> str:
    """The inverse of answer_markdown (and of the reading line): what the advisor wrote, from what the chat
    shows. The chat's history goes back to the advisor as answer text, as every other channel's does: the
    refusal label, the removed sentences (unsupported by the sources) and the links are the chat's own."""
    if _READING_LINE.fullmatch(shown.strip()):
        return ""  # stopped before the first word: there is no answer
    return unlink_citations(_REMOVED_TAIL.sub("", _REFUSAL_HEAD.sub("", shown)))


REMOVED_TEXT = {
    "zh": "已核对：{n} 句没有被资料证实，已删除",
    "en": "Checked: {n} sentence(s) not backed by the sources were removed",
}


def removed_details(answer: Any) -> str:
    """A collapsed detail listing what the grounding gate removed (empty when nothing was)."""
    removed = tuple(getattr(answer, "removed", ()) or ())
    if not removed:
        return ""
    summary = REMOVED_TEXT[_lang(answer.language)].format(n=len(removed))
    items = "".join(f"<li>{html.escape(s)}</li>" for s in removed)
    return f"\n\n<details><summary>{html.escape(summary)}</summary><ul>{items}</ul></details>"


def sources_html(answer: Any | None) -> str:
    """The sources panel: one card per citation (section path, source, the original quote)."""
    if answer is None:
        return (
            '<div class="fa-sources"><div class="fa-sources-title">Sources · 来源</div>'
            f'<div class="fa-empty">{html.escape(PANEL_TEXT["en"]["none"])}<br>'
            f"{html.escape(PANEL_TEXT['zh']['none'])}</div></div>"
        )
    text = PANEL_TEXT[_lang(answer.language)]
    cards = []
    for c in answer.citations:
        cards.append(
            f'<details class="fa-source" id="src-{c.n}" data-n="{c.n}" open>'
            f'<summary><span class="fa-n">[{c.n}]</span> {html.escape(c.section)}</summary>'
            f'<div class="fa-origin">{html.escape(c.source)} · {html.escape(text["original"])}</div>'
            f'<blockquote lang="zh">{html.escape(clean_quote(c.quote))}</blockquote>'
            "</details>"
        )
    if not cards and answer.hits:
        # A refusal still points to where the user might look.
        items = "".join(
            f"<li>{html.escape(h.chunk.section)} <small>({html.escape(h.chunk.source)})</small></li>"
            for h in answer.hits[:5]
        )
        cards.append(f'<div class="fa-closest"><b>{html.escape(text["closest"])}</b><ul>{items}</ul></div>')
    if not cards:
        cards.append(f'<div class="fa-empty">{html.escape(text["none"])}</div>')
    return (
        f'<div class="fa-sources"><div class="fa-sources-title">{html.escape(text["title"])}</div>'
        + "".join(cards)
        + f'<div class="fa-timings">{html.escape(timings_line(answer))}</div></div>'
    )


def reading_line(count: int, language: str) -> str:
    """The progress line shown in the chat bubble while the model reads the passages (before its first
    token): "正在阅读 3 段资料…" / "Reading 3 passages…"."""
    text = PANEL_TEXT[_lang(language)]
    if count == 1 and "reading_one" in text:
        return text["reading_one"]
    return text["reading"].format(n=count)


_READING_LINE = re.compile(
    r"\*(?:"
    + "|".join(
        re.escape(line).replace(re.escape("{n}"), r"\d+")
        for text in PANEL_TEXT.values()
        for key, line in text.items()
        if key.startswith("reading")
    )
    + r")\*"
)


def reading_markdown(count: int, language: str) -> str:
    """The chat bubble while the passages are read: the progress line, set apart from answer text."""
    return f"*{reading_line(count, language)}*"


def reading_sources_html(hits: Sequence[Any], language: str) -> str:
    """The sources panel while the model reads: one card per passage it reads, numbered as its `[n]`
    markers will be (so a marker streamed later already opens its card). The final panel, with the quotes
    that support the checked answer, replaces it when the answer is done."""
    text = PANEL_TEXT[_lang(language)]
    cards = [
        f'<details class="fa-source" id="src-{n}" data-n="{n}" open>'
        f'<summary><span class="fa-n">[{n}]</span> {html.escape(h.chunk.section)}</summary>'
        f'<div class="fa-origin">{html.escape(h.chunk.source)} · {html.escape(text["passage"])}</div>'
        f'<blockquote lang="{html.escape(h.chunk.lang or "zh")}">{html.escape(clean_quote(h.chunk.text))}</blockquote>'
        "</details>"
        for n, h in enumerate(hits, start=1)
    ]
    return (
        f'<div class="fa-sources fa-reading"><div class="fa-sources-title">{html.escape(text["title"])}</div>'
        + "".join(cards)
        + "</div>"
    )


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def timings_line(answer: Any) -> str:
    t = answer.timings
    parts = [f"retrieval {_duration(t.retrieve_ms)}"]
    if t.new_tokens:
        parts += [
            f"first token {_duration(t.first_token_ms)}",
            f"{t.new_tokens} tokens at {t.tokens_per_s:.1f}/s",
        ]
    parts.append(f"total {_duration(t.total_ms)}")
    if answer.grounding.checker:
        parts.append(f"{answer.grounding.supported_fraction:.0%} of sentences supported")
    return " · ".join(parts)


def model_line(description: Mapping[str, Any]) -> str:
    """'Answered by <model> (<quantisation>) on <device> · index: N passages' from adv.describe()."""
    model = description.get("model") or description.get("model_id") or "?"
    quant = description.get("quantization") or description.get("quantisation") or description.get("dtype")
    quant = None if str(quant).lower() in ("none", "") else quant
    device = description.get("device") or "?"
    line = f"Answered by {model}" + (f" ({quant})" if quant else "") + f" on {device}"
    index = description.get("index")
    chunks = index.get("chunks") if isinstance(index, Mapping) else description.get("chunks")
    if chunks is not None:
        line += f" · index: {chunks} passages"
    embedder = description.get("embedder")
    if embedder:
        line += f" · embeddings: {embedder}"
    return line
