"""Hybrid retrieval: dense (FAISS via the embedder) + lexical (BM25 over jieba tokens), fused by RRF.

Pipeline for one (standalone) question:

1. Queries: the question itself, plus, for an English question with settings.translate_queries (off by
   default) and a translator (the factory gives the LLM one), the model's Chinese rendering of it. The
   knowledge base is Chinese, BM25 cannot cross languages and the multilingual embedder only
   approximately; the English view (step 2) now bridges that with no model call before retrieval, as
   well as the rendering did (config/settings.py, translate_queries).
2. Each query runs through both legs (settings.candidate_k candidates each), over the chunks and over the
   knowledge base's view in the query's language when there is one (settings.bilingual_views,
   bilingual.py: an English query meets a Chinese chunk through its English rendering, a Chinese query an
   English chunk through its Chinese rendering, every chunk in the query's language);
   reciprocal rank fusion (settings.rrf_k) merges all ranked lists without having to calibrate cosine
   against BM25 scores. A view's hit counts for the original chunk.
3. Chunks under a section that names the question's topic get a small boost (topic.py), and every chunk
   settings.dense_weight times its best cosine (why: the note on the dense weight below).
4. Near-duplicate passages (the same text ingested twice, overlapping chunks) are collapsed.
5. Optional cross-encoder reranking (settings.reranker), then the top k.

"Weak retrieval" is decided on the best dense similarity alone (settings.min_dense_score): cosine is
comparable across questions, while RRF scores and BM25 scores are not.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from advisor.bilingual import IndexView
from advisor.condense import clean_rewrite
from advisor.generate import Generator
from advisor.lexical import LexicalIndex
from advisor.topic import section_matches_topic
from advisor.types import Topic
from config import Settings
from hostkit import resolve_device
from indexing import Chunk, Embedder, Hit, VectorIndex, passage_text
from textkit import detect_language
from textkit.untrusted import clean_passage

log = logging.getLogger(__name__)

Translator = Callable[[str], str]  # English question -> Chinese rendering ("" when there is none)
ViewSource = Callable[[], tuple[IndexView, ...]]  # the index's views as the renderings on disk make them

# A chunk under the topic's own section gets half of what ranking first in one more list would add:
# enough to lift "5.3.2 定价策略的类型" over a passing mention of pricing elsewhere, not enough to push
# an irrelevant chunk of the right chapter above a passage that both legs ranked highly.
TOPIC_BOOST_SHARE = 0.5

# Two passages whose character-4-gram sets overlap this much are the same passage for the reader.
NEAR_DUPLICATE_JACCARD = 0.85

# A BM25 list counts only when at least this share of its query's terms occur in the corpus. Below it the
# list ranks by stray matches: "What should I prepare before starting an AI company?" shares only "ai"
# with the Chinese playbook, and "公司没钱了怎么办" only "公司". Measured on the questions of
# bench/retrieval_questions.py: Chinese MRR@10 0.842 -> 0.858, English unchanged or better.
MIN_LEXICAL_COVERAGE = 0.5

# The dense weight. RRF keeps only ranks, so two passages a few places apart in four lists end within 2%
# of each other and the order between them is an accident of the lists: an added document's section that
# the cosine puts first can trail a playbook passage that BM25 and the Chinese rendering both list. A share
# of the cosine itself (settings.dense_weight per unit of cosine) breaks such near-ties and leaves clear RRF
# orders alone. Measured 2026-12-05 with the deployed translation, retrieval only (MRR at weights
# 0 / 0.05 / 0.1 / 0.2 / 0.5 / 1.0):
#   playbook answerable, zh 0.966 / 0.966 / 0.963 / 0.963 / 0.963 / 0.952; en 0.922 in all but 1.0 (0.918)
#   playbook on the index with the added documents 0.939 / 0.942 / 0.937 / 0.937 / 0.927 / 0.920
#   added documents, same language 0.951 / 1.000 / 1.000 / 1.000 / 0.985 / 0.985
#   added documents, across languages 0.896 / 0.911 / 0.911 / 0.927 / 0.888 / 0.886
# 0.05 is kept. At 0.2 a cosine gap of noise size (0.879 vs 0.872) put 7.3.2 成长策略 before 3.3.3 for
# "初创企业缺少算力和数据时可以采取什么策略？", and the full run answered it with market-expansion steps
# (run F, 2026-12-05 20:38); 0.2 did lead "What business models can an AI large-model startup use?" with
# 5.2.1 (cosine 0.927) instead of 9.2.1 (0.915, RRF 0.0530 vs 0.0521), 0.05 does not.
# In a conversation it is not used. On the 84 follow-ups of evals/datasets/conversations.jsonl (the real
# condensation and context boost) 0.2 took hit@1 / MRR from 0.789 / 0.860 to 0.724 / 0.827 (0.05: 0.789 /
# 0.865): nine follow-ups lost their gold section to a sibling closer to the rewritten question's words
# (the lessons of GTP.ai's failure to its reasons, funding-risk handling to risk management), four gained.

# A follow-up's context names its part of the knowledge base by the families of this many best chunks.
CONTEXT_SECTIONS = 2

_SECTION_NUMBER = re.compile(r"^((?:[A-Z]|\d{1,2})(?:\.\d{1,2})+)(?![0-9.])")


def section_family(section: str) -> str:
    """The number of the section a heading path's last section belongs to: "… › 5.3.2 定价策略的类型" ->
    "5.3", "… › A.2 数据集与资源" -> "A"; "" for a heading without a number."""
    last = section.rsplit("›", 1)[-1].strip()
    found = _SECTION_NUMBER.match(last)
    return found.group(1).rsplit(".", 1)[0] if found else ""


# The reranker sees this many times k fused candidates.
RERANK_POOL_FACTOR = 3


@dataclass(frozen=True)
class Retrieval:
    """What one retrieval found, and why it is (or is not) strong enough to answer from."""

    hits: tuple[Hit, ...]
    queries: tuple[str, ...]  # the texts actually searched (question + renderings)
    best_dense: float  # best cosine similarity of any chunk to any query
    weak: bool  # best_dense < settings.min_dense_score: too far from anything in the knowledge base
    dense_scores: dict[str, float] = field(default_factory=dict)  # chunk_id -> best cosine
    # Whether any query shared a term with the corpus (None when the BM25 leg is off). Small talk in
    # the corpus's own language can reach a fair cosine ("今天天气怎么样" ~0.84 with e5) while sharing
    # no word with it, so the advisor reads this together with best_dense to call a question off-topic.
    lexical_match: bool | None = None


# A Chinese rendering of one question fits in this many tokens; more means the model began answering.
TRANSLATE_MAX_NEW_TOKENS = 64


def llm_translator(
    generator: Generator, cache_size: int = 256, before: Callable[[], object] | None = None
) -> Translator:
    """Render an English question in Chinese with the LLM (prompts/translate.zh.txt).

    Chosen over the glossary rendering (advisor/glossary.py) by measurement on the 26 English questions
    of bench/retrieval_questions.py against the real index (multilingual-e5-small, hybrid, topic
    boost): no translation hit@5 25/26, MRR@10 0.869; glossary 24/26, 0.800 (its bag of terms pulls in
    passages that share one word); LLM rendering 26/26, 0.917. It also keeps English questions clear of
    the weak-retrieval floor: cross-language cosines are compressed (the weakest answerable English
    question reached 0.763 < min_dense_score 0.78 alone, 0.869 with its rendering). It costs one short
    generation per English question, so renderings are cached (the evals and the app repeat questions).
    `before` runs right before the model is called (the knowledge cache restores the prompt's KV file).
    """
    from advisor.prompting import translate_messages

    @functools.lru_cache(maxsize=cache_size)
    def translate(question: str) -> str:
        if before is not None:
            before()
        reply = "".join(generator.stream(translate_messages(question), TRANSLATE_MAX_NEW_TOKENS, 0.0))
        return clean_rewrite(reply)

    return translate


class HybridRetriever:
    def __init__(
        self,
        index: VectorIndex,
        embedder: Embedder,
        settings: Settings,
        *,
        translator: Translator | None = None,
        reranker: Callable[[str, Sequence[str]], Sequence[float]] | None = None,
        views: ViewSource | None = None,
    ):
        if index.embedder_id != embedder.model_id:
            raise ValueError(
                f"the index was built with embedder {index.embedder_id!r} but the configured embedder is "
                f"{embedder.model_id!r}: rebuild the index (python -m indexing build) or change FA_EMBED_MODEL"
            )
        self.index = index
        self.embedder = embedder
        self.settings = settings
        self.translator = translator if settings.translate_queries else None
        self.reranker = reranker
        self.lexical = LexicalIndex(index.chunks) if settings.use_bm25 else None
        # Kept so that a chunk found only by BM25 still gets its true dense similarity (the floor and the
        # weak-retrieval decision use cosine). The knowledge base is small: N x 384 floats.
        self._vectors = index.vectors() if len(index) else np.zeros((0, embedder.dim), np.float32)
        self._position = {c.chunk_id: i for i, c in enumerate(index.chunks)}
        self._view_source = views
        self.views: tuple[IndexView, ...] = views() if views is not None and len(index) else ()

    def refresh_views(self) -> None:
        """Make the views again from the renderings now on disk (`python -m advisor prepare` made new ones)."""
        if self._view_source is not None and len(self.index):
            self.views = self._view_source()

    # --- public -------------------------------------------------------------------------------
    def queries_for(self, question: str) -> list[str]:
        queries = [question]
        if self.translator is not None and detect_language(question) == "en":
            try:
                rendering = self.translator(question).strip()
            except Exception as exc:  # a failed translation must not fail the question
                log.warning("query translation failed (%s); searching the question alone", exc)
                rendering = ""
            if rendering and rendering != question:
                queries.append(rendering)
        return queries

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        topic: Topic | None = None,
        context: Sequence[str] = (),
        context_weight: float = 0.0,
        own_words: str = "",
        own_words_weight: float = 0.0,
    ) -> Retrieval:
        """The k best passages for `question`.

        `context` (texts of the conversation so far: the previous question and answer) names the part of
        the knowledge base the conversation is in: chunks of the same family as its best sections (5.3.1,
        5.3.2 and 5.3.3 for an answer from 5.3.2) get `context_weight` / (rrf_k + 1), so a follow-up stays
        in that part while its own words choose the section inside it. Only the family is lifted, never
        the previous sections themselves: a follow-up mostly asks for what comes next (the lessons after
        the reasons of a failure), and lifting the answered section ranked it first (measured on
        evals/datasets/conversations.jsonl). The weak-retrieval decision and the dense scores read the
        question alone, so context never makes a question the knowledge base lacks look answerable.
        """
        k = k or self.settings.top_k
        if not question.strip():
            raise ValueError("cannot retrieve for an empty question")
        if not len(self.index):
            return Retrieval(hits=(), queries=(question,), best_dense=0.0, weak=True)
        queries = self.queries_for(question)
        own = own_words.strip()
        searched = [*queries, own] if own and own_words_weight > 0 and own not in queries else queries
        weights = [1.0] * len(queries) + [own_words_weight] * (len(searched) - len(queries))
        qvecs = np.asarray(self.embedder.embed(searched, kind="query"), dtype=np.float32)
        dense_all, view_of = self._dense(searched, qvecs)
        # The floor and the tie-break read the question (and its rendering) only: a follow-up's own words
        # ("Tell me more") are not a question the knowledge base could answer on their own.
        best_per_chunk = dense_all[:, : len(queries)].max(axis=1)

        fused = self._fuse(self._ranked_lists(searched, qvecs, dense_all, view_of, weights))
        if topic and topic != "other":
            boost = TOPIC_BOOST_SHARE / (self.settings.rrf_k + 1)
            for pos in fused:
                if _section_on_topic(self.index.chunks[pos], topic):
                    fused[pos] += boost
        families = self._context_families(context) if context_weight > 0 else set()
        if families:
            boost = context_weight / (self.settings.rrf_k + 1)
            for pos in fused:
                if section_family(self.index.chunks[pos].section) in families:
                    fused[pos] += boost

        if self.settings.dense_weight > 0 and not families:
            # Not in a conversation: there the context's family is the tie-breaker, and the cosine of a
            # rewritten follow-up ("How do I handle funding risk?") leans to the generic section (see above).
            for pos in fused:
                fused[pos] += self.settings.dense_weight * float(best_per_chunk[pos])
        order = sorted(fused, key=lambda p: (-fused[p], -best_per_chunk[p]))
        order = _drop_near_duplicates(order, [self.index.chunks[p].text for p in range(len(self.index))])
        if self.reranker is not None:
            order = self._rerank(question, order[: k * RERANK_POOL_FACTOR])
        top = order[:k]
        # A hit carries its passage as data only: what an added document says to an AI reader is cut out
        # here, so the prompt, the gate, the quotes and the sources panel never show it.
        as_data = _as_data if self.settings.passages_as_data else _as_is
        hits = tuple(
            Hit(chunk=as_data(self.index.chunks[p]), score=float(fused[p]), rank=r)
            for r, p in enumerate(top, 1)
        )
        best = float(best_per_chunk.max())
        lexical_match = None
        if self.lexical is not None:
            lexical_match = any(
                self._lexical_for(view).search(q, 1)
                for q, view in zip(queries, view_of[: len(queries)], strict=True)
            )
        return Retrieval(
            hits=hits,
            queries=tuple(queries),
            best_dense=best,
            weak=best < self.settings.min_dense_score,
            dense_scores={self.index.chunks[p].chunk_id: float(best_per_chunk[p]) for p in top},
            lexical_match=lexical_match,
        )

    def _fuse(self, lists: Sequence[tuple[float, Sequence[int]]]) -> dict[int, float]:
        """Reciprocal rank fusion of weighted ranked lists of chunk positions."""
        fused: dict[int, float] = {}
        for weight, ranked in lists:
            for rank, pos in enumerate(ranked, 1):
                fused[pos] = fused.get(pos, 0.0) + weight / (self.settings.rrf_k + rank)
        return fused

    def _dense(self, queries: Sequence[str], qvecs: np.ndarray) -> tuple[np.ndarray, list[IndexView | None]]:
        """(chunks x queries cosines, the view each query searched)."""
        dense_all = self._vectors @ qvecs.T  # (chunks, queries) cosine
        # A query in a view's language searches every chunk in its form in that language: the view's rows
        # where it shows the chunk otherwise (rendered), the chunk itself elsewhere. Merged, not added: as
        # extra ranked lists, the chunks a view shows unchanged (English documents, for English questions)
        # were counted twice and crowded the rendered ones out (zh doc asked in English: hit@3 0.39). A
        # chunk is as close as its nearer form: an English question's cosine to the English rendering of a
        # Chinese chunk is a same-language cosine, as the LLM's Chinese rendering of the question gave.
        view_of = self._views_for(queries)
        for i, view in enumerate(view_of):
            if view is not None:
                dense_all[:, i] = np.maximum(dense_all[:, i], view.vectors @ qvecs[i])
        return dense_all, view_of

    def _context_families(self, context: Sequence[str]) -> set[str]:
        """The section families of the CONTEXT_SECTIONS chunks the context texts retrieve best."""
        texts = [c for c in context if c.strip()]
        if not texts:
            return set()
        vecs = np.asarray(self.embedder.embed(texts, kind="query"), dtype=np.float32)
        fused = self._fuse(self._ranked_lists(texts, vecs, *self._dense(texts, vecs)))
        best = sorted(fused, key=lambda p: -fused[p])[:CONTEXT_SECTIONS]
        return {family for p in best if (family := section_family(self.index.chunks[p].section))}

    # --- legs ---------------------------------------------------------------------------------
    def _views_for(self, queries: Sequence[str]) -> list[IndexView | None]:
        """The view each query searches: the one in its language, if any (the original index otherwise)."""
        by_language = {view.language: view for view in self.views}
        return [by_language.get(detect_language(q)) for q in queries]

    def _lexical_for(self, view: IndexView | None) -> LexicalIndex:
        return view.lexical if view is not None and view.lexical is not None else self.lexical  # type: ignore[return-value]

    def _ranked_lists(
        self,
        queries: Sequence[str],
        qvecs: np.ndarray,
        dense: np.ndarray,
        view_of: Sequence[IndexView | None],
        weights: Sequence[float] | None = None,
    ) -> list[tuple[float, list[int]]]:
        """(weight, ranked chunk positions) per leg and query. Dense lists weigh 1; a BM25 list weighs
        the share of its query's terms the corpus knows (lexical.coverage). A query with a view ranks by
        `dense` (its merged cosines) and searches the view's BM25. `weights` scales each query's lists."""
        n = self.settings.candidate_k
        weights = list(weights) if weights is not None else [1.0] * len(queries)
        lists = []
        for i, hits in enumerate(self.index.search(qvecs, n)):
            if view_of[i] is None:
                lists.append((weights[i], [self._position[h.chunk.chunk_id] for h in hits]))
                continue
            # Only the merged list: keeping the original one too (at weight 0.5) raised English playbook MRR
            # 0.883 -> 0.913 but gave English documents a second same-language list against a Chinese
            # question's Chinese view (en doc asked in Chinese: MRR 0.649 -> 0.229).
            lists.append((weights[i], [int(p) for p in np.argsort(-dense[:, i], kind="stable")[:n]]))
        if self.lexical is not None:
            for query, view, weight in zip(queries, view_of, weights, strict=True):
                lists += [(w * weight, r) for w, r in _lexical_lists(self._lexical_for(view), [query], n)]
        return lists

    def _rerank(self, question: str, order: list[int]) -> list[int]:
        passages = [passage_text(self.index.chunks[p]) for p in order]
        scores = list(self.reranker(question, passages))
        return [p for _s, p in sorted(zip(scores, order, strict=True), key=lambda sp: -sp[0])]


def _lexical_lists(lexical: LexicalIndex, queries: Sequence[str], n: int) -> list[tuple[float, list[int]]]:
    """(coverage, ranked positions) of each query's BM25 list, for the queries the corpus covers enough."""
    lists = []
    for query in queries:
        coverage = lexical.coverage(query)
        if coverage < MIN_LEXICAL_COVERAGE:
            continue
        ranked = [pos for pos, _score in lexical.search(query, n)]
        if ranked:
            lists.append((coverage, ranked))
    return lists


def _section_on_topic(chunk: Chunk, topic: Topic) -> bool:
    """Whether the chunk's own headings name the topic. A document's title does not count: it names the
    whole document, yet only the text before its first heading has it as its path, so "早期团队招聘指南"
    (a team guide) lifted its two-line intro over its own sections and every other document for any team
    question (evals/README.md, "Added documents, heading level")."""
    if chunk.title and chunk.section == chunk.title:
        return False
    return section_matches_topic(chunk.section, topic)


def _as_is(chunk: Chunk) -> Chunk:
    return chunk


@functools.lru_cache(maxsize=4096)  # a chunk is immutable; the patterns cost ~1 ms a sentence
def _as_data(chunk: Chunk) -> Chunk:
    cleaned = clean_passage(chunk.text)
    if not cleaned.removed:
        return chunk
    log.info("cut %d instruction-shaped span(s) from a passage of %s", len(cleaned.removed), chunk.source)
    return replace(chunk, text=cleaned.text)


def _shingles(text: str) -> set[str]:
    t = re.sub(r"\s+", "", text.lower())
    return {t[i : i + 4] for i in range(max(len(t) - 3, 1))}


def _drop_near_duplicates(order: list[int], texts: Sequence[str]) -> list[int]:
    kept: list[int] = []
    kept_shingles: list[set[str]] = []
    for pos in order:
        sh = _shingles(texts[pos])
        if any(
            len(sh & other) / max(len(sh | other), 1) >= NEAR_DUPLICATE_JACCARD for other in kept_shingles
        ):
            continue
        kept.append(pos)
        kept_shingles.append(sh)
    return kept


def cross_encoder_reranker(
    model: str, device: str = "cpu"
) -> Callable[[str, Sequence[str]], Sequence[float]]:
    """A sentence-transformers CrossEncoder (HF id or local folder) as a reranker; imported lazily."""
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:  # pragma: no cover - sentence-transformers is a base dependency
        raise RuntimeError(
            "settings.reranker needs sentence-transformers: pip install sentence-transformers"
        ) from exc
    encoder = CrossEncoder(model, device=resolve_device(device))

    def rerank(question: str, passages: Sequence[str]) -> Sequence[float]:
        return encoder.predict([(question, p) for p in passages], show_progress_bar=False).tolist()

    return rerank
