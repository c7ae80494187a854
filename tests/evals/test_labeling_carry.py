"""Labels carry over only to answers a reader would see exactly as before."""

from __future__ import annotations

from evals.labeling.carry import split


def _row(id_, text, passages=("资料一",)):
    return {"id": id_, "question": "问题", "text": text, "passages": list(passages)}


def test_only_identical_question_text_and_passages_carry_their_label():
    old = [_row("a", "同样的回答"), _row("b", "旧回答"), _row("c", "同样的回答"), _row("d", "x")]
    labels = {k: {"id": k, "verdict": "clean", "defects": [], "reason": "ok"} for k in "abc"}
    new = [_row("a", "同样的回答"), _row("b", "新回答"), _row("c", "同样的回答", ("资料二",)), _row("d", "x")]
    carried, to_read = split(new, old, labels, "render1")
    assert [c["id"] for c in carried] == ["a"] and carried[0]["reason"] == "carried from render1: ok"
    assert [r["id"] for r in to_read] == ["b", "c", "d"]  # d: same text but never labelled
