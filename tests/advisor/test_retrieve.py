"""Hybrid retrieval with the hash embedder: fusion, translation, de-duplication, floor, topic, reranker."""

from __future__ import annotations

import dataclasses

import pytest

from advisor.condense import (
    clean_rewrite,
    estimate_tokens,
    keeps_the_point,
    looks_like_follow_up,
    recent_history,
)
from advisor.generate import ScriptedGenerator
from advisor.retrieve import HybridRetriever, llm_translator
from indexing import HashEmbedder, VectorIndex
from tests.advisor.support import PRICING, PRICING_CASE, RISK, TEAM, TOOLS


def test_a_chinese_question_finds_its_section_first(index, embedder, fake_settings):
    found = HybridRetriever(index, embedder, fake_settings).retrieve("法律风险有哪些？", k=3)
    assert found.hits[0].chunk.section == RISK
    assert [h.rank for h in found.hits] == [1, 2, 3]
    assert not found.weak and found.lexical_match
    assert found.dense_scores[found.hits[0].chunk.chunk_id] == pytest.approx(found.best_dense, abs=0.3)


def test_an_english_question_is_also_searched_through_a_chinese_rendering_when_asked(
    index, embedder, fake_settings
):
    gen = ScriptedGenerator(["中文译文：法律风险有哪些？\n（解释）"])
    translating = fake_settings.model_copy(update={"translate_queries": True})
    off = HybridRetriever(index, embedder, fake_settings, translator=llm_translator(gen))
    assert off.retrieve("What are the legal risks?", k=3).queries == ("What are the legal risks?",)
    assert gen.calls == []  # off by default: no model call before retrieval
    retriever = HybridRetriever(index, embedder, translating, translator=llm_translator(gen))
    found = retriever.retrieve("What are the legal risks?", k=3)
    assert found.queries == ("What are the legal risks?", "法律风险有哪些？")
    assert "翻译" in gen.calls[0][0]["content"] and "What are the legal risks?" in gen.calls[0][-1]["content"]
    assert found.hits[0].chunk.section == RISK  # the hash embedder cannot cross languages: BM25 did it
    retriever.retrieve("What are the legal risks?")
    assert len(gen.calls) == 1  # renderings are cached
    retriever.retrieve("法律风险有哪些？")
    assert len(gen.calls) == 1  # a Chinese question needs none
    off = HybridRetriever(
        index,
        embedder,
        fake_settings.model_copy(update={"translate_queries": False}),
        translator=llm_translator(gen),
    )
    assert off.retrieve("What are the legal risks?").queries == ("What are the legal risks?",)


def test_a_failing_translator_degrades_to_the_question_alone(index, embedder, fake_settings):
    def broken(question):
        raise RuntimeError("model crashed")

    found = HybridRetriever(index, embedder, fake_settings, translator=broken).retrieve(
        "What are the legal risks?"
    )
    assert found.queries == ("What are the legal risks?",) and found.hits


def test_the_same_passage_ingested_twice_is_returned_once(chunks, embedder, fake_settings):
    twin = dataclasses.replace(chunks[0], chunk_id="copy:0-1", source="copy-of-playbook.md")
    index = VectorIndex.from_chunks([*chunks, twin], embedder)
    hits = HybridRetriever(index, embedder, fake_settings).retrieve("有哪些定价策略？", k=4).hits
    texts = [h.chunk.text for h in hits]
    assert len(texts) == len(set(texts)) == 4


def test_weak_retrieval_is_flagged_by_the_dense_floor(index, embedder, fake_settings):
    strict = fake_settings.model_copy(update={"min_dense_score": 0.99})
    found = HybridRetriever(index, embedder, strict).retrieve("有哪些定价策略？")
    assert found.weak and found.best_dense < 0.99 and found.hits  # hits are still offered as closest
    assert not HybridRetriever(index, embedder, fake_settings).retrieve("有哪些定价策略？").weak


def test_small_talk_shares_no_word_with_the_corpus(index, embedder, fake_settings):
    assert HybridRetriever(index, embedder, fake_settings).retrieve("今天天气怎么样").lexical_match is False
    no_bm25 = fake_settings.model_copy(update={"use_bm25": False})
    assert HybridRetriever(index, embedder, no_bm25).retrieve("今天天气怎么样").lexical_match is None


def test_the_topic_boosts_chunks_under_its_sections(index, embedder, fake_settings):
    retriever = HybridRetriever(index, embedder, fake_settings)
    question = "怎么做才能让公司活下去？"
    plain = {h.chunk.section: h.score for h in retriever.retrieve(question, k=6).hits}
    boosted = {h.chunk.section: h.score for h in retriever.retrieve(question, k=6, topic="risk").hits}
    assert boosted[RISK] > plain[RISK]
    assert boosted[PRICING] == pytest.approx(plain[PRICING])


def test_a_document_title_naming_the_topic_boosts_none_of_its_chunks(chunks, embedder, fake_settings):
    # A team guide: its intro's path is the title (which names the topic), its sections' paths do not.
    guide = [
        dataclasses.replace(
            chunks[0], chunk_id=f"guide:{i}", source="guide.md", title="早期团队招聘指南", **kw
        )
        for i, kw in enumerate(
            [
                {"section": "早期团队招聘指南", "text": "本指南由人力资源导师编写。"},
                {"section": "面试流程", "text": "面试流程控制在三轮以内。"},
            ]
        )
    ]
    retriever = HybridRetriever(VectorIndex.from_chunks([*chunks, *guide], embedder), embedder, fake_settings)
    question = "面试流程应该有几轮？"
    plain = {h.chunk.chunk_id: h.score for h in retriever.retrieve(question, k=10).hits}
    boosted = {h.chunk.chunk_id: h.score for h in retriever.retrieve(question, k=10, topic="team").hits}
    assert boosted["guide:0"] == pytest.approx(plain["guide:0"])
    assert boosted["guide:1"] == pytest.approx(plain["guide:1"])
    # A heading of the path still counts when it names the topic.
    titled_section = dataclasses.replace(guide[1], chunk_id="guide:2", section="团队 › 面试流程")
    retriever = HybridRetriever(
        VectorIndex.from_chunks([*chunks, titled_section], embedder), embedder, fake_settings
    )
    plain = {h.chunk.chunk_id: h.score for h in retriever.retrieve(question, k=10).hits}
    boosted = {h.chunk.chunk_id: h.score for h in retriever.retrieve(question, k=10, topic="team").hits}
    assert boosted["guide:2"] > plain["guide:2"]


def test_the_dense_weight_orders_near_ties_by_cosine_and_leaves_plain_rrf_at_zero(
    index, embedder, fake_settings
):
    question = "定价策略有哪些类型？"
    plain = HybridRetriever(index, embedder, fake_settings.model_copy(update={"dense_weight": 0.0}))
    weighted = HybridRetriever(index, embedder, fake_settings.model_copy(update={"dense_weight": 0.2}))
    by_cosine = HybridRetriever(index, embedder, fake_settings.model_copy(update={"dense_weight": 100.0}))
    plain_hits = plain.retrieve(question, k=6)
    # At 0 a score is the RRF sum alone: at most one 1/(rrf_k + 1) per ranked list (2 legs here).
    assert all(h.score <= 2 / (fake_settings.rrf_k + 1) for h in plain_hits.hits)
    found = weighted.retrieve(question, k=6)
    for h in found.hits:
        rrf = next((p.score for p in plain_hits.hits if p.chunk.chunk_id == h.chunk.chunk_id), None)
        if rrf is not None:
            assert h.score == pytest.approx(rrf + 0.2 * found.dense_scores[h.chunk.chunk_id], abs=1e-6)
    # In a conversation the context's family breaks ties, not the cosine of the rewritten question.
    context = {"context": ["有哪些定价策略？", "成本导向定价、价值导向定价。"], "context_weight": 1.0}
    in_conversation = weighted.retrieve(question, k=6, **context)
    assert [h.score for h in in_conversation.hits] == [
        h.score for h in plain.retrieve(question, k=6, **context).hits
    ]
    # A weight far above RRF's scale ranks by cosine alone.
    cos = by_cosine.retrieve(question, k=6)
    assert [cos.dense_scores[h.chunk.chunk_id] for h in cos.hits] == sorted(
        cos.dense_scores.values(), reverse=True
    )


def test_a_follow_ups_own_words_outweigh_the_words_its_rewrite_borrowed(index, embedder, fake_settings):
    # "那股权激励呢？" after a pricing answer, rewritten with the pricing words the conversation was about.
    retriever = HybridRetriever(index, embedder, fake_settings)
    rewrite, own = "定价策略的成本导向定价之后，怎么做股权激励？", "那股权激励呢？"
    alone = retriever.retrieve(rewrite, k=3)
    assert alone.hits[0].chunk.section == PRICING
    found = retriever.retrieve(rewrite, k=3, own_words=own, own_words_weight=1.0)
    assert found.hits[0].chunk.section == TEAM
    # The own words only rank: what was searched, the floor and the cosines are the rewrite's.
    assert found.queries == alone.queries == (rewrite,)
    assert found.best_dense == alone.best_dense and found.weak == alone.weak
    # At weight 0, or when the founder's words are the rewrite, nothing changes.
    for kwargs in (
        {"own_words": own, "own_words_weight": 0.0},
        {"own_words": rewrite, "own_words_weight": 1.0},
    ):
        assert [h.score for h in retriever.retrieve(rewrite, k=3, **kwargs).hits] == [
            h.score for h in alone.hits
        ]


def test_a_reranker_reorders_the_fused_candidates(index, embedder, fake_settings):
    def prefers_frameworks(question, passages):
        return [1.0 if "PyTorch" in p else 0.0 for p in passages]

    retriever = HybridRetriever(index, embedder, fake_settings, reranker=prefers_frameworks)
    assert retriever.retrieve("有哪些定价策略？", k=2).hits[0].chunk.section == TOOLS


def test_bm25_can_be_switched_off(index, embedder, fake_settings):
    dense_only = fake_settings.model_copy(update={"use_bm25": False})
    hits = HybridRetriever(index, embedder, dense_only).retrieve("定价策略的案例，基础版每月1000元", k=2).hits
    assert hits[0].chunk.section in (PRICING, PRICING_CASE)


def test_an_index_built_with_another_embedder_is_refused(index, fake_settings):
    with pytest.raises(ValueError, match="rebuild the index"):
        HybridRetriever(index, HashEmbedder(dim=128), fake_settings)


def test_an_empty_question_is_an_error(index, embedder, fake_settings):
    with pytest.raises(ValueError):
        HybridRetriever(index, embedder, fake_settings).retrieve("  ")


# --- condensation helpers -----------------------------------------------------------------------------


def test_recent_history_keeps_the_newest_turns_within_the_token_budget(fake_settings):
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"消息{i}" * 50} for i in range(10)]
    settings = fake_settings.model_copy(update={"history_turns": 6, "history_tokens": 250})
    kept = recent_history(history, settings)
    assert [m["content"] for m in kept] == [m["content"] for m in history[-2:]]  # ~113 tokens each
    assert sum(estimate_tokens(m["content"]) for m in kept) <= 250
    none = fake_settings.model_copy(update={"history_turns": 0})
    assert recent_history(history, none) == []


def test_a_single_overlong_message_is_cut_rather_than_lost(fake_settings):
    settings = fake_settings.model_copy(update={"history_tokens": 20})
    (kept,) = recent_history([{"role": "user", "content": "定价" * 100}], settings)
    assert 0 < estimate_tokens(kept["content"]) <= 20


def test_the_rewrite_is_cleaned_of_labels_and_quotes():
    assert clean_rewrite("改写后的问题：“AI创业有哪些风险？”\n解释：……") == "AI创业有哪些风险？"
    assert clean_rewrite('Standalone question: "What about pricing?"') == "What about pricing?"
    assert clean_rewrite("\n\n") == ""


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("那风险呢？", True),
        ("它的缺点是什么？", True),
        ("为什么？", True),
        ("And how should we handle the risks?", True),
        ("How do we handle those?", True),
        ("Why?", True),
        ("其中资金风险应该怎么应对？", True),  # "of those": the list of the previous answer
        ("How do I handle the legal one?", True),
        ("AI大模型创业公司应该采用哪些定价策略？", False),
        ("GTP.ai为什么失败了？", False),
        ("How do I do market research for my product?", False),
    ],
)
def test_only_questions_that_lean_on_the_conversation_are_rewritten(question, follow_up):
    assert looks_like_follow_up(question) is follow_up


def test_a_rewrite_is_dropped_only_when_it_is_the_previous_question_again():
    pricing = "AI大模型创业公司有哪些定价策略？"
    assert not keeps_the_point("那风险呢？", pricing, pricing)  # the point (risk) lost, the old question back
    assert keeps_the_point("那风险呢？", "AI大模型创业有哪些风险？", pricing)
    # other words, but a new question: the rewrite is what retrieval needs
    assert keeps_the_point(
        "What lessons should founders take from it?",
        "What can founders learn from the failure of GTP.ai?",
        "Why did GTP.ai fail?",
    )
