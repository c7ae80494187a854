"""Prompt-injection guards on both sides of the model.

Input side (`asks_for_instructions`, `injection_signal`): questions refused before any generation —
requests for the instructions, attempts to override them, fake "SYSTEM:" turns and tool output, smuggled
comments, explicit output hijacks — and `is_in_domain` for off-topic questions. They are decided on the
question alone, so the model never sees such an attempt and no tokens are spent on it.

Obfuscation is undone first, because a pattern only sees what it is shown: NFKC folds full-width letters
("ｉｇｎｏｒｅ"), OpenCC folds traditional characters ("系統提示詞"), and leetspeak, rot13, base64 and
spaced-out letters ("i g n o r e") are decoded into extra views of the same question.

Output side (`OutputGuard`): the system prompt carries a canary (settings.prompt_canary) that no answer
ever needs. A streamed answer is watched for it (and for long verbatim spans of the system prompt); text
that could be the start of the canary is held back until it is clearly not, so a leaking answer is
stopped before the canary reaches the reader, and the advisor refuses instead.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import opencc

from textkit.spans import fold, weighted_windows

# --- normalisation ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")  # ~10 ms once; converting a question then takes microseconds


def normalise(text: str) -> str:
    """Full-width -> ASCII, traditional -> simplified, lower case, one space between words.

    Line breaks are kept (one per break): a forged "SYSTEM:" turn is recognised by starting a line.
    """
    text = _t2s().convert(unicodedata.normalize("NFKC", text)).casefold()
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
# Four or more single characters in a row separated by spaces or dots: "i g n o r e", "系 统 提 示".
_SPACED_OUT = re.compile(r"(?:(?<![^\W_])[^\W_][\s.\-_*·]+){4,}[^\W_](?![^\W_])")


def _decoded_base64(text: str) -> list[str]:
    """Readable text hidden in base64 tokens ("aWdub3JlIGFsbC..." -> "ignore all ...")."""
    out = []
    for token in _BASE64_TOKEN.findall(text):
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if decoded and sum(c.isprintable() for c in decoded) / len(decoded) > 0.9:
            out.append(normalise(decoded))
    return out


def _squashed(text: str) -> str:
    """Letters, digits and CJK only: "p r i n t  y o u r  p r o m p t" -> "printyourprompt"."""
    return "".join(c for c in text if c.isalnum())


def _views(question: str) -> tuple[list[str], str | None]:
    """The question as written (normalised) plus each decoding of it; and its squashed form when the
    question spells words out letter by letter (only then: squashing ordinary text joins words across
    boundaries, "the ERP system prompted" -> "systemprompt")."""
    plain = normalise(question)
    views = [plain, plain.translate(_LEET), codecs.decode(plain, "rot13"), *_decoded_base64(question)]
    squashed = _squashed(plain.translate(_LEET)) if _SPACED_OUT.search(plain) else None
    return views, squashed


# --- input side: patterns per attack family -----------------------------------------------------------


def _compile(*patterns: str) -> tuple[re.Pattern[str], ...]:
    # DOTALL: a gap like ".{0,40}" spans a line break, as it would in the one-line text a model reads.
    # ASCII: \b and \w are about Latin words only, so "你的system prompt" still has a boundary at "system"
    # (to Unicode, 的 is a word character and would glue the two together).
    return tuple(re.compile(p, re.DOTALL | re.ASCII) for p in patterns)


# Requests to reveal or override the instructions. Phrased as patterns over the normalised question so
# that paraphrases ("show me your system prompt", "what were you told before this conversation")
# are caught too; English and Chinese.
_EXTRACTION = _compile(
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instruction|instructions|prompt|prompts|rules"
    r"|guidelines|directions|context)\b",
    r"\bsystem\s*(prompt|message|instructions?)\b",
    r"\b(developer|hidden|initial|original|secret)\s+(prompt|message|instructions?)\b"
    r"|\b(developer|hidden|secret)\s+rules\b",
    r"\b(print|show|reveal|repeat|display|output|tell|give|share|leak|dump|list|what)\b.{0,40}"
    r"\byour\s+(prompt|instructions?|rules|guidelines|configuration)\b",
    # "show me the rules (you follow)" but not "what are the rules for hiring"
    r"\b(print|show|reveal|repeat|display|leak|dump)\b.{0,20}\bthe\s+(prompt|instructions?|rules)\b"
    r"(?!\s+(for|of|on|about|to|in)\b)",
    r"\b(repeat|print|output|show|reveal|copy)\b.{0,30}\b(above|preceding|before this)\b",
    r"\bwhat\s+(were|are)\s+you\s+(told|instructed|programmed)\b",
    r"\b(rules|instructions|guidelines|prompt)\s+(that\s+)?(were you|you were|you have been|have you been)\s+"
    r"(given|told)\b|\bbefore (this|the|our) (conversation|chat) (began|begun|started)\b",
    # Jailbreak personas: switching a mode on, not asking whether a product should have one.
    r"\bjailbreak|\bdan mode\b|\b(enable|activate|enter|turn on)\s+(developer|dan|god|debug)\s+mode\b"
    r"|\b(developer|god)\s+mode\s+(is\s+)?(enabled|on|activated)\b",
    r"\b(confidential|secret|canary)\s+(tag|token|marker)\b",
    r"\b(secret|hidden|confidential)\s+(setup|set-up|configuration|prompt|instructions?|text)\b",
    r"\bhigher priority than (anything|everything|all|your|the|any)\b",
    r"\b(stop|don't|do not|never)\s+(using|use|rely on|relying on)\s+(the|your|it|this)\s*(knowledge base"
    r"|sources|passages)?\b.{0,40}\b(your own knowledge|own words)|\b(answer|reply|respond) from your own "
    r"knowledge\b",
    r"\bxi ?tong ?ti ?shi\b|\bti ?shi ?ci\b",  # pinyin of 系统提示(词)
    r"(忽略|无视|忘记|忘掉|跳过|绕过|不要理会|不用管).{0,12}(指令|指示|提示|规则|要求|设定|说明)",
    r"(系统|隐藏|开发者).{0,4}(提示|指令|prompt)|(初始|原始|隐藏|开发者)的?(提示|指令|设定|prompt)"
    r"|系统(消息|设定)|内部(提示|指令|prompt)",
    r"提示词|提示语|系统提示|你的(指令|指示|规则|设定|提示|prompt)",
    r"(输出|打印|显示|透露|泄露|告诉我|重复|复述|展示).{0,12}(你的|你收到的|上面的|之前的|以上的?)"
    r".{0,6}(指令|指示|内容|规则|设定|提示|话|文字)",
    r"越狱|开启开发者模式|开发者模式(已)?(开启|启动|激活)|上帝模式|保密标记|机密标记",
    r"(上面|以上|之前|前面)的?(内容|文字|话|指令|文本).{0,12}(原样|逐字|重复|复述)"
    r"|原样(重复|输出|复述)|逐字(重复|复述|输出|翻译)",
    r"你(都)?收到(了)?(哪些|什么|的).{0,6}(规则|指令|指示|设定|提示)|(对话|会话)开始(之前|前)",
    r"(隐藏|秘密|保密|机密)的?(设定|指令|提示)",
    r"优先级(高于|超过)(之前|以上|一切|所有|你的)|用你自己的知识|(不要|别|不用|停止)(再)?(使用|参考|依据|用)"
    r"(知识库|资料)|知识库.{0,10}(过时|是错的|不可靠)",
)
# Spaced-out spellings, matched on the squashed form ("i g n o r e  a l l ..." -> "ignoreall...").
_SQUASHED = _compile(
    r"(ignore|disregard|forget|bypass)(all|the|your|any|previous|prior|above|earlier)*"
    r"(instructions?|prompts?|rules)",
    r"systemprompt|developermode|jailbreak|doanythingnow",
    r"(print|show|reveal|repeat|output|dump|leak|tellme)(me)?(your|the)(system|hidden|initial)?"
    r"(prompt|instructions|rules)",
    r"(忽略|无视|忘记).{0,8}(指令|规则|设定)|系统提示|提示词|越狱",
)
# A conversation turn or tool result forged inside the question: the model must not read it as one.
_FAKE_TURN = _compile(
    r"(^|\n|[.!?。！？]\s)\s*[\[<(#*]*\s*(system|developer|sys|admin|root|assistant)"
    r"(\s+(message|prompt|note|override|instructions?|update|notice|command))?\s*[\]>)*]*\s*[:：]",
    r"\b(system|developer|admin)\s+(override|update|notice|command)\b",
    r"<\|?\s*im_(start|end)\s*\|?>|<\|(system|user|assistant|endoftext)\|>|\[/?inst\]|<<\s*/?sys\s*>>",
    r"<\s*/?\s*(system|instructions?|tool_?(call|response|output|result)|function_?(call|result))\s*>",
    r"\b(tool|function|plugin|api|search)\s+(output|result|response|call)\s*[:：]",
    r"\bend of (the )?(system )?(prompt|instructions)\b|\bnew instructions?\s*[:：]",
    r"(^|\n)\s*[【\[(]?\s*(系统|开发者|管理员|助手)(消息|通知|指令|提示|公告|设定)?\s*[】\])]?\s*[:：]",
    r"【\s*(系统|开发者|管理员)|新(的)?指令\s*[:：]|(工具|插件|函数|接口)(输出|结果|返回)\s*[:：]",
)
# Text hidden from a reader but not from the model.
_SMUGGLED = _compile(r"<!--", r"\[//\]\s*:\s*#", r"<\s*(script|iframe|img|style)\b")
# Orders about the words of the reply itself, addressed to the assistant ("your answer"): a founder asks
# about founding, and "end every message with a call to action" (about their own emails) must pass.
_OUTPUT_HIJACK = _compile(
    r"\b(reply|respond|answer)\s+(only\s+)?with\s+(only\s+)?(the\s+)?(single\s+)?(word|phrase|string"
    r"|token|code)\b",
    r"\b(start|begin|end|finish|prefix|conclude|sign)\s+your\s+(answer|reply|response)s?\s+(with|by)\b",
    r"\b(append|add|include|insert)\b.{0,80}\b(to|at the end of|end of|in)\s+your\s+(answer|reply|response)",
    r"\byou are now\s+(dan|free|unrestricted|unfiltered|uncensored|jailbroken|an? (unrestricted|unfiltered"
    r"|uncensored|evil|ai without|assistant without))\b|\byou are no longer\b"
    r"|\b(from now on,? (you|reply|answer|respond|only)|pretend (to be|you are|you're)"
    r"|do anything now|act as (an? )?(unrestricted|unfiltered|evil|uncensored))\b",
    r"只(回复|回答|输出)(用户)?\s*[“\"「『]|你的?(回答|回复)(的)?(开头|结尾|末尾|最后一句|第一句)"
    r"|(回答|回复)的(第一句|开头|结尾|末尾)(必须|要|应该)|在(你的)?(回答|回复)(的)?(开头|末尾|结尾|最后)"
    r"(加上|附上|写上|输出|添加)|在(末尾|结尾|最后)(加上|附上|写上)(一句|这句|链接|图片|网址)"
    r"|(你|请)先说\s*[“\"「『]|你(回答|答)完|回答完(后|之后)[，,]?\s*请",
    r"你现在是(一个)?(没有|不受|无)|从现在(开始|起)[，,]?\s*你(只|必须|就是|是一个|不再)|假装你是"
    r"|解除(所有|一切|你的)限制|已解除限制|限制已解除|没有任何(限制|规则)的(助手|ai|模型|人工智能)",
)
# Links that would carry data off the page: a markdown image loads without a click.
_EXFILTRATION = _compile(
    r"!\[[^\]]*\]\(\s*(https?:)?//",
    r"\b(url|link|image|img)\b.{0,40}\b(containing|including|append|appending|encode|encoding|with)\s+"
    r"(the|our|this|my|your|a summary of( the)?)\s+(question|conversation|prompt|instructions|chat|history)",
    r"(链接|网址|图片|url).{0,20}(带上|包含|附上|拼接|加上).{0,20}(问题|对话|提示|指令|记录)",
)

_FAMILIES: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = (
    ("extraction", _EXTRACTION),
    ("fake_turn", _FAKE_TURN),
    ("smuggled", _SMUGGLED),
    ("exfiltration", _EXFILTRATION),
    ("output_hijack", _OUTPUT_HIJACK),
)


def injection_signal(question: str) -> str | None:
    """The attack family a question shows ("extraction", "fake_turn", ...), or None for a plain question."""
    views, squashed = _views(question)
    for family, patterns in _FAMILIES:
        if any(p.search(view) for view in views for p in patterns):
            return family
    if squashed is not None and any(p.search(squashed) for p in _SQUASHED):
        return "extraction"
    return None


def asks_for_instructions(question: str) -> bool:
    """True when the question tries to read, override or bypass the instructions."""
    return injection_signal(question) is not None


# --- off-topic ------------------------------------------------------------------------------------------

# Words that place a question in the playbook's world: founding and running a company, AI business.
# A question with none of these AND weak retrieval is off-topic rather than merely not covered.
_DOMAIN_WORDS = re.compile(
    r"创业|创始人|公司|企业|团队|产品|市场|客户|用户|商业|盈利|定价|价格|收入|融资|投资|资金|风险|运营|管理"
    r"|竞争|战略|策略|招聘|股权|激励|品牌|营销|销售|合规|法律|人工智能|大模型|模型|数据|算法|技术|行业|初创|老板"
    # The playbook's appendix: tools, data sets, frameworks and books a founder is pointed to.
    r"|附录|工具|框架|书籍|书单|数据集|开源"
    r"|\b(ai|llm|gpt|startup|startups|start-up|founder|founders|company|companies|business|team|product|market"
    r"|customer|customers|user|users|revenue|profit|pricing|price|funding|fundraising|investor|investors|vc"
    r"|equity|hire|hiring|risk|risks|strategy|competition|competitor|competitors|growth|sales|marketing"
    r"|brand|operations|compliance|legal|model|models|data|saas|api|enterprise|b2b|b2c|mvp|launch"
    r"|appendix|dataset|datasets|tool|tools|framework|frameworks|book|books|reading|open[- ]source)\b"
)


def is_in_domain(question: str) -> bool:
    """True when the question mentions anything about founding/running a company or AI business."""
    return bool(_DOMAIN_WORDS.search(question.lower()))


# --- output side ----------------------------------------------------------------------------------------


# A verbatim span this long (textkit.spans.char_weight: a Han character counts 2) is a leak; shorter ones
# are common phrases ("the knowledge base", "知识库").
SPAN_WEIGHT = 24
_HOLD_WINDOW = 4  # raw characters looked back per canary character (spaces, dashes, markup between them)


class OutputGuard:
    """Watches one answer for the canary and verbatim spans of the system prompt.

    `feed(piece)` returns the text that is safe to show now; `tripped` turns True as soon as the canary is
    complete, and from then on nothing more is released. `reveals(text)` is the final check on the whole
    answer (canary, however spaced, or a long span of a secret that is not also in `allowed_texts`, e.g.
    the refusal sentence the system prompt itself tells the model to write).
    """

    def __init__(self, canary: str, secret_texts: Sequence[str] = (), allowed_texts: Sequence[str] = ()):
        self._canary = fold(canary)
        if len(self._canary) < 8:
            raise ValueError("the canary must have at least 8 letters or digits to be recognisable")
        self._spans = _secret_spans(tuple(secret_texts), tuple(allowed_texts))
        self._text = ""
        self._released = 0  # characters of _text already handed out
        self.tripped = False

    def feed(self, piece: str) -> str:
        if self.tripped:
            return ""
        self._text += piece
        tail_start = max(self._released - _HOLD_WINDOW * len(self._canary), 0)
        if self._canary in fold(self._text[tail_start:]):
            self.tripped = True
            return ""
        hold = self._held_from(tail_start)
        out, self._released = self._text[self._released : hold], max(hold, self._released)
        return out

    def flush(self) -> str:
        """What was held back, once the answer is complete and did not trip."""
        if self.tripped:
            return ""
        out, self._released = self._text[self._released :], len(self._text)
        return out

    def _held_from(self, tail_start: int) -> int:
        """Where the possible start of the canary begins in the unreleased text (len(text) if none)."""
        text = self._text
        for i in range(max(self._released, tail_start), len(text)):
            if not text[i].isalnum():
                continue
            folded = fold(text[i:])
            if folded and self._canary.startswith(folded):
                return i
        return len(text)

    def reveals(self, text: str) -> bool:
        folded = fold(text)
        return self._canary in folded or any(span in folded for span in self._spans)


@lru_cache(maxsize=8)  # one guard per answer, the same prompts every time: computed once (~10 ms)
def _secret_spans(secret_texts: tuple[str, ...], allowed_texts: tuple[str, ...]) -> tuple[str, ...]:
    """Every shortest folded window of each secret whose weight reaches SPAN_WEIGHT, minus allowed ones."""
    allowed = [fold(t) for t in allowed_texts]
    spans: set[str] = set()
    for secret in secret_texts:
        folded = fold(secret)
        for start, end in weighted_windows(folded, SPAN_WEIGHT):
            span = folded[start:end]
            if not any(span in ok for ok in allowed):
                spans.add(span)
    return tuple(sorted(spans))


def instruction_leak_guard(canary: str) -> OutputGuard:
    """An OutputGuard for the answer prompt: its system prompts (both languages) are the secrets; the
    refusal texts are allowed (the system prompt tells the model to write one of their sentences)."""
    from advisor.prompting import LANGUAGES, REFUSAL_REASONS, refusal_text, system_prompt

    return OutputGuard(
        canary,
        secret_texts=[system_prompt(lang, canary) for lang in LANGUAGES],
        allowed_texts=[refusal_text(lang, reason) for lang in LANGUAGES for reason in REFUSAL_REASONS],
    )
