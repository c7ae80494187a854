"""The reader's detectors: one hand-made case per defect class, and agreement with the labelled answers."""

from __future__ import annotations

import pytest

from evals import reader

PRICING = (
    "- **成本导向定价**：根据产品或服务的成本，加上一定的利润，确定价格。\n"
    "- **价值导向定价**：根据用户对产品或服务的价值感知，设定价格。\n"
    "基础版产品定价为每月1000元；专业版产品定价为每月5000元。"
)
CLEAN_ZH = "- **价值导向定价**：根据用户对产品或服务的价值感知，设定价格。[1]"


def _row(text: str, **extra) -> dict:
    return {
        "dataset": "answerable",
        "lang": "zh",
        "question": "有哪些定价策略？",
        "text": text,
        "refused": False,
        "should_refuse": False,
        "language_ok": True,
        "gold_sections": ["5.3.2"],
        "cites_gold": True,
        **extra,
    }


def _classes(text: str, **extra) -> set[str]:
    return set(reader.reader_defects(_row(text, **extra), [PRICING]))


def test_a_clean_answer_has_no_defect():
    row = _row(CLEAN_ZH)
    assert reader.judge_row(row, [PRICING]) == {"reader_verdict": "clean", "reader_defects": {}}


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        ("- **值得导向定价**：根据用户对产品或服务的价值感知，设定价格。[1]", "term"),
        ("- **下线活动**：参加行业会议。[1]", None),  # 线下活动 is not a term of these passages
        ("- 价值导向定价：根据价值感知设定价格。[1] ⚠", "flag"),
        ("- 要点名称：资料对它的解释。[1]", "echo"),
        ("- - 价值导向定价：根据价值感知设定价格。[1]", "echo"),
        ("- 寻找合适的人才：。[1]", "empty"),
        ("- 价值导向定价：根据价值感知设定价格。[1]\n- 价值导向定价：根据价值感知设定价格。[1]", "empty"),
        ("- 价值导向定价：根据价值感知设定价格。[1]\n总之，这些策略都非常重要。", "padding"),
    ],
)
def test_each_zh_defect_is_detected(text, cls):
    found = _classes(text)
    if cls is None:
        assert "term" not in found
    else:
        assert cls in found, found


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        ("- **Basic plan**: It costs $1000 per month. [1]", "number"),
        ("- **Basic plan**: It costs 1000 yuan per month. [1]", None),
        ("- **Basic plan**: It costs 1200 yuan per month. [1]", "number"),
        ("- **Basic plan**: It costs 1 thousand yuan per month. [1]", None),
        ("- **Scale**: Big models need data. [1]", "term"),
        ("- **Value-based pricing**: price by value. [1]\nThese points are crucial for success.", "padding"),
        ("Sources: [1] Section: 5.3.2", "echo"),
    ],
)
def test_each_en_defect_is_detected(text, cls):
    passages = [PRICING + "\nAI大模型需要数据。"]
    found = set(reader.reader_defects(_row(text, lang="en", question="What are the plans?"), passages))
    if cls is None:
        assert "number" not in found and "term" not in found, found
    else:
        assert cls in found, found


def test_outcomes_decide_fail():
    refused = _row("抱歉，知识库没有涵盖这个问题。", refused=True, refusal_reason="unsupported")
    assert reader.judge_row(refused, [PRICING])["reader_verdict"] == "fail"
    answered = _row(CLEAN_ZH, dataset="unanswerable_hard", should_refuse=True, gold_sections=[])
    assert reader.judge_row(answered, [PRICING])["reader_defects"].keys() == {"answered_unanswerable"}
    right_refusal = _row("抱歉。", dataset="unanswerable", should_refuse=True, refused=True, gold_sections=[])
    assert reader.judge_row(right_refusal, [PRICING])["reader_verdict"] == "clean"
    off = _row(CLEAN_ZH, cites_gold=False)
    assert reader.judge_row(off, [PRICING])["reader_verdict"] == "fail"


def test_clean_rates_per_language():
    rows = [
        {"lang": "zh", "dataset": "answerable", "reader_verdict": "clean", "reader_defects": {}},
        {
            "lang": "zh",
            "dataset": "answerable",
            "reader_verdict": "defect",
            "reader_defects": {"term": ["x"]},
        },
        {
            "lang": "en",
            "dataset": "answerable",
            "reader_verdict": "fail",
            "reader_defects": {"language": ["x"]},
        },
    ]
    rates = reader.clean_rates(rows)
    assert rates["by_lang"]["zh"]["clean_rate"] == 0.5 and rates["by_lang"]["en"]["fail_rate"] == 1.0
    assert rates["defect_classes"] == {"term": 1, "language": 1}


def test_the_detectors_agree_with_the_labelled_answers():
    # 145 answers of a real run, each labelled by reading (evals/labeling/RUBRIC.md). A detector change that
    # loses agreement fails here; the figures are printed in every report.
    ag = reader.labelled_agreement()
    assert ag["n"] >= 120 and all(ag["by_lang"][lang]["n"] >= 60 for lang in ("zh", "en"))
    assert ag["clean_accuracy"] >= 0.88 and ag["clean_kappa"] >= 0.75
    assert ag["per_class"]["flag"]["recall"] == 1.0 and ag["per_class"]["false_refusal"]["recall"] == 1.0


def _held_out(labels: str) -> dict:
    """The detectors' agreement with one run's 185 answers labelled by reading."""
    heldout = reader.labelled_agreement(reader.LABELS_PATH.with_name(labels))
    assert heldout["n"] == 185
    return heldout


def _held_out_run(labels: str, *, accuracy: float, kappa: float, zh: float, en: float) -> dict:
    """One labelled run: the detectors' agreement floors and the readers' clean rates per language."""
    heldout = _held_out(labels)
    assert heldout["clean_accuracy"] >= accuracy and heldout["clean_kappa"] >= kappa
    assert round(heldout["by_lang"]["zh"]["labelled_clean_rate"], 3) == zh
    assert round(heldout["by_lang"]["en"]["labelled_clean_rate"], 3) == en
    return heldout


def test_the_detectors_on_the_held_out_labels_of_the_grammar_shaped_run():
    # Labelled after the detectors were frozen: they over-count clean answers (English ones most), and this
    # floor makes a change that loses what they do see fail. The README reports these figures.
    heldout = _held_out("answer_labels_final.jsonl")
    assert heldout["clean_accuracy"] >= 0.78 and heldout["clean_kappa"] >= 0.5
    assert heldout["per_class"]["false_refusal"]["recall"] == 1.0
    assert heldout["per_class"]["answered_unanswerable"]["recall"] == 1.0


def test_the_detectors_on_the_held_out_labels_of_the_focused_run():
    # The second held-out set (answers read from focused passages, 2026-12-04): readers also counted refused
    # injection-wrapped and follow-up questions as false refusals, which the detectors partly pass.
    heldout = _held_out("answer_labels_focus.jsonl")
    assert heldout["clean_accuracy"] >= 0.75 and heldout["clean_kappa"] >= 0.43
    assert heldout["per_class"]["answered_unanswerable"]["recall"] == 1.0


def test_the_detectors_on_the_held_out_labels_of_the_latest_run():
    heldout = _held_out("answer_labels_focus2.jsonl")
    assert heldout["clean_accuracy"] >= 0.78 and heldout["clean_kappa"] >= 0.45
    assert heldout["per_class"]["answered_unanswerable"]["recall"] == 1.0


def test_the_detectors_on_the_held_out_labels_of_the_rendered_run():
    # Answers of 2026-12-05, English ones read from the English renderings of their passages: the readers
    # found 0.860 zh / 0.696 en clean; the detectors over-call clean (0.968 / 0.728), mostly on English
    # off-question and incomplete lists and on refused injection-wrapped questions.
    heldout = _held_out("answer_labels_render1.jsonl")
    assert heldout["clean_accuracy"] >= 0.80 and heldout["clean_kappa"] >= 0.42
    assert heldout["per_class"]["answered_unanswerable"]["recall"] == 1.0


def test_the_detectors_on_the_held_out_labels_of_the_lead_passage_run():
    # Answers of 2026-12-05 08:00 (lead-passage points, list completion, planted lines cut, attacks dropped
    # from questions): readers found 0.892 zh / 0.750 en clean; 158 labels carried from the rendered run's
    # identical answers, 27 read. No answered unanswerable question is left to detect.
    heldout = _held_out("answer_labels_render2.jsonl")
    assert heldout["clean_accuracy"] >= 0.83 and heldout["clean_kappa"] >= 0.40
    assert heldout["by_lang"]["en"]["labelled_clean_rate"] == 0.75


def test_the_detectors_on_the_held_out_labels_of_the_second_lead_passage_run():
    # Answers of 2026-12-05 08:43 (run B): 177 labels carried from run A's identical answers, 8 read;
    # readers found 0.892 zh / 0.739 en clean.
    heldout = _held_out("answer_labels_render3.jsonl")
    assert heldout["clean_accuracy"] >= 0.82 and heldout["clean_kappa"] >= 0.35
    assert round(heldout["by_lang"]["en"]["labelled_clean_rate"], 3) == 0.739


def test_the_detectors_on_the_held_out_labels_of_the_reviewed_renderings_run():
    # Answers of 2026-12-05 11:00 (run C, code 50b859c: reviewed renderings, example passages left out, a
    # section named by the question, definitions, points capped by the passages): 145 labels carried from
    # run B's identical answers, 40 read twice (a second reader blind; 37 of 40 verdicts agreed, the
    # stricter kept). Readers found 0.903 zh / 0.793 en clean.
    _held_out_run("answer_labels_render4.jsonl", accuracy=0.83, kappa=0.30, zh=0.903, en=0.793)


def test_the_detectors_on_the_held_out_labels_of_the_calibrated_gate_run():
    # Answers of 2026-12-05 14:56 (run D, code 01b5c8a: the gate's checker calibrated with token alignment,
    # durations and names held to the passages, follow-ups condensed with the conversation's sections): 174
    # labels carried from run C's identical answers, 11 read. Readers found 0.914 zh / 0.826 en clean.
    _held_out_run("answer_labels_render5.jsonl", accuracy=0.85, kappa=0.25, zh=0.914, en=0.826)


def test_the_detectors_on_the_held_out_labels_of_the_lead_family_run():
    # Answers of 2026-12-05 17:22 (run E, code 17b3644: only the lead passage's family read, the fixed
    # prompts' KV files): 133 labels carried from run D's identical answers, 52 read. Readers found 0.903 zh
    # / 0.826 en clean; the one fail in Chinese is the quicksort question answered with the tools list.
    heldout = _held_out_run("answer_labels_render6.jsonl", accuracy=0.85, kappa=0.25, zh=0.903, en=0.826)
    assert heldout["per_class"]["answered_unanswerable"]["recall"] == 1.0


def test_the_detectors_on_the_held_out_labels_of_the_english_route_run():
    # Answers of 2026-12-05 20:38 (run F, code 27049ee: English sentences held to their renderings in a route
    # of their own, near-ties by cosine at 0.2, documents read side by side, English figures and names read
    # in an added document's own words): 157 labels carried from run E's identical question and text, 28
    # read. Readers found 0.903 zh / 0.848 en clean; no unanswerable question is answered any more (the
    # quicksort one is refused), and 7.3.2 leading "缺少算力和数据" by a noise-size cosine gap lost
    # zh-risk-06 (the weight is 0.05 since).
    _held_out_run("answer_labels_render7.jsonl", accuracy=0.87, kappa=0.30, zh=0.903, en=0.848)


def test_the_detectors_on_the_held_out_labels_of_the_cached_instructions_run():
    # Answers of 2026-12-06 00:01 (run H, code be2cbd3: instructions between the passages and the question so
    # that the knowledge cache's files hold them, a one-line reminder of the list rule after the question,
    # family files, cut passages read after the instructions): 131 labels carried from run F's identical
    # question and text, 54 read. Readers found 0.914 zh / 0.880 en clean: non-list questions answered
    # directly, but two Chinese answers refused by the gate (an odd "依据资料编号为[1]", an embellished point).
    _held_out_run("answer_labels_render8.jsonl", accuracy=0.88, kappa=0.28, zh=0.914, en=0.880)


def test_the_detectors_on_the_held_out_labels_of_the_sibling_files_run():
    # Answers of 2026-12-06 03:00 (run I, code 5ddf3c5: a KV file per lead with each sibling alone, the item a
    # question writes as it stands, the lead-in repair of e18b754): 179 labels carried from run H's identical
    # question and text, 6 read, all clean (four were run H's lead-in echoes). Readers found 0.925 zh / 0.902 en.
    _held_out_run("answer_labels_render9.jsonl", accuracy=0.91, kappa=0.35, zh=0.925, en=0.902)


def test_the_detectors_on_the_held_out_labels_of_the_added_documents_fixes_run():
    # Answers of 2026-12-06 05:57 (run J, code 4447f85: the gate reads an added document's title and numbers in
    # words as digits, a Chinese point cannot begin with the passage label, China implied by a Chinese
    # document): 184 labels carried from run I's identical question and text, 1 read (a hard refusal that no
    # longer names "Chinese" as missing). The playbook's answers did not change.
    _held_out_run("answer_labels_render10.jsonl", accuracy=0.91, kappa=0.35, zh=0.925, en=0.902)


def test_the_detectors_on_the_held_out_labels_of_the_english_view_run():
    # Answers of 2026-12-06 09:24 (run L, code of this commit: English questions search the playbook's English
    # view, headings included, instead of waiting for the model's Chinese rendering; English questions read
    # passages within 0.035 of the best cosine): 150 labels carried from run J's identical question and text,
    # 35 read (24 refusals of uncovered questions with new closest sections, all clean). Of the 11 answers:
    # three better (all three profit models, all four pricing types, the churn passage without its bend),
    # two lost (a lessons question and a follow-up on market expansion refused: the view ranked the case
    # introduction and the research methods first). Readers found 0.925 zh / 0.913 en clean.
    _held_out_run("answer_labels_render11.jsonl", accuracy=0.90, kappa=0.30, zh=0.925, en=0.913)


def test_the_detectors_on_the_held_out_labels_of_the_lessons_and_own_words_run():
    # Answers of 2026-12-06 11:25 (run M, code of this commit: "lessons"/"learn"/"takeaways" name 6.1.3 经验与启示
    # in focus; a rewritten follow-up is also searched in the founder's own words): 183 labels carried from run
    # L's identical question and text, 2 read. The OpenAI lessons question, refused in run L, now gives the four
    # lessons recast as causes of the success (defect, unsupported); the GTP.ai lessons follow-up is the same
    # answer with a new citation number. Readers found 0.925 zh / 0.913 en clean.
    _held_out_run("answer_labels_render12.jsonl", accuracy=0.90, kappa=0.30, zh=0.925, en=0.913)


def test_the_detectors_on_the_held_out_labels_of_the_continuations_run():
    # Answers of 2026-12-06 15:57 (run N: follow-ups that only ask for more continue the previous question by
    # rule, the founder's own words decide between sections, 教训 names 6.2.3): 183 labels carried from run M's
    # identical question and text, 2 read, both clean: "到2030年全球AI市场规模预计会达到多少？" is answered from
    # 8.1 instead of refused, and the GTP.ai lessons are framed with the passage's lead-in. Readers found
    # 0.935 zh / 0.913 en clean.
    _held_out_run("answer_labels_render13.jsonl", accuracy=0.90, kappa=0.30, zh=0.935, en=0.913)
