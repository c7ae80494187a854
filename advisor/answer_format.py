"""The answer's shape, produced by code: a grammar the model must follow, and the parser of what it wrote.

A 1.5B model shown a template echoes it ("- 要点名称：…"), pads ("These points are crucial for success"),
repeats the prompt's "Sources:" list and writes empty points ("- 寻找合适的人才：。[1]"). None of that can be
fixed by asking more nicely, so the model is not asked: llama.cpp samples under a GBNF grammar that admits
only

* one to `max_points` lines ``- <point name>：<explanation>[n]`` (``: `` and `` [n]`` in English) or, for a
  question that lists nothing, ``- <statement>[n]``; n is a passage number that exists, the explanation
  starts with a letter or digit and is a sentence long (8+ characters in Chinese, 20+ in English), so a
  point cannot be empty or a bare name, and "…" placeholders cannot be written; or
* the one not-covered sentence of the system prompt, which the advisor turns into an honest refusal.

Nothing else can be produced: no lead-in, no closing summary, no echoed source list, no code block.
Currency signs the passages never use are excluded from the English grammar (the playbook's 1000 元 came
out as "$1000"); the model then writes "yuan", the unit the prompt's glossary gives it.

A backend without grammar support (transformers, a remote server) produces free text; `parse_points`
reads the same lines from it and keeps only well-formed ones, so the reader sees the same shape either way.

`LoopGuard` replaces the repetition penalty: a penalty punishes every repeated token, including the
source's own terms a grounded answer must copy (价值导向定价 became 值得导向定价 under 1.1); the guard
only stops the answer when a point repeats one already written.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textkit import HAN_CLASS, has_han
from textkit.han import HAN_RANGES, char_class
from textkit.spans import fold

NOT_COVERED = {
    "zh": "知识库没有涵盖这个问题。",
    "en": "The knowledge base does not cover this question.",
}

# Characters an explanation may not start with: punctuation means the point was left empty.
_ZH_START_FORBIDDEN = r"\n\[\] \t。，、；：:,.;…\-#"
_EN_START_FORBIDDEN = r"\n\[\] \t。，、；：:,.;…\-#"
_CURRENCY_SIGNS = "$€£"
# The prompt labels each passage "[1] 章节：招聘渠道" (prompts/source.zh.txt). A point that begins by copying
# that label has nothing the grammar lets it write next (a heading is short and a line must reach its
# [n]), so greedy decoding ran into "章节：招聘渠道-1-2-3-…" (2 of 66 added-document answers, 2026-12-06).
# Banned only as 章节, the model began "章首：" and "章節：" instead: a Chinese point may not begin with 章 at
# all (a point opening with 章程 is rarer than the copy).
_ZH_LABEL_HEAD = "章"
_HAN_BUT_LABEL = char_class(
    tuple(
        part
        for first, last in HAN_RANGES
        for part in (
            ((first, ord(_ZH_LABEL_HEAD) - 1), (ord(_ZH_LABEL_HEAD) + 1, last))
            if first <= ord(_ZH_LABEL_HEAD) <= last
            else ((first, last),)
        )
    )
)


@dataclass(frozen=True)
class Point:
    name: str
    explanation: str
    source: int  # the passage number the model cited

    def markdown(self, language: str) -> str:
        if not self.name:  # a name the sources never gave (point_names.sourced_names): the point alone
            return f"- {self.explanation}[{self.source}]"
        sep = "：" if language == "zh" else ": "
        return f"- **{self.name}**{sep}{self.explanation}[{self.source}]"


def _gbnf_class(chars: str) -> str:
    """A negated GBNF character class body; '-' and ']' are escaped where GBNF needs it."""
    return chars.replace("-", r"\-")


def answer_grammar(
    language: str,
    n_sources: int,
    max_points: int,
    passages_text: str = "",
    labels: Sequence[int] | None = None,
) -> str:
    """GBNF for 1..max_points points citing passages 1..n_sources (or the given labels), or not covered."""
    if n_sources < 1 or max_points < 1:
        raise ValueError("answer_grammar needs at least one source and one point")
    if labels:
        src = "(" + " | ".join(f'"{int(label)}"' for label in dict.fromkeys(labels)) + ")"
    else:
        n = min(n_sources, 9)
        src = "[1-9]" if n == 9 else f"[1-{n}]"
    # Signs of currencies the passages never mention cannot be written (1000 元 must not become $1000).
    banned = "".join(sign for sign in _CURRENCY_SIGNS if sign not in passages_text)
    if "美元" in passages_text or "USD" in passages_text:
        banned = banned.replace("$", "")
    ban = _gbnf_class(banned)
    # The model writes Markdown bold around a name out of habit (the passages are Markdown): it may, but
    # only there; code renders the bold, so "*" and "`" are not allowed anywhere else.
    if language == "zh":
        # A name may hold a book title with its own colon (《AI大模型：理论与实践》); the explanation must hold
        # Chinese (a bare "ImageNet" is a name, not an answer): it starts with a Han character or reaches
        # one within 40 characters.
        # 47: a book title with its English title in brackets (《神经网络与深度学习》（Neural Networks and Deep
        # Learning）) was cut at 23 and shown broken.
        name = "namefirst namechar{1,47}"
        extra = [
            f"namefirst ::= [^\\-*#` \\t：:，,。；\\n\\[\\]…《{_ZH_LABEL_HEAD}{ban}] | book",
            f"namechar ::= [^*`：:，,。；\\n\\[\\]…《{ban}] | book",
            'book ::= "《" [^》\\n\\[\\]]{1,40} "》"',
            "expl ::= lead rest | first latin{0,40} han rest",
            f"lead ::= [{_HAN_BUT_LABEL}]",
            f"han ::= [{HAN_CLASS}]",
            f"latin ::= [^{HAN_CLASS}\\n\\[\\]…*`\\-{ban}] | hyphen",
            # a hyphen only inside a name or figure (GPT-3, A-1): "- " would start a new point in the line
            'hyphen ::= "-" [A-Za-z0-9]',
            f"restunit ::= [^\\n\\[\\]【】…*`\\-{ban}] | hyphen",
        ]
        first = f"[^{_ZH_START_FORBIDDEN}*`{HAN_CLASS}{ban}]"
        # no "-" but inside a name (Chinese prose has none, loops do), no 【】 (the model's asides), never ending on a colon
        rest = f"restunit{{7,160}} [^：:\\n\\[\\]【】…*`\\- \\t{ban}]"
        item = f'"- " (bold? name bold? "：")? expl "[" {src} "]"'
    else:
        name = f"[^\\-*#` \\t:：,.;，。\\n\\[\\]…{ban}] [^*`:：,.;，。\\n\\[\\]…{ban}]{{1,59}}"
        extra = []
        first = f"[^{_EN_START_FORBIDDEN}*`{ban}]"
        # an English point is a sentence: it ends with a full stop (or ! ? and a closing bracket)
        rest = f"[^\\n\\[\\]【】…*`{ban}]{{19,360}} [.!?] [)\"']?"
        item = f'"- " (bold? name bold? ": ")? first rest " "? "[" {src} "]"'
    points = " ".join(["item"] + ['("\\n" item)?'] * (max_points - 1))
    not_covered = NOT_COVERED[language].replace('"', '\\"')
    return "\n".join(
        [
            f'root ::= ({points}) | "{not_covered}"',
            f"item ::= {item}",
            'bold ::= "**"',
            f"name ::= {name}",
            f"first ::= {first}",
            f"rest ::= {rest}",
            *extra,
        ]
    )


_POINT_LINE = re.compile(
    # a name may hold a book title with its own colon: 《AI大模型：理论与实践》（… Models：Theory and Practice）
    r"^\s*(?:[-*•]\s*)+(?:\*\*)?(?P<name>(?:《[^》\n]{1,40}》|（[^）\n]{1,60}）|[^：:\n\[\]《（]){1,60}?)(?:\*\*)?\s*[：:]\s*(?P<expl>.*?)\s*"
    r"(?P<markers>(?:\s*[\[【]\s*\d{1,2}(?:\s*[,，、]\s*\d{1,2})*\s*[\]】])+)\s*[。.]?\s*$"
)
_MARKER_NUMBERS = re.compile(r"\d{1,2}")
# The prompt's glossary block written out as a point ("**Terms in these sources and their English**: cost-based
# pricing = cost-based pricing; yuan = yuan (RMB)", seen in the 2026-12-04 latest run): an echo, never an answer.
_GLOSSARY_ECHO = re.compile(
    r"terms in th(?:ese|is) sources?|(?:[^=;\n]+ = [^=;\n]+[;；]\s*){2}", re.IGNORECASE
)


# A passage's lead-in written as a point's name ("**GTP.ai的失败原因主要包括以下几个方面**：技术不足：…", seen in
# the 2026-12-05 run): the item's own name follows it inside the explanation.
_LEAD_IN_NAME = re.compile(
    r"(以下|如下)(几个方面|几点|几种|几类|几个步骤|方面)?$|\bthe following( \w+)?$", re.IGNORECASE
)
_NAME_IN_EXPLANATION = re.compile(r"^(?:\*\*)?(?P<name>[^：:\n]{1,30}?)(?:\*\*)?\s*[：:]\s*(?P<expl>\S.*)$")


def _without_lead_in(name: str, expl: str) -> tuple[str, str]:
    """(name, explanation) with a passage's lead-in taken out of the name: the item's name, or "" (dropped)."""
    if not _LEAD_IN_NAME.search(name.rstrip("：: ")):
        return name, expl
    inner = _NAME_IN_EXPLANATION.match(expl)
    return (inner.group("name").strip(), inner.group("expl").strip()) if inner else ("", expl)


def is_not_covered(text: str, language: str) -> bool:
    """The model's verdict that no passage answers the question (alone, give or take punctuation)."""
    plain = re.sub(r"[\s。.!！]", "", text).lower()
    return bool(plain) and plain == re.sub(r"[\s。.!！]", "", NOT_COVERED[language]).lower()


def parse_points(text: str) -> list[Point]:
    """The well-formed, non-empty, non-repeated point lines of an answer, in order.

    A line without a name, an explanation of no letters or digits, or a marker, is dropped: the grammar
    makes them impossible on llama.cpp, and on other backends they are exactly the defects readers saw.
    """
    points: list[Point] = []
    seen: set[str] = set()
    for line in text.splitlines():
        m = _POINT_LINE.match(line)
        if not m:
            continue
        name = m.group("name").replace("**", "").strip()  # bold closed inside a book title: 《AI大模型**：…
        expl = _without_repeats(m.group("expl").strip())
        name, expl = _without_lead_in(name, expl)
        if not _has_content(name) or not _has_content(expl) or _GLOSSARY_ECHO.search(name + "：" + expl):
            continue
        key = fold(name + expl)
        if key in seen:
            continue
        seen.add(key)
        numbers = [int(x) for x in _MARKER_NUMBERS.findall(m.group("markers"))]
        points.append(Point(name=name, explanation=end_sentence(expl), source=numbers[0]))
    return points


def lead_points(
    points: list[Point],
    prefer: Callable[[Sequence[int]], int | None] | None = None,
    document_of: Callable[[int], str | None] | None = None,
) -> tuple[list[Point], list[Point]]:
    """(points kept, points dropped): when two or more points cite one passage — the answer is that
    passage's list — the points citing other passages of its document are dropped. With `document_of`
    (passage number -> its document, "" for a number no passage has), a point citing another document (an
    incubator's note beside the playbook) is that source's part of the answer and stays; without it every
    passage is one document.

    A small model answering in English goes on from the section that answers to the next passage's list
    ("How can a startup deal with funding risk?" → the funding advice, then the generic risk-response
    strategies); in Chinese it stops by itself. The lead is the passage most points cite; with one point
    per passage (a definition plus an example), nothing is dropped. On a tie, `prefer(tied sources)` may
    name the one the question asks about ("What lessons … from the failure of GTP.ai?": 6.2.3 失败教训与反思,
    not 6.2.2 失败原因分析, which the model listed first); if it names none, nothing is dropped.
    """
    counts = Counter(p.source for p in points).most_common()
    if not counts or counts[0][1] < 2:
        return points, []
    lead = counts[0][0]
    tied = [source for source, n in counts if n == counts[0][1]]
    if len(tied) > 1:
        # A tie is an answer built on two lists (OpenAI's success factors and its lessons): drift only
        # when the question names one of them.
        chosen = prefer(tied) if prefer is not None else None
        if chosen is None:
            return points, []
        lead = chosen

    def another_document(n: int) -> bool:
        # A marker that points at no passage ("[5]" of 4) is no other source: it is drift like the rest.
        return document_of is not None and document_of(n) not in (None, "", document_of(lead))

    kept = [p for p in points if p.source == lead or another_document(p.source)]
    return kept, [p for p in points if p not in kept]


def render(points: list[Point], language: str) -> str:
    """The Markdown the reader sees: one bold-named point per line, each with its passage marker."""
    return "\n".join(p.markdown(language) for p in points)


def unique_lines(text: str) -> str:
    """Free text with a line that repeats an earlier one (its words, markers aside) written once.

    The loop guard stops generation at the first repeated line, but that line was already written: an
    answer of unnamed points showed "- GTP.ai's model lagged significantly behind GPT-3 …[1]" twice
    (en-case-failure-03, run C). Named points are de-duplicated by parse_points.
    """
    seen: set[str] = set()
    kept = []
    for line in text.split("\n"):
        key = fold(re.sub(r"\[\d+\]", "", line))
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(line)
    return "\n".join(kept)


def _without_repeats(expl: str) -> str:
    """An explanation with a sentence said twice (a loop inside one line) keeps it once."""
    seen: set[str] = set()
    kept = []
    for part in re.split(r"(?<=[。！？!?])|(?<=\.)\s+", expl):
        key = fold(part)
        if part.strip() and key not in seen:
            seen.add(key)
            kept.append(part.strip())
    return ("" if has_han(expl) else " ").join(kept)


def _has_content(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def end_sentence(expl: str) -> str:
    expl = expl.rstrip(" ，,、；;:：")
    if expl and expl[-1] not in "。.!?！？）)”\"'":
        expl += "。" if has_han(expl) else "."
    return expl


# A line that runs on in a loop of its own: a short unit said six times in a row once digits are alike
# ("1.0000000…", "招聘渠道-1-2-3-4-…", "第1条，第2条，第3条，…"). Under the grammar a line must reach its
# [n], and a model that wanted to end it early (a heading, a bare list item) wrote such runs until its
# token budget (3 of 66 added-document answers, 2026-12-06); stopping there saves the budget's seconds.
# One character needs sixteen in a row: 1000000 元 is a figure, not a loop.
_RUNAWAY = re.compile(r"(.)\1{15,}$|(.{2,6}?)\2{5,}$", re.DOTALL)
_RUNAWAY_TAIL = 48


class LoopGuard:
    """Watches a stream line by line and trips when a point repeats one already written.

    Greedy decoding without a repetition penalty can fall into a loop of whole points; the first repeat
    is the moment to stop (its text is not kept: `parse_points` drops it).
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._lines: set[str] = set()
        self._names: dict[str, int] = {}
        self.tripped = False

    def feed(self, piece: str) -> bool:
        """Add streamed text; True once a completed line repeats an earlier one, or the open line runs on
        in a loop of its own (stop generating)."""
        self._buffer += piece
        while "\n" in self._buffer and not self.tripped:
            line, self._buffer = self._buffer.split("\n", 1)
            self._check(line)
        if not self.tripped and _RUNAWAY.search(re.sub(r"\d", "0", self._buffer[-_RUNAWAY_TAIL:])):
            self.tripped = True
        return self.tripped

    def _check(self, line: str) -> None:
        key = fold(re.sub(r"\[\d+\]", "", line))
        if not key:
            return
        if key in self._lines:
            self.tripped = True
            return
        self._lines.add(key)
        m = _POINT_LINE.match(line)
        if m:
            name = fold(m.group("name"))
            self._names[name] = self._names.get(name, 0) + 1
            if self._names[name] >= 3:  # the same heading over and over with new filler
                self.tripped = True


_LABEL_MARKER = re.compile(r"\[(\d{1,5})\]")
_OPEN_MARKER = re.compile(r"\[\d{0,5}$")  # a marker that the next piece may complete


class Relabel:
    """Turns the knowledge cache's stable passage labels ("[41]") into the answer's numbers ("[2]") as the
    text streams, so the reader, the parser and the gate see [1]..[n] as always.

    A piece ending inside a marker ("…[4") is held back until the marker closes.
    """

    def __init__(self, labels: Sequence[int]):
        self._numbers = {int(label): n for n, label in enumerate(labels, start=1)}
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        open_marker = _OPEN_MARKER.search(text)
        cut = open_marker.start() if open_marker else len(text)
        self._held = text[cut:]
        return self._renumber(text[:cut])

    def flush(self) -> str:
        held, self._held = self._held, ""
        return self._renumber(held)

    def _renumber(self, text: str) -> str:
        def number(m: re.Match[str]) -> str:
            n = self._numbers.get(int(m.group(1)))
            return f"[{n}]" if n is not None else m.group(0)

        return _LABEL_MARKER.sub(number, text)
