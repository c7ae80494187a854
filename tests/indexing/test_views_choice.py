"""The bilingual views' decision (indexing/views_choice.py): "auto" is on for an index that holds Chinese
chunks (the English view English questions search) and off for one with none; true/false force it; the
reason says which."""

from __future__ import annotations

from dataclasses import replace

import pytest

from indexing import Chunk, chunk_languages, decide_views, views_for_chunks

CHUNK = Chunk("c:0-9", "c", "创业团队的激励机制", "4.1.3 激励", "playbook.md", "zh", 0, 9)


def test_auto_turns_views_on_for_an_index_in_both_languages():
    choice = decide_views("auto", {"zh": 77, "en": 40})
    assert choice.on
    assert choice.reason == "auto: the index holds chunks in both languages (40 en, 77 zh)"
    assert choice.as_dict() == {
        "on": True,
        "setting": "auto",
        "languages": {"en": 40, "zh": 77},
        "reason": choice.reason,
    }


def test_auto_turns_the_english_view_on_for_the_chinese_playbook_alone():
    choice = decide_views("auto", {"zh": 77, "en": 0})
    assert choice.on
    assert (
        choice.reason == "auto: English questions meet the Chinese chunks in their English renderings (77 zh)"
    )


@pytest.mark.parametrize(("languages", "shown"), [({"en": 12}, "12 en"), ({}, "no chunks")])
def test_auto_leaves_views_off_for_an_index_with_no_chinese_chunk(languages, shown):
    choice = decide_views("auto", languages)
    assert not choice.on
    assert choice.reason == f"auto: the index holds no Chinese chunk ({shown})"


def test_true_and_false_force_the_views_whatever_the_index_holds():
    assert decide_views(True, {"en": 12}).on
    assert "set explicitly" in decide_views(True, {"en": 12}).reason
    assert not decide_views(False, {"zh": 77, "en": 40}).on


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="true, false or 'auto'"):
        decide_views("sometimes", {"zh": 1})  # type: ignore[arg-type]


def test_the_decision_reads_each_chunks_language():
    english = replace(CHUNK, chunk_id="e:0-9", source="safe_notes.txt", lang="en", text="A valuation cap")
    assert chunk_languages(c.lang for c in [CHUNK, CHUNK, english]) == {"en": 1, "zh": 2}
    assert views_for_chunks("auto", [CHUNK]).on
    assert not views_for_chunks("auto", [english]).on
    assert views_for_chunks("auto", [CHUNK, english]).on
