"""Synthetic claim/evidence pairs for training the support cross-encoder, the MiniCheck way.

Supported claims are the knowledge base's own lines and their checked translations (the playbook's English
renderings, reviewed ones first, and the added documents' renderings both ways), shaped the way the gate
sees answer sentences (bullet and bold stripped, "Name：explanation", later sentences alone). Unsupported
claims are controlled edits of supported ones, each an error a small model really makes in our answers:

* ``figure``    a number, scale, percentage or currency changed (1000元 -> 1500元 / $1000, 万 -> 亿)
* ``negation``  a polarity flipped (可以 -> 不能, increase -> decrease)
* ``swap``      a list item's name given a sibling item's explanation (the model's commonest slip)
* ``entity``    a named tool, company, data set or book replaced by another one of the corpus
* ``addition``  a supported claim with a plausible clause the passage does not hold
* ``neighbour`` a line of another passage of the same chapter, judged against this passage

Each claim is paired with its passage in the same language and in the other one (Chinese passage with an
English claim, the English rendering with a Chinese claim), so the model learns the cross-language case
the gate meets in every English answer. Pairs carry their passage's group so that training and validation
never share a passage. Everything is seeded: the same sources give the same pairs.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from textkit import detect_language, split_sentences

SUPPORTED, UNSUPPORTED = 1, 0


@dataclass(frozen=True)
class Passage:
    """One passage as parallel lines: its own language and the other (None where no rendering exists)."""

    group: str  # the passage's id: pairs of one group stay on one side of a split
    chapter: str  # neighbours come from the same chapter: close in topic, different in content
    heading: str
    lines: tuple[str, ...]
    renderings: tuple[str | None, ...]
    lang: str

    def text(self, rendered: bool) -> str:
        lines = [r for r in self.renderings if r] if rendered else list(self.lines)
        body = "\n".join(lines)
        return f"{self.heading}\n{body}" if self.heading else body


@dataclass(frozen=True)
class Pair:
    claim: str
    evidence: str
    label: int  # 1 = supported
    kind: str  # "verbatim", "translation", or the edit that made it unsupported
    direction: str  # claim language -> evidence language, e.g. "en->zh"
    group: str
    meta: dict = field(default_factory=dict)


# --- claims as the gate sees them ---------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)、])\s+")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_NAMED = re.compile(r"^(?P<name>[^：:]{1,40})[：:]\s*(?P<body>.+)$", re.S)


def as_claim(line: str) -> str:
    """A knowledge-base line as an answer sentence reads after the gate's cleaning: no bullet, no bold."""
    return _BOLD.sub(r"\1", _BULLET.sub("", line.strip())).strip()


def named(line: str) -> tuple[str, str] | None:
    """("成本导向定价", "基于产品…") for a "- **Name**：explanation" line."""
    m = _NAMED.match(as_claim(line))
    if not m or not _BOLD.search(line):
        return None
    return m.group("name").strip(), m.group("body").strip()


def claims_of(line: str) -> list[str]:
    """The sentences a line gives as claims: the first keeps its name, the rest stand alone."""
    text = as_claim(line)
    if not text or text.startswith(">") or len(text) < 8:
        return []
    sentences = [s.strip() for s in split_sentences(text) if len(s.strip()) >= 8]
    return sentences or [text]


# --- edits that make a claim unsupported ---------------------------------------------------------------

_ZH_FLIPS = [
    ("不能", "能"), ("可以", "不能"), ("能够", "无法"), ("需要", "不需要"), ("有助于", "不利于"),
    ("应该", "不应该"), ("提高", "降低"), ("降低", "提高"), ("增加", "减少"), ("减少", "增加"),
    ("扩大", "缩小"), ("成功", "失败"), ("失败", "成功"), ("优势", "劣势"), ("促进", "阻碍"),
    ("重要", "次要"), ("更高", "更低"), ("更低", "更高"), ("降低成本", "增加成本"), ("吸引", "流失"),
    ("是", "不是"), ("有", "没有"),
]  # fmt: skip
_EN_FLIPS = [
    (r"\bcannot\b", "can"), (r"\bcan\b", "cannot"), (r"\bshould\b", "should not"), (r"\bmust\b", "need not"),
    (r"\bwill\b", "will not"), (r"\bincreases?\b", "decrease"), (r"\bdecreases?\b", "increase"),
    (r"\breduces?\b", "increase"), (r"\bimproves?\b", "worsen"), (r"\bhigher\b", "lower"),
    (r"\blower\b", "higher"), (r"\bmore\b", "less"), (r"\bsuccess\b", "failure"), (r"\bfailure\b", "success"),
    (r"\bimportant\b", "unimportant"), (r"\badvantages?\b", "disadvantage"), (r"\bhelps?\b", "hinders"),
    (r"\battract\b", "drive away"), (r"\bis\b", "is not"), (r"\bare\b", "are not"),
]  # fmt: skip

_ZH_ADDITIONS = [
    "，并能在三个月内实现盈利", "，这是所有创业公司成功的唯一因素", "，通常可使收入提升30%以上",
    "，由政府全额补贴", "，已被谷歌和微软采用", "，因此无需任何融资", "，一般需要投入5000万元",
    "，适用于所有行业且没有风险",
]  # fmt: skip
_EN_ADDITIONS = [
    ", which guarantees profitability within three months", ", and it is the only factor in a startup's success",
    ", which usually raises revenue by more than 30%", ", fully subsidised by the government",
    ", as already adopted by Google and Microsoft", ", so no funding is needed at all",
    ", which typically costs 50 million yuan", ", and it works in every industry without risk",
]  # fmt: skip

_ZH_CURRENCY = [("美元", "元"), ("元", "美元"), ("人民币", "美元")]
_EN_CURRENCY = [(r"\$\s?(\d)", r"\1 yuan"), (r"(\d)\s?(?:yuan|RMB)\b", r"$\1"), (r"\bdollars?\b", "yuan")]
_ZH_SCALE = [("万亿", "亿"), ("亿", "万"), ("万", "亿"), ("千", "万")]
_EN_SCALE = [("trillion", "billion"), ("billion", "million"), ("million", "billion"), ("thousand", "million")]
_NUMBER = re.compile(r"(?<![A-Za-z0-9.\-])(\d+(?:\.\d+)?)(?![0-9A-Za-z])")
# A Latin-script name (GTP.ai, TensorFlow, Common Crawl, ImageNet): the entities our answers carry over
# untranslated, so swapping one for another is an entity error in either language.
# A run of capitalised Latin words ("Common Crawl", "GTP.ai", "TensorFlow"): inside a Chinese line always a
# name; in an English line only when shaped like one (_NAME_SHAPE), not a sentence's first word.
_NAME_RUN = re.compile(r"\b[A-Z][A-Za-z0-9.+\-]*[A-Za-z0-9](?: [A-Z][A-Za-z0-9.+\-]*[A-Za-z0-9])*\b")
_NAME_SHAPE = re.compile(r"^(?:[A-Z][a-z]+[A-Z]\w*|[A-Z]{2,}[\w\-]*|\w+\.ai|[A-Z]\w*-?\d[\w.]*)$")
# Acronyms are not entities to swap. (A shorter list than the gate's NOT_NAMES: the pairs and the perturbation
# set were generated with it, and must come out the same.)
_EN_STOP_ENTITIES = {"AI", "API", "APIs", "IT", "CEO", "CTO", "B2B", "B2C", "SaaS", "KPI", "KPIs", "OKR", "OKRs"}  # fmt: skip


def flip(claim: str, lang: str, rng: random.Random) -> str | None:
    """A polarity flip, or None when the claim has nothing to flip."""
    flips = _ZH_FLIPS if lang == "zh" else _EN_FLIPS
    options = [(a, b) for a, b in flips if (a in claim if lang == "zh" else re.search(a, claim))]
    if not options:
        return None
    a, b = rng.choice(options[:4])  # the first matches are the specific verbs, before 是/有 or is/are
    return claim.replace(a, b, 1) if lang == "zh" else re.sub(a, b, claim, count=1)


def change_figure(claim: str, lang: str, rng: random.Random) -> str | None:
    """A number, scale or currency changed; a claim without any gets a figure it never had."""
    choices = []
    if _NUMBER.search(claim):
        choices.append("number")
    currency = _ZH_CURRENCY if lang == "zh" else _EN_CURRENCY
    if any((a in claim) if lang == "zh" else re.search(a, claim) for a, _ in currency):
        choices.append("currency")
    scales = _ZH_SCALE if lang == "zh" else _EN_SCALE
    if any(a in claim for a, _ in scales) and _NUMBER.search(claim):
        choices.append("scale")
    if not choices:
        return None
    what = rng.choice(choices)
    if what == "number":
        m = rng.choice(list(_NUMBER.finditer(claim)))
        value = float(m.group(1))
        new = rng.choice([value * 2, value * 3, value + 10, max(value / 2, 1), value * 10])
        text = f"{new:g}" if "." in m.group(1) else str(round(new))
        if text == m.group(1):
            text = str(int(value) + 7)
        return claim[: m.start(1)] + text + claim[m.end(1) :]
    if what == "currency":
        for a, b in currency:
            if lang == "zh" and a in claim:
                return claim.replace(a, b, 1)
            if lang == "en" and re.search(a, claim):
                return re.sub(a, b, claim, count=1)
    for a, b in scales:
        if a in claim:
            return claim.replace(a, b, 1)
    return None


def add_clause(claim: str, lang: str, rng: random.Random) -> str:
    stem = claim.rstrip("。.!！?？ ")
    addition = rng.choice(_ZH_ADDITIONS if lang == "zh" else _EN_ADDITIONS)
    return stem + addition + ("。" if lang == "zh" else ".")


def swap_entity(claim: str, entities: Sequence[str], rng: random.Random) -> str | None:
    """One of the corpus's named entities in the claim replaced by another one (None: it names none)."""
    known = {e.lower() for e in entities}
    found = [m for m in _NAME_RUN.finditer(claim) if m.group(0).lower() in known]
    if not found:
        return None
    m = rng.choice(found)
    others = [e for e in entities if e.lower() != m.group(0).lower() and e.lower() not in claim.lower()]
    if not others:
        return None
    return claim[: m.start()] + rng.choice(others) + claim[m.end() :]


# --- pairs ----------------------------------------------------------------------------------------------


def _overlap(claim: str, passage: str) -> float:
    """Share of the claim's character bigrams in the passage: a neighbour line the passage also holds
    (a repeated list) is not a negative."""
    grams = {claim[i : i + 2] for i in range(len(claim) - 1) if claim[i : i + 2].strip()}
    return sum(g in passage for g in grams) / len(grams) if grams else 1.0


def pairs_for(
    passage: Passage, neighbours: Sequence[Passage], entities: Sequence[str], rng: random.Random
) -> list[Pair]:
    """Every supported claim of a passage and its edits, against the passage in both languages."""
    evidence = {passage.lang: passage.text(rendered=False)}
    other = "en" if passage.lang == "zh" else "zh"
    if any(passage.renderings):
        evidence[other] = passage.text(rendered=True)
    out: list[Pair] = []

    def emit(claim: str, label: int, kind: str, meta: dict | None = None) -> None:
        claim_lang = detect_language(claim)
        for ev_lang, ev in evidence.items():
            out.append(Pair(claim, ev, label, kind, f"{claim_lang}->{ev_lang}", passage.group, meta or {}))

    items = [(i, named(line)) for i, line in enumerate(passage.lines)]
    items = [(i, n) for i, n in items if n]
    for i, line in enumerate(passage.lines):
        versions = [(passage.lang, line)]
        if passage.renderings[i]:
            versions.append((other, passage.renderings[i]))
        for lang, text in versions:
            for claim in claims_of(text):
                kind = "verbatim" if lang == passage.lang else "translation"
                emit(claim, SUPPORTED, kind)
                for edit, new in (
                    ("negation", flip(claim, lang, rng)),
                    ("figure", change_figure(claim, lang, rng)),
                    ("entity", swap_entity(claim, entities, rng)),
                    ("addition", add_clause(claim, lang, rng) if rng.random() < 0.5 else None),
                ):
                    if new and new != claim:
                        emit(new, UNSUPPORTED, edit)
        # A list item's name with a sibling's explanation, in each language the item has.
        mine = named(line)
        siblings = [j for j, _ in items if j != i]
        if mine and siblings:
            j = rng.choice(siblings)
            for lang_lines in (passage.lines, passage.renderings):
                a, b = lang_lines[i], lang_lines[j]
                na, nb = (named(a) if a else None), (named(b) if b else None)
                if na and nb and _overlap(nb[1], na[1]) < 0.6:
                    sep = "：" if detect_language(a) == "zh" else ": "
                    first = split_sentences(nb[1])[0] if split_sentences(nb[1]) else nb[1]
                    emit(f"{na[0]}{sep}{first}", UNSUPPORTED, "swap")
    # Lines of a neighbouring passage of the same chapter: on topic, not in this passage.
    near = [n for n in neighbours if n.group != passage.group and n.chapter == passage.chapter]
    for n in rng.sample(near, min(2, len(near))):
        lines = [ln for ln in n.lines if claims_of(ln)]
        for line in rng.sample(lines, min(2, len(lines))):
            claim = claims_of(line)[0]
            if _overlap(claim, passage.text(rendered=False)) < 0.5:
                emit(claim, UNSUPPORTED, "neighbour")
            j = n.lines.index(line)
            rendering = n.renderings[j]
            if rendering and claims_of(rendering):
                en_claim = claims_of(rendering)[0]
                if _overlap(claim, passage.text(rendered=False)) < 0.5:
                    emit(en_claim, UNSUPPORTED, "neighbour")
    return out


def entities_of(passages: Iterable[Passage]) -> list[str]:
    """The named entities of the corpus: every Latin-script name inside its Chinese lines (GTP.ai, OpenAI,
    TensorFlow, Common Crawl: in a Chinese text a Latin run is a name), plus CamelCase, dotted or
    all-capital names of its English lines. A capitalised English word is not one ("Process", "Timeline")."""
    found: set[str] = set()
    for p in passages:
        for text in (*p.lines, *(r for r in p.renderings if r)):
            chinese = detect_language(text) == "zh"
            for m in _NAME_RUN.finditer(as_claim(text)):
                names = [m.group(0)] if chinese else m.group(0).split(" ")
                found.update(
                    n
                    for n in names
                    if len(n) >= 3 and n not in _EN_STOP_ENTITIES and (chinese or _NAME_SHAPE.match(n))
                )
    return sorted(found)


def build_pairs(passages: Sequence[Passage], seed: int = 13) -> list[Pair]:
    rng = random.Random(seed)
    entities = entities_of(passages)
    pairs: list[Pair] = []
    for p in passages:
        pairs.extend(pairs_for(p, passages, entities, rng))
    return pairs


def write_pairs(pairs: Iterable[Pair], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for pair in pairs:
            f.write(json.dumps(asdict(pair), ensure_ascii=False) + "\n")
            n += 1
    return n
