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


def test_from_a_labelled_set_without_passages_the_question_and_text_must_match(tmp_path):
    import json

    from evals.labeling.carry import old_rows_of

    labelled = tmp_path / "answer_labels_x.jsonl"
    labelled.write_text(
        "".join(
            json.dumps({"id": k, "question": "问题", "text": t}) + "\n"
            for k, t in (("a", "同样"), ("b", "旧"))
        )
    )
    old, with_passages = old_rows_of(labelled)
    assert not with_passages
    labels = {k: {"id": k, "verdict": "clean", "defects": [], "reason": "ok"} for k in "ab"}
    carried, to_read = split([_row("a", "同样"), _row("b", "新")], old, labels, "render6", with_passages)
    assert [c["id"] for c in carried] == ["a"]
    assert carried[0]["reason"] == "carried from render6 (same question and text): ok"
    assert [r["id"] for r in to_read] == ["b"]
