"""The knowledge cache with the real offline model on the small test corpus: KV files are written and
restored by llama.cpp, the answer's prompt up to the end of its lead passage comes from the file, the
answer is the one the uncached prompt gives, and a damaged file is refused twice over (by the manifest
check, and by llama.cpp itself if it ever got one).

Slow: loads Qwen2.5-Coder-1.5B-Instruct Q4_K_M; six passages of ~150 tokens, so ~1-2 minutes.
"""

from __future__ import annotations

import shutil

import pytest

from advisor import build_advisor
from advisor import offline_models as om
from advisor.backends import GenerationError
from config import Settings, settings_for_tests
from indexing import HashEmbedder, VectorIndex
from tests.advisor.conftest import PRICING, PRICING_CASE, make_chunks

pytestmark = pytest.mark.slow

MODEL = "offline:qwen2.5-1.5b-instruct-q4_k_m"


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
    lead = answer.passages[0].chunk
    file_tokens = len(cache.messages("zh", lead)[-1]["content"])  # characters: ≥ tokens for Chinese
    # The system prompt, the instructions and the lead passage came from the restored file.
    assert stats.cached_prompt_tokens > 300, stats
    assert stats.prompt_tokens - stats.cached_prompt_tokens < file_tokens, stats
    assert any(c.section in (PRICING, PRICING_CASE) for c in answer.citations), answer.text
    assert all(1 <= c.n <= len(answer.passages) for c in answer.citations)
    # Exact prefix reuse: the same answer as when every token of the prompt is read.
    advisor.knowledge_cache = None
    try:
        generator.restore_prefix(cache.file_name("zh", cache_chunk(advisor, "zh")))  # evict: another prefix
        uncached = advisor.ask(QUESTION)
    finally:
        advisor.knowledge_cache = cache
    assert uncached.text == answer.text


def cache_chunk(advisor, language):
    """Some passage whose file is not the pricing answer's lead (to leave a different prefix in the slot)."""
    return next(c for c in advisor.index.chunks if "PyTorch" in c.text)


def test_llama_cpp_itself_refuses_a_truncated_kv_file(advisor, generator, kv_dir):
    lead = next(c for c in advisor.index.chunks if "PyTorch" in c.text)
    path = kv_dir / advisor.knowledge_cache.file_name("zh", lead)
    broken = kv_dir / "broken.bin"
    shutil.copyfile(path, broken)
    with broken.open("r+b") as fh:
        fh.truncate(broken.stat().st_size // 3)
    with pytest.raises(GenerationError):
        generator.restore_prefix(broken.name)
    # and the slot still answers correctly afterwards (the good file restores, the answer cites)
    answer = advisor.ask(QUESTION)
    assert not answer.refused and answer.citations
