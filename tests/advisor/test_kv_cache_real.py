"""The knowledge cache with the real offline model on the small test corpus: KV files are written and
restored by llama.cpp, the answer's prompt up to its question comes from the file, the
answer starts as the uncached prompt's does, and a damaged file is rebuilt before llama.cpp could see it.

Slow: loads Qwen2.5-Coder-1.5B-Instruct Q4_K_M; six passages of ~150 tokens, so ~1-2 minutes.
"""

from __future__ import annotations

import pytest

from advisor import build_advisor
from advisor import offline_models as om
from advisor.kv_cache import KnowledgeCache
from config import Settings, settings_for_tests
from indexing import HashEmbedder, Hit, VectorIndex
from tests.advisor.support import PRICING, PRICING_CASE, make_chunks

pytestmark = pytest.mark.slow

MODEL = "offline:qwen2.5-coder-1.5b-instruct-q4_k_m"


@pytest.fixture(scope="module")
def kv_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("kv")


@pytest.fixture(scope="module")
def generator(kv_dir):
    pytest.importorskip("xllamacpp")
    try:
        om.find_parts(om.OFFLINE_MODELS[MODEL])
    except om.OfflineModelError as exc:
        pytest.skip(str(exc))
    from advisor.backends.llamacpp import LlamaCppGenerator

    settings = settings_for_tests(llm_model=MODEL, data_dir=Settings.model_fields["data_dir"].default)
    path = om.resolve_model_file(MODEL, settings.models_dir)
    return LlamaCppGenerator(path, model_id=MODEL, context_tokens=4096, prefix_dir=kv_dir)


@pytest.fixture(scope="module")
def advisor(generator, tmp_path_factory):
    embedder = HashEmbedder()
    index = VectorIndex.from_chunks(make_chunks(), embedder)
    settings = settings_for_tests(
        data_dir=tmp_path_factory.mktemp("data"),
        min_dense_score=0.15,
        llm_max_new_tokens=120,
    )
    adv = build_advisor(settings, generator=generator, embedder=embedder, index=index)
    adv.prepare_knowledge_cache()
    return adv


QUESTION = "AI大模型创业公司应该采用哪些定价策略？"


def test_the_answer_reuses_its_lead_passage_and_is_the_uncached_answer(advisor, generator):
    cache = advisor.knowledge_cache
    assert cache is not None and cache.ready("zh")
    answer = advisor.ask(QUESTION)
    stats = generator.last_stats
    assert not answer.refused, answer.text
    # The system prompt, the lead passage (or its family) and the instructions came from the restored file.
    assert stats.cached_prompt_tokens > 300, stats
    assert any(c.section in (PRICING, PRICING_CASE) for c in answer.citations), answer.text
    assert all(1 <= c.n <= len(answer.passages) for c in answer.citations)
    # Exact prefix reuse: the same answer as when every token of the prompt is read.
    advisor.knowledge_cache = None
    try:
        generator.restore_prefix(cache.file_name("zh", cache_chunk(advisor, "zh")))  # evict: another prefix
        uncached = advisor.ask(QUESTION)
        read_whole = generator.last_stats
    finally:
        advisor.knowledge_cache = cache
    # Without the file only the system prompt was in the slot (another passage's file): the lead passage
    # and the instructions after it were read.
    assert read_whole.prompt_tokens == stats.prompt_tokens
    assert read_whole.cached_prompt_tokens < stats.cached_prompt_tokens - 50, (read_whole, stats)
    # Same tokens at the same positions, so the same answer up to floating point: llama.cpp's sums over a
    # prompt read in one batch and over a restored prefix plus the rest differ in the last bits, and greedy
    # decoding can follow that later in the answer (seen: two points in another order). The start agrees.
    assert not uncached.refused
    assert uncached.text.splitlines()[0] == answer.text.splitlines()[0]
    assert {c.section for c in uncached.citations} & {c.section for c in answer.citations}


def cache_chunk(advisor, language):
    """Some passage whose file is not the pricing answer's lead (to leave a different prefix in the slot)."""
    return next(c for c in advisor.index.chunks if "PyTorch" in c.text)


def test_a_truncated_real_file_is_rebuilt_and_never_handed_to_llama_cpp(advisor, generator, kv_dir):
    # llama.cpp aborts the whole process on a truncated KV file (GGML_ASSERT(nread <= state_size) in
    # llama-context.cpp, seen with this build): the manifest's size and sha256 checks are what keep a
    # damaged file away from it.
    lead = next(c for c in advisor.index.chunks if "PyTorch" in c.text)
    cache = advisor.knowledge_cache
    path = kv_dir / cache.file_name("zh", lead)
    good = path.read_bytes()
    with path.open("r+b") as fh:
        fh.truncate(len(good) // 3)
    restarted = KnowledgeCache(generator, advisor.index.chunks, context_tokens=4096, canary=cache.canary)
    assert not restarted.restore("zh", Hit(lead, 1.0, 1))  # refused before llama.cpp sees it
    restarted.ensure(["zh"])  # rebuilt (the other files pass their checks and are kept)
    assert path.stat().st_size == len(good) and restarted.restore("zh", Hit(lead, 1.0, 1))
    advisor.knowledge_cache = restarted
    try:
        answer = advisor.ask(QUESTION)
    finally:
        advisor.knowledge_cache = cache
    assert not answer.refused and answer.citations
