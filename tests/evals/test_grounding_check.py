"""`python -m evals check-grounding` / `fit-ensemble`: metrics on hand-made labels, breakdowns, the CLI."""

from __future__ import annotations

import json
import re

import pytest

from advisor import EnsembleModel
from evals.__main__ import main
from evals.grounding_check import (
    InputError,
    best_cutoff,
    breakdowns,
    classification_metrics,
    evaluate,
    load_records,
)


def test_metrics_on_hand_made_labels():
    # labels 0,0,1,1 ; P(hallucinated) 0.1,0.6,0.4,0.9 ; flag when > 0.5 -> predictions 0,1,0,1
    m = classification_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], cutoff=0.5)
    assert m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["f1_hallucinated"] == pytest.approx(0.5)
    assert m["auroc"] == pytest.approx(0.75)  # 3 of the 4 (positive, negative) pairs are ordered right
    assert m["confusion_matrix"] == {"tn": 1, "fp": 1, "fn": 1, "tp": 1}
    perfect = classification_metrics([0, 1, 0, 1], [0.2, 0.8, 0.3, 0.7], cutoff=0.5)
    assert (
        perfect["balanced_accuracy"] == 1.0 and perfect["auroc"] == 1.0 and perfect["f1_hallucinated"] == 1.0
    )
    one_class = classification_metrics([1, 1], [0.9, 0.2], cutoff=0.5)
    assert one_class["auroc"] is None and one_class["recall_hallucinated"] == 0.5


def test_best_cutoff_maximises_balanced_accuracy():
    labels, p = [0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.65, 0.6, 0.8, 0.9]
    cut = best_cutoff(labels, p)
    assert classification_metrics(labels, p, cut)["balanced_accuracy"] == pytest.approx(5 / 6)
    assert classification_metrics(labels, p, 0.5)["balanced_accuracy"] == pytest.approx(5 / 6)


def test_evaluate_flags_low_support_and_records_the_threshold():
    records = [{"id": str(i), "label_int": y} for i, y in enumerate([0, 1, 0, 1])]
    rep = evaluate(records, support=[0.9, 0.2, 0.6, 0.45], threshold=0.5, ms=[1, 2, 3, 4])
    assert rep["metrics"]["confusion_matrix"] == {"tn": 2, "fp": 0, "fn": 0, "tp": 2}
    assert rep["threshold"]["support_threshold"] == 0.5
    assert rep["ms_per_record"]["mean"] == 2.5
    assert [r["support"] for r in rep["records"]] == [0.9, 0.2, 0.6, 0.45]
    # at a stricter threshold the 0.6 record is flagged too
    assert evaluate(records, [0.9, 0.2, 0.6, 0.45], threshold=0.7)["metrics"]["confusion_matrix"]["fp"] == 1


def test_breakdowns_follow_the_dev_readme():
    fc = [
        {"stance": "refute", "label_int": 1},
        {"stance": "refute", "label_int": 1},
        {"stance": "irrelevant", "label_int": 1},
        {"stance": "completely-support", "label_int": 0},
    ]
    out = breakdowns(fc, [1, 0, 1, 1])
    assert out["flag_rate_by_stance"]["refute"] == {"n": 2, "flagged": 1, "rate": 0.5}
    assert out["flag_rate_by_stance"]["completely-support"]["rate"] == 1.0  # the false-positive rate
    span = {"text": "x", "start": 0, "end": 1}
    uhg = [
        {
            "variant": "hallucinated_continuation",
            "label_int": 1,
            "news_type": "num",
            "hallucinated_spans": [span],
        },
        {
            "variant": "hallucinated_continuation",
            "label_int": 1,
            "news_type": "doc",
            "hallucinated_spans": [span] * 5,
        },
        {"variant": "real_continuation", "label_int": 0, "news_type": "num", "hallucinated_spans": []},
    ]
    for r in uhg:
        r["response_verbatim_in_context"] = r["label_int"] == 0
    out = breakdowns(uhg, [1, 0, 0])
    assert out["recall_hallucinated_continuation"]["rate"] == 0.5
    assert out["recall_by_hallucinated_spans"] == {
        "1": {"n": 1, "flagged": 1, "rate": 1.0},
        ">=4": {"n": 1, "flagged": 0, "rate": 0.0},
    }
    assert out["recall_by_news_type"]["doc"]["rate"] == 0.0
    assert out["false_positive_rate_real_continuation"]["rate"] == 0.0
    assert "verbatim" in out["warning"]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


PASSAGE = (
    "Acme was founded in 2004 in Shanghai by three engineers. It sells accounting software to small shops."
)
ROWS = [
    {
        "id": "a",
        "context": PASSAGE,
        "response": "Acme was founded in 2004 by three engineers.",
        "label_int": 0,
    },
    {"id": "b", "context": PASSAGE, "response": "Acme was founded in 2014 by five lawyers.", "label_int": 1},
    {
        "id": "c",
        "context": [PASSAGE],
        "response": "Acme sells accounting software to small shops.",
        "label_int": 0,
    },
    {
        "id": "d",
        "context": PASSAGE,
        "response": "Customers pay a monthly fee for premium support.",
        "label_int": 1,
    },
    {
        "id": "e",
        "context": "该公司于2004年在上海创立。",
        "response": "该公司于2004年在上海创立。",
        "label_int": 0,
    },
    {
        "id": "f",
        "context": "该公司于2004年在上海创立。",
        "response": "该公司于2019年在北京创立。",
        "label_int": 1,
    },
]


def test_cli_check_grounding_writes_a_report(tmp_path, capsys):
    data = _write_jsonl(tmp_path / "dev.jsonl", ROWS)
    out = tmp_path / "reports" / "lexical.json"
    rc = main(
        [
            "check-grounding",
            "--input",
            str(data),
            "--out",
            str(out),
            "--checker",
            "lexical",
            "--threshold",
            "0.5",
        ]
    )
    assert rc == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert rep["checker"] == "lexical" and rep["input"] == "dev.jsonl" and rep["n"] == 6
    assert rep["metrics"]["balanced_accuracy"] == 1.0 and rep["metrics"]["auroc"] == 1.0
    assert {r["id"] for r in rep["records"]} == set("abcdef")
    assert rep["ms_per_record"]["mean"] > 0
    assert "BAcc=1.000" in capsys.readouterr().out

    limited = tmp_path / "limited.json"
    assert (
        main(
            [
                "check-grounding",
                "--input",
                str(data),
                "--out",
                str(limited),
                "--checker",
                "lexical",
                "--limit",
                "2",
            ]
        )
        == 0
    )
    assert json.loads(limited.read_text(encoding="utf-8"))["n"] == 2


def test_cli_reports_bad_input_clearly(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{oops\n", encoding="utf-8")
    assert (
        main(
            [
                "check-grounding",
                "--input",
                str(bad),
                "--out",
                str(tmp_path / "o.json"),
                "--checker",
                "lexical",
            ]
        )
        == 2
    )
    assert "bad.jsonl:2: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
    assert (
        main(
            [
                "check-grounding",
                "--input",
                str(tmp_path / "o.json"),
                "--out",
                str(tmp_path / "o.json"),
                "--checker",
                "nli",
            ]
        )
        == 2
    )
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"context": "c", "response": "r"}, "missing field(s) label_int"),
        ({"context": "c", "response": "r", "label_int": 2}, "label_int must be 0 or 1"),
        ({"context": 5, "response": "r", "label_int": 1}, "context must be a string or a list"),
        ({"context": "  ", "response": "r", "label_int": 1}, "context is empty"),
        ({"context": ["", " "], "response": "r", "label_int": 1}, "context is empty"),
        ({"context": "c", "response": "", "label_int": 1}, "response must be a non-empty string"),
        ({"context": "字" * 1_000_001, "response": "r", "label_int": 0}, "context is 1,000,001 characters"),
    ],
)
def test_load_records_names_the_bad_line(tmp_path, row, message):
    path = _write_jsonl(tmp_path / "x.jsonl", [ROWS[0], row])
    with pytest.raises(InputError, match=rf"x\.jsonl:2: {re.escape(message)}"):
        load_records(path)


def test_cli_unknown_checker_is_a_clear_error(tmp_path, capsys):
    data = _write_jsonl(tmp_path / "dev.jsonl", ROWS)
    assert (
        main(
            ["check-grounding", "--input", str(data), "--out", str(tmp_path / "o.json"), "--checker", "magic"]
        )
        == 2
    )
    assert "unknown checker 'magic'" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_fit_ensemble_validates_across_sets_and_writes_loadable_weights(tmp_path):
    # Two synthetic sets where 'embedding' separates the classes and 'lexical' is noise: the fitted
    # weights must lean on embedding, and the held-out figures must show it.
    sets = {}
    for name, n in (("one.jsonl", 40), ("two.jsonl", 30)):
        rows = [{"id": f"{name}-{i}", "context": "c", "response": "r", "label_int": i % 2} for i in range(n)]
        sets[name] = (_write_jsonl(tmp_path / name, rows), rows)
    reports = []
    for checker in ("lexical", "embedding"):
        for name, (_, rows) in sets.items():
            recs = []
            for i, r in enumerate(rows):
                if checker == "embedding":
                    s = 0.2 + 0.02 * (i % 5) if r["label_int"] else 0.7 + 0.02 * (i % 5)
                else:
                    s = 0.3 + 0.05 * (i % 7)
                recs.append({"id": r["id"], "label_int": r["label_int"], "support": s})
            path = tmp_path / f"{checker}-{name}.json"
            path.write_text(
                json.dumps({"input": name, "checker": checker, "records": recs}), encoding="utf-8"
            )
            reports.append(str(path))
    out, weights = tmp_path / "ensemble.json", tmp_path / "weights.json"
    rc = main(
        ["fit-ensemble", "--reports", *reports, "--data", *(str(p) for p, _ in sets.values()),
         "--out", str(out), "--write-weights", str(weights)]
    )  # fmt: skip
    assert rc == 0
    rep = json.loads(out.read_text(encoding="utf-8"))["combinations"]["lexical+embedding"]
    assert rep["cross_validated"]["one.jsonl"]["metrics"]["balanced_accuracy"] == 1.0
    assert rep["train_on_one_test_on_other"]["one.jsonl -> two.jsonl"]["metrics"]["auroc"] == 1.0
    models = [EnsembleModel.from_dict(m) for m in json.loads(weights.read_text(encoding="utf-8"))["models"]]
    assert models[0].components == ("lexical", "embedding")
    assert abs(models[0].coef[1]) > abs(models[0].coef[0])


def test_fit_ensemble_refuses_reports_of_unknown_sets(tmp_path, capsys):
    data = _write_jsonl(tmp_path / "dev.jsonl", ROWS)
    rep = tmp_path / "r.json"
    rep.write_text(
        json.dumps({"input": "other.jsonl", "checker": "lexical", "records": []}), encoding="utf-8"
    )
    assert (
        main(["fit-ensemble", "--reports", str(rep), "--data", str(data), "--out", str(tmp_path / "o.json")])
        == 2
    )
    assert "not among --data" in capsys.readouterr().err


def test_a_line_that_is_not_utf8_is_named_and_nothing_is_written(tmp_path, capsys):
    bad = tmp_path / "bytes.jsonl"
    bad.write_bytes(json.dumps(ROWS[0]).encode() + b"\n\xff\xfe not text\n")
    out = tmp_path / "o.json"
    assert main(["check-grounding", "--input", str(bad), "--out", str(out), "--checker", "lexical"]) == 2
    assert "bytes.jsonl:2: not UTF-8" in capsys.readouterr().err
    assert not out.exists()


# --- every checker side by side --------------------------------------------------------------------------


def test_cross_validated_threshold_is_never_fitted_on_the_fold_it_scores():
    import numpy as np

    from evals.grounding_all import cv_figures, ensemble_cv

    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 40)
    separable = np.where(y == 1, 0.7, 0.3) + rng.normal(0, 0.05, len(y))
    fig = cv_figures(y, separable)
    assert fig["bacc_cv_mean"] > 0.95 and fig["auroc_cv_mean"] > 0.95
    noise = rng.random(len(y))
    assert cv_figures(y, noise)["bacc_cv_mean"] < 0.65  # a cutoff fitted on noise does not carry over
    x = np.column_stack([separable, noise])
    assert ensemble_cv(y, x)["bacc_cv_mean"] > 0.95
    assert cv_figures(np.array([0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.9])) == {}  # too few to fold


def test_cli_all_prints_every_checker_and_rewrites_the_readme_block(tmp_path, capsys):
    from evals.grounding_all import BEGIN, END

    rows = [
        {
            "context": "定价策略：基于成本加利润确定价格。",
            "response": "定价策略：基于成本加利润确定价格。",
            "label_int": 0,
        },
        {
            "context": "定价策略：基于成本加利润确定价格。",
            "response": "公司只在周末营业并提供免费午餐。",
            "label_int": 1,
        },
    ] * 6
    data = _write_jsonl(tmp_path / "mini.jsonl", rows)
    other = _write_jsonl(tmp_path / "other.jsonl", rows)
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{BEGIN}\nold table\n{END}\nafter\n", encoding="utf-8")
    out = tmp_path / "all.json"
    args = ["check-grounding", "--input", str(data), str(other), "--out", str(out), "--checker", "all"]
    skip = ["--skip", "embedding", "bridge", "auto", "crossencoder", "llm"]
    assert main([*args, *skip, "--readme", str(readme)]) == 0
    printed = capsys.readouterr().out
    assert "| mini.jsonl | lexical | 12 (6) |" in printed
    report = json.loads(out.read_text())
    assert report["inputs"]["mini.jsonl"]["lexical"]["bacc_at_threshold"] == 1.0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("before\n") and text.endswith("after\n") and "old table" not in text
    assert "| mini.jsonl | lexical |" in text


def test_cli_all_writes_nothing_when_any_input_is_bad(tmp_path, capsys):
    good = _write_jsonl(tmp_path / "good.jsonl", ROWS)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(json.dumps(ROWS[0]).encode() + b"\n\xff\xfe not utf-8\n")
    out = tmp_path / "all.json"
    code = main(["check-grounding", "--input", str(good), str(bad), "--out", str(out), "--checker", "all"])
    assert code == 2 and "bad.jsonl:2: not UTF-8" in capsys.readouterr().err
    assert not out.exists()
    code = main(
        ["check-grounding", "--input", str(good), str(good), "--out", str(out), "--checker", "lexical"]
    )
    assert code == 2 and "one --input per checker" in capsys.readouterr().err


def test_the_readme_checker_table_is_the_committed_reports():
    from pathlib import Path

    from evals.grounding_all import BEGIN, END, markdown

    root = Path(__file__).resolve().parents[2]
    report = json.loads((root / "evals" / "reports" / "grounding" / "all.json").read_text(encoding="utf-8"))
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert block == markdown(report)
