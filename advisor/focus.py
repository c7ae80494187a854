"""Focus: give the model only the part of the retrieved passages the question is about.

Readers found the most common defect of the answers was drift (34 of 185 answers of the 2026-12-04 run,
23 of them English): asked "What does designing an AI large-model product involve?", the 1.5B model
also lists the development steps of the neighbouring section; asked "How does cost-based pricing work?",
it explains all four pricing types of the list it read. Retrieval was right (the top passage was the
gold section in 95 of 101 answerable questions); the model simply uses everything it is given. So the
passages are narrowed before generation, step by step, each only on clear evidence:

* **Section**: the read passages come from several playbook sections; when the question names the top
  passage's section (the words of its heading that set it apart from the other headings: 设计 vs 开发,
  创新 vs 要素) clearly better than any other section, only that section's passages are read; when it names
  nothing of the top passage's section, a lower section it names clearly is read instead. Before that, a
  question about one name that a lower passage lists as an item (COCO) reads that passage when the top
  one lacks the name.
* **Example**: a case passage that only illustrates a list the model also reads is left out (examples.py).
* **Item**: when the question names one item of a list in the remaining passage, all of its name
  ("- **成本导向定价**：…"), and is not itself a list question ("有哪些…", "What are the steps…"), that passage keeps its lead and
  that item only.

"Names" is decided on words: a Chinese heading or item word counts as named when the question (or, for
an English question, its Chinese rendering used for retrieval) contains it, or when its CC-CEDICT senses
(advisor/support_bridge.py) share a stem with the English question. Words every heading or item shares
(定价, 风险, 盈利模式) decide nothing. Fewer passages also mean fewer prompt tokens, which on two cores are
most of the time to the first word.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from functools import lru_cache

import jieba

from advisor.examples import LIST_ITEM as _ITEM
from advisor.examples import without_redundant_examples
from advisor.prompting import glossary
from advisor.references import asked_names
from advisor.selection import option_fitting
from advisor.support_bridge import dictionary, english_stems
from indexing import Hit, search_text

jieba.setLogLevel(logging.WARNING)

# Heading words that set no section apart: the playbook's subject, function words, list words.
_GENERIC = {"ai", "大模型", "创业", "的", "与", "和", "及", "之", "在", "中", "分析", "概述", "介绍"}
# A section is chosen only when the question names this share of its distinguishing heading words ...
MIN_SECTION_MATCH = 0.5
# ... and names the next best section by this much less.
MIN_SECTION_LEAD = 0.25
# A section ranked within this share of the top passage's fused score is as close a match as the top one.
CLOSE_RANK_RATIO = 0.99
# A question naming more list items than this is comparing or listing them: the passages stay whole.
MAX_NAMED_ITEMS = 2
_LIST_QUESTION = re.compile(
    r"哪些|哪几|几种|几个|有什么|包括什么|包含什么|步骤|流程|列出|"
    r"\b(?:which|what are|list|steps?|types|kinds|elements|components|ways)\b",
    re.IGNORECASE,
)


def focus_passages(
    question: str,
    hits: Sequence[Hit],
    renderings: Sequence[str] = (),
    *,
    drop_examples: bool = True,
    asked: str = "",
) -> list[Hit]:
    """The passages to read for `question`: all of `hits`, or the part of them it names (see module doc).

    `asked` is a follow-up as the founder wrote it, when `question` is its rewrite: the item it asks about
    is in its own words, while the rewrite also names what the conversation was about."""
    if not hits:
        return []
    hits = _listing_the_name(question, hits)
    matcher = _Matcher(question, renderings, asked)
    fitting = option_fitting(matcher.asked or question, hits, _leaf)
    if fitting is not None:  # "Which of those suits …?": the option the condition describes (selection.py)
        hits = [h for h in hits if _leaf(h) == fitting]
    else:
        hits = _focus_section(list(hits), matcher)
    if drop_examples:
        hits = without_redundant_examples(question, hits, matcher.names)
    if not _LIST_QUESTION.search(question):
        hits = _focus_items(hits, matcher)
    return hits


def _listing_the_name(question: str, hits: Sequence[Hit]) -> Sequence[Hit]:
    """The passages whose list has an item named by the one name the question asks about (COCO, ImageNet),
    when the top passage does not have that name at all.

    "Tell me more about the COCO dataset." ranked 2.3.1 预训练模型概述 (pre-training on large data sets)
    above A.2, which lists "**COCO数据集**"; the model read 2.3.1 first and said the knowledge base did not
    cover the question (conv-en-appendix). A name merely mentioned lower down moves nothing."""
    names = asked_names(_TITLE.sub(" ", question))
    if len(names) != 1 or names[0].lower() in search_text(hits[0].chunk).lower():
        return hits
    name = names[0].lower()
    listing = [h for h in hits if any(name in item.lower() for item in item_names([h.chunk.text]))]
    return listing or hits


# Heading words a question asks for without saying them: "为什么失败" asks for 失败原因分析. Without this,
# "那个失败的案例呢？它为什么失败？" named 6.2.1 案例介绍 (案例) better than 6.2.2 失败原因分析 and read only the
# case's introduction (zh-multi-02, run C). A question naming the lessons and the case names both sections,
# so all of them are read: the lessons' section alone was tried for "What lessons…" (run C) and its four
# items came back padded with invented commentary.
_LESSONS = re.compile(r"借鉴|学到|\b(?:lessons?|learn\w*|takeaways?)\b", re.IGNORECASE)
_ASKED_BY = {
    "原因": re.compile(r"为什么|为何|怎么会|原因|\b(?:why|reasons?|causes?)\b", re.IGNORECASE),
    # 6.1.3 经验与启示 is where the lessons of the success case are; CC-CEDICT gives 经验 "experience" and
    # 启示 "enlightenment", so "What lessons does the OpenAI case offer?" named only 6.1.1 案例介绍 (case),
    # read that introduction alone and was refused as unsupported (en-case-success-02, run L).
    "经验": _LESSONS,
    "启示": _LESSONS,
    # 6.2.3 失败教训与反思: "那GTP.ai的教训是什么？" named only 教训 of its three words, below the share that
    # decides, so the model read 6.2.1-6.2.3 and wrote the causes again (conv-en-zh-gtp-lessons). Only the
    # Chinese word: "What lessons…from GTP.ai's failure?" read with 6.2.3 alone padded each lesson with
    # "GTP.ai's failure highlighted the importance of…" (conv-issue-gtp-lessons), and read whole was clean.
    "反思": re.compile(r"教训"),
}


# "如何应对这些挑战？" asks for the ways to cope, not for the challenges: 挑战 named 3.3.2 AI大模型创业挑战,
# which was read alone and its challenges listed again, while 3.3.3 AI大模型创业策略 opens "为了应对上述挑战"
# (conv-zh-opportunity-challenge). In choosing a section, a question that copes with something names the
# sections of strategies and responses, and the problem it copes with names none.
_COPES = re.compile(
    r"应对|解决(?!方案)|克服|化解|怎么办|\b(?:cope|coping|deal(?:ing)? with|tackle|overcome|handl\w*|address\w*)\b",
    re.IGNORECASE,
)
# A book's title names the book, not a heading: 《神经网络与深度学习》 is one of A.3's books, and its words
# named 2.1.1 神经网络原理 for "推荐的中文深度学习教材《神经网络与深度学习》是谁写的？" (zh-appendix-04).
_TITLE = re.compile(r"《[^《》]*》")
_COPING_WORDS = frozenset({"策略", "应对", "对策", "措施"})
_PROBLEM_WORDS = frozenset({"挑战", "风险", "问题", "困难", "障碍"})


class _Matcher:
    """Whether the question names a Chinese word: in its own text, its renderings, by the kind of thing it
    asks for (_ASKED_BY), or via the dictionary."""

    def __init__(self, question: str, renderings: Sequence[str], asked: str = ""):
        self.texts = [question.lower(), *(r.lower() for r in renderings if r)]
        self.stems = set(english_stems(question))
        self.heading_texts = [_TITLE.sub(" ", text) for text in self.texts]
        self.heading_stems = set(english_stems(_TITLE.sub(" ", question)))
        self.asked = asked.lower() if asked.strip() and asked.strip() != question.strip() else ""
        self.asked_stems = set(english_stems(asked)) if self.asked else set()
        self.copes = any(_COPES.search(text) for text in self.texts)

    def names(self, word: str, *, heading: bool = False) -> bool:
        """`heading`: the word is a heading's, which what a title in 《》 says does not name."""
        texts, stems = (self.heading_texts, self.heading_stems) if heading else (self.texts, self.stems)
        if any(word.lower() in text for text in texts):
            return True
        asked_by = _ASKED_BY.get(word)
        if asked_by is not None and any(asked_by.search(text) for text in texts):
            return True
        return bool(stems and dictionary().get(word, frozenset()) & stems)

    def writes(self, name: str) -> bool:
        """The name itself is in the question or a rendering, or the question has its glossary English."""
        return _written(name, self.texts, self.stems)

    def asked_writes(self, name: str) -> bool:
        """The founder's own follow-up (not its rewrite) writes the name, or its glossary English."""
        return bool(self.asked) and _written(name, [self.asked], self.asked_stems)

    def names_whole(self, name: str) -> bool:
        """Every word of a list item's name is named, or its glossary English is ("cost-based pricing")."""
        english = set(english_stems(glossary().get(name, "")))
        if english and english <= self.stems:
            return True
        return self.share(term_words(name)) == 1.0

    def share(self, words: Sequence[str], *, heading: bool = False) -> float:
        return sum(self.names(w, heading=heading) for w in words) / len(words) if words else 0.0

    def section_share(self, words: Sequence[str]) -> float:
        """share() of a heading's words, for choosing a section: in a question that copes with something,
        a coping word is named and a problem word is not (_COPES)."""
        if not self.copes:
            return self.share(words, heading=True)
        named = [
            (w in _COPING_WORDS or self.names(w, heading=True)) and w not in _PROBLEM_WORDS for w in words
        ]
        return sum(named) / len(words) if words else 0.0


def _written(name: str, texts: Sequence[str], stems: set[str]) -> bool:
    """`name` stands in one of the (lower-cased) texts, or its glossary English is all in `stems`."""
    english = set(english_stems(glossary().get(name, "")))
    return any(name.lower() in text for text in texts) or bool(english and english <= stems)


@lru_cache(maxsize=4096)
def term_words(title: str) -> tuple[str, ...]:
    title = re.sub(r"^[\dA-Z]+(?:\.\d+)*\s*", "", title.strip())  # "5.3.2 " / "A.1 "
    # The finest words: a compound (团队精神, 市场调研) is named only when each of its parts is, since a
    # dictionary sense of the compound ("team") would otherwise let "team culture" name 团队精神.
    words = [w.strip() for w in jieba.lcut_for_search(title) if w.strip()]
    finest = [w for w in words if not any(o != w and len(o) >= 2 and o in w for o in words)]
    out = [w for w in finest if w.lower() not in _GENERIC and re.search(r"\w", w)]
    return tuple(dict.fromkeys(out))


def item_names(texts: Sequence[str]) -> list[str]:
    """The names of the bold list items ("- **成本导向定价**：…") in the texts, in order, once each."""
    return list(dict.fromkeys(m.group("name").strip() for text in texts for m in _ITEM.finditer(text)))


def _distinguishing(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each name's words that not every other name has (定价 in every pricing type decides nothing)."""
    words = {name: term_words(name) for name in names}
    shared = set.intersection(*(set(w) for w in words.values())) if words else set()
    return {name: tuple(w for w in ws if w not in shared) for name, ws in words.items()}


def _leaf(hit: Hit) -> str:
    return hit.chunk.section.split("›")[-1].strip()


def lead_family(hits: Sequence[Hit]) -> list[Hit]:
    """The first passage and those under the same parent heading (5.3.1, 5.3.2, 5.3.3 for a lead from 5.3.2),
    and from every other document among `hits`, its own first passage's family in the same way.

    Why the family: the answer is one passage's list (answer_format.lead_points drops the points that cite
    the lead document's other passages), and when it is not the first passage's it is a sibling's: of the
    43 answers of run D read from several passages, 4 cited another family (one a failed answer, one citing
    it beside the lead's). Every other family's passage was read for nothing, at ~70 tokens/s on two cores,
    and invited drift. Measured on 30 answerable questions (cache off, same machine): passages read 1.63
    -> 1.30, key-fact recall 0.897 -> 0.908, first token p95 en 18.2 s -> 9.2 s.

    Why per document: an incubator's document and the playbook are two sources that may each hold part of
    the answer (a term-sheet note beside the playbook's financing section); the passages of each that
    are close enough to be read (the advisor's dense margin) are read, each cited as its own source. With
    the playbook alone this is the lead's family.
    """
    if len(hits) < 2:
        return list(hits)
    first_family: dict[str, tuple[str, ...]] = {}
    for h in hits:
        first_family.setdefault(h.chunk.source, _family(h))
    keep = set(first_family.values())
    return [h for h in hits if _family(h) in keep]


def _family(hit: Hit) -> tuple[str, ...]:
    return hit.chunk.family


def _focus_section(hits: list[Hit], matcher: _Matcher) -> list[Hit]:
    leaves = list(dict.fromkeys(_leaf(h) for h in hits))
    if len(leaves) < 2:
        return hits
    # A list item the question names whole that only another section lists decides against a heading:
    # "Why does openness and cooperation matter?" named 6.1.2 成功原因分析 by its "why", while 开放与合作 is
    # one of 6.1.3's lessons; 6.1.2 was read alone and the answer refused (conv-en-success-then-opensource).
    named_items = {name for name in item_names([h.chunk.text for h in hits]) if matcher.names_whole(name)}
    chosen = _named_sections(hits, leaves, matcher, named_items)
    if chosen is None and matcher.asked:
        # A follow-up's rewrite also names what the conversation was about: "怎么优化它？" became "如何优化企业
        # 运营管理体系？", naming 7.2.2 运营管理体系 as well as 7.2.3 运营管理优化, so all were read and the
        # model listed 7.2.2's system again (conv-zh-ops-optimise-risk). The founder's words name the point.
        chosen = _named_sections(hits, leaves, _Matcher(matcher.asked, ()), named_items)
    return hits if chosen is None else [h for h in hits if _leaf(h) in chosen]


def _named_sections(
    hits: list[Hit], leaves: list[str], matcher: _Matcher, named_items: set[str]
) -> set[str] | None:
    """The section(s) among `leaves` the question names clearly better than the rest, or None; None too
    when the question names list items (`named_items`) none of which the chosen section has or is about."""
    words = _distinguishing(leaves)
    # Coping decides only where no list item is named: "如何应对资金风险？" reads the 资金风险 item of 9.3.3
    # and of 9.3.1 as before; read from 9.3.3's alone, the 1.5B lost half of it ("理论上合理规划资金使用",
    # run O) and padded the legal one.
    share = (lambda ws: matcher.share(ws, heading=True)) if named_items else matcher.section_share
    scores = {leaf: share(ws) for leaf, ws in words.items()}
    # The section to read: the top passage's, or one ranked as close to the top that the question names
    # better ("…expand its market?" ranked 7.3.2 成长策略 0.0481 and 9.2.2 市场拓展策略 0.0479).
    best_score = {}
    for h in hits:
        best_score.setdefault(_leaf(h), h.score)
    top = _leaf(hits[0])
    close = [leaf for leaf in leaves if best_score[leaf] >= CLOSE_RANK_RATIO * hits[0].score]
    chosen = max(close, key=lambda leaf: (scores[leaf], leaf == top))
    items = {leaf: frozenset(item_names([h.chunk.text for h in hits if _leaf(h) == leaf])) for leaf in leaves}
    if scores[chosen] == 0.0 and not named_items & items[top]:
        # The question names nothing of the top passage's section, neither its heading nor an item of its
        # list: a section further down that it names clearly is what it asks for. "What can other founders
        # learn from OpenAI?" ranked 6.1.2 成功原因分析 first and 6.1.3 经验与启示 third (0.0356 vs 0.0340);
        # all five passages were read and the model recast the reasons as lessons
        # (conv-en-openai-lessons-failure). Checked on the 195 answerable and follow-up questions: four
        # more read their gold section, none lost it.
        chosen = max(leaves, key=lambda leaf: (scores[leaf], leaf == top))
    # Sections that are one (7.3.3 and 9.2.2: both 市场拓展策略, the same four items) are read together;
    # headings alike but about different things (6.1.1 and 6.2.1, both 案例介绍, no list) are not.
    same = {
        leaf
        for leaf in leaves
        if leaf == chosen or (words[leaf] == words[chosen] and items[leaf] and items[leaf] == items[chosen])
    }
    runner_up = max((score for leaf, score in scores.items() if leaf not in same), default=0.0)
    if not _clearly_named(scores[chosen], runner_up):
        return None
    if named_items and not named_items & items[chosen] and not any(name in chosen for name in named_items):
        return None
    return same


def named_section(question: str, sections: Sequence[str], renderings: Sequence[str] = ()) -> int | None:
    """The index of the section among `sections` whose heading the question names clearly better than the
    others' (on the words that set these headings apart), or None."""
    leaves = [s.split("›")[-1].strip() for s in sections]
    if len(set(leaves)) < 2:
        return None
    matcher = _Matcher(question, renderings)
    scores = {
        leaf: matcher.share(words, heading=True)
        for leaf, words in _distinguishing(list(dict.fromkeys(leaves))).items()
    }
    best = max(scores, key=lambda leaf: scores[leaf])
    runner_up = max(score for leaf, score in scores.items() if leaf != best)
    return leaves.index(best) if _clearly_named(scores[best], runner_up) else None


def _clearly_named(score: float, runner_up: float) -> bool:
    """The question names a section (by this share of its words) clearly better than the next one."""
    return score >= MIN_SECTION_MATCH and score - runner_up >= MIN_SECTION_LEAD


def _focus_items(hits: list[Hit], matcher: _Matcher) -> list[Hit]:
    """The passages holding the list item(s) the question names, each cut to its lead and those items."""
    names = item_names([h.chunk.text for h in hits])
    # The whole name must be named (成本导向定价, not just 优化 of 性能优化): an item word alone is too
    # common in questions that want the whole list ("如何迭代和优化" is answered by all of 4.3.3).
    chosen = {name for name in names if matcher.names_whole(name)}
    # A name the question writes as it stands beats one whose words it only has somewhere: "如何应对资金风险"
    # writes 资金风险 and has the words of 9.3.2's 风险应对 only by accident; reading that item too put a
    # generic risk-management point under a funding-risk question (en-risk-03) and cost ~95 prompt tokens.
    # In a follow-up, the founder's own words name the item asked; the rewrite adds what the conversation
    # was about: "那调研完之后产品定位怎么确定？" became "市场调研完成后，产品定位如何确定？", and 9.1.3 was read
    # with its 市场调研 item too, so the answer restated the research methods (issue conversation 1).
    verbatim = {name for name in chosen if matcher.asked_writes(name)} or {
        name for name in chosen if matcher.writes(name)
    }
    if verbatim:
        chosen = verbatim
    if not chosen or len(chosen) > MAX_NAMED_ITEMS or len(chosen) == len(names):
        return hits
    out = []
    for hit in hits:
        if any(name in _leaf(hit) for name in chosen):
            out.append(hit)  # a whole section about the item (7.3.3 市场拓展策略 for 市场拓展) stays whole
            continue
        trimmed = _keep_items(hit.chunk.text, chosen)
        if trimmed is not None:
            out.append(dataclasses.replace(hit, chunk=dataclasses.replace(hit.chunk, text=trimmed)))
    return out or hits


def _keep_items(text: str, chosen: set[str]) -> str | None:
    """The passage's lead (what precedes its list) and the chosen items, or None if it has none of them."""
    items = list(_ITEM.finditer(text))
    bounds = [m.start() for m in items] + [len(text)]
    keep = [
        text[bounds[i] : bounds[i + 1]].strip()
        for i, m in enumerate(items)
        if m.group("name").strip() in chosen
    ]
    if not keep:
        return None
    lead = text[: bounds[0]].rstrip()
    return "\n\n".join(part for part in [lead, "\n".join(keep)] if part)
