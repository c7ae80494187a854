"""The shared text rules: which characters are Han, which language a text is in, where sentences end and
what a figure is worth."""

from __future__ import annotations

import re

import pytest

from textkit import (
    CJK_SCRIPT,
    HAN_CLASS,
    char_weight,
    detect_language,
    figures,
    fold,
    han_run,
    has_han,
    is_han,
    known_figures,
    sentence_spans,
    split_sentences,
    unstated,
    weighted_windows,
)

# --- Han characters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "char",
    ["中", "鿿", "㐀", "䶵", "豈", "𠀀", "𪚥", "\U00030000"],  # main block, Extension A, compatibility, B, G
)
def test_ideographs_of_every_block_are_han(char):
    assert is_han(char) and has_han(f"x{char}x")


@pytest.mark.parametrize("char", ["。", "，", "１", "Ａ", "ア", "䷀", "a", "é", "😀"])
def test_punctuation_kana_full_width_and_hexagrams_are_not_han(char):
    assert not is_han(char)


def test_cjk_script_is_han_plus_punctuation_kana_and_full_width_forms():
    for char in ["中", "𠀀", "。", "，", "１", "ア", "︰"]:
        assert CJK_SCRIPT.search(char), char
    for char in ["a", "—", "“", "•", "😀"]:
        assert not CJK_SCRIPT.search(char), char


def test_han_runs_and_the_class_work_inside_larger_patterns():
    assert re.findall(han_run(4, 8), "AI大模型定价策略 and 成本") == ["大模型定价策略"]
    assert re.fullmatch(f"[^{HAN_CLASS}]+", "Pricing, 1000 yuan.")


# --- language ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("AI大模型创业公司应该采用哪些定价策略？", "zh"),
        ("SaaS订阅怎么定价？", "zh"),  # 6 Han, 4 letters: an acronym inside Chinese
        ("What does 定价 mean in the playbook?", "en"),  # 2 Han, 25 letters: a quoted term
        ("How should a founder price a SaaS product? 定价", "en"),
        ("常用的开发框架包括TensorFlow和PyTorch，它们都是开源深度学习框架。", "zh"),
        ("𠀀𠀁 are rare characters", "en"),
        ("𠀀𠀁𠀂𠀃", "zh"),  # Extension B alone is Chinese too
    ],
)
def test_language_is_the_one_carrying_more_of_the_text(text, language):
    assert detect_language(text) == language


def test_the_threshold_is_where_han_and_latin_carry_the_same():
    # one Han character ~ four letters: 1 Han + 4 letters is the boundary, one letter more tips it
    assert detect_language("定abcd") == "zh"
    assert detect_language("定abcde") == "en"


def test_text_without_letters_gets_the_default():
    assert detect_language("123 ???", default="zh") == "zh"
    assert detect_language("[1]", default="") == ""


# --- sentences -----------------------------------------------------------------------------------------


def test_sentences_end_at_chinese_and_western_stops_but_not_inside_numbers():
    assert split_sentences("价格是1.5元。我们增长了！？Revenue grew 3.5x. See 5.3.2 now\n- item") == [
        "价格是1.5元。",
        "我们增长了！？",
        "Revenue grew 3.5x.",
        "See 5.3.2 now",
        "- item",
    ]


def test_titles_and_initials_do_not_end_a_sentence():
    text = "Neural Networks: by Dr. Qiu Xipeng. By Daniel Jurafsky and James H. Martin. Done."
    assert split_sentences(text) == [
        "Neural Networks: by Dr. Qiu Xipeng.",
        "By Daniel Jurafsky and James H. Martin.",
        "Done.",
    ]


def test_closing_quotes_stay_with_their_sentence_and_ascii_semicolons_do_not_split():
    assert split_sentences("他说：“好。”然后走了。A; B.") == ["他说：“好。”", "然后走了。", "A; B."]


def test_trailing_markers_stay_with_the_sentence_they_follow():
    text = "定价很重要。[1][2] 其次是成本。[3]"
    spans = sentence_spans(text, trailing=re.compile(r"(?:[ \t]*\[\d+\])+"))
    assert [text[a:b] for a, b in spans] == ["定价很重要。[1][2]", "其次是成本。[3]"]


# --- figures -------------------------------------------------------------------------------------------


def test_figures_normalise_width_separators_scales_and_units():
    found = [(f.value, f.unit) for f in figures("１，０００元, 2万, 1.5万亿美元, $2.5 million, 30％, 7B")]
    assert found == [(1000.0, "cny"), (20000.0, ""), (1.5e12, "usd"), (2.5e6, "usd"), (30.0, "%"), (7e9, "")]


def test_markers_section_and_list_numbers_and_names_are_not_figures():
    assert figures("1. 见 5.3.2 节。[12] 【3】 A100 和 H800") == []


def test_a_figure_ending_a_sentence_is_read_and_a_version_is_not_split():
    # "in 2015." was invisible to the grounding check's parser (a "." after the digits); "1.5" is one figure
    assert [f.value for f in figures("It was released in 2015. Qwen 1.5 followed.")] == [2015.0, 1.5]


def test_a_bare_chinese_scale_is_a_figure():
    assert [(f.value, f.unit) for f in figures("市场达到万亿美元级别")] == [(1e12, "usd")]


def test_unstated_names_the_missing_figure_and_the_changed_currency():
    known = known_figures(["基础版每月1000元。", "增长30%。"])
    by_text = {f.text: unstated(f, known) for f in figures("$1000, 1000 yuan, 1200元, 30 percent")}
    assert by_text == {
        "$1000": "currency changed",
        "1000 yuan": None,
        "1200元": "not in the passages",
        "30 percent": None,
    }


# --- folded spans ------------------------------------------------------------------------------------


def test_folding_drops_spacing_markup_width_and_case():
    assert fold("Ｓｙｓ-tem  **PROMPT** 知识_库") == "systemprompt知识库"


def test_windows_are_the_shortest_reaching_the_weight_with_han_counting_double():
    assert [char_weight(c) for c in "a知1"] == [1, 2, 1]
    assert list(weighted_windows("abcdef", 4)) == [(0, 4), (1, 5), (2, 6)]
    assert list(weighted_windows("知识ab", 4)) == [(0, 2), (1, 4)]
    assert list(weighted_windows("abc", 4)) == []


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("a sales cycle of three to nine months", "a sales cycle of 3 to 9 months"),
        ("twenty-five people", "25 people"),
        ("二十人以下的团队最多设三个目标", "20人以下的团队最多设3个目标"),
        ("七分钟陈述和五分钟问答", "7分钟陈述和5分钟问答"),
        ("十三周，一百二十个", "13周，120个"),
        # words that hold a numeral but are not numbers stay as written
        ("十分重要，统一管理，一些人，两三个人", "十分重要，统一管理，一些人，两三个人"),
    ],
)
def test_numbers_in_words_become_digits(text, digits):
    from textkit.numbers import spelled_as_digits

    assert spelled_as_digits(text) == digits
