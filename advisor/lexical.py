"""The lexical (BM25) retrieval leg.

Chinese has no spaces: an English tokenizer would make a whole run of Han characters one token and BM25
would silently match nothing, so Chinese is segmented with jieba (search mode, which also emits the
shorter words inside long compounds: "定价策略" -> "定价", "策略", "定价策略"). English is lower-cased
and split on non-letters. Stopwords of both languages are dropped so that "的" or "the" cannot decide a
ranking.

An index over English text (the knowledge base's English view, advisor/bilingual.py) also stems its English
words (Snowball, `stem=True`): a founder asks "how should I price" of a passage that says "pricing
strategies". The original index keeps exact words: its Chinese playbook figures were measured without stems.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence

import bm25s
import jieba
import numpy as np

from indexing.store import search_text
from indexing.types import Chunk
from textkit import han_run

jieba.setLogLevel(logging.WARNING)  # jieba prints its dictionary loading to stderr otherwise
# bm25s sets its own logger to DEBUG: every index build printed "DEBUG Building index from tokens" to the CLI.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_HAN_RUN = re.compile(han_run())
_WORD = re.compile(r"[a-z0-9]+(?:[.\-+][a-z0-9]+)*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


EN_STOPWORDS = _words(
    """a an the and or but if then else of to in on at by for with from into onto about as is are was were
    be been being do does did doing have has had having i me my we our you your he she it its they them
    their this that these those what which who whom whose when where why how can could should would will
    shall may might must not no nor so than too very just also any some such own same other more most
    there here up down out over under again further once all both each few only s t don doesn isn aren
    please tell explain give know want need like e g eg i.e etc vs"""
)

ZH_STOPWORDS = _words(
    """的 了 是 在 和 与 及 或 也 就 都 而 并 但 被 把 让 对 从 向 为 以 于 之 其 这 那 这个 那个 这些 那些 一个
    一些 一种 我 我们 你 你们 他 她 它 他们 什么 怎么 怎样 如何 为什么 哪些 哪个 吗 呢 吧 啊 呀 嘛 请 请问
    能 能否 可以 应该 需要 要 会 有 有没有 没有 还 又 再 更 最 很 非常 等 等等 哪 多少 是否 一下 告诉 说 说说
    讲讲 介绍 以及 关于 有关 方面 时候 进行 通过 因为 所以 如果 那么 然后 呢 吗 么"""
)


def tokenize(text: str, *, stem: bool = False) -> list[str]:
    """Lower-cased English words (Snowball stems with `stem`) + jieba-segmented Chinese words, stopwords
    and punctuation removed."""
    tokens: list[str] = []
    lowered = text.lower()
    pos = 0
    for run in _HAN_RUN.finditer(lowered):
        tokens.extend(_latin_tokens(lowered[pos : run.start()], stem))
        tokens.extend(w for w in jieba.cut_for_search(run.group()) if w not in ZH_STOPWORDS)
        pos = run.end()
    tokens.extend(_latin_tokens(lowered[pos:], stem))
    return tokens


def _latin_tokens(text: str, stem: bool) -> list[str]:
    words = [w for w in _WORD.findall(text) if w not in EN_STOPWORDS]
    return [_stem(w) for w in words] if stem else words


@functools.lru_cache(maxsize=8192)  # a corpus and its questions repeat the same few thousand words
def _stem(word: str) -> str:
    return _snowball().stem(word)


@functools.lru_cache(maxsize=1)
def _snowball():
    from nltk.stem.snowball import SnowballStemmer  # imported once, on the first stemmed text

    return SnowballStemmer("english")


class LexicalIndex:
    """BM25 over what is embedded for each chunk (indexing's search_text: its document's title, section
    path and text; the heading words are strong evidence of topic);
    `stem`: English words are compared by their Snowball stems, in the chunks and in the queries."""

    def __init__(self, chunks: Sequence[Chunk], *, stem: bool = False):
        self.chunks = list(chunks)
        self.stem = stem
        corpus = [tokenize(search_text(c), stem=stem) or ["<empty>"] for c in self.chunks]
        self._bm25 = bm25s.BM25()
        if self.chunks:
            self._bm25.index(corpus, show_progress=False)
        self._vocab = set(self._bm25.vocab_dict) if self.chunks else set()

    def coverage(self, query: str) -> float:
        """Share of the query's terms that occur in the corpus at all (0..1).

        An English question against a Chinese corpus matches only stray Latin tokens ("ai"), and BM25
        then ranks by noise; the retriever weights this leg by coverage so such a list barely counts.
        """
        terms = tokenize(query, stem=self.stem)
        return sum(t in self._vocab for t in terms) / len(terms) if terms else 0.0

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk position, BM25 score) best first; only chunks sharing at least one term with the query."""
        terms = [t for t in tokenize(query, stem=self.stem) if t in self._vocab]
        if not terms or not self.chunks:
            return []
        scores = np.asarray(self._bm25.get_scores(terms))
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]
