"""The advisor's answer path with a grammar-taking fake: shape by code, not-covered verdicts, removal
instead of ⚠, the loop guard, answerability before generation and the passages the model reads."""

from __future__ import annotations

import re
from types import SimpleNamespace

from advisor.advisor import _answer_passages
from advisor.generate import ScriptedGenerator
from indexing import Hit
from tests.advisor.support import make_chunks


class GrammarScriptedGenerator(ScriptedGenerator):
    """A scripted model that says it samples under a grammar, and records the grammars it was given.

    It does not enforce them (llama.cpp does; tests/advisor/test_generators_llamacpp.py covers the real
    backend): what it writes is exactly what a constrained model could write, so the advisor's parsing and
    rendering are what is tested here.
    """

    accepts_grammar = True

    def __init__(self, replies):
        super().__init__(replies)
        self.grammars: list[str | None] = []

    def stream(self, messages, max_new_tokens, temperature, stop_event=None, *, grammar=None):
        self.grammars.append(grammar)
        return super().stream(messages, max_new_tokens, temperature, stop_event)


def _advisor(fake_settings, embedder, index, reply, **overrides):
    from advisor import build_advisor

    # The hash embedder's cosines are not semantic: every retrieved passage is given to the model here.
    update = {"unsupported_policy": "remove", "passage_score_margin": 0.0, **overrides}
    settings = fake_settings.model_copy(update=update)
    generator = GrammarScriptedGenerator(reply if callable(reply) else (reply,))
    return build_advisor(settings, generator=generator, embedder=embedder, index=index), generator


QUESTION = "AI大模型创业公司应该采用哪些定价策略？"


def _passage_number(messages, phrase: str) -> int:
    """The number this prompt gave the passage holding `phrase`."""
    blocks = re.split(r"^\[(\d+)\] ", messages[-1]["content"], flags=re.M)  # [intro, n1, text1, n2, ...]
    return next(int(num) for num, text in zip(blocks[1::2], blocks[2::2], strict=True) if phrase in text)


def _two_of_three_risks(messages) -> str:
    """Two of the three items of the risk-identification list, cited by its number in this prompt."""
    n = _passage_number(messages, "资金链断裂")
    return f"- **技术风险**：如模型性能不稳定、算法失效等。[{n}]\n- **法律风险**：如知识产权侵权、合同纠纷等。[{n}]"


def _pricing_points(messages) -> str:
    """The points of the pricing passage, cited by its number in this prompt."""
    n = _passage_number(messages, "加上一定的利润")
    return (
        f"- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。[{n}]\n"
        f"- 价值导向定价：根据用户对产品或服务的价值感知，设定价格。[{n}]\n"
        f"- **成本导向定价**：基于产品或服务的成本，加上一定的利润，确定价格。[{n}]"
    )


def test_the_answer_is_rendered_from_the_points_under_a_grammar(fake_settings, embedder, index):
    # (list completion would add the other two pricing strategies: tested below)
    adv, gen = _advisor(fake_settings, embedder, index, _pricing_points, complete_lists=False)
    answer = adv.ask(QUESTION)
    assert not answer.refused, answer.text
    lines = answer.text.splitlines()
    assert lines[0].startswith("- **成本导向定价**：") and lines[1].startswith("- **价值导向定价**：")
    assert len(lines) == 2  # the repeated point is gone (the loop guard stopped it)
    assert gen.grammars and gen.grammars[0] and "root ::=" in gen.grammars[0]


def test_the_models_not_covered_verdict_becomes_an_honest_refusal(fake_settings, embedder, index):
    adv, _ = _advisor(fake_settings, embedder, index, "知识库没有涵盖这个问题。")
    answer = adv.ask(QUESTION)
    assert answer.refused and answer.refusal_reason == "not_covered"
    assert "知识库中最接近的章节" in answer.text and answer.hits


def test_an_unsupported_point_is_removed_and_listed_never_flagged(fake_settings, embedder, index):
    def reply(messages):
        points = _pricing_points(messages).rsplit("\n", 1)[0]
        n = re.search(r"\[(\d+)\]$", points).group(1)  # citing the same passage: the gate, not drift, decides
        return points + f"\n- 市场份额：创业公司应该把价格定为竞争对手的一半，这样一定能赢得整个市场。[{n}]"

    adv, _ = _advisor(fake_settings, embedder, index, reply)
    answer = adv.ask(QUESTION)
    assert not answer.refused
    assert "⚠" not in answer.text and "赢得整个市场" not in answer.text
    assert any("赢得整个市场" in s for s in answer.removed)


def test_a_question_asking_for_a_missing_figure_is_refused_before_generation(fake_settings, embedder, index):
    adv, gen = _advisor(fake_settings, embedder, index, "- 不应生成：任何内容都不应该出现在这里。[1]")
    answer = adv.ask("定价案例里的公司2023年的营收是多少？")
    assert answer.refused and answer.refusal_reason == "not_covered", answer.text
    assert set(answer.missing) >= {"2023", "营收"} and "“2023”" in answer.text
    assert gen.calls == []  # no tokens spent


def test_the_model_reads_only_passages_close_to_the_best(chunks):
    hits = [Hit(chunk=c, score=1.0 / (i + 1), rank=i + 1) for i, c in enumerate(chunks[:4])]
    dense = {c.chunk_id: s for c, s in zip(chunks[:4], (0.90, 0.89, 0.86, 0.80), strict=True)}
    found = SimpleNamespace(hits=tuple(hits), dense_scores=dense, best_dense=0.90)
    settings = SimpleNamespace(passage_score_margin=0.025, passage_score_margin_en=0.05, min_passages=1)
    assert [h.rank for h in _answer_passages(found, settings, "zh")] == [1, 2]
    # An English question's cosines (English view, English documents) spread wider: its own margin.
    assert [h.rank for h in _answer_passages(found, settings, "en")] == [1, 2, 3]
    settings.passage_score_margin = 0.0  # off: all of them
    assert len(_answer_passages(found, settings, "zh")) == 4
    settings.passage_score_margin, settings.min_passages = 0.001, 3
    assert [h.rank for h in _answer_passages(found, settings, "zh")] == [1, 2, 3]


def test_make_chunks_is_the_shared_corpus():
    assert len(make_chunks()) == 6


def test_a_point_keeps_its_marker_when_the_sentence_carrying_it_is_removed(fake_settings, embedder, index):
    def reply(messages):
        first = _pricing_points(messages).splitlines()[0]
        n = first[first.rindex("[") + 1 : -1]
        return first.replace(f"[{n}]", f"创业公司应该把价格定为竞争对手的一半，这样一定能赢得整个市场。[{n}]")

    adv, _ = _advisor(fake_settings, embedder, index, reply)
    answer = adv.ask(QUESTION)
    assert not answer.refused and "赢得整个市场" not in answer.text
    assert answer.text.startswith("- **成本导向定价**：") and answer.text.endswith("]"), answer.text
    assert answer.citations and "5.3.2" in answer.citations[0].section


def test_points_drifting_into_another_passage_are_dropped(fake_settings, embedder, index):
    def reply(messages):
        return (
            _pricing_points(messages).rsplit("\n", 1)[0] + "\n- **法律风险**：识别和评估法律方面的风险。[5]"
        )

    # Every family read (the risk passage too), so that the drift reaches the answer's points at all.
    adv, _ = _advisor(fake_settings, embedder, index, reply, lead_family_only=False)
    answer = adv.ask(QUESTION)
    assert not answer.refused and "法律风险" not in answer.text and "价值导向定价" in answer.text
    adv, _ = _advisor(
        fake_settings, embedder, index, reply, points_from_lead_passage=False, lead_family_only=False
    )
    assert "法律风险" in adv.ask(QUESTION).text
    # Reading only the lead's family, the risk passage is not read: a point citing it cites nothing there.
    adv, _ = _advisor(fake_settings, embedder, index, reply, points_from_lead_passage=False)
    answer = adv.ask(QUESTION)
    assert "法律风险" not in answer.text and all("5.3" in c.section for c in answer.citations)


def test_an_answer_naming_most_of_a_list_gets_the_rest_of_it(fake_settings, embedder, index):
    question = "AI大模型创业有哪些风险？"
    adv, _ = _advisor(fake_settings, embedder, index, _two_of_three_risks)
    lines = adv.ask(question).text.splitlines()
    assert [line.split("**")[1] for line in lines] == ["技术风险", "资金风险", "法律风险"]
    assert "资金不足、资金链断裂" in lines[1]
    adv, _ = _advisor(fake_settings, embedder, index, _two_of_three_risks, complete_lists=False)
    assert "资金风险" not in adv.ask(question).text


def test_a_question_about_one_item_is_not_given_the_whole_list(fake_settings, embedder, index):
    # focus off: the model reads the whole risk list, as when focusing finds no item named
    adv, _ = _advisor(fake_settings, embedder, index, _two_of_three_risks, focus_passages=False)
    answer = adv.ask("创业风险识别中的法律风险指什么？")
    assert "法律风险" in answer.text and "资金风险" not in answer.text
