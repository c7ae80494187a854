"""The LLM judge's prompt variants (`python -m evals judge-variants`), driven by a fake judge that reports
first-token log-probabilities: what each variant asks, how P(supported) is read, and the CV figures."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from advisor.support_llm import LLMJudgeChecker
from config import settings_for_tests
from evals.__main__ import main
from evals.judge_variants import NO_EVIDENCE, SHOTS, VARIANTS, figures, p_yes, score_records


class FakeModel:
    """Says Yes / SUPPORTED when every word of the claim is in the evidence; with no evidence, it guesses."""

    def __init__(self):
        self.calls = []

    def stream(self, messages, **kwargs):
        raise AssertionError("the judge reads log-probabilities, never text")

    def first_token_logprobs(self, messages, top_n=10):
        self.calls.append(messages)
        user = messages[-1]["content"]
        evidence, claim = re.search(r"Evidence:\n(.*)\n\nClaim: (.*?)\n\n", user, re.S).groups()
        words = lambda t: set(re.findall(r"[a-z0-9]+", t.lower()))  # noqa: E731
        p = 0.5 if NO_EVIDENCE in evidence else (0.9 if words(claim) <= words(evidence) else 0.2)
        if "Yes or No" in user:
            return {"Yes": math.log(p), " No": math.log(1 - p)}
        return {"SUP": math.log(p), "NOT": math.log((1 - p) / 2), "CON": math.log((1 - p) / 2)}


def _records(n=12):
    out = []
    for i in range(n):
        evidence = f"Acme was founded in {2000 + i} in Lyon by {i + 2} engineers."
        out.append(
            {
                "id": f"s{i}",
                "context": evidence,
                "response": f"Acme was founded in {2000 + i}.",
                "label_int": 0,
            }
        )
        out.append(
            {
                "id": f"u{i}",
                "context": [evidence],
                "response": f"Acme was founded in {1990 + i}.",
                "label_int": 1,
            }
        )
    return out


def test_yes_is_read_from_any_casing_and_renormalised():
    assert p_yes({"Yes": math.log(0.3), " no": math.log(0.1), "Maybe": 0.0}) == pytest.approx(0.75)
    assert p_yes({"Maybe": 0.0}) is None


def test_each_variant_asks_what_it_says():
    model = FakeModel()
    support, ms = score_records(LLMJudgeChecker(model), _records(2), list(VARIANTS))
    assert set(support) == set(ms) == set(VARIANTS)
    by_variant = dict(zip(VARIANTS, [model.calls[i * 4] for i in range(len(VARIANTS))], strict=True))
    assert "SUPPORTED, NOT or CONTRADICTED" in by_variant["labels"][-1]["content"]
    assert len(by_variant["yesno"]) == 2  # system + the question
    assert len(by_variant["yesno-fewshot"]) == 2 + 2 * len(SHOTS)  # the shots are earlier turns
    assert NO_EVIDENCE in by_variant["yesno-no-evidence"][-1]["content"]
    assert "Lyon" not in by_variant["yesno-no-evidence"][-1]["content"]
    # The prior cannot tell the records apart; the variants that read the evidence can.
    assert np.all(support["yesno-no-evidence"] == 0.5)
    for name in ("labels", "yesno", "yesno-fewshot"):
        assert support[name][0] > 0.8 > 0.3 > support[name][1], name


def test_figures_are_cross_validated_for_every_variant_and_both_combinations():
    records = _records()
    support, _ = score_records(LLMJudgeChecker(FakeModel()), records, list(VARIANTS))
    y = np.array([r["label_int"] for r in records])
    out = figures(y, support)
    assert out["yesno"]["bacc_cv_mean"] == 1.0 and out["yesno"]["auroc_cv_mean"] == 1.0
    assert out["yesno-no-evidence"]["auroc_cv_mean"] == 0.5
    assert out["mean logit of labels + yesno + yesno-fewshot"]["bacc_cv_mean"] == 1.0
    assert out["logistic: yesno + its no-evidence prior"]["auroc_cv_mean"] == 1.0


def test_cli_refuses_a_backend_without_logprobs_and_writes_nothing(tmp_path, capsys, monkeypatch):
    data = tmp_path / "claims.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in _records(3)), encoding="utf-8")
    monkeypatch.setattr("evals.judge_variants.get_settings", lambda: settings_for_tests(data_dir=tmp_path))
    out = tmp_path / "report.json"
    assert main(["judge-variants", "--input", str(data), "--out", str(out)]) == 2
    assert "no first-token log-probabilities" in capsys.readouterr().out
    assert not out.exists()
