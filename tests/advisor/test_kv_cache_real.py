"""The knowledge cache with the real offline model on the small test corpus: the KV file is written and
restored by llama.cpp, the answer reads only its question anew, and a damaged file is refused twice over
(by the manifest check, and by llama.cpp itself if it ever got one).

Slow: loads Qwen2.5-Coder-1.5B-Instruct Q4_K_M; the corpus is ~900 tokens, so the module takes ~1 minute.
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


def test_the_answer_reuses_the_cached_passages_and_cites_them(advisor, generator):
    cache = advisor.knowledge_cache
    assert cache is not None and cache.ready("zh")
    answer = advisor.ask("AI大模型创业公司应该采用哪些定价策略？")
    stats = generator.last_stats
    assert not answer.refused, answer.text
    # Everything but the question came from the restored cache.
    read_anew = stats.prompt_tokens - stats.cached_prompt_tokens
    assert stats.cached_prompt_tokens > 150 and read_anew < 80, stats
    assert any(c.section in (PRICING, PRICING_CASE) for c in answer.citations), answer.text
    assert all(1 <= c.n <= len(answer.passages) for c in answer.citations)
    assert "成本导向定价" in answer.text or "价值导向定价" in answer.text, answer.text


def test_llama_cpp_itself_refuses_a_truncated_kv_file(advisor, generator, kv_dir):
    path = advisor.knowledge_cache.path("zh")
    broken = kv_dir / "broken.bin"
    shutil.copyfile(path, broken)
    with broken.open("r+b") as fh:
        fh.truncate(broken.stat().st_size // 3)
    with pytest.raises(GenerationError):
        generator.restore_prefix(broken.name)
    # and the slot still answers correctly afterwards (the good file restores, the answer cites)
    answer = advisor.ask("AI大模型创业公司应该采用哪些定价策略？")
    assert not answer.refused and answer.citations
