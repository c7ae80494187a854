"""Citation markers -> chunks and quotes; the grounding gate's sentence rules and policies."""

from __future__ import annotations

from advisor.cite import build_citations, clean_markers, marker_numbers, strip_markers
from advisor.ground import UNSUPPORTED_MARK, check_answer, is_non_factual, split_answer
from advisor.support_lexical import LexicalChecker
from config import settings_for_tests
from indexing import Hit
from tests.advisor.support import PRICING, PRICING_CASE, RISK


def _hits(chunks, *sections):
    by_section = {c.section: c for c in chunks}
    return [Hit(by_section[s], 1.0 / r, r) for r, s in enumerate(sections, 1)]


def test_every_marker_form_is_parsed():
    text = "甲[1]。乙[2][3]。丙[1, 4]。丁【5】。戊[来源6]. F [Source 7]. G [2，8]"
    assert marker_numbers(text) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_markers_pointing_nowhere_are_dropped_and_valid_ones_normalised():
    text = "成本导向定价基于成本。[1][7] 价值导向【2】，竞争导向[1, 2, 9]。无效[0]。"
    cleaned = clean_markers(text, n_sources=3)
    assert cleaned == "成本导向定价基于成本。[1] 价值导向[2]，竞争导向[1][2]。无效。"
    assert strip_markers("Use value-based pricing [2].") == "Use value-based pricing."


def test_citations_map_to_the_chunk_section_source_and_supporting_quote(chunks):
    hits = _hits(chunks, PRICING, RISK)
    citations = build_citations(
        {1: ["价值导向定价根据用户的价值感知设定价格"], 2: ["法律风险包括知识产权侵权"]}, hits
    )
    assert [c.n for c in citations] == [1, 2]
    pricing, risk = citations
    assert (pricing.section, pricing.source, pricing.chunk_id) == (
        PRICING,
        "playbook.md",
        hits[0].chunk.chunk_id,
    )
    assert "价值导向定价" in pricing.quote and "成本导向" not in pricing.quote
    assert "法律风险" in risk.quote and risk.section == RISK


def test_an_english_claim_finds_its_chinese_quote_through_the_glossary(chunks):
    (citation,) = build_citations(
        {1: ["Competition-based pricing sets a competitive price."]}, _hits(chunks, PRICING)
    )
    assert "竞争导向定价" in citation.quote


def test_citations_for_numbers_beyond_the_sources_are_not_built(chunks):
    assert build_citations({1: ["x"], 3: ["y"]}, _hits(chunks, PRICING)) == build_citations(
        {1: ["x"]}, _hits(chunks, PRICING)
    )


def test_sentences_split_on_chinese_and_western_punctuation_and_keep_their_markers():
    text = "常见的定价策略有以下几种：\n- 成本导向定价基于成本。[1]\n价值导向[2]。竞争导向参考竞争！\nSee 5.3.2 for details. [1][2] Done?"
    sentences = split_answer(text)
    assert [s.text for s in sentences] == [
        "常见的定价策略有以下几种：",
        "- 成本导向定价基于成本。[1]",
        "价值导向[2]。",
        "竞争导向参考竞争！",
        "See 5.3.2 for details. [1][2]",
        "Done?",
    ]
    # a sentence without markers takes those of its line (one line = one point)
    assert [s.cited for s in sentences] == [(), (1,), (2,), (2,), (1, 2), (1, 2)]
    assert sentences[1].claim == "成本导向定价基于成本。"


def test_a_marker_anywhere_on_a_line_covers_the_whole_point():
    sentences = split_answer(
        "- - [2] 基础版每月1000元；专业版每月5000元。\n- 价值导向。竞争导向。[1]\n- 没有引用的一行。"
    )
    assert [(s.claim, s.cited) for s in sentences] == [
        ("基础版每月1000元；", (2,)),
        ("专业版每月5000元。", (2,)),
        ("价值导向。", (1,)),
        ("竞争导向。", (1,)),
        ("没有引用的一行。", ()),
    ]


def test_headings_lead_ins_courtesy_and_fragments_are_non_factual():
    def non_factual(text):
        return is_non_factual(split_answer(text)[0])

    assert non_factual("常见的定价策略有以下几种：")
    assert non_factual("## 定价策略")
    assert non_factual("**Trade-offs**")
    assert non_factual("希望对你有帮助！")
    assert non_factual("I hope this helps.")
    assert non_factual("Options")
    assert not non_factual("竞争导向定价根据市场竞争情况设定价格。")
    assert not non_factual("Value-based pricing follows what customers think the product is worth.")


def _gate(text, hits, **overrides):
    settings = settings_for_tests(**overrides)
    return check_answer(text, hits, LexicalChecker(), settings)


ANSWER = (
    "常见的定价策略有以下几种：\n"
    "- 成本导向定价：基于产品或服务的成本，加上一定的利润，确定价格。[1]\n"
    "- 价值导向定价：根据用户对产品或服务的价值感知，设定价格。[1]\n"
    "- 创业公司应该把价格定为竞争对手的一半，这样一定能赢得整个市场。\n"
    "- 季度订阅总能让收入翻三倍。[1]\n"
    "- 其他策略见[9]。"
)


def test_the_gate_checks_each_sentence_and_marks_the_unsupported_ones(chunks):
    hits = _hits(chunks, PRICING, PRICING_CASE)
    # 2 of 5 supported: with salvaging out of reach the policy itself decides what is shown.
    result = _gate(ANSWER, hits, unsupported_policy="mark", min_supported_sentences=10)
    verdicts = {s.sentence: s.supported for s in result.grounding.sentences}
    assert verdicts["- 成本导向定价：基于产品或服务的成本，加上一定的利润，确定价格。[1]"]
    assert not verdicts["- 创业公司应该把价格定为竞争对手的一半，这样一定能赢得整个市场。"]  # no citation
    assert not verdicts["- 季度订阅总能让收入翻三倍。[1]"]  # cited, but the passage says nothing of it
    assert "常见的定价策略有以下几种：" not in verdicts  # a lead-in gets no verdict
    assert "[9]" not in result.text  # pointing nowhere: dropped
    assert result.text.count(UNSUPPORTED_MARK) == sum(not v for v in verdicts.values())
    assert "能赢得整个市场。 " + UNSUPPORTED_MARK in result.text
    assert 0 < result.grounding.supported_fraction < 1
    assert result.grounding.checker == "lexical"
    assert [c.n for c in result.citations] == [1]


def test_the_remove_policy_deletes_unsupported_sentences_and_their_citations(chunks):
    hits = _hits(chunks, PRICING, PRICING_CASE)
    result = _gate(ANSWER + "\n- 基础版每月1000元。[2]\n- 地球是平的。[2]", hits, unsupported_policy="remove")
    assert "竞争对手的一半" not in result.text and "翻三倍" not in result.text and "地球" not in result.text
    assert "成本导向定价" in result.text and "基础版每月1000元" in result.text
    assert UNSUPPORTED_MARK not in result.text
    assert not any(line.strip() == "-" for line in result.text.splitlines())
    assert {c.n for c in result.citations} == {1, 2}


def test_the_flag_policy_keeps_the_text_and_records_the_verdicts(chunks):
    hits = _hits(chunks, PRICING)
    result = _gate(
        "- 季度订阅总能让收入翻三倍。[1]\n- 成本导向定价基于成本加上一定的利润确定价格。[1]",
        hits,
        unsupported_policy="flag",
    )
    assert "翻三倍" in result.text and UNSUPPORTED_MARK not in result.text
    assert [s.supported for s in result.grounding.sentences] == [False, True]


def test_too_little_support_asks_for_a_refusal(chunks):
    hits = _hits(chunks, PRICING)
    weak = _gate(
        "- 地球是平的，月亮是奶酪做的。[1]\n- 成本导向定价基于成本加上利润。[1]\n- 火星上有咖啡馆。",
        hits,
        min_supported_fraction=0.5,
    )
    assert weak.refuse and weak.grounding.supported_fraction < 0.5
    nothing = _gate("常见的定价策略有以下几种：", hits)
    assert nothing.refuse and nothing.grounding.supported_fraction == 0.0  # asserting nothing is no answer
    strong = _gate("- 成本导向定价基于成本加上一定的利润确定价格。[1]", hits)
    assert not strong.refuse and strong.grounding.supported_fraction == 1.0


def test_a_claim_cited_to_the_wrong_passage_is_re_pointed_at_the_one_that_supports_it(chunks):
    hits = _hits(chunks, PRICING, PRICING_CASE, RISK)
    text = "- [1] 基础版产品定价为每月1000元，包含基本的AI大模型服务。\n- 法律风险包括知识产权侵权、合同纠纷等。[1]"
    result = _gate(text, hits)
    assert [(s.cited, s.supported) for s in result.grounding.sentences] == [((2,), True), ((3,), True)]
    assert (
        result.text
        == "- 基础版产品定价为每月1000元，包含基本的AI大模型服务。[2]\n- 法律风险包括知识产权侵权、合同纠纷等。[3]"
    )
    assert [(c.n, c.section) for c in result.citations] == [(2, PRICING_CASE), (3, RISK)]
    # a claim no passage supports keeps its marker and its verdict
    (verdict,) = _gate("- 季度订阅总能让收入翻三倍。[1]", hits).grounding.sentences
    assert verdict.cited == (1,) and not verdict.supported


def test_a_claim_whose_marker_points_nowhere_is_re_pointed_too(chunks):
    hits = _hits(chunks, PRICING, RISK)
    result = _gate("- 法律风险[6]：如知识产权侵权、合同纠纷等。\n- 火星上有咖啡馆。[9]", hits)
    assert [(s.cited, s.supported) for s in result.grounding.sentences] == [((2,), True), ((), False)]
    assert "[6]" not in result.text and "[9]" not in result.text
    assert result.text.startswith("- 法律风险：如知识产权侵权、合同纠纷等。[2]")


def test_an_uncited_sentence_is_attributed_to_the_passage_that_supports_it(chunks):
    # Small models often drop the markers; the claim is still in the knowledge base, so the gate cites it.
    hits = _hits(chunks, RISK, PRICING)
    result = _gate("价值导向定价：根据用户对产品或服务的价值感知，设定价格。", hits)
    (verdict,) = result.grounding.sentences
    assert verdict.supported and verdict.cited == (2,)
    assert result.text.endswith("[2]")
    assert [c.section for c in result.citations] == [PRICING]


def test_a_mostly_unsupported_answer_keeps_its_grounded_sentences_when_there_are_enough(chunks):
    hits = _hits(chunks, PRICING, PRICING_CASE)
    kept = _gate(ANSWER, hits, unsupported_policy="mark", min_supported_sentences=2)
    assert not kept.refuse and UNSUPPORTED_MARK not in kept.text  # the invented sentences are cut
    assert "竞争对手的一半" not in kept.text and "翻三倍" not in kept.text
    assert "成本导向定价" in kept.text and "价值导向定价" in kept.text
    assert kept.grounding.supported_fraction == 0.4  # the verdicts still tell the whole story
    refused = _gate(ANSWER, hits, min_supported_sentences=3)
    assert refused.refuse


def test_a_line_of_bare_markers_is_dropped_from_the_shown_text(chunks):
    hits = _hits(chunks, PRICING, PRICING_CASE)
    result = _gate("- 成本导向定价：基于产品或服务的成本，加上一定的利润，确定价格。[1]\n  [1] [2]", hits)
    assert result.text == "- 成本导向定价：基于产品或服务的成本，加上一定的利润，确定价格。[1]"
    assert [c.n for c in result.citations] == [1]


def test_a_doubled_bullet_is_shown_as_one(chunks):
    hits = _hits(chunks, PRICING, PRICING_CASE)
    result = _gate("- - 成本导向定价：基于产品或服务的成本，加上一定的利润，确定价格。[1]", hits)
    assert result.text == "- 成本导向定价：基于产品或服务的成本，加上一定的利润，确定价格。[1]"
    assert [c.n for c in result.citations] == [1]


class _TableChecker:
    """A fake checker: each claim's score is looked up by a word it contains (what a real one would say)."""

    name = "table"

    def __init__(self, scores):
        self.scores = scores

    def score(self, claim, passages):
        return next((s for word, s in self.scores.items() if word in claim), 0.0)


def test_an_answer_whose_sentences_sit_just_under_the_threshold_is_kept_not_refused(chunks):
    hits = _hits(chunks, PRICING)
    text = "- Alpha point holds here.[1]\n- Beta point holds here.[1]\n- Gamma point holds here.[1]\n- Delta point.[1]"
    settings = settings_for_tests(support_threshold=0.5, rescue_threshold=0.4, min_supported_sentences=2)
    near = _TableChecker({"Alpha": 0.55, "Beta": 0.47, "Gamma": 0.42, "Delta": 0.1})
    result = check_answer(text, hits, near, settings)
    assert not result.refuse and result.grounding.rescued
    assert (
        "Beta" in result.text and "Gamma" in result.text and "Delta" not in result.text
    )  # clearly low: removed
    # the same answer with its median below the floor is refused, as before the rule
    far = _TableChecker({"Alpha": 0.55, "Beta": 0.3, "Gamma": 0.2, "Delta": 0.1})
    refused = check_answer(text, hits, far, settings)
    assert refused.refuse and not refused.grounding.rescued
    # and a floor at the threshold turns the rule off
    off = check_answer(text, hits, near, settings_for_tests(support_threshold=0.5, rescue_threshold=0.5))
    assert off.refuse


def test_a_point_whose_first_sentence_is_removed_goes_whole(chunks):
    hits = _hits(chunks, PRICING)
    text = (
        "- **Alpha**: Alpha holds here.[1]\n"
        "- **Beta**: Beta is invented here. Gamma holds here though.[1]\n"
        "- **Delta**: Delta holds here.[1]"
    )
    checker = _TableChecker({"Alpha": 0.9, "Beta": 0.1, "Gamma": 0.9, "Delta": 0.9})
    result = check_answer(text, hits, checker, settings_for_tests(unsupported_policy="remove"))
    assert "Gamma" not in result.text  # no stray " Gamma holds here though.[1]" line without its point
    assert result.text.splitlines() == [
        "- **Alpha**: Alpha holds here.[1]",
        "- **Delta**: Delta holds here.[1]",
    ]
    assert "Gamma holds here though." in result.removed


def test_a_point_without_a_name_keeps_its_supported_sentences(chunks):
    hits = _hits(chunks, PRICING)
    text = "- Beta is invented here. Gamma holds here on its own.[1]"
    checker = _TableChecker({"Beta": 0.1, "Gamma": 0.9})
    result = check_answer(text, hits, checker, settings_for_tests(unsupported_policy="remove"))
    assert "Gamma holds here on its own." in result.text and "Beta" not in result.text
    assert not result.refuse and result.removed == ("Beta is invented here.",)


def test_a_point_named_after_a_list_item_is_kept_near_the_threshold():
    from indexing import Chunk

    text = "- **Team spirit**: Cultivate unity among members.[1]\n- **Team energy**: Cultivate unity among members.[1]"
    culture = "团队文化包括以下几个方面：\n\n- **团队精神**：培养团队精神，鼓励团队成员相互支持。"
    hits = [Hit(Chunk("c1", "d", culture, "7.1.3 团队文化建设", "p.md", "zh", 0, 1), 1.0, 1)]
    checker = _TableChecker({"spirit": 0.45, "energy": 0.45})
    settings = settings_for_tests(support_threshold=0.5, rescue_threshold=0.4, min_supported_sentences=1)
    result = check_answer(text, hits, checker, settings)
    # 团队精神's glossary English is "team spirit": that point is in the passage by name; the other is not
    assert [s.supported for s in result.grounding.sentences] == [True, False]
    assert "Team spirit" in result.text and "Team energy" not in result.text


def test_an_english_sentence_is_held_to_the_rendering_it_was_written_from(chunks):
    import dataclasses

    hits = _hits(chunks, PRICING)
    english = (
        "Common pricing strategies include the following:\n"
        "- **Cost-based pricing**: the price is the cost of the product or service plus a certain profit."
    )
    read = [dataclasses.replace(hits[0], chunk=dataclasses.replace(hits[0].chunk, text=english))]
    text = (
        "- **Cost-based pricing**: the price is the cost of the product or service plus a certain profit.[1]"
    )
    settings = settings_for_tests(unsupported_policy="remove", checker="lexical")
    checker = LexicalChecker()
    alone = check_answer(text, hits, checker, settings)
    with_rendering = check_answer(text, hits, checker, settings, read=read)
    assert with_rendering.grounding.sentences[0].supported
    assert with_rendering.grounding.sentences[0].score > alone.grounding.sentences[0].score
    # a sentence the rendering does not hold is judged on it alone: the Chinese passage, which the lexical
    # checker cannot compare with English (a neutral 0.5 across languages), lends it nothing
    invented = "- **Cost-based pricing**: the price is set weekly by an auction among competitors.[1]"
    held = check_answer(invented, hits, checker, settings, read=read).grounding.sentences[0]
    assert not held.supported and held.score < settings.support_threshold
    assert check_answer(invented, hits, checker, settings).grounding.sentences[0].score == 0.5


def test_a_chinese_sentence_may_also_be_held_to_an_english_documents_chinese_rendering(chunks):
    import dataclasses

    base = _hits(chunks, PRICING)[0]

    def hit(text: str) -> Hit:
        return dataclasses.replace(base, chunk=dataclasses.replace(base.chunk, text=text))

    english = [hit("For a first enterprise product, a sales cycle of three to nine months is normal.")]
    chinese = [hit("对于第一款企业产品，销售周期通常为三到九个月。")]
    settings = settings_for_tests(unsupported_policy="remove", checker="lexical")
    checker = LexicalChecker()
    text = "- 对于第一款企业产品，销售周期通常为三到九个月。[1]"
    alone = check_answer(text, english, checker, settings).grounding.sentences[0]
    second = check_answer(text, english, checker, settings, translated=chinese).grounding.sentences[0]
    assert second.supported and second.score > alone.score
    # the rendering is a second chance, not a licence: a sentence it does not hold stays unsupported
    invented = "- 销售团队应当每天给每位客户打三次电话，直到签约为止。[1]"
    held = check_answer(invented, english, checker, settings, translated=chinese).grounding.sentences[0]
    assert not held.supported
