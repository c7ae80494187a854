"""The align checker: windows, features, the weights file's checks, and the real encoder on edited claims."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advisor.support import CheckerUnavailable, claim_text
from advisor.support_align import (
    FEATURES,
    LAYERS,
    AlignmentChecker,
    Encoded,
    TokenEncoder,
    claim_features,
    features,
    load_weights,
)


def test_claims_are_read_without_layout():
    assert claim_text("- **成本导向定价**：基于成本。[3]") == "成本导向定价：基于成本。"
    assert (
        claim_text("1. **Cost-based pricing**: cost plus margin.[1][2]")
        == "Cost-based pricing: cost plus margin."
    )


def _encoded(vectors):
    v = np.asarray(vectors, dtype=float)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return Encoded({layer: v for layer in LAYERS})


def test_a_claim_token_without_a_partner_in_the_window_pulls_the_feature_down():
    claim = _encoded([[1, 0, 0], [0, 1, 0]])
    both = features(claim, _encoded([[1, 0, 0], [0, 1, 0], [0, 0, 1]]))  # both claim tokens have a partner
    one = features(claim, _encoded([[1, 0, 0], [0, 0, 1]]))  # the second one does not
    assert len(both) == len(FEATURES) and both[0] == pytest.approx(1.0) and one[0] == pytest.approx(0.5)
    assert features(claim, Encoded({layer: np.zeros((0, 3)) for layer in LAYERS})) is None


class FakeEncoder:
    """One-hot vectors per character: a window holds a claim's token iff it holds the character."""

    def encode_many(self, texts):
        alphabet = sorted({ch for t in texts for ch in t if ch.isalnum()})
        out = []
        for t in texts:
            chars = [ch for ch in t if ch.isalnum()]
            v = (
                np.array([[float(ch == a) for a in alphabet] for ch in chars])
                if chars
                else np.zeros((0, len(alphabet)))
            )
            out.append(Encoded({layer: v for layer in LAYERS}))
        return out


def test_windows_never_join_two_list_items():
    from advisor.support_align import windows

    passage = "定价策略：\n- **成本导向定价**：基于成本。加上利润。\n- **价值导向定价**：根据价值感知。"
    assert windows(passage) == [
        "定价策略：",
        "- **成本导向定价**：基于成本。",
        "- **成本导向定价**：基于成本。 加上利润。",
        "加上利润。",
        "- **价值导向定价**：根据价值感知。",
    ]


def test_the_best_window_is_one_sentence_or_two_neighbours_not_the_whole_passage():
    passage = "甲乙。丙丁。戊己。"
    assert claim_features(FakeEncoder(), "乙丙", passage)[0] == pytest.approx(1.0)  # two neighbours
    # 甲 and 己 are in the passage but three sentences apart: no window holds both
    assert claim_features(FakeEncoder(), "甲己", passage)[0] == pytest.approx(0.5)


def test_the_weights_file_is_checked(tmp_path):
    with pytest.raises(CheckerUnavailable, match="fit-align"):
        load_weights(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CheckerUnavailable, match="unreadable"):
        load_weights(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"features": ["x"], "coef": [1.0]}))
    with pytest.raises(CheckerUnavailable, match="other features"):
        load_weights(other)
    assert load_weights()["features"] == list(FEATURES)  # the shipped file


@pytest.mark.slow
def test_the_shipped_checker_tells_translations_from_edits(offline_e5_folder):
    checker = AlignmentChecker(TokenEncoder(offline_e5_folder), load_weights())
    passage = (
        "常见的定价策略包括以下几种：\n"
        "- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。\n"
        "- **价值导向定价**：根据用户对产品或服务的价值感知，设定价格。"
    )
    good = [
        "Cost-based pricing: based on the cost of the product or service plus a certain profit, set the price.",
        "价值导向定价：根据用户对产品或服务的价值感知，设定价格。",
    ]
    bad = [
        "Cost-based pricing: set the price according to the user's perceived value of the product or service.",
        "Cost-based pricing guarantees profitability within three months and is used by Google.",
    ]
    good_scores = [checker.score(c, [passage]) for c in good]
    bad_scores = [checker.score(c, [passage]) for c in bad]
    assert min(good_scores) > max(bad_scores), (good_scores, bad_scores)
    assert checker.score("x", []) == 0.0
