"""English renderings with a translating fake: per-line lookup, what stays Chinese, the file's key and
damage, and an English answer whose prompt reads the renderings while the gate and the quotes keep the
Chinese original."""

from __future__ import annotations

import json
import re

import pytest

from advisor import build_advisor
from advisor.generate import ScriptedGenerator
from advisor.renderings import Renderings, render_line
from tests.advisor.support import CORPUS, PRICING, make_chunks

# What the fake "model" answers for each Chinese text it is given (a list item's name comes from the
# glossary, its explanation is asked alone; list markers are not part of what it reads).
ENGLISH = {
    "常见的定价策略包括以下几种：": "Common pricing strategies include the following:",
    "基于产品或服务的成本，加上一定的利润，确定价格。": "the price is the cost of the product or service plus a certain profit.",
    "根据用户对产品或服务的价值感知，设定价格。": "the price is set by the value users perceive in the product or service.",
    "基础版产品定价为每月1000元，包含基本的AI大模型服务；专业版产品定价为每月5000元。": "the basic edition costs "
    "1000 yuan (RMB) a month; the professional edition 5000 yuan (RMB) a month.",
    "创新的做法": "Novel approach",
}


class Translator(ScriptedGenerator):
    """Answers a rendering prompt with the line's English from ENGLISH (or "" for lines it does not know)."""

    model_id = "fake-translator"

    def __init__(self, english=ENGLISH):
        super().__init__(self._reply)
        self.english = english
        self.lines: list[str] = []

    def _reply(self, messages):
        line = re.search(r"^Chinese: (.*)$", messages[-1]["content"], flags=re.M).group(1)
        self.lines.append(line)
        return self.english.get(line, "")


def pricing_text() -> str:
    return dict(CORPUS)[PRICING]


def test_lines_are_rendered_once_and_looked_up_line_by_line(tmp_path):
    r = Renderings(tmp_path / "en.json", "model-a", shipped=None)
    gen = Translator()
    text = pricing_text()
    assert r.build(gen, [text, text]) == 3  # 3 lines the fake knows; each text asked once
    assert len(gen.lines) == len(set(gen.lines)) == 5
    shown = r.render(text).split("\n")
    assert shown[0] == "Common pricing strategies include the following:"
    # the list marker stays as it was; the body is the rendering
    assert (
        shown[1]
        == "- **Cost-based pricing**: the price is the cost of the product or service plus a certain profit."
    )
    # a line with no rendering stays Chinese: never dropped, never half-translated
    assert shown[3] == text.split("\n")[3]
    assert r.missing([text]) == [text.split("\n")[3].strip(), text.split("\n")[4].strip()]
    # a passage that focus cut down to its lead and one item maps line by line, with no second call
    focused = text.split("\n")[0] + "\n\n" + text.split("\n")[2]
    assert r.render(focused) == (
        "Common pricing strategies include the following:\n\n- **Value-based pricing**: the price is set by "
        "the value users perceive in the product or service."
    )
    assert r.build(gen, [focused]) == 0 and len(gen.lines) == 5


def test_an_item_keeps_its_name_and_code_stays_code(tmp_path):
    gen = Translator({**ENGLISH, "OpenAI采用了非营利性模式。": "OpenAI adopted a non-profit model."})
    # the name is the glossary's English even where the model would have merged it into the sentence
    assert render_line(gen, "- **创新的商业模式**：OpenAI采用了非营利性模式。") == (
        "- **Innovative business model**: OpenAI adopted a non-profit model."
    )
    # a name the glossary lacks is rendered on its own
    assert render_line(gen, "- **创新的做法**：OpenAI采用了非营利性模式。") == (
        "- **Novel approach**: OpenAI adopted a non-profit model."
    )
    assert render_line(Translator({}), "- **创新的做法**：OpenAI采用了非营利性模式。") == ""
    r = Renderings(tmp_path / "en.json", "model-a", shipped=None)
    code = "```mermaid\nA[输入层] --> B[隐藏层]\n```\n常见的定价策略包括以下几种："
    assert r.missing([code]) == ["常见的定价策略包括以下几种："]
    r.build(gen, [code])
    assert (
        r.render(code)
        == "```mermaid\nA[输入层] --> B[隐藏层]\n```\nCommon pricing strategies include the following:"
    )


def test_text_without_han_is_its_own_rendering(tmp_path):
    r = Renderings(tmp_path / "en.json", "model-a", shipped=None)
    english_doc = "Interview 20 customers before you build.\n- Ask about their last purchase."
    assert r.missing([english_doc]) == []
    assert r.render(english_doc) == english_doc


def test_a_rendering_that_loses_a_figure_or_keeps_chinese_is_not_used():
    line = (
        "- **成本导向定价**：基础版产品定价为每月1000元，包含基本的AI大模型服务；专业版产品定价为每月5000元。"
    )
    body = line[2:]
    assert (
        render_line(Translator({body: "**Cost-based pricing**: a cheap basic and a dear pro edition."}), line)
        == ""
    )
    assert (
        render_line(Translator({body: "**Cost-based pricing**: 基础版 1000 yuan, pro 5000 yuan."}), line)
        == ""
    )
    good = render_line(Translator(), line)
    assert good.startswith("- **Cost-based pricing**") and "1000 yuan" in good and "5000 yuan" in good


def test_the_file_is_reused_only_under_the_same_key(tmp_path):
    path = tmp_path / "en.json"
    first = Renderings(path, "model-a", shipped=None)
    first.build(Translator(), [pricing_text()])
    assert len(Renderings(path, "model-a", shipped=None)) == 3  # a restart renders nothing again
    assert len(Renderings(path, "model-b", shipped=None)) == 0  # another model: its own renderings
    data = json.loads(path.read_text(encoding="utf-8"))
    data["key"] = "0" * 64  # another prompt or format
    path.write_text(json.dumps(data), encoding="utf-8")
    assert len(Renderings(path, "model-a", shipped=None)) == 0


@pytest.mark.parametrize("damage", [b"", b"{not json", b"\xff\xfe\x00garbage", b"[1, 2, 3]"])
def test_a_damaged_file_is_ignored_and_made_again(tmp_path, damage):
    path = tmp_path / "en.json"
    path.write_bytes(damage)
    r = Renderings(path, "model-a", shipped=None)
    assert len(r) == 0
    r.build(Translator(), [pricing_text()])
    assert len(Renderings(path, "model-a", shipped=None)) == 3


def test_the_shipped_file_serves_a_fresh_data_folder(tmp_path):
    made = Renderings(tmp_path / "made.json", "model-a", shipped=None)
    made.build(Translator(), [pricing_text()])
    shipped = tmp_path / "shipped.json"
    assert made.export(shipped, [pricing_text().split("\n")[1]]) == 1  # only the lines of the given texts
    fresh = Renderings(tmp_path / "data" / "en.json", "model-a", shipped=shipped)
    assert len(fresh) == 1 and fresh.missing([pricing_text().split("\n")[1]]) == []
    assert len(Renderings(tmp_path / "data" / "en.json", "model-b", shipped=shipped)) == 0


def test_an_english_answer_reads_the_renderings_and_quotes_the_original(tmp_path, fake_settings, embedder):
    from indexing import VectorIndex

    chunks = make_chunks()
    index = VectorIndex.from_chunks(chunks, embedder)
    calls = []

    def reply(messages):
        if messages[-1]["content"].startswith(("Chinese: ", "Terms in")):
            return Translator()._reply(messages)
        calls.append(messages)
        return "- **Cost-based pricing**: the price is the cost of the product or service plus a certain profit. [1]"

    settings = fake_settings.model_copy(update={"english_renderings": True})
    adv = build_advisor(settings, generator=ScriptedGenerator(reply), embedder=embedder, index=index)
    adv.prepare_knowledge_cache()
    assert settings.renderings_path.exists()
    answer = adv.ask("What is cost-based pricing?")
    assert not answer.refused, answer.text
    prompt = calls[-1][-1]["content"]
    assert "plus a certain profit." in prompt and "基于产品或服务的成本" not in prompt
    # the quote under the citation is the playbook's own text
    assert answer.citations[0].section == PRICING and "成本" in answer.citations[0].quote
    # a Chinese question reads the Chinese text
    adv.ask("什么是成本导向定价？")
    assert "基于产品或服务的成本" in calls[-1][-1]["content"]


@pytest.mark.parametrize(
    ("line", "rendered"),
    [
        ("> 摘要：", "> Summary:"),
        ("### 摘要：", "### Summary:"),
        ("3） 摘要：", "3） Summary:"),
        ("摘要：", "Summary:"),
    ],
)
def test_quote_heading_and_list_marks_stay_as_they_are(line, rendered):
    assert render_line(Translator({"摘要：": "Summary:"}), line) == rendered


def test_a_reviewed_rendering_comes_before_the_models_and_is_never_exported_as_its(tmp_path):
    line = pricing_text().split("\n")[0]
    reviewed = tmp_path / "reviewed.json"
    entry = {"en": "The usual pricing strategies are these:", "model": "…", "why": "test"}
    reviewed.write_text(json.dumps({"format": 1, "lines": {line: entry}}), encoding="utf-8")
    r = Renderings(tmp_path / "en.json", "model-a", shipped=None, reviewed=reviewed)
    gen = Translator()
    r.build(gen, [pricing_text()])
    assert line not in gen.lines  # a reviewed line is not rendered again
    assert r.render(pricing_text()).split("\n")[0] == "The usual pricing strategies are these:"
    assert r.reviewed == 1 and len(r) == 2
    out = tmp_path / "shipped.json"
    r.export(out, [pricing_text()])
    assert line not in json.loads(out.read_text(encoding="utf-8"))["lines"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps([1]),
        json.dumps({"lines": {"定价": {"en": ""}}}),
        json.dumps({"lines": {"定价": {"en": "定价"}}}),
    ],
)
def test_a_damaged_reviewed_file_is_an_error_not_a_silent_fallback(tmp_path, content):
    reviewed = tmp_path / "reviewed.json"
    reviewed.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="reviewed renderings"):
        Renderings(tmp_path / "en.json", "model-a", shipped=None, reviewed=reviewed)


def test_the_shipped_reviewed_renderings_are_lines_of_the_playbook_and_keep_their_figures():
    from advisor.renderings import REVIEWED, load_reviewed
    from config import get_settings

    playbook = (get_settings().knowledge_dir / "playbook.md").read_text(encoding="utf-8")
    lines = {line.strip() for line in playbook.split("\n")}
    lines |= {line.lstrip("#").strip() for line in lines if line.startswith("#")}  # headings are reviewed too
    reviewed = load_reviewed(REVIEWED)
    assert len(reviewed) >= 40
    for chinese, english in reviewed.items():
        assert chinese in lines, chinese[:30]
        for figure in re.findall(r"\d+(?:\.\d+)?", chinese):
            assert figure in english.replace(",", ""), (chinese[:30], figure)


def test_every_playbook_heading_ships_an_english_rendering_for_the_english_view(tmp_path):
    # English questions search the playbook through its English view (advisor/bilingual.py) with no model
    # call; a heading left in Chinese there is a section an English question cannot name.
    from advisor.renderings import Renderings
    from config import get_settings
    from indexing.chunking import find_headings
    from indexing.documents import split_front_matter

    playbook = (get_settings().knowledge_dir / "playbook.md").read_text(encoding="utf-8")
    headings = [h.title for h in find_headings(playbook[split_front_matter(playbook)[1] :])]
    shipped = Renderings(tmp_path / "none.json", None)  # what a view reads: shipped and reviewed lines
    assert len(headings) > 100
    for heading in headings:
        english = shipped.render(heading)
        assert english != heading and not re.search(r"[\u4e00-\u9fff]", english), heading
        assert heading.split(" ", 1)[0] in english or not heading[0].isdigit(), (heading, english)
