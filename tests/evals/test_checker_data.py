"""The support cross-encoder's data: synthetic pairs from the knowledge base and the perturbation set."""

from __future__ import annotations

import json
import random

from evals.checker_pairs import (
    SUPPORTED,
    UNSUPPORTED,
    Passage,
    as_claim,
    build_pairs,
    change_figure,
    entities_of,
    flip,
    named,
    swap_entity,
)
from evals.checker_train import balance, split_groups
from evals.grounding_check import load_records
from evals.perturbations import OUT, edits

PRICING = Passage(
    group="p1",
    chapter="playbook:定价",
    heading="5.3 定价策略",
    lines=(
        "常见的定价策略包括以下几种：",
        "- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。",
        "- **价值导向定价**：根据用户对产品或服务的价值感知，设定价格。",
        "- **竞争导向定价**：基础版产品定价为每月1000元，以吸引更多用户。",
    ),
    renderings=(
        "Common pricing strategies include the following:",
        "- **Cost-based pricing**: Based on the cost of the product or service plus a certain profit, set the price.",
        "- **Value-based pricing**: Set the price according to the user's perceived value of the product or service.",
        "- **Competition-based pricing**: The basic edition is priced at 1000 yuan per month to attract more users.",
    ),
    lang="zh",
)
TOOLS = Passage(
    group="p2",
    chapter="playbook:定价",
    heading="附录 工具",
    lines=(
        "- **TensorFlow**：谷歌开发的深度学习框架，适用于大规模训练。",
        "- **PyTorch**：Meta开发的深度学习框架，易于调试。",
    ),
    renderings=(None, None),
    lang="zh",
)


def test_claims_read_like_the_gates_answer_sentences():
    assert as_claim("- **成本导向定价**：基于成本。") == "成本导向定价：基于成本。"
    assert named(PRICING.lines[1]) == ("成本导向定价", "基于产品或服务的成本，加上一定的利润，确定价格。")
    assert named(PRICING.lines[0]) is None  # a lead line has no bold name


def test_each_edit_changes_what_a_founder_would_act_on():
    rng = random.Random(0)
    assert flip("这可以降低成本。", "zh", rng) in {"这不能降低成本。", "这可以提高成本。", "这可以增加成本。"}
    assert flip("Pricing can attract users.", "en", rng) in {
        "Pricing cannot attract users.",
        "Pricing can drive away users.",
    }
    assert flip("天空。", "zh", rng) is None
    changed = change_figure("基础版每月1000元。", "zh", rng)
    assert changed is not None and changed != "基础版每月1000元。"
    assert change_figure("No figure here.", "en", rng) is None
    assert (
        swap_entity("We train with TensorFlow.", ["TensorFlow", "PyTorch"], rng) == "We train with PyTorch."
    )
    # a capitalised word that is no name of the corpus is left alone
    assert swap_entity("Process innovation matters.", ["TensorFlow", "PyTorch"], rng) is None


def test_entities_are_names_not_capitalised_words():
    names = entities_of([PRICING, TOOLS])
    assert "TensorFlow" in names and "PyTorch" in names
    assert "Common" not in names and "Cost-based" not in names


def test_pairs_cover_both_labels_both_languages_and_the_swap_of_list_items():
    pairs = build_pairs([PRICING, TOOLS], seed=1)
    assert {p.label for p in pairs} == {SUPPORTED, UNSUPPORTED}
    assert {"zh->zh", "en->zh", "zh->en", "en->en"} <= {p.direction for p in pairs}
    swaps = [p for p in pairs if p.kind == "swap"]
    assert swaps and all(p.label == UNSUPPORTED for p in swaps)
    # a swapped item keeps its own name and takes a sibling's explanation, which the passage gives elsewhere
    s = next(p for p in swaps if p.claim.startswith("成本导向定价"))
    assert "基于产品或服务的成本" not in s.claim
    # every supported claim is a line (or its rendering) of its passage, cleaned
    for p in pairs:
        if p.label == SUPPORTED:
            assert (
                p.claim.rstrip("。.") in as_claim(p.evidence).replace("**", "")
                or p.direction[:2] != p.direction[-2:]
            )
    # the same seed gives the same pairs
    assert [p.claim for p in build_pairs([PRICING, TOOLS], seed=1)] == [p.claim for p in pairs]


def test_training_and_validation_never_share_a_passage_and_classes_are_balanced():
    pairs = build_pairs([PRICING, TOOLS], seed=1)
    train, valid = split_groups(pairs, 0.5, seed=3)
    assert train and valid and not ({p.group for p in train} & {p.group for p in valid})
    balanced = balance(pairs, seed=3)
    assert sum(p.label for p in balanced) * 2 == len(balanced)


def test_perturbation_edits_and_the_committed_set():
    rng = random.Random(0)
    out = edits(
        "The basic edition costs 1000 yuan per month with TensorFlow.", "en", ["TensorFlow", "PyTorch"], rng
    )
    assert set(out) == {"number", "unit", "currency", "entity"}
    assert "2000" in out["number"] and "$1000" in out["currency"] and "PyTorch" in out["entity"]
    records = load_records(OUT)
    kinds = {r["edit"] for r in records}
    assert kinds == {"original", "number", "unit", "currency", "entity"}
    assert all((r["edit"] == "original") == (r["label_int"] == 0) for r in records)
    assert {r["direction"] for r in records} == {"en->zh", "zh->en"}
    first = json.loads(OUT.read_text(encoding="utf-8").splitlines()[0])
    assert first["edit"] == "original"


def test_fit_auto_calibrates_each_route_at_its_keep_rate():
    """fit-auto on a report whose align scores follow the labels: the cut keeps the asked share."""
    import numpy as np

    from evals.fit_auto import SETS, cross_validate, fit

    rng = np.random.default_rng(0)
    report = {"inputs": {}}
    for names in SETS.values():
        for name in names:
            labels = [r["label_int"] for r in load_records(OUT.parent / name)]
            noise = rng.random(len(labels)).tolist()
            aligned = [0.2 + 0.1 * rng.random() if y else 0.7 + 0.2 * rng.random() for y in labels]
            report["inputs"][name] = {c: {"support": noise} for c in ("lexical", "bridge")}
            report["inputs"][name]["align"] = {"support": aligned}
    weights = fit(report, {"same": 0.98, "english": 0.9, "cross": 0.9})
    for route in ("same", "english", "cross"):
        cv = weights[route]["cv"]
        assert cv["bacc_mean"] > 0.94 and cv["supported_kept"] >= 0.85  # keep 0.9: at most (0.9 + 1) / 2
        assert abs(weights[route]["coef"][1]) > abs(weights[route]["coef"][0])  # align carries the signal
    x = np.array([[0.0], [1.0]] * 20)
    y = np.array([0, 1] * 20)
    assert cross_validate(x, y, keep=0.9)["auroc_mean"] == 1.0


def test_fit_auto_reads_several_reports_the_later_ones_scores_first():
    from evals.fit_auto import merged_reports

    a = {"inputs": {"x.jsonl": {"lexical": {"support": [0.1]}}, "y.jsonl": {"lexical": {"support": [0.2]}}}}
    b = {"inputs": {"y.jsonl": {"lexical": {"support": [0.9]}}}}
    merged = merged_reports([a, b])["inputs"]
    assert merged["x.jsonl"]["lexical"]["support"] == [0.1] and merged["y.jsonl"]["lexical"]["support"] == [
        0.9
    ]


def test_the_rendered_sentences_are_the_english_ones_against_the_shipped_renderings():
    from advisor import shipped_renderings
    from evals.rendered_sentences import RENDERED, SOURCES, rendered_records

    originals = [rec for name in SOURCES for rec in load_records(OUT.parent / name)]
    rendered, partial = rendered_records(originals, shipped_renderings())
    # the committed file is what the command writes today: same records, labels, order
    assert [json.loads(line) for line in RENDERED.read_text(encoding="utf-8").splitlines()] == rendered
    assert [r["label_int"] for r in rendered] == [r["label_int"] for r in originals]
    assert partial < len(rendered) * 0.05
    first = rendered[0]["context"][0]
    assert "yuan" in first and "成本导向定价" not in first  # the pricing case, in English, its figures kept
