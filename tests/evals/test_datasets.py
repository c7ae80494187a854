"""The committed evaluation sets: sizes, balance, and that every gold section and Chinese key fact is real."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from config import PROJECT_ROOT
from evals.datasets import DatasetError, load_dataset, load_datasets
from evals.metrics import section_numbers

PLAYBOOK = PROJECT_ROOT / "knowledge" / "playbook.md"


def _playbook_sections() -> dict[str, str]:
    """Section number -> its text (heading to the next heading of the same or a higher level)."""
    lines = PLAYBOOK.read_text(encoding="utf-8").splitlines()
    heads = []
    in_code = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
        m = re.match(r"^(#+)\s+(.*)$", line)
        if m and not in_code:
            heads.append((i, len(m.group(1)), m.group(2)))
    sections = {}
    for j, (i, level, title) in enumerate(heads):
        nums = section_numbers(title)
        if not nums:
            continue
        end = next((k for k, lv, _ in heads[j + 1 :] if lv <= level), len(lines))
        sections[nums[0]] = "\n".join(lines[i:end])
    return sections


def test_sizes_and_language_balance():
    answerable = load_dataset("answerable")
    langs = Counter(c.lang for c in answerable)
    assert len(answerable) >= 80 and langs["zh"] == langs["en"]
    topics = Counter(c.topic for c in answerable)
    for topic in ("team", "business_model", "pricing", "risk", "case_success", "case_failure", "appendix"):
        assert topics[topic] >= 4, topic
    for name, minimum in (("unanswerable", 20), ("multiturn", 10), ("injection", 10)):
        cases = load_dataset(name)
        assert len(cases) >= minimum, name
        assert {c.lang for c in cases} == {"zh", "en"}, name
    injection = load_dataset("injection")
    assert {c.kind for c in injection} == {"direct", "indirect"}
    assert {c.kind for c in load_dataset("unanswerable")} == {"off_topic", "near_miss"}


def test_ids_unique_across_sets():
    ids = [c.id for c in load_datasets()]
    assert len(ids) == len(set(ids))


@pytest.mark.skipif(not PLAYBOOK.exists(), reason="knowledge/playbook.md not built yet")
def test_gold_sections_exist_and_chinese_key_facts_are_in_them():
    sections = _playbook_sections()
    for case in load_dataset("answerable") + load_dataset("multiturn"):
        for gold in case.gold_sections:
            assert gold in sections, f"{case.id}: no section {gold} in the playbook"
        if case.lang != "zh":
            continue
        text = "\n".join(sections[g] for g in case.gold_sections)
        for fact in case.key_facts:
            options = [fact] if isinstance(fact, str) else list(fact)
            assert any(o in text for o in options), f"{case.id}: key fact {fact} not in {case.gold_sections}"


def test_indirect_injection_documents_carry_their_canary():
    for case in load_dataset("injection"):
        if case.kind == "indirect":
            assert case.document is not None
            assert any(c in case.document.text for c in case.canaries), case.id
            assert section_numbers(case.document.text), f"{case.id}: document needs a numbered heading"


def test_bad_lines_fail_with_file_and_line(tmp_path):
    bad = tmp_path / "answerable.jsonl"
    good = {
        "id": "x",
        "lang": "zh",
        "topic": "t",
        "question": "q",
        "gold_sections": ["5.3.2"],
        "key_facts": ["a"],
    }
    bad.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "y", "lang": "fr"}) + "\n", "utf-8")
    with pytest.raises(DatasetError, match=r"answerable.jsonl:2: lang"):
        load_dataset("answerable", bad)
    bad.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n", "utf-8")
    with pytest.raises(DatasetError, match="duplicate id"):
        load_dataset("answerable", bad)
    bad.write_text("{not json\n", "utf-8")
    with pytest.raises(DatasetError, match=r":1: not valid JSON"):
        load_dataset("answerable", bad)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("nope")
