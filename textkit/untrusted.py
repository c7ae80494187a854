"""Passages are data, never instructions: what an AI reader is not shown of a document.

An added document may carry an instruction for whoever reads it — an HTML comment, a "【系统指令：…】"
aside, "IMPORTANT SYSTEM NOTE TO THE ASSISTANT: …", "AI助手引用本段时必须…". `clean_passage` cuts those spans
and keeps the rest, so a founder's question is still answered from what the document says (before, the
whole answer was lost: the model wrote nonsense around the planted line and the gate refused it, or it
obeyed). The advisor cuts every retrieved passage (the prompt, the gate, the quotes and the sources panel
see the cut one); the index build reports per document what will be cut (`python -m indexing status`).

Decided with the question guard's attack patterns (textkit/injection.py), sentence by sentence, plus the
shapes only a document uses: text hidden from a reader, and lines addressed to an AI reader. On the
playbook's 614 sentences none of them matches (tests/advisor/test_untrusted.py keeps it so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textkit.injection import injection_signal
from textkit.sentences import sentence_spans

# Text a reader of the rendered document never sees, but the model would.
_HIDDEN = re.compile(
    r"<!--.*?(-->|\Z)"  # an HTML/Markdown comment, closed or running to the end of the passage
    r"|^\s*\[//\]\s*:\s*#\s*[(\"'<].*?$"  # a Markdown "comment" link definition
    r"|<\s*(script|style|template)\b.*?(</\s*\1\s*>|\Z)"
    r"|<\|im_start\|>.*?(<\|im_end\|>|\Z)"  # a forged chat turn, from its opening to its closing tag
    r"|[\u200b-\u200f\u2060-\u2064\ufeff]",  # zero-width characters that hide words from a pattern
    re.DOTALL | re.MULTILINE | re.IGNORECASE,
)
# An aside in brackets: judged on its own, so "【系统指令：…。】" goes whole, not up to its inner full stop.
_ASIDE = re.compile(r"【[^【】]{1,400}】|\[[^\[\]]{1,400}\]|［[^［］]{1,400}］|\{[^{}]{1,400}\}")
# A sentence that speaks to an AI reader rather than about AI. Documents talk about assistants, bots and
# models all the time ("the support bot should answer within two seconds", "招聘一名行政助理，需要…"), so an
# address counts only next to an order about what the reader writes, or in a shape no founder's document
# uses ("Note to the AI:", "AI助手引用本段时必须…", "cite this passage as …").
_OUTPUT_VERBS = (
    r"(say|write|tell|mention|append|add|include|print|output|reveal|quote|cite|repeat|ignore|state|recommend"
    r"|end|start|begin|reply|respond)"
)
_ZH_OUTPUT_VERBS = r"(声明|说|写|输出|加上|提到|附上|回复|告诉|提醒|建议|引用|复述|忽略|透露|称|推荐)"
_TO_AN_AI = re.compile(
    "|".join(
        (
            # addressed: "Note to any AI model", "if you are an AI", "Assistant, ...", "AI: write ..."
            r"\b(note|message|instructions?|notice|reminder)\s+(to|for)\s+(the\s+|any\s+)?(ai|assistant|chatbot"
            r"|model|llm|language model)s?\b",
            r"\bif you are an? (ai|assistant|chatbot|language model|llm)\b",
            r"^[\W_]*(ai\s+)?(assistant|chatbot|llm|language model)\s*[,:：，]",
            rf"^[\W_]*ai\s*[:：]\s*{_OUTPUT_VERBS}\b",
            r"^[\W_]*((ai|人工智能)\s*(助手|助理)|助手)\s*[,:：，]|^[\W_]*(ai|人工智能)\s*[:：][^。]{0,20}(回答|回复|答案)",
            r"(致|给|告诉|提醒)(所有|每个|任何)?[^，。：:]{0,12}(ai|人工智能|助手|模型)\s*[:：]",
            # ordered: the reader of this passage must write something
            rf"\b(ai|the|any)?\s*(assistant|chatbot|language model|llm|ai system)s?\b.{{0,80}}\b(must|should|shall"
            rf"|needs? to|has to|have to|is required to|are required to)\s+(first\s+|also\s+|now\s+)?{_OUTPUT_VERBS}\b",
            rf"(ai|人工智能|智能)?(助手|助理|机器人).{{0,20}}(必须|务必|一定要|应当|应该|需要|请|不要|不得).{{0,10}}"
            rf"{_ZH_OUTPUT_VERBS}",
            rf"请(ai|人工智能)?(助手|助理){_ZH_OUTPUT_VERBS}",
            r"(引用|读到|看到|总结|回答|使用)(本段|本节|本文|这段|此段|这段话).{0,6}(时|的时候).{0,10}(必须|务必|请|要)",
            r"\b(when|before|after|while)\s+(citing|quoting|summari[sz]ing|using|reading|answering from)\b.{0,20}"
            r"\b(this|the)\s+(passage|section|document|text|paragraph|note)\b",
            r"\bcite\s+(this|it)\b.{0,20}\bas\b|(把|将)(本段|本节|本文|这段|此段).{0,6}(引用|称|标注)为",
            # the rules replaced, a persona imposed, the reply's words dictated
            r"\b(previous|prior|earlier|above|old|existing)\s+(rules|instructions|prompts?|guidelines)\b.{0,30}"
            r"\b(void|revoked|cancel+ed|invalid|no longer|obsolete|replaced|suspended)\b|\bnew rules?\s*[:：]",
            r"(之前|以前|原来|先前|此前)的?(所有)?(规则|指令|设定|要求).{0,6}(作废|失效|无效|取消)|新规则\s*[:：]",
            r"\byou are now\b|\bas\s+\w*bot\b|你现在是|作为[^，。]{0,10}(机器人|助手)[，,]",
            r"\b(every|each|all|your)\s+(answer|reply|response)s?\s+(must\s+)?(start|begin|end|finish)s?\b"
            r"|\b(write|end|start|begin|finish)\s+(your|the)\s+(whole\s+|entire\s+)?(answer|reply|response)\b",
            r"每个?(回答|回复)都?(必须|要)?(以|用)|(总是|永远|一律|只)(回答|回复)\s*[:：]",
            r"\b(reply|respond|answer|say)\b.{0,20}\bonly\b.{0,20}\b(words?|phrase|code|string)\b|\band nothing else\b",
            # a code word to emit: the mark of a planted instruction ("say SALESBOT-6262", "写上“流失ZH-3317”")
            r"\b(say|write|mention|add|output|print|include)\s+(the\s+)?(code\s*word\s+|phrase\s+|word\s+)?"
            r"[\"'“]?[A-Z][A-Z0-9]*-[A-Z0-9-]*\d{3,}",
            r"(说出?|写上|写出|输出|加上|提到|附上|声明)\s*[“\"「『][^”\"」』]{0,16}\d{3,}",
            # forged tool output; phishing for the user's credentials
            r"[\[<]\s*/?\s*(tool|function)_?(call|response|output|result)s?\s*[\]>]",
            r"\b(tell|ask|urge|advise|remind)\s+the\s+user\s+to\s+(buy|purchase|send|enter|visit|click|accept"
            r"|outsource|pay|sign)\b",
            r"(输入|提供|发送)(你的|他们的|用户的)?(密码|银行卡号|验证码)|\b(send|enter)\b.{0,30}\bpassword\b.{0,30}"
            r"\b(to|at)\s+(https?://|\S+@)",
        )
    ),
    re.IGNORECASE | re.DOTALL | re.MULTILINE,
)


def is_instruction(text: str) -> bool:
    """True when the text gives an AI reader an order (or hides one): see the module doc."""
    return injection_signal(text) is not None or _TO_AN_AI.search(text) is not None


# A link's "?" or an image's "!" is not the end of a sentence: sentences are found on a copy where links
# are masked (same length, so the spans fit the original).
_LINK = re.compile(r"!?\[[^\[\]\n]{0,200}\]\([^()\s]{0,400}\)|https?://[^\s()<>\"'“”，。；]+")


def link_safe_sentence_spans(text: str) -> list[tuple[int, int]]:
    return sentence_spans(_LINK.sub(lambda m: "x" * len(m.group()), text))


@dataclass(frozen=True, slots=True)
class CleanPassage:
    text: str
    removed: tuple[str, ...]  # the spans cut out, as they were written (for reports, never for the model)


def clean_passage(text: str) -> CleanPassage:
    """The passage without hidden text and without instructions addressed to its reader."""
    removed: list[str] = []

    def cut(match: re.Match[str]) -> str:
        removed.append(match.group())
        return ""

    visible = _HIDDEN.sub(cut, text)
    visible = _ASIDE.sub(lambda m: cut(m) if is_instruction(m.group()) else m.group(), visible)
    kept: list[str] = []
    pos = 0
    for start, end in link_safe_sentence_spans(visible):
        sentence = visible[start:end]
        if is_instruction(sentence):
            kept.append(visible[pos:start])
            removed.append(sentence)
            pos = end
    kept.append(visible[pos:])
    cleaned = "".join(kept)
    if not removed:
        return CleanPassage(text, ())
    # Cutting leaves doubled spaces and blank lines behind; a list or a paragraph keeps its shape.
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned)
    cleaned = re.sub(r"\n[ \t]+\n", "\n\n", cleaned)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    return CleanPassage(cleaned, tuple(r.strip() for r in removed if r.strip()))
