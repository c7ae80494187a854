"""evals/README.md's figures are the committed baselines' own: regenerated, they come out the same."""

from __future__ import annotations

import json

import pytest

from evals import readme_figures
from evals.baseline import baseline_path


def test_the_readme_figures_match_the_baselines():
    text = readme_figures.README.read_text(encoding="utf-8")
    assert readme_figures.replace_block(text, readme_figures.render()) == text, (
        "evals/README.md is out of date: run python -m evals readme-figures"
    )


def test_a_changed_baseline_changes_the_figures():
    def read(kind: str) -> dict:
        baseline = json.loads(baseline_path(kind).read_text(encoding="utf-8"))
        if kind == "full":
            baseline["summary"]["retrieval"]["overall"]["hit@5"] = 0.5
            baseline["meta"]["git"] = {"commit": "0123456789abcdef", "dirty": True}
        return baseline

    overall = json.loads(baseline_path("full").read_text(encoding="utf-8"))["summary"]["retrieval"]["overall"]
    text = readme_figures.README.read_text(encoding="utf-8")
    changed = readme_figures.render(read)
    assert (
        f"| all | {overall['n']} | {overall['hit@1']:.3f} | 0.500 |" in changed
        and "commit `0123456789ab` (uncommitted changes)" in changed
    )
    assert readme_figures.replace_block(text, changed) != text


def test_a_readme_without_the_markers_is_a_clear_error():
    with pytest.raises(ValueError, match="no generated-figures block"):
        readme_figures.replace_block("# Evaluation suite\n", readme_figures.render())
